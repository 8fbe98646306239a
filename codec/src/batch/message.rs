//! Batches as a message: readings of several channels, each channel's samples compressed as
//! one series with its quality flags, in a payload that fits one frame.
//!
//! [`pack`] splits any number of readings into [`Batch`]es of at most [`MAX_BATCH_BYTES`]
//! each; every batch decodes on its own (a lost frame loses only its own readings, and no
//! receiver keeps a reassembly buffer). [`Batch::for_each`] decodes without an allocator;
//! [`Batch::readings`] into a `Vec`. Readings come back grouped by channel, in the order each
//! channel first appears, and in their original order within a channel.
//!
//! Numbers, integers (up to ±2^53) and booleans batch; a location or a text state does not
//! (send it in a `Readings` message): [`pack`] says which reading it was.
//!
//! ```
//! use telemetra_codec::batch::{pack, MAX_BATCH_BYTES};
//! use telemetra_core::{ChannelId, Quality, Reading, Timestamp};
//!
//! let mut readings = Vec::new();
//! for i in 0..1000u64 {
//!     for ch in 1..=4u16 {
//!         let r = Reading::new(ChannelId(ch), Timestamp(1_700_000_000_000 + i * 60_000), 20.0 + f64::from(ch) + (i % 9) as f64 / 10.0);
//!         readings.push(if i == 500 { r.with_quality(Quality::ESTIMATED) } else { r });
//!     }
//! }
//! let batches = pack(&readings).unwrap();
//! assert!(batches.iter().all(|b| b.as_bytes().len() <= MAX_BATCH_BYTES));
//! let mut back: Vec<Reading> = Vec::new();
//! for b in &batches {
//!     back.extend(b.readings().unwrap());
//! }
//! assert_eq!(back.len(), 4000);
//! assert_eq!(back.iter().filter(|r| !r.quality.is_good()).count(), 4);
//! ```
//!
//! Layout of a batch's bytes (the message body is this byte string with its varint length):
//!
//! ```text
//! series_count: varint
//! per series:
//!   channel: varint (u16)
//!   kind: u8                 0 number, 1 integer, 2 boolean (as 0 and 1)
//!   runs: varint             quality runs; 0 when every sample is good
//!   runs × (count: varint, flags: u8)   consecutive samples sharing flags; counts sum to the samples
//!   len: varint, then `len` bytes of one channel's samples in the single-series batch encoding
//! ```

use serde::{Deserialize, Serialize};
#[cfg(feature = "alloc")]
use telemetra_core::Timestamp;
use telemetra_core::{ChannelId, Quality, Reading, Value};

#[cfg(feature = "alloc")]
use super::bits::put_varint;
use super::bits::{take, take_varint};
use super::{BatchError, decode_with, header};

/// The most bytes of compressed series one batch message holds; with its envelope a batch
/// frame stays within [`limits::MAX_FRAME`](crate::limits::MAX_FRAME).
pub const MAX_BATCH_BYTES: usize = 1024;

/// Integers up to this magnitude are exact as `f64` and batch without loss.
const MAX_EXACT_INT: i64 = 1 << 53;

/// What a series' samples are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number = 0,
    Integer = 1,
    Bool = 2,
}

impl Kind {
    #[cfg(feature = "alloc")]
    fn of(v: &Value) -> Option<(Kind, f64)> {
        match *v {
            Value::Number(x) => Some((Kind::Number, x.to_f64())),
            Value::Integer(i) if (-MAX_EXACT_INT..=MAX_EXACT_INT).contains(&i) => {
                Some((Kind::Integer, i as f64))
            }
            Value::Bool(b) => Some((Kind::Bool, if b { 1.0 } else { 0.0 })),
            _ => None,
        }
    }

    fn from_byte(b: u8) -> Result<Kind, BatchError> {
        match b {
            0 => Ok(Kind::Number),
            1 => Ok(Kind::Integer),
            2 => Ok(Kind::Bool),
            _ => Err(BatchError::BadSeries),
        }
    }

    fn value(self, x: f64) -> Result<Value, BatchError> {
        match self {
            Kind::Number => Ok(Value::Number(x.into())),
            // `as` saturates and maps NaN to 0, so the round trip holds only for exact integers.
            Kind::Integer
                if (x as i64) as f64 == x && (-MAX_EXACT_INT..=MAX_EXACT_INT).contains(&(x as i64)) =>
            {
                Ok(Value::Integer(x as i64))
            }
            Kind::Bool if x == 0.0 || x == 1.0 => Ok(Value::Bool(x == 1.0)),
            _ => Err(BatchError::BadSeries),
        }
    }
}

/// Compressed readings of several channels: the body of a `Batch` message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Batch {
    data: heapless::Vec<u8, MAX_BATCH_BYTES>,
}

impl Batch {
    /// The encoded series (the layout in the module docs).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// A batch from encoded series, checked: every series must decode.
    pub fn from_bytes(bytes: &[u8]) -> Result<Batch, BatchError> {
        let data = heapless::Vec::from_slice(bytes).map_err(|_| BatchError::BufferTooSmall)?;
        let batch = Batch { data };
        batch.for_each(|_| {})?;
        Ok(batch)
    }

