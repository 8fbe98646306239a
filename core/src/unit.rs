//! Units of measurement, named as in the SenML units registry (RFC 8428 section 12.1).

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! units {
    ($($(#[$doc:meta])* $variant:ident = $senml:literal,)*) => {
        /// A unit of measurement. The text form is the SenML unit symbol of RFC 8428 section
        /// 12.1 (`Cel`, `%RH`, `m/s2`, ...); on the wire a unit is a one-byte index.
        ///
        /// ```
        /// use telemetra_core::Unit;
        /// assert_eq!(Unit::Celsius.symbol(), "Cel");
        /// assert_eq!("%RH".parse::<Unit>(), Ok(Unit::RelativeHumidity));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum Unit {
            /// No unit: a dimensionless value, a state or a boolean.
            #[serde(rename = "")]
            None,
            $($(#[$doc])* #[serde(rename = $senml)] $variant,)*
        }

        impl Unit {
            /// Every unit, in wire order.
            pub const ALL: &'static [Unit] = &[Unit::None, $(Unit::$variant,)*];

            /// The SenML symbol (empty for [`Unit::None`]).
            pub const fn symbol(self) -> &'static str {
                match self {
                    Unit::None => "",
                    $(Unit::$variant => $senml,)*
                }
            }
        }
    };
}

units! {
    /// meter
    Meter = "m",
    /// kilogram
    Kilogram = "kg",
    /// gram (not recommended by RFC 8428 for new producers)
    Gram = "g",
    /// second
    Second = "s",
    /// ampere
    Ampere = "A",
    /// kelvin
    Kelvin = "K",
    /// candela
    Candela = "cd",
    /// mole
    Mole = "mol",
    /// hertz
    Hertz = "Hz",
    /// radian
    Radian = "rad",
    /// steradian
    Steradian = "sr",
    /// newton
    Newton = "N",
    /// pascal
    Pascal = "Pa",
    /// joule
    Joule = "J",
    /// watt
    Watt = "W",
    /// coulomb
    Coulomb = "C",
    /// volt
    Volt = "V",
    /// farad
    Farad = "F",
    /// ohm
    Ohm = "Ohm",
    /// siemens
    Siemens = "S",
    /// weber
    Weber = "Wb",
    /// tesla
    Tesla = "T",
    /// henry
    Henry = "H",
    /// degrees Celsius
    Celsius = "Cel",
    /// lumen
    Lumen = "lm",
    /// lux
    Lux = "lx",
    /// becquerel
    Becquerel = "Bq",
    /// gray
    Gray = "Gy",
    /// sievert
    Sievert = "Sv",
    /// katal
    Katal = "kat",
    /// square meter (area)
    SquareMeter = "m2",
    /// cubic meter (volume)
    CubicMeter = "m3",
    /// liter (volume; not recommended for new producers)
    Liter = "l",
    /// meter per second (velocity)
    MeterPerSecond = "m/s",
    /// meter per square second (acceleration)
    MeterPerSecondSquared = "m/s2",
    /// cubic meter per second (flow rate)
    CubicMeterPerSecond = "m3/s",
    /// liter per second (flow rate; not recommended for new producers)
    LiterPerSecond = "l/s",
    /// watt per square meter (irradiance)
    WattPerSquareMeter = "W/m2",
    /// candela per square meter (luminance)
    CandelaPerSquareMeter = "cd/m2",
    /// bit (information content)
    Bit = "bit",
    /// bit per second (data rate)
    BitPerSecond = "bit/s",
    /// degrees latitude
    Latitude = "lat",
    /// degrees longitude
    Longitude = "lon",
    /// pH value (acidity; logarithmic quantity)
    Ph = "pH",
    /// decibel (logarithmic quantity)
    Decibel = "dB",
    /// decibel relative to 1 W (power level)
    DecibelWatt = "dBW",
    /// bel (sound pressure level; logarithmic quantity; not recommended for new producers)
    Bspl = "Bspl",
    /// 1 (counter value)
    Count = "count",
    /// 1 (ratio, e.g., value of a switch)
    Ratio = "/",
    /// 1 (ratio, e.g., value of a switch; not recommended for new producers)
    RatioPercent = "%",
    /// percentage (relative humidity)
    RelativeHumidity = "%RH",
    /// percentage (remaining battery energy level)
    BatteryPercent = "%EL",
    /// seconds (remaining battery energy level)
    BatterySeconds = "EL",
    /// 1 per second (event rate)
    PerSecond = "1/s",
    /// 1 per minute (event rate; not recommended for new producers)
    PerMinute = "1/min",
    /// 1 per minute (heart rate in beats per minute; not recommended for new producers)
    BeatsPerMinute = "beat/min",
    /// 1 (cumulative number of heart beats; not recommended for new producers)
    Beats = "beats",
    /// siemens per meter (conductivity)
    SiemensPerMeter = "S/m",
    /// byte (information content; RFC 8798)
    Byte = "B",
    /// volt-ampere (apparent power; RFC 8798)
    VoltAmpere = "VA",
    /// volt-ampere-second (apparent energy; RFC 8798)
    VoltAmpereSecond = "VAs",
    /// volt-ampere reactive (reactive power; RFC 8798)
    VoltAmpereReactive = "var",
    /// volt-ampere-reactive-second (reactive energy; RFC 8798)
    VoltAmpereReactiveSecond = "vars",
    /// joule per meter (energy per distance; RFC 8798)
    JoulePerMeter = "J/m",
    /// kilogram per cubic meter (mass density; RFC 8798)
    KilogramPerCubicMeter = "kg/m3",
    /// degree (angle; RFC 8798)
    Degree = "deg",
    /// nephelometric turbidity unit (RFC 8798)
    Turbidity = "NTU",
    /// parts per million (concentration, e.g., CO2; SenML secondary style symbol)
    PartsPerMillion = "ppm",
}

/// The text was not a known SenML unit symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("unknown SenML unit symbol")]
pub struct UnknownUnit;

impl FromStr for Unit {
    type Err = UnknownUnit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Unit::ALL.iter().copied().find(|u| u.symbol() == s).ok_or(UnknownUnit)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_unique_and_round_trip() {
        for (i, u) in Unit::ALL.iter().enumerate() {
            assert_eq!(u.symbol().parse::<Unit>(), Ok(*u));
            assert!(Unit::ALL[..i].iter().all(|o| o.symbol() != u.symbol()), "duplicate {}", u.symbol());
            let json = serde_json::to_string(u).unwrap();
            assert_eq!(json, std::format!("\"{}\"", u.symbol()));
        }
        assert_eq!("furlong".parse::<Unit>(), Err(UnknownUnit));
    }
}
