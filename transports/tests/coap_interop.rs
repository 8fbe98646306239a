//! Our CoAP against libcoap, the reference implementation, both ways: our client against
//! `coap-server-notls` (methods, CON and NON, a 100 KB body up by Block1 and down by Block2,
//! observe with notifications and cancellation), and `coap-client-notls` against our server
//! transport (frames POSTed, a command route observed and a command notified, the error codes).

mod support;

use std::time::Duration;

use support::*;
use telemetra_core::transport::{Receiver as _, Sender as _};
use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind};
use telemetra_transports::coap::Code;
use telemetra_transports::coap::driver::transport::{CoapServer, ServerConfig};
use telemetra_transports::coap::driver::{ClientConfig, CoapClient, Request};

async fn client_of(server: &LibcoapServer) -> CoapClient {
    CoapClient::connect(&server.base(), ClientConfig::default()).await.unwrap()
}

#[tokio::test]
async fn our_client_runs_every_method_against_libcoap() {
    let server = LibcoapServer::start();
    let c = client_of(&server).await;
    let time = within(10, c.request(Request::get("time"))).await.unwrap();
    assert_eq!(time.code, Code::CONTENT);
    assert!(!time.payload.is_empty(), "libcoap's clock");
    let time = within(10, c.request(Request::get("time").non())).await.unwrap();
    assert_eq!(time.code, Code::CONTENT, "a NON request gets a NON response");
    // A resource made by PUT, read, replaced, deleted.
    let r = within(10, c.request(Request::put("t1", "hello").with_content_format(0))).await.unwrap();
    assert_eq!(r.code, Code::CREATED);
    let r = within(10, c.request(Request::get("t1"))).await.unwrap();
    assert_eq!((r.code, r.payload.as_slice()), (Code::CONTENT, &b"hello"[..]));
    let r = within(10, c.request(Request::put("t1", "again"))).await.unwrap();
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(within(10, c.request(Request::get("t1"))).await.unwrap().payload, b"again");
    assert_eq!(within(10, c.request(Request::delete("t1"))).await.unwrap().code, Code::DELETED);
    assert_eq!(within(10, c.request(Request::get("t1"))).await.unwrap().code, Code::NOT_FOUND);
    // An error code is a response like any other.
    assert_eq!(
        within(10, c.request(Request::post("time", "x"))).await.unwrap().code,
        Code::METHOD_NOT_ALLOWED
    );
    assert_eq!(c.stats().retransmissions, 0, "loopback loses nothing");
}

#[tokio::test]
async fn a_100_kb_body_goes_up_by_block1_and_comes_back_by_block2() {
    let server = LibcoapServer::start();
    let body: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    for block_size in [1024, 64] {
        let mut config = ClientConfig::default();
        config.block_size = block_size;
        let c = CoapClient::connect(&server.base(), config).await.unwrap();
        let path = format!("big{block_size}");
        let r = within(60, c.request(Request::put(&path, body.clone()))).await.unwrap();
        assert_eq!(r.code, Code::CREATED, "{block_size}-byte blocks up");
        let back = within(60, c.request(Request::get(&path))).await.unwrap();
        assert_eq!(back.code, Code::CONTENT);
        assert_eq!(back.payload.len(), body.len(), "{block_size}-byte blocks down");
        assert!(back.payload == body, "the body comes back intact");
        let messages = c.stats().requests;
        let blocks = 2 * body.len().div_ceil(block_size) as u64;
        assert!(messages >= blocks, "{messages} messages for {blocks} blocks");
    }
    // libcoap's own client reads what ours wrote: the body libcoap stored is the one we sent.
    let dir = TempDir::new("coap-big");
    let copy = dir.0.join("big.out");
    let out =
        libcoap_client(&["-m", "get", "-b", "256", "-o", copy.to_str().unwrap(), &server.url("big1024")]);
    assert!(out.status.success());
    let read = std::fs::read(&copy).unwrap();
    assert!(read == body, "libcoap's client reads back {} bytes", read.len());
}

