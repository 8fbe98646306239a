//! What a channel measures, independent of its unit.

use serde::{Deserialize, Serialize};

use crate::Unit;

/// The physical quantity (or kind of state) a channel reports. A dashboard or a rule can
/// reason about "all temperatures" whatever their units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Quantity {
    /// Temperature (`Cel`, `K`).
    Temperature,
    /// Relative humidity (`%RH`).
    Humidity,
    /// Pressure, barometric or of a fluid (`Pa`).
    Pressure,
    /// Linear acceleration along one axis (`m/s2`); one channel per axis.
    Acceleration,
    /// Angular velocity along one axis (`rad/s` is not in SenML: use `Hz` or a custom unit).
    AngularVelocity,
    /// Motion or presence detected (a boolean, e.g., a PIR sensor).
    Motion,
    /// A geographic position ([`Value::Location`](crate::Value::Location)).
    Location,
    /// Instantaneous power (`W`).
    Power,
    /// Accumulated energy or other usage meter (`J`, `VAs`).
    Energy,
    /// Electric potential (`V`).
    Voltage,
    /// Electric current (`A`).
    Current,
    /// A count of events or items (`count`).
    Count,
    /// Illuminance (`lx`).
    Illuminance,
    /// A gas concentration such as CO2 (`ppm`).
    Concentration,
    /// A fill level or position (`/`, `m`).
    Level,
    /// A flow rate (`m3/s`, `l/s`).
    Flow,
    /// A battery's state of charge (`%EL`).
    Battery,
    /// Signal strength (`dBW`, `dB`).
    SignalStrength,
    /// A binary state: a door contact, a relay, a switch.
    Switch,
    /// A discrete state given as short text ("idle", "heating").
    State,
    /// An application-defined quantity, numbered by the application.
    Custom(u16),
}

impl Quantity {
    /// The unit a channel of this quantity usually reports in, if there is one obvious choice.
    pub const fn default_unit(self) -> Unit {
        match self {
            Quantity::Temperature => Unit::Celsius,
            Quantity::Humidity => Unit::RelativeHumidity,
            Quantity::Pressure => Unit::Pascal,
            Quantity::Acceleration => Unit::MeterPerSecondSquared,
            Quantity::Power => Unit::Watt,
            Quantity::Energy => Unit::Joule,
            Quantity::Voltage => Unit::Volt,
            Quantity::Current => Unit::Ampere,
            Quantity::Count => Unit::Count,
            Quantity::Illuminance => Unit::Lux,
            Quantity::Concentration => Unit::PartsPerMillion,
            Quantity::Level => Unit::Ratio,
            Quantity::Flow => Unit::CubicMeterPerSecond,
            Quantity::Battery => Unit::BatteryPercent,
            Quantity::SignalStrength => Unit::DecibelWatt,
            Quantity::AngularVelocity
            | Quantity::Motion
            | Quantity::Location
            | Quantity::Switch
            | Quantity::State
            | Quantity::Custom(_) => Unit::None,
        }
    }
}
