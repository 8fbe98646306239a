//! The pipeline on the in-process transport with a device played by the test.

use telemetra_core::transport::{ErrorType, Receiver, Sender};
use telemetra_core::{
    Alert, AlertState, ChannelId, ChannelSpec, CommandAck, CommandResult, Device, FirmwareVersion, Name,
    Quantity, Reading, Unit,
};
use telemetra_transports::memory::{MemoryHub, MemoryTransport};

use super::*;
use crate::store::{AlarmFilter, SqliteStore};

const RULES: &str = r#"
rule power_peak: when power > 1450 clear when power < 1300
    then alert warning "Power peak", command set limit_w = 1400
"#;

fn info(id: u64) -> Device {
    Device {
        id: DeviceId(id),
        model: Name::try_from("meter").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: [ChannelSpec {
            id: ChannelId(1),
            name: Name::try_from("power").unwrap(),
            quantity: Quantity::Power,
            unit: Unit::Watt,
            period_ms: 1000,
        }]
        .into_iter()
        .collect(),
        tags: Default::default(),
    }
}

fn frame(device: u64, seq: u32, message: Message) -> Vec<u8> {
    Frame::new(DeviceId(device), seq, message).to_vec().unwrap()
}

/// A reading `seq` ms after now (readings of one channel at the same instant are one reading
/// to the rules).
fn power(device: u64, seq: u32, watts: f64) -> Vec<u8> {
    let r = Reading::new(ChannelId(1), Timestamp(now().0 + u64::from(seq)), watts);
    frame(device, seq, Message::Readings([r].into_iter().collect()))
}

