//! The transport on CoAP with OSCORE (RFC 8613): a device and the server share a context, so
//! frames up and commands down are protected end to end; a device without it, or with another
//! secret, is refused; aiocoap's OSCORE client posts a frame the server takes.

mod support;

use support::*;
use telemetra_core::transport::{Receiver as _, Sender as _};
use telemetra_core::{DeviceId, ErrorKind, Route, RouteFilter, RouteKind, TransportError as _};
use telemetra_transports::coap::Code;
use telemetra_transports::coap::driver::CoapError;
use telemetra_transports::coap::driver::transport::{CoapDevice, CoapServer, DeviceConfig, ServerConfig};
use telemetra_transports::coap::oscore::SecurityContext;

const DEVICE: DeviceId = DeviceId(0x2a);
const SECRET: [u8; 16] = *b"device 2a secret";
const SALT: [u8; 4] = *b"tm-1";
/// The server's Sender ID and the device's.
const SERVER_ID: &[u8] = b"S";
const DEVICE_ID: &[u8] = b"\x2a";

async fn server() -> (CoapServer, String) {
    let url = format!("coap://127.0.0.1:{}", free_udp_port());
    let mut config = ServerConfig::default();
    config.oscore = vec![SecurityContext::derive(&SECRET, &SALT, SERVER_ID, DEVICE_ID, None).unwrap()];
    let mut s = CoapServer::bind(&url, config).await.unwrap();
    s.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    (s, url)
}

fn device_config(secret: Option<&[u8]>) -> DeviceConfig {
    let mut config = DeviceConfig::default();
    config.client.oscore =
        secret.map(|s| SecurityContext::derive(s, &SALT, DEVICE_ID, SERVER_ID, None).unwrap());
    config
}

#[tokio::test]
async fn frames_and_commands_protected_end_to_end() {
    let (mut s, url) = server().await;
    let mut d = CoapDevice::connect(&url, DEVICE, device_config(Some(&SECRET))).await.unwrap();
    let readings = Route::new(RouteKind::Readings, DEVICE);
    let commands = Route::new(RouteKind::Commands, DEVICE);
    within(10, d.subscribe(RouteFilter::exact(commands))).await.unwrap();
    for i in 0..20 {
        d.send(readings, format!("reading-{i}").as_bytes()).await.unwrap();
    }
    within(10, d.send_acked(readings, b"reading-20")).await.unwrap();
    let mut buf = [0u8; 64];
    for i in 0..=20 {
        let got = within(10, s.receive(&mut buf)).await.unwrap();
        assert_eq!(&buf[..got.len], format!("reading-{i}").as_bytes());
    }
    for i in 0..5 {
        within(10, s.send_acked(commands, format!("command-{i}").as_bytes())).await.unwrap();
    }
    for i in 0..5 {
        let got = within(10, d.receive(&mut buf)).await.unwrap();
        assert_eq!((got.route, &buf[..got.len]), (commands, format!("command-{i}").as_bytes()));
    }
}

#[tokio::test]
async fn a_device_without_the_context_is_refused() {
    let (mut s, url) = server().await;
    let readings = Route::new(RouteKind::Readings, DEVICE);
    let mut plain = CoapDevice::connect(&url, DEVICE, device_config(None)).await.unwrap();
    let e = within(10, plain.send_acked(readings, b"plain")).await.unwrap_err();
    assert_eq!(e, CoapError::Refused(Code::UNAUTHORIZED));
    assert_eq!(e.kind(), ErrorKind::Refused);
    let mut stranger =
        CoapDevice::connect(&url, DEVICE, device_config(Some(b"another secret!!"))).await.unwrap();
    let e = within(10, stranger.send_acked(readings, b"forged")).await.unwrap_err();
    assert_eq!(e, CoapError::Refused(Code::BAD_REQUEST));
    let mut buf = [0u8; 64];
    assert!(s.try_receive(&mut buf).unwrap().is_none(), "nothing unprotected or forged was delivered");
}

#[tokio::test]
async fn aiocoap_posts_a_protected_frame_to_the_server() {
    let (mut s, url) = server().await;
    let dir = TempDir::new("oscore-aiocoap-device");
    let ctx_dir = oscore_dir(&dir, "device", &SECRET, &SALT, DEVICE_ID, SERVER_ID);
    let target = format!("{url}/tm/v1/2a/readings");
    let out = tokio::task::spawn_blocking(move || aiocoap_oscore_post(&target, &ctx_dir, "from aiocoap"))
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.starts_with("2.04"),
        "aiocoap printed {printed:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut buf = [0u8; 64];
    let got = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!((got.route, &buf[..got.len]), (Route::new(RouteKind::Readings, DEVICE), &b"from aiocoap"[..]));
}

/// A device restarted with the same context continues its sequence numbers from its file
/// (RFC 8613 Appendix B.1.1), so the server takes its requests; restarted without the file it
/// would reuse nonces, and the server's replay window refuses it.
#[tokio::test]
async fn a_restarted_device_keeps_its_sequence_numbers() {
    use telemetra_transports::coap::driver::SequenceFile;
    let (mut s, url) = server().await;
    let dir = TempDir::new("oscore-sequence");
    let file = SequenceFile::new(dir.0.join("sequence"));
    let readings = Route::new(RouteKind::Readings, DEVICE);
    let mut buf = [0u8; 64];
    for boot in 0..2 {
        let mut config = device_config(Some(&SECRET));
        config.client.oscore_sequence = Some(file.clone());
        let mut d = CoapDevice::connect(&url, DEVICE, config).await.unwrap();
        for i in 0..3 {
            within(10, d.send_acked(readings, format!("boot {boot} frame {i}").as_bytes())).await.unwrap();
            let got = within(5, s.receive(&mut buf)).await.unwrap();
            assert_eq!(&buf[..got.len], format!("boot {boot} frame {i}").as_bytes());
        }
        within(10, d.close()).await.unwrap();
    }
    assert!(file.load().unwrap().unwrap() >= 128, "stored ahead once per boot");
    let mut forgetful = CoapDevice::connect(&url, DEVICE, device_config(Some(&SECRET))).await.unwrap();
    let e = within(10, forgetful.send_acked(readings, b"reused nonce")).await.unwrap_err();
    assert_eq!(e, CoapError::Refused(Code::UNAUTHORIZED), "a replay to the server");
}
