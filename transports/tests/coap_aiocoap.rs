//! Our CoAP against aiocoap (Python), a second complete implementation, both ways: our client
//! against aiocoap's server (POST, a 100 KB body up by Block1 and down by Block2, observe), and
//! `aiocoap-client` against our server transport (frames, frames in Block1 blocks), and
//! aiocoap's client library observing a command route of our server.

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
    let mut observer = Command::new("python3")
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
    let out = tokio::task::spawn_blocking(move || {
        let _ = observer.wait();
        observer.wait_with_output().unwrap()
    });
    let out = within(10, out).await.unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("note command-1\nnote command-2"), "aiocoap printed {printed:?}");
}
