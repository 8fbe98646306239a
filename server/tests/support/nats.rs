//! A real NATS cluster per test: Debian's `nats-server` (2.9), N nodes with JetStream on free
//! loopback ports, routes between them, and the subject mappings the scale-out needs. Stopped
//! and removed when dropped; a node can be killed mid-test. No test skips when nats-server is
//! missing: it fails and says how to install it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL: &str = "install it with `apt-get install nats-server` (scripts/test does)";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn binary() -> PathBuf {
    for p in ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nats-server is not installed: {INSTALL}");
}

/// A running cluster.
pub struct NatsCluster {
    nodes: Vec<Option<Child>>,
    pub ports: Vec<u16>,
    dir: PathBuf,
}

impl NatsCluster {
    /// `n` nodes with JetStream, `mappings` (source, destination) in every node's account.
    pub fn start(n: usize, mappings: &[(String, String)]) -> NatsCluster {
        let bin = binary();
        let dir = std::env::temp_dir().join(format!("telemetra-nats-{}-{}", std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let route_list: Vec<String> = routes.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
        let mapping_list: Vec<String> = mappings.iter().map(|(s, d)| format!("  \"{s}\": \"{d}\"")).collect();
        let mut nodes = Vec::new();
        for i in 0..n {
            let conf = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{port}\n\
                 jetstream {{ store_dir: \"{store}\", max_memory_store: 64MB, max_file_store: 1GB }}\n\
                 cluster {{ name: telemetra, listen: 127.0.0.1:{route}, routes: [{routes}] }}\n\
                 mappings = {{\n{mappings}\n}}\n",
                port = ports[i],
                store = dir.join(format!("n{i}")).display(),
                route = routes[i],
                routes = route_list.join(", "),
                mappings = mapping_list.join("\n"),
            );
            let file = dir.join(format!("n{i}.conf"));
            std::fs::write(&file, conf).unwrap();
            let log = std::fs::File::create(dir.join(format!("n{i}.log"))).unwrap();
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("nats-server: {e}: {INSTALL}"));
            nodes.push(Some(child));
        }
        let cluster = NatsCluster { nodes, ports, dir };
        for (i, port) in cluster.ports.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(Instant::now() < deadline, "nats-server node {i} did not listen: {}", cluster.log(i));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// Every node's URL, comma-separated (what a client is given).
    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect()
    }

    /// Node `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("n{i}.log"))).unwrap_or_default()
    }

    /// Kills node `i` (SIGKILL: no goodbye to its peers).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
