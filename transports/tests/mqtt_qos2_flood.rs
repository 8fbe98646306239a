//! QoS 2 receive against brokers that send more than the client's Receive Maximum: every
//! message arrives exactly once and the client never turns the excess into a reconnect loop.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{Mosquitto, client, within};
use telemetra_transports::mqtt::client::{Message, Options};
use telemetra_transports::mqtt::driver::MqttClient;
use telemetra_transports::mqtt::packet::publish::{QoS, Version};

fn session(id: &str, version: Version) -> Options {
    let mut o = Options::new(id);
    o.version = version;
    o.session_expiry = 600;
    o.keep_alive = 10;
    o
}

/// Counts every message `sub` receives until `n` distinct ones came and then nothing for
/// half a second (late duplicates would arrive then).
async fn collect(sub: &MqttClient, n: usize) -> HashMap<u32, u32> {
    let mut seen: HashMap<u32, u32> = HashMap::new();
    while seen.len() < n {
        let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(30), sub.recv()).await else { break };
        *seen.entry(u32::from_be_bytes(m.payload[..4].try_into().unwrap())).or_default() += 1;
    }
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await {
        *seen.entry(u32::from_be_bytes(m.payload[..4].try_into().unwrap())).or_default() += 1;
    }
    seen
}

/// A subscriber away while `N` QoS 2 messages pile up for it comes back with a Receive
/// Maximum of 8; mosquitto is told it may have unlimited messages in flight to a client, so
/// it sends far more than 8 before any release.
async fn pending_qos2_arrive_once(version: Version) {
    const N: u32 = 600;
    let broker = Mosquitto::start("max_inflight_messages 0\nmax_queued_messages 5000");
    let url = broker.url();
    let tag = if version == Version::V5 { "v5" } else { "v311" };
    let mut o = session(&format!("flood-sub-{tag}"), version);
    o.receive_maximum = 8;
    let sub = client(&url, o.clone()).await;
    sub.subscribe("flood/#", QoS::ExactlyOnce).await.unwrap();
    sub.abort().await;

    let publisher = client(&url, session(&format!("flood-pub-{tag}"), version)).await;
    for i in 0..N {
        publisher
            .publish(Message::new("flood/x", i.to_be_bytes().to_vec()).with_qos(QoS::ExactlyOnce))
            .await
            .unwrap();
    }
    within(30, publisher.flush()).await;

    let sub = client(&url, o).await;
    let seen = collect(&sub, N as usize).await;
    let missing: Vec<u32> = (0..N).filter(|i| !seen.contains_key(i)).collect();
    let twice: Vec<u32> = (0..N).filter(|i| seen.get(i).copied().unwrap_or(0) > 1).collect();
    let stats = sub.stats();
    assert!(
        missing.is_empty(),
        "{version:?}: {} of {N} never arrived: {missing:?}; {stats:?}",
        missing.len()
    );
    assert!(twice.is_empty(), "{version:?}: delivered twice: {twice:?}");
    assert_eq!(stats.connects, 1, "{version:?}: no reconnect: {stats:?}");
    if version == Version::V5 {
        assert!(
            stats.receive_maximum_exceeded > 0,
            "the broker did send more than 8 at once (else this test proves nothing): {stats:?}"
        );
    }
    assert_eq!(sub.disconnect().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_qos2_beyond_receive_maximum_arrive_once_mqtt_5() {
    pending_qos2_arrive_once(Version::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_qos2_arrive_once_mqtt_3_1_1() {
    pending_qos2_arrive_once(Version::V3_1_1).await;
}
