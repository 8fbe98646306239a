//! The rule engine: readings in, alert transitions, commands and derived readings out.
//!
//! Time is injected: readings carry their timestamps, and [`Engine::advance`] moves time on
//! when no reading arrives (absence, hold-for durations, window ends). Nothing reads a clock,
//! so a replay of recorded readings gives the same events every time.
//!
//! # One instant, one step
//!
//! Between readings, a rule's outcome changes only at deadlines known from its state (a `for`
//! or cooldown ends, a `silent` duration is reached, the oldest sample leaves a time window);
//! each is decided exactly at its instant, in time order for each device, and an alert
//! carries that instant. At one instant readings come first: [`Engine::ingest`] of a reading
//! stamped `t` and [`Engine::advance`]`(t)` both decide what was due before `t`, and what is
//! due at `t` waits until time moves past it. A rule is decided at most once per instant by
//! time alone, and not by time at the instant a reading decided it.
//!
//! # Defined outcomes for awkward input
//!
//! | input | outcome |
//! |---|---|
//! | a reading older than the last one of its channel on that device | dropped, counted in `out_of_order` |
//! | a reading stamped before its device's time (a later reading of another channel, or `advance` past it, came first) | dropped, counted in `late` |
//! | a reading with the same timestamp as the last one | dropped, counted in `duplicates` |
//! | NaN or ±infinity as a reading's value | dropped, counted in `non_finite` |
//! | a channel no rule uses, or a device no rule covers | ignored |
//! | a reading from a new device beyond `max_devices` | dropped, counted in `device_limit` |
//! | no reading yet, an empty window, division by zero | the value is NaN (inf for x/0 with x ≠ 0 follows IEEE 754); a comparison with NaN is false |
//! | overflow | IEEE 754: ±infinity, compared as such |
//! | a full window | the oldest sample is dropped, counted in `window_overflow` |

mod deadline;
mod devices;
mod frames;
mod names;
mod node;
mod real;
mod ring;
mod sorted;
mod sqrt;
mod state;
mod timers;
mod window;

use alloc::vec::Vec;

use telemetra_core::rule::MAX_RULE_CHANNELS;
use telemetra_core::{
    Alert, AlertState, ChannelId, CommandAction, Device, DeviceId, Name, Rule, RuleError, Scope, Tag, Text,
    Timestamp, Value,
};

use crate::compact::{Act, CompactRule, IntoCompact};
use deadline::{DeviceView, run_due};
use state::{Ctx, Cursor, Phase, Quick, RuleState, is_true};
use telemetra_core::rule::Window;
use window::Samples;

pub use node::NodeEngine;
pub use real::Real;

/// Limits of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The most devices the engine keeps state for.
    pub max_devices: usize,
    /// The most bytes of rule state, counted as every rule's state size times `max_devices`
    /// (windows shared by several rules are counted for each: an upper bound). A rule set that
    /// would need more is refused when it is loaded.
    pub memory_budget: usize,
}

impl Default for EngineConfig {
    /// 1,000 devices and 64 MiB of rule state.
    fn default() -> Self {
        EngineConfig { max_devices: 1_000, memory_budget: 64 << 20 }
    }
}

/// Why a rule set was refused. The engine keeps the rule set it had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A rule is malformed.
    #[error("rule `{rule}` is malformed: {error}")]
    Invalid {
        /// The rule's name.
        rule: Name,
        /// What is wrong.
        error: RuleError,
    },
    /// Two rules share a name.
    #[error("two rules are named `{0}`")]
    DuplicateName(Name),
    /// The rule set's state would exceed the memory budget.
    #[error("the rule set needs {needed} bytes of state for {devices} devices, over the budget of {budget}")]
    OverBudget {
        /// Bytes needed.
        needed: usize,
        /// Devices counted.
        devices: usize,
        /// The budget.
        budget: usize,
    },
}

/// What a load changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadReport {
    /// Rules unchanged from the previous set: their state (windows, alarms) is kept.
    pub kept: usize,
    /// Rules new or changed: they start from a clean state.
    pub started: usize,
    /// Rules removed or changed: their state was released.
    pub released: usize,
}

