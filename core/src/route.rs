//! The route scheme: where each kind of message goes.
//!
//! Every transport addresses messages the same way: a [`Route`] is a kind of message and the
//! device it concerns. On MQTT the route is the topic `tm/v1/{device}/{kind}`; on CoAP the path
//! `/tm/v1/{device}/{kind}`; on a serial link it is implied by the frame itself.
//!
//! | kind       | topic                    | direction         | notes                                  |
//! |------------|--------------------------|-------------------|----------------------------------------|
//! | `readings` | `tm/v1/{device}/readings`| device → server   | readings and heartbeats                |
//! | `info`     | `tm/v1/{device}/info`    | device → server   | the device descriptor, retained        |
//! | `status`   | `tm/v1/{device}/status`  | device → server   | retained; online, offline or lost (the MQTT last will) |
//! | `alerts`   | `tm/v1/{device}/alerts`  | either            | alert transitions                      |
//! | `commands` | `tm/v1/{device}/commands`| server → device   | commands                               |
//! | `acks`     | `tm/v1/{device}/acks`    | device → server   | command acknowledgements               |
//! | `rules`    | `tm/v1/{device}/rules`   | server → device   | rule set pushed to the edge            |
//!
//! Provisioning has routes of its own, named by a single-use claim rather than a device (the
//! device has no identity yet): `tm/v1/claims/{claim}/request` (device → provisioning service)
//! and `tm/v1/claims/{claim}/response` (service → device); see [`claim_topic`]. They carry the
//! provisioning messages of `telemetra_codec::provision`, not frames. Firmware updates have
//! four routes per device, `tm/v1/{device}/firmware/{offer,get,chunk,status}` (see
//! [`firmware_topic`]), carrying `telemetra_update::transfer`'s messages.
//!
//! Every route carries encoded frames (telemetra-codec), the status route included, so every
//! route decodes the same way over every transport. Which kind of message travels on which
//! route is the codec's knowledge (`Message::route_kind`); the topic text is this module's.
//! A *retained* route ([`RouteKind::is_retained`]) carries the device's current state: a
//! broker keeps its last message for subscribers that come later.
//!
//! `{device}` is the [`DeviceId`] text form (lowercase hex). A server subscribes to
//! `tm/v1/+/readings`; a device to `tm/v1/{own id}/commands`.
//!
//! ```
//! use telemetra_core::{DeviceId, Route, RouteKind};
//! let r = Route::new(RouteKind::Readings, DeviceId(0x2a));
//! assert_eq!(r.topic().as_str(), "tm/v1/2a/readings");
//! assert_eq!(Route::parse_topic("tm/v1/2a/readings"), Some(r));
//! ```

use serde::{Deserialize, Serialize};

use crate::DeviceId;

/// The prefix of every topic.
pub const TOPIC_PREFIX: &str = "tm/v1/";

/// The longest topic: prefix, 16 hex digits, a slash and the longest kind.
pub const MAX_TOPIC_LEN: usize = 40;

/// A topic or path string.
pub type Topic = heapless::String<MAX_TOPIC_LEN>;

/// The kind of message a route carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RouteKind {
    /// Readings and heartbeats, device to server.
    Readings,
    /// The device descriptor, device to server.
    Info,
    /// Online/offline status, device to server.
    Status,
    /// Alert transitions.
    Alerts,
    /// Commands, server to device.
    Commands,
    /// Command acknowledgements, device to server.
    Acks,
    /// Rule sets, server to device.
    Rules,
}

impl RouteKind {
    /// Every kind.
    pub const ALL: [RouteKind; 7] = [
        RouteKind::Readings,
        RouteKind::Info,
        RouteKind::Status,
        RouteKind::Alerts,
        RouteKind::Commands,
        RouteKind::Acks,
        RouteKind::Rules,
    ];

    /// True for the routes whose last message is the device's current state (`info`,
    /// `status`): an MQTT broker retains it, a CoAP server answers GETs with it.
    pub const fn is_retained(self) -> bool {
        matches!(self, RouteKind::Info | RouteKind::Status)
    }

