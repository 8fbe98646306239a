//! The engine against a naive reference: a plain evaluator, written here from the rules'
//! documented meaning, that keeps the device's whole history and recomputes every condition
//! from it at every whole second (every reading, duration and span in these tests is whole
//! seconds, so every instant at which an outcome can change is one of them). The engine decides
//! only at readings and at the deadlines it computes; both must give the same transitions, at
//! the same times, with the same values.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use proptest::prelude::*;
use telemetra_core::rule::{Aggregate, Window};
use telemetra_core::text::bounded;
use telemetra_core::{Action, AlertState, Device, DeviceId, FirmwareVersion, Op, Rule, Timestamp};

use crate::engine::{Engine, EngineConfig, EngineStats, Event};
use crate::lang::parse;

const D: DeviceId = DeviceId(3);
/// Devices in a run: their deadlines interleave in the engine's timer queue.
const DEVICES: u64 = 3;
const CHANNELS: [&str; 2] = ["a", "b"];

/// What the device and the clock do, in order.
#[derive(Debug, Clone)]
enum Step {
    /// A reading of device `d`'s channel `CHANNELS[c]`, `dt` whole seconds after the previous
    /// reading (0: the same instant), of value `v`.
    Reading { d: u64, c: usize, dt: u64, v: i32 },
    /// `advance` to `dt` seconds after the last reading (0: its instant).
    Advance { dt: u64 },
}

/// One transition as both sides report it: device, rule, instant (ms), what, value.
type Seen = (u64, String, u64, String, Option<u64>);

fn seen(events: &[Event]) -> Vec<Seen> {
    let mut out: Vec<Seen> = events
        .iter()
        .filter_map(|e| match e {
            Event::Alert(a) => Some((
                a.device.0,
                a.rule.to_string(),
                a.at.0,
                format!("{:?}", a.state),
                a.value.as_ref().and_then(|v| v.as_f64()).map(bits),
            )),
            Event::Emit { rule, device, at, value, .. } => {
                Some((device.0, rule.to_string(), at.0, "emit".into(), Some(bits(*value))))
            }
            Event::Command { .. } => None,
        })
        .collect();
    // Rules due at one instant may be reported in either order: compare each rule's own story.
    out.sort_by(|x, y| (x.0, &x.1, x.2).cmp(&(y.0, &y.1, y.2)));
    out
}

/// NaNs compare as one value.
fn bits(v: f64) -> u64 {
    if v.is_nan() { f64::NAN.to_bits() } else { v.to_bits() }
}

// ---- the reference ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    Pending { since: u64, count: u16 },
    Active { clearing: u16 },
    Cooldown { until: u64 },
}

struct RefRule {
    rule: Rule,
    /// Whether the rule raises an alarm (else it is an event rule).
    alarm: bool,
    phase: Phase,
    /// When its state was made: `None` before.
    created: Option<u64>,
    /// The last instant it was decided at: time alone decides a rule once per instant, and
    /// not again at the instant of a reading that decided it.
    decided: Option<u64>,
    deadbands: Vec<Option<f64>>,
}

struct Reference {
    device: u64,
    rules: Vec<RefRule>,
    /// Every reading taken: (ms, channel name, value).
    history: Vec<(u64, String, f64)>,
    /// The instant up to which time has been stepped.
    stepped: u64,
    /// Readings before this are late.
    open_from: u64,
    registered: u64,
    events: Vec<Seen>,
    stats: EngineStats,
}

impl Reference {
    fn new(text: &str, device: u64) -> Self {
        let rules = parse(text)
            .unwrap()
            .into_iter()
            .map(|rule| {
                let alarm = rule.actions.iter().any(|a| matches!(a, Action::Alert { .. }));
                let changed = exprs(&rule).flatten().filter(|op| matches!(op, Op::Changed { .. })).count();
                RefRule {
                    rule,
                    alarm,
                    phase: Phase::Idle,
                    created: None,
                    decided: None,
                    deadbands: std::vec![None; changed],
                }
            })
            .collect();
        Reference {
            device,
            rules,
            history: Vec::new(),
            stepped: 0,
            open_from: 0,
            registered: 0,
            events: Vec::new(),
            stats: EngineStats::default(),
        }
    }

    /// The device comes online at `at`: rules that watch for silence start.
    fn register(&mut self, at: u64) {
        self.registered = at;
        for r in &mut self.rules {
            if exprs(&r.rule).flatten().any(|op| matches!(op, Op::Silent { .. })) {
                r.created.get_or_insert(at);
            }
        }
    }

