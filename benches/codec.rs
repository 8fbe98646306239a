//! Codec benchmarks: bytes and time per reading for a single-reading frame and for a batch of
//! 1,000 readings of a periodic channel rounded to 0.1, against SenML JSON, SenML CBOR, plain
//! postcard of the same `(timestamp, f64)` pairs, and Gorilla (the `tsz` crate).
//!
//! `cargo bench -p telemetra-benches --bench codec`; the sizes are printed first, then criterion's
//! timings. The table in benches/README.md comes from one such run.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use telemetra::codec::senml;
use telemetra::codec::{Frame, Message, batch};
use telemetra::model::text::bounded;
use telemetra::model::{
    ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Quantity, Reading, Timestamp, Unit,
};
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

const N: usize = 1000;

/// A temperature sampled every 10 s: a slow daily swing plus sensor noise, rounded to 0.1 °C
/// as the sensor reports it.
fn series() -> Vec<(Timestamp, f64)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..N)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 1000) as f64 / 1000.0 - 0.5;
            let x = 21.0 + 4.0 * (i as f64 / 8640.0 * std::f64::consts::TAU).sin() + 0.3 * noise;
            (Timestamp(1_700_000_000_000 + i as u64 * 10_000), (x * 10.0).round() / 10.0)
        })
        .collect()
}

fn device() -> Device {
    Device {
        id: DeviceId(0x2a),
        model: bounded("model", "th-v2").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: telemetra::heapless::Vec::from_slice(&[ChannelSpec {
            id: ChannelId(1),
            name: bounded("name", "temperature").unwrap(),
            quantity: Quantity::Temperature,
            unit: Unit::Celsius,
            period_ms: 10_000,
        }])
        .unwrap(),
        tags: telemetra::heapless::Vec::new(),
    }
}

fn readings(points: &[(Timestamp, f64)]) -> Vec<Reading> {
    points.iter().map(|(t, v)| Reading::new(ChannelId(1), *t, *v)).collect()
}

fn pairs(points: &[(Timestamp, f64)]) -> Vec<(u64, f64)> {
    points.iter().map(|(t, v)| (t.0, *v)).collect()
}

fn gorilla_encode(points: &[(Timestamp, f64)]) -> Box<[u8]> {
    let mut e = StdEncoder::new(points[0].0.0, BufferedWriter::new());
    for (t, v) in points {
        e.encode(DataPoint::new(t.0, *v));
    }
    e.close()
}

fn gorilla_decode(bytes: &[u8]) -> Vec<(u64, f64)> {
    let mut d = StdDecoder::new(BufferedReader::new(bytes.into()));
    let mut out = Vec::with_capacity(N);
    while let Ok(dp) = d.next() {
        out.push((dp.get_time(), dp.get_value()));
    }
    out
}

fn single_frame(r: &Reading) -> Frame {
    let mut v = telemetra::heapless::Vec::new();
    v.push(r.clone()).unwrap();
    Frame::new(DeviceId(0x2a), 7, Message::Readings(v))
}

fn print_sizes(points: &[(Timestamp, f64)]) {
    let dev = device();
    let rs = readings(points);
    let one = single_frame(&rs[0]).to_vec().unwrap();
    let one_json = senml::to_json(&senml::from_readings(&dev, &rs[..1]));
    let one_cbor = senml::to_cbor(&senml::from_readings(&dev, &rs[..1]));
    let one_postcard = postcard::to_allocvec(&pairs(&points[..1])[0]).unwrap();
    println!(
        "single reading (bytes): telemetra frame {}, SenML JSON {}, SenML CBOR {}, postcard pair {}",
        one.len(),
        one_json.len(),
        one_cbor.len(),
        one_postcard.len()
    );
    println!("  SenML JSON: {one_json}");

    let ours = batch::encode_to_vec(points).unwrap();
    let pack = senml::from_readings(&dev, &rs);
    let json = senml::to_json(&pack);
    let cbor = senml::to_cbor(&pack);
    let plain = postcard::to_allocvec(&pairs(points)).unwrap();
    let gorilla = gorilla_encode(points);
    assert_eq!(batch::decode_to_vec(&ours).unwrap(), points);
    assert_eq!(gorilla_decode(&gorilla), pairs(points));
    println!("batch of {N} (bytes, bytes/reading):");
    for (name, len) in [
        ("telemetra batch", ours.len()),
        ("Gorilla (tsz)", gorilla.len()),
        ("postcard pairs", plain.len()),
        ("SenML CBOR", cbor.len()),
        ("SenML JSON", json.len()),
    ] {
        println!("  {name:<16} {len:>7} {:>7.3}", len as f64 / N as f64);
    }
}

