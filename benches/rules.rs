//! Rule engine benchmarks: readings per second through the engine with 1, 10, 100 and 1,000
//! rules for 1 and 10,000 devices, against the same conditions as plain Rust closures (the
//! floor), and as rhai and evalexpr expressions compiled once.
//!
//! `cargo bench -p telemetra-benches --bench rules`; the memory per (rule, device) is printed first.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use evalexpr::{ContextWithMutableVariables, HashMapContext, Node};
use telemetra::model::{DeviceId, Timestamp};
use telemetra::rules::{ChannelHandle, Engine, EngineConfig, Event, parse};

/// Readings per benchmark iteration.
const BATCH: usize = 10_000;

/// Rule `i`'s threshold: spread over the values the readings take, so that some fire.
fn threshold(i: usize) -> f64 {
    20.0 + (i % 20) as f64 * 0.5
}

fn threshold_rules(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "rule r{i}: when t > {} clear when t < {} then alert info \"r\"\n",
                threshold(i),
                threshold(i) - 1.0
            )
        })
        .collect()
}

fn window_rules(n: usize) -> String {
    (0..n)
        .map(|i| format!("rule w{i}: when avg(t, 10 samples) > {} then alert info \"w\"\n", threshold(i)))
        .collect()
}

/// Deterministic readings, devices in round robin, each a temperature as real sensors report
/// it: a random walk in steps of up to 0.3 between 15 and 35, so alarms change state now and
/// then rather than on every reading.
fn readings(devices: u64) -> Vec<(DeviceId, Timestamp, f64)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut walk = vec![25.0f64; devices as usize];
    (0..BATCH)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let d = i % devices as usize;
            walk[d] = (walk[d] + (state % 7) as f64 / 10.0 - 0.3).clamp(15.0, 35.0);
            (DeviceId(d as u64), Timestamp(1_000 * (i as u64 / devices + 1)), walk[d])
        })
        .collect()
}

fn engine(rules: &str, devices: u64) -> Engine {
    let mut e = Engine::new(EngineConfig { max_devices: devices as usize, memory_budget: 4 << 30 });
    e.load(parse(rules).unwrap()).unwrap();
    e
}

/// Feeds one batch, with timestamps moved past the previous batch's.
fn run_engine(
    e: &mut Engine,
    batch: &[(DeviceId, Timestamp, f64)],
    round: &mut u64,
    events: &mut Vec<Event>,
) {
    *round += 1;
    let offset = *round * 100_000_000;
    for &(d, t, v) in batch {
        e.ingest(d, "t", Timestamp(t.0 + offset), v, events);
    }
    events.clear();
}

/// Feeds one batch through handles resolved once per device (as the closures index their
/// state by the device number).
fn run_handles(
    e: &mut Engine,
    handles: &[ChannelHandle],
    batch: &[(DeviceId, Timestamp, f64)],
    round: &mut u64,
    events: &mut Vec<Event>,
) {
    *round += 1;
    let offset = *round * 100_000_000;
    for &(d, t, v) in batch {
        let _ = e.ingest_handle(handles[d.0 as usize], Timestamp(t.0 + offset), v, events);
    }
    events.clear();
}

/// A condition as a closure.
type Condition = Box<dyn Fn(f64) -> bool>;

/// The floor: the same threshold-with-hysteresis alarms as closures over a flat state array.
struct Closures {
    conditions: Vec<(Condition, Condition)>,
    active: Vec<bool>,
    rules: usize,
}

impl Closures {
    fn new(rules: usize, devices: usize) -> Self {
        let conditions = (0..rules)
            .map(|i| {
                let (on, off) = (threshold(i), threshold(i) - 1.0);
                let raise: Condition = Box::new(move |v| v > on);
                let clear: Condition = Box::new(move |v| v < off);
                (raise, clear)
            })
            .collect();
        Closures { conditions, active: vec![false; rules * devices], rules }
    }

    fn run(&mut self, batch: &[(DeviceId, Timestamp, f64)]) -> usize {
        let mut transitions = 0;
        for &(d, _, v) in batch {
            let base = d.0 as usize * self.rules;
            for (i, (raise, clear)) in self.conditions.iter().enumerate() {
                let a = &mut self.active[base + i];
                if (!*a && raise(v)) || (*a && clear(v)) {
                    *a = !*a;
                    transitions += 1;
                }
            }
        }
        transitions
    }
}