    /// The last topic level.
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteKind::Readings => "readings",
            RouteKind::Info => "info",
            RouteKind::Status => "status",
            RouteKind::Alerts => "alerts",
            RouteKind::Commands => "commands",
            RouteKind::Acks => "acks",
            RouteKind::Rules => "rules",
        }
    }
}

/// A kind of message about one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Route {
    /// What the message is.
    pub kind: RouteKind,
    /// Which device it concerns.
    pub device: DeviceId,
}

impl Route {
    /// A route.
    pub const fn new(kind: RouteKind, device: DeviceId) -> Self {
        Route { kind, device }
    }

    /// The MQTT topic (and CoAP path without its leading slash).
    pub fn topic(&self) -> Topic {
        let mut t = Topic::new();
        // Cannot fail: MAX_TOPIC_LEN holds the prefix, 16 hex digits, '/' and "commands".
        let _ = t.push_str(TOPIC_PREFIX);
        push_device(&mut t, self.device);
        let _ = t.push('/');
        let _ = t.push_str(self.kind.as_str());
        t
    }

    /// Parses a topic of this scheme; `None` for any other topic.
    pub fn parse_topic(topic: &str) -> Option<Route> {
        let rest = topic.strip_prefix(TOPIC_PREFIX)?;
        let (device, kind) = rest.split_once('/')?;
        if device.contains(['-', ':']) || device.starts_with("0x") {
            return None;
        }
        let kind = RouteKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        Some(Route { kind, device: device.parse().ok()? })
    }
}

/// Appends the device id's text form (lowercase hex, as its `Display`) without `core::fmt`,
/// which would link the formatting machinery into every firmware that names a topic.
fn push_device(t: &mut Topic, device: DeviceId) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut v = device.0;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        let _ = t.push(char::from(d));
    }
}

/// A set of routes to receive: a kind, a device, both, or everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RouteFilter {
    /// Only this kind, or any.
    pub kind: Option<RouteKind>,
    /// Only this device, or any.
    pub device: Option<DeviceId>,
}

impl RouteFilter {
    /// Everything.
    pub const ALL: RouteFilter = RouteFilter { kind: None, device: None };

    /// One kind from every device (what a server subscribes to).
    pub const fn kind(kind: RouteKind) -> Self {
        RouteFilter { kind: Some(kind), device: None }
    }

    /// One kind for one device (what a device subscribes to).
    pub const fn exact(route: Route) -> Self {
        RouteFilter { kind: Some(route.kind), device: Some(route.device) }
    }

    /// True if `route` passes.
    pub fn matches(&self, route: &Route) -> bool {
        self.kind.is_none_or(|k| k == route.kind) && self.device.is_none_or(|d| d == route.device)
    }

    /// The MQTT topic filter (`tm/v1/+/readings`, `tm/v1/2a/#`, ...).
    pub fn topic_filter(&self) -> Topic {
        let mut t = Topic::new();
        let _ = t.push_str(TOPIC_PREFIX);
        match self.device {
            Some(d) => push_device(&mut t, d),
            None => {
                let _ = t.push('+');
            }
        }
        let _ = t.push('/');
        let _ = t.push_str(self.kind.map_or("#", RouteKind::as_str));
        t
    }
}

/// The prefix of the claim routes (provisioning).
pub const CLAIMS_PREFIX: &str = "tm/v1/claims/";

/// The longest claim id: the claim routes fit a [`Topic`].
pub const MAX_CLAIM_ID_LEN: usize = 16;

/// True for a valid claim id: 1 to [`MAX_CLAIM_ID_LEN`] characters of `a-z`, `0-9` and `-`
/// (nothing an MQTT topic or CoAP path would read as structure).
pub fn is_claim_id(id: &str) -> bool {
    (1..=MAX_CLAIM_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The MQTT user name of a claim is this prefix and its id (`claim:c-7f3a`): never a
/// device's, whose user name is its id in hex digits.
pub const CLAIM_USER_PREFIX: &str = "claim:";

/// Which of a claim's two routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClaimRoute {
    /// Device → provisioning service: the signing request.
    Request,
    /// Provisioning service → device: the certificate or the refusal.
    Response,
}

impl ClaimRoute {
    const fn as_str(self) -> &'static str {
        match self {
            ClaimRoute::Request => "request",
            ClaimRoute::Response => "response",
        }
    }
}

