use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::Engine;
use crate::lang::parse;
use proptest::prelude::*;
use telemetra_core::text::bounded;

const D: DeviceId = DeviceId(7);

/// Rule templates covering every kind of condition and action; `{c}` is a channel, `{x}` and
/// `{y}` constants.
const TEMPLATES: &[&str] = &[
    r#"when {c} > {x} then alert major "hi""#,
    r#"when {c} > {x} clear when {c} < {y} then alert minor "hyst""#,
    r#"when {c} > {x} clear when {c} < {y} times 2 then alert minor "hyst-times""#,
    r#"when {c} > {x} for 20s then alert major "held""#,
    r#"when {c} > {x} times 3 then alert info "rep""#,
    r#"when {c} > {x} cooldown 30s then alert warning "cool""#,
    r#"when avg({c}, 1m) > {x} then alert minor "avg""#,
    r#"when avg({c}, 1m max 8) > {x} clear when avg({c}, 1m max 8) < {y} then alert minor "avg2""#,
    r#"when max({c}, 5 samples) - min({c}, 5 samples) > {x} then alert info "span""#,
    r#"when rate({c}, 30s) > 0.1 then alert info "rate""#,
    r#"when silent({c}, 40s) then alert major "quiet""#,
    r#"when silent(1m) then alert critical "gone""#,
    "when changed({c}, 2) then emit {c}_seen = {c} * 2",
    "when {c} > {x} then command actuate 3 = 1",
    r#"on device 7 when {c} < {y} then alert info "mine""#,
    r#"on device 8 when {c} < {y} then alert info "theirs""#,
    r#"on tag site = "lab" when {c} > {x} or avg({c}, 4 samples) > {y} then alert info "lab""#,
    r#"on tag site = "sea" when {c} > {x} then alert info "sea""#,
    r#"when stddev({c}, 6 samples) > 3 and {c} > {y} then alert info "noisy""#,
];

const CHANNELS: [&str; 3] = ["a", "b", "c"];

/// A rule set: template, channel and constants for each rule, named by position.
fn rule_set() -> impl Strategy<Value = String> {
    proptest::collection::vec((0..TEMPLATES.len(), 0..CHANNELS.len(), 10i32..40, 0i32..20), 1..7).prop_map(
        |rules| {
            rules
                .iter()
                .enumerate()
                .map(|(i, &(t, c, x, dy))| {
                    let body = TEMPLATES[t]
                        .replace("{c}", CHANNELS[c])
                        .replace("{x}", &x.to_string())
                        .replace("{y}", &(x - dy).to_string());
                    format!("rule r{i}: {body}\n")
                })
                .collect()
        },
    )
}

/// What happens to the device: a reading `(channel, seconds later, value)`, time passing, or
/// a reload.
#[derive(Debug, Clone)]
enum Step {
    Reading(usize, u64, i32),
    Advance(u64),
    Reload,
    Acknowledge(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            8 => (0..CHANNELS.len() + 1, 0u64..25, 0i32..50).prop_map(|(c, dt, v)| Step::Reading(c, dt, v)),
            2 => (1u64..90).prop_map(Step::Advance),
            1 => Just(Step::Reload),
            1 => (0usize..7).prop_map(Step::Acknowledge),
        ],
        1..150,
    )
}

