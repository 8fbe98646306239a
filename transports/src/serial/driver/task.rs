//! The task that owns the byte stream and the link: bytes in through the packet decoder to the
//! link, the link's packets framed and written, frames from the outbox into the link as its
//! window opens, received frames handed to the receiver one at a time (and acknowledged only
//! once it released them), the link's timers, and for a device path, the port opened again
//! after it failed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use telemetra_codec::stream::{PacketDecoder, encode_packet, max_packet_len};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::{SerialConfig, SerialError};
use crate::dial::Stream;
use crate::serial::port::{PortSettings, SerialPort};
use crate::serial::reliable::{Event, ReliableLink, SendError, Taken, wire};

/// Frames in flight each way.
pub const WINDOW: usize = 8;
/// The largest frame: the largest the codec encodes.
pub const MAX_PAYLOAD: usize = telemetra_codec::limits::MAX_FRAME;
/// The largest packet on the line.
const PACKET: usize = max_packet_len(MAX_PAYLOAD + wire::DATA_HEADER);
/// Packets are framed ahead of the line by at most this many bytes (later ones are decided
/// when there is room, with the latest acknowledgement).
const AHEAD: usize = 2 * PACKET;

type Link = ReliableLink<WINDOW, MAX_PAYLOAD>;
pub(super) type Reply = oneshot::Sender<Result<(), SerialError>>;

/// What the handles ask of the task.
pub(super) enum Op {
    /// Queue a frame; answer once queued, or with `acked` once the peer took it.
    Send { payload: Vec<u8>, acked: bool, reply: Reply },
    /// The receiver took the frame handed to it.
    Release(Taken),
    /// Deliver what is queued (up to the close timeout), then end.
    Close(oneshot::Sender<()>),
}

/// A received frame, handed to the receiver.
pub(super) struct Incoming {
    pub taken: Taken,
    pub payload: Vec<u8>,
}

/// Where the bytes come from: a device path (opened again after a failure) or a stream given.
pub(super) enum Port {
    Device(PortSettings),
    Stream,
}

/// What the handles can read: the link's state and counters.
pub(super) type Shared = super::SerialStatus;

pub(super) struct Task {
    link: Box<Link>,
    decoder: Box<PacketDecoder<PACKET>>,
    config: SerialConfig,
    port: Port,
    outbox: VecDeque<(Vec<u8>, Option<Reply>)>,
    /// Sends waiting for room in the outbox, each until its deadline.
    blocked: VecDeque<(Vec<u8>, bool, Reply, tokio::time::Instant)>,
    waiting: VecDeque<(u32, Reply)>,
    handed: Option<Taken>,
    incoming: mpsc::Sender<Incoming>,
    shared: Arc<Mutex<Shared>>,
    start: tokio::time::Instant,
    packet: Box<[u8]>,
    out: Vec<u8>,
    closing: Option<(oneshot::Sender<()>, tokio::time::Instant)>,
}

impl Task {
    pub(super) fn new(
        config: SerialConfig,
        port: Port,
        incoming: mpsc::Sender<Incoming>,
        shared: Arc<Mutex<Shared>>,
    ) -> Task {
        let b = crate::random::unpredictable();
        let session = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Task {
            link: Box::new(Link::new(config.link, session)),
            decoder: Box::new(PacketDecoder::new()),
            config,
            port,
            outbox: VecDeque::new(),
            blocked: VecDeque::new(),
            waiting: VecDeque::new(),
            handed: None,
            incoming,
            shared,
            start: tokio::time::Instant::now(),
            packet: vec![0; MAX_PAYLOAD + wire::DATA_HEADER].into_boxed_slice(),
            out: Vec::new(),
            closing: None,
        }
    }

    fn now(&self) -> u64 {
        crate::clock::millis(self.start)
    }