/// Something the engine decided. `R` is the engine's number type (see [`Real`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Event<R = f64> {
    /// An alarm was raised, acknowledged or cleared.
    Alert(Alert),
    /// A command to send to a device.
    Command {
        /// The rule that issued it.
        rule: Name,
        /// The device to send it to.
        device: DeviceId,
        /// What to do.
        action: CommandAction,
    },
    /// A derived reading.
    Emit {
        /// The rule that derived it.
        rule: Name,
        /// The device it belongs to.
        device: DeviceId,
        /// The derived channel's name.
        channel: Name,
        /// When.
        at: Timestamp,
        /// Its value.
        value: R,
    },
}

/// Counters of what the engine dropped or noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Readings processed.
    pub readings: u64,
    /// Readings older than the last of their channel.
    pub out_of_order: u64,
    /// Readings with the timestamp of the last of their channel.
    pub duplicates: u64,
    /// Readings whose value was NaN or infinite.
    pub non_finite: u64,
    /// Readings from devices beyond `max_devices`.
    pub device_limit: u64,
    /// Readings of a channel id the device's descriptor does not list.
    pub unknown_channels: u64,
    /// Samples pushed out of full windows.
    pub window_overflow: u64,
    /// Batch messages that did not decode, skipped whole.
    pub bad_batches: u64,
    /// Readings stamped before their device's decided time (a reading of another channel
    /// stamped later, or `advance` past them, came first): dropped.
    pub late: u64,
    /// Readings of a channel no rule reads (a channel name misspelt on either side shows here).
    pub unread: u64,
    /// Readings whose value is not a number (a location, a text state): no rule can use them.
    pub non_numeric: u64,
}

/// A loaded rule: its definition (behind a pointer, read on slow paths) and, inline, what the
/// per-reading path needs, so that a hundred rules stay within a few cache lines each.
struct Loaded<R> {
    id: u32,
    rule: CompactRule,
    /// The scope is every device.
    everywhere: bool,
    hold_ms: u32,
    repeat: u16,
    cooldown_ms: u32,
    /// Bytes of one device's state for this rule.
    state_bytes: usize,
    /// Has operations that change with time alone (absence, time windows, hold-for).
    timed: bool,
    /// Fires on every true evaluation (no `alert` action) instead of raising an alarm.
    event_rule: bool,
    /// Watches the whole device (`silent(d)` without a channel): every reading counts.
    device_wide: bool,
    /// Uses `silent(...)`: its state starts when a device registers.
    watches_silence: bool,
    /// The global channel index (in `Engine::channels`) of each of the rule's channels.
    map: [usize; MAX_RULE_CHANNELS],
    /// The pool index (in `Engine::windows`) of each windowed operation, in operation order.
    windows: Vec<u32>,
    /// What in its conditions changes with time alone (silences, time windows).
    clocks: Vec<deadline::Clock>,
    /// Quick forms of `when` and `clear`, where they have one.
    when_quick: Option<Quick<R>>,
    clear_quick: Option<Quick<R>>,
    /// A plain threshold alarm on one channel (quick `when`, quick or no `clear`, no hold,
    /// repeat, cooldown or windows): a reading that changes nothing is decided inline, and only
    /// a transition takes the general path.
    simple: bool,
}

struct DeviceEntry<R> {
    tags: Vec<Tag>,
    channels: Vec<(ChannelId, Name)>,
    /// The latest `(time, value)` of each watched channel, by its index in `Engine::channels`:
    /// shared by the device's rules, and the reference for out-of-order readings.
    values: Vec<Option<(u64, R)>>,
    /// When the device was last heard from.
    heard: u64,
    /// The state of each rule for this device, by the rule's position (created on demand).
    states: Vec<Option<RuleState<R>>>,
    /// The device's sample windows, by pool index (created when a rule needing one starts).
    pool: Vec<Option<Samples<R>>>,
    /// The earliest instant not decided yet: a reading stamped before it is late.
    open_from: u64,
    /// Each rule's next deadline (see `run_due`).
    dues: Vec<u64>,
    /// No deadline of the device's rules comes before this (a lower bound; exact after
    /// `run_due`).
    due: u64,
}

