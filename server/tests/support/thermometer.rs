//! A device of the tests: one temperature channel in °C, read every second.
#![allow(dead_code)]

use telemetra_core::{ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Name, Quantity, Unit};

/// Device `id`, of `model`, running `firmware`, with channel 1 measuring temperature.
pub fn thermometer(id: u64, model: &str, firmware: FirmwareVersion) -> Device {
    Device {
        id: DeviceId(id),
        model: Name::try_from(model).unwrap(),
        firmware,
        channels: [ChannelSpec {
            id: ChannelId(1),
            name: Name::try_from("temperature").unwrap(),
            quantity: Quantity::Temperature,
            unit: Unit::Celsius,
            period_ms: 1000,
        }]
        .into_iter()
        .collect(),
        tags: Default::default(),
    }
}
