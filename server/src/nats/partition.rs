//! Subjects and partitions: which of the stream's partitions a device's messages go to.
//!
//! A device's messages enter NATS on its route's subject, the MQTT topic with dots
//! (`tm.v1.{device}.{kind}`: what NATS's own MQTT listener makes of `tm/v1/{device}/{kind}`).
//! The nats-server's subject mapping ([`mappings`]) moves each device-to-server kind into
//! its partition, `tm.p.{partition}.{device}.{kind}`, with nats-server's own
//! `{{partition(n,1)}}` function: FNV-1a (32 bits) of the device token, modulo n. The same
//! function is [`partition`] here, so an instance knows which devices a partition holds when it
//! takes one over (the failover test checks the two agree). A bridge or gateway that publishes
//! into JetStream itself uses [`partition_subject`] and needs no mapping.

use telemetra_core::{DeviceId, Route, RouteKind};

use crate::ingest::DEVICE_ROUTES;

/// The prefix of the partitioned subjects: `tm.p.{partition}.{device}.{kind}`.
pub const PARTITIONED: &str = "tm.p";

/// The partition of `device` among `partitions`: FNV-1a (32 bits) of its id's text form,
/// modulo `partitions` — nats-server's `{{partition(n,1)}}` of the device token.
pub fn partition(device: DeviceId, partitions: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in device.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % partitions.max(1)
}

/// A route's subject before partitioning: `tm.v1.{device}.{kind}`.
pub fn subject(route: Route) -> String {
    route.topic().replace('/', ".")
}

/// A route's subject in its partition: `tm.p.{partition}.{device}.{kind}`.
pub fn partition_subject(route: Route, partitions: u32) -> String {
    format!("{PARTITIONED}.{}.{}.{}", partition(route.device, partitions), route.device, route.kind.as_str())
}

/// The subjects of one partition, for its consumer: `tm.p.{partition}.>`.
pub fn partition_filter(partition: u32) -> String {
    format!("{PARTITIONED}.{partition}.>")
}

/// The route of a partitioned subject; `None` for any other subject.
pub fn parse_partition_subject(subject: &str) -> Option<Route> {
    let rest = subject.strip_prefix(PARTITIONED)?.strip_prefix('.')?;
    let (_, rest) = rest.split_once('.')?;
    let (device, kind) = rest.split_once('.')?;
    Route::parse_topic(&format!("{}{device}/{kind}", telemetra_core::route::TOPIC_PREFIX))
}

/// nats-server's subject mappings (source, destination) that put every device-to-server route
/// into its partition; in a server's configuration file:
/// `mappings = { "tm.v1.*.readings": "tm.p.{{partition(8,1)}}.{{wildcard(1)}}.readings", ... }`.
/// Commands and rules (server to device) stay on their plain subjects.
pub fn mappings(partitions: u32) -> Vec<(String, String)> {
    DEVICE_ROUTES
        .iter()
        .map(|kind: &RouteKind| {
            let kind = kind.as_str();
            (
                format!("tm.v1.*.{kind}"),
                format!("{PARTITIONED}.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}.{kind}"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_back_and_partitions_spread() {
        let route = Route::new(RouteKind::Readings, DeviceId(0x2a));
        assert_eq!(subject(route), "tm.v1.2a.readings");
        let s = partition_subject(route, 8);
        assert_eq!(parse_partition_subject(&s), Some(route));
        assert_eq!(parse_partition_subject("tm.v1.2a.readings"), None);
        assert_eq!(parse_partition_subject("tm.p.1.2a.nonsense"), None);
        let mut counts = [0u32; 8];
        for d in 0..800 {
            counts[partition(DeviceId(d), 8) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (50..150).contains(&c)), "{counts:?}");
        // FNV-1a 32 of "2a", as Go's hash/fnv computes it.
        assert_eq!(partition(DeviceId(0x2a), u32::MAX), 0x5cf2_4c5c);
    }

    #[test]
    fn mappings_name_every_device_route() {
        let m = mappings(8);
        assert_eq!(m.len(), DEVICE_ROUTES.len());
        assert_eq!(
            m[0],
            ("tm.v1.*.readings".into(), "tm.p.{{partition(8,1)}}.{{wildcard(1)}}.readings".into())
        );
    }
}
