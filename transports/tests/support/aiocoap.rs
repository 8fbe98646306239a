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
        AiocoapServer::start_with(&[])
    }

    /// The same site behind OSCORE, with the security context in `dir` (see [`oscore_dir`]).
    pub fn start_oscore(dir: &std::path::Path) -> AiocoapServer {
        AiocoapServer::start_with(&["oscore-server", "{port}", dir.to_str().unwrap()])
    }

    fn start_with(args: &[&str]) -> AiocoapServer {
        check();
        let port = free_udp_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/aiocoap_peer.py");
        let mut args: Vec<String> = args.iter().map(|a| a.replace("{port}", &port.to_string())).collect();
        if args.is_empty() {
            args.push(port.to_string());
        }
        let mut child = Command::new("python3")
            .arg(script)
            .args(&args)
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

/// An aiocoap security context directory (`settings.json`) for a shared secret and salt, this
/// aiocoap side's Sender ID and its peer's.
pub fn oscore_dir(
    dir: &super::TempDir,
    name: &str,
    secret: &[u8],
    salt: &[u8],
    sender: &[u8],
    recipient: &[u8],
) -> std::path::PathBuf {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let path = dir.0.join(name);
    std::fs::create_dir_all(&path).unwrap();
    let settings = format!(
        r#"{{"sender-id_hex": "{}", "recipient-id_hex": "{}", "secret_hex": "{}", "salt_hex": "{}"}}"#,
        hex(sender),
        hex(recipient),
        hex(secret),
        hex(salt)
    );
    std::fs::write(path.join("settings.json"), settings).unwrap();
    path
}

/// aiocoap's client POSTing `payload` to `url`, protected with the context in `dir`: its
/// stdout is "<code> <payload>" of the response.
pub fn aiocoap_oscore_post(url: &str, dir: &std::path::Path, payload: &str) -> Output {
    check();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/aiocoap_peer.py");
    Command::new("python3")
        .args([script, "oscore-post", url, dir.to_str().unwrap(), payload])
        .output()
        .unwrap()
}
