//! The in-process transport: endpoints connected to a [`MemoryHub`] exchange messages through
//! bounded queues, with no sockets and no runtime of their own.
//!
//! Delivery: a message sent along a route is copied to every endpoint (the sender included)
//! with a subscription that matches it, in send order. Each endpoint's queue holds at most the
//! hub's capacity; when it is full the **oldest** message is dropped and counted in
//! [`MemoryStats::dropped`], so a slow consumer never blocks a sender (the way a sensor stream
//! prefers fresh data). `send` therefore never waits, and `send_acked` returns once the copies
//! are queued. A payload is stored once (`bytes::Bytes`) however many endpoints receive it.
//!
//! Retained routes ([`RouteKind::is_retained`](telemetra_core::RouteKind::is_retained): a
//! device's `info` and `status`) keep their last message in the hub, as an MQTT broker does: a
//! subscription made later receives it first, so a server that starts after its devices still
//! learns what they are. An empty payload clears it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use bytes::Bytes;
use telemetra_core::transport::{Receiver, Sender};
use telemetra_core::{Delivery, ErrorKind, Route, RouteFilter, Transport, TransportError};
use tokio::sync::Notify;

/// An error of the memory transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The next message was larger than the receive buffer; it was dropped.
    #[error("message of {needed} bytes does not fit the {available}-byte buffer; it was dropped")]
    BufferTooSmall {
        /// The message's size.
        needed: usize,
        /// The buffer's size.
        available: usize,
    },
}

impl TransportError for MemoryError {
    fn kind(&self) -> ErrorKind {
        match self {
            MemoryError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
        }
    }
}

/// Counters of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStats {
    /// Messages this endpoint sent.
    pub sent: u64,
    /// Messages delivered to this endpoint's queue.
    pub queued: u64,
    /// Messages dropped from this endpoint's queue because it was full.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
}

struct Endpoint {
    capacity: usize,
    filters: Mutex<Vec<RouteFilter>>,
    queue: Mutex<VecDeque<(Route, Bytes)>>,
    ready: Notify,
    counters: Counters,
}

impl Endpoint {
    fn offer(&self, route: Route, payload: &Bytes) {
        if !lock(&self.filters).iter().any(|f| f.matches(&route)) {
            return;
        }
        let mut q = lock(&self.queue);
        if q.len() >= self.capacity {
            q.pop_front();
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(route = %route.topic(), capacity = self.capacity, "memory transport queue full: dropped the oldest message");
        }
        q.push_back((route, payload.clone()));
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        drop(q);
        self.ready.notify_one();
    }
}

/// A poisoned lock only means another thread panicked while holding it; the queues stay
/// consistent (every critical section is a single push or pop), so carry on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The meeting point of memory endpoints. Cloning a hub gives another handle to the same hub.
#[derive(Clone)]
pub struct MemoryHub {
    capacity: usize,
    endpoints: Arc<Mutex<Vec<Weak<Endpoint>>>>,
    /// The last message of each retained route. Its lock is held while a retained message is
    /// offered and while a subscription is added, so a subscriber gets each retained message
    /// at least once and never a stale one after a newer.
    retained: Arc<Mutex<HashMap<Route, Bytes>>>,
}

impl core::fmt::Debug for MemoryHub {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryHub").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl MemoryHub {
    /// A hub whose endpoints each queue at most `capacity` messages (at least 1).
    pub fn new(capacity: usize) -> Self {
        MemoryHub { capacity: capacity.max(1), endpoints: Arc::default(), retained: Arc::default() }
    }

    /// The process-wide hub called `name` (what a `memory://name` URL names), created with
    /// `capacity` on first use.
    pub fn named(name: &str, capacity: usize) -> Self {
        static HUBS: OnceLock<Mutex<HashMap<String, MemoryHub>>> = OnceLock::new();
        lock(HUBS.get_or_init(Default::default))
            .entry(name.to_owned())
            .or_insert_with(|| MemoryHub::new(capacity))
            .clone()
    }

    /// A new endpoint on this hub, subscribed to nothing yet.
    pub fn connect(&self) -> MemoryTransport {
        let endpoint = Arc::new(Endpoint {
            capacity: self.capacity,
            filters: Mutex::default(),
            queue: Mutex::default(),
            ready: Notify::new(),
            counters: Counters::default(),
        });
        let mut all = lock(&self.endpoints);
        all.retain(|e| e.strong_count() > 0);
        all.push(Arc::downgrade(&endpoint));
        MemoryTransport {
            tx: MemorySender { hub: self.clone(), endpoint: endpoint.clone() },
            rx: MemoryReceiver { hub: self.clone(), endpoint },
        }
    }

