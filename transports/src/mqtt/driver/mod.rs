//! The async MQTT driver on tokio: one background task per client moves bytes between the
//! sans-IO [`Client`] and a TCP or TLS stream, reconnects with exponential back-off and jitter,
//! and keeps the session (offline queue, in-flight messages, subscriptions) across reconnects.
//! [`MqttClient`] is a cheap, cloneable handle to it.
//!
//! ```no_run
//! use telemetra_transports::mqtt::client::{Message, Options};
//! use telemetra_transports::mqtt::driver::{Config, MqttClient};
//! use telemetra_transports::mqtt::packet::publish::QoS;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new("mqtt://127.0.0.1:1883", Options::new("node-2a"))?;
//! let client = MqttClient::start(config)?;
//! client.subscribe("tm/v1/2a/commands", QoS::AtLeastOnce).await?;
//! client.publish(Message::new("tm/v1/2a/readings", [1, 2, 3]).with_qos(QoS::AtLeastOnce)).await?;
//! while let Some(command) = client.recv().await {
//!     println!("{} bytes on {}", command.payload.len(), command.topic);
//! }
//! client.disconnect().await; // waits for QoS 1 and 2 to be acknowledged first
//! # Ok(()) }
//! ```

mod backoff;
mod config;
mod connection;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

pub use backoff::Backoff;
pub use config::{Broker, Config, ConfigError};

use super::client::{
    Client, ClientError, Event, Message, MessageId, Outcome, Received, RejectReason, Rejected, Stats,
};
use super::packet::publish::QoS;
use super::packet::subscribe::Subscription;
use super::reason::ReasonCode;
use super::topic::TopicError;

pub(crate) struct Inner {
    pub client: Client,
    /// Bytes taken from the client and not yet written.
    pub unsent: usize,
    /// The I/O task has ended.
    pub task_done: bool,
    /// Why the last attempt to open the stream failed (TCP or TLS).
    pub open_error: Option<OpenError>,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the I/O task: something to send, or a shutdown.
    pub io: Notify,
    /// Wakes waiting application calls: messages, events, room in the queue, progress.
    pub app: Notify,
    epoch: Instant,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Milliseconds since the client started: the client's clock.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The instant of client time `ms`.
    pub fn instant(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Waits until `ready` returns `Some`, re-checking whenever the I/O task makes progress.
    async fn wait<T>(&self, mut ready: impl FnMut(&mut Inner) -> Option<T>) -> T {
        loop {
            let notified = self.app.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = ready(&mut self.lock()) {
                return v;
            }
            notified.await;
        }
    }
}

/// Messages the client still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    /// Waiting in the offline queue.
    pub queued: usize,
    /// QoS 1 and 2 messages sent and not yet acknowledged.
    pub in_flight: usize,
}

/// Why the driver could not open a stream to the broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No TCP connection (and TLS session) within the open timeout.
    #[error("no connection within {after:?}")]
    TimedOut {
        /// The open timeout.
        after: Duration,
    },
    /// The TCP connection or the TLS handshake failed (refused, unreachable, a certificate
    /// that does not verify).
    #[error("{message}")]
    Failed {
        /// The I/O error's kind (`ConnectionRefused`, `InvalidData` for TLS, ...).
        kind: std::io::ErrorKind,
        /// What the operating system or the TLS library said.
        message: String,
    },
}

/// Why [`MqttClient::connected`] returned without a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The last attempt failed in a way trying again will not cure
    /// ([`ClientError::is_permanent`]: bad credentials, not authorised, banned, a certificate
    /// either side does not accept). The client keeps retrying with back-off (the broker's
    /// side may be fixed); a later `connected()` waits again.
    #[error("{error}{}", open_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Refused {
        /// What the client saw.
        error: ClientError,
        /// What opening the stream said, when it failed there (a certificate's details).
        open_error: Option<OpenError>,
    },
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

/// Why [`MqttClient::subscribe`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The filter is not a valid topic filter.
    #[error("invalid topic filter: {0}")]
    InvalidFilter(#[from] TopicError),
    /// The broker refused the subscription (an ACL, a quota, shared subscriptions off).
    #[error("the broker refused the subscription: {0}")]
    Refused(ReasonCode),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

/// A handle to a running MQTT client; clone it freely (all clones drive one connection).
#[derive(Clone)]
pub struct MqttClient {
    shared: Arc<Shared>,
    publish_timeout: Duration,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for MqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MqttClient").field(&self.shared.lock().client).finish()
    }
}

