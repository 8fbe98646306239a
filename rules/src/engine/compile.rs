//! Compiling a rule set into the engine: validating and compacting it, working out what the
//! per-reading path needs from each rule, and diffing it against the loaded set (unchanged
//! rules keep their state; channel indices, windows and latest values are carried over by
//! name).

use alloc::vec::Vec;

use telemetra_core::rule::MAX_RULE_CHANNELS;
use telemetra_core::{Name, Scope};

use super::state::{Quick, RuleState};
use super::{Engine, EngineConfig, LoadError, LoadReport, Loaded, Real, deadline};
use crate::compact::{Act, CompactRule, IntoCompact};

/// A rule set compacted and checked: every rule valid, no two with one name, its state
/// within `config`'s memory budget for `config.max_devices` devices.
pub(super) fn prepare<R: Real, T: IntoCompact>(
    rules: impl IntoIterator<Item = T>,
    config: EngineConfig,
) -> Result<Vec<CompactRule>, LoadError> {
    let rules = rules.into_iter();
    let mut compact: Vec<CompactRule> = Vec::with_capacity(rules.size_hint().0);
    for r in rules {
        let name = Name::try_from(r.name()).unwrap_or_default();
        compact.push(r.into_compact().map_err(|error| LoadError::Invalid { rule: name, error })?);
    }
    let mut total = 0usize;
    for (i, r) in compact.iter().enumerate() {
        if compact[..i].iter().any(|o| o.name == r.name) {
            return Err(LoadError::DuplicateName(r.name.clone()));
        }
        total = total.saturating_add(RuleState::<R>::size_for(r));
    }
    let needed = total.saturating_mul(config.max_devices);
    if needed > config.memory_budget {
        return Err(LoadError::OverBudget {
            needed,
            devices: config.max_devices,
            budget: config.memory_budget,
        });
    }
    Ok(compact)
}

impl<R: Real> Loaded<R> {
    /// A rule made ready to run: what the per-reading path needs, worked out once.
    pub(super) fn new(rule: CompactRule, id: u32) -> Self {
        let state_bytes = RuleState::<R>::size_for(&rule);
        let event_rule = !rule.actions.iter().any(|a| matches!(a, Act::Alert { .. }));
        let device_wide = core::iter::once(&*rule.when)
            .chain(rule.clear.as_deref())
            .any(|e| e.iter().any(|op| matches!(op, telemetra_core::Op::Silent { channel: None, .. })));
        let watches_silence = core::iter::once(&*rule.when)
            .chain(rule.clear.as_deref())
            .any(|e| e.iter().any(|op| matches!(op, telemetra_core::Op::Silent { .. })));
        let when_quick = Quick::of(&rule.when, true);
        let clear_quick = rule.clear.as_deref().and_then(|c| Quick::of(c, false));
        let simple = rule.channels.len() == 1
            && rule.hold_ms == 0
            && rule.repeat <= 1
            && rule.clear_repeat <= 1
            && rule.cooldown_ms == 0
            && !event_rule
            && !device_wide
            && when_quick.is_some_and(|q| q.reads_value_of(0))
            && match (&rule.clear, clear_quick) {
                (None, _) => true,
                (Some(_), Some(q)) => q.reads_value_of(0),
                (Some(_), None) => false,
            };
        let clocks = deadline::clocks(&rule);
        Loaded {
            id,
            timed: rule.hold_ms > 0 || rule.cooldown_ms > 0 || !clocks.is_empty(),
            clocks,
            state_bytes,
            event_rule,
            device_wide,
            watches_silence,
            when_quick,
            clear_quick,
            simple,
            map: [usize::MAX; MAX_RULE_CHANNELS],
            windows: Vec::new(),
            everywhere: rule.scope == Scope::All,
            hold_ms: rule.hold_ms,
            repeat: rule.repeat,
            clear_repeat: rule.clear_repeat,
            cooldown_ms: rule.cooldown_ms,
            rule: alloc::boxed::Box::new(rule),
        }
    }
}