async fn wait_for(stats: &StatsHandle, f: impl Fn(&IngestStats) -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !f(&stats.get()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not reached: {:?}", stats.get()));
}

/// A pipeline with [`RULES`] running on `hub` until `stop`, and device 7's endpoint on it,
/// subscribed to its commands.
struct Running {
    stats: StatsHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<IngestStats, IngestError<<MemoryTransport as ErrorType>::Error>>>,
    device: MemoryTransport,
    operator: Operator,
}

async fn start(hub: &MemoryHub, store: Arc<SqliteStore>, config: IngestConfig) -> Running {
    let mut engine = Engine::new(Default::default());
    engine.load(telemetra_rules::parse(RULES).unwrap()).unwrap();
    let mut ingest = Ingest::new(store, engine, config);
    let stats = ingest.stats();
    let operator = ingest.operator();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ingest.run(hub.connect(), async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut device = hub.connect();
    Receiver::subscribe(&mut device, RouteFilter::exact(Route::new(RouteKind::Commands, DeviceId(7))))
        .await
        .unwrap();
    Running { stats, stop, server, device, operator }
}

/// The next command the device receives.
async fn next_command(device: &mut MemoryTransport, stats: &StatsHandle) -> Command {
    let mut buf = vec![0u8; MAX_FRAME];
    let d = tokio::time::timeout(Duration::from_secs(10), Receiver::receive(device, &mut buf))
        .await
        .unwrap_or_else(|_| panic!("no command: {:?}", stats.get()))
        .unwrap();
    let Message::Command(cmd) = Frame::decode(&buf[..d.len]).unwrap().message else {
        panic!("not a command")
    };
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_are_stored_once_rules_act_and_acks_come_back() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let config = IngestConfig { silence: Duration::from_millis(400), ..IngestConfig::default() };
    let Running { stats, stop, server, mut device, .. } = start(&hub, store.clone(), config).await;
    let send = |kind: RouteKind, bytes: Vec<u8>| (Route::new(kind, DeviceId(7)), bytes);
    let mut out = vec![
        send(RouteKind::Status, frame(7, 1, Message::Status(DeviceStatus::Online))),
        send(RouteKind::Info, frame(7, 2, Message::DeviceInfo(info(7)))),
        send(RouteKind::Readings, power(7, 3, 1200.0)),
        // Garbage: counted and skipped; the frames after it still arrive.
        send(RouteKind::Readings, vec![0xff, 0x00, 0x13]),
        send(RouteKind::Readings, power(7, 4, 1500.0)),
    ];
    // A frame naming device 8 on device 7's route: not trusted.
    out.push(send(RouteKind::Readings, power(8, 1, 1.0)));
    for (route, bytes) in &out {
        Sender::send(&mut device, *route, bytes).await.unwrap();
    }
    // The rule fires: an alert stored, a command to the device.
    let cmd = next_command(&mut device, &stats).await;
    assert_eq!(cmd.id, CommandId(1));
    // The device redelivers a frame (a reconnect), acknowledges the command, and the power
    // falls: the alert clears; the redelivered 1500 W does not raise it again.
    let ack = CommandAck { command: cmd.id, at: now(), result: CommandResult::Completed };
    let redelivered = out[4].1.clone();
    for (kind, bytes) in [
        (RouteKind::Readings, redelivered),
        (RouteKind::Acks, frame(7, 5, Message::Ack(ack))),
        (RouteKind::Readings, power(7, 6, 1000.0)),
    ] {
        Sender::send(&mut device, Route::new(kind, DeviceId(7)), &bytes).await.unwrap();
    }
    wait_for(&stats, |s| s.frames == 6 && s.alerts == 2).await;
    let s = stats.get();
    assert_eq!((s.bad_frames, s.duplicates, s.commands, s.readings), (2, 1, 1, 3), "{s:?}");
    let alerts = store.alerts(None, 10).await.unwrap();
    assert_eq!(alerts.iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Cleared, AlertState::Raised]);
    let commands = store.commands(DeviceId(7)).await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].ack.map(|a| a.result), Some(CommandResult::Completed));
    assert_eq!(store.latest(DeviceId(7)).await.unwrap()[0].value.as_f64(), Some(1000.0));
    assert!(
        store.devices().await.unwrap().iter().all(|d| d.device == DeviceId(7)),
        "device 8 was never stored"
    );

    // Silence: the device is marked lost.
    wait_for(&stats, |s| s.lost == 1).await;
    assert_eq!(store.devices().await.unwrap()[0].status.map(|s| s.0), Some(DeviceStatus::Lost));
    stop.send(()).unwrap();
    let end = server.await.unwrap().unwrap();
    assert_eq!(end.frames, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_ids_go_on_from_the_store_after_a_restart() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .put_command(
            DeviceId(7),
            Command {
                id: CommandId(41),
                issued_at: now(),
                expires_at: None,
                action: telemetra_core::CommandAction::Reboot { delay_ms: 0 },
            },
        )
        .await
        .unwrap();
    store.command_sent(DeviceId(7), CommandId(41), now()).await.unwrap();
    let Running { stats, stop, server, mut device, .. } =
        start(&hub, store.clone(), IngestConfig::default()).await;
    Sender::send(
        &mut device,
        Route::new(RouteKind::Info, DeviceId(7)),
        &frame(7, 1, Message::DeviceInfo(info(7))),
    )
    .await
    .unwrap();
    Sender::send(&mut device, Route::new(RouteKind::Readings, DeviceId(7)), &power(7, 2, 2000.0))
        .await
        .unwrap();
    let cmd = next_command(&mut device, &stats).await;
    assert_eq!(cmd.id, CommandId(42));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

fn engine() -> Engine {
    let mut engine = Engine::new(Default::default());
    engine.load(telemetra_rules::parse(RULES).unwrap()).unwrap();
    engine
}

/// Device 7's frames, as the messages a stream consumer hands [`Ingest::ingest`].
fn messages(frames: &[(RouteKind, Vec<u8>)]) -> Vec<(Route, &[u8])> {
    frames.iter().map(|(kind, bytes)| (Route::new(*kind, DeviceId(7)), bytes.as_slice())).collect()
}

/// An instance takes device 7 over from one that raised its alarm: the rebuild replays the
/// stored history, so the alarm is known raised (not raised again, its command not sent again)
/// and clears when the power falls, on the new instance.
#[tokio::test]
async fn a_takeover_rebuilds_the_alarm_state_without_acting_twice() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut device = hub.connect();
    Receiver::subscribe(&mut device, RouteFilter::kind(RouteKind::Commands)).await.unwrap();
    let mut tx = hub.connect();
    let first = [
        (RouteKind::Info, frame(7, 1, Message::DeviceInfo(info(7)))),
        (RouteKind::Readings, power(7, 2, 1200.0)),
        (RouteKind::Readings, power(7, 3, 1500.0)),
    ];
    let mut a = Ingest::new(store.clone(), engine(), IngestConfig::default());
    a.ingest(messages(&first), &mut tx).await.unwrap();
    assert_eq!((a.stats().get().alerts, a.stats().get().commands), (1, 1));
    let stats = a.stats();
    next_command(&mut device, &stats).await;

    let mut b = Ingest::new(store.clone(), engine(), IngestConfig::default());
    let replayed = b.rebuild(&[DeviceId(7)], Duration::from_secs(600), &mut tx).await.unwrap();
    assert_eq!(replayed, 2);
    let s = b.stats().get();
    assert_eq!((s.replayed, s.alerts, s.commands), (2, 0, 0), "nothing acted on twice: {s:?}");
    b.ingest(messages(&[(RouteKind::Readings, power(7, 4, 1000.0))]), &mut tx).await.unwrap();
    let alerts = store.alerts(None, 10).await.unwrap();
    assert_eq!(alerts.iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Cleared, AlertState::Raised]);
    assert_eq!(store.commands(DeviceId(7)).await.unwrap().len(), 1);
    let mut buf = vec![0u8; MAX_FRAME];
    assert!(matches!(Receiver::try_receive(&mut device, &mut buf), Ok(None)), "no second command");
}

