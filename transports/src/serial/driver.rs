//! The serial transport on tokio: the [`reliable`] link over a host serial
//! port (`serial:///dev/ttyUSB0?baud=115200`, see [`PortSettings`])
//! or any byte stream, as a [`Transport`].
//!
//! A serial link is point to point: what one side sends, the other receives. Frames carry
//! their own route (the device and message kind in the frame's header), so `send` ignores the
//! route it is given and the receiver delivers each frame with the route its header names, to
//! the filters it subscribed. `send` returns once the frame is in the outbox (bounded:
//! [`SerialConfig::outbox`]; frames wait there while the link is down; a full outbox makes
//! `send` wait), `send_acked` once the other side's application took it. A frame is acknowledged to the sender only once this
//! side's application took it ([`SerialReceiver::hold`] and [`Held::release`] let it do so
//! after it stored the frame, as a gateway does). A device path whose port fails (a USB adapter
//! unplugged) is opened again every [`SerialConfig::reopen_after`]; the link resends what was
//! not acknowledged.
//!
//! ```no_run
//! # async fn run() -> Result<(), telemetra_transports::serial::driver::SerialError> {
//! use telemetra_core::transport::{Receiver as _, Sender as _};
//! use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind};
//! use telemetra_transports::serial::driver::{SerialConfig, SerialLink};
//!
//! let mut link = SerialLink::open("serial:///dev/ttyUSB0?baud=115200", SerialConfig::default()).await?;
//! link.subscribe(RouteFilter::kind(RouteKind::Readings)).await?;
//! let mut buf = [0u8; 1100];
//! let got = link.receive(&mut buf).await?; // a frame from the device, with its route
//! println!("{} bytes on {}", got.len, got.route.topic());
//! # Ok(()) }
//! ```

mod error;
mod task;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use telemetra_codec::FrameView;
use telemetra_codec::stream::PacketStats;
use telemetra_core::transport::{Receiver, Sender, Transport};
use telemetra_core::{Delivery, Route, RouteFilter};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

pub use error::SerialError;
use task::{Incoming, Op, Port, Shared, Task};
pub use task::{MAX_PAYLOAD, WINDOW};

use super::port::{PortSettings, SerialPort};
use super::reliable::{self, Taken};

/// How the link runs.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SerialConfig {
    /// The link's timers.
    pub link: reliable::Config,
    /// Frames waiting to enter the link (while it is down, or its window is full): 1,024.
    /// A `send` beyond waits for room up to [`SerialConfig::send_timeout`].
    pub outbox: usize,
    /// How long a `send` waits for room in a full outbox before it is refused with
    /// [`SerialError::QueueFull`]: 10 s.
    pub send_timeout: Duration,
    /// How long to wait before opening a failed port again: 500 ms.
    pub reopen_after: Duration,
    /// How long `close` waits for queued frames to be acknowledged: 5 s.
    pub close_timeout: Duration,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            link: reliable::Config::default(),
            outbox: 1024,
            send_timeout: Duration::from_secs(10),
            reopen_after: Duration::from_millis(500),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// The link's state and counters.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct SerialStatus {
    /// Both sides know each other.
    pub up: bool,
    /// The link's counters.
    pub link: reliable::Stats,
    /// The packet decoder's: packets, CRC failures, overflows.
    pub packets: PacketStats,
    /// Times the port was opened again.
    pub reopened: u64,
    /// Frames received that are not telemetra frames, dropped.
    pub not_frames: u64,
    /// Frames received that no subscribed filter passes, dropped.
    pub filtered: u64,
}

/// A serial link: both halves.
#[derive(Debug)]
pub struct SerialLink {
    tx: SerialSender,
    rx: SerialReceiver,
}

/// The sending half.
#[derive(Debug)]
pub struct SerialSender {
    ops: mpsc::Sender<Op>,
}

/// The receiving half.
#[derive(Debug)]
pub struct SerialReceiver {
    ops: mpsc::Sender<Op>,
    incoming: mpsc::Receiver<Incoming>,
    filters: Vec<RouteFilter>,
    shared: Arc<Mutex<Shared>>,
}

/// A frame received and not yet released: the peer does not have its acknowledgement, and the
/// link hands out nothing after it, until [`Held::release`].
#[derive(Debug)]
pub struct Held {
    taken: Taken,
    ops: mpsc::Sender<Op>,
    /// The frame.
    pub payload: Vec<u8>,
    /// Its route, from its header (`None`: not a telemetra frame).
    pub route: Option<Route>,
}

impl Held {
    /// The frame is safe with this side (stored, forwarded): acknowledge it to the peer.
    pub async fn release(self) {
        let _ = self.ops.send(Op::Release(self.taken)).await;
    }
}

impl SerialLink {
    /// Opens the port `url` names (`serial:///dev/ttyUSB0?baud=115200&parity=none&stop=1&
    /// flow=none`) and starts the link on it.
    pub async fn open(url: &str, config: SerialConfig) -> Result<SerialLink, SerialError> {
        let settings = PortSettings::from_url(url).map_err(SerialError::BadUrl)?;
        let port = SerialPort::open(&settings).map_err(|e| SerialError::io(&settings.path, &e))?;
        Ok(SerialLink::start(Box::new(port), Port::Device(settings), config))
    }

