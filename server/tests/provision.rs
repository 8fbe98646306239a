//! Provisioning end to end against a real mosquitto with its dynamic security plugin: a device
//! trades a single-use claim for its own certificate (over MQTT, or over CoAP over TLS),
//! connects with mutual TLS as itself, is confined to its own routes, and once revoked can
//! neither reconnect nor publish. No test
//! skips when mosquitto is missing: it fails and says how to install it.

#[path = "../../transports/tests/support/broker.rs"]
mod broker;
#[path = "../../transports/tests/support/pki.rs"]
mod pki;

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::{INSTALL, Mosquitto, TempDir, free_port, tool, within};
use pki::Pki;
use telemetra_codec::provision::{ClaimRefusal, ClaimRequest, ClaimResponse, MAX_REQUEST_LEN};
use telemetra_core::route::{CLAIM_REQUESTS_FILTER, ClaimRoute, FirmwareRoute, claim_topic, firmware_topic};
use telemetra_core::{DeviceId, Route, RouteKind};
use telemetra_server::provision::{BrokerAdmin, Claim, ProvisionConfig, Provisioner, Registry, fleet_ca};
use telemetra_transports::coap::driver::{ClientConfig, tls_acceptor};
use telemetra_transports::mqtt::client::{Message, Options, Outcome, Password};
use telemetra_transports::mqtt::driver::tls::Identity;
use telemetra_transports::mqtt::driver::tls::Roots;
use telemetra_transports::mqtt::driver::{Backoff, Config, MqttClient};
use telemetra_transports::mqtt::packet::publish::QoS;
use telemetra_transports::mqtt::reason::ReasonCode;
use telemetra_transports::provision::{
    ClaimCredential, ClaimError, DeviceIdentity, DeviceKey, claim, claim_over_coap,
};

const PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";
const ADMIN_PASSWORD: &str = "admin-pw-5f0c9e2b7d";

/// A broker with a device listener (mutual TLS, the fleet CA, its revocation list) and a claim
/// listener (TLS, user names and passwords from the dynamic security plugin), and the
/// provisioning service serving on it.
struct Fleet {
    broker: Mosquitto,
    claims_port: u16,
    pki: Pki,
    provisioner: Arc<Provisioner>,
    serve: tokio::task::JoinHandle<()>,
}

fn fast(mut c: Config) -> Config {
    let mut b = Backoff::default();
    b.initial = Duration::from_millis(50);
    b.max = Duration::from_millis(500);
    c.backoff = b;
    c
}

