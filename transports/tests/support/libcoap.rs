//! libcoap (C, the reference CoAP implementation) as a test peer: its example server
//! `coap-server-notls` and client `coap-client-notls` from Debian's `libcoap3-bin`, installed by
//! `scripts/test`. A test fails (never skips) when they are missing and says how to install them.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const LIBCOAP_INSTALL: &str = "install it with `apt-get install libcoap3-bin` (scripts/test does)";

fn binary(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    assert!(Path::new(&path).exists(), "libcoap's {name} is not installed: {LIBCOAP_INSTALL}");
    path
}

/// A loopback port free for UDP and for TCP: CoAP servers (libcoap's, aiocoap's) may listen on
/// both with the one number, and a TCP port another test's connection holds would fail them.
pub fn free_udp_port() -> u16 {
    loop {
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// libcoap's example server on an ephemeral loopback port: `/time` (observable, a notification
/// a second), and up to 20 resources any PUT creates (block-wise with libcoap's own handling).
pub struct LibcoapServer {
    child: Child,
    pub port: u16,
}

impl LibcoapServer {
    pub fn start() -> LibcoapServer {
        let port = free_udp_port();
        let child = Command::new(binary("coap-server-notls"))
            .args(["-A", "127.0.0.1", "-p", &port.to_string(), "-d", "20", "-v", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        LibcoapServer { child, port }.ready()
    }

    /// Waits until it answers a GET (fails after 10 s).
    fn ready(self) -> LibcoapServer {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = libcoap_client(&["-m", "get", "-B", "1", &self.url("time")]);
            if out.status.success() && !out.stdout.is_empty() {
                return self;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("libcoap's server did not answer on port {}", self.port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("coap://127.0.0.1:{}/{path}", self.port)
    }

    pub fn base(&self) -> String {
        format!("coap://127.0.0.1:{}", self.port)
    }
}

impl Drop for LibcoapServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs libcoap's client to completion.
pub fn libcoap_client(args: &[&str]) -> Output {
    Command::new(binary("coap-client-notls")).args(args).output().unwrap()
}

/// Starts libcoap's client in the background (an observation with `-s`).
pub fn libcoap_client_spawn(args: &[&str]) -> Child {
    Command::new(binary("coap-client-notls"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

impl LibcoapServer {
    /// libcoap's server with TLS (GnuTLS build): UDP and TCP on `port`, DTLS and TLS on
    /// `port + 1`, with the certificate and key in PEM files.
    pub fn start_tls(cert: &Path, key: &Path) -> LibcoapServer {
        let port = loop {
            // Two free ports in a row (UDP for the plain side, TCP for TLS above it).
            let p = free_udp_port();
            if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
                break p;
            }
        };
        let child = Command::new(binary("coap-server-gnutls"))
            .args(["-A", "127.0.0.1", "-p", &port.to_string(), "-d", "20", "-v", "3", "-n"])
            .args(["-c", cert.to_str().unwrap(), "-j", key.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        LibcoapServer { child, port }.ready()
    }
}
