//! The provisioning service: a fleet CA, single-use claims, per-device broker ACLs and
//! revocation, for a mosquitto broker with its dynamic security plugin.
//!
//! ```text
//! # 1. Once: the registry and the fleet CA; prints the broker configuration to use.
//! cargo run --features server --example provisioner -- init STATE
//! # 2. The service (connects as the dynamic security administrator):
//! cargo run --features server --example provisioner -- serve STATE BROKER
//! # 3. A claim for devices 2a and 2b, good for a day (prints its id and secret once):
//! cargo run --features server --example provisioner -- claim STATE BROKER 2a,2b 86400
//! # 4. Revoking a device:
//! cargo run --features server --example provisioner -- revoke STATE BROKER 2a
//! ```
//!
//! `BROKER` is the claim listener's URL (`mqtts://host:port`). The broker's CA certificate is
//! read from `STATE/broker-ca.pem` (absent: the webpki roots), the administrator's password from
//! `STATE/admin.password` (user `admin`, or `TELEMETRA_ADMIN_USER`). After each new revocation
//! list the broker must read it again: `serve` and `revoke` send SIGHUP to the process id in
//! `STATE/broker.pid` (mosquitto's `pid_file`).

use std::path::Path;
use std::process::exit;
use std::time::Duration;

use telemetra::model::DeviceId;
use telemetra::mqtt::Options;
use telemetra::mqtt::Password;
use telemetra::mqtt::driver::tls::Roots;
use telemetra::mqtt::driver::{Config, MqttClient};
use telemetra::server::provision::{BrokerAdmin, ProvisionConfig, Provisioner, Registry, fleet_ca};

const USAGE: &str = "usage: provisioner init STATE
       provisioner serve STATE BROKER
       provisioner claim STATE BROKER DEVICE[,DEVICE...] TTL_SECONDS
       provisioner revoke STATE BROKER DEVICE";

fn fail(why: impl std::fmt::Display) -> ! {
    eprintln!("provisioner: {why}");
    exit(1)
}

fn registry(state: &Path) -> Registry {
    std::fs::create_dir_all(state).unwrap_or_else(|e| fail(format!("{}: {e}", state.display())));
    Registry::open(state.join("registry.sqlite")).unwrap_or_else(|e| fail(e))
}

fn init(state: &Path) {
    let registry = registry(state);
    let ca = fleet_ca(&registry, "telemetra fleet CA").unwrap_or_else(|e| fail(e));
    let ca_path = state.join("fleet-ca.pem");
    std::fs::write(&ca_path, ca.certificate_pem()).unwrap_or_else(|e| fail(e));
    let crl_path = state.join("crl.pem");
    if !crl_path.exists() {
        let crl = ca.crl_pem(&[], 0, Duration::from_secs(7 * 86_400)).unwrap_or_else(|e| fail(e));
        std::fs::write(&crl_path, crl).unwrap_or_else(|e| fail(e));
    }
    println!("fleet CA: {}", ca_path.display());
    println!("mosquitto.conf (devices on 8883 by certificate, claims and the service on 8884):");
    println!(
        "per_listener_settings false\nallow_anonymous false\npid_file {state}/broker.pid\n\
         plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\n\
         plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json\n\
         listener 8883\ncertfile /etc/mosquitto/certs/server.pem\nkeyfile /etc/mosquitto/certs/server.key\n\
         cafile {ca}\ncrlfile {crl}\nrequire_certificate true\nuse_identity_as_username true\n\
         listener 8884\ncertfile /etc/mosquitto/certs/server.pem\nkeyfile /etc/mosquitto/certs/server.key",
        state = state.display(),
        ca = ca_path.display(),
        crl = crl_path.display(),
    );
    println!("then: mosquitto_ctrl dynsec init /var/lib/mosquitto/dynamic-security.json admin");
}

fn admin_config(state: &Path, broker: &str, client_id: &str) -> Config {
    let user = std::env::var("TELEMETRA_ADMIN_USER").unwrap_or_else(|_| "admin".into());
    let password = std::fs::read(state.join("admin.password"))
        .unwrap_or_else(|e| fail(format!("{}: {e}", state.join("admin.password").display())));
    let password: Vec<u8> = password.strip_suffix(b"\n").map(<[u8]>::to_vec).unwrap_or(password);
    let mut options = Options::new(client_id);
    options.username = Some(user);
    options.password = Some(Password::new(password));
    let mut config = Config::new(broker, options).unwrap_or_else(|e| fail(e));
    if let Ok(pem) = std::fs::read(state.join("broker-ca.pem")) {
        config.tls.roots = Roots::Pem(pem);
    }
    config
}

async fn provisioner(state: &Path, broker: &str) -> Provisioner {
    let admin = BrokerAdmin::connect(admin_config(state, broker, "tm-provisioner-admin"))
        .await
        .unwrap_or_else(|e| fail(e));
    let user = std::env::var("TELEMETRA_ADMIN_USER").unwrap_or_else(|_| "admin".into());
    let config = ProvisionConfig::new(state.join("crl.pem"), user);
    let pid_file = state.join("broker.pid");
    let reload = Box::new(move || {
        let pid = std::fs::read_to_string(&pid_file)?;
        let status = std::process::Command::new("kill").args(["-HUP", pid.trim()]).status()?;
        if status.success() { Ok(()) } else { Err(std::io::Error::other("kill -HUP failed")) }
    });
    Provisioner::start(registry(state), admin, config, reload).await.unwrap_or_else(|e| fail(e))
}

fn device(s: &str) -> DeviceId {
    s.parse().unwrap_or_else(|e| fail(format!("{s}: {e}")))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["init", state] => init(Path::new(state)),
        ["serve", state, broker] => {
            let p = provisioner(Path::new(state), broker).await;
            let client = MqttClient::start(admin_config(Path::new(state), broker, "tm-provisioner"))
                .unwrap_or_else(|e| fail(e));
            eprintln!("provisioner: serving claims on {broker}");
            p.serve(&client).await.unwrap_or_else(|e| fail(e));
        }
        ["claim", state, broker, devices, ttl] => {
            let devices: Vec<DeviceId> = devices.split(',').map(device).collect();
            let ttl = Duration::from_secs(ttl.parse().unwrap_or_else(|e| fail(format!("{ttl}: {e}"))));
            let p = provisioner(Path::new(state), broker).await;
            let claim = p.create_claim(&devices, ttl).await.unwrap_or_else(|e| fail(e));
            // Shown once, for the factory to write into the devices; the registry keeps a digest.
            println!("claim {} secret {}", claim.id, claim.secret.expose());
        }
        ["revoke", state, broker, d] => {
            let p = provisioner(Path::new(state), broker).await;
            match p.revoke(device(d)).await {
                Ok(true) => println!("revoked {d}"),
                Ok(false) => fail(format!("no device {d} in the registry")),
                Err(e) => fail(e),
            }
        }
        _ => {
            eprintln!("{USAGE}");
            exit(2)
        }
    }
}
