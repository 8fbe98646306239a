//! Two ends over a simulated serial line in simulated time: packets take their length at a
//! line rate, keep their order, and are lost (a corrupted packet fails its CRC and is dropped
//! before the link sees it), duplicated or stalled at the rates a test sets.

use std::collections::VecDeque;
use std::vec::Vec;

use proptest::prelude::*;

use super::wire::{Hello, Packet};
use super::*;

type End = ReliableLink<8, 64>;

/// One direction of the line.
struct Line {
    /// Packets on their way: when each arrives.
    packets: VecDeque<(u64, Vec<u8>)>,
    busy_until: u64,
    loss: u32,
    duplication: u32,
    random: u64,
    /// DATA packets to drop, counted from the first (`Some(0)`: this one).
    drop_data: Option<u32>,
}

impl Line {
    /// `loss` and `duplication` in per mille.
    fn new(loss: u32, duplication: u32, seed: u64) -> Line {
        Line { packets: VecDeque::new(), busy_until: 0, loss, duplication, random: seed | 1, drop_data: None }
    }

    fn roll(&mut self) -> u32 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        (self.random % 1000) as u32
    }

    /// A packet of `len` bytes takes `len + 6` byte times (COBS, CRC, delimiter) at 10 bytes
    /// a millisecond, after what is on the line already.
    fn carry(&mut self, now: u64, packet: &[u8]) {
        if matches!(Packet::parse(packet), Ok(Packet::Data { .. })) {
            let drop = self.drop_data == Some(0);
            self.drop_data = self.drop_data.and_then(|n| n.checked_sub(1));
            if drop {
                self.busy_until = self.busy_until.max(now) + (packet.len() as u64 + 6).div_ceil(10);
                return;
            }
        }
        let copies = if self.roll() < self.duplication { 2 } else { 1 };
        for _ in 0..copies {
            let start = self.busy_until.max(now);
            self.busy_until = start + (packet.len() as u64 + 6).div_ceil(10);
            if self.roll() >= self.loss {
                self.packets.push_back((self.busy_until + 1, packet.to_vec()));
            }
        }
    }

    fn arrived(&mut self, now: u64) -> Option<Vec<u8>> {
        match self.packets.front() {
            Some((at, _)) if *at <= now => self.packets.pop_front().map(|(_, p)| p),
            _ => None,
        }
    }

    fn next_arrival(&self) -> Option<u64> {
        self.packets.front().map(|(at, _)| *at)
    }
}

/// The frames one end sends (`frame i` carries `i`) and what it took from the other.
struct App {
    to_send: u32,
    next: u32,
    ids: Vec<u32>,
    taken: Vec<u32>,
}

impl App {
    fn new(to_send: u32) -> App {
        App { to_send, next: 0, ids: Vec::new(), taken: Vec::new() }
    }

    fn run(&mut self, end: &mut End) {
        while self.next < self.to_send && end.can_send() {
            let mut payload = [0u8; 40];
            payload[..4].copy_from_slice(&self.next.to_le_bytes());
            self.ids.push(end.send(&payload[..8 + self.next as usize % 32]).unwrap());
            self.next += 1;
        }
        while let Some((taken, frame)) = end.receive() {
            let n = u32::from_le_bytes(frame[..4].try_into().unwrap());
            assert_eq!(frame.len(), 8 + n as usize % 32, "frame {n} intact");
            self.taken.push(n);
            assert!(end.consume(taken));
        }
    }

    fn all_acknowledged(&self, end: &End) -> bool {
        self.next == self.to_send && self.ids.iter().all(|&id| end.is_acknowledged(id))
    }
}

struct Sim {
    now: u64,
    ends: [End; 2],
    apps: [App; 2],
    lines: [Line; 2],
}

impl Sim {
    fn new(frames: [u32; 2], loss: u32, duplication: u32, seed: u64) -> Sim {
        Sim {
            now: 0,
            ends: [End::new(Config::default(), 0xa1), End::new(Config::default(), 0xb2)],
            apps: [App::new(frames[0]), App::new(frames[1])],
            lines: [Line::new(loss, duplication, seed), Line::new(loss, duplication, seed.rotate_left(17))],
        }
    }

    /// One step: timers, packets out, packets in, the applications; then time moves to the
    /// next thing due.
    fn step(&mut self) {
        let mut buf = [0u8; 80];
        for i in 0..2 {
            if self.ends[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.ends[i].handle_timeout(self.now);
            }
            self.apps[i].run(&mut self.ends[i]);
            while let Some(n) = self.ends[i].poll_transmit(self.now, &mut buf) {
                self.lines[i].carry(self.now, &buf[..n]);
            }
            while let Some(p) = self.lines[1 - i].arrived(self.now) {
                self.ends[i].handle_packet(self.now, &p);
            }
            self.apps[i].run(&mut self.ends[i]);
            while let Some(n) = self.ends[i].poll_transmit(self.now, &mut buf) {
                self.lines[i].carry(self.now, &buf[..n]);
            }
        }
        let due = [
            self.ends[0].poll_timeout(),
            self.ends[1].poll_timeout(),
            self.lines[0].next_arrival(),
            self.lines[1].next_arrival(),
        ];
        let next = due.into_iter().flatten().min().unwrap_or(self.now + 1);
        self.now = next.max(self.now + 1);
    }