impl<R: Real> Engine<R> {
    /// Loads a rule set, replacing the current one. Rules identical to a loaded rule of the
    /// same name keep their state; the state of removed and changed rules is released. On
    /// error nothing changes.
    ///
    /// Takes `Rule`s, `Box<Rule>`s or [`CompactRule`]s (a firmware's
    /// [`RuleSetAssembler`](crate::RuleSetAssembler) compacts each rule as it arrives); the
    /// engine keeps every rule compact.
    pub fn load<T: IntoCompact>(
        &mut self,
        rules: impl IntoIterator<Item = T>,
    ) -> Result<LoadReport, LoadError> {
        let rules = prepare::<R, T>(rules, self.config)?;
        let mut report = LoadReport::default();
        // Exactly as many as there are rules: a firmware's heap holds no spare capacity.
        let old = core::mem::replace(&mut self.rules, Vec::with_capacity(rules.len()));
        let old_order: Vec<u32> = old.iter().map(|o| o.id).collect();
        // Taken out as they are kept (removing from a vector would move the rest with
        // `memmove`, 1.5 KB on a firmware).
        let mut old: Vec<Option<Loaded<R>>> = old.into_iter().map(Some).collect();
        for rule in rules {
            let same = old
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| o.rule.name == rule.name && *o.rule == rule));
            let id = match same.and_then(Option::take) {
                Some(o) => {
                    report.kept += 1;
                    o.id
                }
                None => {
                    report.started += 1;
                    self.next_id += 1;
                    self.next_id
                }
            };
            self.rules.push(Loaded::new(rule, id));
        }
        report.released = old.iter().flatten().count();
        // Move each kept rule's per-device state to its new position; drop the rest.
        let old_ids: Vec<u32> = old_order;
        self.timed = self.rules.iter().any(|l| l.timed);
        let timed = self.timed;
        for (_, entry) in self.devices.slots_mut() {
            let mut previous = core::mem::take(&mut entry.states);
            // Every rule's deadline is found again (0: not known).
            entry.dues = super::dues::Blocked::filled(
                if timed { self.rules.len() } else { 0 },
                super::deadline::UNKNOWN,
            );
            entry.states = self
                .rules
                .iter()
                .map(|l| old_ids.iter().position(|id| *id == l.id).and_then(|i| previous.get_mut(i)?.take()))
                .collect();
        }
        let old_channels = core::mem::take(&mut self.channels);
        self.watched.clear();
        self.heard_channels.clear();
        self.epoch = self.epoch.wrapping_add(1);
        self.device_wide.clear();
        for (i, l) in self.rules.iter().enumerate() {
            if l.device_wide {
                self.device_wide.push(i);
            }
            for (slot, name) in l.rule.channels.iter().enumerate() {
                let next = self.channels.len();
                let index = self.channels.get_or_insert(name, next);
                if index == self.watched.len() {
                    self.watched.push(Vec::new());
                    self.heard_channels.push(false);
                }
                self.watched[index].push((i, slot as u8));
            }
        }
        for l in &mut self.rules {
            for (slot, name) in l.rule.channels.iter().enumerate() {
                l.map[slot] = self.channels.get(name).unwrap_or(usize::MAX);
            }
        }
        // Windows: one per distinct (channel, window), shared by the rules that use it.
        let old_windows = core::mem::take(&mut self.windows);
        self.truncated.clear();
        self.windows_by_channel = alloc::vec![Vec::new(); self.channels.len()];
        for l in &mut self.rules {
            l.windows = RuleState::<R>::windows_of(&l.rule)
                .map(|(slot, window)| {
                    let name = &l.rule.channels[usize::from(slot)];
                    match self.windows.iter().position(|(n, w)| n == name && *w == window) {
                        Some(i) => i as u32,
                        None => {
                            self.windows.push((name.clone(), window));
                            self.truncated.push(0);
                            let i = (self.windows.len() - 1) as u32;
                            self.windows_by_channel[l.map[usize::from(slot)]].push(i);
                            i
                        }
                    }
                })
                .collect();
        }
        // Channel indices changed: carry each device's latest values over by name, and its
        // windows by (channel, window).
        self.timers.clear();
        for (slot, entry) in self.devices.slots_mut() {
            let mut values = alloc::vec![None; self.channels.len()];
            for (name, index) in self.channels.iter() {
                if let Some(old) = old_channels.get(name) {
                    values[index] = entry.values.get(old).copied().flatten();
                }
            }
            entry.values = values;
            // Rules and windows moved: the next `run_due` finds the deadlines afresh.
            entry.due = 0;
            entry.queued = u64::MAX;
            self.timers.schedule(slot, 0, &mut entry.queued);
            let mut previous = core::mem::take(&mut entry.pool);
            entry.pool = self
                .windows
                .iter()
                .map(|spec| {
                    old_windows.iter().position(|o| o == spec).and_then(|i| previous.get_mut(i)?.take())
                })
                .collect();
        }
        Ok(report)
    }
}