    pub(super) async fn run(mut self, io: Box<dyn Stream>, mut ops: mpsc::Receiver<Op>) {
        let (mut reader, mut writer) = tokio::io::split(io);
        let mut buf = vec![0u8; 4096];
        loop {
            let now = self.now();
            self.pump(now);
            if let Some((_, deadline)) = &self.closing
                && ((self.outbox.is_empty() && self.link.unacknowledged() == 0 && self.out.is_empty())
                    || tokio::time::Instant::now() >= *deadline)
            {
                if let Some((done, _)) = self.closing.take() {
                    let _ = done.send(());
                }
                return self.fail_all(SerialError::Closed);
            }
            let wake = self.link.poll_timeout().map(|t| crate::clock::instant(self.start, t));
            let others =
                self.closing.as_ref().map(|(_, d)| *d).into_iter().chain(self.blocked.front().map(|b| b.3));
            let wake = wake.into_iter().chain(others).min();
            let broken = tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) => Some("the stream ended".to_string()),
                    Ok(n) => {
                        self.input(&buf[..n]);
                        None
                    }
                    Err(e) => Some(e.to_string()),
                },
                wrote = writer.write(&self.out), if !self.out.is_empty() => match wrote {
                    Ok(n) => {
                        self.out.drain(..n);
                        None
                    }
                    Err(e) => Some(e.to_string()),
                },
                _ = crate::clock::sleep_until(wake) => {
                    self.link.handle_timeout(self.now());
                    None
                }
                op = ops.recv() => match op {
                    Some(op) => {
                        self.take(op);
                        None
                    }
                    // Every handle is gone.
                    None => return,
                },
            };
            if let Some(why) = broken {
                let Some(io) = self.reopen(&why, &mut ops).await else { return };
                (reader, writer) = tokio::io::split(io);
                // Bytes framed for the old descriptor may have been cut: the link sends again
                // what is not acknowledged.
                self.out.clear();
                self.decoder.reset();
            }
        }
    }

    /// The stream failed: a device path is opened again (every `reopen_after`) while the
    /// handles live; a given stream ends the link.
    async fn reopen(&mut self, why: &str, ops: &mut mpsc::Receiver<Op>) -> Option<Box<dyn Stream>> {
        let Port::Device(settings) = &self.port else {
            tracing::info!(why, "serial stream ended");
            self.fail_all(SerialError::Closed);
            return None;
        };
        let settings = settings.clone();
        tracing::warn!(path = %settings.path, why, "serial port failed: opening it again");
        loop {
            tokio::time::sleep(self.config.reopen_after).await;
            // Keep taking operations (sends queue in the outbox) while the port is away.
            while let Ok(op) = ops.try_recv() {
                self.take(op);
            }
            if ops.is_closed() && self.incoming.is_closed() {
                return None;
            }
            match SerialPort::open(&settings) {
                Ok(port) => {
                    self.shared.lock().unwrap_or_else(|p| p.into_inner()).reopened += 1;
                    tracing::info!(path = %settings.path, "serial port open again");
                    return Some(Box::new(port));
                }
                Err(e) => tracing::debug!(path = %settings.path, error = %e, "serial port not back yet"),
            }
        }
    }

    fn take(&mut self, op: Op) {
        match op {
            Op::Send { payload, acked, reply } => {
                if self.closing.is_some() {
                    let _ = reply.send(Err(SerialError::Closed));
                } else if payload.is_empty() || payload.len() > MAX_PAYLOAD {
                    let _ = reply.send(Err(SerialError::TooLarge { len: payload.len(), max: MAX_PAYLOAD }));
                } else if self.outbox.len() >= self.config.outbox || !self.blocked.is_empty() {
                    // Wait for room, in order, until the send timeout.
                    let deadline = tokio::time::Instant::now() + self.config.send_timeout;
                    self.blocked.push_back((payload, acked, reply, deadline));
                } else if acked {
                    self.outbox.push_back((payload, Some(reply)));
                } else {
                    self.outbox.push_back((payload, None));
                    let _ = reply.send(Ok(()));
                }
            }
            Op::Release(taken) => {
                if self.handed == Some(taken) {
                    self.handed = None;
                    self.link.consume(taken);
                }
            }
            Op::Close(done) => {
                let deadline = tokio::time::Instant::now() + self.config.close_timeout;
                self.closing = Some((done, deadline));
            }
        }
    }

    fn input(&mut self, mut bytes: &[u8]) {
        let now = self.now();
        while !bytes.is_empty() {
            // A packet that fails its CRC or overflows is counted by the decoder and dropped.
            if let Some(Ok(packet)) = self.decoder.push(&mut bytes) {
                self.link.handle_packet(now, packet);
            }
        }
    }

    /// Everything that follows from the state: frames into the link, a frame to the
    /// receiver, packets to the line, acknowledgements to the senders, events and counters.
    fn pump(&mut self, now: u64) {
        let instant = tokio::time::Instant::now();
        while self.blocked.front().is_some_and(|b| b.3 <= instant) {
            if let Some((_, _, reply, _)) = self.blocked.pop_front() {
                let _ = reply.send(Err(SerialError::QueueFull));
            }
        }
        while self.link.can_send() {
            let Some((payload, reply)) = self.outbox.pop_front() else { break };
            match self.link.send(&payload) {
                Ok(id) => {
                    if let Some(reply) = reply {
                        self.waiting.push_back((id, reply));
                    }
                }
                Err(SendError::TooLarge { len, max }) => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(SerialError::TooLarge { len, max }));
                    }
                }
                Err(_) => {
                    self.outbox.push_front((payload, reply));
                    break;
                }
            }
        }
        while self.outbox.len() < self.config.outbox {
            let Some((payload, acked, reply, _)) = self.blocked.pop_front() else { break };
            if acked {
                self.outbox.push_back((payload, Some(reply)));
            } else {
                self.outbox.push_back((payload, None));
                let _ = reply.send(Ok(()));
            }
        }
        if self.handed.is_none()
            && let Some((taken, frame)) = self.link.receive()
        {
            match self.incoming.try_send(Incoming { taken, payload: frame.to_vec() }) {
                Ok(()) => self.handed = Some(taken),
                Err(mpsc::error::TrySendError::Full(_)) => {}
                // Nobody receives: take it so that the peer's frames keep flowing.
                Err(mpsc::error::TrySendError::Closed(_)) => _ = self.link.consume(taken),
            }
        }
        while self.out.len() < AHEAD {
            let Some(n) = self.link.poll_transmit(now, &mut self.packet) else { break };
            let start = self.out.len();
            self.out.resize(start + max_packet_len(n), 0);
            match encode_packet(&self.packet[..n], &mut self.out[start..]) {
                Ok(len) => self.out.truncate(start + len),
                Err(_) => self.out.truncate(start),
            }
        }
        while self.waiting.front().is_some_and(|(id, _)| self.link.is_acknowledged(*id)) {
            if let Some((_, reply)) = self.waiting.pop_front() {
                let _ = reply.send(Ok(()));
            }
        }
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(event) = self.link.poll_event() {
            match event {
                Event::Up => tracing::info!(session = self.link.session(), "serial link up"),
                Event::Down => tracing::warn!("serial link down: nothing heard from the peer"),
                Event::PeerRestarted => tracing::warn!("serial peer restarted"),
                e => tracing::warn!(event = ?e, "serial link"),
            }
        }
        shared.up = self.link.is_established();
        shared.link = self.link.stats();
        shared.packets = self.decoder.stats();
    }

    fn fail_all(&mut self, error: SerialError) {
        for (_, _, reply, _) in self.blocked.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
        for (_, reply) in self.outbox.drain(..) {
            if let Some(reply) = reply {
                let _ = reply.send(Err(error.clone()));
            }
        }
        for (_, reply) in self.waiting.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
    }
}
