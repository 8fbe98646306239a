//! How values are kept in a database, the same in every backend: enums as short words (a
//! query or a person reading the table sees `raised`, not 0) and core's values as postcard.

use serde::Serialize;
use serde::de::DeserializeOwned;
use telemetra_core::{AlertState, DeviceStatus, Severity};

use super::StoreError;

/// A value as stored: postcard.
pub(super) fn blob<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored value back.
pub(super) fn unblob<T: DeserializeOwned>(b: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(b)
}

/// A word stored for an enum, read back.
fn word_of<T: Copy>(all: &[T], text: fn(T) -> &'static str, s: &str) -> Option<T> {
    all.iter().copied().find(|v| text(*v) == s)
}

pub(super) fn status_text(s: DeviceStatus) -> &'static str {
    match s {
        DeviceStatus::Online => "online",
        DeviceStatus::Offline => "offline",
        DeviceStatus::Lost => "lost",
    }
}

pub(super) fn status_of(s: &str) -> Option<DeviceStatus> {
    word_of(&[DeviceStatus::Online, DeviceStatus::Offline, DeviceStatus::Lost], status_text, s)
}

pub(crate) fn state_text(s: AlertState) -> &'static str {
    match s {
        AlertState::Raised => "raised",
        AlertState::Acknowledged => "acknowledged",
        AlertState::Cleared => "cleared",
    }
}

pub(super) fn state_of(s: &str) -> Option<AlertState> {
    word_of(&[AlertState::Raised, AlertState::Acknowledged, AlertState::Cleared], state_text, s)
}

pub(crate) fn severity_text(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Minor => "minor",
        Severity::Major => "major",
        Severity::Critical => "critical",
    }
}

pub(super) fn severity_of(s: &str) -> Option<Severity> {
    word_of(
        &[Severity::Info, Severity::Warning, Severity::Minor, Severity::Major, Severity::Critical],
        severity_text,
        s,
    )
}

/// The width of each of at most `points` buckets over `from..to` (at least 1 ms; at most what
/// a database's signed 64-bit integer holds).
pub(super) fn bucket_width(from: u64, to: u64, points: u32) -> u64 {
    let span = to.saturating_sub(from).max(1);
    span.div_ceil(u64::from(points.max(1))).min(i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back() {
        for s in [DeviceStatus::Online, DeviceStatus::Offline, DeviceStatus::Lost] {
            assert_eq!(status_of(status_text(s)), Some(s));
        }
        for s in [AlertState::Raised, AlertState::Acknowledged, AlertState::Cleared] {
            assert_eq!(state_of(state_text(s)), Some(s));
        }
        for s in [Severity::Info, Severity::Warning, Severity::Minor, Severity::Major, Severity::Critical] {
            assert_eq!(severity_of(severity_text(s)), Some(s));
        }
        assert_eq!(status_of("gone"), None);
    }

    #[test]
    fn buckets_cover_the_range_in_at_most_the_points_asked() {
        assert_eq!(bucket_width(0, 1_000_000, 10), 100_000);
        assert_eq!(bucket_width(0, 1001, 10), 101);
        assert_eq!(bucket_width(5, 5, 10), 1);
        assert_eq!(bucket_width(0, u64::MAX, 0), i64::MAX as u64);
    }
}
