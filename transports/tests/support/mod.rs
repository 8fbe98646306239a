//! A real mosquitto broker per test, on an ephemeral loopback port, in a temporary directory;
//! killed when dropped. No test skips when mosquitto is missing: it fails and says how to
//! install it.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use telemetra_transports::mqtt::client::{Event, Options};
use telemetra_transports::mqtt::driver::{Backoff, Config, MqttClient};

const INSTALL: &str = "install it with `apt-get install mosquitto mosquitto-clients` (scripts/test does)";

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "telemetra-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port (bound, then released for the broker to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn mosquitto_bin() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("mosquitto is not installed: {INSTALL}");
}

/// A running mosquitto.
pub struct Mosquitto {
    pub port: u16,
    pub dir: TempDir,
    conf: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// A broker with anonymous access and persistence, plus `extra` configuration lines
    /// (which may refer to files in `dir` via `{dir}`).
    pub fn start(extra: &str) -> Mosquitto {
        Self::start_in(TempDir::new("mosquitto"), extra)
    }

    pub fn start_in(dir: TempDir, extra: &str) -> Mosquitto {
        // Started as root, mosquitto drops to its own user, which must be able to write its
        // persistence database here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
        let extra = extra.replace("{dir}", dir.0.to_str().unwrap());
        let anonymous = if extra.contains("allow_anonymous") { "" } else { "allow_anonymous true\n" };
        let conf = dir.0.join("mosquitto.conf");
        let mut m = Mosquitto { port: 0, dir, conf, child: None };
        // A free port can be taken by another test between our probe and mosquitto's bind:
        // then mosquitto exits at once and we try another.
        let mut last = String::new();
        for _ in 0..5 {
            m.port = free_port();
            std::fs::write(
                &m.conf,
                format!(
                    "listener {} 127.0.0.1\n{anonymous}persistence true\npersistence_location {}/\n\
                     log_dest stderr\nlog_type error\nlog_type warning\n{extra}\n",
                    m.port,
                    m.dir.0.display()
                ),
            )
            .unwrap();
            match m.try_start() {
                Ok(()) => return m,
                Err(e) => last = e,
            }
        }
        panic!("{last}");
    }

    /// (Re)starts the broker on the same port with the same persistence directory.
    pub fn restart(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mosquitto ({e}): {INSTALL}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "mosquitto exited at start ({status}); configuration:\n{}",
                    std::fs::read_to_string(&self.conf).unwrap()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("mosquitto did not listen on {} within 10 s", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops the broker with SIGTERM (it saves its persistence database) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// mosquitto's dynamic security plugin with an ACL for anonymous clients: subscribing to
/// `nosubscribe/#` and publishing to `secret/#` and to device 2's routes (`tm/v1/2/#`) are
/// denied. (mosquitto's `acl_file` cannot
/// refuse a SUBSCRIBE; it only filters what is delivered.)
pub fn start_with_acl() -> Mosquitto {
    let plugin = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";
    assert!(Path::new(plugin).exists(), "{plugin} is missing: {INSTALL}");
    let dir = TempDir::new("acl");
    dir.file(
        "dynsec.json",
        r#"{"defaultACLAccess":{"publishClientSend":true,"publishClientReceive":true,"subscribe":true,"unsubscribe":true},
 "clients":[],
 "groups":[{"groupname":"anon","roles":[{"rolename":"limited"}]}],
 "roles":[{"rolename":"limited","acls":[
   {"acltype":"subscribePattern","topic":"nosubscribe/#","priority":0,"allow":false},
   {"acltype":"publishClientSend","topic":"secret/#","priority":0,"allow":false},
   {"acltype":"publishClientSend","topic":"tm/v1/2/#","priority":0,"allow":false}]}],
 "anonymousGroup":"anon"}"#,
    );
    Mosquitto::start_in(dir, &format!("plugin {plugin}\nplugin_opt_config_file {{dir}}/dynsec.json"))
}

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
    within(10, c.connected()).await;
    assert!(c.is_connected(), "connected to {url}");
    c
}

/// Awaits `f`, failing the test after `secs` seconds.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s"))
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

/// Runs a mosquitto client tool, failing with install advice when it is missing.
pub fn tool(name: &str) -> Command {
    let path = Path::new("/usr/bin").join(name);
    assert!(path.exists(), "{name} is not installed: {INSTALL}");
    Command::new(path)
}

/// A test certificate authority (rcgen), made fresh for each test.
pub struct Pki {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, "telemetra test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        Pki { issuer: rcgen::CertifiedIssuer::self_signed(p, key).unwrap() }
    }

    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (host names, or the client's common name): (cert, key) PEM.
    pub fn issue(&self, names: &[&str], common_name: &str) -> (String, String) {
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A mosquitto with a TLS listener whose certificate names `names`; `extra` lines follow.
    pub fn broker(&self, names: &[&str], extra: &str) -> Mosquitto {
        let dir = TempDir::new("tls");
        let (cert, key) = self.issue(names, names.first().copied().unwrap_or("server"));
        dir.file("ca.pem", self.ca_pem());
        dir.file("server.pem", cert);
        dir.file("server.key", key);
        Mosquitto::start_in(
            dir,
            &format!(
                "cafile {{dir}}/ca.pem\ncertfile {{dir}}/server.pem\nkeyfile {{dir}}/server.key\n{extra}"
            ),
        )
    }
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