    fn reading(&mut self, channel: &str, t: u64, v: f64) {
        self.stats.readings += 1;
        let device_wide =
            |r: &RefRule| exprs(&r.rule).flatten().any(|op| matches!(op, Op::Silent { channel: None, .. }));
        let read = self.rules.iter().any(|r| r.rule.channels.iter().any(|c| c == channel));
        if !read && !self.rules.iter().any(device_wide) {
            // A channel nothing reads is counted, nothing more.
            return;
        }
        let latest = if read { self.latest(channel) } else { None };
        match latest {
            Some((last, _)) if t < last => return self.stats.out_of_order += 1,
            Some((last, _)) if t == last => return self.stats.duplicates += 1,
            _ if t < self.open_from => return self.stats.late += 1,
            _ => {}
        }
        // Time passes, second by second, up to just before this reading.
        if t > 0 {
            self.time_until(t - 1);
        }
        self.open_from = t;
        self.history.push((t, channel.to_string(), v));
        for i in 0..self.rules.len() {
            let r = &self.rules[i];
            let reads = r.rule.channels.iter().any(|c| c == channel);
            let device_wide =
                exprs(&r.rule).flatten().any(|op| matches!(op, Op::Silent { channel: None, .. }));
            if reads || device_wide {
                self.rules[i].created.get_or_insert(t);
                self.decide(i, t, true);
            }
        }
    }

    fn advance(&mut self, now: u64) {
        if now > 0 {
            self.time_until(now - 1);
        }
        self.open_from = self.open_from.max(now);
    }

    /// Every whole second after the last one stepped, up to `until`: each rule whose outcome
    /// depends on time decided there, unless a reading decided it at that instant already.
    fn time_until(&mut self, until: u64) {
        let mut s = (self.stepped / 1000 + 1) * 1000;
        while s <= until {
            for i in 0..self.rules.len() {
                let r = &self.rules[i];
                if r.created.is_some() && r.decided != Some(s) && depends_on_time(&r.rule) {
                    self.decide(i, s, false);
                }
            }
            s += 1000;
        }
        self.stepped = self.stepped.max(until);
    }

    /// The alarm lifecycle, as the README states it.
    fn decide(&mut self, i: usize, now: u64, from_reading: bool) {
        self.rules[i].decided = Some(now);
        if let Phase::Cooldown { until } = self.rules[i].phase {
            if now < until {
                return;
            }
            self.rules[i].phase = Phase::Idle;
        }
        let (hold, repeat, cooldown) = (
            u64::from(self.rules[i].rule.hold_ms),
            self.rules[i].rule.repeat.max(1),
            u64::from(self.rules[i].rule.cooldown_ms),
        );
        let when = self.rules[i].rule.when.ops.to_vec();
        let holds = |me: &mut Self| {
            let (v, crossing) = me.eval_noting(i, &when, now, 0);
            (truthy(v), crossing)
        };
        match self.rules[i].phase {
            Phase::Idle | Phase::Pending { .. } | Phase::Cooldown { .. } => {
                let (true, crossing) = holds(self) else {
                    self.rules[i].phase = Phase::Idle;
                    return;
                };
                let (since, count) = match self.rules[i].phase {
                    Phase::Pending { since, count } => (since, count.saturating_add(u16::from(from_reading))),
                    _ => (now, 1),
                };
                if now - since < hold || count < repeat {
                    self.rules[i].phase = Phase::Pending { since, count };
                    return;
                }
                self.fire(i, now, crossing);
                self.rules[i].phase = if !self.rules[i].alarm && cooldown > 0 {
                    Phase::Cooldown { until: now + cooldown }
                } else {
                    Phase::Active { clearing: 0 }
                };
            }
            Phase::Active { .. } if !self.rules[i].alarm => match holds(self) {
                (false, _) => self.rules[i].phase = Phase::Idle,
                (true, crossing) if from_reading => self.fire(i, now, crossing),
                _ => {}
            },
            Phase::Active { clearing } => {
                let cleared = match self.rules[i].rule.clear.clone() {
                    Some(clear) => {
                        let skip = deadbands_in(&when);
                        truthy(self.eval(i, &clear.ops, now, skip))
                    }
                    None => !holds(self).0,
                };
                // `clear when ... times N`: N readings in a row meet it (a deadline that finds
                // it met counts as the first, as for `times`).
                let clearing = match cleared {
                    true if clearing == 0 => 1,
                    true => clearing + u16::from(from_reading),
                    false => 0,
                };
                self.rules[i].phase = Phase::Active { clearing };
                if clearing >= self.rules[i].rule.clear_repeat.max(1) {
                    let name = self.rules[i].rule.name.to_string();
                    self.events.push((self.device, name, now, "Cleared".into(), None));
                    self.rules[i].phase =
                        if cooldown > 0 { Phase::Cooldown { until: now + cooldown } } else { Phase::Idle };
                }
            }
        }
    }