/// A device's channel, resolved once by [`Engine::handle`]: ingesting by handle skips the
/// device and channel-name lookups of [`Engine::ingest`]. A handle stays valid until the next
/// [`Engine::load`], which may renumber channels; after it [`Engine::ingest_handle`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelHandle {
    slot: u32,
    /// The channel's index in `Engine::watched`, or `u32::MAX` when no rule reads it.
    channel: u32,
    epoch: u32,
}

/// A [`ChannelHandle`] made before the rule set was last loaded: resolve it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the channel handle predates the current rule set; resolve it again with Engine::handle")]
pub struct StaleHandle;

/// The rule engine. See the [module documentation](self).
///
/// It computes in `f64` ([`Engine::new`]); a microcontroller's engine computes in `f32`
/// ([`Engine::<f32>::with_config`](Engine::with_config)) and links no double-precision
/// arithmetic (see [`Real`]).
pub struct Engine<R: Real = f64> {
    config: EngineConfig,
    rules: Vec<Loaded<R>>,
    next_id: u32,
    /// The channel names some rule uses, and their indices.
    channels: names::Names,
    /// By channel index: whether a reading of that channel arrived since the rule set was
    /// loaded.
    heard_channels: Vec<bool>,
    /// By channel index: the rules (position, channel slot) reading that channel.
    watched: Vec<Vec<(usize, u8)>>,
    /// Counts rule-set loads; handles made under another epoch are stale.
    epoch: u32,
    /// The distinct (channel, window) pairs of the rule set: one window each per device,
    /// shared by every rule that aggregates that channel over that window.
    windows: Vec<(Name, Window)>,
    /// By channel index: the pool indices of that channel's windows.
    windows_by_channel: Vec<Vec<u32>>,
    /// Positions of the rules that watch whole devices.
    device_wide: Vec<usize>,
    devices: DeviceMap<R>,
    /// Devices by their next deadline, earliest first: `(deadline, slot)`. An entry whose
    /// deadline is no longer its device's `due` is stale and skipped.
    timers: timers::Timers,
    /// Everything before this instant is decided for every device (the latest `advance`).
    clock: u64,
    stats: EngineStats,
}

type DeviceMap<R> = devices::Devices<DeviceEntry<R>>;

impl<R: Real> core::fmt::Debug for Engine<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .field("devices", &self.devices.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// A rule set compacted and checked: every rule valid, no two with one name, its state
/// within `config`'s memory budget for `config.max_devices` devices.
fn prepare<R: Real, T: IntoCompact>(
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
    /// What this rule's expressions read on a device: its latest `values` and windows (`pool`),
    /// and when it was last `heard` from.
    fn ctx<'a>(
        &'a self,
        values: &'a [Option<(u64, R)>],
        heard: u64,
        pool: &'a mut [Option<Samples<R>>],
    ) -> Ctx<'a, R> {
        Ctx { values, map: &self.map, device_heard: heard, pool, windows: &self.windows }
    }

    /// A rule made ready to run: what the per-reading path needs, worked out once.
    fn new(rule: CompactRule, id: u32) -> Self {
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
            cooldown_ms: rule.cooldown_ms,
            rule,
        }
    }
}

impl Engine {
    /// An engine with no rules, computing in `f64`.
    pub fn new(config: EngineConfig) -> Self {
        Engine::with_config(config)
    }
}

