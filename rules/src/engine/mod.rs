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

mod compile;
mod deadline;
mod devices;
mod dues;
mod frames;
mod lifecycle;
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
    Alert, AlertState, ChannelId, CommandAction, Device, DeviceId, Name, Rule, RuleError, Scope, Tag,
    Timestamp, Value,
};

use crate::compact::CompactRule;
use compile::prepare;
use deadline::{DeviceView, run_due};
use dues::Dues;
use lifecycle::{alert, state_for, step, transition};
use state::{Ctx, Phase, Quick, RuleState};
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

/// A time window that dropped samples still inside its span (see
/// [`Engine::truncated_windows`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedWindow {
    /// The rules reading the window.
    pub rules: Vec<Name>,
    /// The channel it is over.
    pub channel: Name,
    /// Its span and capacity.
    pub window: Window,
    /// Samples dropped while inside the span, over every device.
    pub dropped: u64,
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
    /// Samples a time window had to drop while they were still inside its span: the window
    /// answered over fewer samples than its span held (see [`Engine::truncated_windows`] for
    /// which, and bound it with `max N` or by the channel's declared period). A count window
    /// dropping its oldest sample is not counted.
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
    /// The definition, behind a pointer: the per-reading path reads the fields below.
    rule: alloc::boxed::Box<CompactRule>,
    /// The scope is every device.
    everywhere: bool,
    hold_ms: u32,
    repeat: u16,
    /// How many readings in a row must meet the clearing condition (0 or 1: one).
    clear_repeat: u16,
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
    dues: dues::Blocked,
    /// No deadline of the device's rules comes before this (a lower bound; exact after
    /// `run_due`).
    due: u64,
    /// The instant the device is queued at in `Engine::timers` (no later than `due`;
    /// `u64::MAX`: not queued).
    queued: u64,
}

/// A device's channel, resolved once by [`Engine::handle`]: ingesting by handle skips the
/// device and channel-name lookups of [`Engine::ingest`]. A handle stays valid until the next
/// [`Engine::load`] (which may renumber channels) or until its device is forgotten; after
/// either, [`Engine::ingest_handle`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelHandle {
    slot: u32,
    /// The slot's generation when the handle was made (a forgotten device's slot is reused).
    generation: u32,
    /// The channel's index in `Engine::watched`, or `u32::MAX` when no rule reads it.
    channel: u32,
    epoch: u32,
}

