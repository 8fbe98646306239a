//! The checks of the Eclipse Paho MQTT interoperability suite (client_test.py and
//! client_test5.py), written against a real mosquitto that each test starts on an ephemeral
//! loopback port.

mod support;

use std::time::Duration;

use support::{Mosquitto, client, event, tool, within};
use telemetra_transports::mqtt::client::{ClientError, Event, Message, Options};
use telemetra_transports::mqtt::driver::{ConnectError, MqttClient, SubscribeError};
use telemetra_transports::mqtt::packet::publish::{QoS, Version};
use telemetra_transports::mqtt::packet::subscribe::Subscription;

fn opts(id: &str, version: Version) -> Options {
    let mut o = Options::new(id);
    o.version = version;
    o
}

async fn recv(c: &MqttClient) -> telemetra_transports::mqtt::client::Received {
    within(10, c.recv()).await.expect("a message")
}

/// Nothing more arrives within `ms`.
async fn quiet(c: &MqttClient, ms: u64) {
    if let Ok(m) = tokio::time::timeout(Duration::from_millis(ms), c.recv()).await {
        panic!("unexpected message {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_qos_0_1_2_both_versions() {
    let broker = Mosquitto::start("");
    for version in [Version::V3_1_1, Version::V5] {
        let c = client(&broker.url(), opts(&format!("basic-{version:?}"), version)).await;
        assert_eq!(c.subscribe("basic/#", QoS::ExactlyOnce).await, Ok(QoS::ExactlyOnce));
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            c.publish(
                Message::new(format!("basic/{}", qos as u8), format!("qos {}", qos as u8)).with_qos(qos),
            )
            .await
            .unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            let m = recv(&c).await;
            got.push((m.topic, m.payload, m.qos));
        }
        got.sort();
        assert_eq!(
            got,
            [
                ("basic/0".into(), b"qos 0".to_vec(), QoS::AtMostOnce),
                ("basic/1".into(), b"qos 1".to_vec(), QoS::AtLeastOnce),
                ("basic/2".into(), b"qos 2".to_vec(), QoS::ExactlyOnce),
            ]
        );
        within(10, c.flush()).await;
        assert_eq!(c.disconnect().await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages() {
    let broker = Mosquitto::start("");
    let a = client(&broker.url(), Options::new("retain-pub")).await;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
        a.publish(Message::new(format!("fromb/qos {i}"), "retained").with_qos(qos).retained()).await.unwrap();
    }
    a.flush().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = client(&broker.url(), Options::new("retain-sub")).await;
    b.subscribe("fromb/+", QoS::ExactlyOnce).await.unwrap();
    for _ in 0..3 {
        let m = recv(&b).await;
        assert!(m.retain, "a retained message says so");
        assert_eq!(m.payload, b"retained");
    }
    // Clear them: an empty retained message.
    for i in 0..3 {
        a.publish(Message::new(format!("fromb/qos {i}"), "").with_qos(QoS::AtLeastOnce).retained())
            .await
            .unwrap();
    }
    a.flush().await;
    for _ in 0..3 {
        assert!(recv(&b).await.payload.is_empty());
    }
    let c = client(&broker.url(), Options::new("retain-late")).await;
    c.subscribe("fromb/+", QoS::ExactlyOnce).await.unwrap();
    quiet(&c, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_length_client_id() {
    let broker = Mosquitto::start("");
    // MQTT 5: the broker assigns an identifier.
    let c = client(&broker.url(), Options::new("")).await;
    assert!(!c.client_id().is_empty(), "the broker assigned an id");
    c.disconnect().await;
    // 3.1.1: allowed with a clean session.
    let mut o = opts("", Version::V3_1_1);
    o.session_expiry = 0;
    let c = client(&broker.url(), o).await;
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_message_queueing() {
    let broker = Mosquitto::start("");
    for version in [Version::V3_1_1, Version::V5] {
        let id = format!("offline-{version:?}");
        let sub = client(&broker.url(), opts(&id, version)).await;
        sub.subscribe("offline/#", QoS::ExactlyOnce).await.unwrap();
        sub.disconnect().await;
        let publisher = client(&broker.url(), opts("offline-pub", version)).await;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            publisher.publish(Message::new("offline/x", vec![qos as u8]).with_qos(qos)).await.unwrap();
        }
        publisher.disconnect().await;
        // The same client id comes back: QoS 1 and 2 were queued for it (QoS 0 may be too).
        let sub = client(&broker.url(), opts(&id, version)).await;
        let mut got = vec![recv(&sub).await.payload[0], recv(&sub).await.payload[0]];
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await {
            got.push(m.payload[0]);
        }
        assert!(got.contains(&1) && got.contains(&2), "{version:?}: {got:?}");
        sub.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_subscriptions() {
    let broker = Mosquitto::start("");
    let c = client(&broker.url(), Options::new("overlap")).await;
    c.subscribe("overlap/#", QoS::ExactlyOnce).await.unwrap();
    c.subscribe("overlap/+", QoS::AtLeastOnce).await.unwrap();
    c.publish(Message::new("overlap/a", "x").with_qos(QoS::ExactlyOnce)).await.unwrap();
    // One copy per matching subscription, or one at the highest QoS.
    let first = recv(&c).await;
    let mut qos = vec![first.qos];
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), c.recv()).await {
        qos.push(m.qos);
    }
    assert!(qos.contains(&QoS::ExactlyOnce), "{qos:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_and_will() {
    let broker = Mosquitto::start("");
    let watcher = client(&broker.url(), Options::new("will-watcher")).await;
    watcher.subscribe("tm/v1/+/status", QoS::AtLeastOnce).await.unwrap();

    let mut o = Options::new("will-node");
    o.keep_alive = 2;
    o.will = Some(Message::new("tm/v1/2a/status", "offline").with_qos(QoS::AtLeastOnce).retained());
    let node = client(&broker.url(), o.clone()).await;
    node.publish(Message::new("tm/v1/2a/status", "online").with_qos(QoS::AtLeastOnce).retained())
        .await
        .unwrap();
    assert_eq!(recv(&watcher).await.payload, b"online");
    // Idle for longer than the keep alive: PINGREQ keeps the connection.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(node.is_connected());
    assert_eq!(node.stats().connects, 1, "keep alive held the connection");
    // A crash: the broker publishes the will.
    node.abort().await;
    let will = recv(&watcher).await;
    assert_eq!((will.topic.as_str(), will.payload.as_slice()), ("tm/v1/2a/status", &b"offline"[..]));

    // A clean DISCONNECT: no will.
    let node = client(&broker.url(), o).await;
    node.disconnect().await;
    quiet(&watcher, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_failure() {
    let broker = support::start_with_acl();
    for version in [Version::V3_1_1, Version::V5] {
        let c = client(&broker.url(), opts(&format!("subfail-{version:?}"), version)).await;
        match c.subscribe("nosubscribe/#", QoS::AtLeastOnce).await {
            Err(SubscribeError::Refused(code)) => assert!(code.is_error(), "{code}"),
            other => panic!("{version:?}: expected a refusal, got {other:?}"),
        }
        assert_eq!(c.subscribe("test/#", QoS::AtLeastOnce).await, Ok(QoS::AtLeastOnce));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dollar_topics() {
    let broker = Mosquitto::start("sys_interval 1");
    let c = client(&broker.url(), Options::new("dollar")).await;
    c.subscribe("#", QoS::AtMostOnce).await.unwrap();
    c.subscribe("+/+/+", QoS::AtMostOnce).await.unwrap();
    quiet(&c, 1500).await;
    c.subscribe("$SYS/broker/version", QoS::AtMostOnce).await.unwrap();
    let m = recv(&c).await;
    assert_eq!(m.topic, "$SYS/broker/version");
    assert!(String::from_utf8_lossy(&m.payload).starts_with("mosquitto version"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe() {
    let broker = Mosquitto::start("");
    let c = client(&broker.url(), Options::new("unsub")).await;
    for f in ["unsub/a", "unsub/b", "unsub/c"] {
        c.subscribe(f, QoS::AtLeastOnce).await.unwrap();
    }
    c.unsubscribe("unsub/b");
    event(&c, 10, |e| matches!(e, Event::Unsubscribed { .. })).await;
    for t in ["unsub/a", "unsub/b", "unsub/c"] {
        c.publish(Message::new(t, t).with_qos(QoS::AtLeastOnce)).await.unwrap();
    }
    let mut got = vec![recv(&c).await.topic, recv(&c).await.topic];
    got.sort();
    assert_eq!(got, ["unsub/a", "unsub/c"]);
    quiet(&c, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry() {
    let broker = Mosquitto::start("");
    let mut o = Options::new("expiring");
    o.session_expiry = 1;
    let c = client(&broker.url(), o.clone()).await;
    c.subscribe("exp/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let p = client(&broker.url(), Options::new("exp-pub")).await;
    p.publish(Message::new("exp/1", "late").with_qos(QoS::AtLeastOnce)).await.unwrap();
    p.flush().await;
    let c = MqttClient::start(support::config(&broker.url(), o)).unwrap();
    let e = event(&c, 10, |e| matches!(e, Event::Connected { .. })).await;
    assert_eq!(e, Event::Connected { session_present: false }, "the session expired");
    quiet(&c, 500).await;

    // A session within its expiry is kept.
    let mut o = Options::new("kept");
    o.session_expiry = 60;
    let c = client(&broker.url(), o.clone()).await;
    c.subscribe("kept/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await;
    p.publish(Message::new("kept/1", "queued").with_qos(QoS::AtLeastOnce)).await.unwrap();
    p.flush().await;
    let c = MqttClient::start(support::config(&broker.url(), o)).unwrap();
    assert_eq!(
        event(&c, 10, |e| matches!(e, Event::Connected { .. })).await,
        Event::Connected { session_present: true }
    );
    assert_eq!(recv(&c).await.payload, b"queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_expiry() {
    let broker = Mosquitto::start("");
    let sub = client(&broker.url(), Options::new("mexp-sub")).await;
    sub.subscribe("mexp/#", QoS::AtLeastOnce).await.unwrap();
    sub.disconnect().await;
    let p = client(&broker.url(), Options::new("mexp-pub")).await;
    p.publish(Message::new("mexp/short", "gone").with_qos(QoS::AtLeastOnce).with_expiry(1)).await.unwrap();
    p.publish(Message::new("mexp/long", "kept").with_qos(QoS::AtLeastOnce).with_expiry(60)).await.unwrap();
    p.flush().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sub = client(&broker.url(), Options::new("mexp-sub")).await;
    let m = recv(&sub).await;
    assert_eq!(m.payload, b"kept");
    let left = m.properties().message_expiry.expect("the expiry travels");
    assert!((55..60).contains(&left), "the broker counts down the time spent queued: {left}");
    quiet(&sub, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_receive_maximum() {
    // The broker takes 2 QoS 1/2 messages at a time from a client (it announces Receive
    // Maximum 2 and disconnects a client that sends more).
    let broker = Mosquitto::start("max_inflight_messages 2");
    let c = client(&broker.url(), Options::new("flow")).await;
    c.subscribe("flow/#", QoS::AtLeastOnce).await.unwrap();
    let mut most = 0;
    for i in 0..100u32 {
        c.publish(Message::new("flow/x", i.to_be_bytes()).with_qos(QoS::AtLeastOnce)).await.unwrap();
        most = most.max(c.pending().in_flight);
    }
    within(20, c.flush()).await;
    assert!(most <= 2, "in flight at most 2, saw {most}");
    let mut got: Vec<u32> = Vec::new();
    for _ in 0..100 {
        got.push(u32::from_be_bytes(recv(&c).await.payload.try_into().unwrap()));
    }
    got.sort();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(c.stats().connects, 1, "never disconnected for exceeding the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscriptions() {
    let broker = Mosquitto::start("");
    let a = client(&broker.url(), Options::new("shared-a")).await;
    let b = client(&broker.url(), Options::new("shared-b")).await;
    a.subscribe("$share/servers/shared/#", QoS::AtLeastOnce).await.unwrap();
    b.subscribe("$share/servers/shared/#", QoS::AtLeastOnce).await.unwrap();
    let p = client(&broker.url(), Options::new("shared-pub")).await;
    for i in 0..20u8 {
        p.publish(Message::new("shared/t", [i]).with_qos(QoS::AtLeastOnce)).await.unwrap();
    }
    p.flush().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drain =
        |c: &MqttClient| core::iter::from_fn(|| c.try_recv()).map(|m| m.payload[0]).collect::<Vec<_>>();
    let (ga, gb) = (drain(&a), drain(&b));
    assert!(!ga.is_empty() && !gb.is_empty(), "both members get some: {ga:?} {gb:?}");
    let mut all: Vec<u8> = ga.into_iter().chain(gb).collect();
    all.sort();
    assert_eq!(all, (0..20).collect::<Vec<_>>(), "each message to exactly one member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_option_no_local() {
    let broker = Mosquitto::start("");
    let c = client(&broker.url(), Options::new("nolocal")).await;
    let other = client(&broker.url(), Options::new("nolocal-other")).await;
    let mut s = Subscription::new("nolocal/#", QoS::AtLeastOnce);
    s.no_local = true;
    c.subscribe_with(s).await.unwrap();
    c.publish(Message::new("nolocal/a", "ours")).await.unwrap();
    other.publish(Message::new("nolocal/a", "theirs")).await.unwrap();
    assert_eq!(recv(&c).await.payload, b"theirs", "no_local: our own message does not come back");
    quiet(&c, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_tools_interoperate() {
    let broker = Mosquitto::start("");
    let port = broker.port.to_string();
    // mosquitto_sub sees what we publish.
    let sub = tool("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "interop/from-us",
            "-C",
            "1",
            "-W",
            "10",
            "-q",
            "1",
            "-V",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let c = client(&broker.url(), Options::new("interop")).await;
    c.subscribe("interop/to-us", QoS::AtLeastOnce).await.unwrap();
    // Give mosquitto_sub time to subscribe; publish until it has (retained would also do).
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.publish(Message::new("interop/from-us", "hello mosquitto_sub").with_qos(QoS::AtLeastOnce))
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || sub.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello mosquitto_sub");
    // We receive what mosquitto_pub sends.
    let status = tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-t", "interop/to-us", "-m", "hello telemetra", "-q", "2"])
        .status()
        .unwrap();
    assert!(status.success());
    let m = recv(&c).await;
    assert_eq!((m.payload.as_slice(), m.qos), (&b"hello telemetra"[..], QoS::AtLeastOnce));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_reported() {
    let dir = support::TempDir::new("auth");
    let pw = dir.0.join("passwd");
    let st = tool("mosquitto_passwd")
        .arg("-b")
        .arg("-c")
        .arg(&pw)
        .args(["node-2a", "correct horse"])
        .status()
        .unwrap();
    assert!(st.success());
    let broker = Mosquitto::start_in(dir, "allow_anonymous false\npassword_file {dir}/passwd");
    let mut o = Options::new("node-2a");
    o.username = Some("node-2a".into());
    o.password = Some(telemetra_transports::mqtt::client::Password::new("wrong"));
    let c = MqttClient::start(support::config(&broker.url(), o.clone())).unwrap();
    let e =
        event(&c, 10, |e| matches!(e, Event::Disconnected { error: Some(ClientError::Refused(_)) })).await;
    assert!(format!("{e:?}").contains("0x86") || format!("{e:?}").contains("0x87"), "{e:?}");
    assert!(!format!("{c:?}").contains("wrong"));
    // A program waiting to be connected is told why, rather than waiting for ever.
    let err = within(5, c.connected()).await.unwrap_err();
    let ConnectError::Refused { error, .. } = &err else { panic!("{err:?}") };
    assert!(error.is_permanent(), "{err}");
    assert!(err.to_string().starts_with("connection refused: "), "{err}");
    c.disconnect().await;
    // The same over MQTT 3.1.1: the return code is kept as sent.
    let mut v3 = o.clone();
    v3.version = Version::V3_1_1;
    let c = MqttClient::start(support::config(&broker.url(), v3)).unwrap();
    let err = within(5, c.connected()).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Refused { error: ClientError::RefusedV3 { code: 4 | 5 }, .. }),
        "{err:?}"
    );
    c.disconnect().await;
    o.password = Some(telemetra_transports::mqtt::client::Password::new("correct horse"));
    let c = client(&broker.url(), o).await;
    c.disconnect().await;
    // Anonymous is refused.
    let c = MqttClient::start(support::config(&broker.url(), Options::new("anon"))).unwrap();
    event(&c, 10, |e| matches!(e, Event::Disconnected { error: Some(ClientError::Refused(_)) })).await;
}