impl<R: Real> Engine<R> {
    /// An engine with no rules, computing in `R`: `Engine::<f32>::with_config(config)` on a
    /// microcontroller.
    pub fn with_config(config: EngineConfig) -> Self {
        Engine {
            config,
            rules: Vec::new(),
            next_id: 0,
            channels: names::Names::default(),
            heard_channels: Vec::new(),
            watched: Vec::new(),
            epoch: 0,
            windows: Vec::new(),
            windows_by_channel: Vec::new(),
            device_wide: Vec::new(),
            devices: DeviceMap::new(),
            timers: timers::Timers::default(),
            clock: 0,
            stats: EngineStats::default(),
        }
    }

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
                .find(|o| o.as_ref().is_some_and(|o| o.rule.name == rule.name && o.rule == rule));
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
        for entry in self.devices.values_mut() {
            let mut previous = core::mem::take(&mut entry.states);
            // Every rule's deadline is found again (0: not known).
            entry.dues = alloc::vec![0; self.rules.len()];
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
        self.windows_by_channel = alloc::vec![Vec::new(); self.channels.len()];
        for l in &mut self.rules {
            l.windows = RuleState::<R>::windows_of(&l.rule)
                .map(|(slot, window)| {
                    let name = &l.rule.channels[usize::from(slot)];
                    match self.windows.iter().position(|(n, w)| n == name && *w == window) {
                        Some(i) => i as u32,
                        None => {
                            self.windows.push((name.clone(), window));
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
        for (slot, entry) in self.devices.values_mut().enumerate() {
            let mut values = alloc::vec![None; self.channels.len()];
            for (name, index) in self.channels.iter() {
                if let Some(old) = old_channels.get(name) {
                    values[index] = entry.values.get(old).copied().flatten();
                }
            }
            entry.values = values;
            // Rules and windows moved: the next `run_due` finds the deadlines afresh.
            entry.due = 0;
            self.timers.schedule(slot as u32, 0);
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

    /// The loaded rules, in the model's form.
    pub fn rules(&self) -> impl Iterator<Item = Rule> + '_ {
        self.rules.iter().map(|l| l.rule.to_rule())
    }

    /// Tells the engine about a device that came online at `at`: its tags (for tag-scoped
    /// rules) and channel names (for [`ingest_reading`](Self::ingest_reading)). Rules that
    /// watch for silence start watching it now, so a device that registers and then never
    /// sends is reported silent too.
    pub fn register(&mut self, device: &Device, at: Timestamp) {
        if !self.devices.contains_key(&device.id) && self.devices.len() >= self.config.max_devices {
            self.stats.device_limit += 1;
            return;
        }
        let (rules, channels, windows) = (self.rules.len(), self.channels.len(), self.windows.len());
        let slot = self.devices.slot_or_insert_with(device.id, || DeviceEntry::new(rules, channels, windows));
        let Some((_, entry)) = self.devices.at_mut(slot) else { return };
        entry.tags = device.tags.iter().cloned().collect();
        entry.channels = device.channels.iter().map(|c| (c.id, c.name.clone())).collect();
        entry.heard = entry.heard.max(at.0);
        let DeviceEntry { tags, states, pool, due, dues, .. } = entry;
        for ((l, state), rule_due) in self.rules.iter().zip(states).zip(dues) {
            if l.watches_silence && (l.everywhere || in_scope(&l.rule.scope, device.id, tags)) {
                state_for(l, state, pool, at.0, None);
                *rule_due = 0;
                // Its silence is due from here: found exactly by the next `run_due`.
                if at.0 < *due {
                    *due = at.0;
                    self.timers.schedule(slot, at.0);
                }
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// The channels some rule reads that no device has reported since the rule set was loaded:
    /// a channel name misspelt in a rule, or a sensor that never reports, shows here (the
    /// readings of channels no rule reads are counted in [`EngineStats::unread`]).
    pub fn unheard_channels(&self) -> impl Iterator<Item = &str> {
        self.channels
            .iter()
            .filter(|(_, i)| !self.heard_channels.get(*i).copied().unwrap_or(false))
            .map(|(n, _)| n.as_str())
    }

    /// Bytes of state per (rule, device), by rule name, and how many devices have state.
    pub fn memory(&self) -> Vec<(Name, usize, usize)> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let devices =
                    self.devices.values().filter(|d| d.states.get(i).is_some_and(Option::is_some)).count();
                (l.rule.name.clone(), l.state_bytes, devices)
            })
            .collect()
    }

    /// Processes a reading of a registered device's channel, by id.
    pub fn ingest_reading(
        &mut self,
        device: DeviceId,
        channel: ChannelId,
        at: Timestamp,
        value: &Value,
        out: &mut Vec<Event<R>>,
    ) {
        let name = self
            .devices
            .get(&device)
            .and_then(|d| d.channels.iter().find(|(id, _)| *id == channel))
            .map(|(_, n)| n.clone());
        match (name, R::from_value(value)) {
            (Some(name), Some(v)) => self.ingest(device, &name, at, v, out),
            (None, _) => self.stats.unknown_channels += 1,
            (Some(_), None) => self.stats.non_numeric += 1,
        }
    }

    /// Processes a reading of channel `channel` of `device`, appending what it caused to `out`.
    pub fn ingest(
        &mut self,
        device: DeviceId,
        channel: &str,
        at: Timestamp,
        value: R,
        out: &mut Vec<Event<R>>,
    ) {
        let watched = self.channels.get(channel);
        if !value.is_finite() || (watched.is_none() && self.device_wide.is_empty()) {
            self.stats.readings += 1;
            self.stats.non_finite += u64::from(!value.is_finite());
            self.stats.unread += u64::from(value.is_finite());
            return;
        }
        match self.slot(device) {
            Some(slot) => self.ingest_at(slot, watched, at.0, value, out),
            None => self.stats.readings += 1,
        }
    }

    /// Resolves `channel` of `device` once, for [`Engine::ingest_handle`]. `None` when the
    /// device is new and the engine already holds `max_devices` (counted in `device_limit`).
    pub fn handle(&mut self, device: DeviceId, channel: &str) -> Option<ChannelHandle> {
        let channel = self.channels.get(channel).map_or(u32::MAX, |i| i as u32);
        // A channel nothing reads needs no device state, as with `ingest`.
        let slot =
            if channel == u32::MAX && self.device_wide.is_empty() { u32::MAX } else { self.slot(device)? };
        Some(ChannelHandle { slot, channel, epoch: self.epoch })
    }

    /// Processes a reading through a handle: the same outcome as [`Engine::ingest`] with the
    /// device and channel the handle names, without looking either up.
    #[inline]
    pub fn ingest_handle(
        &mut self,
        handle: ChannelHandle,
        at: Timestamp,
        value: R,
        out: &mut Vec<Event<R>>,
    ) -> Result<(), StaleHandle> {
        if handle.epoch != self.epoch {
            return Err(StaleHandle);
        }
        if handle.slot == u32::MAX {
            self.stats.readings += 1;
            self.stats.non_finite += u64::from(!value.is_finite());
            self.stats.unread += u64::from(value.is_finite());
            return Ok(());
        }
        let watched = (handle.channel != u32::MAX).then_some(handle.channel as usize);
        self.ingest_at(handle.slot, watched, at.0, value, out);
        Ok(())
    }

    /// The slot of `device`, created if there is room (a full engine counts the refusal).
    fn slot(&mut self, device: DeviceId) -> Option<u32> {
        if let Some(slot) = self.devices.slot(&device) {
            return Some(slot);
        }
        if self.devices.len() >= self.config.max_devices {
            self.stats.device_limit += 1;
            return None;
        }
        let (rules, channels, windows) = (self.rules.len(), self.channels.len(), self.windows.len());
        Some(self.devices.slot_or_insert_with(device, || DeviceEntry::new(rules, channels, windows)))
    }

    // Inlined into both callers: the call and its register spills were ~5 % of a reading.
    #[inline(always)]
    fn ingest_at(&mut self, slot: u32, watched: Option<usize>, t: u64, value: R, out: &mut Vec<Event<R>>) {
        self.stats.readings += 1;
        if !value.is_finite() {
            self.stats.non_finite += 1;
            return;
        }
        // Read by the rules watching the whole device only.
        self.stats.unread += u64::from(watched.is_none());
        if let Some(w) = watched {
            self.heard_channels[w] = true;
        }
        let Some((device, entry)) = self.devices.at_mut(slot) else { return };
        // Everything before the engine's clock is decided for every device.
        let decided = entry.open_from.max(self.clock);
        if !in_order(watched.and_then(|w| entry.values.get(w)), decided, t, &mut self.stats) {
            return;
        }
        // One instant, one step: what was due before this reading is decided first.
        if entry.due < t {
            entry.due = run_due(&self.rules, device, entry.view(decided), t - 1, out);
            self.timers.schedule(slot, entry.due);
        }
        entry.open_from = t;
        let due_before = entry.due;
        if let Some(latest) = watched.and_then(|w| entry.values.get_mut(w)) {
            *latest = Some((t, value));
        }
        entry.heard = entry.heard.max(t);
        let DeviceEntry { tags, states, values, heard, pool, due, dues, .. } = entry;
        // The reading enters each of its channel's windows once, whatever the rules sharing them.
        if let Some(w) = watched
            && !self.windows.is_empty()
        {
            let mut overflow = 0u64;
            for &p in &self.windows_by_channel[w] {
                if let Some(samples) = &mut pool[p as usize] {
                    overflow += u64::from(samples.push(t, value));
                }
            }
            self.stats.window_overflow += overflow;
        }
        let reading = watched.map(|w| (w, value));
        let by_channel = watched.and_then(|w| self.watched.get(w)).map_or(&[][..], |w| &w[..]);
        for &(i, _) in by_channel {
            let (Some(l), Some(state)) = (self.rules.get(i), states.get_mut(i)) else { continue };
            if !l.everywhere && !in_scope(&l.rule.scope, device, tags) {
                continue;
            }
            let state = match state {
                Some(state) => state,
                None => state_for(l, state, pool, t, reading),
            };
            if l.simple && !transition(l, state, value) {
                continue;
            }
            let mut ctx = l.ctx(values, *heard, pool);
            step(l, device, state, &mut ctx, t, true, out);
            note_deadline(l, state, &mut ctx, t, &mut dues[i]);
        }
        for &i in &self.device_wide {
            let l = &self.rules[i];
            if by_channel.iter().any(|(r, _)| *r == i) || !in_scope(&l.rule.scope, device, tags) {
                continue;
            }
            let state = state_for(l, &mut states[i], pool, t, reading);
            let mut ctx = l.ctx(values, *heard, pool);
            step(l, device, state, &mut ctx, t, true, out);
            note_deadline(l, state, &mut ctx, t, &mut dues[i]);
        }
        // The device's next deadline, exactly (rules stepped here may have moved theirs later).
        *due = deadline::earliest(dues);
        if *due != due_before {
            self.timers.schedule(slot, *due);
        }
    }

    /// Moves time to `now`: absence, hold-for durations, cooldowns and time windows take effect
    /// without a reading, each at the instant it was due (in time order for each device; an
    /// alert carries that instant). What is due before `now` is decided; what is due at `now`
    /// itself waits until time moves past it, since readings stamped `now` come first (see
    /// "One instant, one step" in the [module documentation](self)). A reading stamped before
    /// `now` is late after this: dropped and counted. A server that advances with its wall
    /// clock passes the clock minus the delay it allows readings to arrive in.
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<Event<R>>) {
        // Only the devices with something due: earliest first, so events come in time order.
        while let Some((at, slot)) = self.timers.pop_before(now.0) {
            let Some((device, entry)) = self.devices.at_mut(slot) else { continue };
            if entry.due != at {
                continue; // stale: the device's deadline moved since
            }
            // This device's deadlines at that instant only: the queue interleaves the devices.
            let decided = entry.open_from.max(self.clock);
            entry.due = run_due(&self.rules, device, entry.view(decided), at, out);
            entry.open_from = decided.max(at + 1);
            self.timers.schedule(slot, entry.due);
        }
        self.clock = self.clock.max(now.0);
    }

    /// No deadline of any device comes before this instant (`None`: nothing is due until a
    /// reading arrives). A driver that sleeps until just after it and then calls
    /// [`advance`](Self::advance) decides every deadline on time; it may be early (a deadline
    /// can move later), never late.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        let devices = &self.devices;
        self.timers.first_valid(|slot, at| devices.at(slot).is_some_and(|e| e.due == at)).map(Timestamp)
    }

    /// Acknowledges the active alarm of `rule` on `device`; returns the acknowledgement
    /// transition, or `None` if that alarm is not active or already acknowledged.
    pub fn acknowledge(&mut self, rule: &str, device: DeviceId, at: Timestamp) -> Option<Alert> {
        let i = self.rules.iter().position(|l| l.rule.name == rule)?;
        let l = &self.rules[i];
        let state = self.devices.get_mut(&device)?.states.get_mut(i)?.as_mut()?;
        match state.phase {
            Phase::Active { since, acknowledged: false } => {
                state.phase = Phase::Active { since, acknowledged: true };
                Some(alert(l, device, AlertState::Acknowledged, at.0, None))
            }
            _ => None,
        }
    }

    /// Devices with an active alarm of `rule`.
    pub fn active(&self, rule: &str) -> Vec<DeviceId> {
        let Some(i) = self.rules.iter().position(|l| l.rule.name == rule) else { return Vec::new() };
        self.devices
            .iter()
            .filter(|(_, e)| {
                e.states
                    .get(i)
                    .is_some_and(|s| matches!(s, Some(s) if matches!(s.phase, Phase::Active { .. })))
            })
            .map(|(d, _)| d)
            .collect()
    }
}

impl<R: Real> DeviceEntry<R> {
    /// What deciding the device's deadlines reads and changes; everything before `decided` is
    /// decided.
    fn view(&mut self, decided: u64) -> DeviceView<'_, R> {
        DeviceView {
            values: &self.values,
            heard: self.heard,
            from: decided,
            states: &mut self.states,
            dues: &mut self.dues,
            pool: &mut self.pool,
        }
    }

    fn new(rules: usize, channels: usize, windows: usize) -> Self {
        DeviceEntry {
            tags: Vec::new(),
            channels: Vec::new(),
            values: alloc::vec![None; channels],
            heard: 0,
            states: (0..rules).map(|_| None).collect(),
            pool: (0..windows).map(|_| None).collect(),
            open_from: 0,
            dues: alloc::vec![u64::MAX; rules],
            due: u64::MAX,
        }
    }
}

/// Whether a reading stamped `t` is taken: not before its device's undecided time
/// (`open_from`), not older than the latest of its channel, not at its time (each dropped and
/// counted, as the module documentation says).
fn in_order<R>(latest: Option<&Option<(u64, R)>>, open_from: u64, t: u64, stats: &mut EngineStats) -> bool {
    match latest {
        Some(Some((last, _))) if t < *last => stats.out_of_order += 1,
        Some(Some((last, _))) if t == *last => stats.duplicates += 1,
        _ if t < open_from => stats.late += 1,
        _ => return true,
    }
    false
}

/// Keeps a rule's next deadline (from `from` on) after it was decided.
fn note_deadline<R: Real>(
    l: &Loaded<R>,
    state: &RuleState<R>,
    ctx: &mut Ctx<'_, R>,
    from: u64,
    rule_due: &mut u64,
) {
    if l.timed {
        *rule_due = deadline::next_deadline(l, state, ctx, from).unwrap_or(u64::MAX);
    }
}

fn in_scope(scope: &Scope, device: DeviceId, tags: &[Tag]) -> bool {
    match scope {
        Scope::All => true,
        Scope::Device(d) => *d == device,
        Scope::Tagged(t) => tags.contains(t),
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

fn alert<R: Real>(l: &Loaded<R>, device: DeviceId, state: AlertState, at: u64, value: Option<R>) -> Alert {
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
fn state_for<'s, R: Real>(
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
fn transition<R: Real>(l: &Loaded<R>, state: &RuleState<R>, value: R) -> bool {
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
fn step<R: Real>(
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
            let holds = match l.when_quick {
                Some(q) => {
                    let (holds, value) = state.quick(ctx, q, now);
                    cursor.crossing = Some(value);
                    holds
                }
                None => is_true(state.eval(ctx, &rule.when, now, &mut cursor)),
            };
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
                _ => Phase::Active { since: now, acknowledged: false },
            };
        }
        // An event rule fires again on each reading while its condition holds, but not on a
        // mere passing of time (a silence fires once, not on every `advance`).
        Phase::Active { .. } if l.event_rule => {
            let holds = match l.when_quick {
                Some(q) => {
                    let (holds, value) = state.quick(ctx, q, now);
                    cursor.crossing = Some(value);
                    holds
                }
                None => is_true(state.eval(ctx, &rule.when, now, &mut cursor)),
            };
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
            if cleared {
                out.push(Event::Alert(alert(l, device, AlertState::Cleared, now, None)));
                state.phase = next_after_clear(l.cooldown_ms, now);
            }
        }
    }
}

fn next_after_clear(cooldown_ms: u32, now: u64) -> Phase {
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

#[cfg(test)]
mod tests;
