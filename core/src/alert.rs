//! Alerts raised and cleared by rules.

use serde::{Deserialize, Serialize};

use crate::{ChannelId, DeviceId, Name, Text, Timestamp, Value};

/// How serious an alert is, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Severity {
    /// For information; no action needed.
    Info,
    /// Something to look at.
    Warning,
    /// A problem with limited impact.
    Minor,
    /// A problem that needs action soon.
    Major,
    /// A problem that needs action now.
    Critical,
}

impl Severity {
    /// Every severity, least to most.
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Warning, Severity::Minor, Severity::Major, Severity::Critical];

    /// Its lowercase name (`critical`), as rule text and JSON write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AlertState {
    /// The condition holds: the alert is active.
    Raised,
    /// An operator has seen the active alert.
    Acknowledged,
    /// The condition (or its clear condition) no longer holds.
    Cleared,
}

/// A transition of an alarm: one rule, one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Alert {
    /// The rule that produced it.
    pub rule: Name,
    /// The device it concerns.
    pub device: DeviceId,
    /// The new state.
    pub state: AlertState,
    /// How serious it is.
    pub severity: Severity,
    /// The channel whose value triggered it, if one did.
    pub channel: Option<ChannelId>,
    /// The value that triggered it, if any.
    pub value: Option<Value>,
    /// When the transition happened.
    pub at: Timestamp,
    /// A message for people (at most 48 bytes).
    pub message: Text,
}