/// The floor for window rules: a ring of the last 10 samples per (rule, device), averaged on
/// every reading, as closures.
struct WindowClosures {
    conditions: Vec<Condition>,
    rings: Vec<([f64; 10], usize, usize)>,
    active: Vec<bool>,
    rules: usize,
}

impl WindowClosures {
    fn new(rules: usize, devices: usize) -> Self {
        let conditions = (0..rules)
            .map(|i| {
                let on = threshold(i);
                Box::new(move |avg: f64| avg > on) as Condition
            })
            .collect();
        WindowClosures {
            conditions,
            rings: vec![([0.0; 10], 0, 0); rules * devices],
            active: vec![false; rules * devices],
            rules,
        }
    }

    fn run(&mut self, batch: &[(DeviceId, Timestamp, f64)]) -> usize {
        let mut transitions = 0;
        for &(d, _, v) in batch {
            let base = d.0 as usize * self.rules;
            for (i, holds) in self.conditions.iter().enumerate() {
                let (ring, next, len) = &mut self.rings[base + i];
                ring[*next] = v;
                *next = (*next + 1) % 10;
                *len = (*len + 1).min(10);
                let avg = ring[..*len].iter().sum::<f64>() / *len as f64;
                let a = &mut self.active[base + i];
                if *a != holds(avg) {
                    *a = !*a;
                    transitions += 1;
                }
            }
        }
        transitions
    }
}

fn bench_engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(BATCH as u64));
    for devices in [1u64, 10_000] {
        let batch = readings(devices);
        for n in [1usize, 10, 100, 1000] {
            let id = format!("{n}_rules/{devices}_devices");
            // Setup happens inside each benchmark, so that a filtered run builds only its own.
            for (kind, rules) in
                [("threshold", threshold_rules as fn(usize) -> String), ("window", window_rules)]
            {
                g.bench_function(BenchmarkId::new(format!("engine_{kind}"), &id), |b| {
                    let mut e = engine(&rules(n), devices);
                    let (mut round, mut events) = (0u64, Vec::new());
                    run_engine(&mut e, &batch, &mut round, &mut events); // create the states
                    b.iter(|| run_engine(&mut e, black_box(&batch), &mut round, &mut events))
                });
                g.bench_function(BenchmarkId::new(format!("engine_handle_{kind}"), &id), |b| {
                    let mut e = engine(&rules(n), devices);
                    let handles: Vec<ChannelHandle> =
                        (0..devices).map(|d| e.handle(DeviceId(d), "t").unwrap()).collect();
                    let (mut round, mut events) = (0u64, Vec::new());
                    run_handles(&mut e, &handles, &batch, &mut round, &mut events);
                    b.iter(|| run_handles(&mut e, &handles, black_box(&batch), &mut round, &mut events))
                });
            }
            g.bench_function(BenchmarkId::new("closures_threshold", &id), |b| {
                let mut floor = Closures::new(n, devices as usize);
                b.iter(|| floor.run(black_box(&batch)))
            });
            g.bench_function(BenchmarkId::new("closures_window", &id), |b| {
                let mut floor = WindowClosures::new(n, devices as usize);
                b.iter(|| floor.run(black_box(&batch)))
            });
            if n <= 100 && devices == 1 {
                let rhai = rhai::Engine::new();
                let asts: Vec<rhai::AST> = (0..n)
                    .map(|i| rhai.compile_expression(format!("t > {:.1}", threshold(i))).unwrap())
                    .collect();
                g.bench_function(BenchmarkId::new("rhai_threshold", &id), |b| {
                    b.iter(|| {
                        let mut fired = 0;
                        let mut scope = rhai::Scope::new();
                        for &(_, _, v) in black_box(&batch) {
                            scope.set_or_push("t", v);
                            for ast in &asts {
                                fired +=
                                    usize::from(rhai.eval_ast_with_scope::<bool>(&mut scope, ast).unwrap());
                            }
                        }
                        fired
                    })
                });
                let trees: Vec<Node> = (0..n)
                    .map(|i| evalexpr::build_operator_tree(&format!("t > {:.1}", threshold(i))).unwrap())
                    .collect();
                g.bench_function(BenchmarkId::new("evalexpr_threshold", &id), |b| {
                    b.iter(|| {
                        let mut fired = 0;
                        let mut ctx = HashMapContext::new();
                        for &(_, _, v) in black_box(&batch) {
                            ctx.set_value("t".into(), evalexpr::Value::Float(v)).unwrap();
                            for tree in &trees {
                                fired += usize::from(tree.eval_boolean_with_context(&ctx).unwrap());
                            }
                        }
                        fired
                    })
                });
            }
        }
    }
    g.finish();
}

