//! The ingest pipeline: frames from any [`Transport`] into a [`Store`], through the rule
//! engine, with the commands its rules decide sent back.
//!
//! For each message on a device-to-server route (readings, info, status, alerts, acks):
//!
//! 1. decode it: a frame that does not decode is logged, counted and skipped, and the next
//!    still arrives;
//! 2. store it, with the others that arrived together, in one transaction, **once** per
//!    `(device, sequence, content)`: a frame redelivered after a reconnect changes nothing;
//! 3. run the frames through the rule engine (a redelivered reading the engine has seen is
//!    not newer than its channel's latest and is dropped; one stored by a previous owner that
//!    was cut off before it decided is decided now): alert transitions are stored; a command is given
//!    the device's next command id (continuing from the store after a restart), sent and
//!    waited for until the transport's peer takes it, and stored (its acknowledgement arrives
//!    later as a frame and is stored with it);
//! 4. every so often, time moves on for the rules (what a `for` duration, a `silent` rule or a
//!    window decides with time alone), and a device silent for [`IngestConfig::silence`] whose
//!    last status was online is marked lost.
//!
//! The rules run on the devices' timestamps, with [`IngestConfig::clock_skew`] of tolerance
//! for device clocks behind the server's.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemetra_codec::limits::MAX_FRAME;
use telemetra_codec::{Frame, Message};
use telemetra_core::transport::{Receiver, Sender, Transport, TransportError};
use telemetra_core::{
    AlertState, Command, CommandAction, CommandId, Device, DeviceId, DeviceStatus, ErrorKind, Name, Route,
    RouteFilter, RouteKind, Timestamp,
};
use telemetra_rules::{Engine, Event};

use crate::store::{AlarmFilter, Store, StoreError};

mod changes;
mod operator;

pub use changes::Changes;
use operator::Request;
pub use operator::{Operator, OperatorError};

/// How the pipeline runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IngestConfig {
    /// The most frames stored in one transaction: 256.
    pub batch: usize,
    /// A device silent this long, last seen online, is marked lost: 5 minutes.
    pub silence: Duration,
    /// How long a command the rules decide stays valid: 60 s.
    pub command_ttl: Duration,
    /// How far behind the server's clock a device's clock may be: 10 s. The rules' time for a
    /// device starts this far before the server's when it announces itself, and time-driven
    /// rules (`for`, `silent`, windows) are advanced to the server's time less this; a reading
    /// stamped earlier than the device's time is still stored, but late for the rules (a backlog
    /// raises no alarm for the past).
    pub clock_skew: Duration,
    /// How much of the stored history [`Ingest::run`] replays through the rules when it starts,
    /// so that a restarted server knows its devices' alarms (and what operators did to them),
    /// windows and durations: 1 hour; zero starts with the rules knowing nothing.
    pub rebuild_window: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch: 256,
            silence: Duration::from_secs(300),
            command_ttl: Duration::from_secs(60),
            clock_skew: Duration::from_secs(10),
            rebuild_window: Duration::from_secs(3600),
        }
    }
}

/// What the pipeline has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Frames stored (new).
    pub frames: u64,
    /// Messages that did not decode: logged, counted, skipped.
    pub bad_frames: u64,
    /// Frames received again and skipped.
    pub duplicates: u64,
    /// Readings stored.
    pub readings: u64,
    /// Alert transitions the rules decided.
    pub alerts: u64,
    /// Commands sent.
    pub commands: u64,
    /// Sends of a command the transport did not take (logged; the command stays pending and
    /// is sent again at the next tick until it expires).
    pub commands_failed: u64,
    /// Devices marked lost after a silence.
    pub lost: u64,
    /// Transactions (batches of frames) committed.
    pub batches: u64,
    /// Stored readings replayed through the rules to rebuild taken-over devices' state.
    pub replayed: u64,
}

/// The pipeline failed for good.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError<E: core::fmt::Debug + core::fmt::Display> {
    /// The store failed (frames are not acknowledged as stored: the pipeline stops rather
    /// than lose them).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The transport failed for good (closed, refused).
    #[error("transport: {0}")]
    Transport(E),
}

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64))
}