    /// Runs until both ends had every frame acknowledged, or `limit` ms.
    fn run(&mut self, limit: u64) {
        while self.now < limit {
            self.step();
            if self.apps[0].all_acknowledged(&self.ends[0]) && self.apps[1].all_acknowledged(&self.ends[1]) {
                return;
            }
        }
        panic!(
            "not done after {limit} ms: {} and {} frames taken; stats {:?} / {:?}",
            self.apps[1].taken.len(),
            self.apps[0].taken.len(),
            self.ends[0].stats(),
            self.ends[1].stats()
        );
    }

    fn assert_each_once_in_order(&self) {
        for i in 0..2 {
            let expected: Vec<u32> = (0..self.apps[1 - i].to_send).collect();
            assert_eq!(self.apps[i].taken, expected, "end {i} took every frame once, in order");
        }
    }
}

#[test]
fn a_clean_line_carries_everything_without_a_retransmission() {
    let mut sim = Sim::new([500, 300], 0, 0, 1);
    sim.run(60_000);
    sim.assert_each_once_in_order();
    for end in &sim.ends {
        let s = end.stats();
        assert_eq!((s.retransmitted, s.timeouts, s.duplicates), (0, 0, 0), "{s:?}");
    }
    assert!(sim.ends[0].round_trip().is_some());
}

#[test]
fn thirty_percent_loss_and_ten_percent_duplication_both_ways() {
    let mut sim = Sim::new([2_000, 2_000], 300, 100, 42);
    sim.run(3_600_000);
    sim.assert_each_once_in_order();
    for end in &sim.ends {
        let s = end.stats();
        assert!(s.retransmitted > 300 && s.duplicates > 50, "the line did lose and repeat: {s:?}");
        assert_eq!((s.acknowledged, s.delivered), (2_000, 2_000), "{s:?}");
    }
}

#[test]
fn a_lost_frame_is_sent_again_at_once_when_a_later_one_is_held() {
    let mut sim = Sim::new([40, 0], 0, 0, 1);
    // The third DATA packet a sends is lost on the line; the ones after it arrive.
    sim.lines[0].drop_data = Some(2);
    sim.run(60_000);
    sim.assert_each_once_in_order();
    let s = sim.ends[0].stats();
    assert!(s.fast_retransmits >= 1, "recovered by the selective acknowledgement: {s:?}");
    assert_eq!(s.timeouts, 0, "without waiting for the timer: {s:?}");
}

#[test]
fn a_peer_that_restarts_gets_every_frame_not_acknowledged() {
    let mut sim = Sim::new([300, 0], 20, 0, 7);
    while sim.apps[1].taken.len() < 100 {
        sim.step();
    }
    // b restarts: a new session, nothing held; what it took before stays taken.
    let before = std::mem::take(&mut sim.apps[1].taken);
    sim.ends[1] = End::new(Config::default(), 0xb3);
    sim.run(600_000);
    assert!(sim.ends[0].stats().peer_restarts == 1);
    let mut all = before.clone();
    all.extend(&sim.apps[1].taken);
    all.sort_unstable();
    let unique: std::collections::BTreeSet<u32> = all.iter().copied().collect();
    assert_eq!(unique.len(), 300, "every frame reached b in one life or the other");
    // Only what the first life took without its acknowledgement reaching a comes twice.
    assert!(all.len() - unique.len() <= 8, "{} duplicates across the restart", all.len() - unique.len());
    assert!(sim.apps[1].taken.windows(2).all(|w| w[0] < w[1]), "in order after the restart");
}

#[test]
fn a_silent_peer_is_down_and_comes_back_without_loss() {
    let mut sim = Sim::new([200, 0], 0, 0, 3);
    while sim.apps[1].taken.len() < 50 {
        sim.step();
    }
    // The line is cut both ways for 10 s (a cable pulled, a port closed and opened again).
    let cut_until = sim.now + 10_000;
    while sim.now < cut_until {
        sim.lines[0].loss = 1000;
        sim.lines[1].loss = 1000;
        sim.step();
    }
    assert!(!sim.ends[0].is_established());
    assert!(std::iter::from_fn(|| sim.ends[0].poll_event()).any(|e| e == Event::Down));
    sim.lines[0].loss = 0;
    sim.lines[1].loss = 0;
    sim.run(600_000);
    sim.assert_each_once_in_order();
    assert!(std::iter::from_fn(|| sim.ends[0].poll_event()).any(|e| e == Event::Up));
    assert_eq!(sim.ends[0].stats().peer_restarts, 0, "the same sessions: no restart");
}

