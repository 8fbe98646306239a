//! A firmware-style sensor node and a gateway on a noisy serial line: a real pseudo-terminal
//! pair (socat, started here), the node's bytes damaged on their way.
//!
//! ```text
//! cargo run --features serial --example node      # needs socat (apt-get install socat)
//! ```
//!
//! The node does what a microcontroller would: no heap, fixed buffers, each `Frame` encoded
//! into a stack buffer and handed to the sans-IO reliable link (`serial::reliable`), whose
//! packets go out as COBS + CRC-32. The line flips bits and drops bytes (deterministically,
//! about one byte in 2,000, as before the link existed, when 472 of 10,000 frames were lost).
//! The gateway opens the other end with the serial transport and takes every frame: once, in
//! order, none missing; the damaged packets are dropped, counted, and sent again.

use std::time::Duration;

use telemetra::codec::stream::{PacketDecoder, encode_packet, max_packet_len};
use telemetra::codec::{Frame, FrameView, Message, limits};
use telemetra::heapless;
use telemetra::model::transport::{Receiver as _, Sender as _};
use telemetra::model::{ChannelId, DeviceId, Reading, RouteFilter, RouteKind, Timestamp};
use telemetra::serial::driver::{SerialConfig, SerialLink};
use telemetra::serial::port::{PortSettings, SerialPort};
use telemetra::serial::reliable::{Config, ReliableLink, wire};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CYCLES: u32 = 10_000;
/// Frames in flight, and the largest frame this node sends.
type Link = ReliableLink<8, 64>;

/// The node's whole state: what fits in a microcontroller's RAM.
struct Node {
    id: DeviceId,
    seq: u32,
    temperature_tenths: i32,
    frame_buf: [u8; 64],
}

impl Node {
    /// One sampling cycle: the frame to send.
    fn cycle(&mut self, t: Timestamp, noise: u32) -> &[u8] {
        self.temperature_tenths += (noise % 5) as i32 - 2;
        let mut readings = heapless::Vec::new();
        // Two readings always fit the 16 a frame holds.
        let _ = readings.push(Reading::new(ChannelId(1), t, f64::from(self.temperature_tenths) / 10.0));
        let _ = readings.push(Reading::new(ChannelId(2), t, i64::from(noise % 1024)));
        let frame = Frame::new(self.id, self.seq, Message::Readings(readings));
        self.seq = self.seq.wrapping_add(1);
        // A 64-byte buffer holds this frame (two numbers); a real node sizes it from `limits`.
        frame.encode(&mut self.frame_buf).map(|b| &*b).unwrap_or_default()
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

/// Two pseudo-terminals joined by socat.
struct Pty {
    dir: std::path::PathBuf,
    socat: std::process::Child,
}

impl Pty {
    fn new() -> Pty {
        let dir = std::env::temp_dir().join(format!("telemetra-node-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let end = |n: &str| format!("pty,raw,echo=0,link={}", dir.join(n).display());
        let socat =
            std::process::Command::new("socat").args([end("node"), end("gateway")]).spawn().unwrap_or_else(
                |e| panic!("socat could not start ({e}): install it with `apt-get install socat`"),
            );
        while !(dir.join("node").exists() && dir.join("gateway").exists()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Pty { dir, socat }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The node's loop, as its firmware would run it: frames into the link while its window has
/// room, the link's packets framed and written (through the noise), what comes back fed in.
async fn run_node(port: SerialPort, rng: &mut Rng) -> (Node, u32, u32) {
    let mut node =
        Node { id: DeviceId(0x0004_a30b_001c_2d3e), seq: 0, temperature_tenths: 215, frame_buf: [0; 64] };
    let (mut rx, mut tx) = tokio::io::split(port);
    let start = tokio::time::Instant::now();
    let mut link = Link::new(Config::default(), 0x2d3e_0001);
    let mut decoder = PacketDecoder::<{ max_packet_len(64 + wire::DATA_HEADER) }>::new();
    let mut packet = [0u8; 64 + wire::DATA_HEADER];
    let mut wire = [0u8; max_packet_len(64 + wire::DATA_HEADER)];
    let mut input = [0u8; 256];
    let (mut flipped, mut dropped) = (0u32, 0u32);
    while node.seq < CYCLES || link.unacknowledged() > 0 {
        let now = start.elapsed().as_millis() as u64;
        while node.seq < CYCLES && link.can_send() {
            let (i, noise) = (node.seq, rng.next());
            let frame = node.cycle(Timestamp(1_795_651_200_000 + u64::from(i) * 1000), noise);
            let _ = link.send(frame);
        }
        if link.poll_timeout().is_some_and(|t| t <= now) {
            link.handle_timeout(now);
        }
        while let Some(n) = link.poll_transmit(now, &mut packet) {
            let Ok(len) = encode_packet(&packet[..n], &mut wire) else { continue };
            let mut noisy = heapless::Vec::<u8, { max_packet_len(64 + wire::DATA_HEADER) }>::new();
            for &b in &wire[..len] {
                match rng.next() % 2000 {
                    0 => dropped += 1,
                    1 => {
                        let _ = noisy.push(b ^ (1 << (rng.next() % 8)));
                        flipped += 1;
                    }
                    _ => _ = noisy.push(b),
                }
            }
            tx.write_all(&noisy).await.expect("the node's port");
        }
        let wake = link
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| Duration::from_millis(t.saturating_sub(now)));
        if let Ok(Ok(n)) = tokio::time::timeout(wake, rx.read(&mut input)).await {
            let mut bytes = &input[..n];
            while !bytes.is_empty() {
                if let Some(Ok(p)) = decoder.push(&mut bytes) {
                    link.handle_packet(start.elapsed().as_millis() as u64, p);
                }
            }
        }
    }
    let s = link.stats();
    println!(
        "node {}: {CYCLES} frames sent, {} sent again ({} at once on a gap, {} timeouts)",
        node.id, s.retransmitted, s.fast_retransmits, s.timeouts
    );
    (node, flipped, dropped)
}

#[tokio::main]
async fn main() {
    let pty = Pty::new();
    let port = SerialPort::open(&PortSettings::new(pty.dir.join("node").display().to_string(), 115_200))
        .expect("the node's end of the pseudo-terminal");
    let url = format!("serial://{}?baud=115200", pty.dir.join("gateway").display());
    let mut gateway = SerialLink::open(&url, SerialConfig::default()).await.expect("the gateway's end");
    gateway.subscribe(RouteFilter::kind(RouteKind::Readings)).await.expect("subscribed");

    let mut rng = Rng(0x1234_5678);
    let node = tokio::spawn(async move { run_node(port, &mut rng).await });
    let mut buf = [0u8; limits::MAX_FRAME];
    let mut next = 0u32;
    while next < CYCLES {
        let got = tokio::time::timeout(Duration::from_secs(30), gateway.receive(&mut buf))
            .await
            .expect("a frame within 30 s")
            .expect("the gateway's link");
        let seq = FrameView::parse(&buf[..got.len]).expect("a frame").seq;
        assert_eq!(seq, next, "every frame once, in order");
        next += 1;
    }
    let (_, flipped, dropped) = node.await.expect("the node");
    println!("line: {flipped} bits flipped, {dropped} bytes dropped");
    let s = gateway.status();
    println!(
        "gateway: {next} frames delivered in order, 0 missing; {} CRC mismatches, {} bad COBS, {} too short, {} duplicates dropped",
        s.packets.crc_errors, s.packets.cobs_errors, s.packets.too_short, s.link.duplicates
    );
    gateway.close().await.ok();
}
