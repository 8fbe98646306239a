//! Our CoAP against aiocoap (Python), a second complete implementation, both ways: our client
//! against aiocoap's server (POST, a 100 KB body up by Block1 and down by Block2, observe), and
//! `aiocoap-client` against our server transport (frames, frames in Block1 blocks), aiocoap's
//! client library observing a command route of our server, and OSCORE (RFC 8613) both ways
//! with aiocoap's implementation on a shared context, a replayed request refused.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;
use telemetra_core::transport::{Receiver as _, Sender as _};
use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind};
use telemetra_transports::coap::Code;
use telemetra_transports::coap::driver::transport::{CoapServer, ServerConfig};
use telemetra_transports::coap::driver::{ClientConfig, CoapClient, Request};

#[tokio::test]
async fn our_client_against_aiocoap() {
    let server = AiocoapServer::start();
    let c = CoapClient::connect(&server.base(), ClientConfig::default()).await.unwrap();
    let r = within(10, c.request(Request::post("echo", "ping"))).await.unwrap();
    assert_eq!((r.code, r.payload.as_slice()), (Code::CHANGED, &b"ping"[..]));
    assert_eq!(within(10, c.request(Request::get("nowhere"))).await.unwrap().code, Code::NOT_FOUND);
    let body: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(40_503) >> 8) as u8).collect();
    let r = within(60, c.request(Request::put("store", body.clone()))).await.unwrap();
    assert_eq!(r.code, Code::CREATED, "100 KB up by Block1");
    let back = within(60, c.request(Request::get("store"))).await.unwrap();
    assert_eq!(back.payload.len(), body.len(), "100 KB down by Block2");
    assert!(back.payload == body);
    // Observe: notifications every 200 ms, each fresher.
    let mut obs = within(10, c.observe(Request::get("clock"))).await.unwrap();
    let mut last: u64 = String::from_utf8_lossy(&obs.first.payload).parse().unwrap();
    for _ in 0..3 {
        let n = within(5, obs.next()).await.expect("a notification");
        let count: u64 = String::from_utf8_lossy(&n.payload).parse().unwrap();
        assert!(count > last, "{count} after {last}");
        last = count;
    }
    obs.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ignored = c.stats().ignored;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(c.stats().ignored, ignored, "aiocoap stopped notifying after the cancellation");
}

async fn our_server() -> (CoapServer, String) {
    let url = format!("coap://127.0.0.1:{}", free_udp_port());
    let mut s = CoapServer::bind(&url, ServerConfig::default()).await.unwrap();
    s.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    (s, url)
}

#[tokio::test]
async fn aiocoap_client_posts_frames_whole_and_in_blocks() {
    let (mut s, url) = our_server().await;
    let target = format!("{url}/tm/v1/2a/readings");
    let big = "x".repeat(700);
    for (payload, szx) in [("small frame", "6"), (big.as_str(), "2")] {
        let (target, payload) = (target.clone(), payload.to_string());
        let out = tokio::task::spawn_blocking(move || {
            aiocoap_client(&["-m", "POST", "--payload", &payload, "--payload-initial-szx", szx, &target])
        })
        .await
        .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut buf = [0u8; 2048];
    let d = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..d.len], b"small frame");
    let d = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!((d.route, &buf[..d.len]), (Route::new(RouteKind::Readings, DeviceId(0x2a)), big.as_bytes()));
}