/// The previous owner stored the frames and died before it decided: the rebuild decides the
/// alarm, stores it and sends its command — once, however many instances replay it.
#[tokio::test]
async fn a_rebuild_decides_what_the_previous_owner_did_not() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut device = hub.connect();
    Receiver::subscribe(&mut device, RouteFilter::kind(RouteKind::Commands)).await.unwrap();
    let mut tx = hub.connect();
    let frames: Vec<Frame> =
        [frame(7, 1, Message::DeviceInfo(info(7))), power(7, 2, 1200.0), power(7, 3, 1500.0)]
            .iter()
            .map(|b| Frame::decode(b).unwrap())
            .collect();
    store.put(frames.into(), now()).await.unwrap();

    let mut b = Ingest::new(store.clone(), engine(), IngestConfig::default());
    b.rebuild(&[DeviceId(7)], Duration::from_secs(600), &mut tx).await.unwrap();
    let stats = b.stats();
    assert_eq!((stats.get().alerts, stats.get().commands), (1, 1));
    assert_eq!(next_command(&mut device, &stats).await.id, CommandId(1));
    let mut c = Ingest::new(store.clone(), engine(), IngestConfig::default());
    c.rebuild(&[DeviceId(7)], Duration::from_secs(600), &mut tx).await.unwrap();
    assert_eq!((c.stats().get().alerts, c.stats().get().commands), (0, 0));
    assert_eq!(store.alerts(None, 10).await.unwrap().len(), 1);
}