impl Fleet {
    async fn start() -> Fleet {
        assert!(std::path::Path::new(PLUGIN).exists(), "{PLUGIN} is missing: {INSTALL}");
        let dir = TempDir::new("provision");
        let registry = Registry::open(dir.0.join("registry.sqlite")).unwrap();
        let ca = fleet_ca(&registry, "test fleet CA").unwrap();
        dir.file("fleet-ca.pem", ca.certificate_pem());
        // The broker needs a list to start; the service writes a fresh one at once.
        dir.file("crl.pem", ca.crl_pem(&[], 0, Duration::from_secs(3600)).unwrap());
        let pki = Pki::new();
        let (cert, key) = pki.issue(&["localhost"], "localhost");
        dir.file("server.pem", cert);
        dir.file("server.key", key);
        let dynsec = dir.0.join("dynsec.json");
        let out = tool("mosquitto_ctrl")
            .args(["dynsec", "init", dynsec.to_str().unwrap(), "admin", ADMIN_PASSWORD])
            .output()
            .unwrap();
        assert!(out.status.success(), "mosquitto_ctrl dynsec init: {out:?}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dynsec, std::fs::Permissions::from_mode(0o666)).unwrap();
        let claims_port = free_port();
        let tls = "certfile {dir}/server.pem\nkeyfile {dir}/server.key";
        let broker = Mosquitto::start_in(
            dir,
            &format!(
                "allow_anonymous false\nper_listener_settings false\nplugin {PLUGIN}\n\
                 plugin_opt_config_file {{dir}}/dynsec.json\nlog_dest file {{dir}}/mosquitto.log\nlog_type all\n\
                 {tls}\ncafile {{dir}}/fleet-ca.pem\ncrlfile {{dir}}/crl.pem\nrequire_certificate true\n\
                 use_identity_as_username true\nlistener {claims_port} 127.0.0.1\n{tls}\n"
            ),
        );
        let mut fleet_config = ProvisionConfig::new(broker.dir.0.join("crl.pem"), "admin");
        fleet_config.claim_grace = Duration::ZERO;
        fleet_config.sweep_every = Duration::from_secs(3600);
        let pid = broker.pid().unwrap().to_string();
        let reload = Box::new(move || {
            let status = Command::new("kill").args(["-HUP", &pid]).status()?;
            if status.success() { Ok(()) } else { Err(std::io::Error::other("kill -HUP failed")) }
        });
        let admin = BrokerAdmin::connect(admin_config(&pki, claims_port, "tm-admin")).await.unwrap();
        let provisioner = match Provisioner::start(registry, admin, fleet_config, reload).await {
            Ok(p) => Arc::new(p),
            Err(e) => panic!(
                "{e}; broker log:\n{}",
                std::fs::read_to_string(broker.dir.0.join("mosquitto.log")).unwrap_or_default()
            ),
        };
        let service = MqttClient::start(admin_config(&pki, claims_port, "tm-provisioner")).unwrap();
        within(10, service.connected()).await.unwrap();
        // Subscribed before the first device asks (serve subscribes again, harmlessly).
        service.subscribe(CLAIM_REQUESTS_FILTER, QoS::AtLeastOnce).await.unwrap();
        let p = provisioner.clone();
        let serve = tokio::spawn(async move { p.serve(&service).await.unwrap() });
        Fleet { broker, claims_port, pki, provisioner, serve }
    }

    /// A claim for `devices`, good for `ttl` seconds.
    async fn new_claim(&self, devices: &[u64], ttl: u64) -> Claim {
        let devices: Vec<DeviceId> = devices.iter().map(|&d| DeviceId(d)).collect();
        self.provisioner.create_claim(&devices, Duration::from_secs(ttl)).await.unwrap()
    }

    /// A client logged in with `claim_`, connected: what a device does before it asks.
    async fn logged_in(&self, claim_: &Claim) -> MqttClient {
        let mut c = self.claims();
        c.options.username = Some(claim_.username());
        c.options.password = Some(Password::new(claim_.secret.expose()));
        let c = MqttClient::start(c).unwrap();
        within(10, c.connected()).await.unwrap();
        c
    }

    /// The claim listener, for a device that has only its claim.
    fn claims(&self) -> Config {
        let mut c =
            fast(Config::new(&format!("mqtts://localhost:{}", self.claims_port), Options::new("")).unwrap());
        c.tls.roots = Roots::Pem(self.pki.ca_pem().into_bytes());
        c
    }

    /// The device listener, as `identity`.
    fn device(&self, identity: &DeviceIdentity) -> Config {
        let mut c = fast(
            Config::new(
                &format!("mqtts://localhost:{}", self.broker.port),
                Options::new(identity.device().to_string()),
            )
            .unwrap(),
        );
        c.tls.roots = Roots::Pem(self.pki.ca_pem().into_bytes());
        c.tls.identity = Some(identity.tls_identity());
        c
    }

    async fn claim(&self, claim_: &Claim, device: u64) -> Result<DeviceIdentity, ClaimError> {
        let credential = ClaimCredential::new(claim_.id.clone(), claim_.secret.expose());
        let key = DeviceKey::generate().unwrap();
        claim(self.claims(), &credential, DeviceId(device), key, Duration::from_secs(10)).await
    }

    /// The administrator's view of everything published.
    async fn watch(&self, filter: &str) -> MqttClient {
        let c = MqttClient::start(admin_config(&self.pki, self.claims_port, "tm-watch")).unwrap();
        within(10, c.connected()).await.unwrap();
        c.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        c
    }

    fn broker_log(&self) -> String {
        std::fs::read_to_string(self.broker.dir.0.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

fn admin_config(pki: &Pki, port: u16, id: &str) -> Config {
    let mut o = Options::new(id);
    o.username = Some("admin".into());
    o.password = Some(Password::new(ADMIN_PASSWORD));
    let mut c = fast(Config::new(&format!("mqtts://localhost:{port}"), o).unwrap());
    c.tls.roots = Roots::Pem(pki.ca_pem().into_bytes());
    c
}

async fn connected_as(fleet: &Fleet, identity: &DeviceIdentity) -> MqttClient {
    let c = MqttClient::start(fleet.device(identity)).unwrap();
    within(10, c.connected()).await.unwrap();
    c
}

async fn publish(c: &MqttClient, topic: &str) -> Option<Outcome> {
    within(10, c.publish_acked(Message::new(topic, "21.5").with_qos(QoS::AtLeastOnce))).await.unwrap()
}

fn readings(device: u64) -> String {
    Route::new(RouteKind::Readings, DeviceId(device)).topic().to_string()
}

/// Everything written to the tracing log, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_claims_its_identity_and_is_confined_to_its_routes_and_no_secret_is_logged() {
    // Every event of every level, from every test of this binary, goes into the capture.
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let fleet = Fleet::start().await;
    let backend = fleet.watch("tm/v1/+/readings").await;
    let claim_ = fleet.new_claim(&[0x2a, 0x2b], 600).await;
    let key = DeviceKey::generate().unwrap();
    let key_der = key.pkcs8_der().to_vec();
    let credential = ClaimCredential::new(claim_.id.clone(), claim_.secret.expose());
    let identity =
        claim(fleet.claims(), &credential, DeviceId(0x2a), key, Duration::from_secs(10)).await.unwrap();
    assert_eq!(identity.device(), DeviceId(0x2a));
    assert_eq!(fleet.provisioner.stats().issued, 1);

    // The device connects as itself and publishes on its own routes...
    let device = connected_as(&fleet, &identity).await;
    assert_eq!(publish(&device, &readings(0x2a)).await, Some(Outcome::Delivered));
    let got = within(10, backend.recv()).await.unwrap();
    assert_eq!(got.topic, readings(0x2a));
    // ...and on no other device's: the broker refuses, nothing arrives.
    assert_eq!(publish(&device, &readings(0x2b)).await, Some(Outcome::Failed(ReasonCode::NOT_AUTHORIZED)));
    assert!(device.subscribe("tm/v1/2b/#", QoS::AtLeastOnce).await.is_err());
    assert!(device.subscribe("tm/v1/+/readings", QoS::AtLeastOnce).await.is_err());
    assert!(device.subscribe(&format!("{}/#", "tm/v1/2a"), QoS::AtLeastOnce).await.is_ok());
    // Its firmware requests and status go out (the update exchange); another device's do not.
    for route in [FirmwareRoute::Get, FirmwareRoute::Status] {
        assert_eq!(publish(&device, &firmware_topic(DeviceId(0x2a), route)).await, Some(Outcome::Delivered));
        let other = firmware_topic(DeviceId(0x2b), route);
        assert_eq!(publish(&device, &other).await, Some(Outcome::Failed(ReasonCode::NOT_AUTHORIZED)));
    }
    // Nor on the claim routes, nor as another client: a certificate for 2a is 2a.
    let other_claim = claim_topic(&claim_.id, ClaimRoute::Request).unwrap();
    assert_eq!(publish(&device, &other_claim).await, Some(Outcome::Failed(ReasonCode::NOT_AUTHORIZED)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(backend.try_recv().is_none(), "nothing from 2a reached 2b's routes");
    // A device cannot log in by password on the claim listener as a device either.
    let mut o = Options::new("2a");
    o.username = Some("2a".into());
    o.password = Some(Password::new(""));
    let mut c = fleet.claims();
    c.options = o;
    let c = MqttClient::start(c).unwrap();
    assert!(within(10, c.connected()).await.is_err());
    c.abort().await;
    device.disconnect().await;
    backend.disconnect().await;

    // Nothing secret in the service's log (every level) or the broker's (log_type all).
    let service_log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let broker_log = fleet.broker_log();
    assert!(service_log.contains(&claim_.id) && service_log.contains("certificate issued"), "{service_log}");
    assert!(broker_log.contains("2a"), "the broker logged the run: {broker_log}");
    let ca_key = fleet.provisioner.ca().key_pem();
    let ca_key_body: String = ca_key.lines().nth(1).unwrap().to_owned();
    let seed = hex(&key_der[16..48]);
    let secrets = [
        ("the claim's secret", claim_.secret.expose().to_owned()),
        ("the admin password", ADMIN_PASSWORD.to_owned()),
        ("the device key (hex)", seed),
        (
            "the device key (PEM)",
            String::from_utf8(identity.tls_identity().key_pem.clone())
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()
                .to_owned(),
        ),
        ("the CA key (PEM)", ca_key_body),
    ];
    for (what, secret) in &secrets {
        assert!(!service_log.contains(secret.as_str()), "{what} is in the service's log");
        assert!(!broker_log.contains(secret.as_str()), "{what} is in the broker's log");
    }
    eprintln!(
        "log scan: {} bytes of service log, {} bytes of broker log, {} secrets, none found",
        service_log.len(),
        broker_log.len(),
        secrets.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_single_use_and_a_lost_answer_is_sent_again() {
    let fleet = Fleet::start().await;
    let claim_ = fleet.new_claim(&[0x2a, 0x2b], 600).await;
    let key = DeviceKey::generate().unwrap();
    let key_again = DeviceKey::from_pkcs8(key.pkcs8_der()).unwrap();
    let credential = ClaimCredential::new(claim_.id.clone(), claim_.secret.expose());
    let first =
        claim(fleet.claims(), &credential, DeviceId(0x2a), key, Duration::from_secs(10)).await.unwrap();
    // The same device with the same key (its answer lost): the same certificate, none new.
    let again =
        claim(fleet.claims(), &credential, DeviceId(0x2a), key_again, Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.certificate_der(), again.certificate_der());
    assert_eq!(fleet.provisioner.stats().issued, 1);
    assert_eq!(fleet.provisioner.stats().repeated, 1);
    // Another device, or the same device with another key: refused.
    let err = fleet.claim(&claim_, 0x2b).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::AlreadyUsed)), "{err}");
    let err = fleet.claim(&claim_, 0x2a).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::AlreadyUsed)), "{err}");
    // Once swept, the broker no longer lets the claim log in at all.
    fleet.provisioner.sweep().await.unwrap();
    let err = fleet.claim(&claim_, 0x2b).await.unwrap_err();
    assert!(matches!(err, ClaimError::Connect(_)), "{err}");
    assert!(err.to_string().contains("authori"), "{err}");
    // The first device is unaffected.
    let device = connected_as(&fleet, &first).await;
    assert_eq!(publish(&device, &readings(0x2a)).await, Some(Outcome::Delivered));
    device.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_wrong_unlisted_and_unproven_claims_are_refused() {
    let fleet = Fleet::start().await;
    // Expired.
    let short = fleet.new_claim(&[0x31], 1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = fleet.claim(&short, 0x31).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::Expired)), "{err}");
    fleet.provisioner.sweep().await.unwrap();
    let err = fleet.claim(&short, 0x31).await.unwrap_err();
    assert!(matches!(err, ClaimError::Connect(_)), "an expired claim is gone from the broker: {err}");

