//! The interoperability matrix: our client against two brokers nobody on this project wrote
//! (mosquitto, rumqttd) in MQTT 3.1.1 and 5, and against a second client implementation
//! (Eclipse paho-mqtt, Python): QoS 0, 1 and 2, 2,000 messages each, in both directions.
//! QoS 1 must lose nothing, QoS 2 must deliver each message exactly once, QoS 0 at most once.
//! Each case prints one line of the table the note quotes.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{Mosquitto, PahoSubscriber, Rumqttd, client, paho_publish, within};
use telemetra_transports::mqtt::client::{Event, Message, Options};
use telemetra_transports::mqtt::driver::MqttClient;
use telemetra_transports::mqtt::packet::publish::{QoS, Version};

const N: u32 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Ours,
    Paho,
}

fn qos_of(q: u8) -> QoS {
    [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(q)]
}

fn options(id: String, version: Version) -> Options {
    let mut o = Options::new(id);
    o.version = version;
    o.session_expiry = 0;
    o.clean_start = true;
    o
}

/// Our subscriber's counts: distinct messages and every delivery.
async fn our_counts(sub: &MqttClient) -> HashMap<u32, u32> {
    let mut seen: HashMap<u32, u32> = HashMap::new();
    while seen.len() < N as usize {
        let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), sub.recv()).await else { break };
        *seen.entry(u32::from_be_bytes(m.payload[..4].try_into().unwrap())).or_default() += 1;
    }
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await {
        *seen.entry(u32::from_be_bytes(m.payload[..4].try_into().unwrap())).or_default() += 1;
    }
    seen
}

/// One case: `from` publishes N messages at `qos` to `to` through the broker on `port`.
/// Returns (distinct, total) received.
async fn case(broker: &str, port: u16, version: Version, qos: u8, from: Side, to: Side) -> (u32, u32) {
    let v = if version == Version::V5 { "5" } else { "3.1.1" };
    let url = format!("mqtt://127.0.0.1:{port}");
    let topic = format!("matrix/{broker}/{v}/{qos}/{from:?}-{to:?}");
    let tag = format!("{}-{v}-{qos}", broker.replace(' ', ""));
    // The subscriber first.
    let (ours_sub, paho_sub) = match to {
        Side::Ours => {
            let sub = client(&url, options(format!("sub-{tag}"), version)).await;
            sub.subscribe(&topic, qos_of(qos)).await.unwrap();
            (Some(sub), None)
        }
        Side::Paho => (None, Some(PahoSubscriber::start(port, v, qos, N, &topic, 60))),
    };
    match from {
        Side::Ours => {
            let publisher = client(&url, options(format!("pub-{tag}"), version)).await;
            for i in 0..N {
                publisher
                    .publish(Message::new(topic.clone(), i.to_be_bytes().to_vec()).with_qos(qos_of(qos)))
                    .await
                    .unwrap();
            }
            within(60, publisher.flush()).await;
            publisher.disconnect().await;
        }
        Side::Paho => {
            let published = tokio::task::spawn_blocking({
                let topic = topic.clone();
                move || paho_publish(port, v, qos, N, &topic)
            })
            .await
            .unwrap();
            assert_eq!(published, N, "paho published everything");
        }
    }
    let (distinct, total, missing) = match (ours_sub, paho_sub) {
        (Some(sub), _) => {
            let seen = our_counts(&sub).await;
            sub.disconnect().await;
            let missing: Vec<u32> = (0..N).filter(|i| !seen.contains_key(i)).take(10).collect();
            (seen.len() as u32, seen.values().sum(), missing)
        }
        (_, Some(paho)) => {
            let c = tokio::task::spawn_blocking(move || paho.finish()).await.unwrap();
            (c.distinct, c.total, c.missing)
        }
        _ => unreachable!(),
    };
    eprintln!("| {broker} | {v} | {qos} | {from:?} → {to:?} | {distinct} | {total} |");
    let what = format!(
        "{broker} MQTT {v} QoS {qos} {from:?} → {to:?}: {distinct} distinct of {N}, {total} deliveries, first missing {missing:?}"
    );
    match qos {
        0 => assert!(total == distinct && distinct > 0, "at most once: {what}"),
        1 => assert_eq!(distinct, N, "at least once: {what}"),
        _ => assert_eq!((distinct, total), (N, N), "exactly once: {what}"),
    }
    (distinct, total)
}

