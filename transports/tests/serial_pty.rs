//! The serial transport over real pseudo-terminals (socat, started by each test): frames both
//! ways once and in order; through a line that corrupts, drops, inserts and duplicates bytes
//! and stalls, nothing lost, corrupted, duplicated or reordered; the far end closing its port
//! and opening it again, and a peer restarting mid-stream, without losing an acknowledged frame.

mod support;

use std::time::Duration;

use support::pty::{Faults, Line, PtyPair};
use support::within;
use telemetra_codec::{FrameView, ReadingsBody, encode_body};
use telemetra_core::transport::{Receiver, Sender as _, Transport as _};
use telemetra_core::{ChannelId, DeviceId, Reading, Route, RouteFilter, RouteKind, Timestamp};
use telemetra_transports::serial::driver::{SerialConfig, SerialLink};

const DEVICE: DeviceId = DeviceId(0x2a);

/// Frame `i`: a readings frame with sequence number `i` and 1 to 5 readings.
fn frame(i: u32) -> Vec<u8> {
    let readings: Vec<Reading> =
        (0..=i % 5).map(|k| Reading::new(ChannelId(k as u16), Timestamp(u64::from(i)), i as i32)).collect();
    let mut buf = [0u8; 512];
    encode_body(DEVICE, i, &ReadingsBody(&readings), &mut buf).unwrap().to_vec()
}

fn readings() -> Route {
    Route::new(RouteKind::Readings, DEVICE)
}

async fn open(path: &std::path::Path) -> SerialLink {
    let mut link = SerialLink::open(&PtyPair::url(path), SerialConfig::default()).await.unwrap();
    link.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    link
}

/// Receives `n` frames on `link` and checks they are frames `0..n`, in order, intact.
async fn expect_in_order(link: &mut impl Receiver, n: u32, secs: u64) {
    let mut buf = [0u8; 2048];
    for i in 0..n {
        let got = within(secs, link.receive(&mut buf)).await.unwrap();
        let view = FrameView::parse(&buf[..got.len]).unwrap();
        assert_eq!(view.seq, i, "frame {i} next, nothing lost, repeated or reordered");
        assert_eq!(&buf[..got.len], frame(i).as_slice(), "frame {i} intact");
    }
}

#[tokio::test]
async fn frames_cross_a_pty_pair_both_ways_once_and_in_order() {
    let pair = PtyPair::new();
    let (a, b) = (open(&pair.a).await, open(&pair.b).await);
    assert!(a.wait_up(Duration::from_secs(5)).await, "the handshake over the pseudo-terminals");
    let ((mut tx_a, mut rx_a), (mut tx_b, mut rx_b)) = (a.split(), b.split());
    let sending = tokio::spawn(async move {
        for i in 0..2_000 {
            tx_a.send(readings(), &frame(i)).await.unwrap();
            tx_b.send(readings(), &frame(i)).await.unwrap();
        }
        tx_a.send_acked(readings(), &frame(2_000)).await.unwrap();
        (tx_a, tx_b)
    });
    tokio::join!(expect_in_order(&mut rx_b, 2_001, 30), expect_in_order(&mut rx_a, 2_000, 30));
    let _halves = sending.await.unwrap();
    let s = rx_a.status();
    assert!(s.up && s.link.acknowledged == 2_001, "{s:?}");
    assert_eq!(s.packets.crc_errors, 0, "a clean line: {s:?}");
}