/// A [`ChannelHandle`] made before the rule set was last loaded, or for a device forgotten
/// since: resolve it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the channel handle predates the current rule set or its device was forgotten; resolve it again with Engine::handle"
)]
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
    /// By pool index: samples dropped from that time window while still inside its span.
    truncated: Vec<u64>,
    /// Some rule depends on time (devices then keep their rules' deadlines).
    timed: bool,
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
            truncated: Vec::new(),
            timed: false,
            device_wide: Vec::new(),
            devices: DeviceMap::new(),
            timers: timers::Timers::default(),
            clock: 0,
            stats: EngineStats::default(),
        }
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
        let (rules, channels, windows, timed) =
            (self.rules.len(), self.channels.len(), self.windows.len(), self.timed);
        let slot =
            self.devices.slot_or_insert_with(device.id, || DeviceEntry::new(rules, channels, windows, timed));
        let Some((_, entry)) = self.devices.at_mut(slot) else { return };
        entry.tags = device.tags.iter().cloned().collect();
        entry.channels = device.channels.iter().map(|c| (c.id, c.name.clone())).collect();
        entry.heard = entry.heard.max(at.0);
        let DeviceEntry { tags, states, pool, due, dues, queued, .. } = entry;
        for (i, (l, state)) in self.rules.iter().zip(states).enumerate() {
            if l.watches_silence && (l.everywhere || in_scope(&l.rule.scope, device.id, tags)) {
                state_for(l, state, pool, at.0, None);
                dues.set_due(i, deadline::UNKNOWN);
                // Its silence is due from here: found exactly by the next `run_due`.
                if at.0 < *due {
                    *due = at.0;
                    self.timers.schedule(slot, at.0, queued);
                }
            }
        }
    }

    /// Forgets `device`: its rule states, windows and latest values are released (an active
    /// alarm of it goes without a `Cleared`), its handles go stale, and its place goes to the
    /// next new device. Returns whether the engine knew it. A device that comes back is new.
    pub fn forget(&mut self, device: DeviceId) -> bool {
        // Its queued deadlines are found stale when they come up (the slot is empty or holds
        // another device, whose own deadline is another).
        self.devices.remove(&device).is_some()
    }

    /// Forgets every device not heard from (no reading, no registration) since `before`, and
    /// returns them: how a server returns the memory of devices gone for good, so that the
    /// device table (`max_devices`) never locks new ones out. Their absence alarms, if any, go
    /// with them; a server that keeps showing those clears them itself.
    pub fn evict_silent(&mut self, before: Timestamp) -> Vec<DeviceId> {
        let gone: Vec<DeviceId> =
            self.devices.iter().filter(|(_, e)| e.heard < before.0).map(|(d, _)| d).collect();
        for device in &gone {
            self.devices.remove(device);
        }
        gone
    }

    /// How many devices the engine holds state for.
    pub fn devices(&self) -> usize {
        self.devices.len()
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

    /// The time windows that dropped samples still inside their span since the rule set was
    /// loaded, with the rules reading them: each answered over fewer samples than it was
    /// written for (a window sized for 1-minute data fed every 10 seconds, say).
    pub fn truncated_windows(&self) -> Vec<TruncatedWindow> {
        self.windows
            .iter()
            .zip(&self.truncated)
            .enumerate()
            .filter(|(_, (_, dropped))| **dropped > 0)
            .map(|(p, ((channel, window), &dropped))| TruncatedWindow {
                rules: self
                    .rules
                    .iter()
                    .filter(|l| l.windows.contains(&(p as u32)))
                    .map(|l| l.rule.name.clone())
                    .collect(),
                channel: channel.clone(),
                window: *window,
                dropped,
            })
            .collect()
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
        Some(ChannelHandle { slot, generation: self.devices.generation(slot), channel, epoch: self.epoch })
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
        if handle.epoch != self.epoch
            || (handle.slot != u32::MAX && self.devices.generation(handle.slot) != handle.generation)
        {
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
        let (rules, channels, windows, timed) =
            (self.rules.len(), self.channels.len(), self.windows.len(), self.timed);
        Some(self.devices.slot_or_insert_with(device, || DeviceEntry::new(rules, channels, windows, timed)))
    }

    // Inlined into both callers: the call and its register spills were ~5 % of a reading.
    #[inline(always)]
    fn ingest_at(&mut self, slot: u32, watched: Option<usize>, t: u64, value: R, out: &mut Vec<Event<R>>) {
        self.stats.readings += 1;
        if !value.is_finite() {
            self.stats.non_finite += 1;
            return;
        }
        if watched.is_none() {
            // Read by the rules watching the whole device only.
            self.stats.unread += 1;
        }
        if let Some(heard) = watched.and_then(|w| self.heard_channels.get_mut(w))
            && !*heard
        {
            *heard = true;
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
            self.timers.schedule(slot, entry.due, &mut entry.queued);
        }
        entry.open_from = t;
        let (due_before, mut timed) = (entry.due, false);
        if let Some(latest) = watched.and_then(|w| entry.values.get_mut(w)) {
            *latest = Some((t, value));
        }
        entry.heard = entry.heard.max(t);
        let DeviceEntry { tags, states, values, heard, pool, due, dues, queued, .. } = entry;
        // The reading enters each of its channel's windows once, whatever the rules sharing them.
        if let Some(w) = watched
            && !self.windows.is_empty()
        {
            for &p in &self.windows_by_channel[w] {
                if let Some(samples) = &mut pool[p as usize]
                    && samples.push(t, value)
                {
                    self.stats.window_overflow += 1;
                    self.truncated[p as usize] += 1;
                }
            }
        }
        let reading = watched.map(|w| (w, value));
        let by_channel = watched.and_then(|w| self.watched.get(w)).map_or(&[][..], |w| &w[..]);
        if self.timed {
            prefetch(states, dues, by_channel);
        }
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
            note_deadline(l, state, &mut ctx, t, dues, i);
            timed |= l.timed;
        }
        for &i in &self.device_wide {
            let l = &self.rules[i];
            if by_channel.iter().any(|(r, _)| *r == i) || !in_scope(&l.rule.scope, device, tags) {
                continue;
            }
            let state = state_for(l, &mut states[i], pool, t, reading);
            let mut ctx = l.ctx(values, *heard, pool);
            step(l, device, state, &mut ctx, t, true, out);
            note_deadline(l, state, &mut ctx, t, dues, i);
            timed |= l.timed;
        }
        // The device's next deadline, exactly (rules stepped here may have moved theirs later).
        if timed {
            *due = dues.earliest();
            if *due != due_before {
                self.timers.schedule(slot, *due, queued);
            }
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
            if entry.queued != at {
                continue; // stale: the device was queued again, earlier, since
            }
            entry.queued = u64::MAX;
            // Due then (else its deadline moved later since it was queued: queued again below).
            if entry.due <= at {
                // This device's deadlines at that instant only: the queue interleaves the devices.
                let decided = entry.open_from.max(self.clock);
                entry.due = run_due(&self.rules, device, entry.view(decided), at, out);
                entry.open_from = decided.max(at + 1);
            }
            self.timers.schedule(slot, entry.due, &mut entry.queued);
        }
        self.clock = self.clock.max(now.0);
    }

    /// No deadline of any device comes before this instant (`None`: nothing is due until a
    /// reading arrives). A driver that sleeps until just after it and then calls
    /// [`advance`](Self::advance) decides every deadline on time; it may be early (a deadline
    /// can move later), never late.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        let devices = &self.devices;
        self.timers.first_valid(|slot, at| devices.at(slot).is_some_and(|e| e.queued == at)).map(Timestamp)
    }

    /// Acknowledges the active alarm of `rule` on `device`; returns the acknowledgement
    /// transition (stamped `at`, or the raise's time if `at` is earlier: a caller on another
    /// clock than the readings'), or `None` if that alarm is not active or already
    /// acknowledged.
    pub fn acknowledge(&mut self, rule: &str, device: DeviceId, at: Timestamp) -> Option<Alert> {
        let i = self.rules.iter().position(|l| l.rule.name == rule)?;
        let l = &self.rules[i];
        let state = self.devices.get_mut(&device)?.states.get_mut(i)?.as_mut()?;
        match state.phase {
            Phase::Active { since, acknowledged: false, clearing } => {
                state.phase = Phase::Active { since, acknowledged: true, clearing };
                // Not before the raise it answers, whatever the caller's clock says.
                Some(alert(l, device, AlertState::Acknowledged, at.0.max(since), None))
            }
            _ => None,
        }
    }

    /// Clears the active alarm of `rule` on `device` by an operator's decision (the condition
    /// may still hold); returns the clearing transition, or `None` if that alarm is not active.
    /// The rule's cooldown starts, as at a clear the rule decides; after it, a condition that
    /// still holds raises the alarm again (a `for` duration counted from then).
    pub fn clear(&mut self, rule: &str, device: DeviceId, at: Timestamp) -> Option<Alert> {
        let i = self.rules.iter().position(|l| l.rule.name == rule)?;
        let l = &self.rules[i];
        let state = self.devices.get_mut(&device)?.states.get_mut(i)?.as_mut()?;
        match state.phase {
            Phase::Active { since, .. } => {
                let at = at.0.max(since);
                state.phase = lifecycle::next_after_clear(l.cooldown_ms, at);
                Some(alert(l, device, AlertState::Cleared, at, None))
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
    fn view(&mut self, decided: u64) -> DeviceView<'_, R, dues::Blocked> {
        DeviceView {
            values: &self.values,
            heard: self.heard,
            from: decided,
            states: &mut self.states,
            dues: &mut self.dues,
            pool: &mut self.pool,
        }
    }

    /// A device's entry; `timed`: some rule depends on time (else no deadlines are kept).
    fn new(rules: usize, channels: usize, windows: usize, timed: bool) -> Self {
        DeviceEntry {
            tags: Vec::new(),
            channels: Vec::new(),
            values: alloc::vec![None; channels],
            heard: 0,
            states: (0..rules).map(|_| None).collect(),
            pool: (0..windows).map(|_| None).collect(),
            open_from: 0,
            dues: dues::Blocked::filled(if timed { rules } else { 0 }, u64::MAX),
            due: u64::MAX,
            queued: u64::MAX,
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

/// Starts loading the states and deadlines of the rules a reading is about to decide (`rules`,
/// by position), one load per cache line. In a large fleet a device's memory is cold; asked
/// for together, the cache misses overlap instead of coming one after another as the rules are
/// decided (the `timers` benchmark, 10,000 devices: 1.67 M to 1.9 M readings/s by name). Only
/// for rule sets that depend on time: without deadlines a reading touches only the states, and
/// the extra pass cost more than it saved (100 threshold rules on one device: 3.8 M to 2.2 M
/// readings/s with it).
#[inline(always)]
fn prefetch<R>(states: &[Option<RuleState<R>>], dues: &dues::Blocked, rules: &[(usize, u8)]) {
    let per_line = (64 / core::mem::size_of::<Option<RuleState<R>>>()).max(1);
    let mut last = usize::MAX;
    for &(i, _) in rules {
        if i / per_line != last {
            last = i / per_line;
            core::hint::black_box((dues.lines_of(i), states.get(i).map(Option::is_some)));
        }
    }
}

/// Keeps a rule's next deadline (from `from` on) after it was decided.
fn note_deadline<R: Real, D: Dues + ?Sized>(
    l: &Loaded<R>,
    state: &RuleState<R>,
    ctx: &mut Ctx<'_, R>,
    from: u64,
    dues: &mut D,
    i: usize,
) {
    if l.timed {
        dues.set_due(i, deadline::next_deadline(l, state, ctx, from).unwrap_or(u64::MAX));
    }
}

fn in_scope(scope: &Scope, device: DeviceId, tags: &[Tag]) -> bool {
    match scope {
        Scope::All => true,
        Scope::Device(d) => *d == device,
        Scope::Tagged(t) => tags.contains(t),
    }
}

#[cfg(test)]
mod tests;
