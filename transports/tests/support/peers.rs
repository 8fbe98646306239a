//! The other implementations in the interoperability matrix: rumqttd (a second broker, a
//! binary installed by `scripts/test` with `cargo install rumqttd`) and Eclipse paho-mqtt (a
//! second client, Python, installed by `scripts/test` with pip). No test skips when one is
//! missing: it fails and says how to install it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, free_port};

pub const RUMQTTD_INSTALL: &str =
    "install it with `cargo install rumqttd --version 0.20.0 --no-default-features` (scripts/test does)";
pub const PAHO_INSTALL: &str =
    "install it with `python3 -m pip install paho-mqtt==2.2.0` (scripts/test does)";

/// rumqttd on two ephemeral loopback ports: MQTT 3.1.1 (`v4`) and MQTT 5.
pub struct Rumqttd {
    pub v4_port: u16,
    pub v5_port: u16,
    conf: PathBuf,
    _dir: TempDir,
    child: Child,
}

fn rumqttd_binary() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let path = home.join("bin").join("rumqttd");
    assert!(path.exists(), "rumqttd is not installed ({}): {RUMQTTD_INSTALL}", path.display());
    path
}

impl Rumqttd {
    pub fn start() -> Rumqttd {
        let dir = TempDir::new("rumqttd");
        let (v4_port, v5_port) = (free_port(), free_port());
        let conf = dir.file(
            "rumqttd.toml",
            format!(
                r#"id = 0
[router]
id = 0
max_connections = 100
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:{v4_port}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true

[v5.1]
name = "v5-1"
listen = "127.0.0.1:{v5_port}"
next_connection_delay_ms = 1
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
"#
            ),
        );
        let child = spawn(&conf, [v4_port, v5_port]);
        Rumqttd { v4_port, v5_port, conf, _dir: dir, child }
    }

    /// Kills the broker (it keeps nothing: sessions and queued messages are gone) and starts
    /// it again on the same ports.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.conf, [self.v4_port, self.v5_port]);
    }
}

fn spawn(conf: &std::path::Path, ports: [u16; 2]) -> Child {
    let child = Command::new(rumqttd_binary())
        .arg("--config")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start rumqttd ({e}): {RUMQTTD_INSTALL}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in ports {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "rumqttd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    child
}

impl Drop for Rumqttd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn paho(args: &[String]) -> Command {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/paho_peer.py");
    let check = Command::new("python3").args(["-c", "import paho.mqtt.client"]).status();
    assert!(matches!(check, Ok(s) if s.success()), "paho-mqtt is not installed: {PAHO_INSTALL}");
    let mut c = Command::new("python3");
    c.arg(script).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit());
    c
}

/// paho publishing `count` messages; returns how many it saw acknowledged (all, for QoS 0).
pub fn paho_publish(port: u16, version: &str, qos: u8, count: u32, topic: &str) -> u32 {
    let args = ["pub", "127.0.0.1", &port.to_string(), version, &qos.to_string(), &count.to_string(), topic];
    let out = paho(&args.map(String::from)).output().expect("python3 runs");
    assert!(out.status.success(), "paho publisher failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let n = text.trim().strip_prefix("published ").unwrap_or_else(|| panic!("paho said {text}"));
    n.parse().unwrap()
}

/// paho subscribed and ready; `finish` waits for its counts.
pub struct PahoSubscriber {
    child: Child,
    out: BufReader<ChildStdout>,
}

/// What a paho subscriber counted.
pub struct Counted {
    pub distinct: u32,
    pub total: u32,
    pub missing: Vec<u32>,
}

impl PahoSubscriber {
    pub fn start(
        port: u16,
        version: &str,
        qos: u8,
        count: u32,
        topic: &str,
        timeout_s: u32,
    ) -> PahoSubscriber {
        let args =
            ["sub", "127.0.0.1", &port.to_string(), version, &qos.to_string(), &count.to_string(), topic];
        let mut args = args.map(String::from).to_vec();
        args.push(timeout_s.to_string());
        let mut child = paho(&args).spawn().expect("python3 runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "paho subscriber did not subscribe");
        PahoSubscriber { child, out }
    }

    pub fn finish(mut self) -> Counted {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(self.child.wait().unwrap().success(), "paho subscriber failed");
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.first(), Some(&"counted"), "paho said {line}");
        let missing =
            fields.get(3).map_or(Vec::new(), |m| m.split(',').map(|i| i.parse().unwrap()).collect());
        Counted { distinct: fields[1].parse().unwrap(), total: fields[2].parse().unwrap(), missing }
    }
}