/// On a simulation's clock, the frames are received at its time and a device falls silent by
/// it: an hour of silence passes in no time at all.
#[tokio::test]
async fn the_pipeline_runs_on_the_clock_it_is_given() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const START: u64 = 1_795_651_200_000;
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut tx = hub.connect();
    let time = Arc::new(AtomicU64::new(START));
    let clock = {
        let time = time.clone();
        move || Timestamp(time.load(Ordering::Relaxed))
    };
    let mut ingest = Ingest::new(store.clone(), engine(), IngestConfig::default()).with_clock(clock);
    let reading = Reading::new(ChannelId(1), Timestamp(START), 1000.0);
    let frames = [
        (RouteKind::Info, frame(7, 1, Message::DeviceInfo(info(7)))),
        (RouteKind::Readings, frame(7, 2, Message::Readings([reading].into_iter().collect()))),
    ];
    ingest.ingest(messages(&frames), &mut tx).await.unwrap();
    let row = store.devices().await.unwrap().remove(0);
    assert_eq!(row.last_seen, Some(Timestamp(START)), "received at the clock's time");

    time.store(START + 299_000, Ordering::Relaxed);
    ingest.tick(&mut tx).await.unwrap();
    assert_eq!(ingest.stats().get().lost, 0, "silent for less than 5 minutes");
    time.store(START + 3_600_000, Ordering::Relaxed);
    ingest.tick(&mut tx).await.unwrap();
    assert_eq!(ingest.stats().get().lost, 1);
    let row = store.devices().await.unwrap().remove(0);
    assert_eq!(row.status, Some((DeviceStatus::Lost, Timestamp(START + 3_600_000))));
}

/// A sender that refuses its first `refuse` acknowledged sends (a broker gone), then forwards:
/// a fault a real transport gives only by being torn down.
struct Refusing {
    inner: MemoryTransport,
    refuse: usize,
}

/// What [`Refusing`] answers.
#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

impl TransportError for Refused {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Closed
    }
}

impl ErrorType for Refusing {
    type Error = Refused;
}

impl Sender for Refusing {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), Refused> {
        Sender::send(&mut self.inner, route, payload).await.map_err(|_| Refused)
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), Refused> {
        if self.refuse > 0 {
            self.refuse -= 1;
            return Err(Refused);
        }
        Sender::send_acked(&mut self.inner, route, payload).await.map_err(|_| Refused)
    }

    async fn close(&mut self) -> Result<(), Refused> {
        Sender::close(&mut self.inner).await.map_err(|_| Refused)
    }
}

/// A command the transport did not take stays pending, and the next tick sends it: the device
/// gets it once, and it is recorded sent.
#[tokio::test]
async fn a_command_the_transport_refused_is_sent_at_the_next_tick() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut device = hub.connect();
    Receiver::subscribe(&mut device, RouteFilter::kind(RouteKind::Commands)).await.unwrap();
    let mut tx = Refusing { inner: hub.connect(), refuse: 1 };
    let mut ingest = Ingest::new(store.clone(), engine(), IngestConfig::default());
    let frames = [
        (RouteKind::Info, frame(7, 1, Message::DeviceInfo(info(7)))),
        (RouteKind::Readings, power(7, 2, 1500.0)),
    ];
    ingest.ingest(messages(&frames), &mut tx).await.unwrap();
    let s = ingest.stats().get();
    assert_eq!((s.alerts, s.commands, s.commands_failed), (1, 0, 1));
    assert_eq!(store.commands(DeviceId(7)).await.unwrap()[0].sent_at, None, "pending");

    ingest.tick(&mut tx).await.unwrap();
    assert_eq!(next_command(&mut device, &ingest.stats()).await.id, CommandId(1));
    assert_eq!(ingest.stats().get().commands, 1);
    assert!(store.commands(DeviceId(7)).await.unwrap()[0].sent_at.is_some(), "sent");
    ingest.tick(&mut tx).await.unwrap();
    let mut buf = vec![0u8; MAX_FRAME];
    assert!(matches!(Receiver::try_receive(&mut device, &mut buf), Ok(None)), "sent once");
}