    let claim_ = fleet.new_claim(&[0x32], 600).await;
    // Not on the allow-list.
    let err = fleet.claim(&claim_, 0x33).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::DeviceNotAllowed)), "{err}");
    // A wrong secret: the broker refuses the login.
    let wrong =
        Claim { secret: telemetra_server::provision::ClaimSecret::new("not the secret"), ..claim_.clone() };
    let err = fleet.claim(&wrong, 0x32).await.unwrap_err();
    assert!(matches!(err, ClaimError::Connect(_)), "{err}");

    // A proof by another key than the one sent: refused, and the claim is not spent.
    let key = DeviceKey::generate().unwrap();
    let stranger = DeviceKey::generate().unwrap();
    let mut req = key.request(&claim_.id, claim_.secret.expose(), DeviceId(0x32)).unwrap();
    req.public_key = stranger.public_key();
    let answer = raw_request(&fleet, &claim_, &req).await;
    assert_eq!(answer, ClaimRefusal::BadProof);
    // A request naming another claim than its route is dropped, not answered.
    let before = fleet.provisioner.stats().malformed;
    let c = fleet.logged_in(&claim_).await;
    let topic = claim_topic(&claim_.id, ClaimRoute::Request).unwrap();
    for payload in [vec![1, 2, 3], encode(&ClaimRequest { claim: "c-other", ..req })] {
        c.publish_acked(Message::new(topic.as_str(), payload).with_qos(QoS::AtLeastOnce)).await.unwrap();
    }
    within(10, async {
        while fleet.provisioner.stats().malformed < before + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    c.disconnect().await;

    // After all that, the claim still works for its device.
    let identity = fleet.claim(&claim_, 0x32).await.unwrap();
    assert_eq!(identity.device(), DeviceId(0x32));
    assert_eq!(fleet.provisioner.stats().issued, 1);
}

fn encode(req: &ClaimRequest<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_REQUEST_LEN];
    req.encode(&mut buf).unwrap().to_vec()
}

