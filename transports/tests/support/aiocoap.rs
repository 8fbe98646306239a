//! aiocoap (Python) as a second CoAP peer: its server (`aiocoap_peer.py` beside this file) and
//! its command-line client `aiocoap-client`, installed by `scripts/test` with pip. A test fails
//! (never skips) when aiocoap is missing and says how to install it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use super::free_udp_port;

pub const AIOCOAP_INSTALL: &str =
    "install it with `python3 -m pip install aiocoap==0.4.17` (scripts/test does)";

fn check() {
    let ok = Command::new("python3").args(["-c", "import aiocoap"]).status().is_ok_and(|s| s.success());
    assert!(ok, "aiocoap is not installed: {AIOCOAP_INSTALL}");
}

/// aiocoap's server with `/echo`, `/store` and an observable `/clock`.
pub struct AiocoapServer {
    child: Child,
    pub port: u16,
}

impl AiocoapServer {
    pub fn start() -> AiocoapServer {
        check();
        let port = free_udp_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/aiocoap_peer.py");
        let mut child = Command::new("python3")
            .args([script, &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening", "aiocoap_peer.py did not start");
        AiocoapServer { child, port }
    }

    pub fn base(&self) -> String {
        format!("coap://127.0.0.1:{}", self.port)
    }
}

impl Drop for AiocoapServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `aiocoap-client` (as `python3 -m aiocoap.cli.client`, wherever pip put it).
pub fn aiocoap_client(args: &[&str]) -> Output {
    check();
    Command::new("python3").args(["-m", "aiocoap.cli.client"]).args(args).output().unwrap()
}
