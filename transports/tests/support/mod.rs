//! Test support for the transports: a real mosquitto per test (`broker`), fast clients, a
//! test PKI and a fault-injecting proxy.
#![allow(dead_code)]

mod aiocoap;
mod broker;
mod libcoap;
#[cfg(feature = "serial-port")]
pub mod line;
mod peers;
mod pki;
#[cfg(feature = "serial-port")]
pub mod pty;
pub mod relay;

use std::sync::atomic::Ordering;
use std::time::Duration;

#[allow(unused_imports)]
pub use aiocoap::*;
pub use broker::*;
#[allow(unused_imports)]
pub use libcoap::*;
#[allow(unused_imports)]
pub use peers::*;
#[allow(unused_imports)]
pub use pki::Pki;
use telemetra_transports::mqtt::client::{Event, Options};
use telemetra_transports::mqtt::driver::{Backoff, Config, MqttClient};

/// Client options that reconnect fast (tests wait for reconnects).
pub fn config(url: &str, options: Options) -> Config {
    let mut c = Config::new(url, options).unwrap();
    c.backoff = fast_backoff();
    c
}

pub fn fast_backoff() -> Backoff {
    let mut b = Backoff::default();
    b.initial = Duration::from_millis(50);
    b.max = Duration::from_millis(500);
    b
}

/// A started client, connected.
pub async fn client(url: &str, options: Options) -> MqttClient {
    let c = MqttClient::start(config(url, options)).unwrap();
    within(10, c.connected()).await.unwrap();
    assert!(c.is_connected(), "connected to {url}");
    c
}

/// Waits for an event that `pick` accepts, failing after `secs` seconds.
pub async fn event(c: &MqttClient, secs: u64, mut pick: impl FnMut(&Event) -> bool) -> Event {
    within(secs, async {
        loop {
            let e = c.next_event().await.expect("client still running");
            if pick(&e) {
                return e;
            }
        }
    })
    .await
}

/// What a peer program printed, once it has exited on its own (waited for off the runtime).
pub async fn output_when_done(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap()
}

/// What the test proxy does with the bytes between client and broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProxyMode {
    /// Forward as received.
    Pass = 0,
    /// Forward one byte per write.
    Split = 1,
    /// Stop reading: the TCP windows fill and both sides stall.
    Stall = 2,
    /// Read and discard everything, both ways, with the connections left open.
    BlackHole = 3,
}

/// A TCP proxy between the client and a broker, whose behaviour a test switches at any time.
/// Switching to `Pass` also lets new connections through normally.
pub struct Proxy {
    pub port: u16,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(ProxyMode::Pass as u8));
        let m = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, m.clone()));
                tokio::spawn(pump(sr, cw, m.clone()));
            }
        });
        Proxy { port, mode, task }
    }

    pub fn set(&self, mode: ProxyMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if mode.load(Ordering::SeqCst) == ProxyMode::Stall as u8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just as a stall began wait for it to end.
        while mode.load(Ordering::SeqCst) == ProxyMode::Stall as u8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ok = match mode.load(Ordering::SeqCst) {
            m if m == ProxyMode::BlackHole as u8 => true,
            m if m == ProxyMode::Split as u8 => {
                let mut ok = true;
                for b in &buf[..n] {
                    ok &= to.write_all(std::slice::from_ref(b)).await.is_ok();
                    ok &= to.flush().await.is_ok();
                }
                ok
            }
            _ => to.write_all(&buf[..n]).await.is_ok(),
        };
        if !ok {
            return;
        }
    }
}
