//! How many bytes a reading costs on the wire, by batch size: the table in `benches/README.md`.
//!
//! ```text
//! cargo run --example batch_sizes
//! ```
//!
//! Four channels of a greenhouse node sampled every minute, as its sensors report them: a
//! temperature random walk at 0.1 °C, relative humidity in whole percent, a door contact
//! (boolean) and an energy counter (integer); 1 in 200 readings is flagged `ESTIMATED`. Each
//! row packs `n` minutes (4n readings) into `Batch` frames and counts every byte of every frame
//! (envelope included), against the same readings sent as `Readings` frames of 16.

use telemetra::codec::batch::pack;
use telemetra::codec::{Frame, Message};
use telemetra::heapless;
use telemetra::model::{ChannelId, DeviceId, Quality, Reading, Timestamp};

const DEVICE: DeviceId = DeviceId(0x0004_a30b_001c_2d3e);

/// `minutes` minutes of the node's four channels, deterministic.
fn series(minutes: u64) -> Vec<Reading> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut temp, mut hum, mut energy) = (215i64, 55i64, 3_600_000i64);
    let mut out = Vec::new();
    for m in 0..minutes {
        let at = Timestamp(1_795_651_200_000 + m * 60_000);
        temp += (rand() % 3) as i64 - 1;
        if rand().is_multiple_of(10) {
            hum += (rand() % 3) as i64 - 1;
        }
        energy += 40 + (rand() % 20) as i64;
        let q = |r: Reading, roll: u64| {
            if roll.is_multiple_of(200) { r.with_quality(Quality::ESTIMATED) } else { r }
        };
        out.push(q(Reading::new(ChannelId(1), at, temp as f64 / 10.0), rand()));
        out.push(q(Reading::new(ChannelId(2), at, hum), rand()));
        out.push(q(Reading::new(ChannelId(3), at, m % 90 < 5), rand()));
        out.push(q(Reading::new(ChannelId(4), at, energy), rand()));
    }
    out
}

fn frame_bytes(message: Message) -> usize {
    Frame::new(DEVICE, 1_000, message).to_vec().map_or(0, |b| b.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "| minutes per batch | readings | `Batch` frames | bytes | bytes per reading | as `Readings` frames of 16: bytes per reading |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for minutes in [1u64, 4, 16, 64, 256, 1_000, 8_760] {
        let readings = series(minutes);
        let batches = pack(&readings)?;
        let batched: usize = batches.into_iter().map(|b| frame_bytes(Message::Batch(b))).sum::<usize>();
        let plain: usize = readings
            .chunks(16)
            .map(|c| frame_bytes(Message::Readings(heapless::Vec::from_slice(c).unwrap_or_default())))
            .sum();
        println!(
            "| {minutes} | {} | {} | {batched} | {:.2} | {:.2} |",
            readings.len(),
            pack(&readings)?.len(),
            batched as f64 / readings.len() as f64,
            plain as f64 / readings.len() as f64,
        );
    }
    Ok(())
}