    fn publish(&self, route: Route, payload: &[u8]) {
        let payload = Bytes::copy_from_slice(payload);
        let mut retained = route.kind.is_retained().then(|| lock(&self.retained));
        if let Some(kept) = retained.as_mut() {
            if payload.is_empty() {
                kept.remove(&route);
            } else {
                kept.insert(route, payload.clone());
            }
        }
        let live: Vec<Arc<Endpoint>> = lock(&self.endpoints).iter().filter_map(Weak::upgrade).collect();
        for e in live {
            e.offer(route, &payload);
        }
    }

    /// Adds `filter` to `endpoint`'s subscriptions and queues the retained messages it matches.
    fn subscribe(&self, endpoint: &Endpoint, filter: RouteFilter) {
        let retained = lock(&self.retained);
        {
            let mut filters = lock(&endpoint.filters);
            if filters.contains(&filter) {
                return;
            }
            filters.push(filter);
        }
        for (route, payload) in retained.iter().filter(|(r, _)| filter.matches(r)) {
            endpoint.offer(*route, payload);
        }
    }
}

/// One endpoint of a [`MemoryHub`]; implements [`Transport`] and splits into a
/// [`MemorySender`] and a [`MemoryReceiver`].
#[derive(Debug)]
pub struct MemoryTransport {
    tx: MemorySender,
    rx: MemoryReceiver,
}

/// The sending half of a memory endpoint.
pub struct MemorySender {
    hub: MemoryHub,
    endpoint: Arc<Endpoint>,
}

/// The receiving half of a memory endpoint.
pub struct MemoryReceiver {
    hub: MemoryHub,
    endpoint: Arc<Endpoint>,
}

impl core::fmt::Debug for MemorySender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemorySender").field("stats", &stats(&self.endpoint)).finish_non_exhaustive()
    }
}

impl core::fmt::Debug for MemoryReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryReceiver").field("stats", &stats(&self.endpoint)).finish_non_exhaustive()
    }
}

fn stats(endpoint: &Endpoint) -> MemoryStats {
    let c = &endpoint.counters;
    MemoryStats {
        sent: c.sent.load(Ordering::Relaxed),
        queued: c.queued.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
    }
}

impl MemoryTransport {
    /// This endpoint's counters.
    pub fn stats(&self) -> MemoryStats {
        stats(&self.rx.endpoint)
    }

    /// Messages waiting in this endpoint's queue.
    pub fn pending(&self) -> usize {
        self.rx.pending()
    }
}

impl MemoryReceiver {
    /// Messages waiting in this endpoint's queue.
    pub fn pending(&self) -> usize {
        lock(&self.endpoint.queue).len()
    }
}

crate::forward::error_type!(MemoryError: MemorySender, MemoryReceiver, MemoryTransport);

impl Sender for MemorySender {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), MemoryError> {
        self.endpoint.counters.sent.fetch_add(1, Ordering::Relaxed);
        self.hub.publish(route, payload);
        Ok(())
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), MemoryError> {
        // Delivery is synchronous: once `send` returns, every copy is queued.
        Sender::send(self, route, payload).await
    }

    async fn close(&mut self) -> Result<(), MemoryError> {
        Ok(())
    }
}

