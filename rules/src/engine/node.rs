//! The engine of one device, run on that device: what a firmware links.
//!
//! [`Engine`](super::Engine) keeps state for many devices, finds them by id, shares windows
//! between rules and carries state over a reload for every device: a server's needs. A node
//! runs its rules on its own readings only, so [`NodeEngine`] keeps one state per rule in
//! plain lists and works out the rest by looking at a handful of rules. It decides exactly as
//! an `Engine` does for that one device (the same alarm lifecycle, expressions and windows,
//! and a property test holds the two to the same events), in about half the flash.

use alloc::vec::Vec;

use telemetra_core::rule::Window;
use telemetra_core::{Alert, AlertState, DeviceId, Name, Tag, Timestamp};

#[cfg(doc)]
use super::Engine;
use super::deadline::{DeviceView, run_due};
use super::dues::Dues;
use super::state::{Phase, RuleState};
use super::window::Samples;
use super::{
    EngineConfig, EngineStats, Event, LoadError, LoadReport, Loaded, Real, alert, in_order, in_scope,
    note_deadline, prepare, state_for, step, transition,
};
use crate::compact::IntoCompact;

/// The rule engine of one device, run on that device: what a firmware links.
///
/// [`Engine`] keeps state for many devices, finds them by id, and carries state over a
/// reload for every device: a server's needs. A node runs its rules on its own readings only,
/// so this keeps one state per rule in plain lists and works the rest out by looking at a
/// handful of rules. It decides exactly as an `Engine` does for that one device (the same alarm
/// lifecycle, expressions and windows; a property test holds the two to the same events), in
/// about 2 KB less flash on a Cortex-M4.
///
/// ```
/// use telemetra_core::{DeviceId, Timestamp};
/// use telemetra_rules::{Event, NodeEngine};
///
/// let mut engine = NodeEngine::<f32>::new(DeviceId(7), &[], 4 * 1024);
/// engine.load(telemetra_rules::parse(r#"rule hot: when t > 30 then alert major "Hot""#)?)?;
/// let mut events = Vec::new();
/// engine.ingest("t", Timestamp(1_000), 31.5, &mut events);
/// assert!(matches!(&events[..], [Event::Alert(a)] if a.rule == "hot"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NodeEngine<R: Real = f32> {
    device: DeviceId,
    tags: Vec<Tag>,
    memory_budget: usize,
    rules: Vec<Loaded<R>>,
    next_id: u32,
    /// Some rule watches the whole device: every reading counts, whatever its channel.
    device_wide: bool,
    /// The channel names the rules read; a channel's index is its position.
    channels: Vec<Name>,
    /// The latest `(time, value)` of each channel, by index.
    values: Vec<Option<(u64, R)>>,
    /// When the device was last heard from (a reading of any channel, or `online`).
    heard: u64,
    /// Each rule's state, by the rule's position (created on demand).
    states: Vec<Option<RuleState<R>>>,
    /// The distinct windows of the rule set (channel index and window), shared by the rules
    /// that aggregate that channel that way, as `Engine` shares them.
    windows: Vec<(usize, Window)>,
    /// The samples of each window, by its position in `windows` (made when a rule needing it
    /// starts).
    pool: Vec<Option<Samples<R>>>,
    /// The earliest instant not decided yet: a reading stamped before it is late.
    open_from: u64,
    /// No deadline comes before this (a lower bound; exact after `run_due`).
    due: u64,
    /// Each rule's next deadline (see `run_due`).
    dues: Vec<u64>,
    stats: EngineStats,
}

