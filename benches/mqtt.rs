//! MQTT through a real mosquitto on loopback: telemetra's client beside rumqttc, in the same run,
//! on the same broker, both speaking MQTT 3.1.1 with 100 messages in flight at most.
//!
//! ```text
//! cargo bench -p telemetra-benches --bench mqtt
//! ```
//!
//! 1. criterion: publishing 1,000 messages of 100 bytes at QoS 0 (until written to the socket)
//!    and at QoS 1 (until every PUBACK is back);
//! 2. then each client alone in a child process (so the memory figures are its own): the same
//!    throughput, the round-trip latency of 2,000 QoS 0 messages (publish, broker, back to a
//!    subscription of the same client; p50 and p99) and the peak resident memory.
//!
//! Both clients hold at most 100 messages waiting (our offline queue, rumqttc's request
//! channel) and 100 in flight.
//!
//! mosquitto must be installed (`apt-get install mosquitto`); the bench starts its own.

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use telemetra::mqtt::{Config, MqttClient};
use telemetra::mqtt::{Message, Options, QoS, Version};
use tokio::runtime::Runtime;
use tokio::sync::{Notify, mpsc};

#[global_allocator]
static ALLOCATOR: telemetra_benches::Counting = telemetra_benches::Counting;

const PAYLOAD: [u8; 100] = [0x5a; 100];
const BATCH: u64 = 1000;
const LATENCY_SAMPLES: usize = 2000;
const IN_FLIGHT: u16 = 100;

struct Broker {
    port: u16,
    child: Child,
    dir: std::path::PathBuf,
}

impl Broker {
    fn start() -> Broker {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("telemetra-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\n")).unwrap();
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("mosquitto is not installed: apt-get install mosquitto");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { port, child, dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One client of either library, able to publish a batch and to measure a round trip.
enum Bench {
    Ours(MqttClient),
    Rumqttc {
        client: rumqttc::AsyncClient,
        /// PUBLISH packets written, PUBACKs received.
        written: Arc<AtomicU64>,
        acked: Arc<AtomicU64>,
        progress: Arc<Notify>,
        incoming: mpsc::UnboundedReceiver<Vec<u8>>,
    },
}

impl Bench {
    async fn ours(port: u16, id: &str) -> Bench {
        let mut o = Options::new(id);
        o.version = Version::V3_1_1;
        o.session_expiry = 0;
        o.max_in_flight = IN_FLIGHT;
        // As many as rumqttc's request channel holds (`AsyncClient::new(_, 100)`).
        o.queue.capacity = 100;
        let c = MqttClient::start(Config::new(&format!("mqtt://127.0.0.1:{port}"), o).unwrap()).unwrap();
        c.connected().await.unwrap();
        c.subscribe(&format!("bench/lat/{id}"), QoS::AtMostOnce).await.unwrap();
        Bench::Ours(c)
    }

    async fn rumqttc(port: u16, id: &str) -> Bench {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_inflight(IN_FLIGHT);
        o.set_clean_session(true);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 100);
        let (written, acked, progress) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(Notify::new()));
        let (tx, incoming) = mpsc::unbounded_channel();
        let (w, a, p) = (written.clone(), acked.clone(), progress.clone());
        tokio::spawn(async move {
            use rumqttc::{Event, Incoming, Outgoing};
            while let Ok(event) = eventloop.poll().await {
                match event {
                    Event::Outgoing(Outgoing::Publish(_)) => {
                        w.fetch_add(1, Ordering::Relaxed);
                        p.notify_one();
                    }
                    Event::Incoming(Incoming::PubAck(_)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        p.notify_one();
                    }
                    Event::Incoming(Incoming::Publish(m)) => {
                        let _ = tx.send(m.payload.to_vec());
                    }
                    Event::Incoming(Incoming::SubAck(_)) => p.notify_one(),
                    _ => {}
                }
            }
        });
        client.subscribe(format!("bench/lat/{id}"), rumqttc::QoS::AtMostOnce).await.unwrap();
        // Wait for the SUBACK so the latency runs start subscribed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Bench::Rumqttc { client, written, acked, progress, incoming }
    }

    /// Publishes `n` messages and waits until they are written (QoS 0) or acknowledged (QoS 1).
    async fn batch(&mut self, qos: QoS, n: u64) {
        match self {
            Bench::Ours(c) => {
                for _ in 0..n {
                    c.publish(Message::new("bench/tput", PAYLOAD).with_qos(qos)).await.unwrap();
                }
                c.flush().await;
            }
            Bench::Rumqttc { client, written, acked, progress, .. } => {
                let counter = if qos == QoS::AtMostOnce { written.clone() } else { acked.clone() };
                let target = counter.load(Ordering::Relaxed) + n;
                let q =
                    if qos == QoS::AtMostOnce { rumqttc::QoS::AtMostOnce } else { rumqttc::QoS::AtLeastOnce };
                for _ in 0..n {
                    client.publish("bench/tput", q, false, PAYLOAD.to_vec()).await.unwrap();
                }
                while counter.load(Ordering::Relaxed) < target {
                    progress.notified().await;
                }
            }
        }
    }

