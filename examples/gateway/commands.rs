//! Commands from MQTT to the device they name, over the serial link it was last heard on.

use std::time::Duration;

use telemetra::model::transport::Sender as _;
use telemetra::model::{Route, RouteKind};
use telemetra::serial::driver::SerialSender;
use telemetra::transports::mqtt::driver::MqttClient;
use telemetra::transports::mqtt::packet::publish::QoS;
use tokio::sync::mpsc;

use super::Routes;

/// Subscribes to every device's command topic and hands each command to its device's link.
pub async fn from_broker(mqtt: MqttClient, routes: Routes) {
    while mqtt.subscribe("tm/v1/+/commands", QoS::AtLeastOnce).await.is_err() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    while let Some(message) = mqtt.recv().await {
        let Some(route) = Route::parse_topic(&message.topic).filter(|r| r.kind == RouteKind::Commands) else {
            continue;
        };
        let link = routes.lock().unwrap_or_else(|p| p.into_inner()).get(&route.device).cloned();
        match link {
            Some(link) => _ = link.send(message.payload).await,
            None => eprintln!("gateway: a command for {}, not heard from on any link yet", route.device),
        }
    }
}

/// Sends the commands queued for one link; each is in the link's outbox, acknowledged by the
/// device when it took it.
pub async fn to_device(mut tx: SerialSender, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = queue.recv().await {
        // The route is the frame's own on a serial link.
        let route = Route::new(RouteKind::Commands, telemetra::model::DeviceId(0));
        if let Err(e) = tx.send(route, &frame).await {
            eprintln!("gateway: a command not queued for its device: {e}");
        }
    }
}