    /// Starts the link over a byte stream (a TCP connection to a serial server, a socket in a
    /// test); when it ends, so does the link.
    pub fn over<S>(stream: S, config: SerialConfig) -> SerialLink
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        SerialLink::start(Box::new(stream), Port::Stream, config)
    }

    fn start(io: Box<dyn crate::dial::Stream>, port: Port, config: SerialConfig) -> SerialLink {
        let (ops, op_rx) = mpsc::channel(256);
        let (handed, incoming) = mpsc::channel(1);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let task = Task::new(config, port, handed, shared.clone());
        tokio::spawn(task.run(io, op_rx));
        SerialLink {
            tx: SerialSender { ops: ops.clone() },
            rx: SerialReceiver { ops, incoming, filters: Vec::new(), shared },
        }
    }

    /// The link's state and counters.
    pub fn status(&self) -> SerialStatus {
        self.rx.status()
    }

    /// Waits until both sides know each other, or `timeout`; whether they do.
    pub async fn wait_up(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.status().up {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The receiving half, for [`SerialReceiver::hold`].
    pub fn receiver(&mut self) -> &mut SerialReceiver {
        &mut self.rx
    }
}

impl SerialSender {
    async fn queue(&self, payload: &[u8], acked: bool) -> Result<(), SerialError> {
        let (reply, answer) = oneshot::channel();
        let op = Op::Send { payload: payload.to_vec(), acked, reply };
        self.ops.send(op).await.map_err(|_| SerialError::Closed)?;
        answer.await.map_err(|_| SerialError::Closed)?
    }
}

impl SerialReceiver {
    /// The link's state and counters.
    pub fn status(&self) -> SerialStatus {
        *self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next frame, whatever its route, not yet acknowledged: release it once it is safe.
    pub async fn hold(&mut self) -> Result<Held, SerialError> {
        let incoming = self.incoming.recv().await.ok_or(SerialError::Closed)?;
        Ok(self.held(incoming))
    }

    fn held(&self, incoming: Incoming) -> Held {
        let route = FrameView::parse(&incoming.payload).ok().map(|v| v.route());
        Held { taken: incoming.taken, ops: self.ops.clone(), payload: incoming.payload, route }
    }

    /// Releases `held` and delivers it into `buf` if its route passes a filter; `None` if
    /// it was dropped (counted).
    async fn deliver(&mut self, held: Held, buf: &mut [u8]) -> Result<Option<Delivery>, SerialError> {
        let route = held.route;
        let taken = held.taken;
        let payload = held.payload;
        let _ = self.ops.send(Op::Release(taken)).await;
        self.pass(route, &payload, buf)
    }

    fn pass(
        &self,
        route: Option<Route>,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Result<Option<Delivery>, SerialError> {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let Some(route) = route else {
            shared.not_frames += 1;
            return Ok(None);
        };
        if !self.filters.iter().any(|f| f.matches(&route)) {
            shared.filtered += 1;
            return Ok(None);
        }
        drop(shared);
        crate::delivery::copy_out(route, payload, buf)
            .map(Some)
            .map_err(|t| SerialError::BufferTooSmall { needed: t.needed, available: t.available })
    }
}

crate::forward::error_type!(SerialError: SerialLink, SerialSender, SerialReceiver);

impl Sender for SerialSender {
    /// Queues the frame `payload` (its own header names its route; `route` is not sent).
    async fn send(&mut self, _route: Route, payload: &[u8]) -> Result<(), SerialError> {
        self.queue(payload, false).await
    }

    /// Returns once the other side's application took the frame.
    async fn send_acked(&mut self, _route: Route, payload: &[u8]) -> Result<(), SerialError> {
        self.queue(payload, true).await
    }

    /// Waits (up to [`SerialConfig::close_timeout`]) for what is queued to be acknowledged,
    /// then ends the link.
    async fn close(&mut self) -> Result<(), SerialError> {
        let (done, closed) = oneshot::channel();
        if self.ops.send(Op::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        Ok(())
    }
}

impl Receiver for SerialReceiver {
    /// Delivers frames whose route `filter` passes from now on.
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), SerialError> {
        self.filters.push(filter);
        Ok(())
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, SerialError> {
        loop {
            let held = self.hold().await?;
            if let Some(d) = self.deliver(held, buf).await? {
                return Ok(d);
            }
        }
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, SerialError> {
        loop {
            let incoming = match self.incoming.try_recv() {
                Ok(i) => i,
                Err(mpsc::error::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(SerialError::Closed),
            };
            let held = self.held(incoming);
            // The release cannot wait here: when the task's queue is full it goes on its own.
            if let Err(mpsc::error::TrySendError::Full(op)) = self.ops.try_send(Op::Release(held.taken)) {
                let ops = self.ops.clone();
                tokio::spawn(async move { ops.send(op).await });
            }
            if let Some(d) = self.pass(held.route, &held.payload, buf)? {
                return Ok(Some(d));
            }
        }
    }
}

crate::forward::forward_sender!(SerialLink, Sender, |t| &mut t.tx);
crate::forward::forward_receiver!(SerialLink, Receiver, |t| &mut t.rx);

impl Transport for SerialLink {
    type Sender = SerialSender;
    type Receiver = SerialReceiver;

    fn split(self) -> (SerialSender, SerialReceiver) {
        (self.tx, self.rx)
    }
}
