//! Listing a fleet: devices a page at a time, filtered by text and by presence, counted by
//! presence, without reading every device's descriptor (what a list of 10,000 or 100,000
//! devices needs).

use telemetra_core::{DeviceStatus, Timestamp};

use super::DeviceRow;

/// Whether a device is there, as people expect a list to say it: **online** while its last
/// status (birth) says so and it was heard recently; **offline** after its goodbye, or once
/// silent; **lost** when its broker published its last will (or the server marked it lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// Heard recently, no goodbye or will since.
    Online,
    /// Said goodbye, or silent too long.
    Offline,
    /// Its last will was published (or the server marked it lost).
    Lost,
}

impl Presence {
    /// Every presence, in the order lists count them.
    pub const ALL: [Presence; 3] = [Presence::Online, Presence::Offline, Presence::Lost];

    /// Its word: `online`, `offline`, `lost`.
    pub fn word(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
            Presence::Lost => "lost",
        }
    }

    /// `row`'s presence, a device heard at or after `heard_since` (now less the silence)
    /// counting as heard recently. The stores' listing decides it the same way in SQL.
    pub fn of(row: &DeviceRow, heard_since: Timestamp) -> Presence {
        match row.status.map(|(s, _)| s) {
            Some(DeviceStatus::Lost) => Presence::Lost,
            Some(DeviceStatus::Offline) => Presence::Offline,
            _ if row.last_seen.is_some_and(|t| t >= heard_since) => Presence::Online,
            _ => Presence::Offline,
        }
    }
}

/// Which devices a [listing](super::Store::device_page) shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceFilter {
    /// Devices whose id (lowercase hex) or model contains this text, ignoring case; every
    /// device when empty.
    pub text: String,
    /// Only the devices with this presence; any when `None`.
    pub presence: Option<Presence>,
    /// Heard at or after this counts as heard recently: now less the silence.
    pub heard_since: Timestamp,
}

impl DeviceFilter {
    /// Every device, judged online if heard at or after `heard_since`.
    pub fn new(heard_since: Timestamp) -> DeviceFilter {
        DeviceFilter { text: String::new(), presence: None, heard_since }
    }

    /// The text searched, lowercase.
    pub(super) fn needle(&self) -> String {
        self.text.trim().to_lowercase()
    }

    /// The presence asked for as its word, or `None`.
    pub(super) fn presence_word(&self) -> Option<&'static str> {
        self.presence.map(Presence::word)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePage {
    /// The page's devices, by id.
    pub rows: Vec<DeviceRow>,
    /// The devices the filter matches, on every page.
    pub matching: u64,
    /// Every device known, whatever the filter, by presence ([`Presence::ALL`]'s order).
    pub counts: [u64; 3],
}

impl DevicePage {
    /// Every device known.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The SQL expression of a `devices` row's presence as its word, `heard_since` being the
/// parameter's placeholder: [`Presence::of`] in SQL, the same in every backend.
pub(super) fn presence_sql(heard_since: &str) -> String {
    format!(
        "CASE WHEN status = 'lost' THEN 'lost' WHEN status = 'offline' THEN 'offline' \
         WHEN last_seen >= {heard_since} THEN 'online' ELSE 'offline' END"
    )
}

/// The presence of a word [`presence_sql`] gives.
pub(super) fn presence_of(word: &str) -> Option<Presence> {
    Presence::ALL.into_iter().find(|p| p.word() == word)
}

#[cfg(test)]
mod tests {
    use telemetra_core::DeviceId;

    use super::*;

    #[test]
    fn presence_follows_birth_will_goodbye_and_silence() {
        let row = |status: Option<DeviceStatus>, seen: u64| DeviceRow {
            device: DeviceId(1),
            status: status.map(|s| (s, Timestamp(0))),
            last_seen: Some(Timestamp(seen)),
            info: None,
        };
        let since = Timestamp(40_000);
        assert_eq!(Presence::of(&row(Some(DeviceStatus::Online), 90_000), since), Presence::Online);
        assert_eq!(Presence::of(&row(Some(DeviceStatus::Online), 30_000), since), Presence::Offline);
        assert_eq!(Presence::of(&row(None, 90_000), since), Presence::Online, "heard, no birth sent");
        assert_eq!(Presence::of(&row(Some(DeviceStatus::Offline), 99_000), since), Presence::Offline);
        assert_eq!(Presence::of(&row(Some(DeviceStatus::Lost), 99_000), since), Presence::Lost);
        assert_eq!(presence_of("lost"), Some(Presence::Lost));
    }
}
