//! Limits a user meets under load: a message larger than a limit is refused at once, and an
//! application that reads events gets every one of them.

mod support;

use std::time::{Duration, Instant};

use support::{Mosquitto, client, within};
use telemetra_transports::mqtt::client::{Event, Message, Options, RejectReason, SizeLimit};
use telemetra_transports::mqtt::packet::publish::QoS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_larger_than_the_queue_is_refused_at_once() {
    let broker = Mosquitto::start("");
    let c = client(&broker.url(), Options::new("big")).await;
    let started = Instant::now();
    // 1 MiB of payload with the default 1 MiB queue: it can never be queued.
    let r =
        c.publish(Message::new("big/x", vec![0u8; 1 << 20]).with_qos(QoS::AtLeastOnce)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once, not after the publish wait");
    assert!(
        matches!(r.reason, RejectReason::TooLarge { limit: SizeLimit::Queue, max: 1048576, size: 1048581 }),
        "{r}"
    );
    assert!(r.to_string().contains("over the offline queue's max_bytes of 1048576 bytes"), "{r}");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_event_reaches_a_reader() {
    const N: usize = 10_000;
    let broker = Mosquitto::start("max_inflight_messages 0");
    let mut o = Options::new("events");
    o.max_events = 64;
    let c = client(&broker.url(), o).await;
    // Read an event (the connection's) before publishing: until the application reads events
    // the client keeps only the latest `max_events` (it cannot know anyone will read them), so
    // a reader task scheduled late on a busy machine would miss the first ones.
    assert!(within(10, c.next_event()).await.is_some());
    let reader = tokio::spawn({
        let c = c.clone();
        async move {
            let mut delivered = 0;
            while delivered < N {
                match within(30, c.next_event()).await {
                    Some(Event::Delivered(_)) => delivered += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            delivered
        }
    });
    for i in 0..N {
        c.publish(Message::new("events/x", i.to_be_bytes().to_vec()).with_qos(QoS::AtLeastOnce))
            .await
            .unwrap();
    }
    let delivered = within(60, reader).await.unwrap();
    assert_eq!(delivered, N, "{:?}", c.stats());
    assert_eq!(c.stats().events_dropped, 0);
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_not_pending_while_offline() {
    // Nothing listens there: the client stays offline.
    let url = format!("mqtt://127.0.0.1:{}", support::free_port());
    let c =
        telemetra_transports::mqtt::driver::MqttClient::start(support::config(&url, Options::new("offline")))
            .unwrap();
    c.publish(Message::new("offline/x", "soon stale").with_qos(QoS::AtLeastOnce).with_expiry(1))
        .await
        .unwrap();
    c.publish(Message::new("offline/y", "kept").with_qos(QoS::AtLeastOnce)).await.unwrap();
    assert_eq!(c.pending().queued, 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(c.pending().queued, 1, "the expired message is gone, not counted until a connection");
    c.abort().await;
}
