use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use crate::lang::parse;
use proptest::prelude::*;
use telemetra_core::text::bounded;
use telemetra_core::{ChannelSpec, FirmwareVersion, Quantity, Reading, Unit};

const D: DeviceId = DeviceId(1);

fn engine(text: &str) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    e.load(parse(text).unwrap()).unwrap();
    e
}

/// Feeds `(seconds, value)` readings of one channel and returns the alert transitions.
fn feed(e: &mut Engine, channel: &str, points: &[(u64, f64)]) -> Vec<(u64, AlertState)> {
    let mut out = Vec::new();
    for &(s, v) in points {
        e.ingest(D, channel, Timestamp(s * 1000), v, &mut out);
    }
    transitions(&out)
}

fn transitions(events: &[Event]) -> Vec<(u64, AlertState)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Alert(a) => Some((a.at.0 / 1000, a.state)),
            _ => None,
        })
        .collect()
}

use AlertState::{Cleared, Raised};

#[test]
fn threshold_raises_and_clears_once() {
    let mut e = engine(r#"rule hot: when t > 30 then alert major "Hot""#);
    let got = feed(&mut e, "t", &[(1, 20.0), (2, 31.0), (3, 35.0), (4, 29.0), (5, 28.0)]);
    assert_eq!(got, [(2, Raised), (4, Cleared)]);
    assert!(e.active("hot").is_empty());
}

#[test]
fn hysteresis_holds_between_the_thresholds() {
    let mut e = engine(r#"rule hot: when t > 30 clear when t < 28 then alert major "Hot""#);
    let got = feed(&mut e, "t", &[(1, 31.0), (2, 29.0), (3, 30.5), (4, 28.5), (5, 27.9), (6, 29.0)]);
    assert_eq!(got, [(1, Raised), (5, Cleared)]);
}

#[test]
fn hold_for_needs_the_condition_throughout() {
    let mut e = engine(r#"rule hot: when t > 30 for 2m then alert major "Hot""#);
    // Broken by a cool reading at 90 s, then held from 120 s to 240 s.
    let got = feed(&mut e, "t", &[(0, 31.0), (60, 31.0), (90, 29.0), (120, 31.0), (180, 31.0), (240, 31.0)]);
    assert_eq!(got, [(240, Raised)]);
}

#[test]
fn hold_for_fires_on_advance_without_a_new_reading() {
    let mut e = engine(r#"rule hot: when t > 30 for 2m then alert major "Hot""#);
    assert!(feed(&mut e, "t", &[(0, 31.0)]).is_empty());
    let mut out = Vec::new();
    e.advance(Timestamp(119_000), &mut out);
    assert!(out.is_empty());
    // Due at 120 s: decided once time has passed it (a reading stamped 120 s comes first),
    // and stamped 120 s.
    e.advance(Timestamp(120_000), &mut out);
    assert!(out.is_empty());
    e.advance(Timestamp(150_000), &mut out);
    assert_eq!(transitions(&out), [(120, Raised)]);
}

#[test]
fn repeat_counts_readings_in_a_row() {
    let mut e = engine(r#"rule spikes: when t > 100 times 3 then alert minor "Spikes""#);
    let got = feed(&mut e, "t", &[(1, 101.0), (2, 101.0), (3, 50.0), (4, 101.0), (5, 101.0), (6, 101.0)]);
    assert_eq!(got, [(6, Raised)]);
}

#[test]
fn cooldown_keeps_a_cleared_alarm_down() {
    let mut e = engine(r#"rule hot: when t > 30 cooldown 1m then alert major "Hot""#);
    let got = feed(&mut e, "t", &[(0, 31.0), (10, 20.0), (20, 31.0), (69, 31.0), (70, 31.0)]);
    assert_eq!(got, [(0, Raised), (10, Cleared), (70, Raised)]);
}

#[test]
fn absence_of_a_device_and_its_return() {
    let mut e = engine(r#"rule gone: when silent(45m) then alert major "Silent""#);
    feed(&mut e, "anything", &[(0, 1.0)]);
    let mut out = Vec::new();
    e.advance(Timestamp(44 * 60_000), &mut out);
    assert!(out.is_empty());
    e.advance(Timestamp(45 * 60_000 + 1), &mut out);
    assert_eq!(transitions(&out), [(2700, Raised)]);
    // The device speaks again: the alarm clears.
    let got = feed(&mut e, "other", &[(2800, 5.0)]);
    assert_eq!(got, [(2800, Cleared)]);
}

#[test]
fn a_registered_device_that_never_sends_is_silent() {
    let mut e = engine(
        "rule gone: when silent(45m) then alert major \"Silent\"\nrule door: when silent(door, 1h) then alert info \"Door\"",
    );
    let dev = Device {
        id: D,
        model: bounded("m", "x").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: heapless::Vec::new(),
        tags: heapless::Vec::new(),
    };
    e.register(&dev, Timestamp(600_000));
    let mut out = Vec::new();
    e.advance(Timestamp(600_000 + 50 * 60_000), &mut out);
    assert_eq!(transitions(&out), [(3300, Raised)]);
    e.advance(Timestamp(600_000 + 65 * 60_000), &mut out);
    assert_eq!(transitions(&out), [(3300, Raised), (4200, Raised)]);
}

#[test]
fn absence_of_one_channel() {
    let mut e = engine(r#"rule door: when silent(door, 10m) then alert info "Door quiet""#);
    feed(&mut e, "door", &[(0, 1.0)]);
    feed(&mut e, "temperature", &[(300, 20.0), (700, 20.0)]);
    let mut out = Vec::new();
    e.advance(Timestamp(800_000), &mut out);
    assert_eq!(transitions(&out), [(600, Raised)]);
}

#[test]
fn window_average_over_time() {
    let mut e = engine(r#"rule warm: when avg(t, 1m) > 25 then alert minor "Warm""#);
    let got = feed(&mut e, "t", &[(0, 20.0), (20, 30.0), (40, 30.0), (61, 20.0), (100, 20.0)]);
    // At 40 s: avg(20,30,30) = 26.7 raises. At 61 s the 0 s sample has left: avg(30,30,20)
    // = 26.7 still. At 80 s the 20 s sample leaves: avg(30, 20) = 25 clears, at 80 s exactly
    // (decided when the reading at 100 s shows that time has passed 80 s).
    assert_eq!(got, [(40, Raised), (80, Cleared)]);
}

#[test]
fn rate_of_change() {
    let mut e = engine(r#"rule storm: when rate(p, 10m) < -0.01 then alert warning "Storm""#);
    let got = feed(&mut e, "p", &[(0, 1013.0), (300, 1012.0), (600, 1005.0)]);
    assert_eq!(got, [(600, Raised)]);
}

#[test]
fn deadband_emits_only_real_changes() {
    let mut e = engine("rule report: when changed(t, 0.5) then emit t_reported = t");
    let mut out = Vec::new();
    for (s, v) in [(0, 20.0), (1, 20.2), (2, 20.6), (3, 20.4), (4, 21.0), (5, 21.6)] {
        e.ingest(D, "t", Timestamp(s * 1000), v, &mut out);
    }
    let emitted: Vec<f64> = out
        .iter()
        .map(|ev| match ev {
            Event::Emit { value, channel, .. } => {
                assert_eq!(channel, "t_reported");
                *value
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(emitted, [20.0, 20.6, 21.6]);
}

#[test]
fn an_event_rule_on_absence_fires_once_per_silence_then_after_each_cooldown() {
    let count = |e: &mut Engine, at: u64| {
        let mut out = Vec::new();
        e.advance(Timestamp(at * 1000), &mut out);
        out.len()
    };
    let mut e = engine("rule ping: when silent(10m) then command reboot");
    feed(&mut e, "t", &[(0, 1.0)]);
    assert_eq!(count(&mut e, 601), 1);
    assert_eq!(count(&mut e, 700), 0, "still silent: no second command");
    feed(&mut e, "t", &[(800, 1.0)]);
    assert_eq!(count(&mut e, 1401), 1, "a new silence fires again");

    let mut e = engine("rule ping: when silent(10m) cooldown 30m then command reboot");
    feed(&mut e, "t", &[(0, 1.0)]);
    let fired: usize = (600..=6060).step_by(60).map(|s| count(&mut e, s)).sum();
    assert_eq!(fired, 4, "at 10, 40, 70 and 100 minutes");
}

#[test]
fn commands_go_to_the_device_concerned() {
    let mut e = engine("rule vent: when co2 > 1000 then command actuate 3 = 1");
    let mut out = Vec::new();
    e.ingest(DeviceId(9), "co2", Timestamp(0), 1200.0, &mut out);
    assert!(matches!(
        &out[..],
        [Event::Command { device: DeviceId(9), action: CommandAction::Actuate { .. }, .. }]
    ));
}

#[test]
fn scope_by_device_and_by_tag() {
    let mut e = engine(
        "rule one: on device 2 when t > 1 then alert info \"one\"\nrule site: on tag site = \"lab\" when t > 1 then alert info \"lab\"",
    );
    let lab = Device {
        id: DeviceId(3),
        model: bounded("m", "x").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: heapless::Vec::from_slice(&[ChannelSpec {
            id: ChannelId(7),
            name: bounded("n", "t").unwrap(),
            quantity: Quantity::Temperature,
            unit: Unit::Celsius,
            period_ms: 0,
        }])
        .unwrap(),
        tags: heapless::Vec::from_slice(&[Tag {
            key: bounded("k", "site").unwrap(),
            value: bounded("v", "lab").unwrap(),
        }])
        .unwrap(),
    };
    e.register(&lab, Timestamp(0));
    let mut out = Vec::new();
    for d in 1..=3 {
        e.ingest(DeviceId(d), "t", Timestamp(0), 5.0, &mut out);
    }
    e.ingest_reading(DeviceId(3), ChannelId(8), Timestamp(1), &Value::from(5.0), &mut out);
    let fired: Vec<(String, u64)> = out
        .iter()
        .map(|ev| match ev {
            Event::Alert(a) => (a.rule.to_string(), a.device.0),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fired, [("one".to_string(), 2), ("site".to_string(), 3)]);
    assert_eq!(e.stats().unknown_channels, 1);
}

#[test]
fn acknowledge_an_active_alarm_once() {
    let mut e = engine(r#"rule hot: when t > 30 then alert major "Hot""#);
    feed(&mut e, "t", &[(0, 31.0)]);
    let ack = e.acknowledge("hot", D, Timestamp(5)).unwrap();
    assert_eq!(ack.state, AlertState::Acknowledged);
    assert!(e.acknowledge("hot", D, Timestamp(6)).is_none());
    assert_eq!(feed(&mut e, "t", &[(10, 20.0)]), [(10, Cleared)]);
    assert!(e.acknowledge("hot", D, Timestamp(11)).is_none());
}

#[test]
fn an_operator_clears_an_active_alarm_and_it_is_raised_again_while_the_condition_holds() {
    let mut e = engine(r#"rule hot: when t > 30 then alert major "Hot""#);
    assert!(e.clear("hot", D, Timestamp(1)).is_none(), "nothing active yet");
    feed(&mut e, "t", &[(0, 31.0)]);
    let cleared = e.clear("hot", D, Timestamp(5)).unwrap();
    assert_eq!((cleared.state, cleared.at), (AlertState::Cleared, Timestamp(5)));
    feed(&mut e, "t", &[(8, 31.0)]);
    let ack = e.acknowledge("hot", D, Timestamp(7_000)).unwrap();
    assert_eq!(ack.at, Timestamp(8_000), "not before the raise it answers (another clock)");
    let cleared = e.clear("hot", D, Timestamp(7_500)).unwrap();
    assert_eq!(cleared.at, Timestamp(8_000));
    assert!(e.clear("hot", D, Timestamp(6)).is_none(), "cleared once");
    assert!(e.active("hot").is_empty());
    // Still too hot: the next reading raises it again; a cool one clears it as usual.
    assert_eq!(feed(&mut e, "t", &[(10, 32.0), (20, 20.0)]), [(10, Raised), (20, Cleared)]);
}

#[test]
fn awkward_readings_have_defined_outcomes() {
    let mut e = engine(r#"rule hot: when (t - t) / (t - t) > 1 or t > 30 then alert major "Hot""#);
    let got = feed(
        &mut e,
        "t",
        &[(10, 20.0), (5, 40.0), (10, 40.0), (11, f64::NAN), (12, f64::INFINITY), (13, 31.0)],
    );
    assert_eq!(got, [(13, Raised)], "out of order, duplicate, NaN and inf are dropped; 0/0 compares false");
    let s = e.stats();
    assert_eq!((s.out_of_order, s.duplicates, s.non_finite), (1, 1, 2));
}

#[test]
fn hot_reload_keeps_unchanged_rules_and_releases_the_rest() {
    let mut e = engine("rule a: when t > 1 then alert info \"a\"\nrule b: when t > 2 then alert info \"b\"");
    feed(&mut e, "t", &[(0, 5.0)]);
    assert_eq!(e.active("a"), [D]);
    let report = e
        .load(
            parse("rule a: when t > 1 then alert info \"a\"\nrule c: when t > 3 then alert info \"c\"")
                .unwrap(),
        )
        .unwrap();
    assert_eq!(report, LoadReport { kept: 1, started: 1, released: 1 });
    assert_eq!(e.active("a"), [D], "the unchanged rule kept its alarm");
    assert_eq!(e.memory().iter().map(|(_, _, devices)| *devices).collect::<Vec<_>>(), [1, 0]);
    // No second raise for `a`, a first one for `c`.
    let mut out = Vec::new();
    e.ingest(D, "t", Timestamp(1000), 6.0, &mut out);
    let raised: Vec<String> = out
        .iter()
        .map(|ev| match ev {
            Event::Alert(a) => a.rule.to_string(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(raised, ["c"]);
}

#[test]
fn a_rule_set_over_budget_is_refused_and_the_old_one_kept() {
    let mut e = Engine::new(EngineConfig { max_devices: 1_000, memory_budget: 1 << 20 });
    e.load(parse("rule a: when t > 1 then alert info \"a\"").unwrap()).unwrap();
    let big = parse("rule w: when avg(t, 1h max 60000) > 1 then alert info \"w\"").unwrap();
    assert!(matches!(e.load(big), Err(LoadError::OverBudget { .. })));
    assert_eq!(e.rules().count(), 1);
    let (_, bytes, _) = &e.memory()[0];
    assert!(*bytes > 0 && *bytes < 1024, "{bytes}");
}

#[test]
fn devices_beyond_the_limit_are_counted_not_stored() {
    let mut e = Engine::new(EngineConfig { max_devices: 2, memory_budget: 1 << 20 });
    e.load(parse("rule a: when t > 1 then alert info \"a\"").unwrap()).unwrap();
    let mut out = Vec::new();
    for d in 0..5 {
        e.ingest(DeviceId(d), "t", Timestamp(0), 0.0, &mut out);
    }
    assert_eq!(e.stats().device_limit, 3);
}

#[test]
fn handles_go_stale_on_load_and_respect_the_device_limit() {
    let mut e = Engine::new(EngineConfig { max_devices: 2, ..EngineConfig::default() });
    e.load(parse(r#"rule hot: when t > 30 then alert major "Hot""#).unwrap()).unwrap();
    let h = e.handle(D, "t").unwrap();
    let mut out = Vec::new();
    e.ingest_handle(h, Timestamp(1000), 31.0, &mut out).unwrap();
    assert_eq!(transitions(&out), [(1, Raised)]);
    // A channel no rule reads: a handle that does nothing but count.
    let other = e.handle(D, "humidity").unwrap();
    e.ingest_handle(other, Timestamp(2000), 99.0, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    // Reloading renumbers channels: the old handle is refused, a new one works.
    e.load(parse(r#"rule cold: when t < 0 then alert major "Cold""#).unwrap()).unwrap();
    assert_eq!(e.ingest_handle(h, Timestamp(3000), -1.0, &mut out), Err(StaleHandle));
    let h = e.handle(D, "t").unwrap();
    e.ingest_handle(h, Timestamp(3000), -1.0, &mut out).unwrap();
    assert_eq!(transitions(&out), [(1, Raised), (3, Raised)]);
    // The third device does not fit.
    assert!(e.handle(DeviceId(2), "t").is_some());
    assert!(e.handle(DeviceId(3), "t").is_none());
    assert_eq!(e.stats().device_limit, 1);
}

#[test]
fn rules_over_the_same_window_share_it() {
    let e = engine(
        "rule a: when avg(t, 10 samples) > 30 then alert info \"a\"\n\
         rule b: when avg(t, 10 samples) > 32 then alert info \"b\"\n\
         rule c: when max(t, 10 samples) > 35 or avg(h, 1m) < 20 then alert info \"c\"",
    );
    // avg/max over the same 10 samples of t are one window; h over a minute is another.
    assert_eq!(e.windows.len(), 2);
}

proptest! {
    /// Rules that share a window decide exactly as each would alone.
    #[test]
    fn a_shared_window_changes_no_decision(
        readings in proptest::collection::vec((0usize..2, 10.0f64..40.0), 1..200),
    ) {
        let a = "rule a: when avg(t, 5 samples) > 25 clear when avg(t, 5 samples) < 22 then alert info \"a\"";
        let b = "rule b: when avg(t, 20s max 8) > 28 or min(t, 5 samples) > 24 then alert minor \"b\"";
        let feed_all = |text: &str| {
            let mut e = engine(text);
            let mut out = Vec::new();
            for (i, &(d, v)) in readings.iter().enumerate() {
                e.ingest(DeviceId(d as u64), "t", Timestamp(i as u64 * 3000), v, &mut out);
                e.advance(Timestamp(i as u64 * 3000 + 1500), &mut out);
            }
            out
        };
        let both = feed_all(&format!("{a}\n{b}"));
        let name = |e: &Event| match e { Event::Alert(x) => x.rule.to_string(), _ => String::new() };
        let only = |r: &str| both.iter().filter(|e| name(e) == r).cloned().collect::<Vec<_>>();
        prop_assert_eq!(only("a"), feed_all(a));
        prop_assert_eq!(only("b"), feed_all(b));
    }

    /// The inline path of plain threshold rules decides exactly as the general path: the same
    /// rules written so that they do not qualify (`t + 0`) give the same transitions.
    #[test]
    fn the_threshold_fast_path_agrees_with_the_general_one(
        values in proptest::collection::vec(20.0f64..40.0, 1..300),
    ) {
        let fast = "rule a: when t > 30 clear when t < 28 then alert major \"A\"\n\
                    rule b: when t >= 25 then alert minor \"B\"\n\
                    rule c: when 35 < t clear when 33 > t then alert info \"C\"";
        let general = "rule a: when t + 0 > 30 clear when t + 0 < 28 then alert major \"A\"\n\
                       rule b: when t + 0 >= 25 then alert minor \"B\"\n\
                       rule c: when 35 < t + 0 clear when 33 > t + 0 then alert info \"C\"";
        let (mut f, mut g) = (engine(fast), engine(general));
        prop_assert!(f.rules.iter().all(|l| l.simple));
        prop_assert!(g.rules.iter().all(|l| !l.simple));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, v) in values.iter().enumerate() {
            f.ingest(D, "t", Timestamp(i as u64 * 1000), *v, &mut a);
            g.ingest(D, "t", Timestamp(i as u64 * 1000), *v, &mut b);
        }
        prop_assert_eq!(a, b);
    }

    /// Ingesting through handles gives exactly what ingesting by name gives.
    #[test]
    fn handles_and_names_agree(readings in proptest::collection::vec((0u64..4, 0usize..3, -10.0f64..40.0), 1..200)) {
        let text = "rule hot: when t > 30 clear when t < 28 then alert major \"Hot\"\n\
                    rule avg: when avg(t, 5 samples) > 20 then alert info \"Warm\"\n\
                    rule wet: when h > 35 for 10s then alert minor \"Wet\"";
        let channels = ["t", "h", "unused"];
        let (mut by_name, mut by_handle) = (engine(text), engine(text));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, &(d, c, v)) in readings.iter().enumerate() {
            let at = Timestamp(i as u64 * 1000);
            by_name.ingest(DeviceId(d), channels[c], at, v, &mut a);
            let h = by_handle.handle(DeviceId(d), channels[c]).unwrap();
            by_handle.ingest_handle(h, at, v, &mut b).unwrap();
        }
        by_name.advance(Timestamp(1_000_000), &mut a);
        by_handle.advance(Timestamp(1_000_000), &mut b);
        prop_assert_eq!(a, b);
        prop_assert_eq!(by_name.stats(), by_handle.stats());
    }

    /// With a clear threshold below the raise threshold, the alarm never changes state while
    /// the value stays between them, and raises and clears strictly alternate.
    #[test]
    fn hysteresis_never_flaps(values in proptest::collection::vec(20.0f64..40.0, 1..200)) {
        let mut e = engine(r#"rule hot: when t > 30 clear when t < 28 then alert major "Hot""#);
        let points: Vec<(u64, f64)> = values.iter().enumerate().map(|(i, v)| (i as u64, *v)).collect();
        let got = feed(&mut e, "t", &points);
        for (i, (s, state)) in got.iter().enumerate() {
            let v = values[*s as usize];
            match state {
                Raised => prop_assert!(v > 30.0),
                Cleared => prop_assert!(v < 28.0),
                _ => {}
            }
            prop_assert_eq!(*state, if i % 2 == 0 { Raised } else { Cleared });
        }
    }

    /// Replaying the same readings gives the same events.
    #[test]
    fn the_engine_is_deterministic(values in proptest::collection::vec(-50.0f64..50.0, 1..100)) {
        let text = "rule a: when avg(t, 30s) > 10 for 20s clear when t < 0 then alert info \"a\"\nrule b: when changed(t, 5) then emit u = t * 2";
        let run = || {
            let mut e = engine(text);
            let mut out = Vec::new();
            for (i, v) in values.iter().enumerate() {
                e.ingest(D, "t", Timestamp(i as u64 * 7000), *v, &mut out);
                e.advance(Timestamp(i as u64 * 7000 + 3500), &mut out);
            }
            out
        };
        prop_assert_eq!(run(), run());
    }

    /// A microcontroller's `f32` engine decides what the server's `f64` engine decides, for
    /// readings a sensor gives (whole units here, where no rounding can tip a comparison):
    /// the same alerts, with the same values, at the same times.
    #[test]
    fn single_precision_decides_like_double(
        readings in proptest::collection::vec((1u64..30_000, 0usize..2, -40i32..60), 1..150),
    ) {
        let text = "rule hot: when t > 30 clear when t < 28 then alert major \"hot\"\n\
                    rule warm: when avg(t, 5m) > 25 then alert minor \"warm\"\n\
                    rule held: when h > 50 for 1m then alert info \"held\"\n\
                    rule quiet: when silent(h, 2m) then alert info \"quiet\"\n\
                    rule spikes: when t > 45 times 3 then alert minor \"spikes\"\n\
                    rule spread: when stddev(t, 2 samples) > 15 or rate(h, 1m) > 1 then alert info \"spread\"\n\
                    rule report: when changed(t, 5) then emit t_reported = t * 2";
        let mut double = engine(text);
        let mut single = Engine::<f32>::with_config(EngineConfig::default());
        single.load(parse(text).unwrap()).unwrap();
        let (mut out64, mut out32) = (Vec::new(), Vec::new());
        let mut at = 0;
        for (dt, channel, v) in readings {
            at += dt;
            let channel = ["t", "h"][channel];
            double.ingest(D, channel, Timestamp(at), f64::from(v), &mut out64);
            single.ingest(D, channel, Timestamp(at), v as f32, &mut out32);
            double.advance(Timestamp(at + 500), &mut out64);
            single.advance(Timestamp(at + 500), &mut out32);
        }
        prop_assert_eq!(out64.len(), out32.len());
        for (a, b) in out64.iter().zip(&out32) {
            match (a, b) {
                (Event::Alert(a), Event::Alert(b)) => {
                    prop_assert_eq!((&a.rule, a.state, a.at), (&b.rule, b.state, b.at));
                    // The value compared: a reading is the same in both; an aggregate (the
                    // average, the deviation) is computed in each precision, so within f32's
                    // rounding of it. NaN (a channel not heard yet) matches NaN.
                    let value = |a: &Alert| a.value.as_ref().and_then(Value::as_f64);
                    match (value(a), value(b)) {
                        (Some(x), Some(y)) if x.is_nan() || y.is_nan() => prop_assert!(x.is_nan() && y.is_nan()),
                        (Some(x), Some(y)) => prop_assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{x} vs {y}"),
                        (x, y) => prop_assert_eq!(x, y),
                    }
                }
                (Event::Emit { value: a, at: t, .. }, Event::Emit { value: b, at: u, .. }) => {
                    prop_assert_eq!((*a as f32, t), (*b, u));
                }
                (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
            }
        }
    }
}

/// A batch lists its readings channel after channel; they go in in time order across channels,
/// so none is late and a rule over both channels sees them as they happened.
#[test]
fn a_batch_goes_in_in_time_order() {
    use telemetra_codec::{Frame, Message, batch};
    let mut e = engine(r#"rule both: when a > 1 and b > 1 then alert info "both""#);
    let info = Device {
        id: D,
        model: bounded("m", "x").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: ["a", "b"]
            .iter()
            .zip(1..)
            .map(|(name, id)| ChannelSpec {
                id: ChannelId(id),
                name: bounded("n", name).unwrap(),
                quantity: Quantity::Temperature,
                unit: Unit::Celsius,
                period_ms: 1000,
            })
            .collect(),
        tags: heapless::Vec::new(),
    };
    let mut out = Vec::new();
    e.ingest_frame(&Frame::new(D, 0, Message::DeviceInfo(info)), Timestamp(0), &mut out);
    // a rises above 1 at 2 s, b at 3 s: both hold from 3 s.
    let readings: Vec<Reading> = (0..5u64)
        .flat_map(|s| {
            [
                Reading::new(ChannelId(1), Timestamp(s * 1000), if s >= 2 { 5.0 } else { 0.0 }),
                Reading::new(ChannelId(2), Timestamp(s * 1000), if s >= 3 { 5.0 } else { 0.0 }),
            ]
        })
        .collect();
    for b in batch::pack(&readings).unwrap() {
        assert_eq!(e.ingest_frame(&Frame::new(D, 1, Message::Batch(b)), Timestamp(0), &mut out), 10);
    }
    assert_eq!((e.stats().readings, e.stats().late), (10, 0));
    assert_eq!(transitions(&out), [(3, Raised)]);
}

/// An alert reports what its condition compared: the average for `avg(...) > 27`, the reading
/// whichever side of the comparison it is on.
#[test]
fn an_alert_carries_the_value_that_crossed() {
    let value = |text: &str, points: &[(u64, f64)]| {
        let mut e = engine(text);
        let mut out = Vec::new();
        for &(s, v) in points {
            e.ingest(D, "t", Timestamp(s * 1000), v, &mut out);
        }
        match out.first() {
            Some(Event::Alert(a)) => a.value.as_ref().and_then(Value::as_f64),
            other => panic!("{other:?}"),
        }
    };
    let points = [(0, 26.0), (60, 28.0), (120, 30.0)];
    assert_eq!(value(r#"rule warm: when avg(t, 5m) > 27 then alert minor "w""#, &points), Some(28.0));
    assert_eq!(value(r#"rule hot: when 29 < t then alert major "h""#, &points), Some(30.0));
    assert_eq!(value(r#"rule hot: when t - 2 > 27 and t > 0 then alert major "h""#, &points), Some(28.0));
}

/// A channel misspelt on either side says so: readings of a channel no rule reads are counted,
/// and the channels rules read that nothing reported are listed; values that are not numbers
/// are counted too.
#[test]
fn misspelt_channels_and_non_numeric_values_are_reported() {
    let mut e = engine(
        "rule hot: when temperature > 30 then alert major \"hot\"\nrule wet: when humidty > 90 then alert info \"wet\"",
    );
    let mut out = Vec::new();
    e.ingest(D, "temperature", Timestamp(1), 20.0, &mut out);
    e.ingest(D, "humidity", Timestamp(2), 95.0, &mut out);
    assert_eq!(e.stats().unread, 1);
    assert_eq!(e.unheard_channels().collect::<Vec<_>>(), ["humidty"]);
    let info = Device {
        id: D,
        model: bounded("m", "x").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: heapless::Vec::from_slice(&[ChannelSpec {
            id: ChannelId(1),
            name: bounded("n", "temperature").unwrap(),
            quantity: Quantity::Temperature,
            unit: Unit::Celsius,
            period_ms: 0,
        }])
        .unwrap(),
        tags: heapless::Vec::new(),
    };
    e.register(&info, Timestamp(3));
    e.ingest_reading(D, ChannelId(1), Timestamp(4), &Value::State(bounded("s", "idle").unwrap()), &mut out);
    assert_eq!(e.stats().non_numeric, 1);
    assert!(out.is_empty());
}

/// Devices come and go: a forgotten device's state is released, its place goes to a new
/// device (the engine is full no more), its handles go stale, and one that comes back starts
/// afresh; silent devices are evicted by age.
#[test]
fn devices_are_forgotten_and_evicted() {
    let mut e = Engine::new(EngineConfig { max_devices: 2, memory_budget: 1 << 20 });
    e.load(parse(r#"rule hot: when t > 30 then alert major "Hot""#).unwrap()).unwrap();
    let mut out = Vec::new();
    e.ingest(DeviceId(1), "t", Timestamp(1_000), 35.0, &mut out);
    e.ingest(DeviceId(2), "t", Timestamp(2_000), 20.0, &mut out);
    let old = e.handle(DeviceId(1), "t").unwrap();
    e.ingest(DeviceId(3), "t", Timestamp(3_000), 35.0, &mut out);
    assert_eq!(e.stats().device_limit, 1, "full: the third is refused");
    assert!(e.forget(DeviceId(1)));
    assert!(!e.forget(DeviceId(1)));
    assert_eq!(e.devices(), 1);
    e.ingest(DeviceId(3), "t", Timestamp(4_000), 35.0, &mut out);
    assert_eq!(e.active("hot"), [DeviceId(3)], "1's alarm went with it; 3 took its place");
    assert_eq!(e.ingest_handle(old, Timestamp(5_000), 10.0, &mut out), Err(StaleHandle));
    // 1 comes back: a new device, raised again.
    out.clear();
    assert!(e.forget(DeviceId(2)));
    e.ingest(DeviceId(1), "t", Timestamp(6_000), 35.0, &mut out);
    assert_eq!(transitions(&out), [(6, Raised)]);
    // Heard last at 4 s and 6 s: evicting what was silent since before 5 s takes 3.
    assert_eq!(e.evict_silent(Timestamp(5_000)), [DeviceId(3)]);
    assert_eq!(e.active("hot"), [DeviceId(1)]);
}

/// A rule whose outcome does not depend on time is never decided by time, even beside rules
/// that do (a deadline not known yet must not pass for one due at once).
#[test]
fn time_alone_leaves_rules_that_do_not_depend_on_it() {
    // `changed` holds at a reading that changes the value, not again until the next one: a
    // time step would clear the alarm it raised.
    let mut e = engine(
        "rule quiet: when silent(b, 10m) then alert info \"q\"\nrule moved: when changed(a, 2) then alert major \"m\"",
    );
    let mut out = Vec::new();
    e.ingest(D, "a", Timestamp(0), 5.0, &mut out);
    // A reload keeps both rules' states; their deadlines are found again.
    let rules: Vec<Rule> = e.rules().collect();
    e.load(rules).unwrap();
    e.advance(Timestamp(1_000), &mut out);
    assert_eq!(transitions(&out), [(0, Raised)]);
    assert!(e.acknowledge("moved", D, Timestamp(2_000)).is_some(), "still active after advance");
}

#[test]
fn a_time_window_too_small_for_its_span_is_reported_not_silent() {
    // Written for 1-minute data (6 samples in 5 minutes), fed every 10 seconds.
    let mut e = engine(
        r#"rule warm: when avg(t, 5m max 6) > 25 then alert minor "Warm"
           rule warmer: when avg(t, 5m max 6) > 28 then alert minor "Warmer"
           rule recent: when avg(t, 3 samples) > 25 then alert minor "Recent""#,
    );
    let points: Vec<(u64, f64)> = (0..60).map(|i| (i * 10, 20.0)).collect();
    feed(&mut e, "t", &points);
    let truncated = e.truncated_windows();
    assert_eq!(truncated.len(), 1, "the count window drops its oldest by definition: {truncated:?}");
    assert_eq!(truncated[0].rules, ["warm", "warmer"]);
    assert_eq!(truncated[0].channel, "t");
    assert_eq!(truncated[0].dropped, 60 - 6);
    assert_eq!(e.stats().window_overflow, 54);
    // Sized for the data, nothing is lost.
    let mut e = engine(r#"rule warm: when avg(t, 5m max 31) > 25 then alert minor "Warm""#);
    feed(&mut e, "t", &points);
    assert!(e.truncated_windows().is_empty());
    assert_eq!(e.stats().window_overflow, 0);
}

#[test]
fn clear_when_times_needs_readings_in_a_row() {
    let mut e = engine(r#"rule hot: when t > 30 clear when t < 28 times 3 then alert major "Hot""#);
    // Two cool readings, broken by a warm one, then three in a row: cleared at the third.
    let got =
        feed(&mut e, "t", &[(1, 31.0), (2, 27.0), (3, 27.0), (4, 29.0), (5, 27.0), (6, 26.0), (7, 25.0)]);
    assert_eq!(got, [(1, Raised), (7, Cleared)]);
    assert_eq!(e.rules().next().unwrap().clear_repeat, 3);
    // Time counts too: a deadline that finds the clearing condition no longer met starts the
    // count again.
    let mut e = engine(
        r#"rule hot: when avg(t, 10s max 20) > 30 clear when avg(t, 10s max 20) < 28 times 2 then alert major "Hot""#,
    );
    let got = feed(&mut e, "t", &[(0, 40.0), (5, 10.0), (30, 20.0), (31, 20.0)]);
    // At 5 s avg(40, 10) = 25 meets it once; at 15 s the window is empty (NaN: not met), so the
    // reading at 30 s is one again and the one at 31 s the second.
    assert_eq!(got, [(0, Raised), (31, Cleared)]);
}
