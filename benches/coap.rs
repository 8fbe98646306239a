//! CoAP on loopback against libcoap's `coap-server-notls` (the reference implementation, a
//! neutral peer): telemetra's `CoapClient` beside coap-rs (the `coap` crate, 0.29) in the same
//! run, and libcoap's own `coap-client-notls` for scale.
//!
//! ```text
//! cargo bench -p telemetra-benches --bench coap
//! cargo bench -p telemetra-benches --bench coap -- --table    # the table only
//! ```
//!
//! 1. criterion: one confirmable GET and its piggy-backed response, client to server and back;
//! 2. then each Rust client for 2,000 requests in a row: requests per second, round trip p50 and
//!    p99, and the heap it allocated at its peak (a counting allocator);
//! 3. libcoap's client is a program, not a library: 200 runs, each a process sending one
//!    request (the figure includes starting the process; it says what a shell script gets).
//!
//! libcoap must be installed (`apt-get install libcoap3-bin`); the bench starts its server.

use std::hint::black_box;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coap::UdpCoAPClient;
use coap::request::{Method, RequestBuilder};
use criterion::{Criterion, Throughput};
use telemetra::transports::coap::driver::{ClientConfig, CoapClient, Request};
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOCATOR: telemetra_benches::Counting = telemetra_benches::Counting;

const SAMPLES: usize = 2000;
const PROCESS_SAMPLES: usize = 200;

struct Libcoap {
    port: u16,
    child: Child,
}

impl Libcoap {
    fn start() -> Libcoap {
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("/usr/bin/coap-server-notls")
            .args(["-A", "127.0.0.1", "-p", &port.to_string(), "-d", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("libcoap is not installed: apt-get install libcoap3-bin");
        // Killed on drop, whatever happens next.
        let server = Libcoap { port, child };
        let url = format!("coap://127.0.0.1:{port}/bench");
        for _ in 0..100 {
            let put =
                Command::new("/usr/bin/coap-client-notls").args(["-m", "put", "-e", "21.5", &url]).output();
            if put.is_ok_and(|o| o.status.success()) && client_get(port).is_some() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("coap-server-notls did not start");
    }
}

impl Drop for Libcoap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET by libcoap's client: its output, if it got the resource.
fn client_get(port: u16) -> Option<Vec<u8>> {
    let url = format!("coap://127.0.0.1:{port}/bench");
    let out = Command::new("/usr/bin/coap-client-notls").args(["-m", "get", &url]).output().ok()?;
    (out.status.success() && out.stdout.starts_with(b"21.5")).then_some(out.stdout)
}

async fn ours(c: &CoapClient) {
    let r = c.request(Request::get("bench")).await.unwrap();
    assert_eq!(r.payload, b"21.5");
}

async fn theirs(c: &UdpCoAPClient) {
    let r = c.send(RequestBuilder::new("/bench", Method::Get).build()).await.unwrap();
    assert_eq!(r.message.payload, b"21.5");
}

fn criterion_part(rt: &Runtime, a: &CoapClient, b: &UdpCoAPClient) {
    let mut c =
        Criterion::default().configure_from_args().sample_size(30).measurement_time(Duration::from_secs(5));
    let mut g = c.benchmark_group("coap_con_get_loopback_libcoap_server");
    g.throughput(Throughput::Elements(1));
    g.bench_function("telemetra", |bench| bench.iter(|| rt.block_on(ours(black_box(a)))));
    g.bench_function("coap-rs", |bench| bench.iter(|| rt.block_on(theirs(black_box(b)))));
    g.finish();
    c.final_summary();
}

/// Requests per second, p50 and p99 in µs, peak heap in KiB over `SAMPLES` requests.
fn measure<F: std::future::Future<Output = ()>>(
    rt: &Runtime,
    mut one: impl FnMut() -> F,
) -> (f64, u128, u128, u64) {
    let base = telemetra_benches::heap_mark();
    let mut times = Vec::with_capacity(SAMPLES);
    let start = Instant::now();
    for _ in 0..SAMPLES {
        let t = Instant::now();
        rt.block_on(one());
        times.push(t.elapsed().as_micros());
    }
    let rate = SAMPLES as f64 / start.elapsed().as_secs_f64();
    times.sort_unstable();
    let heap = telemetra_benches::heap_peak_since(base) / 1024;
    (rate, times[SAMPLES / 2], times[SAMPLES * 99 / 100], heap)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let server = Libcoap::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("coap://127.0.0.1:{}", server.port);
    let a = rt.block_on(CoapClient::connect(&url, ClientConfig::default())).unwrap();
    let b = rt.block_on(UdpCoAPClient::new(("127.0.0.1", server.port))).unwrap();
    if !args.iter().any(|a| a == "--table") {
        criterion_part(&rt, &a, &b);
    }
    println!("\nconfirmable GET, piggy-backed response, libcoap's coap-server-notls on loopback:\n");
    println!("| client | requests/s | round trip p50 | round trip p99 | heap allocated at peak |");
    println!("|---|---:|---:|---:|---:|");
    let (rate, p50, p99, heap) = measure(&rt, || ours(&a));
    println!("| telemetra `CoapClient` | {rate:.0} | {p50} µs | {p99} µs | {heap} KiB |");
    let (rate, p50, p99, heap) = measure(&rt, || theirs(&b));
    println!("| coap-rs 0.29 `UdpCoAPClient` | {rate:.0} | {p50} µs | {p99} µs | {heap} KiB |");
    let mut times: Vec<u128> = (0..PROCESS_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            client_get(server.port).expect("libcoap's client got the resource");
            t.elapsed().as_micros()
        })
        .collect();
    times.sort_unstable();
    let rate = 1e6 * PROCESS_SAMPLES as f64 / times.iter().sum::<u128>() as f64;
    let (p50, p99) = (times[PROCESS_SAMPLES / 2], times[PROCESS_SAMPLES * 99 / 100]);
    println!(
        "| libcoap 4.3.1 `coap-client-notls` (a process per request) | {rate:.0} | {p50} µs | {p99} µs | — |"
    );
}
