use std::string::ToString;

use super::*;
use proptest::prelude::*;
use telemetra_core::rule::{Aggregate, Window};
use telemetra_core::{Action, CommandAction, Op, Scope, Severity};

const OVERHEAT: &str = r#"rule overheat: when avg(temperature, 5m) > 30 for 2m clear when temperature < 28 then alert critical "Overheating""#;

#[test]
fn the_issue_example_parses_to_the_model() {
    let r = parse_rule(OVERHEAT).unwrap();
    assert_eq!(r.name, "overheat");
    assert_eq!(r.scope, Scope::All);
    assert_eq!(r.channels.len(), 1);
    assert_eq!(r.channels[0], "temperature");
    let avg = Op::Aggregate {
        func: Aggregate::Avg,
        channel: 0,
        window: Window::Time { span_ms: 300_000, max_samples: DEFAULT_MAX_SAMPLES },
    };
    assert_eq!(&r.when.ops[..], &[avg, Op::Const(30.0), Op::Gt]);
    assert_eq!(r.hold_ms, 120_000);
    assert_eq!(&r.clear.as_ref().unwrap().ops[..], &[Op::Value(0), Op::Const(28.0), Op::Lt]);
    assert_eq!(r.severity, Severity::Critical);
    assert!(matches!(&r.actions[0], Action::Alert { message } if message == "Overheating"));
    assert_eq!(parse_rule(&print_rule(&r)).unwrap(), r);
}

#[test]
fn every_feature_parses_and_prints_back() {
    let text = r#"
        # comments and blank lines are fine
        rule hot: when temperature > 30 then alert major "Hot"
        rule windows: when max(temperature, 10 samples) - min(temperature, 1h max 400) >= 5 severity minor then command reboot after 30s
        rule rates: on device 2a when rate(pressure, 10m) < -1.5 or stddev(pressure, 30m) > 4 then alert warning "Storm?"
        rule gone: on tag site = "greenhouse-2" when silent(45m) then alert major "Device silent"
        rule quiet: when silent(door, 2h) and not (door == 1) then alert info "Door sensor quiet"
        rule flaky: when sum(errors, 5 samples) / count(errors, 5 samples) > 0.5 times 5 cooldown 10m then alert minor "Errors", command set sample_period_ms = 5000
        rule report: when changed(temperature, 0.5) then emit temperature_reported = temperature
        rule fan: when first(temperature, 2m) + last(temperature, 2m) * 2 > 90 and delta(humidity, 1m) != 0 then command actuate 3 = 1
        rule poll: when -temperature > -(3) then command request 1, 2, alert info "polled"
        rule fw: when version < 2 then command firmware "https://fw.example/a.bin" version 1 4 0 size 1024 sha256 "abababababababababababababababababababababababababababababababab"
        rule names: when count > max and avg(avg, 2 samples) > rate then alert info "contextual words name channels"
        rule consts: when x * -2.5e-3 > inf or nan == nan or true then command set mode = "eco"
        rule settle: when temperature > 30 times 2 clear when temperature < 28 times 3 then alert major "Hot for a while"
    "#;
    let rules = parse(text).unwrap();
    assert_eq!(rules.len(), 13);
    assert_eq!((rules[12].repeat, rules[12].clear_repeat), (2, 3));
    // Once is the default: `times 1` on `clear when` is stored as 0 (a version 1 frame).
    assert_eq!(
        parse_rule("rule a: when t > 1 clear when t < 0 times 1 then alert info \"a\"").unwrap().clear_repeat,
        0
    );
    for r in &rules {
        let printed = print_rule(r);
        let again = parse_rule(&printed).unwrap_or_else(|e| panic!("{printed}\n{e}"));
        // NaN constants are never equal to themselves: compare the printed forms.
        assert_eq!(print_rule(&again), printed);
        if r.name != "consts" {
            assert_eq!(&again, r, "{printed}");
        }
    }
    assert!(matches!(rules[3].scope, Scope::Tagged(_)));
    assert!(matches!(rules[2].scope, Scope::Device(d) if d.0 == 0x2a));
    assert_eq!(rules[5].repeat, 5);
    assert_eq!(rules[5].cooldown_ms, 600_000);
    assert!(matches!(rules[1].actions[0], Action::Command(CommandAction::Reboot { delay_ms: 30_000 })));
    assert_eq!(print_rules(&rules).lines().count(), 13);
}