impl<R: Real> core::fmt::Debug for NodeEngine<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeEngine")
            .field("device", &self.device)
            .field("rules", &self.rules.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<R: Real> NodeEngine<R> {
    /// The engine of `device` (with its `tags`, for tag-scoped rules), refusing rule sets whose
    /// state would need more than `memory_budget` bytes. No rules yet.
    pub fn new(device: DeviceId, tags: &[Tag], memory_budget: usize) -> Self {
        NodeEngine {
            device,
            tags: tags.to_vec(),
            memory_budget,
            rules: Vec::new(),
            next_id: 0,
            device_wide: false,
            channels: Vec::new(),
            values: Vec::new(),
            heard: 0,
            states: Vec::new(),
            windows: Vec::new(),
            pool: Vec::new(),
            open_from: 0,
            due: u64::MAX,
            dues: Vec::new(),
            stats: EngineStats::default(),
        }
    }

    /// Loads a rule set, replacing the current one, as [`Engine::load`](super::Engine::load)
    /// does: rules identical to a loaded rule of the same name keep their state, the state of
    /// the others is released; on error nothing changes. Rules scoped to other devices are
    /// kept but never run.
    pub fn load<T: IntoCompact>(
        &mut self,
        rules: impl IntoIterator<Item = T>,
    ) -> Result<LoadReport, LoadError> {
        let config = EngineConfig { max_devices: 1, memory_budget: self.memory_budget };
        let rules = prepare::<R, T>(rules, config)?;
        let mut report = LoadReport::default();
        // Taken out as they are kept (removing from a vector would move the rest with
        // `memmove`, 1.5 KB on a firmware).
        let mut old: Vec<Option<Held<R>>> = core::mem::take(&mut self.rules)
            .into_iter()
            .zip(core::mem::take(&mut self.states))
            .map(Some)
            .collect();
        // Exactly as many as there are rules: a firmware's heap holds no spare capacity.
        self.rules = Vec::with_capacity(rules.len());
        self.states = Vec::with_capacity(rules.len());
        let old_channels = core::mem::take(&mut self.channels);
        let old_values = core::mem::take(&mut self.values);
        let old_windows = core::mem::take(&mut self.windows);
        let mut old_pool = core::mem::take(&mut self.pool);
        for rule in rules {
            let same = old.iter_mut().find(|o| o.as_ref().is_some_and(|(o, _)| *o.rule == rule));
            let (id, state) = match same.and_then(Option::take) {
                Some((o, state)) => {
                    report.kept += 1;
                    (o.id, state)
                }
                None => {
                    report.started += 1;
                    self.next_id += 1;
                    (self.next_id, None)
                }
            };
            let mut l = Loaded::new(rule, id);
            for (slot, name) in l.rule.channels.iter().enumerate() {
                l.map[slot] = match self.channels.iter().position(|n| n == name) {
                    Some(i) => i,
                    None => {
                        self.channels.push(name.clone());
                        self.channels.len() - 1
                    }
                };
            }
            l.windows = RuleState::<R>::windows_of(&l.rule)
                .map(|(slot, window)| {
                    let spec = (l.map[usize::from(slot)], window);
                    match self.windows.iter().position(|w| *w == spec) {
                        Some(i) => i as u32,
                        None => {
                            self.windows.push(spec);
                            (self.windows.len() - 1) as u32
                        }
                    }
                })
                .collect();
            self.states.push(state);
            self.rules.push(l);
        }
        report.released = old.iter().flatten().count();
        self.device_wide = self.rules.iter().any(|l| l.device_wide);
        // Windows survive by what they are (channel name and window), as in `Engine`.
        self.pool = self
            .windows
            .iter()
            .map(|&(c, window)| {
                let old =
                    old_windows.iter().position(|&(o, w)| w == window && old_channels[o] == self.channels[c]);
                old.and_then(|i| old_pool.get_mut(i)?.take())
            })
            .collect();
        // Rules and windows moved: the next `run_due` finds the deadlines afresh (0: not known).
        self.due = 0;
        self.dues = alloc::vec![super::deadline::UNKNOWN; self.rules.len()];
        // The latest values of the channels still read, found by name.
        self.values = self
            .channels
            .iter()
            .map(|name| {
                old_channels.iter().position(|n| n == name).and_then(|i| old_values.get(i).copied().flatten())
            })
            .collect();
        Ok(report)
    }

    /// Says the device is up at `at` (at boot): rules that watch for silence start watching
    /// now, so a channel that never reports is found silent. As
    /// [`Engine::register`](super::Engine::register).
    pub fn online(&mut self, at: Timestamp) {
        self.heard = self.heard.max(at.0);
        for ((l, state), rule_due) in self.rules.iter().zip(&mut self.states).zip(&mut self.dues) {
            if l.watches_silence && covers(l, self.device, &self.tags) {
                state_for(l, state, &mut self.pool, at.0, None);
                *rule_due = super::deadline::UNKNOWN;
                self.due = self.due.min(at.0);
            }
        }
    }

    /// Processes a reading of the device's channel `channel`, appending what it caused to
    /// `out`. As [`Engine::ingest`](super::Engine::ingest) for this device.
    pub fn ingest(&mut self, channel: &str, at: Timestamp, value: R, out: &mut Vec<Event<R>>) {
        let t = at.0;
        self.stats.readings += 1;
        if !value.is_finite() {
            self.stats.non_finite += 1;
            return;
        }
        let watched = self.channels.iter().position(|n| n == channel);
        self.stats.unread += u64::from(watched.is_none());
        if watched.is_none() && !self.device_wide {
            return;
        }
        if !in_order(watched.and_then(|w| self.values.get(w)), self.open_from, t, &mut self.stats) {
            return;
        }
        // One instant, one step: what was due before this reading is decided first.
        if self.due < t {
            self.run_due(t - 1, out);
        }
        self.open_from = t;
        if let Some(latest) = watched.and_then(|w| self.values.get_mut(w)) {
            *latest = Some((t, value));
        }
        self.heard = self.heard.max(t);
        // The reading enters each window of its channel, then the rules run.
        if let Some(w) = watched {
            for (&(channel, _), samples) in self.windows.iter().zip(&mut self.pool) {
                if let (true, Some(samples)) = (channel == w, samples) {
                    self.stats.window_overflow += u64::from(samples.push(t, value));
                }
            }
        }
        let reading = watched.map(|w| (w, value));
        // The rules reading the channel, then those watching the whole device, in rule order.
        for pass in [true, false] {
            for i in 0..self.rules.len() {
                let l = &self.rules[i];
                let reads = watched.is_some_and(|w| l.map.contains(&w));
                if (pass && !reads)
                    || (!pass && (reads || !l.device_wide))
                    || !covers(l, self.device, &self.tags)
                {
                    continue;
                }
                let state = state_for(l, &mut self.states[i], &mut self.pool, t, reading);
                if pass && l.simple && !transition(l, state, value) {
                    continue;
                }
                let mut ctx = l.ctx(&self.values, self.heard, &mut self.pool);
                step(l, self.device, state, &mut ctx, t, true, out);
                note_deadline(l, state, &mut ctx, t, &mut self.dues[..], i);
            }
        }
        self.due = self.dues[..].earliest();
    }

    /// Moves time to `now`: absence, hold-for durations, cooldowns and time windows take effect
    /// even when no reading arrives. As [`Engine::advance`](super::Engine::advance).
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<Event<R>>) {
        if self.due < now.0 {
            self.run_due(now.0 - 1, out);
        }
        self.open_from = self.open_from.max(now.0);
    }

    /// Decides the deadlines up to and including `until` (see `run_due`).
    fn run_due(&mut self, until: u64, out: &mut Vec<Event<R>>) {
        let view = DeviceView {
            values: &self.values,
            heard: self.heard,
            from: self.open_from,
            states: &mut self.states,
            dues: &mut self.dues[..],
            pool: &mut self.pool,
        };
        self.due = run_due(&self.rules, self.device, view, until, out);
    }

    /// Acknowledges the active alarm of `rule`; returns the acknowledgement transition, or
    /// `None` if that alarm is not active or already acknowledged.
    pub fn acknowledge(&mut self, rule: &str, at: Timestamp) -> Option<Alert> {
        let i = self.rules.iter().position(|l| l.rule.name == rule)?;
        let state = self.states[i].as_mut()?;
        match state.phase {
            Phase::Active { since, acknowledged: false, clearing } => {
                state.phase = Phase::Active { since, acknowledged: true, clearing };
                Some(alert(&self.rules[i], self.device, AlertState::Acknowledged, at.0, None))
            }
            _ => None,
        }
    }

    /// Whether the alarm of `rule` is active.
    pub fn is_active(&self, rule: &str) -> bool {
        self.rules
            .iter()
            .position(|l| l.rule.name == rule)
            .and_then(|i| self.states[i].as_ref())
            .is_some_and(|s| matches!(s.phase, Phase::Active { .. }))
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }
}

/// A loaded rule and its state, held while a reload decides whether it stays.
type Held<R> = (Loaded<R>, Option<RuleState<R>>);

/// Whether `l` covers the device.
fn covers<R>(l: &Loaded<R>, device: DeviceId, tags: &[Tag]) -> bool {
    l.everywhere || in_scope(&l.rule.scope, device, tags)
}

#[cfg(test)]
mod tests;
