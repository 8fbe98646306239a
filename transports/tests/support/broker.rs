//! A real mosquitto broker per test, on an ephemeral loopback port, in a temporary directory;
//! killed when dropped. No test skips when mosquitto is missing: it fails and says how to
//! install it. Shared with the facade's tests (`tests/` at the root), so it needs nothing but
//! std and tokio.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const INSTALL: &str = "install it with `apt-get install mosquitto mosquitto-clients` (scripts/test does)";

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

    /// The broker's process id (to send it SIGHUP, which makes it read its configuration,
    /// and its revocation list, again).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
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

/// Awaits `f`, failing the test after `secs` seconds.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s"))
}

/// Runs a mosquitto client tool, failing with install advice when it is missing.
pub fn tool(name: &str) -> Command {
    let path = Path::new("/usr/bin").join(name);
    assert!(path.exists(), "{name} is not installed: {INSTALL}");
    Command::new(path)
}