    /// Runs the actions; an alert reports what the condition compared (`crossing`), or for a
    /// condition without a comparison the latest value of the rule's first channel.
    fn fire(&mut self, i: usize, now: u64, crossing: Option<f64>) {
        let rule = self.rules[i].rule.clone();
        let first =
            crossing.or_else(|| rule.channels.first().map(|c| self.latest(c).map_or(f64::NAN, |(_, v)| v)));
        let mut deadband =
            deadbands_in(&rule.when.ops) + rule.clear.as_ref().map_or(0, |c| deadbands_in(&c.ops));
        for action in &rule.actions {
            match action {
                Action::Alert { .. } => self.events.push((
                    self.device,
                    rule.name.to_string(),
                    now,
                    "Raised".into(),
                    first.map(bits),
                )),
                Action::Emit { value, .. } => {
                    let v = self.eval(i, &value.ops, now, deadband);
                    deadband += deadbands_in(&value.ops);
                    self.events.push((self.device, rule.name.to_string(), now, "emit".into(), Some(bits(v))));
                }
                Action::Command(_) => {}
            }
        }
    }

    fn latest(&self, channel: &str) -> Option<(u64, f64)> {
        self.history.iter().rev().find(|(_, c, _)| c == channel).map(|&(t, _, v)| (t, v))
    }

    /// The samples of `channel` a window holds at `now`, oldest first, from the whole history.
    fn window(&self, channel: &str, window: Window, now: u64) -> Vec<(u64, f64)> {
        let all: Vec<(u64, f64)> =
            self.history.iter().filter(|(_, c, _)| c == channel).map(|&(t, _, v)| (t, v)).collect();
        match window {
            Window::Count(n) => all[all.len().saturating_sub(usize::from(n))..].to_vec(),
            Window::Time { span_ms, max_samples } => {
                let recent = &all[all.len().saturating_sub(usize::from(max_samples))..];
                let span = u64::from(span_ms);
                recent.iter().copied().filter(|&(t, _)| now < span || t > now - span).collect()
            }
        }
    }

    /// Evaluates `ops` at `now` from the history; `deadband` numbers its first `changed`.
    fn eval(&mut self, i: usize, ops: &[Op], now: u64, deadband: usize) -> f64 {
        self.eval_noting(i, ops, now, deadband).0
    }

