//! The MQTT client core over the UART: connect (MQTT 5), subscribe, publish at QoS 0, 1 and 2,
//! receive at QoS 2, keep alive, disconnect.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use telemetra::model::{Route, RouteKind};
use telemetra::mqtt::{Event, Message, Options, QoS};
use telemetra_firmware_example::app::{self, mqtt::MqttLink};
use telemetra_firmware_example::{self as board};

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let mut options = Options::new("tm-2a");
    options.keep_alive = 5;
    let mut link = MqttLink::connect(options, board::clock::now());
    let readings = Route::new(RouteKind::Readings, app::DEVICE).topic();
    let commands = Route::new(RouteKind::Commands, app::DEVICE).topic();
    let (mut delivered, mut received) = (0, 0);
    while board::clock::now() < 20_000 {
        let now = board::clock::now();
        if link.pump(&mut uart, now).is_err() {
            board::probe::fail(b"mqtt");
        }
        while let Some(event) = link.client.poll_event() {
            match event {
                Event::Connected { .. } => {
                    if link.client.subscribe(&commands, QoS::ExactlyOnce).is_err() {
                        board::probe::fail(b"subscribe");
                    }
                    for (i, qos) in
                        [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate()
                    {
                        let m = Message::new(readings.as_str(), [i as u8; 8]).with_qos(qos);
                        if link.client.publish(m, now).is_err() {
                            board::probe::fail(b"publish");
                        }
                    }
                }
                Event::Delivered(_) => delivered += 1,
                _ => {}
            }
        }
        while link.client.poll_message().is_some() {
            received += 1;
        }
        // Both acknowledged publishes completed and the command (retained, QoS 2) arrived;
        // then hold the connection past one keep alive.
        if delivered == 2 && received >= 1 && now > 6_000 {
            link.client.disconnect(now);
            let _ = link.pump(&mut uart, now);
            board::probe::finish();
        }
    }
    board::probe::fail(b"timeout")
}
