//! Deadlines: the instants at which time alone changes what a rule decides.
//!
//! Between two readings a rule's outcome can change only at a few instants, each known from
//! its state: a `for` duration ends (`since + hold`), a cooldown ends, a `silent(...)` duration
//! is reached (`heard + duration`), or the oldest sample of a time window leaves it
//! (`sample + span`). The engine decides a rule exactly at those instants, in time order for
//! each device, so an alert carries the instant it became due (not the instant the engine
//! was next told the time) and a window is never read with a sample gone that should still be
//! in, or with one in that should be gone.
//!
//! **One instant, one step.** At an instant `t`, the readings stamped `t` come first; the
//! deadlines due at `t` are decided after them. Both `ingest` of a reading stamped `t` and
//! `advance(t)` mean "time is `t`": every deadline before `t` is decided (in time order), and
//! one due at `t` itself waits until time moves past `t`, whichever of the two a driver calls
//! first at an instant. A reading stamped before a device's time is late: dropped and counted
//! (`EngineStats::late`).

use alloc::vec::Vec;

use telemetra_core::Op;
use telemetra_core::rule::Window;

use crate::compact::CompactRule;

use super::dues::Dues;
use super::state::{Ctx, Phase, RuleState};
use super::window::Samples;
use super::{DeviceId, Event, Loaded, Real, step};

/// What in a rule's conditions changes with time alone.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    /// `silent(channel, for_ms)` (`None`: the whole device).
    Silent { channel: Option<u8>, for_ms: u32 },
    /// A time window, by the rule's windowed-operation number, and its span.
    Window { index: u16, span_ms: u32 },
}

/// The clocks of `rule`'s conditions (`when`, then `clear`), found once when it is loaded.
pub(crate) fn clocks(rule: &CompactRule) -> Vec<Clock> {
    let mut clocks = Vec::new();
    let mut index = 0u16;
    for op in core::iter::once(&*rule.when).chain(rule.clear.as_deref()).flatten() {
        match *op {
            Op::Silent { channel, for_ms } => clocks.push(Clock::Silent { channel, for_ms }),
            Op::Aggregate { window, .. } | Op::Rate { window, .. } => {
                if let Window::Time { span_ms, .. } = window {
                    clocks.push(Clock::Window { index, span_ms });
                }
                index += 1;
            }
            _ => {}
        }
    }
    clocks
}

/// The first instant from `from` on at which time alone may change the rule's outcome
/// (everything before `from` is decided); `None` when nothing will until a reading arrives.
pub(crate) fn next_deadline<R: Real>(
    l: &Loaded<R>,
    state: &RuleState<R>,
    ctx: &mut Ctx<'_, R>,
    from: u64,
) -> Option<u64> {
    let mut next = match state.phase {
        Phase::Pending { since, .. } if l.hold_ms > 0 => since.saturating_add(u64::from(l.hold_ms)),
        Phase::Cooldown { until } => until,
        _ => u64::MAX,
    };
    for clock in &*l.clocks {
        let (since, wait) = match *clock {
            Clock::Silent { channel, for_ms } => {
                let heard = match channel {
                    None => ctx.device_heard,
                    Some(c) => ctx.latest(c).map_or(0, |(t, _)| t),
                };
                (heard.max(state.created()), for_ms)
            }
            Clock::Window { index, span_ms } => match ctx.window(usize::from(index)).and_then(|w| w.oldest())
            {
                Some((oldest, _)) => (oldest, span_ms),
                None => continue,
            },
        };
        let at = since.saturating_add(u64::from(wait));
        if at >= from {
            next = next.min(at);
        }
    }
    (next >= from && next < u64::MAX).then_some(next)
}

/// What `run_due` reads and changes of one device: its latest values, when it was last heard
/// from, its rules' states, their deadlines, and its windows.
pub(crate) struct DeviceView<'a, R, D: ?Sized> {
    pub(crate) values: &'a [Option<(u64, R)>],
    pub(crate) heard: u64,
    /// Everything before this instant is decided.
    pub(crate) from: u64,
    pub(crate) states: &'a mut [Option<RuleState<R>>],
    /// Each rule's next deadline, kept as it is decided: never later than the true one
    /// ([`UNKNOWN`], or a value before `from`: found again when needed; `u64::MAX`: none, as
    /// for a rule without state or whose outcome does not depend on time).
    pub(crate) dues: &'a mut D,
    pub(crate) pool: &'a mut [Option<Samples<R>>],
}

/// Decides every deadline of one device's rules from `dev.from` (everything before it is
/// decided) up to and including `until`, in time order (rules due at the same instant in rule
/// order): what `advance` does for a device with something due, and `ingest` before a reading.
/// Returns the device's next deadline after that (`u64::MAX` when none is known).
///
/// A rule's deadline moves only when the rule is decided (a reading of one of its channels, or
/// its deadline): a silence's reference is a reading of its channel, a window's oldest sample
/// changes with readings of its channel or with a decision of a rule sharing it, which is due
/// at the same instant. So each rule's deadline is kept, and only the rules due are looked at
/// again.
pub(crate) fn run_due<R: Real, D: Dues + ?Sized>(
    rules: &[Loaded<R>],
    device: DeviceId,
    dev: DeviceView<'_, R, D>,
    until: u64,
    out: &mut Vec<Event<R>>,
) -> u64 {
    let DeviceView { values, heard, mut from, states, dues, pool } = dev;
    loop {
        let mut at = dues.earliest();
        if at < from || at == UNKNOWN {
            // Deadlines not known (a state just made, a rule set just loaded): found now.
            let mut b = 0;
            while let Some((range, next)) = dues.next_range(b, from.saturating_sub(1)) {
                b = next;
                for i in range {
                    let due = dues.due(i);
                    if due < from || due == UNKNOWN {
                        let found = match (rules.get(i), states.get(i)) {
                            (Some(l), Some(Some(state))) if l.timed => {
                                next_deadline(l, state, &mut l.ctx(values, heard, pool), from)
                            }
                            _ => None,
                        };
                        dues.set_due(i, found.unwrap_or(u64::MAX));
                    }
                }
            }
            at = dues.earliest();
        }
        if at > until {
            return at;
        }
        // Every rule due then is decided (a window they share changes for all of them).
        let mut b = 0;
        while let Some((range, next)) = dues.next_range(b, at) {
            b = next;
            for i in range {
                if dues.due(i) == at
                    && let (Some(l), Some(Some(state))) = (rules.get(i), states.get_mut(i))
                    && l.timed
                {
                    let mut ctx = l.ctx(values, heard, pool);
                    step(l, device, state, &mut ctx, at, false, out);
                    dues.set_due(i, next_deadline(l, state, &mut ctx, at + 1).unwrap_or(u64::MAX));
                }
            }
        }
        from = at + 1;
    }
}

/// A rule's deadline not known yet (a state just made, a rule set just loaded). No deadline
/// is ever at 0: each is an instant plus a duration of at least a millisecond.
pub(crate) const UNKNOWN: u64 = 0;

#[cfg(test)]
mod tests;
