//! Commands from MQTT to the device they name, over the link it was last heard on (a serial
//! link, or the CoAP server it observes).

use std::time::Duration;

use telemetra::model::transport::Sender;
use telemetra::model::{Route, RouteKind};
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
            Some(link) => _ = link.send((route, message.payload)).await,
            None => eprintln!("gateway: a command for {}, not heard from on any link yet", route.device),
        }
    }
}

/// Sends the commands queued for one link (each queued there, delivered to the device when
/// it is reachable).
pub async fn to_device<S: Sender>(mut tx: S, mut queue: mpsc::Receiver<(Route, Vec<u8>)>) {
    while let Some((route, frame)) = queue.recv().await {
        if let Err(e) = tx.send(route, &frame).await {
            eprintln!("gateway: a command not queued for its device: {e}");
        }
    }
}
