//! Just enough async to run `async` code on this board without an executor crate: the UART as
//! an `embedded-io-async` stream, the clock as a `Clock`, and `block_on`, which polls one future
//! until it completes. Nothing here sleeps: a future with nothing to do asks to be polled
//! again at once (a product uses embassy, whose executor sleeps until an interrupt).

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use telemetra::serial::asynch::Clock;

use crate::{clock, uart::Uart};

/// Polls `future` until it completes.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The UART, read when bytes are there and written as it goes.
pub struct AsyncUart<'a>(pub &'a mut Uart);

impl embedded_io_async::ErrorType for AsyncUart<'_> {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for AsyncUart<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        poll_fn(|_| match self.0.read_available(buf) {
            0 => Poll::Pending,
            n => Poll::Ready(Ok(n)),
        })
        .await
    }
}

impl embedded_io_async::Write for AsyncUart<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write_all(buf);
        Ok(buf.len())
    }
}

/// The board's millisecond clock.
pub struct BoardClock;

impl Clock for BoardClock {
    fn now_ms(&self) -> u64 {
        clock::now()
    }

    fn sleep_until(&self, deadline: u64) -> impl Future<Output = ()> {
        poll_fn(move |_| if clock::now() >= deadline { Poll::Ready(()) } else { Poll::Pending })
    }
}
