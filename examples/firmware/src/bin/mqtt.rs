//! The MQTT client core over the UART: connect (MQTT 5), subscribe, publish at QoS 0, 1 and 2,
//! receive at QoS 2, keep alive, disconnect.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use telemetra::model::{Route, RouteKind};
use telemetra::mqtt::QoS;
use telemetra::mqtt::lite::{LiteEvent, LiteOptions};
use telemetra::mqtt::packet::subscribe::Subscription;
use telemetra_firmware_example::app::{self, mqtt::MqttLink};
use telemetra_firmware_example::{self as board};

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let mut options = LiteOptions::new("tm-2a");
    options.keep_alive = 5;
    let link = MqttLink::take();
    link.connect(&options, board::clock::now());
    let readings = Route::new(RouteKind::Readings, app::DEVICE).topic();
    let commands = Route::new(RouteKind::Commands, app::DEVICE).topic();
    let (mut delivered, mut received, mut connected) = (0, 0, false);
    while board::clock::now() < 20_000 {
        let now = board::clock::now();
        let mut just_connected = false;
        let pumped = link.pump(&mut uart, now, &mut |event| match event {
            LiteEvent::Connected { .. } => just_connected = true,
            LiteEvent::Delivered { .. } => delivered += 1,
            LiteEvent::Message { .. } => received += 1,
            _ => {}
        });
        if pumped.is_err() {
            board::probe::fail(b"mqtt");
        }
        if just_connected && !connected {
            connected = true;
            let filter = [Subscription::new(&commands, QoS::ExactlyOnce)];
            if link.client.subscribe(&filter, now).is_err() {
                board::probe::fail(b"subscribe");
            }
            for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
                if link.client.publish(&readings, &[i as u8; 8], qos, false, now).is_err() {
                    board::probe::fail(b"publish");
                }
            }
        }
        // Both acknowledged publishes completed and the command (retained, QoS 2) arrived;
        // then hold the connection past one keep alive.
        if delivered == 2 && received >= 1 && now > 6_000 {
            let _ = link.client.disconnect();
            let _ = link.pump(&mut uart, now, &mut |_| {});
            board::probe::finish();
        }
    }
    board::probe::fail(b"timeout")
}