/// Where the pipeline reads the time: when frames were received, what the rules' time is,
/// when a device fell silent. [`SystemClock`] unless [`Ingest::with_clock`] says otherwise
/// (a simulation or a replay of recorded data runs on its own time); any
/// `Fn() -> Timestamp` is one.
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The system's clock ([`now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

impl<F: Fn() -> Timestamp + Send + Sync + 'static> Clock for F {
    fn now(&self) -> Timestamp {
        self()
    }
}

/// A handle on a running pipeline's counters.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Mutex<IngestStats>>);

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> IngestStats {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut IngestStats)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The most pending commands sent again at one tick.
const PENDING_BATCH: u32 = 256;

/// The most standing alarms a [rebuild](Ingest::rebuild) looks at for operators' actions.
const STANDING_LIMIT: u32 = 100_000;

/// The most readings of one device a [rebuild](Ingest::rebuild) replays.
const REPLAY_LIMIT: u32 = 100_000;

/// Who decided what the rules did: the live stream, or a replay of stored history.
#[derive(Debug, Clone, Copy)]
enum Decided {
    Live,
    Replay,
}

/// The routes a server receives: everything devices send.
pub const DEVICE_ROUTES: [RouteKind; 5] =
    [RouteKind::Readings, RouteKind::Info, RouteKind::Status, RouteKind::Alerts, RouteKind::Acks];

/// The ingest pipeline: a store, a rule engine and their state.
pub struct Ingest<S> {
    store: Arc<S>,
    engine: Engine,
    config: IngestConfig,
    clock: Arc<dyn Clock>,
    scope: Arc<dyn Fn(DeviceId) -> bool + Send + Sync>,
    stats: StatsHandle,
    next_command: HashMap<DeviceId, u32>,
    seen: HashMap<DeviceId, (Timestamp, bool)>,
    operator: Option<(Operator, tokio::sync::mpsc::Receiver<Request>)>,
    changes: Changes,
}

impl<S> core::fmt::Debug for Ingest<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ingest")
            .field("config", &self.config)
            .field("stats", &self.stats.get())
            .finish_non_exhaustive()
    }
}

impl<S: Store> Ingest<S> {
    /// A pipeline into `store` with `engine`'s rules.
    pub fn new(store: Arc<S>, engine: Engine, config: IngestConfig) -> Ingest<S> {
        Ingest {
            store,
            engine,
            config,
            clock: Arc::new(SystemClock),
            scope: Arc::new(|_| true),
            stats: StatsHandle::default(),
            next_command: HashMap::new(),
            seen: HashMap::new(),
            operator: None,
            changes: Changes::new(),
        }
    }

    /// Where the pipeline announces the devices whose stored state changed, for live views
    /// (the dashboard's [`with_changes`](crate::dashboard::Dashboard::with_changes)).
    pub fn changes(&self) -> Changes {
        self.changes.clone()
    }

    /// A handle for an operator to acknowledge and clear alarms and send commands while the
    /// pipeline [runs](Self::run) (the same handle every time). Only [`run`](Self::run)
    /// answers it: a pipeline driven step by step by [`ingest`](Self::ingest) leaves its
    /// requests waiting.
    pub fn operator(&mut self) -> Operator {
        self.operator.get_or_insert_with(Operator::channel).0.clone()
    }

    /// The pipeline on `clock`'s time instead of the system's.
    pub fn with_clock(mut self, clock: impl Clock) -> Ingest<S> {
        self.clock = Arc::new(clock);
        self
    }

    /// The pipeline answering for the devices `scope` accepts (its partition, when instances
    /// share the devices), every device otherwise: whose pending commands it sends.
    pub fn with_scope(mut self, scope: impl Fn(DeviceId) -> bool + Send + Sync + 'static) -> Ingest<S> {
        self.scope = Arc::new(scope);
        self
    }

    /// Counts into `stats` (shared by the pipelines of one instance's partitions).
    #[cfg(feature = "nats")]
    pub(crate) fn share_stats(&mut self, stats: StatsHandle) {
        self.stats = stats;
    }

