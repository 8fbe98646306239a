//! Pseudo-terminal pairs from socat, and a line between two of them: the relay of
//! [`line`](super::line) carrying bytes between the pairs, pacing them and injecting faults.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use telemetra_transports::serial::port::{PortSettings, SerialPort};

use super::TempDir;
use super::line::carry;
pub use super::line::{Faults, LineCounts};

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
