//! Security against a real mosquitto: TLS with a CA made at test time (rcgen), host name
//! verification, mutual TLS, an ACL that denies a topic, plaintext refused off loopback.

mod support;

use std::time::Duration;

use support::{Pki, client, config, event, within};
use telemetra_transports::mqtt::client::{ClientError, Event, LinkError, Message, Options};
use telemetra_transports::mqtt::driver::tls::{Identity, Roots};
use telemetra_transports::mqtt::driver::{Config, ConfigError, ConnectError, MqttClient};
use telemetra_transports::mqtt::packet::publish::QoS;
use telemetra_transports::mqtt::reason::ReasonCode;

fn tls_config(port: u16, pki: &Pki, identity: Option<(String, String)>) -> Config {
    let mut c = config(&format!("mqtts://localhost:{port}"), Options::new("tls-node"));
    c.tls.roots = Roots::Pem(pki.ca_pem().into_bytes());
    c.tls.identity =
        identity.map(|(cert, key)| Identity { cert_chain_pem: cert.into_bytes(), key_pem: key.into_bytes() });
    c
}

/// The client never connects; returns why opening failed.
async fn refused(c: Config) -> String {
    let client = MqttClient::start(c).unwrap();
    event(&client, 10, |e| matches!(e, Event::Disconnected { .. })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!client.is_connected());
    assert_eq!(client.stats().connects, 0, "no CONNECT ever went out");
    client.last_open_error().expect("an open error").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let pki = Pki::new();
    let broker = pki.broker(&["localhost"], "");
    let c = MqttClient::start(tls_config(broker.port, &pki, None)).unwrap();
    within(10, c.connected()).await.unwrap();
    assert!(c.is_connected(), "{:?}", c.last_open_error());
    c.subscribe("tls/#", QoS::AtLeastOnce).await.unwrap();
    c.publish(Message::new("tls/a", "over TLS").with_qos(QoS::AtLeastOnce)).await.unwrap();
    assert_eq!(within(10, c.recv()).await.unwrap().payload, b"over TLS");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_is_refused() {
    let pki = Pki::new();
    let broker = pki.broker(&["broker.other.example"], "");
    let why = refused(tls_config(broker.port, &pki, None)).await;
    assert!(why.contains("NotValidForName") || why.contains("not valid for name"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_is_refused() {
    let pki = Pki::new();
    let broker = pki.broker(&["localhost"], "");
    // The webpki roots do not include the test CA.
    let mut c = tls_config(broker.port, &pki, None);
    c.tls.roots = Roots::WebPki;
    let why = refused(c).await;
    assert!(why.contains("UnknownIssuer") || why.contains("unknown issuer"), "{why}");
    // Nor does another test CA.
    let why = refused(tls_config(broker.port, &Pki::new(), None)).await;
    assert!(why.contains("UnknownIssuer") || why.contains("BadSignature") || why.contains("issuer"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_identifies_the_device() {
    let pki = Pki::new();
    let broker = pki.broker(&["localhost"], "require_certificate true\nuse_identity_as_username true");
    // Without a client certificate the broker ends the handshake, and says so with a TLS
    // alert: the event, `connected()` and the open error all carry it.
    let c = MqttClient::start(tls_config(broker.port, &pki, None)).unwrap();
    let e = event(&c, 10, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { error: Some(ClientError::Link(link)) } = e else { panic!("{e:?}") };
    assert!(link.is_tls_refusal(), "{link}");
    assert!(link.to_string().starts_with("TLS alert from the broker: certificate"), "{link}");
    let err = within(5, c.connected()).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { open_error: Some(_), .. }), "{err:?}");
    assert!(!c.is_connected());
    c.abort().await;
    // With one, the device is in.
    let id = pki.issue(&[], "node-2a");
    let c = MqttClient::start(tls_config(broker.port, &pki, Some(id))).unwrap();
    within(10, c.connected()).await.unwrap();
    assert!(c.is_connected(), "{:?}", c.last_open_error());
    c.disconnect().await;
    // A certificate from another CA is refused.
    let stranger = Pki::new().issue(&[], "node-2a");
    let c = MqttClient::start(tls_config(broker.port, &pki, Some(stranger))).unwrap();
    let err = within(10, c.connected()).await.unwrap_err();
    let ConnectError::Refused { error: ClientError::Link(link), .. } = &err else { panic!("{err:?}") };
    assert!(link.is_tls_refusal(), "{err}");
    assert!(!c.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_is_reported_by_connected() {
    let pki = Pki::new();
    let broker = pki.broker(&["localhost"], "");
    let c = MqttClient::start(tls_config(broker.port, &Pki::new(), None)).unwrap();
    let err = within(10, c.connected()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ConnectError::Refused { error: ClientError::Link(LinkError::Tls), open_error: Some(_) }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("issuer") || text.contains("Issuer") || text.contains("BadSignature"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_a_tls_port_is_named() {
    let pki = Pki::new();
    let broker = pki.broker(&["localhost"], "");
    // mqtt:// (plaintext, allowed on loopback) to the TLS listener.
    let c = MqttClient::start(config(&format!("mqtt://127.0.0.1:{}", broker.port), Options::new("plain")))
        .unwrap();
    let e = event(&c, 10, |e| matches!(e, Event::Disconnected { .. })).await;
    assert_eq!(e, Event::Disconnected { error: Some(ClientError::Link(LinkError::ClosedBeforeConnack)) });
    assert!(e_text(&e).contains("plaintext to a TLS port"), "{e:?}");
    let open = c.last_open_error().expect("the attempt's failure is kept");
    assert!(open.to_string().contains("before CONNACK"), "{open}");
    c.abort().await;
}

fn e_text(e: &Event) -> String {
    match e {
        Event::Disconnected { error: Some(error) } => error.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_denies_a_topic() {
    let broker = support::start_with_acl();
    let c = client(&broker.url(), Options::new("acl-node")).await;
    let denied = c.publish(Message::new("secret/x", "no").with_qos(QoS::AtLeastOnce)).await.unwrap();
    let allowed = c.publish(Message::new("open/x", "yes").with_qos(QoS::AtLeastOnce)).await.unwrap();
    let e = event(&c, 10, |e| matches!(e, Event::Failed { .. })).await;
    assert_eq!(e, Event::Failed { id: denied, reason: ReasonCode::NOT_AUTHORIZED });
    event(&c, 10, |e| *e == Event::Delivered(allowed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_off_loopback() {
    let c = Config::new("mqtt://broker.example.com", Options::new("a")).unwrap();
    assert!(matches!(MqttClient::start(c), Err(ConfigError::PlaintextRefused(_))));
    // A CA file that is not PEM fails at start, not at every reconnect.
    let mut c = Config::new("mqtts://broker.example.com", Options::new("a")).unwrap();
    c.tls.roots = Roots::Pem(b"not a certificate".to_vec());
    assert!(matches!(MqttClient::start(c), Err(ConfigError::Tls { .. })));
}