/// Sends `req` on `claim_`'s route as the claim, and returns the refusal.
async fn raw_request(fleet: &Fleet, claim_: &Claim, req: &ClaimRequest<'_>) -> ClaimRefusal {
    let c = fleet.logged_in(claim_).await;
    let response = claim_topic(&claim_.id, ClaimRoute::Response).unwrap();
    c.subscribe(&response, QoS::AtLeastOnce).await.unwrap();
    let topic = claim_topic(&claim_.id, ClaimRoute::Request).unwrap();
    c.publish_acked(Message::new(topic.as_str(), encode(req)).with_qos(QoS::AtLeastOnce)).await.unwrap();
    let m = within(10, c.recv()).await.unwrap();
    c.disconnect().await;
    match ClaimResponse::decode(&m.payload).unwrap() {
        ClaimResponse::Refused(why) => why,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_can_neither_reconnect_nor_publish_nor_claim_again() {
    let fleet = Fleet::start().await;
    let claim_ = fleet.new_claim(&[0x41, 0x42], 600).await;
    let identity = fleet.claim(&claim_, 0x41).await.unwrap();
    let device = connected_as(&fleet, &identity).await;
    assert_eq!(publish(&device, &readings(0x41)).await, Some(Outcome::Delivered));

    assert!(fleet.provisioner.revoke(DeviceId(0x41)).await.unwrap());
    assert!(!fleet.provisioner.revoke(DeviceId(0x99)).await.unwrap(), "no such device");
    // The broker drops the live connection, and the device's reconnects fail at TLS.
    within(10, async {
        while device.is_connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!device.is_connected(), "a revoked device stays out");
    let why = device.last_open_error().map(|e| e.to_string()).unwrap_or_default();
    assert!(why.contains("CertificateRevoked"), "{why}");
    device.abort().await;
    // A fresh connection with the revoked certificate: refused in the handshake.
    let c = MqttClient::start(fleet.device(&identity)).unwrap();
    let err = within(10, c.connected()).await.unwrap_err();
    assert!(err.to_string().contains("CertificateRevoked"), "{err}");
    c.abort().await;
    // It cannot claim its way back.
    let second = fleet.new_claim(&[0x41], 600).await;
    let err = fleet.claim(&second, 0x41).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::Revoked)), "{err}");
    // Another device of the same claim is unaffected.
    let other = fleet.claim(&claim_, 0x42).await;
    assert!(matches!(other, Err(ClaimError::Refused(ClaimRefusal::AlreadyUsed))), "single use: {other:?}");
    let third = fleet.new_claim(&[0x42], 600).await;
    let other = fleet.claim(&third, 0x42).await.unwrap();
    let c = connected_as(&fleet, &other).await;
    assert_eq!(publish(&c, &readings(0x42)).await, Some(Outcome::Delivered));
    c.disconnect().await;
    assert_eq!(fleet.provisioner.stats().revoked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_claims_over_coap_with_tls_and_then_connects_to_the_broker_as_itself() {
    let fleet = Fleet::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (cert, key) = fleet.pki.issue(&["localhost"], "localhost");
    let acceptor =
        tls_acceptor(&Identity { cert_chain_pem: cert.into_bytes(), key_pem: key.into_bytes() }).unwrap();
    let coap = tokio::spawn(fleet.provisioner.clone().serve_coap(listener, acceptor));
    let url = format!("coaps+tcp://localhost:{port}");
    let mut config = ClientConfig::default();
    config.tls.roots = Roots::Pem(fleet.pki.ca_pem().into_bytes());
    let over_coap = |credential: ClaimCredential, device: u64| {
        let (url, config) = (url.clone(), config.clone());
        async move {
            let key = DeviceKey::generate().unwrap();
            claim_over_coap(&url, config, &credential, DeviceId(device), key, Duration::from_secs(10)).await
        }
    };
    let claim_ = fleet.new_claim(&[0x61, 0x62], 600).await;
    let credential = ClaimCredential::new(claim_.id.clone(), claim_.secret.expose());

    // No broker login on this path: the service checks the secret itself.
    let wrong = ClaimCredential::new(claim_.id.clone(), "not the secret");
    let err = over_coap(wrong, 0x61).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::UnknownClaim)), "{err}");
    let err = over_coap(credential.clone(), 0x63).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::DeviceNotAllowed)), "{err}");

    // The claim over CoAP gives a certificate the broker takes.
    let identity = over_coap(credential.clone(), 0x61).await.unwrap();
    let device = connected_as(&fleet, &identity).await;
    assert_eq!(publish(&device, &readings(0x61)).await, Some(Outcome::Delivered));
    device.disconnect().await;
    // Single use across transports: the same claim again, over CoAP or MQTT, is refused.
    let err = over_coap(credential.clone(), 0x62).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::AlreadyUsed)), "{err}");
    let err = fleet.claim(&claim_, 0x62).await.unwrap_err();
    assert!(matches!(err, ClaimError::Refused(ClaimRefusal::AlreadyUsed)), "{err}");

    // Plaintext to the TLS endpoint: nothing is exchanged.
    let mut plain = ClientConfig::default();
    plain.allow_plaintext = true;
    let key = DeviceKey::generate().unwrap();
    let err = claim_over_coap(
        &format!("coap+tcp://127.0.0.1:{port}"),
        plain,
        &credential,
        DeviceId(0x62),
        key,
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClaimError::Coap(_) | ClaimError::Timeout(_)), "{err}");
    assert_eq!(fleet.provisioner.stats().issued, 1);
    coap.abort();
}