impl Receiver for MemoryReceiver {
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), MemoryError> {
        self.hub.subscribe(&self.endpoint, filter);
        Ok(())
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, MemoryError> {
        loop {
            if let Some(delivery) = Receiver::try_receive(self, buf)? {
                return Ok(delivery);
            }
            // `notify_one` stores a permit when nobody waits, so a message queued between the
            // check above and this await still wakes us.
            self.endpoint.ready.notified().await;
        }
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, MemoryError> {
        let Some((route, payload)) = lock(&self.endpoint.queue).pop_front() else {
            return Ok(None);
        };
        crate::delivery::copy_out(route, &payload, buf)
            .map(Some)
            .map_err(|t| MemoryError::BufferTooSmall { needed: t.needed, available: t.available })
    }
}

crate::forward::forward_sender!(MemoryTransport, Sender, |t| &mut t.tx);
crate::forward::forward_receiver!(MemoryTransport, Receiver, |t| &mut t.rx);

impl Transport for MemoryTransport {
    type Sender = MemorySender;
    type Receiver = MemoryReceiver;

    fn split(self) -> (MemorySender, MemoryReceiver) {
        (self.tx, self.rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetra_core::{DeviceId, RouteKind};

    fn route(kind: RouteKind, d: u64) -> Route {
        Route::new(kind, DeviceId(d))
    }

    #[tokio::test]
    async fn delivers_only_what_matches_in_order() {
        let hub = MemoryHub::new(8);
        let mut server = hub.connect();
        let mut device = hub.connect();
        server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
        device.subscribe(RouteFilter::exact(route(RouteKind::Commands, 7))).await.unwrap();

        device.send(route(RouteKind::Readings, 7), b"r1").await.unwrap();
        device.send(route(RouteKind::Alerts, 7), b"ignored").await.unwrap();
        device.send(route(RouteKind::Readings, 7), b"r2").await.unwrap();
        server.send(route(RouteKind::Commands, 8), b"not for 7").await.unwrap();
        server.send(route(RouteKind::Commands, 7), b"c1").await.unwrap();

        let mut buf = [0u8; 16];
        for want in [&b"r1"[..], b"r2"] {
            let d = server.receive(&mut buf).await.unwrap();
            assert_eq!((&buf[..d.len], d.route), (want, route(RouteKind::Readings, 7)));
        }
        assert_eq!(server.pending(), 0);
        let d = device.receive(&mut buf).await.unwrap();
        assert_eq!(&buf[..d.len], b"c1");
        assert_eq!(device.try_receive(&mut buf), Ok(None));
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_counts_it() {
        let hub = MemoryHub::new(2);
        let mut rx = hub.connect();
        let mut tx = hub.connect();
        rx.subscribe(RouteFilter::ALL).await.unwrap();
        for p in [b"1", b"2", b"3"] {
            tx.send(route(RouteKind::Readings, 1), p).await.unwrap();
        }
        assert_eq!(rx.stats(), MemoryStats { sent: 0, queued: 3, dropped: 1 });
        assert_eq!(tx.stats().sent, 3);
        let mut buf = [0u8; 4];
        let d = rx.receive(&mut buf).await.unwrap();
        assert_eq!(&buf[..d.len], b"2");
    }

    #[tokio::test]
    async fn a_small_buffer_is_an_error_and_the_next_message_still_arrives() {
        let hub = MemoryHub::new(4);
        let mut rx = hub.connect();
        rx.subscribe(RouteFilter::ALL).await.unwrap();
        let mut tx = hub.connect();
        tx.send(route(RouteKind::Readings, 1), b"too long").await.unwrap();
        tx.send(route(RouteKind::Readings, 1), b"ok").await.unwrap();
        let mut buf = [0u8; 4];
        let err = rx.receive(&mut buf).await.unwrap_err();
        assert_eq!(err, MemoryError::BufferTooSmall { needed: 8, available: 4 });
        assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
        let d = rx.receive(&mut buf).await.unwrap();
        assert_eq!(&buf[..d.len], b"ok");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_receiver_wakes_across_tasks() {
        let hub = MemoryHub::named("wake-test", 16);
        let mut rx = hub.connect();
        rx.subscribe(RouteFilter::ALL).await.unwrap();
        let waiter = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let mut got = Vec::new();
            loop {
                let d = rx.receive(&mut buf).await.unwrap();
                assert_eq!(d.len, 1);
                if buf[0] == u8::MAX {
                    return got;
                }
                got.push(buf[0]);
            }
        });
        let mut tx = MemoryHub::named("wake-test", 16).connect();
        for i in (0..100u8).chain([u8::MAX]) {
            tx.send(route(RouteKind::Readings, 1), &[i]).await.unwrap();
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await.unwrap().unwrap();
        // Capacity 16 may drop the oldest under load (never the newest, the end marker), and
        // what arrives is in order.
        assert!(!got.is_empty());
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    }

    #[tokio::test]
    async fn a_later_subscriber_receives_the_retained_state_first() {
        let hub = MemoryHub::new(8);
        let mut device = hub.connect();
        device.send(route(RouteKind::Info, 1), b"old info").await.unwrap();
        device.send(route(RouteKind::Info, 1), b"info").await.unwrap();
        device.send(route(RouteKind::Status, 1), b"online").await.unwrap();
        device.send(route(RouteKind::Status, 2), b"lost").await.unwrap();
        device.send(route(RouteKind::Status, 2), b"").await.unwrap();
        device.send(route(RouteKind::Readings, 1), b"not kept").await.unwrap();

        let mut server = hub.connect();
        server.subscribe(RouteFilter::kind(RouteKind::Info)).await.unwrap();
        server.subscribe(RouteFilter::kind(RouteKind::Status)).await.unwrap();
        server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
        // Subscribing again does not repeat them.
        server.subscribe(RouteFilter::kind(RouteKind::Info)).await.unwrap();
        device.send(route(RouteKind::Readings, 1), b"live").await.unwrap();

        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        while let Some(d) = server.try_receive(&mut buf).unwrap() {
            got.push((d.route, buf[..d.len].to_vec()));
        }
        assert_eq!(
            got,
            [
                (route(RouteKind::Info, 1), b"info".to_vec()),
                (route(RouteKind::Status, 1), b"online".to_vec()),
                (route(RouteKind::Readings, 1), b"live".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn dropped_endpoints_leave_the_hub() {
        let hub = MemoryHub::new(4);
        let rx = hub.connect();
        drop(rx);
        let _other = hub.connect();
        assert_eq!(hub.endpoints.lock().unwrap().len(), 1);
    }
}
