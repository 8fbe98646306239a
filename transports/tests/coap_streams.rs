//! CoAP over TCP and TLS (RFC 8323) against libcoap: our client to `coap-server-notls` over
//! `coap+tcp://` (methods, a 100 KB body by Block1 and Block2, observe) and to
//! `coap-server-gnutls` over `coaps+tcp://` with a certificate from a test CA (and refused
//! when the CA is another).

mod support;

use support::*;
use telemetra_transports::coap::Code;
use telemetra_transports::coap::driver::{ClientConfig, CoapClient, CoapError, Request};
use telemetra_transports::mqtt::driver::tls::{Roots, TlsOptions};

#[tokio::test]
async fn our_client_over_tcp_against_libcoap() {
    let server = LibcoapServer::start();
    let url = format!("coap+tcp://127.0.0.1:{}", server.port);
    let c = CoapClient::connect(&url, ClientConfig::default()).await.unwrap();
    let time = within(10, c.request(Request::get("time"))).await.unwrap();
    assert_eq!(time.code, Code::CONTENT);
    assert!(!time.payload.is_empty());
    assert_eq!(within(10, c.request(Request::put("t1", "hello"))).await.unwrap().code, Code::CREATED);
    assert_eq!(within(10, c.request(Request::get("t1"))).await.unwrap().payload, b"hello");
    assert_eq!(within(10, c.request(Request::delete("t1"))).await.unwrap().code, Code::DELETED);
    let body: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 24) as u8).collect();
    let r = within(60, c.request(Request::put("big", body.clone()))).await.unwrap();
    assert_eq!(r.code, Code::CREATED, "100 KB up by Block1 over TCP");
    let back = within(60, c.request(Request::get("big"))).await.unwrap();
    assert!(back.payload == body, "100 KB back ({} bytes) by Block2 over TCP", back.payload.len());
    let mut obs = within(10, c.observe(Request::get("time"))).await.unwrap();
    assert!(obs.first.observe.is_some(), "libcoap takes the observation over TCP");
    let n = within(5, obs.next()).await.expect("a notification over TCP");
    assert_eq!(n.code, Code::CONTENT);
    obs.cancel();
}

fn tls_server(pki: &Pki, dir: &TempDir) -> LibcoapServer {
    let (cert, key) = pki.issue(&["localhost"], "localhost");
    LibcoapServer::start_tls(&dir.file("server.pem", cert), &dir.file("server.key", key))
}

fn trusting(pki: &Pki) -> ClientConfig {
    let mut config = ClientConfig::default();
    let mut tls = TlsOptions::default();
    tls.roots = Roots::Pem(pki.ca_pem().into_bytes());
    config.tls = tls;
    config
}

#[tokio::test]
async fn our_client_over_tls_against_libcoap() {
    let pki = Pki::new();
    let dir = TempDir::new("coaps");
    let server = tls_server(&pki, &dir);
    let url = format!("coaps+tcp://localhost:{}", server.port + 1);
    let c = CoapClient::connect(&url, trusting(&pki)).await.unwrap();
    let time = within(10, c.request(Request::get("time"))).await.unwrap();
    assert_eq!(time.code, Code::CONTENT);
    let body = vec![0x5a; 5000];
    assert_eq!(within(20, c.request(Request::put("t2", body.clone()))).await.unwrap().code, Code::CREATED);
    assert_eq!(within(20, c.request(Request::get("t2"))).await.unwrap().payload, body);
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let dir = TempDir::new("coaps-other");
    let server = tls_server(&pki, &dir);
    let url = format!("coaps+tcp://localhost:{}", server.port + 1);
    let c = CoapClient::connect(&url, trusting(&Pki::new())).await.unwrap();
    let r = within(20, c.request(Request::get("time"))).await;
    assert!(
        matches!(&r, Err(CoapError::Io { op: "connect", reason }) if reason.contains("certificate")),
        "{r:?}"
    );
}