/// The topic (and CoAP path) of a claim's route: `tm/v1/claims/{claim}/request` or
/// `.../response`; `None` if `claim` is not a valid claim id.
///
/// ```
/// use telemetra_core::route::{ClaimRoute, claim_topic, parse_claim_topic};
/// let t = claim_topic("c-7f3a", ClaimRoute::Request).unwrap();
/// assert_eq!(t.as_str(), "tm/v1/claims/c-7f3a/request");
/// assert_eq!(parse_claim_topic(&t), Some(("c-7f3a", ClaimRoute::Request)));
/// assert_eq!(claim_topic("../x", ClaimRoute::Request), None);
/// ```
pub fn claim_topic(claim: &str, route: ClaimRoute) -> Option<Topic> {
    if !is_claim_id(claim) {
        return None;
    }
    let mut t = Topic::new();
    // Cannot fail: 13 + 16 + 1 + 8 = 38 bytes at most.
    let _ = t.push_str(CLAIMS_PREFIX);
    let _ = t.push_str(claim);
    let _ = t.push('/');
    let _ = t.push_str(route.as_str());
    Some(t)
}

/// Parses a claim route's topic; `None` for any other topic.
pub fn parse_claim_topic(topic: &str) -> Option<(&str, ClaimRoute)> {
    let (claim, route) = topic.strip_prefix(CLAIMS_PREFIX)?.split_once('/')?;
    let route = [ClaimRoute::Request, ClaimRoute::Response].into_iter().find(|r| r.as_str() == route)?;
    is_claim_id(claim).then_some((claim, route))
}

/// The topic filter a provisioning service subscribes to: every claim's requests.
pub const CLAIM_REQUESTS_FILTER: &str = "tm/v1/claims/+/request";

/// A device's firmware-update routes, under `tm/v1/{device}/firmware/`. They carry the
/// messages of `telemetra_update::transfer`, not frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FirmwareRoute {
    /// Server → device, retained: the signed manifest of the update on offer.
    Offer,
    /// Device → server: a request for chunks.
    Get,
    /// Server → device: chunks of the image.
    Chunk,
    /// Device → server, retained: how far the device got.
    Status,
}

impl FirmwareRoute {
    /// Every firmware route.
    pub const ALL: [FirmwareRoute; 4] =
        [FirmwareRoute::Offer, FirmwareRoute::Get, FirmwareRoute::Chunk, FirmwareRoute::Status];

    const fn as_str(self) -> &'static str {
        match self {
            FirmwareRoute::Offer => "offer",
            FirmwareRoute::Get => "get",
            FirmwareRoute::Chunk => "chunk",
            FirmwareRoute::Status => "status",
        }
    }

    /// The topic filter for this route of every device (`tm/v1/+/firmware/get`).
    pub fn filter(self) -> Topic {
        let mut t = Topic::new();
        let _ = t.push_str(TOPIC_PREFIX);
        let _ = t.push_str("+/firmware/");
        let _ = t.push_str(self.as_str());
        t
    }
}

/// The topic (and CoAP path) of one of `device`'s firmware routes.
///
/// ```
/// use telemetra_core::DeviceId;
/// use telemetra_core::route::{FirmwareRoute, firmware_topic, parse_firmware_topic};
/// let t = firmware_topic(DeviceId(0x2a), FirmwareRoute::Get);
/// assert_eq!(t.as_str(), "tm/v1/2a/firmware/get");
/// assert_eq!(parse_firmware_topic(&t), Some((DeviceId(0x2a), FirmwareRoute::Get)));
/// assert_eq!(FirmwareRoute::Status.filter().as_str(), "tm/v1/+/firmware/status");
/// ```
pub fn firmware_topic(device: DeviceId, route: FirmwareRoute) -> Topic {
    let mut t = Topic::new();
    // Cannot fail: 6 + 16 + 10 + 6 = 38 bytes at most.
    let _ = t.push_str(TOPIC_PREFIX);
    push_device(&mut t, device);
    let _ = t.push_str("/firmware/");
    let _ = t.push_str(route.as_str());
    t
}