#[test]
fn an_unknown_function_is_named() {
    let e = parse("rule warm: when mean(t, 5m) > 25 then alert info \"w\"").unwrap_err();
    assert_eq!((e.line, e.column), (1, 17));
    assert!(e.message.starts_with("unknown function `mean`; the functions are avg, "), "{}", e.message);
    // A channel of that name, without parentheses, is a channel.
    assert!(parse("rule warm: when mean > 25 then alert info \"w\"").is_ok());
}

#[test]
fn errors_point_at_the_problem() {
    let e = parse("rule hot: when temperature > 30 for 2m foo").unwrap_err();
    assert_eq!((e.line, e.column), (1, 40));
    assert_eq!(e.message, "expected `then`, found `foo`");
    let shown = e.to_string();
    assert!(shown.contains("1 | rule hot: when temperature > 30 for 2m foo"), "{shown}");
    assert!(shown.ends_with(&format!("  | {}^", " ".repeat(39))), "{shown:?}");

    let e =
        parse("rule a: when x > 1 then alert info \"a\"\nrule b: when avg(y, 5) > 1 then alert info \"b\"")
            .unwrap_err();
    assert_eq!((e.line, e.column), (2, 22));
    assert!(e.message.contains("samples"), "{}", e.message);

    for (text, needle) in [
        ("rule x: when a > 1 then alert loud \"m\"", "severity"),
        ("rule x: when a > then alert info \"m\"", "expected a number"),
        ("rule x: when a > 1 for 5 then alert info \"m\"", "duration"),
        ("rule x: when a > 1 for 5y then alert info \"m\"", "unknown duration unit"),
        ("rule x: when a + b + c + d + e > 1 then alert info \"m\"", "at most 4 channels"),
        ("rule x: when a > 1 then alert info \"unterminated", "not closed"),
        (
            "rule x: when a > 1 then alert info \"m\"\nrule x: when a > 2 then alert info \"m\"",
            "already defined",
        ),
        ("rule x: when when > 1 then alert info \"m\"", "found `when`"),
        ("rule x: when a > 1 severity major then alert info \"m\"", "another severity"),
        ("rule x: when a > 1 then alert info \"m\", alert info \"n\", alert info \"o\"", "at most 2 actions"),
        ("rule x: when avg(a, 0 samples) > 1 then alert info \"m\"", "must not be empty"),
        ("rule x: when a $ 1 then alert info \"m\"", "unexpected character"),
        ("rule x: on device zz when a > 1 then alert info \"m\"", "expected a device id"),
        (
            "rule x: when 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 > 1 then alert info \"m\"",
            "more than 16 operations",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert!(e.message.contains(needle), "{text:?}: {}", e.message);
    }
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}".prop_filter("not a keyword", |s| !parser::KEYWORDS.contains(&s.as_str()))
}

fn expr_text(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        (-1000i32..1000).prop_map(|n| (f64::from(n) / 8.0).to_string()),
        ident(),
        (ident(), 1u32..100).prop_map(|(c, m)| format!("avg({c}, {m}m)")),
        (ident(), 1u16..50).prop_map(|(c, n)| format!("max({c}, {n} samples)")),
        (ident(), 1u32..90).prop_map(|(c, s)| format!("rate({c}, {s}s max 10)")),
        (1u32..90).prop_map(|m| format!("silent({m}m)")),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let sub = expr_text(depth - 1);
    prop_oneof![
        2 => leaf,
        1 => (sub.clone(), prop::sample::select(&["+", "-", "*", "/", "<", ">=", "==", "and", "or"][..]), sub.clone())
            .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
        1 => sub.clone().prop_map(|a| format!("not ({a})")),
        1 => sub.prop_map(|a| format!("-({a})")),
    ]
    .boxed()
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for opener in ["(", "not ", "-"] {
        let text = format!("rule x: when {}a > 1 then alert info \"m\"", opener.repeat(100_000));
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("nest at most"), "{}", e.message);
    }
}