async fn matrix(broker: &str, port: u16, version: Version) {
    for qos in 0..=2 {
        for (from, to) in [(Side::Ours, Side::Ours), (Side::Paho, Side::Ours), (Side::Ours, Side::Paho)] {
            case(broker, port, version, qos, from, to).await;
        }
    }
}

/// mosquitto holds at most 1,000 QoS 1 and 2 messages per client beyond those in flight and
/// drops the rest (`max_queued_messages`): a Python subscriber falls that far behind a burst
/// of 2,000, so the matrix's broker holds them all.
const MOSQUITTO: &str = "max_queued_messages 10000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_mqtt_3_1_1() {
    let broker = Mosquitto::start(MOSQUITTO);
    matrix("mosquitto", broker.port, Version::V3_1_1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_mqtt_5() {
    let broker = Mosquitto::start(MOSQUITTO);
    matrix("mosquitto", broker.port, Version::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttd_mqtt_3_1_1() {
    let broker = Rumqttd::start();
    matrix("rumqttd", broker.v4_port, Version::V3_1_1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttd_mqtt_5() {
    let broker = Rumqttd::start();
    matrix("rumqttd", broker.v5_port, Version::V5).await;
}

/// rumqttd keeps nothing across a restart: both clients reconnect on their own, find their
/// sessions gone, subscribe again, and what is published afterwards arrives (QoS 1 all, QoS 2
/// exactly once), in both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttd_restart_both_versions() {
    let mut broker = Rumqttd::start();
    for (version, port) in [(Version::V3_1_1, broker.v4_port), (Version::V5, broker.v5_port)] {
        let url = format!("mqtt://127.0.0.1:{port}");
        let mut o = options(format!("restart-sub-{version:?}"), version);
        o.session_expiry = 600;
        o.clean_start = false;
        let sub = client(&url, o).await;
        sub.subscribe("restart/#", QoS::ExactlyOnce).await.unwrap();
        let publisher = client(&url, options(format!("restart-pub-{version:?}"), version)).await;
        broker.restart();
        // Both notice, reconnect and (the subscriber) subscribe again.
        support::event(&sub, 20, |e| matches!(e, Event::Resubscribed { .. })).await;
        within(20, publisher.connected()).await.unwrap();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for i in 0..N {
                let body = [vec![qos as u8], i.to_be_bytes().to_vec()].concat();
                publisher.publish(Message::new("restart/x", body).with_qos(qos)).await.unwrap();
            }
        }
        within(60, publisher.flush()).await;
        let mut seen: HashMap<(u8, u32), u32> = HashMap::new();
        while seen.len() < 2 * N as usize {
            let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), sub.recv()).await else { break };
            *seen
                .entry((m.payload[0], u32::from_be_bytes(m.payload[1..5].try_into().unwrap())))
                .or_default() += 1;
        }
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await {
            *seen
                .entry((m.payload[0], u32::from_be_bytes(m.payload[1..5].try_into().unwrap())))
                .or_default() += 1;
        }
        let got = |qos: u8| (0..N).filter(|i| seen.contains_key(&(qos, *i))).count();
        let twice = (0..N).filter(|i| seen.get(&(2, *i)).copied().unwrap_or(0) > 1).count();
        eprintln!(
            "| rumqttd restart | {version:?} | QoS 1: {} of {N} | QoS 2: {} of {N}, {twice} twice |",
            got(1),
            got(2)
        );
        assert_eq!((got(1), got(2), twice), (N as usize, N as usize, 0), "{version:?}");
        assert!(sub.stats().connects >= 2 && publisher.stats().connects >= 2);
        sub.disconnect().await;
        publisher.disconnect().await;
    }
}