/// A fleet's rule set for the timer benchmark: 100 rules over 10 channels `c0`..`c9`, ten per
/// channel: four `for` durations, three time windows, two silences, one plain threshold.
fn timed_rules() -> String {
    let mut out = String::new();
    for c in 0..10 {
        for k in 0..4 {
            out += &format!("rule f{c}_{k}: when c{c} > {} for 30s then alert major \"held\"\n", 24 + 2 * k);
        }
        for k in 0..3 {
            out += &format!(
                "rule a{c}_{k}: when avg(c{c}, 5m max 8) > {} then alert minor \"avg\"\n",
                25 + 2 * k
            );
        }
        for k in 0..2 {
            out +=
                &format!("rule s{c}_{k}: when silent(c{c}, {}s) then alert info \"quiet\"\n", 150 + 60 * k);
        }
        out += &format!("rule t{c}: when c{c} > 31 clear when c{c} < 29 then alert info \"hot\"\n");
    }
    out
}

/// The engine of a 10,000-device fleet with `timed_rules`, its clock advanced with every
/// reading (as a server that advances to each reading's arrival): readings per second.
/// Devices report in round robin, one channel at a time, 1 ms apart (each channel of a device
/// every 100 s), a random walk per device; deadlines fall due between readings all along.
fn bench_timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("engine_advance_every_reading/100_rules/10000_devices", |b| {
        let names: Vec<String> = (0..10).map(|c| format!("c{c}")).collect();
        // Reading number t: device t mod 10,000, channel (t / 10,000) mod 10.
        fleet(b, |e, k, at, v, events| {
            let (device, channel) = (DeviceId(k % FLEET), &names[(k / FLEET % 10) as usize]);
            e.ingest(device, channel, at, v, events);
        });
    });
    // The same fleet and readings, each device's channels resolved once (`Engine::handle`), as a
    // server does when a device registers: no device or channel lookup per reading.
    g.bench_function("engine_advance_every_reading_by_handle/100_rules/10000_devices", |b| {
        let mut handles = Vec::new();
        fleet(b, |e, k, at, v, events| {
            if handles.is_empty() {
                handles = (0..FLEET * 10)
                    .map(|k| e.handle(DeviceId(k % FLEET), &format!("c{}", k / FLEET)).unwrap())
                    .collect();
            }
            e.ingest_handle(handles[(k % (FLEET * 10)) as usize], at, v, events).unwrap();
        });
    });
    g.finish();
}

/// The devices of the timer benchmark.
const FLEET: u64 = 10_000;

/// The engine of a `FLEET` with `timed_rules`, fed reading number `k` (stamped `k + 1` ms) by
/// `ingest` and advanced to its stamp after each.
fn fleet(
    b: &mut criterion::Bencher<'_>,
    mut ingest: impl FnMut(&mut Engine, u64, Timestamp, f64, &mut Vec<Event>),
) {
    let mut e = Engine::new(EngineConfig { max_devices: FLEET as usize, memory_budget: 4 << 30 });
    e.load(parse(&timed_rules()).unwrap()).unwrap();
    let batch = readings(1_000);
    let (mut t, mut events, mut fired) = (0u64, Vec::new(), 0usize);
    let mut run = |e: &mut Engine| {
        for &(_, _, v) in &batch {
            ingest(e, t, Timestamp(t + 1), v, &mut events);
            t += 1;
            e.advance(Timestamp(t), &mut events);
        }
        fired += events.len();
        events.clear();
    };
    // The fleet first: every device's every channel read once (states made, deadlines pending).
    for _ in 0..10 {
        run(&mut e);
    }
    b.iter(|| run(black_box(&mut e)));
    black_box(fired);
}

fn print_memory() {
    let wide = "rule wide: when avg(t, 1h max 360) > 1 then alert info \"x\"\n";
    let mut e = engine(&format!("{}{}{wide}", threshold_rules(1), window_rules(1)), 1);
    let mut events = Vec::new();
    e.ingest(DeviceId(0), "t", Timestamp(1), 1.0, &mut events);
    println!("memory per (rule, device):");
    for (rule, bytes, _) in e.memory() {
        println!("  {rule:<6} {bytes} bytes");
    }
}

fn main() {
    print_memory();
    let mut c = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(10)
        .configure_from_args();
    bench_engine(&mut c);
    bench_timers(&mut c);
    c.final_summary();
}
