//! A firmware-style sensor node and a gateway on a noisy serial link.
//!
//! ```text
//! cargo run --example node
//! ```
//!
//! The node does what a microcontroller would: no heap, fixed buffers, a `Frame` encoded into a
//! stack buffer and wrapped in COBS + CRC-32 for the UART. The link flips bits and drops bytes
//! (deterministically, about one byte in 2,000). The gateway feeds whatever arrives, in
//! arbitrary chunks, to a `PacketDecoder`, decodes the frames, and uses the sequence numbers to
//! count what the link lost: a damaged frame is dropped and counted, and every frame after it
//! still arrives.

use telemetra::codec::stream::{PacketDecoder, encode_packet, max_packet_len};
use telemetra::codec::{Frame, Message, limits};
use telemetra::heapless;
use telemetra::model::{ChannelId, DeviceId, Reading, Timestamp};

/// The node's whole state: what fits in a microcontroller's RAM.
struct Node {
    id: DeviceId,
    seq: u32,
    temperature_tenths: i32,
    frame_buf: [u8; 64],
    wire_buf: [u8; max_packet_len(64)],
}

impl Node {
    /// One sampling cycle: returns the bytes to write to the UART.
    fn cycle(&mut self, t: Timestamp, noise: u32) -> &[u8] {
        self.temperature_tenths += (noise % 5) as i32 - 2;
        let mut readings = heapless::Vec::new();
        // Two readings always fit the 16 a frame holds.
        let _ = readings.push(Reading::new(ChannelId(1), t, f64::from(self.temperature_tenths) / 10.0));
        let _ = readings.push(Reading::new(ChannelId(2), t, i64::from(noise % 1024)));
        let frame = Frame::new(self.id, self.seq, Message::Readings(readings));
        self.seq = self.seq.wrapping_add(1);
        // A 64-byte buffer holds this frame (two numbers); a real node sizes it from `limits`.
        let Ok(payload) = frame.encode(&mut self.frame_buf) else { return &[] };
        let len = payload.len();
        match encode_packet(&self.frame_buf[..len], &mut self.wire_buf) {
            Ok(n) => &self.wire_buf[..n],
            Err(_) => &[],
        }
    }
}

/// A deterministic pseudo-random source (xorshift).
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

fn main() {
    const CYCLES: u32 = 10_000;
    let mut node = Node {
        id: DeviceId(0x0004_a30b_001c_2d3e),
        seq: 0,
        temperature_tenths: 215,
        frame_buf: [0; 64],
        wire_buf: [0; max_packet_len(64)],
    };
    let mut rng = Rng(0x1234_5678);
    let mut link = Vec::new();
    let (mut flipped, mut dropped) = (0u32, 0u32);
    for i in 0..CYCLES {
        let noise = rng.next();
        let bytes = node.cycle(Timestamp(1_795_651_200_000 + u64::from(i) * 1000), noise);
        for &b in bytes {
            match rng.next() % 2000 {
                0 => dropped += 1,
                1 => {
                    link.push(b ^ (1 << (rng.next() % 8)));
                    flipped += 1;
                }
                _ => link.push(b),
            }
        }
    }

    // The gateway: arbitrary read sizes, as a UART driver hands them over.
    let mut rx = PacketDecoder::<{ max_packet_len(limits::MAX_FRAME) }>::new();
    let (mut delivered, mut undecodable, mut gaps) = (0u32, 0u32, 0u32);
    let (mut first_seq, mut last_seq) = (None::<u32>, None::<u32>);
    let mut rest = &link[..];
    while !rest.is_empty() {
        let take = 1 + (rng.next() as usize % 64).min(rest.len() - 1);
        let (mut chunk, tail) = rest.split_at(take);
        rest = tail;
        while let Some(result) = rx.push(&mut chunk) {
            let Ok(payload) = result else { continue };
            match Frame::decode(payload) {
                Ok(frame) => {
                    if let Some(last) = last_seq {
                        gaps += frame.seq.wrapping_sub(last).wrapping_sub(1);
                    }
                    first_seq.get_or_insert(frame.seq);
                    last_seq = Some(frame.seq);
                    delivered += 1;
                }
                Err(_) => undecodable += 1,
            }
        }
    }
    let s = rx.stats();
    println!("node {}: {CYCLES} frames sent, {} bytes on the wire", node.id, link.len() + dropped as usize);
    println!("link: {flipped} bits flipped, {dropped} bytes dropped");
    println!(
        "gateway: {delivered} frames delivered, {} CRC mismatches, {} bad COBS, {} too short, {} overflows, {undecodable} undecodable",
        s.crc_errors, s.cobs_errors, s.too_short, s.overflows
    );
    // Frames lost before the first and after the last delivered one show in the sequence too.
    let missing =
        gaps + first_seq.unwrap_or(CYCLES) + (CYCLES - 1).saturating_sub(last_seq.unwrap_or(CYCLES - 1));
    println!("sequence numbers: {missing} frames missing, {} accounted for", delivered + missing);
    assert_eq!(delivered + missing, CYCLES, "every frame is either delivered or counted missing");
}