    /// One QoS 0 message to our own subscription and back.
    async fn round_trip(&mut self, id: &str) -> Duration {
        let topic = format!("bench/lat/{id}");
        let t = Instant::now();
        match self {
            Bench::Ours(c) => {
                c.publish(Message::new(topic, PAYLOAD)).await.unwrap();
                black_box(c.recv().await.unwrap());
            }
            Bench::Rumqttc { client, incoming, .. } => {
                client.publish(topic, rumqttc::QoS::AtMostOnce, false, PAYLOAD.to_vec()).await.unwrap();
                black_box(incoming.recv().await.unwrap());
            }
        }
        t.elapsed()
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn criterion_part(port: u16) {
    let rt = runtime();
    let mut c =
        Criterion::default().configure_from_args().sample_size(20).measurement_time(Duration::from_secs(5));
    let mut ours = rt.block_on(Bench::ours(port, "crit-ours"));
    let mut theirs = rt.block_on(Bench::rumqttc(port, "crit-rumqttc"));
    for (qos, name) in [(QoS::AtMostOnce, "qos0"), (QoS::AtLeastOnce, "qos1")] {
        let mut g = c.benchmark_group(format!("mqtt_publish_1000x100B_{name}"));
        g.throughput(Throughput::Elements(BATCH));
        for (lib, client) in [("telemetra", &mut ours), ("rumqttc", &mut theirs)] {
            g.bench_function(lib, |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let t = Instant::now();
                        for _ in 0..iters {
                            client.batch(qos, BATCH).await;
                        }
                        t.elapsed()
                    })
                })
            });
        }
        g.finish();
    }
    c.final_summary();
}

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: one library alone, its figures on one line.
fn child(lib: &str, port: u16) {
    let base = kib("VmRSS:");
    let rt = runtime();
    // The heap the client adds: its peak above what the runtime and the bench hold.
    let heap_before = telemetra_benches::heap_mark();
    let line = rt.block_on(async {
        let id = format!("child-{lib}");
        let mut b =
            if lib == "telemetra" { Bench::ours(port, &id).await } else { Bench::rumqttc(port, &id).await };
        let mut rates = Vec::new();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            b.batch(qos, BATCH).await; // warm up
            let t = Instant::now();
            for _ in 0..20 {
                b.batch(qos, BATCH).await;
            }
            rates.push(20.0 * BATCH as f64 / t.elapsed().as_secs_f64());
        }
        for _ in 0..100 {
            b.round_trip(&id).await;
        }
        let mut rtt: Vec<Duration> = Vec::with_capacity(LATENCY_SAMPLES);
        let rtt_bytes = (LATENCY_SAMPLES * std::mem::size_of::<Duration>()) as u64;
        for _ in 0..LATENCY_SAMPLES {
            rtt.push(b.round_trip(&id).await);
        }
        rtt.sort();
        let pct = |p: usize| rtt[(rtt.len() * p / 100).min(rtt.len() - 1)].as_secs_f64() * 1e6;
        let heap = telemetra_benches::heap_peak_since(heap_before).saturating_sub(rtt_bytes) / 1024;
        format!("RESULT {lib} {:.0} {:.0} {:.1} {:.1} {heap}", rates[0], rates[1], pct(50), pct(99))
    });
    println!("{line} {} {} {base}", kib("RssAnon:"), kib("VmHWM:"));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], args[i + 2].parse().unwrap());
        return;
    }
    let broker = Broker::start();
    // `cargo bench -p telemetra-benches --bench mqtt -- --table` skips criterion and prints only the table.
    if !args.iter().any(|a| a == "--table") {
        criterion_part(broker.port);
    }

    println!("\neach client alone in its own process (MQTT 3.1.1, 100-byte payloads, loopback mosquitto):\n");
    println!(
        "| client | QoS 0 msgs/s | QoS 1 msgs/s | round trip p50 | round trip p99 | client heap, peak | anonymous RSS | peak RSS (with code pages) | RSS before the client |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().unwrap();
    for lib in ["telemetra", "rumqttc"] {
        let out = Command::new(&exe).args(["--child", lib, &broker.port.to_string()]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("RESULT")) else {
            panic!("{lib} child failed: {}", String::from_utf8_lossy(&out.stderr));
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        println!(
            "| {} | {} | {} | {} µs | {} µs | {} KiB | {} KiB | {} KiB | {} KiB |",
            f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]
        );
    }
}