    /// `eval`, and the operand of the first comparison that is not a constant (both
    /// constant: the left one).
    fn eval_noting(&mut self, i: usize, ops: &[Op], now: u64, mut deadband: usize) -> (f64, Option<f64>) {
        let channels: Vec<String> = self.rules[i].rule.channels.iter().map(|c| c.to_string()).collect();
        // Each stack entry: its value, and whether it is a constant.
        let mut stack: Vec<(f64, bool)> = Vec::new();
        let mut crossing = None;
        for op in ops {
            let v = match *op {
                Op::Const(c) => c,
                Op::Value(c) => self.latest(&channels[usize::from(c)]).map_or(f64::NAN, |(_, v)| v),
                Op::Aggregate { func, channel, window } => {
                    let w: Vec<f64> = self
                        .window(&channels[usize::from(channel)], window, now)
                        .iter()
                        .map(|s| s.1)
                        .collect();
                    aggregate(func, &w)
                }
                Op::Rate { channel, window } => {
                    let w = self.window(&channels[usize::from(channel)], window, now);
                    match (w.first(), w.last()) {
                        (Some(&(t0, v0)), Some(&(t1, v1))) if t1 > t0 => {
                            (v1 - v0) / ((t1 - t0) as f64 / 1000.0)
                        }
                        _ => f64::NAN,
                    }
                }
                Op::Silent { channel, for_ms } => {
                    let heard = match channel {
                        Some(c) => self.latest(&channels[usize::from(c)]).map_or(0, |(t, _)| t),
                        None => self.history.last().map_or(0, |h| h.0).max(self.registered),
                    };
                    let from = heard.max(self.rules[i].created.unwrap_or(now));
                    truth(now - from.min(now) >= u64::from(for_ms))
                }
                Op::Changed { channel, by } => {
                    let slot = deadband;
                    deadband += 1;
                    match (self.latest(&channels[usize::from(channel)]), self.rules[i].deadbands[slot]) {
                        (None, _) => 0.0,
                        (Some((_, v)), Some(r)) if (v - r).abs() < by || by.is_nan() => 0.0,
                        (Some((_, v)), _) => {
                            self.rules[i].deadbands[slot] = Some(v);
                            1.0
                        }
                    }
                }
                Op::Neg => {
                    let (v, fixed) = stack.pop().unwrap();
                    stack.push((-v, fixed));
                    continue;
                }
                Op::Not => truth(!truthy(stack.pop().unwrap().0)),
                binary => {
                    let (b, b_fixed) = stack.pop().unwrap();
                    let (a, a_fixed) = stack.pop().unwrap();
                    let comparison = matches!(binary, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne);
                    if comparison && crossing.is_none() {
                        crossing = Some(if a_fixed && !b_fixed { b } else { a });
                    }
                    if !comparison && a_fixed && b_fixed {
                        let v = match binary {
                            Op::Add => a + b,
                            Op::Sub => a - b,
                            Op::Mul => a * b,
                            Op::Div => a / b,
                            Op::And => truth(truthy(a) && truthy(b)),
                            _ => truth(truthy(a) || truthy(b)),
                        };
                        stack.push((v, true));
                        continue;
                    }
                    match binary {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div => a / b,
                        Op::Lt => truth(a < b),
                        Op::Le => truth(a <= b),
                        Op::Gt => truth(a > b),
                        Op::Ge => truth(a >= b),
                        Op::Eq => truth(a == b),
                        Op::Ne => truth(a != b),
                        Op::And => truth(truthy(a) && truthy(b)),
                        _ => truth(truthy(a) || truthy(b)),
                    }
                }
            };
            stack.push((v, matches!(op, Op::Const(_))));
        }
        (stack.pop().map_or(f64::NAN, |s| s.0), crossing)
    }
}

fn exprs(rule: &Rule) -> impl Iterator<Item = &[Op]> {
    let emits = rule.actions.iter().filter_map(|a| match a {
        Action::Emit { value, .. } => Some(&value.ops[..]),
        _ => None,
    });
    core::iter::once(&rule.when.ops[..]).chain(rule.clear.as_ref().map(|c| &c.ops[..])).chain(emits)
}

/// Whether time alone can change the rule's outcome: a `for`, a cooldown, a silence or a time
/// window. Other rules are decided at their readings only.
fn depends_on_time(rule: &Rule) -> bool {
    rule.hold_ms > 0
        || rule.cooldown_ms > 0
        || exprs(rule).flatten().any(|op| {
            matches!(
                op,
                Op::Silent { .. }
                    | Op::Aggregate { window: Window::Time { .. }, .. }
                    | Op::Rate { window: Window::Time { .. }, .. }
            )
        })
}

fn deadbands_in(ops: &[Op]) -> usize {
    ops.iter().filter(|op| matches!(op, Op::Changed { .. })).count()
}

fn aggregate(func: Aggregate, w: &[f64]) -> f64 {
    let n = w.len() as f64;
    let sum = || w.iter().fold(-0.0, |a, v| a + v);
    match func {
        Aggregate::Count => n,
        Aggregate::Sum => sum(),
        _ if w.is_empty() => f64::NAN,
        Aggregate::Avg => sum() / n,
        Aggregate::Min => w.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => w.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::First => w[0],
        Aggregate::Last => w[w.len() - 1],
        Aggregate::Delta => w[w.len() - 1] - w[0],
        Aggregate::StdDev => {
            let mean = sum() / n;
            (w.iter().fold(-0.0, |a, v| a + (v - mean) * (v - mean)) / n).sqrt()
        }
    }
}

fn truthy(v: f64) -> bool {
    v != 0.0 && !v.is_nan()
}