#[tokio::test]
async fn our_client_observes_libcoap_and_cancels() {
    let server = LibcoapServer::start();
    let c = client_of(&server).await;
    let mut obs = within(10, c.observe(Request::get("time"))).await.unwrap();
    assert_eq!(obs.first.code, Code::CONTENT);
    let first = obs.first.observe.expect("libcoap takes the observation");
    // libcoap's /time notifies every second.
    let mut last = first;
    for _ in 0..2 {
        let n = within(5, obs.next()).await.expect("a notification");
        assert_eq!(n.code, Code::CONTENT);
        let seq = n.observe.expect("an Observe number");
        assert_ne!(seq, last, "a fresher one");
        last = seq;
    }
    obs.cancel();
    // After the GET with Observe 1, libcoap stops: nothing reaches the client any more, not
    // even a notification it would have to reject.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ignored = c.stats().ignored;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(c.stats().ignored, ignored, "no notification after the cancellation");
}

/// Our server transport on an ephemeral port, taking readings.
async fn our_server() -> (CoapServer, String) {
    let port = free_udp_port();
    let url = format!("coap://127.0.0.1:{port}");
    let mut s = CoapServer::bind(&url, ServerConfig::default()).await.unwrap();
    s.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    (s, url)
}

#[tokio::test]
async fn libcoap_posts_frames_to_our_server() {
    let (mut s, url) = our_server().await;
    let frame = b"\x01\x2a\x00frame bytes";
    let dir = TempDir::new("coap-post");
    let file = dir.file("frame.bin", frame);
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            libcoap_client(&["-m", "post", "-f", file.to_str().unwrap(), &format!("{url}/tm/v1/2a/readings")])
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut buf = [0u8; 64];
    let d = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!(d.route, Route::new(RouteKind::Readings, DeviceId(0x2a)));
    assert_eq!(&buf[..d.len], frame);
    // A route nobody subscribed to, a path outside the scheme, a method the scheme has no use for.
    for (method, path, code) in [
        ("post", "tm/v1/2a/alerts", "4.04"),
        ("post", "elsewhere", "4.04"),
        ("delete", "tm/v1/2a/readings", "4.05"),
    ] {
        let target = format!("{url}/{path}");
        let out = tokio::task::spawn_blocking(move || libcoap_client(&["-m", method, "-e", "x", &target]))
            .await
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(code), "{method} {path}: libcoap printed {said:?}");
    }
    assert!(s.try_receive(&mut buf).unwrap().is_none(), "nothing refused was delivered");
}

#[tokio::test]
async fn libcoap_observes_a_command_route_of_our_server() {
    let (mut s, url) = our_server().await;
    let route = Route::new(RouteKind::Commands, DeviceId(0x2a));
    // libcoap observes for 4 s and prints every notification.
    let observer = libcoap_client_spawn(&["-m", "get", "-s", "4", &format!("{url}/tm/v1/2a/commands")]);
    // Queued before the observation starts: delivered once it does.
    let sent = tokio::spawn(async move {
        s.send_acked(route, b"command-1").await.unwrap();
        s.send_acked(route, b"command-2").await.unwrap();
        s
    });
    // Each send_acked returns on libcoap's ACK of the confirmable notification.
    let _s = within(10, sent).await.unwrap();
    let out = output_when_done(observer).await;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("command-1") && printed.contains("command-2"), "libcoap printed {printed:?}");
    assert!(printed.find("command-1") < printed.find("command-2"), "in order");
}

#[tokio::test]
async fn libcoap_posts_a_frame_in_block1_blocks_and_an_oversized_one_is_refused() {
    let (mut s, url) = our_server().await;
    let dir = TempDir::new("coap-blocks");
    let frame: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let fits = dir.file("frame.bin", &frame);
    let target = format!("{url}/tm/v1/2a/readings");
    let out = {
        let (fits, target) = (fits.clone(), target.clone());
        tokio::task::spawn_blocking(move || {
            libcoap_client(&["-m", "post", "-b", "64", "-f", fits.to_str().unwrap(), &target])
        })
        .await
        .unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut buf = [0u8; 2048];
    let d = within(5, s.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..d.len], &frame[..], "gathered from 16 blocks");
    // Larger than any frame: 4.13 with Size1, nothing delivered.
    let too_big = dir.file("big.bin", vec![7u8; 4000]);
    let out = tokio::task::spawn_blocking(move || {
        libcoap_client(&["-m", "post", "-b", "64", "-f", too_big.to_str().unwrap(), &target])
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("4.13"), "libcoap printed {said:?}");
    assert!(s.try_receive(&mut buf).unwrap().is_none());
}
