//! The outbox to MQTT: the oldest frames published at QoS 1 on their route's topic, each
//! removed once the broker acknowledged it.

use std::sync::Arc;
use std::time::Duration;

use telemetra::codec::FrameView;
use telemetra::transports::mqtt::client::{Message, Outcome};
use telemetra::transports::mqtt::driver::MqttClient;
use telemetra::transports::mqtt::packet::publish::QoS;
use telemetra::transports::outbox::Outbox;
use tokio::sync::Notify;

/// Frames published at once (QoS 1 in flight).
const BATCH: usize = 32;

pub async fn run(outbox: Outbox, mqtt: MqttClient, wake: Arc<Notify>) {
    loop {
        let o = outbox.clone();
        let batch = match tokio::task::spawn_blocking(move || o.oldest(BATCH)).await {
            Ok(Ok(b)) => b,
            _ => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let mut publishing = tokio::task::JoinSet::new();
        for (id, frame) in batch {
            let mqtt = mqtt.clone();
            publishing.spawn(async move {
                // A frame that is not one (it cannot be: only frames are stored) goes too.
                let Ok(view) = FrameView::parse(&frame) else { return Some(id) };
                let message = Message::new(view.route().topic().as_str(), frame).with_qos(QoS::AtLeastOnce);
                match mqtt.publish_acked(message).await {
                    Ok(Some(Outcome::Delivered)) => Some(id),
                    _ => None,
                }
            });
        }
        let done: Vec<u64> = publishing.join_all().await.into_iter().flatten().collect();
        if done.is_empty() {
            // The broker is away or refusing: the frames stay, try again shortly.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let o = outbox.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || o.remove(&done)).await {
            eprintln!("gateway: {e}");
        }
    }
}
