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

/// aiocoap's OSCORE client posts a frame. The server has just started, so it knows no replay
/// window: aiocoap's first request is answered by a protected 4.01 with an Echo value (RFC 8613
/// Appendix B.1.2), which aiocoap answers by itself.
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

/// Protects a POST of `payload` to the device's readings with `ctx` (carrying `echo` if
/// given), sends it on `sock` and returns the bytes sent, the inner response and its Echo.
async fn post_by_hand(
    ctx: &mut SecurityContext,
    sock: &tokio::net::UdpSocket,
    payload: &[u8],
    echo: Option<&[u8]>,
) -> (Vec<u8>, Code, Option<Vec<u8>>) {
    use telemetra_transports::coap::oscore;
    use telemetra_transports::coap::{Builder, Message, OptionNumber, Type};
    let mut plain = [0u8; 128];
    let mut b = Builder::new(&mut plain, Type::Con, Code::POST, 0x700 + payload.len() as u16, &[7]).unwrap();
    for segment in ["tm", "v1", "2a", "readings"] {
        b.option(OptionNumber::URI_PATH, segment.as_bytes()).unwrap();
    }
    if let Some(e) = echo {
        b.option(OptionNumber::ECHO, e).unwrap();
    }
    let plain = Message::parse(b.payload(payload).unwrap()).unwrap();
    let mut wire = [0u8; 512];
    let (sent, binding) = oscore::protect_request(ctx, &plain, &mut wire).unwrap();
    let sent = sent.to_vec();
    let answer = exchange_by_hand(sock, &sent).await;
    let (code, echo) = open_by_hand(ctx, &binding, &answer);
    (sent, code, echo)
}

async fn exchange_by_hand(sock: &tokio::net::UdpSocket, bytes: &[u8]) -> Vec<u8> {
    sock.send(bytes).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = within(10, sock.recv(&mut buf)).await.unwrap();
    buf[..n].to_vec()
}

/// The inner code and Echo of a response (its outer code if it is not protected).
fn open_by_hand(
    ctx: &mut SecurityContext,
    binding: &telemetra_transports::coap::oscore::Binding,
    answer: &[u8],
) -> (Code, Option<Vec<u8>>) {
    use telemetra_transports::coap::{Message, OptionNumber, oscore};
    let outer = Message::parse(answer).unwrap();
    if outer.option(OptionNumber::OSCORE).is_none() {
        return (outer.code, None);
    }
    let mut buf = [0u8; 512];
    let inner = Message::parse(oscore::unprotect_response(ctx, binding, &outer, &mut buf).unwrap()).unwrap();
    (inner.code, inner.option(OptionNumber::ECHO).map(<[u8]>::to_vec))
}

/// The server keeps no replay window across a restart (RFC 8613 Appendix B.1.2): a request
/// captured before it is answered with an Echo challenge and never delivered; the device
/// itself, answering the challenge by itself, goes on sending; the captured request stays
/// refused after the recovery.
#[tokio::test]
async fn a_restarted_server_takes_the_device_again_by_echo_and_no_captured_request() {
    let port = free_udp_port();
    let url = format!("coap://127.0.0.1:{port}");
    let start = || async {
        let mut config = ServerConfig::default();
        config.oscore = vec![SecurityContext::derive(&SECRET, &SALT, SERVER_ID, DEVICE_ID, None).unwrap()];
        for _ in 0..100 {
            if let Ok(mut s) = CoapServer::bind(&url, config.clone()).await {
                s.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("port {port} not free again");
    };
    let mut s = start().await;
    let mut ctx = SecurityContext::derive(&SECRET, &SALT, DEVICE_ID, SERVER_ID, None).unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(("127.0.0.1", port)).await.unwrap();
    // A server that just started knows no window: even the first request is challenged.
    let (_, code, echo) = post_by_hand(&mut ctx, &sock, b"first", None).await;
    assert_eq!(code, Code::UNAUTHORIZED);
    let echo = echo.expect("an Echo value in the protected 4.01");
    let (captured, code, _) = post_by_hand(&mut ctx, &sock, b"captured", Some(&echo)).await;
    assert_eq!(code, Code::CHANGED, "taken with the Echo value");
    let mut buf = [0u8; 64];
    let got = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..got.len], b"captured");

    within(10, s.close()).await.unwrap();
    drop(s);
    let mut s = start().await;
    // The captured request played to the restarted server: challenged, not delivered.
    let replayed = exchange_by_hand(&sock, &captured).await;
    let outer = telemetra_transports::coap::Message::parse(&replayed).unwrap();
    assert!(
        outer.option(telemetra_transports::coap::OptionNumber::OSCORE).is_some(),
        "a protected challenge"
    );
    // The device goes on with its context (its sequence numbers continue) and gets through.
    let mut config = device_config(None);
    config.client.oscore = Some(ctx.clone());
    let mut d = CoapDevice::connect(&url, DEVICE, config).await.unwrap();
    let readings = Route::new(RouteKind::Readings, DEVICE);
    within(10, d.send_acked(readings, b"after the restart")).await.unwrap();
    let got = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..got.len], b"after the restart", "the captured request was never delivered");
    // Recovered: the captured request is now an outright replay (sent as a new message: the
    // same Message ID would only get the cached challenge back).
    let mut again = captured.clone();
    again[2..4].copy_from_slice(&0x7777u16.to_be_bytes());
    let refused = exchange_by_hand(&sock, &again).await;
    let refused = telemetra_transports::coap::Message::parse(&refused).unwrap();
    assert_eq!(
        (refused.code, String::from_utf8_lossy(refused.payload).into_owned()),
        (Code::UNAUTHORIZED, "Replay detected".to_string())
    );
    assert!(s.try_receive(&mut buf).unwrap().is_none());
}

/// OSCORE is served over UDP only: a stream URL with contexts configured is refused rather than
/// served unprotected.
#[tokio::test]
async fn contexts_on_a_stream_url_are_refused() {
    let mut config = ServerConfig::default();
    config.oscore = vec![SecurityContext::derive(&SECRET, &SALT, SERVER_ID, DEVICE_ID, None).unwrap()];
    let Err(e) = CoapServer::bind("coap+tcp://127.0.0.1:0", config).await else { panic!("served") };
    assert!(matches!(e, CoapError::BadUrl(ref why) if why.contains("UDP")), "{e}");
}
