//! What a store answers with.

use telemetra_core::{
    AlertState, ChannelId, Command, CommandAck, Device, DeviceId, DeviceStatus, Quality, Severity, Timestamp,
    Value,
};

/// What a [`put`](super::Store::put) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// For each frame given, in order: whether it was new (false: a duplicate, skipped).
    pub fresh: Vec<bool>,
    /// Frames stored.
    pub frames: u64,
    /// Frames skipped: their `(device, sequence)` was stored before.
    pub duplicates: u64,
    /// Readings stored (from readings and batch messages).
    pub readings: u64,
}

/// A device as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    /// The device.
    pub device: DeviceId,
    /// Its status, and since when; `None` before any status was seen.
    pub status: Option<(DeviceStatus, Timestamp)>,
    /// When any frame of it last arrived.
    pub last_seen: Option<Timestamp>,
    /// Its descriptor, once it sent one.
    pub info: Option<Device>,
}

/// The latest value of one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// The channel.
    pub channel: ChannelId,
    /// When it was measured.
    pub at: Timestamp,
    /// The value.
    pub value: Value,
    /// Its quality.
    pub quality: Quality,
}

/// One bucket of a downsampled series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The first reading's timestamp in the bucket.
    pub at: Timestamp,
    /// The mean.
    pub mean: f64,
    /// The minimum.
    pub min: f64,
    /// The maximum.
    pub max: f64,
    /// How many readings.
    pub count: u64,
}

/// A stored alert transition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// The device.
    pub device: DeviceId,
    /// The rule's name.
    pub rule: String,
    /// The transition.
    pub state: AlertState,
    /// Its severity.
    pub severity: Severity,
    /// The channel, if the rule names one.
    pub channel: Option<ChannelId>,
    /// The value that caused it.
    pub value: Option<Value>,
    /// When.
    pub at: Timestamp,
    /// The rule's message.
    pub message: String,
}

/// A command decided, when it was sent, and its acknowledgement once it came.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRow {
    /// The device.
    pub device: DeviceId,
    /// The command.
    pub command: Command,
    /// When the transport took it; `None` while it is pending.
    pub sent_at: Option<Timestamp>,
    /// The device's acknowledgement.
    pub ack: Option<CommandAck>,
}
