//! proptest strategies for every message of the model, shared by the codec's tests.

use proptest::collection::vec;
use proptest::prelude::*;
use telemetra_core::command::FirmwareOffer;
use telemetra_core::rule::{Aggregate, Window};
use telemetra_core::{
    Action, Alert, AlertState, ChannelId, ChannelSpec, Command, CommandAck, CommandAction, CommandId,
    CommandResult, Device, DeviceId, Expr, FirmwareVersion, Location, Op, Quality, Quantity, Reading,
    RejectReason, Rule, Scope, Severity, Tag, Timestamp, Unit, Value,
};

use crate::frame::{Frame, Heartbeat, Message, RulePart};

fn text<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    // Mostly short ASCII, sometimes multi-byte characters, always within capacity.
    "[a-z0-9_ é°€-]{0,12}".prop_map(|s| {
        let mut out = heapless::String::new();
        for c in s.chars() {
            if out.push(c).is_err() {
                break;
            }
        }
        out
    })
}

fn full_text<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    Just(()).prop_map(|_| {
        let mut s = heapless::String::new();
        while s.push('€').is_ok() {}
        while s.push('x').is_ok() {}
        s
    })
}

fn any_text<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    prop_oneof![4 => text::<N>(), 1 => full_text::<N>()]
}

fn bounded_vec<T: core::fmt::Debug, const N: usize>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = heapless::Vec<T, N>> {
    vec(s, 0..=N).prop_map(|v| v.into_iter().collect())
}

/// Numbers of every kind: decimal, raw, special.
pub fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-100_000i64..100_000, 0u8..4).prop_map(|(m, k)| m as f64 / 10f64.powi(k.into())),
        any::<f64>(),
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::MIN),
    ]
}

fn unit() -> impl Strategy<Value = Unit> {
    proptest::sample::select(Unit::ALL)
}

fn quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        Just(Quantity::Temperature),
        Just(Quantity::Humidity),
        Just(Quantity::Location),
        Just(Quantity::State),
        any::<u16>().prop_map(Quantity::Custom),
    ]
}

/// Any value.
pub fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        number().prop_map(Value::from),
        any::<f32>().prop_map(Value::from),
        (-(1i64 << 59) + 1..1i64 << 59, 0u8..=15)
            .prop_map(|(m, k)| Value::Number(telemetra_core::Number::decimal(m, k).unwrap())),
        any::<i64>().prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Bool),
        (number(), number(), proptest::option::of(number())).prop_map(|(lat, lon, alt)| Value::Location(
            Location { lat: lat.into(), lon: lon.into(), alt: alt.map(Into::into) }
        )),
        any_text::<48>().prop_map(Value::State),
    ]
}

/// Any reading.
pub fn reading() -> impl Strategy<Value = Reading> {
    (any::<u16>(), any::<u64>(), value(), any::<u8>()).prop_map(|(c, t, v, q)| Reading {
        channel: ChannelId(c),
        at: Timestamp(t),
        value: v,
        quality: Quality(q),
    })
}

fn firmware() -> impl Strategy<Value = FirmwareVersion> {
    (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(a, b, c)| FirmwareVersion::new(a, b, c))
}

fn tag() -> impl Strategy<Value = Tag> {
    (any_text(), any_text()).prop_map(|(key, value)| Tag { key, value })
}

fn device() -> impl Strategy<Value = Device> {
    let channel = (any::<u16>(), any_text(), quantity(), unit(), any::<u32>()).prop_map(
        |(id, name, quantity, unit, period_ms)| ChannelSpec {
            id: ChannelId(id),
            name,
            quantity,
            unit,
            period_ms,
        },
    );
    (any::<u64>(), any_text(), firmware(), bounded_vec(channel), bounded_vec(tag())).prop_map(
        |(id, model, firmware, channels, tags)| Device { id: DeviceId(id), model, firmware, channels, tags },
    )
}

fn command_action() -> impl Strategy<Value = CommandAction> {
    prop_oneof![
        (any_text(), value()).prop_map(|(key, value)| CommandAction::SetConfig { key, value }),
        (any::<u16>(), value())
            .prop_map(|(c, setpoint)| CommandAction::Actuate { channel: ChannelId(c), setpoint }),
        any::<u32>().prop_map(|delay_ms| CommandAction::Reboot { delay_ms }),
        bounded_vec(any::<u16>().prop_map(ChannelId))
            .prop_map(|channels| CommandAction::RequestReadings { channels }),
        (firmware(), any::<u32>(), any::<[u8; 32]>(), any_text()).prop_map(|(version, size, sha256, url)| {
            CommandAction::FirmwareUpdate(FirmwareOffer { version, size, sha256, url })
        }),
    ]
}

pub fn command() -> impl Strategy<Value = Command> {
    (any::<u32>(), any::<u64>(), proptest::option::of(any::<u64>()), command_action()).prop_map(
        |(id, issued, expires, action)| Command {
            id: CommandId(id),
            issued_at: Timestamp(issued),
            expires_at: expires.map(Timestamp),
            action,
        },
    )
}

