//! The alarm lifecycle of one rule on one device: a decision at an instant (`step`), what
//! firing does (`fire`), and the state a rule starts with on a device (`state_for`).

use alloc::vec::Vec;

use telemetra_core::{Alert, AlertState, DeviceId, Text, Timestamp, Value};

use super::state::{Ctx, Cursor, Phase, RuleState, is_true};
use super::window::Samples;
use super::{Event, Loaded, Real};
use crate::compact::Act;

impl<R: Real> Loaded<R> {
    /// What this rule's expressions read on a device: its latest `values` and windows (`pool`),
    /// and when it was last `heard` from.
    pub(super) fn ctx<'a>(
        &'a self,
        values: &'a [Option<(u64, R)>],
        heard: u64,
        pool: &'a mut [Option<Samples<R>>],
    ) -> Ctx<'a, R> {
        Ctx { values, map: &self.map, device_heard: heard, pool, windows: &self.windows }
    }
}

fn message<R>(l: &Loaded<R>) -> Text {
    l.rule
        .actions
        .iter()
        .find_map(|a| match a {
            Act::Alert { message } => Some(message.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

pub(super) fn alert<R: Real>(
    l: &Loaded<R>,
    device: DeviceId,
    state: AlertState,
    at: u64,
    value: Option<R>,
) -> Alert {
    Alert {
        rule: l.rule.name.clone(),
        device,
        state,
        severity: l.rule.severity,
        channel: None,
        value: value.map(|v| Value::Number(v.to_number())),
        at: Timestamp(at),
        message: message(l),
    }
}

/// The alarm lifecycle of one rule on one device, at time `now`.
/// The rule's state for a device, made on first use together with any window it needs that the
/// device does not have yet; a new window of the channel being read (`reading`: its index and
/// value) starts with that reading, as the windows that existed already got it.
#[cold]
#[inline(never)]
pub(super) fn state_for<'s, R: Real>(
    l: &Loaded<R>,
    slot: &'s mut Option<RuleState<R>>,
    pool: &mut [Option<Samples<R>>],
    t: u64,
    reading: Option<(usize, R)>,
) -> &'s mut RuleState<R> {
    if slot.is_none() {
        for ((channel, window), &p) in RuleState::<R>::windows_of(&l.rule).zip(&l.windows) {
            let Some(w) = pool.get_mut(p as usize) else { continue };
            if w.is_none() {
                let mut samples = Samples::new(window);
                if let Some((index, value)) = reading
                    && l.map[usize::from(channel)] == index
                {
                    samples.push(t, value);
                }
                *w = Some(samples);
            }
        }
    }
    slot.get_or_insert_with(|| RuleState::new(&l.rule, t))
}

/// For a simple rule (see `Loaded::simple`): whether this reading of its one channel changes
/// the alarm (raises it, or clears it). When it does not, the state is already what `step`
/// would leave.
#[inline(always)]
pub(super) fn transition<R: Real>(l: &Loaded<R>, state: &RuleState<R>, value: R) -> bool {
    let Some(when) = l.when_quick else { return true };
    match state.phase {
        Phase::Idle => when.test(value),
        Phase::Active { .. } => match l.clear_quick {
            Some(clear) => clear.test(value),
            None => !when.test(value),
        },
        _ => true,
    }
}

#[inline]
pub(super) fn step<R: Real>(
    l: &Loaded<R>,
    device: DeviceId,
    state: &mut RuleState<R>,
    ctx: &mut Ctx<'_, R>,
    now: u64,
    from_reading: bool,
    out: &mut Vec<Event<R>>,
) {
    let rule = &l.rule;
    if let Phase::Cooldown { until } = state.phase {
        if now < until {
            return;
        }
        state.phase = Phase::Idle;
    }
    let mut cursor = Cursor::default();
    match state.phase {
        Phase::Idle | Phase::Pending { .. } | Phase::Cooldown { .. } => {
            let holds = when_holds(l, state, ctx, now, &mut cursor);
            if !holds {
                state.phase = Phase::Idle;
                return;
            }
            let (since, count) = match state.phase {
                Phase::Pending { since, count } => (since, count.saturating_add(u16::from(from_reading))),
                _ => (now, 1),
            };
            let long_enough = now.saturating_sub(since) >= u64::from(l.hold_ms);
            if !(long_enough && count >= l.repeat.max(1)) {
                state.phase = Phase::Pending { since, count };
                return;
            }
            if l.when_quick.is_some() {
                cursor.skip(&rule.when);
            }
            if let Some(clear) = &rule.clear {
                cursor.skip(clear);
            }
            fire(l, device, state, ctx, now, &mut cursor, out);
            state.phase = match (l.event_rule, l.cooldown_ms) {
                (true, ms) if ms > 0 => next_after_clear(ms, now),
                _ => Phase::Active { since: now, acknowledged: false, clearing: 0 },
            };
        }
        // An event rule fires again on each reading while its condition holds, but not on a
        // mere passing of time (a silence fires once, not on every `advance`).
        Phase::Active { .. } if l.event_rule => {
            let holds = when_holds(l, state, ctx, now, &mut cursor);
            if !holds {
                state.phase = Phase::Idle;
            } else if from_reading {
                if l.when_quick.is_some() {
                    cursor.skip(&rule.when);
                }
                if let Some(clear) = &rule.clear {
                    cursor.skip(clear);
                }
                fire(l, device, state, ctx, now, &mut cursor, out);
            }
        }
        Phase::Active { .. } => {
            let cleared = match (&rule.clear, l.clear_quick, l.when_quick) {
                (Some(_), Some(q), _) => state.quick(ctx, q, now).0,
                (None, _, Some(q)) => !state.quick(ctx, q, now).0,
                (Some(clear), None, _) => {
                    cursor.skip(&rule.when);
                    is_true(state.eval(ctx, clear, now, &mut cursor))
                }
                (None, _, None) => !is_true(state.eval(ctx, &rule.when, now, &mut cursor)),
            };
            let Phase::Active { clearing, .. } = &mut state.phase else { return };
            // Counted as `times` is: the readings in a row that meet the clearing condition.
            *clearing = match cleared {
                true => clearing.saturating_add(u16::from(from_reading)).max(1),
                false => 0,
            };
            if *clearing >= l.clear_repeat.max(1) {
                out.push(Event::Alert(alert(l, device, AlertState::Cleared, now, None)));
                state.phase = next_after_clear(l.cooldown_ms, now);
            }
        }
    }
}

/// Whether the rule's `when` condition holds at `now` (by its quick form when it has one); the
/// value it compared is left in `cursor.crossing`.
fn when_holds<R: Real>(
    l: &Loaded<R>,
    state: &mut RuleState<R>,
    ctx: &mut Ctx<'_, R>,
    now: u64,
    cursor: &mut Cursor<R>,
) -> bool {
    match l.when_quick {
        Some(q) => {
            let (holds, value) = state.quick(ctx, q, now);
            cursor.crossing = Some(value);
            holds
        }
        None => is_true(state.eval(ctx, &l.rule.when, now, cursor)),
    }
}

/// The phase after a clear: idle, or cooling down for the rule's cooldown.
pub(super) fn next_after_clear(cooldown_ms: u32, now: u64) -> Phase {
    match cooldown_ms {
        0 => Phase::Idle,
        ms => Phase::Cooldown { until: now.saturating_add(u64::from(ms)) },
    }
}

/// Runs a rule's actions as its alarm becomes active (or an event rule fires).
fn fire<R: Real>(
    l: &Loaded<R>,
    device: DeviceId,
    state: &mut RuleState<R>,
    ctx: &mut Ctx<'_, R>,
    now: u64,
    cursor: &mut Cursor<R>,
    out: &mut Vec<Event<R>>,
) {
    // What the condition compared (`avg(t, 5m)` for `avg(t, 5m) > 27`); for a condition
    // without a comparison (a silence), the latest value of the rule's first channel.
    let value = cursor.crossing.or_else(|| (!l.rule.channels.is_empty()).then(|| ctx.value(0)));
    for action in &*l.rule.actions {
        match action {
            Act::Alert { .. } => out.push(Event::Alert(alert(l, device, AlertState::Raised, now, value))),
            Act::Command(action) => {
                out.push(Event::Command { rule: l.rule.name.clone(), device, action: (**action).clone() })
            }
            Act::Emit { channel, value } => {
                let v = state.eval(ctx, value, now, cursor);
                let name = l.rule.channels.get(usize::from(*channel)).cloned().unwrap_or_default();
                out.push(Event::Emit {
                    rule: l.rule.name.clone(),
                    device,
                    channel: name,
                    at: Timestamp(now),
                    value: v,
                });
            }
        }
    }
}
