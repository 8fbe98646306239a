//! The reliable link over an `embedded-io-async` byte stream, for firmware on an async executor
//! (embassy, or any other): `no_std`, no allocation, one object that owns the UART and the link
//! and pumps them while the application waits in [`AsyncLink::send`], [`AsyncLink::send_acked`]
//! or [`AsyncLink::receive`].
//!
//! Time comes from a [`Clock`] the firmware provides (with embassy: `Instant::now()` and
//! `Timer::at`). The stream's `read` must be cancel-safe (bytes read are never lost when the
//! read future is dropped), as embassy's buffered UARTs are: a read is raced against the
//! link's next timer.
//!
//! ```
//! # async fn demo<U: embedded_io_async::Read + embedded_io_async::Write, C: telemetra_transports::serial::asynch::Clock>(uart: U, clock: C) {
//! use telemetra_codec::stream::max_packet_len;
//! use telemetra_transports::serial::asynch::AsyncLink;
//! use telemetra_transports::serial::reliable::{Config, ReliableLink, wire};
//!
//! const P: usize = 128;
//! type Link<U, C> = AsyncLink<U, C, 4, P, { max_packet_len(P + wire::DATA_HEADER) }>;
//! let mut link: Link<U, C> = AsyncLink::new(uart, clock, ReliableLink::new(Config::default(), 0x5eed));
//! link.send_acked(b"a frame").await.unwrap(); // returns once the gateway took it
//! let mut buf = [0u8; P];
//! let n = link.receive(&mut buf).await.unwrap(); // the next frame, once and in order
//! # let _ = n; }
//! ```

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};
use telemetra_codec::stream::{PacketDecoder, encode_packet, max_packet_len};

use super::reliable::{ReliableLink, SendError, wire};

/// The firmware's clock.
pub trait Clock {
    /// Milliseconds since boot (or any fixed origin).
    fn now_ms(&self) -> u64;

    /// Waits until [`Clock::now_ms`] reaches `deadline`.
    fn sleep_until(&self, deadline: u64) -> impl Future<Output = ()>;
}

/// Why an operation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsyncLinkError<E> {
    /// The byte stream failed.
    #[error("the serial stream failed")]
    Io(E),
    /// The frame is empty or over the largest payload.
    #[error("the frame is empty or too large for the link")]
    BadFrame,
    /// The caller's buffer is smaller than the frame received (it was dropped).
    #[error("a frame of {0} bytes does not fit the buffer")]
    BufferTooSmall(usize),
}

/// The reliable link on an async byte stream: `W` frames in flight each way, payloads of at
/// most `P` bytes, a packet buffer of `N` bytes (`max_packet_len(P + wire::DATA_HEADER)`).
pub struct AsyncLink<IO, C, const W: usize, const P: usize, const N: usize> {
    io: IO,
    clock: C,
    link: ReliableLink<W, P>,
    decoder: PacketDecoder<N>,
}

impl<IO: Read + Write, C: Clock, const W: usize, const P: usize, const N: usize> AsyncLink<IO, C, W, P, N> {
    /// The link on `io`, timed by `clock`.
    pub fn new(io: IO, clock: C, link: ReliableLink<W, P>) -> Self {
        const { assert!(N >= max_packet_len(P + wire::DATA_HEADER), "N must hold a packet of P bytes") };
        AsyncLink { io, clock, link, decoder: PacketDecoder::new() }
    }

    /// The link, for its state and counters.
    pub fn link(&self) -> &ReliableLink<W, P> {
        &self.link
    }

    /// Queues `frame` (waiting for room in the window); returns its id.
    pub async fn send(&mut self, frame: &[u8]) -> Result<u32, AsyncLinkError<IO::Error>> {
        loop {
            match self.link.send(frame) {
                Ok(id) => return Ok(id),
                Err(SendError::Full) => self.step().await?,
                Err(_) => return Err(AsyncLinkError::BadFrame),
            }
        }
    }

    /// Sends `frame` and waits until the peer's application took it.
    pub async fn send_acked(&mut self, frame: &[u8]) -> Result<(), AsyncLinkError<IO::Error>> {
        let id = self.send(frame).await?;
        while !self.link.is_acknowledged(id) {
            self.step().await?;
        }
        Ok(())
    }

    /// Waits for the next frame in order, copies it into `buf` and takes it (acknowledging it
    /// to the peer); returns its length.
    pub async fn receive(&mut self, buf: &mut [u8]) -> Result<usize, AsyncLinkError<IO::Error>> {
        loop {
            if let Some(n) = self.receive_before(buf, u64::MAX).await? {
                return Ok(n);
            }
        }
    }

    /// [`AsyncLink::receive`] until the clock reaches `deadline`: `None` if no frame came by
    /// then (a node that samples on a period waits for commands this way).
    pub async fn receive_before(
        &mut self,
        buf: &mut [u8],
        deadline: u64,
    ) -> Result<Option<usize>, AsyncLinkError<IO::Error>> {
        loop {
            if let Some((taken, frame)) = self.link.receive() {
                let len = frame.len();
                let copied = buf.get_mut(..len).map(|dst| dst.copy_from_slice(frame));
                self.link.consume(taken);
                return copied.map(|()| Some(len)).ok_or(AsyncLinkError::BufferTooSmall(len));
            }
            if self.clock.now_ms() >= deadline {
                return Ok(None);
            }
            self.step_until(deadline).await?;
        }
    }

    /// Sends what the link has to send, then waits for bytes or the link's next timer, and
    /// feeds in what came. The application calls it (or one of the calls above) in a loop.
    pub async fn step(&mut self) -> Result<(), AsyncLinkError<IO::Error>> {
        self.step_until(u64::MAX).await
    }

    /// [`AsyncLink::step`], waiting at most until `deadline`.
    async fn step_until(&mut self, deadline: u64) -> Result<(), AsyncLinkError<IO::Error>> {
        let now = self.clock.now_ms();
        if self.link.poll_timeout().is_some_and(|t| t <= now) {
            self.link.handle_timeout(now);
        }
        let (mut packet, mut out) = ([0u8; N], [0u8; N]);
        while let Some(n) = self.link.poll_transmit(now, &mut packet) {
            // `N` holds the framing of any packet the link writes.
            let Ok(len) = encode_packet(&packet[..n], &mut out) else { continue };
            self.io.write_all(&out[..len]).await.map_err(AsyncLinkError::Io)?;
        }
        let deadline = self.link.poll_timeout().unwrap_or(now + 1_000).min(deadline);
        let mut bytes = [0u8; 64];
        let read = {
            let mut read = pin!(self.io.read(&mut bytes));
            let mut timer = pin!(self.clock.sleep_until(deadline));
            poll_fn(|cx| match read.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
            })
            .await
        };
        let Some(n) = read.transpose().map_err(AsyncLinkError::Io)? else { return Ok(()) };
        let now = self.clock.now_ms();
        let mut input = &bytes[..n];
        while !input.is_empty() {
            if let Some(Ok(p)) = self.decoder.push(&mut input) {
                self.link.handle_packet(now, p);
            }
        }
        Ok(())
    }
}
