//! The firmware side's async link (`serial::asynch`, on `embedded-io-async`) against the
//! gateway side's serial transport, over a real pseudo-terminal pair (socat): frames up, each
//! acknowledged once the gateway took it; a command down, once.

mod support;

use std::time::Duration;

use support::pty::PtyPair;
use support::within;
use telemetra_codec::stream::max_packet_len;
use telemetra_codec::{FrameView, ReadingsBody, encode_body};
use telemetra_core::transport::{Receiver as _, Sender as _};
use telemetra_core::{ChannelId, DeviceId, Reading, Route, RouteFilter, RouteKind, Timestamp};
use telemetra_transports::serial::asynch::{AsyncLink, Clock};
use telemetra_transports::serial::driver::{SerialConfig, SerialLink};
use telemetra_transports::serial::port::{PortSettings, SerialPort};
use telemetra_transports::serial::reliable::{Config, ReliableLink, wire};

const DEVICE: DeviceId = DeviceId(0x2a);
const P: usize = 128;

/// The firmware's clock, here tokio's.
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }

    fn sleep_until(&self, deadline: u64) -> impl std::future::Future<Output = ()> {
        tokio::time::sleep_until(self.0 + Duration::from_millis(deadline))
    }
}

fn frame(seq: u32) -> Vec<u8> {
    let r = [Reading::new(ChannelId(1), Timestamp(u64::from(seq)), seq as i32)];
    let mut buf = [0u8; P];
    encode_body(DEVICE, seq, &ReadingsBody(&r), &mut buf).unwrap().to_vec()
}

#[tokio::test]
async fn the_async_firmware_link_and_the_serial_transport_over_a_pty() {
    let pair = PtyPair::new();
    let port = SerialPort::open(&PortSettings::new(pair.a.display().to_string(), 115_200)).unwrap();
    let io = embedded_io_adapters::tokio_1::FromTokio::new(port);
    let clock = TokioClock(tokio::time::Instant::now());
    let mut device: AsyncLink<_, _, 4, P, { max_packet_len(P + wire::DATA_HEADER) }> =
        AsyncLink::new(io, clock, ReliableLink::new(Config::default(), 0xa5));
    let mut gateway = SerialLink::open(&PtyPair::url(&pair.b), SerialConfig::default()).await.unwrap();
    gateway.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();

    let device_side = async {
        for seq in 0..200 {
            device.send_acked(&frame(seq)).await.unwrap();
        }
        let mut buf = [0u8; P];
        let n = device.receive(&mut buf).await.unwrap();
        (buf[..n].to_vec(), device.link().stats())
    };
    let gateway_side = async {
        let mut buf = [0u8; 1100];
        for seq in 0..200 {
            let got = gateway.receive(&mut buf).await.unwrap();
            assert_eq!(FrameView::parse(&buf[..got.len]).unwrap().seq, seq, "in order, once");
        }
        gateway.send(Route::new(RouteKind::Commands, DEVICE), b"a command frame").await.unwrap();
    };
    let ((command, stats), ()) = within(30, async { tokio::join!(device_side, gateway_side) }).await;
    assert_eq!(command, b"a command frame");
    assert_eq!((stats.acknowledged, stats.delivered), (200, 1), "{stats:?}");
}
