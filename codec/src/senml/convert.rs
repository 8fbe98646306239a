//! Between SenML records and telemetra readings.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use telemetra_core::{ChannelSpec, Device, Reading, Timestamp, Unit, Value};

use super::SenmlError;
use super::record::{Record, ResolvedValue, resolve};

/// The SenML base name of a device: `urn:dev:telemetra:{id}:`.
fn base_name(device: &Device) -> String {
    format!("urn:dev:telemetra:{}:", device.id)
}

fn seconds(ms: i128) -> f64 {
    ms as f64 / 1000.0
}

fn record(name: String, unit: Unit, time: f64) -> Record {
    Record {
        name: Some(name),
        unit: (unit != Unit::None).then(|| unit.symbol().to_string()),
        time: (time != 0.0).then_some(time),
        ..Record::default()
    }
}

/// Exports readings of `device` as a SenML pack: the first record carries the base name
/// (`urn:dev:telemetra:{id}:`) and base time, every record the channel's name and unit and its
/// time relative to the base. A location becomes three records, `{channel}:lat`, `:lon` and
/// `:alt` (SenML has no location value). An integer beyond 2^53 loses precision, as SenML
/// numbers are doubles.
pub fn from_readings(device: &Device, readings: &[Reading]) -> Vec<Record> {
    let base_ms = readings.first().map_or(0, |r| r.at.0);
    let mut pack = Vec::with_capacity(readings.len());
    for r in readings {
        let (name, unit) = match device.channel(r.channel) {
            Some(ChannelSpec { name, unit, .. }) => (name.to_string(), *unit),
            None => (format!("ch{}", r.channel.0), Unit::None),
        };
        let t = seconds(i128::from(r.at.0) - i128::from(base_ms));
        let mut rec = record(name.clone(), unit, t);
        match &r.value {
            Value::Number(v) => rec.value = Some(v.to_f64()),
            Value::Integer(i) => rec.value = Some(*i as f64),
            Value::Bool(b) => rec.bool_value = Some(*b),
            Value::State(s) => rec.string_value = Some(s.to_string()),
            Value::Location(l) => {
                let mut lat = record(format!("{name}:lat"), Unit::Latitude, t);
                lat.value = Some(l.lat.to_f64());
                let mut lon = record(format!("{name}:lon"), Unit::Longitude, t);
                lon.value = Some(l.lon.to_f64());
                pack.push(lat);
                rec = lon;
                if let Some(alt) = l.alt {
                    pack.push(rec);
                    rec = record(format!("{name}:alt"), Unit::Meter, t);
                    rec.value = Some(alt.to_f64());
                }
            }
        }
        pack.push(rec);
    }
    if let Some(first) = pack.first_mut() {
        first.base_name = Some(base_name(device));
        first.base_time = Some(seconds(i128::from(base_ms)));
    }
    pack
}

fn timestamp(seconds: f64, index: usize) -> Result<Timestamp, SenmlError> {
    let ms = seconds * 1000.0;
    if !(0.0..1.8e19).contains(&ms) {
        return Err(SenmlError::BadTime { index });
    }
    Ok(Timestamp((ms + 0.5) as u64))
}

/// Imports a SenML pack as readings of `device`. Each record's resolved name is matched to a
/// channel by its last segment (after the last `:` or `/`): `urn:dev:ow:10e2073a01080063:voltage`
/// is channel `voltage`. Relative times are resolved against `now` (seconds since the epoch).
/// Returns the readings and the names of records that matched no channel or carried no value
/// a reading can hold (data values), so nothing is dropped silently.
pub fn to_readings(
    pack: &[Record],
    device: &Device,
    now: f64,
) -> Result<(Vec<Reading>, Vec<String>), SenmlError> {
    let mut readings = Vec::with_capacity(pack.len());
    let mut skipped = Vec::new();
    for (index, r) in resolve(pack, now)?.into_iter().enumerate() {
        let short = r.name.rsplit([':', '/']).next().unwrap_or(&r.name);
        let value = match (&r.value, r.sum) {
            (Some(ResolvedValue::Number(v)), _) => Some(Value::from(*v)),
            (Some(ResolvedValue::Bool(b)), _) => Some(Value::Bool(*b)),
            (Some(ResolvedValue::Text(s)), _) => {
                Some(Value::State(s.as_str().try_into().map_err(|_| SenmlError::TextTooLong { index })?))
            }
            (None, Some(sum)) => Some(Value::from(sum)),
            (Some(ResolvedValue::Data(_)), _) | (None, None) => None,
        };
        match (device.channel_named(short), value) {
            (Some(spec), Some(value)) => {
                readings.push(Reading::new(spec.id, timestamp(r.time, index)?, value))
            }
            _ => skipped.push(r.name),
        }
    }
    Ok((readings, skipped))
}
