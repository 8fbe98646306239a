//! A UDP relay between one client and a server that drops, duplicates and reorders datagrams in
//! both directions, from a seeded generator: the lossy, sleepy network CoAP is made for,
//! on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

/// What the relay did to the datagrams.
#[derive(Debug, Default)]
pub struct Faults {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub delayed: AtomicU64,
}

/// Percentages of each fault.
#[derive(Debug, Clone, Copy)]
pub struct Lossy {
    pub drop: u32,
    pub duplicate: u32,
    /// Held back 5 to 40 ms, so that later datagrams overtake it.
    pub reorder: u32,
}

pub struct Relay {
    pub addr: SocketAddr,
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 100) as u32
    }
}

impl Relay {
    /// A relay to `server`; the first peer to send to [`Relay::addr`] is the client.
    pub async fn start(server: SocketAddr, lossy: Lossy, seed: u64) -> Relay {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let faults = Arc::new(Faults::default());
        let f = faults.clone();
        let task = tokio::spawn(async move {
            let mut dice = Dice(seed | 1);
            let mut client: Option<SocketAddr> = None;
            let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
            loop {
                // Which way this datagram goes, and to whom.
                let (bytes, to_server) = tokio::select! {
                    r = front.recv_from(&mut a) => match r {
                        Ok((n, peer)) => { client = Some(peer); (a[..n].to_vec(), true) }
                        Err(_) => continue,
                    },
                    r = back.recv(&mut b) => match r {
                        Ok(n) => (b[..n].to_vec(), false),
                        Err(_) => continue,
                    },
                };
                let Some(peer) = client else { continue };
                if dice.roll() < lossy.drop {
                    f.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let copies = if dice.roll() < lossy.duplicate { 2 } else { 1 };
                if copies == 2 {
                    f.duplicated.fetch_add(1, Ordering::Relaxed);
                }
                let delay = (dice.roll() < lossy.reorder)
                    .then(|| Duration::from_millis(5 + u64::from(dice.roll() % 36)));
                for _ in 0..copies {
                    let (front, back, bytes, counts) =
                        (front.clone(), back.clone(), bytes.clone(), f.clone());
                    let send = async move {
                        let _ = if to_server {
                            back.send(&bytes).await
                        } else {
                            front.send_to(&bytes, peer).await
                        };
                        counts.forwarded.fetch_add(1, Ordering::Relaxed);
                    };
                    match delay {
                        Some(d) => {
                            f.delayed.fetch_add(1, Ordering::Relaxed);
                            tokio::spawn(async move {
                                tokio::time::sleep(d).await;
                                send.await;
                            });
                        }
                        None => send.await,
                    }
                }
            }
        });
        Relay { addr, faults, task }
    }
}