/// Parses a firmware route's topic; `None` for any other topic.
pub fn parse_firmware_topic(topic: &str) -> Option<(DeviceId, FirmwareRoute)> {
    let (device, route) = topic.strip_prefix(TOPIC_PREFIX)?.split_once("/firmware/")?;
    if device.contains(['-', ':', '/']) || device.starts_with("0x") {
        return None;
    }
    let route = FirmwareRoute::ALL.into_iter().find(|r| r.as_str() == route)?;
    Some((device.parse().ok()?, route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_for_every_kind() {
        for kind in RouteKind::ALL {
            for dev in [0, 0x2a, u64::MAX] {
                let r = Route::new(kind, DeviceId(dev));
                assert_eq!(Route::parse_topic(&r.topic()), Some(r));
            }
        }
        assert_eq!(Route::new(RouteKind::Commands, DeviceId(u64::MAX)).topic().len(), 31);
    }

    #[test]
    fn foreign_topics_are_not_routes() {
        for t in [
            "",
            "tm/v1/",
            "tm/v1/2a",
            "tm/v1/2a/unknown",
            "tm/v2/2a/readings",
            "tm/v1/zz/readings",
            "tm/v1/0x2a/acks",
            "tm/v1/2a/readings/x",
        ] {
            assert_eq!(Route::parse_topic(t), None, "{t}");
        }
    }

    #[test]
    fn filters_match_and_render() {
        let r = Route::new(RouteKind::Readings, DeviceId(7));
        assert!(RouteFilter::ALL.matches(&r));
        assert!(RouteFilter::kind(RouteKind::Readings).matches(&r));
        assert!(!RouteFilter::kind(RouteKind::Alerts).matches(&r));
        assert!(RouteFilter::exact(r).matches(&r));
        assert!(!RouteFilter::exact(Route::new(RouteKind::Readings, DeviceId(8))).matches(&r));
        assert_eq!(RouteFilter::kind(RouteKind::Readings).topic_filter().as_str(), "tm/v1/+/readings");
        assert_eq!(RouteFilter::exact(r).topic_filter().as_str(), "tm/v1/7/readings");
        assert_eq!(RouteFilter::ALL.topic_filter().as_str(), "tm/v1/+/#");
    }

    #[test]
    fn claim_routes_are_not_device_routes() {
        let t = claim_topic("a-claim-16-chars", ClaimRoute::Response).unwrap();
        assert_eq!(t.as_str(), "tm/v1/claims/a-claim-16-chars/response");
        assert_eq!(Route::parse_topic(&t), None);
        assert_eq!(parse_claim_topic("tm/v1/2a/readings"), None);
        for bad in ["", "A", "a/b", "a+", "#", "a-claim-17-chars-", "é"] {
            assert_eq!(claim_topic(bad, ClaimRoute::Request), None, "{bad}");
            assert_eq!(parse_claim_topic(&format!("tm/v1/claims/{bad}/request")), None, "{bad}");
        }
        assert_eq!(parse_claim_topic("tm/v1/claims/c1/other"), None);
        assert_eq!(parse_claim_topic("tm/v1/claims/c1/request/x"), None);
    }

    #[test]
    fn firmware_routes_round_trip_and_are_not_device_routes() {
        for route in FirmwareRoute::ALL {
            for dev in [0, 0x2a, u64::MAX] {
                let t = firmware_topic(DeviceId(dev), route);
                assert_eq!(parse_firmware_topic(&t), Some((DeviceId(dev), route)));
                assert_eq!(Route::parse_topic(&t), None);
            }
        }
        assert_eq!(firmware_topic(DeviceId(u64::MAX), FirmwareRoute::Status).len(), 38);
        for t in [
            "tm/v1/2a/firmware/",
            "tm/v1/2a/firmware/other",
            "tm/v1/zz/firmware/get",
            "tm/v1/2a/x/firmware/get",
            "tm/v1/0x2a/firmware/get",
        ] {
            assert_eq!(parse_firmware_topic(t), None, "{t}");
        }
    }
}
