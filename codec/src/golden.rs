//! Golden byte vectors: they pin wire format version 1. If one of these fails, the bytes on
//! the wire changed: that is a new `WIRE_VERSION`, not a test to update.

use std::vec::Vec;

use telemetra_core::command::FirmwareOffer;
use telemetra_core::rule::{Aggregate, Window};
use telemetra_core::text::bounded;
use telemetra_core::{
    Action, Alert, AlertState, ChannelId, ChannelSpec, Command, CommandAck, CommandAction, CommandId,
    CommandResult, Device, DeviceId, Expr, FirmwareVersion, Location, Op, Quality, Quantity, Reading, Rule,
    Scope, Severity, Tag, Timestamp, Unit, Value,
};

use crate::{Frame, Heartbeat, Message, RulePart};

const T: Timestamp = Timestamp(1_700_000_000_000);

fn hex(bytes: &[u8]) -> std::string::String {
    bytes.iter().map(|b| std::format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn check(frame: Frame, golden: &str) {
    let bytes = frame.to_vec().unwrap();

    assert_eq!(hex(&bytes), golden, "the encoding of {frame:?} changed");
    assert_eq!(Frame::decode(&bytes).unwrap(), frame);
}

fn readings(items: &[Reading]) -> Message {
    Message::Readings(heapless::Vec::from_slice(items).unwrap())
}

#[test]
fn one_reading() {
    let f = Frame::new(DeviceId(42), 7, readings(&[Reading::new(ChannelId(1), T, 21.5)]));
    check(f, "01 2a 07 00 01 01 80 d0 95 ff bc 31 00 00 e1 35 00");
}

#[test]
fn every_value_kind() {
    let f = Frame::new(
        DeviceId(0x0004_a30b_001c_2d3e),
        300,
        readings(&[
            Reading::new(ChannelId(2), T, 0.1 + 0.2).with_quality(Quality::ESTIMATED),
            Reading::new(ChannelId(3), T, -7i64),
            Reading::new(ChannelId(4), T, true),
            Reading::new(
                ChannelId(5),
                T,
                Location { lat: 47.376_912_3.into(), lon: 8.541_694.into(), alt: Some(408.0.into()) },
            ),
            Reading::new(ChannelId(6), T, Value::State(bounded("s", "idle").unwrap())),
        ]),
    );
    check(
        f,
        "01 be da f0 80 b0 e1 a8 02 ac 02 00 05 02 80 d0 95 ff bc 31 00 01 34 33 33 33 33 33 d3 3f 01 03 80 d0 95 ff bc 31 01 0d 00 04 80 d0 95 ff bc 31 02 01 00 05 80 d0 95 ff bc 31 03 00 e7 a8 92 bd 38 00 c6 ff aa 82 01 01 00 80 66 00 06 80 d0 95 ff bc 31 04 04 69 64 6c 65 00",
    );
}

#[test]
fn command_and_ack() {
    let cmd = Command {
        id: CommandId(9),
        issued_at: T,
        expires_at: Some(Timestamp(T.0 + 60_000)),
        action: CommandAction::Actuate { channel: ChannelId(8), setpoint: Value::from(40.0) },
    };
    check(
        Frame::new(DeviceId(42), 1, Message::Command(cmd)),
        "01 2a 01 01 09 80 d0 95 ff bc 31 01 e0 a4 99 ff bc 31 01 08 00 00 80 0a",
    );
    let fw = Command {
        id: CommandId(10),
        issued_at: T,
        expires_at: None,
        action: CommandAction::FirmwareUpdate(FirmwareOffer {
            version: FirmwareVersion::new(1, 4, 0),
            size: 262_144,
            sha256: [0xab; 32],
            url: bounded("url", "https://fw.example/th-v2-1.4.0.bin").unwrap(),
        }),
    };
    check(
        Frame::new(DeviceId(42), 2, Message::Command(fw)),
        "01 2a 02 01 0a 80 d0 95 ff bc 31 00 04 01 04 00 80 80 10 ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab 22 68 74 74 70 73 3a 2f 2f 66 77 2e 65 78 61 6d 70 6c 65 2f 74 68 2d 76 32 2d 31 2e 34 2e 30 2e 62 69 6e",
    );
    let ack = CommandAck { command: CommandId(9), at: T, result: CommandResult::Completed };
    check(Frame::new(DeviceId(42), 3, Message::Ack(ack)), "01 2a 03 02 09 80 d0 95 ff bc 31 01");
}

#[test]
fn alert() {
    let a = Alert {
        rule: bounded("rule", "overheat").unwrap(),
        device: DeviceId(42),
        state: AlertState::Raised,
        severity: Severity::Critical,
        channel: Some(ChannelId(1)),
        value: Some(Value::from(31.2)),
        at: T,
        message: bounded("message", "Overheating").unwrap(),
    };
    check(
        Frame::new(DeviceId(42), 4, Message::Alert(a)),
        "01 2a 04 03 08 6f 76 65 72 68 65 61 74 2a 00 04 01 01 01 00 00 81 4e 80 d0 95 ff bc 31 0b 4f 76 65 72 68 65 61 74 69 6e 67",
    );
}

#[test]
fn device_info_and_heartbeat() {
    let d = Device {
        id: DeviceId(42),
        model: bounded("model", "th-v2").unwrap(),
        firmware: FirmwareVersion::new(1, 3, 2),
        channels: heapless::Vec::from_slice(&[ChannelSpec {
            id: ChannelId(1),
            name: bounded("name", "temperature").unwrap(),
            quantity: Quantity::Temperature,
            unit: Unit::Celsius,
            period_ms: 10_000,
        }])
        .unwrap(),
        tags: heapless::Vec::from_slice(&[Tag {
            key: bounded("key", "site").unwrap(),
            value: bounded("value", "greenhouse-2").unwrap(),
        }])
        .unwrap(),
    };
    check(
        Frame::new(DeviceId(42), 0, Message::DeviceInfo(d)),
        "01 2a 00 04 2a 05 74 68 2d 76 32 01 03 02 01 01 0b 74 65 6d 70 65 72 61 74 75 72 65 00 18 90 4e 01 04 73 69 74 65 0c 67 72 65 65 6e 68 6f 75 73 65 2d 32",
    );
    let hb = Heartbeat { uptime_ms: 86_400_000, battery_pct: Some(87), rssi_dbm: Some(-71) };
    check(Frame::new(DeviceId(42), 5, Message::Heartbeat(hb)), "01 2a 05 06 80 b8 99 29 01 57 01 b9");
}

#[test]
fn rule() {
    // avg(temperature, 5m) > 30 for 2m, clear when temperature < 28
    let avg = Op::Aggregate {
        func: Aggregate::Avg,
        channel: 0,
        window: Window::Time { span_ms: 300_000, max_samples: 64 },
    };
    let rule = Rule {
        name: bounded("name", "overheat").unwrap(),
        scope: Scope::All,
        channels: heapless::Vec::from_slice(&[bounded("channel", "temperature").unwrap()]).unwrap(),
        when: Expr::from_ops(&[avg, Op::Const(30.0), Op::Gt]).unwrap(),
        hold_ms: 120_000,
        repeat: 0,
        clear: Some(Expr::from_ops(&[Op::Value(0), Op::Const(28.0), Op::Lt]).unwrap()),
        clear_repeat: 0,
        cooldown_ms: 0,
        severity: Severity::Critical,
        actions: heapless::Vec::from_slice(&[Action::Alert {
            message: bounded("m", "Overheating").unwrap(),
        }])
        .unwrap(),
    };
    rule.validate().unwrap();
    let part = RulePart { set_version: 3, index: 0, count: 1, rule };
    check(
        Frame::new(DeviceId(42), 6, Message::Rule(part.clone())),
        "01 2a 06 05 03 00 01 08 6f 76 65 72 68 65 61 74 02 01 0b 74 65 6d 70 65 72 61 74 75 72 65 03 02 00 00 00 e0 a7 12 40 00 00 c0 07 0d c0 a9 07 00 01 03 01 00 00 00 80 07 0b 00 04 01 00 0b 4f 76 65 72 68 65 61 74 69 6e 67",
    );
    // `clear when temperature < 28 times 3`: version 3, the same body and the count after it.
    let mut part = part;
    part.rule.clear_repeat = 3;
    check(
        Frame::new(DeviceId(42), 6, Message::Rule(part)),
        "03 2a 06 05 03 00 01 08 6f 76 65 72 68 65 61 74 02 01 0b 74 65 6d 70 65 72 61 74 75 72 65 03 02 00 00 00 e0 a7 12 40 00 00 c0 07 0d c0 a9 07 00 01 03 01 00 00 00 80 07 0b 00 04 01 00 0b 4f 76 65 72 68 65 61 74 69 6e 67 03",
    );
}

#[test]
fn status_and_batch_are_version_2() {
    use telemetra_core::DeviceStatus;
    check(Frame::new(DeviceId(42), 0, Message::Status(DeviceStatus::Online)), "02 2a 00 07 00");
    check(Frame::new(DeviceId(42), 0, Message::Status(DeviceStatus::Lost)), "02 2a 00 07 02");
    let rs = [
        Reading::new(ChannelId(1), T, 21.5),
        Reading::new(ChannelId(1), Timestamp(T.0 + 60_000), 21.6).with_quality(Quality::ESTIMATED),
        Reading::new(ChannelId(2), T, 3i64),
    ];
    let batch = crate::batch::pack(&rs).unwrap().remove(0);
    check(
        Frame::new(DeviceId(42), 9, Message::Batch(batch)),
        "02 2a 09 08 2c 02 01 00 02 01 00 01 01 12 01 02 80 d0 95 ff bc 31 c0 a9 07 00 01 00 ae 03 02 02 02 01 00 0d 01 01 80 d0 95 ff bc 31 00 00 00 06 00",
    );
}