impl MqttClient {
    /// Starts the client: checks the configuration, then spawns the task that connects (and
    /// reconnects) in the background. Must run inside a tokio runtime.
    pub fn start(config: Config) -> Result<MqttClient, ConfigError> {
        config.check()?;
        let opener = stream::opener(&config)?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                client: Client::new(config.options),
                unsent: 0,
                task_done: false,
                open_error: None,
            }),
            io: Notify::new(),
            app: Notify::new(),
            epoch: Instant::now(),
        });
        tokio::spawn(connection::run(shared.clone(), opener, config.backoff, config.open_timeout));
        Ok(MqttClient {
            shared,
            publish_timeout: config.publish_timeout,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// Queues a message without waiting: a full queue hands it straight back
    /// ([`RejectReason::QueueFull`]).
    // The refused message comes back by value: no allocation on the refusal path.
    #[allow(clippy::result_large_err)]
    pub fn try_publish(&self, message: Message) -> Result<MessageId, Rejected> {
        let now = self.shared.now();
        let r = self.shared.lock().client.publish(message, now);
        if r.is_ok() {
            self.shared.io.notify_one();
        }
        r
    }

    /// Queues a message, waiting for room in a full queue up to the configured
    /// `publish_timeout`; then the message comes back. Resolves when the message is queued,
    /// not when it is delivered (see [`Event::Delivered`] and [`MqttClient::flush`]).
    #[allow(clippy::result_large_err)]
    pub async fn publish(&self, message: Message) -> Result<MessageId, Rejected> {
        self.queue(message, false).await
    }

    /// Publishes a QoS 1 or 2 message and waits for its outcome: the broker's PUBACK or
    /// PUBCOMP ([`Outcome::Delivered`]), a refusal, or its expiry or drop from the offline
    /// queue. `Ok(None)` when the client closed before the outcome was known. A QoS 0 message
    /// is published as QoS 1.
    #[allow(clippy::result_large_err)]
    pub async fn publish_acked(&self, mut message: Message) -> Result<Option<Outcome>, Rejected> {
        if message.qos == QoS::AtMostOnce {
            message.qos = QoS::AtLeastOnce;
        }
        let id = self.queue(message, true).await?;
        // Stop watching if the caller gives up (the future is dropped).
        struct Unwatch<'a>(&'a Shared, MessageId);
        impl Drop for Unwatch<'_> {
            fn drop(&mut self) {
                self.0.lock().client.unwatch(self.1);
            }
        }
        let _guard = Unwatch(&self.shared, id);
        Ok(self
            .shared
            .wait(|inner| match inner.client.outcome(id) {
                Some(o) => Some(Some(o)),
                None if inner.task_done => Some(None),
                None => None,
            })
            .await)
    }

    #[allow(clippy::result_large_err)]
    async fn queue(&self, message: Message, watch: bool) -> Result<MessageId, Rejected> {
        let deadline = Instant::now() + self.publish_timeout;
        let mut message = Some(message);
        let attempt = self.shared.wait(|inner| {
            let now = self.shared.now();
            let m = message.take()?;
            match inner.client.publish(m, now) {
                Err(Rejected { message: m, reason: RejectReason::QueueFull })
                    if Instant::now() < deadline =>
                {
                    message = Some(m);
                    None
                }
                Ok(id) if watch => {
                    // In the same critical section: the outcome cannot come before the watch.
                    inner.client.watch(id);
                    Some(Ok(id))
                }
                other => Some(other),
            }
        });
        let r = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(r) => r,
            Err(_) => match message {
                Some(message) => {
                    tracing::warn!(topic = %message.topic, "MQTT offline queue full: message handed back");
                    Err(Rejected { message, reason: RejectReason::QueueFull })
                }
                None => unreachable!("the message is either queued or held"),
            },
        };
        if r.is_ok() {
            self.shared.io.notify_one();
        }
        r
    }

    /// Subscribes and waits for the broker's answer (on the next connection, if offline).
    /// The subscription is kept and made again after a reconnect that lost the session.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<QoS, SubscribeError> {
        self.subscribe_with(Subscription::new(filter, qos)).await
    }

    /// Subscribes with every MQTT 5 option (no local, retain as published, retain handling)
    /// and waits for the broker's answer, like [`MqttClient::subscribe`].
    pub async fn subscribe_with(&self, subscription: Subscription<'_>) -> Result<QoS, SubscribeError> {
        let filter = subscription.filter;
        self.shared.lock().client.subscribe_with(subscription)?;
        self.shared.io.notify_one();
        self.shared
            .wait(|inner| {
                if inner.client.is_closed() {
                    return Some(Err(SubscribeError::Closed));
                }
                inner.client.subscription(filter).map(|r| r.map_err(SubscribeError::Refused))
            })
            .await
    }

    /// Unsubscribes (now, or on the next connection).
    pub fn unsubscribe(&self, filter: &str) {
        self.shared.lock().client.unsubscribe(filter);
        self.shared.io.notify_one();
    }

    /// The next message received; `None` once the client is closed and nothing is left.
    pub async fn recv(&self) -> Option<Received> {
        let r = self
            .shared
            .wait(|inner| match inner.client.poll_message() {
                Some(m) => Some(Some(m)),
                None if inner.task_done => Some(None),
                None => None,
            })
            .await;
        // Room again: the task may resume reading.
        self.shared.io.notify_one();
        r
    }

    /// The next message, if one is waiting.
    pub fn try_recv(&self) -> Option<Received> {
        let m = self.shared.lock().client.poll_message();
        self.shared.io.notify_one();
        m
    }

    /// The next event; `None` once the client is closed and every event was read.
    pub async fn next_event(&self) -> Option<Event> {
        let e = self
            .shared
            .wait(|inner| match inner.client.poll_event() {
                Some(e) => Some(Some(e)),
                None if inner.task_done => Some(None),
                None => None,
            })
            .await;
        // Room again: the task may resume reading (see `Options::max_events`).
        self.shared.io.notify_one();
        e
    }

    /// Waits until the broker has accepted a connection; returns at once with the reason when
    /// the last attempt failed for good (wrong credentials, not authorised, a certificate not
    /// accepted: [`ConnectError::Refused`]) or the client is closed, instead of waiting for
    /// ever. Passing failures (no broker yet, a reset) are waited out.
    pub async fn connected(&self) -> Result<(), ConnectError> {
        self.shared
            .wait(|inner| {
                if inner.client.is_connected() {
                    return Some(Ok(()));
                }
                if inner.task_done {
                    return Some(Err(ConnectError::Closed));
                }
                let error = inner.client.last_error().filter(ClientError::is_permanent)?;
                Some(Err(ConnectError::Refused { error, open_error: inner.open_error.clone() }))
            })
            .await
    }

    /// The client identifier in use (the broker's, if it assigned one).
    pub fn client_id(&self) -> String {
        self.shared.lock().client.client_id().to_string()
    }

    /// Why the last attempt to open the TCP or TLS stream, or to get a CONNACK on it, failed
    /// (a refused connection, a certificate that does not verify or is not accepted, a close
    /// before CONNACK), if it did.
    pub fn last_open_error(&self) -> Option<OpenError> {
        self.shared.lock().open_error.clone()
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().client.is_connected()
    }

    /// Waits until every queued message is sent and every QoS 1 and 2 message acknowledged.
    pub async fn flush(&self) {
        self.shared
            .wait(|inner| ((inner.client.is_idle() && inner.unsent == 0) || inner.task_done).then_some(()))
            .await
    }

    /// The client's counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().client.stats()
    }

    /// Messages waiting in the offline queue (those past their expiry dropped first), and QoS
    /// 1 and 2 messages in flight.
    pub fn pending(&self) -> Pending {
        let now = self.shared.now();
        let mut g = self.shared.lock();
        // Expired messages are not pending, connected or not.
        g.client.expire_queued(now);
        Pending { queued: g.client.queued(), in_flight: g.client.in_flight() }
    }

    /// Graceful shutdown: waits (up to `shutdown_timeout`) until queued and in-flight QoS 1 and
    /// 2 messages are acknowledged, sends DISCONNECT (the broker then drops the will), and
    /// waits for the task to end. Returns the messages left unacknowledged.
    pub async fn disconnect(&self) -> usize {
        let _ = tokio::time::timeout(self.shutdown_timeout, self.flush()).await;
        let left = {
            let now = self.shared.now();
            let mut g = self.shared.lock();
            let left = g.client.queued() + g.client.in_flight();
            g.client.disconnect(now);
            left
        };
        self.shared.io.notify_one();
        self.shared.wait(|inner| inner.task_done.then_some(())).await;
        left
    }

    /// Drops the connection without DISCONNECT, as a crash would (the broker publishes the
    /// will). For tests of last wills.
    pub async fn abort(&self) {
        let now = self.shared.now();
        {
            let mut g = self.shared.lock();
            g.client.connection_lost(now);
            g.client.disconnect(now);
        }
        self.shared.io.notify_one();
        self.shared.wait(|inner| inner.task_done.then_some(())).await;
    }
}
