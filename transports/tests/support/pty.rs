//! Pseudo-terminal pairs from socat, and a line between two of them: a relay that paces the
//! bytes at a line rate and injects faults (bit flips, dropped, inserted and duplicated bytes,
//! stalls), as a noisy UART does.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use telemetra_transports::serial::port::{PortSettings, SerialPort};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use super::TempDir;

/// Two pseudo-terminals joined by socat: what is written to one is read from the other.
pub struct PtyPair {
    pub a: PathBuf,
    pub b: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl PtyPair {
    pub fn new() -> PtyPair {
        let dir = TempDir::new("pty");
        let (a, b) = (dir.0.join("a"), dir.0.join("b"));
        let pty = |p: &PathBuf| format!("pty,raw,echo=0,link={}", p.display());
        let child = Command::new("socat")
            .args([&pty(&a), &pty(&b)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "socat could not start ({e}): install it with `apt-get install socat` (scripts/test does)"
                )
            });
        let mut pair = PtyPair { a, b, child, _dir: dir };
        for _ in 0..500 {
            if pair.a.exists() && pair.b.exists() {
                return pair;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = pair.child.kill();
        panic!("socat did not create its pseudo-terminals");
    }

    pub fn url(path: &std::path::Path) -> String {
        format!("serial://{}?baud=115200", path.display())
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// A line between two PTY pairs: `ends.0` and `ends.1` are where the two sides of the link
/// open their ports; the relay holds the other ends and carries bytes both ways.
pub struct Line {
    pub ends: (PathBuf, PathBuf),
    pub counts: Arc<LineCounts>,
    pub cut: Arc<AtomicBool>,
    _pairs: (PtyPair, PtyPair),
}

impl Line {
    pub async fn start(faults: Faults, seed: u64) -> Line {
        let (p1, p2) = (PtyPair::new(), PtyPair::new());
        let open = |p: &PathBuf| {
            let port = SerialPort::open(&PortSettings::new(p.display().to_string(), 115_200)).unwrap();
            tokio::io::split(port)
        };
        let (r1, w1) = open(&p1.b);
        let (r2, w2) = open(&p2.a);
        let counts = Arc::new(LineCounts::default());
        let cut = Arc::new(AtomicBool::new(false));
        tokio::spawn(carry(r1, w2, faults, seed, counts.clone(), cut.clone()));
        tokio::spawn(carry(r2, w1, faults, seed.rotate_left(23) ^ 0x5555, counts.clone(), cut.clone()));
        Line { ends: (p1.a.clone(), p2.b.clone()), counts, cut, _pairs: (p1, p2) }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn per_million(&mut self, p: u32) -> bool {
        (self.next() % 1_000_000) < u64::from(p)
    }
}

/// Carries packets from `from` to `to` with `faults`; nothing while `cut` is set.
async fn carry(
    mut from: ReadHalf<SerialPort>,
    mut to: WriteHalf<SerialPort>,
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
                free_at = free_at.max(tokio::time::Instant::now()) + carrying;
                tokio::time::sleep_until(free_at).await;
            }
            if to.write_all(&p).await.is_err() {
                return;
            }
        }
    }
}