    /// Calls `sink` with each reading; returns how many there were. Needs no allocator. On
    /// error, `sink` may already have seen the readings of the series before the fault.
    pub fn for_each(&self, mut sink: impl FnMut(Reading)) -> Result<usize, BatchError> {
        let mut input: &[u8] = &self.data;
        let series = take_varint(&mut input)?;
        let mut total = 0usize;
        for _ in 0..series {
            let channel = u16::try_from(take_varint(&mut input)?).map_err(|_| BatchError::BadSeries)?;
            let kind = Kind::from_byte(*take(&mut input, 1)?.first().ok_or(BatchError::Truncated)?)?;
            let runs_len = take_varint(&mut input)?;
            let runs_start = input;
            let mut covered = 0u64;
            for _ in 0..runs_len {
                covered = covered.saturating_add(take_varint(&mut input)?);
                take(&mut input, 1)?;
            }
            let len = usize::try_from(take_varint(&mut input)?).map_err(|_| BatchError::Truncated)?;
            let samples = take(&mut input, len)?;
            let count = header(samples)?.count;
            if runs_len > 0 && covered != count {
                return Err(BatchError::BadSeries);
            }
            let mut runs = Runs { input: runs_start, left: runs_len, in_run: 0, flags: Quality::GOOD };
            let mut fault = None;
            decode_with(samples, |at, x| match kind.value(x) {
                Ok(value) => {
                    let quality = runs.next();
                    sink(Reading { channel: ChannelId(channel), at, value, quality });
                }
                Err(e) => fault = Some(e),
            })?;
            if let Some(e) = fault {
                return Err(e);
            }
            total += count as usize;
        }
        match input.len() {
            0 => Ok(total),
            extra => Err(BatchError::TrailingBytes { extra }),
        }
    }

    /// The readings, grouped by channel.
    #[cfg(feature = "alloc")]
    pub fn readings(&self) -> Result<alloc::vec::Vec<Reading>, BatchError> {
        let mut out = alloc::vec::Vec::new();
        self.for_each(|r| out.push(r))?;
        Ok(out)
    }
}

/// The quality runs of one series, already checked to cover its samples.
struct Runs<'a> {
    input: &'a [u8],
    left: u64,
    in_run: u64,
    flags: Quality,
}

impl Runs<'_> {
    fn next(&mut self) -> Quality {
        while self.in_run == 0 && self.left > 0 {
            self.left -= 1;
            self.in_run = take_varint(&mut self.input).unwrap_or(0);
            self.flags = Quality(take(&mut self.input, 1).ok().and_then(|b| b.first().copied()).unwrap_or(0));
        }
        self.in_run = self.in_run.saturating_sub(1);
        self.flags
    }
}

/// Splits `readings` into batches that each fit [`MAX_BATCH_BYTES`]. Each batch covers
/// consecutive readings of the input.
#[cfg(feature = "alloc")]
pub fn pack(readings: &[Reading]) -> Result<alloc::vec::Vec<Batch>, BatchError> {
    if let Some(index) = readings.iter().position(|r| Kind::of(&r.value).is_none()) {
        return Err(BatchError::Unbatchable { index });
    }
    let mut out = alloc::vec::Vec::new();
    let mut rest = readings;
    let mut take = rest.len();
    while !rest.is_empty() {
        take = take.clamp(1, rest.len());
        let bytes = encode_part(&rest[..take])?;
        if bytes.len() <= MAX_BATCH_BYTES {
            out.push(Batch {
                data: heapless::Vec::from_slice(&bytes).map_err(|_| BatchError::BufferTooSmall)?,
            });
            rest = &rest[take..];
        } else if take == 1 {
            return Err(BatchError::BufferTooSmall);
        } else {
            // Aim a little under the limit for the density just seen.
            take = (take * MAX_BATCH_BYTES * 9 / 10 / bytes.len()).min(take - 1);
        }
    }
    Ok(out)
}

/// Encodes consecutive readings (all batchable) as one batch's bytes.
#[cfg(feature = "alloc")]
fn encode_part(readings: &[Reading]) -> Result<alloc::vec::Vec<u8>, BatchError> {
    use alloc::vec::Vec;

    let mut channels: Vec<ChannelId> = Vec::new();
    for r in readings {
        if !channels.contains(&r.channel) {
            channels.push(r.channel);
        }
    }
    let mut out = Vec::new();
    push_varint(&mut out, channels.len() as u64)?;
    for ch in channels {
        let series: Vec<&Reading> = readings.iter().filter(|r| r.channel == ch).collect();
        let mut kind = None;
        let mut points: Vec<(Timestamp, f64)> = Vec::with_capacity(series.len());
        for r in &series {
            let (k, x) = Kind::of(&r.value).ok_or(BatchError::BadSeries)?;
            if *kind.get_or_insert(k) != k {
                // A channel whose kind changes within the part: batch it as numbers.
                kind = Some(Kind::Number);
            }
            points.push((r.at, x));
        }
        let kind = kind.unwrap_or(Kind::Number);
        push_varint(&mut out, u64::from(ch.0))?;
        out.push(kind as u8);
        let mut runs: Vec<(u64, u8)> = Vec::new();
        for r in &series {
            match runs.last_mut() {
                Some((n, q)) if *q == r.quality.0 => *n += 1,
                _ => runs.push((1, r.quality.0)),
            }
        }
        if runs.len() == 1 && runs[0].1 == 0 {
            runs.clear();
        }
        push_varint(&mut out, runs.len() as u64)?;
        for (n, q) in runs {
            push_varint(&mut out, n)?;
            out.push(q);
        }
        let samples = super::encode_to_vec(&points)?;
        push_varint(&mut out, samples.len() as u64)?;
        out.extend_from_slice(&samples);
    }
    Ok(out)
}