#[tokio::test]
async fn aiocoap_client_observes_a_command_route() {
    let (mut s, url) = our_server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/aiocoap_peer.py");
    let observer = Command::new("python3")
        .args([script, "observe", &format!("{url}/tm/v1/2a/commands"), "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(AIOCOAP_INSTALL);
    let route = Route::new(RouteKind::Commands, DeviceId(0x2a));
    // Queued until aiocoap registers; each returns on aiocoap's ACK of the notification.
    for c in ["command-1", "command-2"] {
        within(20, s.send_acked(route, c.as_bytes())).await.unwrap();
    }
    let out = within(10, output_when_done(observer)).await;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("note command-1\nnote command-2"), "aiocoap printed {printed:?}");
}

/// OSCORE both ways with aiocoap's implementation (RFC 8613), on one shared context: the
/// client's Sender ID is empty, the server's is 0x01.
mod oscore {
    use super::*;
    use telemetra_transports::coap::oscore::{self, SecurityContext};
    use telemetra_transports::coap::{Builder, Message, OptionNumber, Type};
    use tokio::net::UdpSocket;

    const SECRET: [u8; 16] = *b"telemetra-shared";
    const SALT: [u8; 4] = *b"salt";

    async fn exchange(sock: &UdpSocket, bytes: &[u8]) -> Vec<u8> {
        sock.send(bytes).await.unwrap();
        let mut buf = [0u8; 2048];
        let n = within(10, sock.recv(&mut buf)).await.unwrap();
        buf[..n].to_vec()
    }

    #[tokio::test]
    async fn our_protected_requests_to_aiocoap_and_a_replay_refused() {
        let dir = TempDir::new("oscore-aiocoap-server");
        let ctx_dir = oscore_dir(&dir, "server", &SECRET, &SALT, b"\x01", b"");
        let server = AiocoapServer::start_oscore(&ctx_dir);
        let mut ctx = SecurityContext::derive(&SECRET, &SALT, b"", b"\x01", None).unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.connect(("127.0.0.1", server.port)).await.unwrap();
        let mut plain = [0u8; 64];
        let mut b = Builder::new(&mut plain, Type::Con, Code::POST, 0x100, &[1, 2]).unwrap();
        b.option(OptionNumber::URI_PATH, b"echo").unwrap();
        let plain = Message::parse(b.payload(b"ping").unwrap()).unwrap();
        let mut wire = [0u8; 512];
        let (protected, binding) = oscore::protect_request(&mut ctx, &plain, &mut wire).unwrap();
        let protected = protected.to_vec();
        let answer = exchange(&sock, &protected).await;
        let outer = Message::parse(&answer).unwrap();
        assert_eq!(outer.code, Code::CHANGED, "the outer code of a protected response");
        let mut buf = [0u8; 512];
        let inner = oscore::unprotect_response(&mut ctx, &binding, &outer, &mut buf).unwrap();
        let inner = Message::parse(inner).unwrap();
        assert_eq!((inner.code, inner.payload), (Code::CHANGED, &b"ping"[..]), "aiocoap's /echo, decrypted");
        // The captured request again, as a new message (the Message ID is not protected):
        // aiocoap's replay window refuses it, unprotected 4.01.
        let mut replay = protected.clone();
        replay[2..4].copy_from_slice(&0x101u16.to_be_bytes());
        let answer = exchange(&sock, &replay).await;
        let refused = Message::parse(&answer).unwrap();
        assert_eq!(
            refused.code,
            Code::UNAUTHORIZED,
            "a replayed request: {:?}",
            String::from_utf8_lossy(refused.payload)
        );
        assert_eq!(refused.option(OptionNumber::OSCORE), None);
    }

    #[tokio::test]
    async fn aiocoap_protected_requests_to_us_and_their_replay_refused() {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = sock.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let mut ctx = SecurityContext::derive(&SECRET, &SALT, b"\x01", b"", None).unwrap();
            let mut buf = [0u8; 2048];
            let (n, peer) = sock.recv_from(&mut buf).await.unwrap();
            let outer = Message::parse(&buf[..n]).unwrap();
            let mut plain_buf = [0u8; 2048];
            let (plain, binding) = oscore::unprotect_request(&mut ctx, &outer, &mut plain_buf).unwrap();
            let request = Message::parse(plain).unwrap();
            assert_eq!(
                (request.code, request.option(OptionNumber::URI_PATH)),
                (Code::POST, Some(&b"echo"[..]))
            );
            let reversed: Vec<u8> = request.payload.iter().rev().copied().collect();
            // aiocoap's request, captured and played again: refused by our replay window.
            let mut again = [0u8; 2048];
            let replayed = oscore::unprotect_request(&mut ctx, &outer, &mut again);
            assert_eq!(replayed.unwrap_err(), oscore::OscoreError::Replay);
            let mut resp = [0u8; 256];
            let response = Builder::new(&mut resp, Type::Ack, Code::CHANGED, outer.message_id, outer.token)
                .unwrap()
                .payload(&reversed)
                .unwrap();
            let response = Message::parse(response).unwrap();
            let mut wire = [0u8; 1024];
            let protected = oscore::protect_response(&mut ctx, &binding, &response, &mut wire).unwrap();
            sock.send_to(protected, peer).await.unwrap();
        });
        let dir = TempDir::new("oscore-aiocoap-client");
        let ctx_dir = oscore_dir(&dir, "client", &SECRET, &SALT, b"", b"\x01");
        let url = format!("coap://127.0.0.1:{port}/echo");
        let out =
            tokio::task::spawn_blocking(move || aiocoap_oscore_post(&url, &ctx_dir, "hello")).await.unwrap();
        within(10, served).await.unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains("2.04") && printed.contains("olleh"),
            "aiocoap printed {printed:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// aiocoap killed and started again loses its replay window and recovers it by Echo
    /// (RFC 8613 Appendix B.1.2): its first answer is a protected 4.01 with an Echo value, which
    /// our client answers by itself (the request again, with the value, as a new message).
    #[tokio::test]
    async fn our_client_answers_a_restarted_aiocoap_servers_echo_challenge() {
        use telemetra_transports::coap::driver::SequenceFile;
        let dir = TempDir::new("oscore-aiocoap-restart");
        let ctx_dir = oscore_dir(&dir, "server", &SECRET, &SALT, b"\x01", b"");
        let sequence = SequenceFile::new(dir.0.join("client-sequence"));
        let client = |base: String| {
            let sequence = sequence.clone();
            async move {
                let mut config = ClientConfig::default();
                config.oscore = Some(SecurityContext::derive(&SECRET, &SALT, b"", b"\x01", None).unwrap());
                config.oscore_sequence = Some(sequence);
                CoapClient::connect(&base, config).await.unwrap()
            }
        };
        let server = AiocoapServer::start_oscore(&ctx_dir);
        let c = client(server.base()).await;
        let r = within(10, c.request(Request::post("echo", "before"))).await.unwrap();
        assert_eq!((r.code, r.payload.as_slice()), (Code::CHANGED, &b"before"[..]));
        drop(server);
        let restarted = AiocoapServer::start_oscore(&ctx_dir);
        let c = client(restarted.base()).await;
        let r = within(10, c.request(Request::post("echo", "after"))).await.unwrap();
        assert_eq!((r.code, r.payload.as_slice()), (Code::CHANGED, &b"after"[..]));
        assert_eq!(c.stats().requests, 2, "the request, challenged, then again with the Echo value");
    }

    /// The same through `CoapClient` configured with the context: every request protected,
    /// every response and notification verified, block-wise inside the protection.
    #[tokio::test]
    async fn our_client_with_oscore_against_aiocoap() {
        let dir = TempDir::new("oscore-aiocoap-driver");
        let ctx_dir = oscore_dir(&dir, "server", &SECRET, &SALT, b"\x01", b"");
        let server = AiocoapServer::start_oscore(&ctx_dir);
        let mut config = ClientConfig::default();
        config.oscore = Some(SecurityContext::derive(&SECRET, &SALT, b"", b"\x01", None).unwrap());
        let c = CoapClient::connect(&server.base(), config).await.unwrap();
        let r = within(10, c.request(Request::post("echo", "ping"))).await.unwrap();
        assert_eq!((r.code, r.payload.as_slice()), (Code::CHANGED, &b"ping"[..]));
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        let r = within(20, c.request(Request::put("store", body.clone()))).await.unwrap();
        assert_eq!(r.code, Code::CREATED, "a body in Block1 blocks, each block protected");
        let back = within(20, c.request(Request::get("store"))).await.unwrap();
        assert!(
            back.payload == body,
            "{} bytes back through Block2, each block protected",
            back.payload.len()
        );
        let mut obs = within(10, c.observe(Request::get("clock"))).await.unwrap();
        assert!(obs.first.observe.is_some(), "observed through OSCORE");
        let n = within(5, obs.next()).await.expect("a protected notification");
        assert_eq!(n.code, Code::CONTENT);
        // With another master secret, aiocoap cannot open the request: an unprotected error.
        let mut config = ClientConfig::default();
        config.oscore =
            Some(SecurityContext::derive(b"another secret!!", &SALT, b"", b"\x01", None).unwrap());
        let stranger = CoapClient::connect(&server.base(), config).await.unwrap();
        let r = within(10, stranger.request(Request::post("echo", "x"))).await.unwrap();
        assert_eq!(r.code.class(), 4, "refused: {}", r.code.name());
    }
}