fn ack() -> impl Strategy<Value = CommandAck> {
    let result = prop_oneof![
        Just(CommandResult::Accepted),
        Just(CommandResult::Completed),
        Just(CommandResult::Rejected(RejectReason::Expired)),
        any::<u16>().prop_map(CommandResult::Failed),
    ];
    (any::<u32>(), any::<u64>(), result).prop_map(|(c, at, result)| CommandAck {
        command: CommandId(c),
        at: Timestamp(at),
        result,
    })
}

fn severity() -> impl Strategy<Value = Severity> {
    proptest::sample::select(
        &[Severity::Info, Severity::Warning, Severity::Minor, Severity::Major, Severity::Critical][..],
    )
}

fn alert() -> impl Strategy<Value = Alert> {
    let state =
        proptest::sample::select(&[AlertState::Raised, AlertState::Acknowledged, AlertState::Cleared][..]);
    (
        any_text(),
        any::<u64>(),
        state,
        severity(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(value()),
        any::<u64>(),
        any_text(),
    )
        .prop_map(|(rule, device, state, severity, channel, value, at, message)| Alert {
            rule,
            device: DeviceId(device),
            state,
            severity,
            channel: channel.map(ChannelId),
            value,
            at: Timestamp(at),
            message,
        })
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(span_ms, max_samples)| Window::Time { span_ms, max_samples }),
        any::<u16>().prop_map(Window::Count),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        number().prop_map(Op::Const),
        any::<u8>().prop_map(Op::Value),
        (any::<u8>(), window()).prop_map(|(channel, window)| Op::Aggregate {
            func: Aggregate::StdDev,
            channel,
            window
        }),
        (any::<u8>(), window()).prop_map(|(channel, window)| Op::Rate { channel, window }),
        (proptest::option::of(0u8..255), any::<u32>())
            .prop_map(|(channel, for_ms)| Op::Silent { channel, for_ms }),
        Just(Op::Gt),
        Just(Op::And),
        Just(Op::Not),
        (any::<u8>(), number()).prop_map(|(channel, by)| Op::Changed { channel, by }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    bounded_vec(op()).prop_map(|ops| Expr { ops })
}

pub fn rule() -> impl Strategy<Value = Rule> {
    let scope = prop_oneof![
        any::<u64>().prop_map(|d| Scope::Device(DeviceId(d))),
        tag().prop_map(Scope::Tagged),
        Just(Scope::All),
    ];
    let action = prop_oneof![
        any_text().prop_map(|message| Action::Alert { message }),
        command_action().prop_map(Action::Command),
        (any::<u8>(), expr()).prop_map(|(channel, value)| Action::Emit { channel, value }),
    ];
    (
        (any_text(), scope, bounded_vec(any_text()), expr()),
        (any::<u32>(), any::<u16>(), proptest::option::of(expr()), any::<u32>()),
        (severity(), bounded_vec(action), prop_oneof![Just(0u16), Just(1), any::<u16>()]),
    )
        .prop_map(
            |(
                (name, scope, channels, when),
                (hold_ms, repeat, clear, cooldown_ms),
                (severity, actions, clear_repeat),
            )| {
                Rule {
                    name,
                    scope,
                    channels,
                    when,
                    hold_ms,
                    repeat,
                    clear,
                    clear_repeat,
                    cooldown_ms,
                    severity,
                    actions,
                }
            },
        )
}

/// Any message.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        bounded_vec(reading()).prop_map(Message::Readings),
        command().prop_map(Message::Command),
        ack().prop_map(Message::Ack),
        alert().prop_map(Message::Alert),
        device().prop_map(Message::DeviceInfo),
        (any::<u32>(), any::<u8>(), any::<u8>(), rule()).prop_map(|(set_version, index, count, rule)| {
            Message::Rule(RulePart { set_version, index, count, rule })
        }),
        (any::<u64>(), proptest::option::of(any::<u8>()), proptest::option::of(any::<i8>())).prop_map(
            |(uptime_ms, battery_pct, rssi_dbm)| Message::Heartbeat(Heartbeat {
                uptime_ms,
                battery_pct,
                rssi_dbm
            })
        ),
        prop_oneof![
            Just(telemetra_core::DeviceStatus::Online),
            Just(telemetra_core::DeviceStatus::Offline),
            Just(telemetra_core::DeviceStatus::Lost)
        ]
        .prop_map(Message::Status),
        proptest::collection::vec((0u16..4, -5000i64..5000, 0u8..3), 0..300).prop_map(|vs| {
            let rs: std::vec::Vec<telemetra_core::Reading> = vs
                .iter()
                .enumerate()
                .map(|(i, &(ch, v, q))| {
                    telemetra_core::Reading::new(
                        ChannelId(ch),
                        Timestamp(1_700_000_000_000 + i as u64 * 977),
                        v as f64 / 100.0,
                    )
                    .with_quality(telemetra_core::Quality(q))
                })
                .collect();
            Message::Batch(crate::batch::pack(&rs).unwrap().into_iter().next().unwrap_or_default())
        }),
    ]
}

/// Any frame.
pub fn frame() -> impl Strategy<Value = Frame> {
    (any::<u64>(), any::<u32>(), message())
        .prop_map(|(d, seq, message)| Frame::new(DeviceId(d), seq, message))
}