#[test]
fn a_frame_is_acknowledged_only_once_taken() {
    let mut a = End::new(Config::default(), 1);
    let mut b = End::new(Config::default(), 2);
    let mut buf = [0u8; 80];
    let id = a.send(b"x").unwrap();
    for t in 0..5 {
        while let Some(n) = a.poll_transmit(t, &mut buf) {
            b.handle_packet(t, &buf[..n]);
        }
        while let Some(n) = b.poll_transmit(t, &mut buf) {
            a.handle_packet(t, &buf[..n]);
        }
    }
    let (taken, frame) = b.receive().unwrap();
    assert_eq!(frame, b"x");
    assert!(!a.is_acknowledged(id), "held by b, not yet taken");
    assert!(b.consume(taken));
    assert!(!b.consume(taken), "once");
    while let Some(n) = b.poll_transmit(10, &mut buf) {
        a.handle_packet(10, &buf[..n]);
    }
    assert!(a.is_acknowledged(id));
    assert_eq!(a.unacknowledged(), 0);
}

#[test]
fn the_window_bounds_what_is_queued_and_payloads_are_checked() {
    let mut a = End::new(Config::default(), 1);
    for _ in 0..8 {
        a.send(b"f").unwrap();
    }
    assert_eq!(a.send(b"f"), Err(SendError::Full));
    let mut b = End::new(Config::default(), 2);
    assert_eq!(b.send(&[0; 65]), Err(SendError::TooLarge { len: 65, max: 64 }));
    assert_eq!(b.send(&[]), Err(SendError::Empty));
}

#[test]
fn the_wire_format_byte_by_byte() {
    let hello =
        Packet::Hello(Hello { reply: true, session: 0x0403_0201, peer: 0, window: 8, max_payload: 300 });
    let data = Packet::Data { seq: 0x0102, ack: 7, payload: b"hi" };
    let ack = Packet::Ack { ack: 0xfffe, sack: 0b101 };
    let golden: [(Packet<'_>, &[u8]); 3] = [
        (hello, &[0x01, 0x01, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x08, 0x2c, 0x01]),
        (data, &[0x02, 0x02, 0x01, 0x07, 0x00, b'h', b'i']),
        (ack, &[0x03, 0xfe, 0xff, 0x05, 0, 0, 0]),
    ];
    for (packet, bytes) in golden {
        let mut out = [0u8; 32];
        let n = packet.write(&mut out).unwrap();
        assert_eq!(&out[..n], bytes, "{packet:?}");
        assert_eq!(Packet::parse(bytes), Ok(packet));
    }
    assert!(Packet::parse(&[]).is_err());
    assert!(Packet::parse(&[0x02, 0, 0, 0, 0]).is_err(), "DATA without payload");
    assert!(Packet::parse(&[0x01, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 8, 1, 0]).is_err(), "reserved flag");
    assert!(Packet::parse(&[0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 33, 1, 0]).is_err(), "window over 32");
    assert!(Packet::parse(&[0x04]).is_err());
}

#[test]
fn garbage_and_stale_acknowledgements_are_counted_and_change_nothing() {
    let mut sim = Sim::new([20, 0], 0, 0, 5);
    sim.run(60_000);
    let end = &mut sim.ends[0];
    let before = end.stats();
    end.handle_packet(sim.now, &[0x09, 1, 2]);
    end.handle_packet(sim.now, &[0x03, 0x00, 0x40, 0, 0, 0, 0]); // acknowledges frames never sent
    let after = end.stats();
    assert_eq!(after.malformed, before.malformed + 2);
    assert_eq!(after.acknowledged, before.acknowledged);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any loss up to 30 % and duplication up to 10 %, both directions at once: every frame
    /// arrives once, intact, in order, and every one is acknowledged.
    #[test]
    fn any_loss_and_duplication_loses_and_repeats_nothing(
        loss in 0u32..300,
        duplication in 0u32..100,
        seed in any::<u64>(),
        frames in (1u32..150, 0u32..150),
    ) {
        let mut sim = Sim::new([frames.0, frames.1], loss, duplication, seed);
        sim.run(3_600_000);
        sim.assert_each_once_in_order();
    }

    /// Whatever bytes come in, nothing panics and the counters say why they were dropped.
    #[test]
    fn arbitrary_packets_never_panic(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..50)) {
        let mut end = End::new(Config::default(), 9);
        let mut buf = [0u8; 80];
        for (t, p) in packets.iter().enumerate() {
            end.handle_packet(t as u64, p);
            end.handle_timeout(t as u64);
            while end.poll_transmit(t as u64, &mut buf).is_some() {}
            while let Some((taken, _)) = end.receive() {
                end.consume(taken);
            }
        }
    }
}
