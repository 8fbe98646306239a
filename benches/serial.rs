//! Goodput of the reliable serial link on a paced line: frames of about 200 bytes from one end
//! to the other through a relay that carries the bytes at 115,200 baud (8N1: 11,520 bytes a
//! second, both ways at once as a UART does) and damages a share of the packets (one bit
//! flipped). Compared in the same run with the bare COBS+CRC framing the link sits on (what
//! the `node` example did before: no acknowledgement, no retransmission), whose goodput is the
//! ceiling and whose losses are what the link is for.
//!
//! The line's pace, not the processor, sets these figures, so each case is one timed transfer
//! rather than criterion's many samples (criterion would measure the relay's clock): payload
//! bytes delivered intact and in order, divided by the time from the first send to the last
//! frame received, as a share of the line rate.
//!
//!     cargo bench -p telemetra-benches --bench serial

#[path = "../transports/tests/support/line.rs"]
#[allow(dead_code)]
mod line;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use line::{Faults, LineCounts, carry};
use telemetra::codec::stream::{PacketDecoder, encode_packet, max_packet_len};
use telemetra::codec::{FrameView, ReadingsBody, encode_body};
use telemetra::model::transport::{Receiver as _, Sender as _, Transport as _};
use telemetra::model::{ChannelId, DeviceId, Reading, Route, RouteFilter, RouteKind, Timestamp};
use telemetra::serial::driver::{SerialConfig, SerialLink};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// 115,200 baud, 10 bits a byte.
const LINE_RATE: u64 = 11_520;
const DEVICE: DeviceId = DeviceId(0x2a);

/// Frame `i`: 16 readings, about 200 bytes.
fn frame(i: u32) -> Vec<u8> {
    let readings: Vec<Reading> = (0..16u16)
        .map(|k| {
            Reading::new(ChannelId(k), Timestamp(1_700_000_000_000 + u64::from(i)), 20.0 + k as f32 * 0.25)
        })
        .collect();
    let mut buf = [0u8; 1100];
    encode_body(DEVICE, i, &ReadingsBody(&readings), &mut buf).unwrap().to_vec()
}

/// A paced, damaging line between two in-process pipes; returns the two ends.
fn line(flip_per_million: u32) -> (DuplexStream, DuplexStream) {
    let (a, relay_a) = tokio::io::duplex(1 << 16);
    let (relay_b, b) = tokio::io::duplex(1 << 16);
    let faults = Faults { rate: LINE_RATE, flip: flip_per_million, ..Faults::default() };
    let (counts, cut) = (Arc::new(LineCounts::default()), Arc::new(AtomicBool::new(false)));
    let (ra, wa) = tokio::io::split(relay_a);
    let (rb, wb) = tokio::io::split(relay_b);
    tokio::spawn(carry(ra, wb, faults, 0x1234_5678, counts.clone(), cut.clone()));
    tokio::spawn(carry(rb, wa, faults, 0x8765_4321, counts, cut));
    (a, b)
}

struct Outcome {
    delivered: u32,
    bytes: u64,
    elapsed: Duration,
}

/// The reliable link: `n` frames sent, every one received.
async fn reliable(n: u32, flip: u32) -> Outcome {
    let (a, b) = line(flip);
    let (tx, _) = SerialLink::over(a, SerialConfig::default()).split();
    let mut b = SerialLink::over(b, SerialConfig::default());
    b.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    let frames: Vec<Vec<u8>> = (0..n).map(frame).collect();
    let bytes = frames.iter().map(|f| f.len() as u64).sum();
    let start = Instant::now();
    let sending = tokio::spawn(async move {
        let mut tx = tx;
        for f in &frames {
            tx.send(Route::new(RouteKind::Readings, DEVICE), f).await.unwrap();
        }
        tx
    });
    let mut buf = [0u8; 1100];
    for i in 0..n {
        let got = b.receive(&mut buf).await.unwrap();
        assert_eq!(FrameView::parse(&buf[..got.len]).unwrap().seq, i, "in order, none lost");
    }
    let elapsed = start.elapsed();
    drop(sending.await.unwrap());
    Outcome { delivered: n, bytes, elapsed }
}

/// The bare framing: `n` frames written as COBS+CRC packets; those that arrive intact count.
async fn bare(n: u32, flip: u32) -> Outcome {
    let (mut a, mut b) = line(flip);
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        for i in 0..n {
            let f = frame(i);
            let mut wire = vec![0u8; max_packet_len(f.len())];
            let len = encode_packet(&f, &mut wire).unwrap();
            a.write_all(&wire[..len]).await.unwrap();
        }
        a
    });
    let mut decoder = PacketDecoder::<2048>::new();
    let (mut delivered, mut bytes, mut last) = (0u32, 0u64, start.elapsed());
    let mut buf = vec![0u8; 4096];
    // Until the last frame arrived, or the line has been quiet for a second after the writer.
    loop {
        let read = tokio::time::timeout(Duration::from_secs(1), b.read(&mut buf)).await;
        let Ok(Ok(len)) = read else { break };
        let mut input = &buf[..len];
        while !input.is_empty() {
            if let Some(Ok(packet)) = decoder.push(&mut input) {
                delivered += 1;
                bytes += packet.len() as u64;
                last = start.elapsed();
            }
        }
        if delivered == n {
            break;
        }
    }
    drop(writer.await.unwrap());
    Outcome { delivered, bytes, elapsed: last }
}

fn row(what: &str, flip: u32, n: u32, o: &Outcome) {
    let goodput = o.bytes as f64 / o.elapsed.as_secs_f64();
    println!(
        "| {what} | {:.0} % | {:.0} B/s | {:.1} % | {} of {n} |",
        f64::from(flip) / 10_000.0,
        goodput,
        100.0 * goodput / LINE_RATE as f64,
        o.delivered
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    const N: u32 = 300;
    println!("| framing | packets damaged | goodput | of the line rate | frames delivered |");
    println!("|---|---:|---:|---:|---:|");
    for flip in [0, 10_000, 50_000, 100_000] {
        let ours = runtime.block_on(reliable(N, flip));
        row("reliable link", flip, N, &ours);
        let theirs = runtime.block_on(bare(N, flip));
        row("bare COBS+CRC", flip, N, &theirs);
    }
}