fn site_lab() -> Tag {
    Tag { key: bounded("k", "site").unwrap(), value: bounded("v", "lab").unwrap() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The node's engine decides exactly as the server's does for that one device: the same
    /// events in the same order, the same load reports and counters, through readings (with
    /// duplicates, late ones and channels no rule reads), time passing, acknowledgements and
    /// reloads onto another rule set.
    #[test]
    fn decides_as_the_engine_does_for_its_device(
        first in rule_set(),
        second in rule_set(),
        steps in steps(),
    ) {
        let tags = [site_lab()];
        let mut server = Engine::<f32>::with_config(EngineConfig { max_devices: 1, memory_budget: 1 << 20 });
        let mut node = NodeEngine::<f32>::new(D, &tags, 1 << 20);
        let rules = parse(&first).unwrap();
        prop_assert_eq!(server.load(rules.clone()), node.load(rules));
        let device = telemetra_core::Device {
            id: D,
            model: bounded("m", "x").unwrap(),
            firmware: telemetra_core::FirmwareVersion::new(1, 0, 0),
            channels: heapless::Vec::new(),
            tags: tags.iter().cloned().collect(),
        };
        server.register(&device, Timestamp(0));
        node.online(Timestamp(0));
        let (mut theirs, mut ours) = (Vec::new(), Vec::new());
        let (mut t, mut reloads) = (0u64, 0);
        for step in steps {
            match step {
                Step::Reading(c, dt, v) => {
                    // A step of 0 repeats a timestamp; the fourth channel is read by no rule.
                    t += dt * 1000;
                    let channel = CHANNELS.get(c).copied().unwrap_or("unread");
                    let value = v as f32 / 2.0;
                    server.ingest(D, channel, Timestamp(t), value, &mut theirs);
                    node.ingest(channel, Timestamp(t), value, &mut ours);
                }
                Step::Advance(s) => {
                    t += s * 1000;
                    server.advance(Timestamp(t), &mut theirs);
                    node.advance(Timestamp(t), &mut ours);
                }
                Step::Reload => {
                    reloads += 1;
                    let text = if reloads % 2 == 1 { &second } else { &first };
                    let rules = parse(text).unwrap();
                    prop_assert_eq!(server.load(rules.clone()), node.load(rules));
                }
                Step::Acknowledge(i) => {
                    let name = format!("r{i}");
                    prop_assert_eq!(
                        server.acknowledge(&name, D, Timestamp(t)),
                        node.acknowledge(&name, Timestamp(t))
                    );
                    prop_assert_eq!(!server.active(&name).is_empty(), node.is_active(&name));
                }
            }
            // Compared as printed: an alert's value may be NaN, which equals nothing.
            prop_assert_eq!(format!("{theirs:?}"), format!("{ours:?}"), "at {} s", t / 1000);
        }
        prop_assert_eq!(server.stats(), node.stats());
    }
}

#[test]
fn a_late_or_repeated_reading_is_counted_and_dropped() {
    let mut node = NodeEngine::<f32>::new(D, &[], 4096);
    node.load(parse(r#"rule hot: when t > 30 then alert major "Hot""#).unwrap()).unwrap();
    let mut out = Vec::new();
    node.ingest("t", Timestamp(2_000), 31.0, &mut out);
    node.ingest("t", Timestamp(2_000), 20.0, &mut out);
    node.ingest("t", Timestamp(1_000), 20.0, &mut out);
    node.ingest("t", Timestamp(3_000), f32::NAN, &mut out);
    assert_eq!(out.len(), 1, "raised once, never cleared by the dropped readings");
    assert!(node.is_active("hot"));
    let stats = node.stats();
    assert_eq!((stats.readings, stats.duplicates, stats.out_of_order, stats.non_finite), (4, 1, 1, 1));
}

#[test]
fn a_rule_set_over_budget_is_refused_and_the_old_one_kept() {
    let mut node = NodeEngine::<f32>::new(D, &[], 1024);
    node.load(parse(r#"rule hot: when t > 30 then alert major "Hot""#).unwrap()).unwrap();
    let big = parse(r#"rule w: when avg(t, 1h max 600) > 1 then alert info "w""#).unwrap();
    assert!(matches!(node.load(big), Err(LoadError::OverBudget { devices: 1, budget: 1024, .. })));
    let mut out = Vec::new();
    node.ingest("t", Timestamp(1_000), 31.0, &mut out);
    assert_eq!(out.len(), 1, "the old rule still runs");
}