fn bench_single(c: &mut Criterion, points: &[(Timestamp, f64)]) {
    let dev = device();
    let rs = readings(points);
    let frame = single_frame(&rs[0]);
    let bytes = frame.to_vec().unwrap();
    let pack = senml::from_readings(&dev, &rs[..1]);
    let json = senml::to_json(&pack);
    let cbor = senml::to_cbor(&pack);
    let mut g = c.benchmark_group("single_reading");
    g.throughput(Throughput::Elements(1));
    let mut buf = [0u8; 64];
    g.bench_function("telemetra/encode", |b| b.iter(|| black_box(&frame).encode(&mut buf).unwrap().len()));
    g.bench_function("telemetra/decode", |b| b.iter(|| Frame::decode(black_box(&bytes)).unwrap()));
    g.bench_function("senml_json/encode", |b| b.iter(|| senml::to_json(black_box(&pack))));
    g.bench_function("senml_json/decode", |b| {
        b.iter(|| senml::from_json(black_box(json.as_bytes())).unwrap())
    });
    g.bench_function("senml_cbor/encode", |b| b.iter(|| senml::to_cbor(black_box(&pack))));
    g.bench_function("senml_cbor/decode", |b| b.iter(|| senml::from_cbor(black_box(&cbor)).unwrap()));
    g.finish();
}

fn bench_batch(c: &mut Criterion, points: &[(Timestamp, f64)]) {
    let dev = device();
    let pack = senml::from_readings(&dev, &readings(points));
    let json = senml::to_json(&pack);
    let cbor = senml::to_cbor(&pack);
    let plain_pairs = pairs(points);
    let plain = postcard::to_allocvec(&plain_pairs).unwrap();
    let ours = batch::encode_to_vec(points).unwrap();
    let gorilla = gorilla_encode(points);

    let mut g = c.benchmark_group("batch_1000");
    g.throughput(Throughput::Elements(N as u64));
    let mut buf = vec![0u8; batch::max_encoded_len(N)];
    let mut plain_buf = vec![0u8; plain.len()];
    g.bench_function("telemetra/encode", |b| b.iter(|| batch::encode(black_box(points), &mut buf).unwrap()));
    g.bench_function("telemetra/decode", |b| b.iter(|| batch::decode_to_vec(black_box(&ours)).unwrap()));
    g.bench_function("postcard/encode", |b| {
        b.iter(|| postcard::to_slice(black_box(&plain_pairs), &mut plain_buf).unwrap().len())
    });
    g.bench_function("postcard/decode", |b| {
        b.iter(|| postcard::from_bytes::<Vec<(u64, f64)>>(black_box(&plain)).unwrap())
    });
    g.bench_function("gorilla/encode", |b| b.iter(|| gorilla_encode(black_box(points))));
    g.bench_function("gorilla/decode", |b| b.iter(|| gorilla_decode(black_box(&gorilla))));
    g.bench_function("senml_cbor/encode", |b| b.iter(|| senml::to_cbor(black_box(&pack))));
    g.bench_function("senml_cbor/decode", |b| b.iter(|| senml::from_cbor(black_box(&cbor)).unwrap()));
    g.bench_function("senml_json/encode", |b| b.iter(|| senml::to_json(black_box(&pack))));
    g.bench_function("senml_json/decode", |b| {
        b.iter(|| senml::from_json(black_box(json.as_bytes())).unwrap())
    });
    g.finish();
}

fn main() {
    let points = series();
    print_sizes(&points);
    let mut c = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench_single(&mut c, &points);
    bench_batch(&mut c, &points);
    c.final_summary();
}