    /// A handle on the counters, to read while it runs.
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Runs on `transport` until `stop` completes or the transport closes; returns the
    /// counters. Frames received before the stop are stored before it returns. It starts by
    /// [rebuilding](Self::rebuild) the rule state of every stored device from the last
    /// [`IngestConfig::rebuild_window`] of history, so that a restarted server goes on where
    /// the last one stopped.
    pub async fn run<T: Transport>(
        mut self,
        transport: T,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<IngestStats, IngestError<T::Error>> {
        let (mut tx, mut rx) = transport.split();
        for kind in DEVICE_ROUTES {
            Receiver::subscribe(&mut rx, RouteFilter::kind(kind)).await.map_err(IngestError::Transport)?;
        }
        if !self.config.rebuild_window.is_zero() {
            let known = self.described().await?;
            if !known.is_empty() {
                let devices: Vec<DeviceId> = known.keys().copied().collect();
                let replayed =
                    self.rebuild_known(&known, &devices, self.config.rebuild_window, &mut tx).await?;
                tracing::info!(devices = devices.len(), replayed, "rule state rebuilt from the store");
            }
        }
        let mut buf = vec![0u8; MAX_FRAME];
        let mut tick = tokio::time::interval((self.config.silence / 4).max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The pipeline's handles stay with their holders: once all are gone, none is awaited.
        let mut requests = self.operator.take().map(|(_, rx)| rx);
        tokio::pin!(stop);
        loop {
            let first = tokio::select! {
                r = Receiver::receive(&mut rx, &mut buf) => r,
                _ = tick.tick() => {
                    self.tick(&mut tx).await?;
                    continue;
                }
                request = operator::next(&mut requests) => {
                    self.serve(request, &mut tx).await?;
                    continue;
                }
                _ = &mut stop => break,
            };
            let delivery = match first {
                Ok(d) => d,
                Err(e) if matches!(e.kind(), ErrorKind::Closed) => break,
                Err(e) if matches!(e.kind(), ErrorKind::Refused | ErrorKind::Config) => {
                    return Err(IngestError::Transport(e));
                }
                Err(e) => {
                    tracing::warn!("receive failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // What arrived with it goes into the same transaction.
            let mut frames = Vec::new();
            self.decode(delivery.route, &buf[..delivery.len], &mut frames);
            while frames.len() < self.config.batch {
                match Receiver::try_receive(&mut rx, &mut buf) {
                    Ok(Some(d)) => self.decode(d.route, &buf[..d.len], &mut frames),
                    _ => break,
                }
            }
            self.process(frames, &mut tx).await?;
        }
        let _ = Sender::close(&mut tx).await;
        Ok(self.stats.get())
    }

    /// One step of [`run`](Self::run), for a caller that receives messages itself (from a
    /// stream's consumer, say): decodes `messages` (each with the route it arrived on), stores
    /// them in one transaction, runs the new ones through the rules and acts, sending commands
    /// on `tx`. When it returns `Ok`, every message is stored: the caller may acknowledge them.
    pub async fn ingest<'a, Tx: Sender>(
        &mut self,
        messages: impl IntoIterator<Item = (Route, &'a [u8])>,
        tx: &mut Tx,
    ) -> Result<(), IngestError<Tx::Error>> {
        let mut frames = Vec::new();
        for (route, bytes) in messages {
            self.decode(route, bytes, &mut frames);
        }
        self.process(frames, tx).await
    }

    fn decode(&self, route: Route, bytes: &[u8], out: &mut Vec<Frame>) {
        match Frame::decode(bytes) {
            Ok(f) if f.device == route.device => out.push(f),
            Ok(f) => {
                // A frame naming another device than its route: the route is what the broker's
                // ACL checked, so the frame is not to be trusted.
                self.stats.update(|s| s.bad_frames += 1);
                tracing::warn!(route = ?route, frame_device = %f.device, "frame dropped: its device is not its route's");
            }
            Err(e) => {
                self.stats.update(|s| s.bad_frames += 1);
                tracing::warn!(route = ?route, len = bytes.len(), "frame dropped: {e}");
            }
        }
    }

    /// Stores a batch, then runs its new frames through the rules and acts on them.
    async fn process<Tx: Sender>(
        &mut self,
        frames: Vec<Frame>,
        tx: &mut Tx,
    ) -> Result<(), IngestError<Tx::Error>> {
        if frames.is_empty() {
            return Ok(());
        }
        let at = self.clock.now();
        // Shared with the store's blocking task, not copied: the rules read them after.
        let frames: Arc<[Frame]> = frames.into();
        let stored = self.store.put(frames.clone(), at).await?;
        self.stats.update(|s| {
            s.frames += stored.frames;
            s.duplicates += stored.duplicates;
            s.readings += stored.readings;
            s.batches += 1;
        });
        let mut events = Vec::new();
        let rules_now = self.rules_now(at);
        let mut last = None;
        for (frame, fresh) in frames.iter().zip(&stored.fresh) {
            if !fresh {
                // Stored before: by this pipeline (its readings are not newer than what the
                // engine has of their channels, and it drops them), or by an owner cut off
                // between storing and deciding (taken over: the engine has not seen them and
                // decides now; a transition decided twice is stored once).
                if matches!(frame.message, Message::Readings(_) | Message::Batch(_)) {
                    self.engine.ingest_frame(frame, rules_now, &mut events);
                }
                continue;
            }
            if last != Some(frame.device) {
                self.changes.notify(frame.device);
                last = Some(frame.device);
            }
            let online = match frame.message {
                Message::Status(status) => status == DeviceStatus::Online,
                _ => self.seen.get(&frame.device).is_none_or(|(_, online)| *online),
            };
            self.seen.insert(frame.device, (at, online));
            self.engine.ingest_frame(frame, rules_now, &mut events);
        }
        self.act(events, at, tx, Decided::Live).await
    }

    /// Acts on what the rules decided: each alert transition is stored with the commands it
    /// decided (pending, in one transaction), then they are sent. A transition stored before
    /// (decided again by another instance or a replay) is not acted on again. A command a rule
    /// decides without an alert is stored and sent when decided live; a replay of history
    /// does not send those again.
    async fn act<Tx: Sender>(
        &mut self,
        events: Vec<Event>,
        at: Timestamp,
        tx: &mut Tx,
        decided: Decided,
    ) -> Result<(), IngestError<Tx::Error>> {
        let mut alerts = Vec::new();
        let mut actions: Vec<(Name, DeviceId, CommandAction)> = Vec::new();
        for event in events {
            match event {
                Event::Alert(alert) => alerts.push(alert),
                Event::Command { rule, device, action } => actions.push((rule, device, action)),
                Event::Emit { .. } => {}
            }
        }
        let mut to_send = Vec::new();
        for alert in alerts {
            let device = alert.device;
            let (mine, rest): (Vec<_>, Vec<_>) =
                actions.into_iter().partition(|(rule, d, _)| *d == device && *rule == alert.rule);
            actions = rest;
            // Ids are looked up only for a transition that decided commands.
            let first = if mine.is_empty() { 0 } else { self.next_command_id(device).await? };
            let commands: Vec<Command> = mine
                .into_iter()
                .zip(0u32..)
                .map(|((_, _, action), k)| self.command(first.wrapping_add(k), action, at))
                .collect();
            if self.store.put_alert(alert, commands.clone()).await? {
                self.changes.notify(device);
                self.stats.update(|s| s.alerts += 1);
                if !commands.is_empty() {
                    self.next_command.insert(device, first.wrapping_add(commands.len() as u32));
                }
                to_send.extend(commands.into_iter().map(|c| (device, c)));
            }
        }
        if matches!(decided, Decided::Live) {
            for (_, device, action) in actions {
                let command = self.record_command(device, action, at).await?;
                to_send.push((device, command));
            }
        }
        for (device, command) in to_send {
            self.send(device, command, tx).await?;
        }
        Ok(())
    }

    /// Does what an operator asked and answers; a store failure is answered, then stops the
    /// pipeline as any other.
    async fn serve<Tx: Sender>(
        &mut self,
        request: Request,
        tx: &mut Tx,
    ) -> Result<(), IngestError<Tx::Error>> {
        let at = self.clock.now();
        let (transition, reply) = match request {
            Request::Acknowledge { device, rule, reply } => {
                (self.engine.acknowledge(&rule, device, at), reply)
            }
            Request::Clear { device, rule, reply } => (self.engine.clear(&rule, device, at), reply),
            Request::Command { device, action, reply } => {
                let recorded = self.record_command(device, action, at).await;
                let answer = recorded.as_ref().map(|c| c.id).map_err(|e| OperatorError::Store(e.to_string()));
                let _ = reply.send(answer);
                return self.send(device, recorded?, tx).await;
            }
        };
        let Some(alert) = transition else {
            let _ = reply.send(Ok(false));
            return Ok(());
        };
        tracing::info!(device = %alert.device, rule = %alert.rule, state = ?alert.state, "alarm changed by an operator");
        let device = alert.device;
        let stored = self.store.put_alert(alert, Vec::new()).await;
        let _ = reply.send(stored.as_ref().map(|_| true).map_err(|e| OperatorError::Store(e.to_string())));
        if stored? {
            self.changes.notify(device);
            self.stats.update(|s| s.alerts += 1);
        }
        Ok(())
    }

    /// Numbers a command `action` for `device` and records it pending (the rules' commands
    /// without an alert, and an operator's).
    async fn record_command(
        &mut self,
        device: DeviceId,
        action: CommandAction,
        at: Timestamp,
    ) -> Result<Command, StoreError> {
        let id = self.next_command_id(device).await?;
        let command = self.command(id, action, at);
        self.store.put_command(device, command.clone()).await?;
        self.next_command.insert(device, id.wrapping_add(1));
        self.changes.notify(device);
        Ok(command)
    }

    /// The id `device`'s next command gets: on from the last one stored after a restart.
    async fn next_command_id(&mut self, device: DeviceId) -> Result<u32, StoreError> {
        Ok(match self.next_command.get(&device) {
            Some(&id) => id,
            None => self.store.last_command_id(device).await?.map_or(1, |id| id.wrapping_add(1)),
        })
    }

    fn command(&self, id: u32, action: CommandAction, at: Timestamp) -> Command {
        Command {
            id: CommandId(id),
            issued_at: at,
            expires_at: at.checked_add(self.config.command_ttl),
            action,
        }
    }

    /// Sends a command recorded as pending, and records it sent once the transport's peer
    /// took it. One the transport did not take stays pending: [`tick`](Self::tick) sends it
    /// again until it expires.
    async fn send<Tx: Sender>(
        &mut self,
        device: DeviceId,
        command: Command,
        tx: &mut Tx,
    ) -> Result<(), IngestError<Tx::Error>> {
        let id = command.id;
        let frame = Frame::new(device, id.0, Message::Command(command));
        let sent = match frame.to_vec() {
            Ok(bytes) => {
                Sender::send_acked(tx, Route::new(RouteKind::Commands, device), &bytes).await.is_ok()
            }
            Err(_) => false,
        };
        if sent {
            self.store.command_sent(device, id, self.clock.now()).await?;
            self.changes.notify(device);
            self.stats.update(|s| s.commands += 1);
            tracing::info!(device = %device, command = id.0, "command sent");
        } else {
            self.stats.update(|s| s.commands_failed += 1);
            tracing::warn!(device = %device, command = id.0, "command not taken by the transport: pending");
        }
        Ok(())
    }

    /// Sends again the pending commands (recorded, not sent, not expired) of the devices this
    /// pipeline answers for: those a previous run, or another instance, recorded and did not
    /// send before it died, and those the transport did not take.
    async fn send_pending<Tx: Sender>(
        &mut self,
        at: Timestamp,
        tx: &mut Tx,
    ) -> Result<(), IngestError<Tx::Error>> {
        let pending = self.store.pending_commands(at, PENDING_BATCH).await?;
        for (device, command) in pending {
            if (self.scope)(device) {
                self.send(device, command, tx).await?;
            }
        }
        Ok(())
    }

    fn rules_now(&self, at: Timestamp) -> Timestamp {
        Timestamp(at.0.saturating_sub(self.config.clock_skew.as_millis() as u64))
    }

    /// Time moves on for the rules (`for` durations, `silent`, windows), the devices last
    /// seen online longer ago than the silence are marked lost, and pending commands are sent
    /// again: what [`run`](Self::run) does when it starts and every quarter of the silence,
    /// for a caller of [`ingest`](Self::ingest) to do as often.
    pub async fn tick<Tx: Sender>(&mut self, tx: &mut Tx) -> Result<(), IngestError<Tx::Error>> {
        let at = self.clock.now();
        let mut events = Vec::new();
        self.engine.advance(self.rules_now(at), &mut events);
        self.act(events, at, tx, Decided::Live).await?;
        self.send_pending(at, tx).await?;
        Ok(self.mark_silent(at).await?)
    }

    /// Rebuilds the rule state of `devices` from their stored history (their descriptors and
    /// the last `window` of readings, replayed through the rules), as an instance taking them
    /// over from another must before it decides their alarms. What the replay decides that
    /// was stored already (the previous owner's alarms) is not done again; a transition the
    /// previous owner decided but did not store before it died is stored now, and its
    /// commands sent. Alarms operators acknowledged or cleared are so again in the engine.
    /// Returns the readings replayed.
    pub async fn rebuild<Tx: Sender>(
        &mut self,
        devices: &[DeviceId],
        window: Duration,
        tx: &mut Tx,
    ) -> Result<u64, IngestError<Tx::Error>> {
        let known = self.described().await?;
        self.rebuild_known(&known, devices, window, tx).await
    }

    /// The stored devices that sent their descriptor, with it.
    async fn described(&self) -> Result<HashMap<DeviceId, Device>, StoreError> {
        Ok(self.store.devices().await?.into_iter().filter_map(|d| Some((d.device, d.info?))).collect())
    }

    /// [`rebuild`](Self::rebuild) with the stored descriptors at hand.
    async fn rebuild_known<Tx: Sender>(
        &mut self,
        known: &HashMap<DeviceId, Device>,
        devices: &[DeviceId],
        window: Duration,
        tx: &mut Tx,
    ) -> Result<u64, IngestError<Tx::Error>> {
        let at = self.clock.now();
        let from = Timestamp(at.0.saturating_sub(window.as_millis() as u64));
        let mut replayed = 0;
        let mut events = Vec::new();
        for device in devices {
            self.engine.forget(*device);
            let Some(info) = known.get(device) else { continue };
            self.engine.register(info, from);
            let history = self.store.readings(*device, from, Timestamp(u64::MAX >> 1), REPLAY_LIMIT).await?;
            for r in &history {
                self.engine.ingest_reading(*device, r.channel, r.at, &r.value, &mut events);
            }
            replayed += history.len() as u64;
            if let Some(last) = history.last() {
                self.seen.insert(*device, (last.at.min(at), true));
            }
        }
        self.engine.advance(self.rules_now(at), &mut events);
        self.act(events, at, tx, Decided::Replay).await?;
        self.reapply_operators(devices).await?;
        // What the previous owner recorded and did not send.
        self.send_pending(at, tx).await?;
        self.stats.update(|s| s.replayed += replayed);
        Ok(replayed)
    }

    /// Gives the rebuilt engine what operators did that readings do not tell: an alarm that
    /// stands acknowledged is acknowledged again, one an operator cleared while its condition
    /// held (the replay raised it again from the same readings) is cleared again. Nothing is
    /// recorded: the store holds it already.
    async fn reapply_operators(&mut self, devices: &[DeviceId]) -> Result<(), StoreError> {
        let rebuilt: std::collections::HashSet<DeviceId> = devices.iter().copied().collect();
        for a in self.store.alarms(AlarmFilter::Any, STANDING_LIMIT).await? {
            if !rebuilt.contains(&a.device) {
                continue;
            }
            match a.state {
                AlertState::Acknowledged => {
                    let _ = self.engine.acknowledge(&a.rule, a.device, a.at);
                }
                AlertState::Cleared => {
                    let _ = self.engine.clear(&a.rule, a.device, a.at);
                }
                AlertState::Raised => {}
            }
        }
        Ok(())
    }

    /// Lets go of every device `keep` refuses: its rule state, command numbering and silence
    /// watch (another instance has taken it over).
    pub fn release(&mut self, keep: impl Fn(DeviceId) -> bool) {
        let gone: Vec<DeviceId> = self.seen.keys().copied().filter(|d| !keep(*d)).collect();
        for device in gone {
            self.engine.forget(device);
            self.seen.remove(&device);
            self.next_command.remove(&device);
        }
    }

    /// Marks lost the devices last seen online longer ago than the silence.
    async fn mark_silent(&mut self, at: Timestamp) -> Result<(), StoreError> {
        let silence = self.config.silence.as_millis() as u64;
        for (device, (last, online)) in self.seen.iter_mut() {
            if *online && at.0.saturating_sub(last.0) >= silence {
                self.store.set_status(*device, DeviceStatus::Lost, at).await?;
                self.changes.notify(*device);
                *online = false;
                self.stats.update(|s| s.lost += 1);
                tracing::info!(device = %device, "device lost: silent since {}", last.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