#[cfg(feature = "alloc")]
fn push_varint(out: &mut alloc::vec::Vec<u8>, v: u64) -> Result<(), BatchError> {
    let mut buf = [0u8; 10];
    let n = put_varint(&mut buf, 0, v)?;
    out.extend_from_slice(&buf[..n]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn reading(ch: u16, i: u64, v: impl Into<Value>) -> Reading {
        Reading::new(ChannelId(ch), Timestamp(1_700_000_000_000 + i * 1000), v)
    }

    #[test]
    fn kinds_and_quality_survive() {
        let rs = [
            reading(1, 0, 21.5),
            reading(2, 0, 7i64),
            reading(3, 0, true),
            reading(1, 1, 21.6).with_quality(Quality::ESTIMATED),
            reading(2, 1, -9_007_199_254_740_992i64),
            reading(3, 1, false),
            reading(1, 2, f64::NAN).with_quality(Quality::SENSOR_FAULT),
        ];
        let parts = pack(&rs).unwrap();
        assert_eq!(parts.len(), 1);
        let back = parts[0].readings().unwrap();
        let order = [0, 3, 6, 1, 4, 2, 5];
        for (b, &i) in back.iter().zip(&order) {
            assert_eq!((b.channel, b.at, b.quality), (rs[i].channel, rs[i].at, rs[i].quality));
            match (&b.value, &rs[i].value) {
                (Value::Number(x), Value::Number(y)) => {
                    assert_eq!(x.to_f64().to_bits(), y.to_f64().to_bits())
                }
                (x, y) => assert_eq!(x, y),
            }
        }
        assert_eq!(Batch::from_bytes(parts[0].as_bytes()).unwrap(), parts[0]);
    }

    #[test]
    fn what_cannot_batch_is_named() {
        let state = Value::State(telemetra_core::text::bounded("s", "idle").unwrap());
        let rs = [reading(1, 0, 1.0), reading(1, 1, state)];
        assert_eq!(pack(&rs), Err(BatchError::Unbatchable { index: 1 }));
        assert_eq!(pack(&[reading(1, 0, i64::MAX)]), Err(BatchError::Unbatchable { index: 0 }));
    }

    #[test]
    fn large_series_split_into_parts_that_fit() {
        // Noisy values (XOR mode, ~8 bytes each) force many parts.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let rs: Vec<Reading> = (0..2000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                reading((i % 3) as u16, i, f64::from_bits(x >> 2))
            })
            .collect();
        let parts = pack(&rs).unwrap();
        assert!(parts.len() > 10, "{}", parts.len());
        let mut n = 0;
        for p in &parts {
            assert!(p.as_bytes().len() <= MAX_BATCH_BYTES);
            n += p.for_each(|_| {}).unwrap();
        }
        assert_eq!(n, rs.len());
    }

    #[test]
    fn broken_batches_are_errors() {
        let part = pack(&[reading(1, 0, 1.0), reading(1, 1, 2.0).with_quality(Quality::DELAYED)]).unwrap();
        let bytes = part[0].as_bytes();
        for cut in 0..bytes.len() {
            assert!(Batch::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut runs_wrong = bytes.to_vec();
        runs_wrong[4] = 5; // the first run's count: no longer the sample count
        assert_eq!(Batch::from_bytes(&runs_wrong), Err(BatchError::BadSeries));
        let mut kind = bytes.to_vec();
        kind[2] = 9;
        assert_eq!(Batch::from_bytes(&kind), Err(BatchError::BadSeries));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Batch::from_bytes(&bytes);
        }

        #[test]
        fn packs_round_trip(values in proptest::collection::vec((0u16..5, -1000i64..1000, 0u8..4), 1..400)) {
            let rs: Vec<Reading> = values
                .iter()
                .enumerate()
                .map(|(i, &(ch, v, q))| reading(ch, i as u64, v as f64 / 10.0).with_quality(Quality(q)))
                .collect();
            let mut back = Vec::new();
            for p in pack(&rs).unwrap() {
                back.extend(p.readings().unwrap());
            }
            let mut want = rs.clone();
            want.sort_by_key(|r| (rs.iter().position(|x| x.channel == r.channel), r.at));
            let mut got = back;
            got.sort_by_key(|r| (rs.iter().position(|x| x.channel == r.channel), r.at));
            prop_assert_eq!(got, want);
        }
    }
}