fn truth(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

// ---- the comparison ----

/// Rules with every construct whose outcome depends on time: `{x}` and `{y}` are thresholds.
const TEMPLATES: &[&str] = &[
    r#"when a > {x} for 5s then alert major "for""#,
    r#"when a > {x} for 5s clear when a < {y} then alert major "for-clear""#,
    r#"when a > {x} times 2 then alert minor "times""#,
    r#"when a > {x} for 4s times 2 then alert minor "times-for""#,
    r#"when a > {x} clear when a < {y} times 3 then alert minor "clear-times""#,
    r#"when avg(a, 6s) > {x} for 2s clear when avg(a, 6s) < {y} times 2 then alert major "avg-clear-times""#,
    r#"when a > {x} cooldown 6s then alert info "cooldown""#,
    r#"when avg(a, 6s) > {x} then alert minor "avg-time""#,
    r#"when avg(a, 10s max 3) > {x} then alert minor "avg-capped""#,
    r#"when max(a, 3 samples) > {x} clear when min(a, 3 samples) < {y} then alert minor "count""#,
    r#"when avg(a, 6s) > {x} for 3s clear when avg(a, 6s) < {y} then alert major "avg-hyst""#,
    r#"when count(b, 8s) < 2 then alert warning "sparse""#,
    r#"when rate(a, 6s) > 1 then alert info "rate""#,
    r#"when silent(a, 7s) then alert major "quiet-a""#,
    r#"when silent(9s) then alert critical "gone""#,
    r#"when silent(b, 5s) cooldown 4s then emit b_quiet = 1"#,
    r#"when a > {x} and avg(b, 5s) < {y} then alert info "both""#,
    r#"when changed(a, 3) then emit a_seen = a"#,
];

fn rule_set() -> impl Strategy<Value = String> {
    proptest::collection::vec((0..TEMPLATES.len(), 10i32..30, 0i32..10), 1..4).prop_map(|rules| {
        rules
            .iter()
            .enumerate()
            .map(|(i, &(t, x, dy))| {
                let body = TEMPLATES[t].replace("{x}", &x.to_string()).replace("{y}", &(x - dy).to_string());
                format!("rule r{i}: {body}\n")
            })
            .collect()
    })
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            6 => (0..DEVICES, 0..CHANNELS.len(), prop_oneof![Just(0u64), 1u64..4, 4u64..12], 0i32..40)
                .prop_map(|(d, c, dt, v)| Step::Reading { d, c, dt, v }),
            1 => (0u64..15).prop_map(|dt| Step::Advance { dt }),
        ],
        1..60,
    )
}

fn device(id: DeviceId) -> Device {
    Device {
        id,
        model: bounded("m", "x").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: heapless::Vec::new(),
        tags: heapless::Vec::new(),
    }
}

/// Runs the steps through the engine and the reference; returns both stories.
fn run(text: &str, steps: &[Step]) -> (Vec<Seen>, Vec<Seen>, EngineStats, EngineStats) {
    let mut engine = Engine::new(EngineConfig::default());
    engine.load(parse(text).unwrap()).unwrap();
    let mut references: Vec<Reference> = (0..DEVICES).map(|d| Reference::new(text, d)).collect();
    for (d, reference) in (0..DEVICES).zip(&mut references) {
        engine.register(&device(DeviceId(d)), Timestamp(0));
        reference.register(0);
    }
    let (mut events, mut t) = (Vec::new(), 0u64);
    for step in steps {
        match *step {
            Step::Reading { d, c, dt, v } => {
                t += dt * 1000;
                let value = f64::from(v);
                engine.ingest(DeviceId(d), CHANNELS[c], Timestamp(t), value, &mut events);
                references[d as usize].reading(CHANNELS[c], t, value);
            }
            Step::Advance { dt } => {
                let now = t + dt * 1000;
                let from = events.len();
                engine.advance(Timestamp(now), &mut events);
                // The timer queue hands the devices' deadlines over earliest first.
                let times: Vec<u64> = events[from..].iter().filter_map(at).collect();
                assert!(times.is_sorted(), "advance out of time order: {times:?}");
                for reference in &mut references {
                    reference.advance(now);
                }
                t = t.max(now);
            }
        }
    }
    let mut theirs: Vec<Seen> = references.iter().flat_map(|r| r.events.clone()).collect();
    theirs.sort_by(|x, y| (x.0, &x.1, x.2).cmp(&(y.0, &y.1, y.2)));
    let mut their_stats = EngineStats::default();
    for r in &references {
        their_stats.readings += r.stats.readings;
        their_stats.out_of_order += r.stats.out_of_order;
        their_stats.duplicates += r.stats.duplicates;
        their_stats.late += r.stats.late;
    }
    (seen(&events), theirs, engine.stats(), their_stats)
}

