//! A serial line between two byte streams: a relay that paces the bytes at a line rate and
//! injects faults per packet (a run of bytes up to a zero delimiter): bit flips, dropped,
//! inserted and duplicated bytes, stalls, as a noisy UART does. The tests run it between
//! pseudo-terminals; the serial benchmark between in-process pipes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the line does to the bytes, per packet (a run of bytes up to a zero delimiter), in
/// packets per million; and its pace.
#[derive(Clone, Copy, Default, Debug)]
pub struct Faults {
    /// Bytes per second (0: as fast as the pseudo-terminals go).
    pub rate: u64,
    /// One bit flipped in a packet.
    pub flip: u32,
    /// One byte of a packet dropped.
    pub drop: u32,
    /// A random byte inserted into a packet.
    pub insert: u32,
    /// One byte of a packet sent twice.
    pub duplicate: u32,
    /// A stall of 50 to 300 ms before a packet.
    pub stall: u32,
}

/// Counts of what the line did.
#[derive(Default)]
pub struct LineCounts {
    pub packets: AtomicU64,
    pub damaged: AtomicU64,
    pub stalls: AtomicU64,
}

/// A deterministic pseudo-random source (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn per_million(&mut self, p: u32) -> bool {
        (self.next() % 1_000_000) < u64::from(p)
    }
}

/// Carries packets from `from` to `to` with `faults`; nothing while `cut` is set.
pub async fn carry(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    faults: Faults,
    seed: u64,
    counts: Arc<LineCounts>,
    cut: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed | 1);
    let mut buf = vec![0u8; 4096];
    let mut packet = Vec::new();
    let mut free_at = tokio::time::Instant::now();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &byte in &buf[..n] {
            packet.push(byte);
            if byte != 0 {
                continue;
            }
            let mut p = std::mem::take(&mut packet);
            counts.packets.fetch_add(1, Ordering::Relaxed);
            if cut.load(Ordering::Relaxed) {
                continue;
            }
            if rng.per_million(faults.stall) {
                counts.stalls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50 + rng.next() % 250)).await;
            }
            let mut damaged = false;
            let len = p.len();
            if rng.per_million(faults.flip) {
                let i = rng.next() as usize % len;
                p[i] ^= 1 << (rng.next() % 8);
                damaged = true;
            }
            if rng.per_million(faults.drop) && p.len() > 1 {
                p.remove(rng.next() as usize % p.len());
                damaged = true;
            }
            if rng.per_million(faults.insert) {
                let i = rng.next() as usize % p.len();
                p.insert(i, rng.next() as u8);
                damaged = true;
            }
            if rng.per_million(faults.duplicate) {
                let i = rng.next() as usize % p.len();
                let b = p[i];
                p.insert(i, b);
                damaged = true;
            }
            if damaged {
                counts.damaged.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(micros) = (p.len() as u64 * 1_000_000).checked_div(faults.rate) {
                // The packet's last byte arrives once the line has carried it at its rate.
                let carrying = Duration::from_micros(micros);
                // Back to back while bytes keep coming: a timer that woke a little late (they
                // do, by up to a millisecond) must not stretch the line.
                let now = tokio::time::Instant::now();
                let idle = now.saturating_duration_since(free_at) > Duration::from_millis(5);
                free_at = if idle { now } else { free_at } + carrying;
                tokio::time::sleep_until(free_at).await;
            }
            if to.write_all(&p).await.is_err() {
                return;
            }
        }
    }
}