/// The transport over TCP and TLS, both ends ours: frames up, commands down.
mod transport {
    use super::*;
    use telemetra_core::transport::{Receiver as _, Sender as _};
    use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind};
    use telemetra_transports::coap::driver::transport::{CoapDevice, CoapServer, DeviceConfig, ServerConfig};
    use telemetra_transports::mqtt::driver::tls::Identity;

    const DEVICE: DeviceId = DeviceId(0x2a);

    async fn round_trip(mut s: CoapServer, url: &str, device: DeviceConfig) {
        s.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
        let mut d = CoapDevice::connect(url, DEVICE, device.clone()).await.unwrap();
        let (readings, commands) =
            (Route::new(RouteKind::Readings, DEVICE), Route::new(RouteKind::Commands, DEVICE));
        within(10, d.subscribe(RouteFilter::exact(commands))).await.unwrap();
        for i in 0..50 {
            d.send(readings, format!("reading-{i}").as_bytes()).await.unwrap();
        }
        let mut buf = [0u8; 64];
        for i in 0..50 {
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
        // A frame in Block1 blocks over the stream, gathered whole.
        let mut small = device;
        small.client.block_size = 64;
        small.client.max_unsplit = 64;
        let mut blocky = CoapDevice::connect(url, DEVICE, small).await.unwrap();
        let big = vec![0x42u8; 700];
        within(10, blocky.send_acked(readings, &big)).await.unwrap();
        let mut buf = [0u8; 1024];
        let got = within(10, s.receive(&mut buf)).await.unwrap();
        assert_eq!(&buf[..got.len], &big[..]);
    }

    #[tokio::test]
    async fn over_tcp() {
        let url = format!("coap+tcp://127.0.0.1:{}", free_port());
        let s = CoapServer::bind(&url, ServerConfig::default()).await.unwrap();
        round_trip(s, &url, DeviceConfig::default()).await;
    }

    #[tokio::test]
    async fn over_tls() {
        let pki = Pki::new();
        let (cert, key) = pki.issue(&["localhost"], "localhost");
        let mut config = ServerConfig::default();
        config.tls = Some(Identity { cert_chain_pem: cert.into_bytes(), key_pem: key.into_bytes() });
        let url = format!("coaps+tcp://localhost:{}", free_port());
        let s = CoapServer::bind(&url, config).await.unwrap();
        let mut device = DeviceConfig::default();
        device.client = trusting(&pki);
        round_trip(s, &url, device).await;
    }

    #[tokio::test]
    async fn libcoap_posts_over_tcp_to_our_server() {
        let url = format!("coap+tcp://127.0.0.1:{}", free_port());
        let mut s = CoapServer::bind(&url, ServerConfig::default()).await.unwrap();
        s.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
        let target = format!("{url}/tm/v1/2a/readings");
        let out =
            tokio::task::spawn_blocking(move || libcoap_client(&["-m", "post", "-e", "over tcp", &target]))
                .await
                .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut buf = [0u8; 64];
        let got = within(5, s.receive(&mut buf)).await.unwrap();
        assert_eq!(&buf[..got.len], b"over tcp");
    }

    /// `send_acked` over TCP returns on the Pong to a Ping with Custody that follows the
    /// notification: libcoap, observing over TCP, answers it once it has the command.
    #[tokio::test]
    async fn libcoap_observes_over_tcp_and_confirms_by_pong() {
        let url = format!("coap+tcp://127.0.0.1:{}", free_port());
        let mut s = CoapServer::bind(&url, ServerConfig::default()).await.unwrap();
        let target = format!("{url}/tm/v1/2a/commands");
        let observer = libcoap_client_spawn(&["-m", "get", "-s", "3", &target]);
        let commands = Route::new(RouteKind::Commands, DEVICE);
        within(10, s.send_acked(commands, b"command-over-tcp")).await.unwrap();
        let out = output_when_done(observer).await;
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(printed.contains("command-over-tcp"), "libcoap printed {printed:?}");
    }
}