/// The line: 5 % of packets with a bit flipped and 1 % with a byte dropped, and a few
/// with a byte inserted or doubled or a stall (50 to 300 ms) before them; 100,000 frames (a
/// few fields each) cross with none lost, corrupted, duplicated or out of order.
#[tokio::test]
async fn through_a_noisy_line_nothing_is_lost_corrupted_duplicated_or_reordered() {
    const FRAMES: u32 = 100_000;
    let faults = Faults { rate: 0, flip: 50_000, drop: 10_000, insert: 5_000, duplicate: 5_000, stall: 200 };
    let line = Line::start(faults, 0x5eed_1234).await;
    let (mut a, mut b) = (open(&line.ends.0).await, open(&line.ends.1).await);
    assert!(a.wait_up(Duration::from_secs(10)).await);
    let sender = tokio::spawn(async move {
        for i in 0..FRAMES {
            a.send(readings(), &frame(i)).await.unwrap();
        }
        a
    });
    expect_in_order(&mut b, FRAMES, 60).await;
    let a = sender.await.unwrap();
    let (sa, sb) = (a.status(), b.status());
    let damaged = line.counts.damaged.load(std::sync::atomic::Ordering::Relaxed);
    println!("line: {damaged} packets damaged; sender {sa:?}; receiver {sb:?}");
    assert!(damaged > 1_000, "the line did damage packets");
    assert!(sb.packets.crc_errors > 0 && sa.link.retransmitted > 0, "and the link recovered them");
}

/// The far end closes its port and opens it again (a terminal program restarted): what was
/// sent meanwhile arrives once the port is back, nothing twice.
#[tokio::test]
async fn the_far_end_closing_and_reopening_its_port_loses_nothing() {
    let pair = PtyPair::new();
    let mut a = open(&pair.a).await;
    let mut b = open(&pair.b).await;
    assert!(a.wait_up(Duration::from_secs(5)).await);
    for i in 0..100 {
        a.send(readings(), &frame(i)).await.unwrap();
    }
    expect_in_order(&mut b, 50, 10).await;
    // b's side closes the port (the link ends with it) ... while a goes on sending.
    drop(b);
    for i in 100..300 {
        a.send(readings(), &frame(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acknowledged = a.status().link.acknowledged as u32;
    // ... and a new program opens it: a new session, which a notices (a restart).
    let mut b = open(&pair.b).await;
    let mut buf = [0u8; 2048];
    let mut seen = Vec::new();
    while seen.last() != Some(&299) {
        let got = within(20, b.receive(&mut buf)).await.unwrap();
        seen.push(FrameView::parse(&buf[..got.len]).unwrap().seq);
    }
    // Frames the first program took and acknowledged are not sent again; the ones it had
    // not acknowledged (taken but unacknowledged: at most a window) may be.
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    assert_eq!(seen[0], acknowledged, "starts right after what was acknowledged: {seen:?}");
    assert!(
        acknowledged >= 49,
        "the first program acknowledged what it took (its last release may race its end)"
    );
    assert_eq!(a.status().link.peer_restarts, 1);
}

/// A peer that restarts mid-stream (a device rebooting) while the other keeps sending: every
/// frame the sender saw acknowledged was taken by one life of the receiver or the other;
/// nothing acknowledged is lost.
#[tokio::test]
async fn a_peer_restarting_mid_stream_loses_no_acknowledged_frame() {
    let pair = PtyPair::new();
    let mut a = open(&pair.a).await;
    let mut b = open(&pair.b).await;
    assert!(a.wait_up(Duration::from_secs(5)).await);
    let sender = tokio::spawn(async move {
        for i in 0..500 {
            a.send_acked(readings(), &frame(i)).await.unwrap();
        }
        a
    });
    let mut buf = [0u8; 2048];
    let mut taken = Vec::new();
    for _ in 0..200 {
        let got = within(10, b.receive(&mut buf)).await.unwrap();
        taken.push(FrameView::parse(&buf[..got.len]).unwrap().seq);
    }
    drop(b);
    let mut b = open(&pair.b).await;
    while taken.last() != Some(&499) {
        let got = within(20, b.receive(&mut buf)).await.unwrap();
        taken.push(FrameView::parse(&buf[..got.len]).unwrap().seq);
    }
    let a = sender.await.unwrap();
    let unique: std::collections::BTreeSet<u32> = taken.iter().copied().collect();
    assert_eq!(unique.len(), 500, "every acknowledged frame reached b");
    assert!(taken.len() - unique.len() <= 1, "at most the frame in hand at the restart twice");
    assert_eq!(a.status().link.peer_restarts, 1);
}