/// A server that died after it recorded an alarm and its command, before it sent it: the next
/// one (a restart, or the instance taking the device over) sends it when it starts; one that
/// answers for other devices does not.
#[tokio::test]
async fn a_command_recorded_by_a_server_that_died_is_sent_by_the_next() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut device = hub.connect();
    Receiver::subscribe(&mut device, RouteFilter::kind(RouteKind::Commands)).await.unwrap();
    let mut tx = hub.connect();
    let at = now();
    let alert = Alert {
        rule: Name::try_from("power_peak").unwrap(),
        device: DeviceId(7),
        state: AlertState::Raised,
        severity: telemetra_core::Severity::Warning,
        channel: Some(ChannelId(1)),
        value: None,
        at,
        message: Default::default(),
    };
    let action = CommandAction::SetConfig { key: Name::try_from("limit_w").unwrap(), value: 1400.0.into() };
    let command = Command {
        id: CommandId(1),
        issued_at: at,
        expires_at: at.checked_add(Duration::from_secs(60)),
        action,
    };
    assert!(store.put_alert(alert, vec![command.clone()]).await.unwrap());

    let mut other =
        Ingest::new(store.clone(), engine(), IngestConfig::default()).with_scope(|d| d != DeviceId(7));
    other.tick(&mut tx).await.unwrap();
    assert_eq!(other.stats().get().commands, 0, "not its device");
    let mut next = Ingest::new(store.clone(), engine(), IngestConfig::default());
    next.rebuild(&[DeviceId(7)], Duration::from_secs(600), &mut tx).await.unwrap();
    assert_eq!(next_command(&mut device, &next.stats()).await, command);
    assert!(store.pending_commands(now(), 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_acknowledges_clears_and_commands_through_the_engine() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let Running { stats, stop, server, mut device, operator } =
        start(&hub, store.clone(), IngestConfig::default()).await;
    let d = DeviceId(7);
    let at = |kind: RouteKind| Route::new(kind, d);
    Sender::send(&mut device, at(RouteKind::Info), &frame(7, 1, Message::DeviceInfo(info(7)))).await.unwrap();
    assert!(!operator.acknowledge(d, "power_peak").await.unwrap(), "no alarm yet: nothing to acknowledge");
    Sender::send(&mut device, at(RouteKind::Readings), &power(7, 2, 1500.0)).await.unwrap();
    assert_eq!(next_command(&mut device, &stats).await.id, CommandId(1), "the rule's command");

    assert!(operator.acknowledge(d, "power_peak").await.unwrap());
    assert!(!operator.acknowledge(d, "power_peak").await.unwrap(), "the engine knows it is acknowledged");
    assert!(!operator.acknowledge(d, "no_such_rule").await.unwrap());
    let standing = store.alarms(AlarmFilter::Any, 10).await.unwrap();
    assert_eq!(standing.iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Acknowledged]);

    // Cleared by hand while the power is still high: raised again by the next reading.
    assert!(operator.clear(d, "power_peak").await.unwrap());
    assert!(!operator.clear(d, "power_peak").await.unwrap(), "cleared once");
    assert_eq!(store.alarms(AlarmFilter::Any, 10).await.unwrap()[0].state, AlertState::Cleared);
    Sender::send(&mut device, at(RouteKind::Readings), &power(7, 3, 1550.0)).await.unwrap();
    assert_eq!(next_command(&mut device, &stats).await.id, CommandId(2), "raised again, its command");
    assert_eq!(store.alarms(AlarmFilter::Any, 10).await.unwrap()[0].state, AlertState::Raised);

    // A command by hand: numbered after the rules' ones, recorded, sent.
    let action = telemetra_rules::parse_command("reboot after 5s").unwrap();
    let id = operator.command(d, action.clone()).await.unwrap();
    assert_eq!(id, CommandId(3));
    let got = next_command(&mut device, &stats).await;
    assert_eq!((got.id, got.action), (id, action));
    // Recorded sent once the transport took it (just after the device got it).
    wait_for(&stats, |s| s.commands == 3).await;
    let recorded = store.commands(d).await.unwrap();
    assert_eq!(recorded[0].command.id, id);
    assert!(recorded[0].sent_at.is_some());
    assert_eq!(stats.get().alerts, 4, "raised, acknowledged, cleared, raised");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(operator.clear(d, "power_peak").await, Err(OperatorError::Stopped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_pipeline_knows_its_alarms_and_what_operators_did() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let d = DeviceId(7);
    let at = |kind: RouteKind| Route::new(kind, d);
    // The first server: an alarm raised, acknowledged by an operator; then it stops.
    let Running { stats, stop, server, mut device, operator } =
        start(&hub, store.clone(), IngestConfig::default()).await;
    Sender::send(&mut device, at(RouteKind::Info), &frame(7, 1, Message::DeviceInfo(info(7)))).await.unwrap();
    Sender::send(&mut device, at(RouteKind::Readings), &power(7, 2, 1500.0)).await.unwrap();
    assert_eq!(next_command(&mut device, &stats).await.id, CommandId(1));
    assert!(operator.acknowledge(d, "power_peak").await.unwrap());
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    drop(device);

    // The next server on the same store knows the alarm is active and acknowledged.
    let Running { stats, stop, server, device, operator } =
        start(&hub, store.clone(), IngestConfig::default()).await;
    wait_for(&stats, |s| s.replayed >= 1).await;
    assert!(!operator.acknowledge(d, "power_peak").await.unwrap(), "acknowledged before the restart");
    assert!(operator.clear(d, "power_peak").await.unwrap(), "active across the restart");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    drop(device);

    // And the one after it, that the operator cleared it (the replay raises it from the same
    // readings): the next high reading raises it anew, with its command.
    let Running { stats, stop, server, mut device, operator } =
        start(&hub, store.clone(), IngestConfig::default()).await;
    wait_for(&stats, |s| s.replayed >= 1).await;
    assert!(!operator.clear(d, "power_peak").await.unwrap(), "cleared before the restart");
    Sender::send(&mut device, at(RouteKind::Readings), &power(7, 3, 1600.0)).await.unwrap();
    assert_eq!(next_command(&mut device, &stats).await.id, CommandId(2), "raised anew, numbered on");
    let states: Vec<AlertState> = store.alerts(None, 10).await.unwrap().iter().map(|a| a.state).collect();
    assert_eq!(
        states,
        [AlertState::Raised, AlertState::Cleared, AlertState::Acknowledged, AlertState::Raised],
        "each transition recorded once, none decided again by a replay"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_stored_by_an_owner_cut_off_before_deciding_is_decided_by_the_next() {
    let hub = MemoryHub::new(1024);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let Running { stats, stop, server, mut device, .. } =
        start(&hub, store.clone(), IngestConfig::default()).await;
    let d = DeviceId(7);
    Sender::send(&mut device, Route::new(RouteKind::Info, d), &frame(7, 1, Message::DeviceInfo(info(7))))
        .await
        .unwrap();
    wait_for(&stats, |s| s.frames == 1).await;
    // Another owner stored this reading and died before its rules decided anything.
    let hot = power(7, 2, 1500.0);
    store.put(vec![Frame::decode(&hot).unwrap()].into(), now()).await.unwrap();
    // Redelivered to this pipeline: a duplicate for the store, new to the rules.
    Sender::send(&mut device, Route::new(RouteKind::Readings, d), &hot).await.unwrap();
    assert_eq!(next_command(&mut device, &stats).await.id, CommandId(1), "the alarm's command");
    // And again: the engine has it now; nothing is decided twice.
    Sender::send(&mut device, Route::new(RouteKind::Readings, d), &hot).await.unwrap();
    wait_for(&stats, |s| s.duplicates == 2).await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let raised: Vec<_> = store.alerts(None, 10).await.unwrap().iter().map(|a| a.state).collect();
    assert_eq!(raised, [AlertState::Raised], "raised once, at that reading");
    assert_eq!(store.commands(d).await.unwrap().len(), 1);
}