fn at(event: &Event) -> Option<u64> {
    match event {
        Event::Alert(a) => Some(a.at.0),
        Event::Emit { at, .. } => Some(at.0),
        Event::Command { .. } => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Same transitions, same instants, same values as the naive evaluator, for durations,
    /// repeats, cooldowns, time and count windows, rates, silences, `clear when` and deadbands,
    /// over random streams with gaps, equal timestamps and the clock advanced in between.
    #[test]
    fn decides_as_the_reference(text in rule_set(), steps in steps()) {
        let (ours, theirs, our_stats, their_stats) = run(&text, &steps);
        prop_assert_eq!(ours, theirs, "rules:\n{}", text);
        prop_assert_eq!(
            (our_stats.readings, our_stats.out_of_order, our_stats.duplicates, our_stats.late),
            (their_stats.readings, their_stats.out_of_order, their_stats.duplicates, their_stats.late)
        );
    }
}

/// The issue's first example: at the deadline of `for 2h` a reading below the threshold
/// arrives; the reading comes first, so no alarm, whichever the driver calls first at that
/// instant.
#[test]
fn a_reading_at_the_deadline_comes_before_it() {
    let text = r#"rule hot: when x > 30 for 2h then alert major "Hot""#;
    let h = 3_600_000;
    for advance_first in [true, false] {
        let mut e = Engine::new(EngineConfig::default());
        e.load(parse(text).unwrap()).unwrap();
        let mut out = Vec::new();
        for (t, v) in [(0, 31.0), (h, 31.0), (2 * h, 20.0)] {
            if advance_first {
                e.advance(Timestamp(t), &mut out);
            }
            e.ingest(D, "x", Timestamp(t), v, &mut out);
            e.advance(Timestamp(t), &mut out);
        }
        e.advance(Timestamp(3 * h), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(e.stats().late, 0);
    }
}

/// Held from 0 s, a `for 2m` alarm is due at 120 s: decided once time has passed 120 s (a
/// reading stamped 120 s could still clear it), and stamped 120 s.
#[test]
fn a_deadline_is_decided_once_time_passes_it_and_carries_its_instant() {
    let mut e = Engine::new(EngineConfig::default());
    e.load(parse(r#"rule hot: when t > 30 for 2m then alert major "Hot""#).unwrap()).unwrap();
    let mut out = Vec::new();
    e.ingest(D, "t", Timestamp(0), 31.0, &mut out);
    e.advance(Timestamp(120_000), &mut out);
    assert!(out.is_empty());
    e.advance(Timestamp(500_000), &mut out);
    assert!(
        matches!(&out[..], [Event::Alert(a)] if a.at == Timestamp(120_000) && a.state == AlertState::Raised)
    );
    // A reading stamped before the clock is late: dropped and counted.
    e.ingest(D, "t", Timestamp(400_000), 10.0, &mut out);
    assert_eq!((out.len(), e.stats().late), (1, 1));
}

/// The engine says when its next deadline is, across devices, and `advance` visits the devices
/// with something due, earliest first; the queue holds about one entry per device.
#[test]
fn next_deadline_across_devices() {
    let mut e = Engine::new(EngineConfig::default());
    e.load(parse(r#"rule hot: when t > 30 for 1m then alert major "Hot""#).unwrap()).unwrap();
    assert_eq!(e.next_deadline(), None);
    let mut out = Vec::new();
    for round in 0..50u64 {
        for d in 0..100u64 {
            // Device d holds above 30 from d seconds on; each round repeats it 1 ms later.
            e.ingest(DeviceId(d), "t", Timestamp(d * 1000 + round), 31.0, &mut out);
        }
    }
    assert!(out.is_empty());
    assert_eq!(e.next_deadline(), Some(Timestamp(60_000)));
    assert!(e.timers.len() <= 200, "{} timer entries for 100 devices", e.timers.len());
    e.advance(Timestamp(60_001), &mut out);
    assert!(matches!(&out[..], [Event::Alert(a)] if a.device == DeviceId(0) && a.at == Timestamp(60_000)));
    assert_eq!(e.next_deadline(), Some(Timestamp(61_000)));
    e.advance(Timestamp(200_000), &mut out);
    let times: Vec<u64> = out.iter().filter_map(at).collect();
    assert_eq!(times, (0..100).map(|d| 60_000 + d * 1000).collect::<Vec<_>>());
    assert_eq!(e.next_deadline(), None);
}