proptest! {
    #[test]
    fn parse_print_round_trips(e in expr_text(3), c in proptest::option::of(expr_text(1)), hold in 0u32..5000) {
        let clear = c.map(|c| format!(" clear when {c}")).unwrap_or_default();
        let text = format!("rule r: when {e} for {hold}s{clear} then alert info \"m\"");
        // Random expressions may exceed the limits (channels, operations, depth): those must
        // be clean errors; the rest must round-trip exactly.
        if let Ok(rule) = parse_rule(&text) {
            let printed = print_rule(&rule);
            prop_assert_eq!(parse_rule(&printed).unwrap(), rule);
        }
    }

    #[test]
    fn the_parser_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn the_parser_never_panics_on_near_rules(cut in 0usize..200, junk in "[ -~]{0,5}") {
        let mut text = OVERHEAT.to_string();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % OVERHEAT.len()).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = parse(&text);
    }
}

#[test]
fn a_parsed_rule_set_travels_as_frames_and_reassembles() {
    use crate::{Progress, RuleSetAssembler};
    use telemetra_codec::{Frame, Message, RulePart};
    use telemetra_core::DeviceId;

    let text = "rule a: when avg(t, 5m) > 30 for 2m clear when t < 28 then alert critical \"Hot\"\n\
                rule b: on tag site = \"lab\" when silent(45m) then alert major \"Gone\", command reboot after 10s\n\
                rule c: when changed(t, 0.5) then emit t2 = t * 2";
    let rules = parse(text).unwrap();
    let count = rules.len() as u8;
    let frames: std::vec::Vec<std::vec::Vec<u8>> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let part = RulePart { set_version: 9, index: i as u8, count, rule: rule.clone() };
            Frame::new(DeviceId(0x2a), i as u32, Message::Rule(part)).to_vec().unwrap()
        })
        .collect();
    let mut device = RuleSetAssembler::<4>::new();
    let mut last = None;
    for bytes in frames.iter().rev() {
        let Message::Rule(part) = Frame::decode(bytes).unwrap().message else { panic!("not a rule frame") };
        last = Some(device.accept(part).unwrap());
    }
    assert_eq!(last, Some(Progress::Complete { version: 9 }));
    let received: std::vec::Vec<_> = device.rules().unwrap().cloned().collect();
    assert_eq!(received, rules);
    assert_eq!(print_rules(&received), print_rules(&rules));
}

#[test]
fn rules_are_checked_against_the_channels_devices_report() {
    use telemetra_core::text::bounded;
    use telemetra_core::{ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Quantity, Unit};
    let spec = |id, name, period_ms| ChannelSpec {
        id: ChannelId(id),
        name: bounded("n", name).unwrap(),
        quantity: Quantity::Temperature,
        unit: Unit::Celsius,
        period_ms,
    };
    let device = Device {
        id: DeviceId(1),
        model: bounded("m", "x").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: [spec(1, "t", 60_000), spec(2, "door", 0)].into_iter().collect(),
        tags: Default::default(),
    };
    let good = "rule a: when avg(t, 5m max 64) > 1 or silent(door, 1h) then alert info \"a\"";
    assert_eq!(crate::parse_for(good, std::slice::from_ref(&device)).unwrap(), parse(good).unwrap());
    // A window without `max` holds the samples its span covers at the declared period: a
    // reading a minute over 5 minutes is 6 (one at each end), over 6 hours 361.
    let sized =
        |text: &str| match crate::parse_for(text, std::slice::from_ref(&device)).unwrap()[0].when.ops[0] {
            Op::Aggregate { window, .. } => window,
            ref other => panic!("{other:?}"),
        };
    assert_eq!(
        sized("rule a: when avg(t, 5m) > 1 then alert info \"a\""),
        Window::Time { span_ms: 300_000, max_samples: 6 }
    );
    assert_eq!(
        sized("rule a: when avg(t, 6h) > 1 then alert info \"a\""),
        Window::Time { span_ms: 21_600_000, max_samples: 361 }
    );
    // A channel without a declared period needs the bound written.
    let e = crate::parse_for(
        "rule a: when max(door, 1h) > 0 then alert info \"a\"",
        std::slice::from_ref(&device),
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (1, 24, "no device declares how often it reports `door`: bound this window with `max N` samples")
    );
    let bad = "rule a: when t > 1 then alert info \"a\"\nrule b: when silent(dor, 1h) then alert info \"b\"";
    let e = crate::parse_for(bad, &[device]).unwrap_err();
    assert_eq!((e.line, e.column), (2, 21));
    assert_eq!(e.message, "no device reports a channel `dor`; the channels are door, t");
}
