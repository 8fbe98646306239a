//! Runs a rule set over recorded readings and prints each alert transition as one JSON line:
//! how to try rules on real data before deploying them.
//!
//! ```text
//! cargo run --example replay -- --rules examples/data/greenhouse.rules --csv examples/data/greenhouse.csv
//! cargo run --example replay -- --rules FILE --senml FILE.json [--until 2026-11-26T12:00:00Z] [--all]
//! cargo run --example replay -- --help
//! ```
//!
//! CSV: a header naming `timestamp`, `device`, `channel` and `value` (any order, quoted fields
//! allowed), then one reading per row in time order, as recorders write them; timestamps in
//! RFC 3339 (`2026-11-26T08:00:00Z`, `2026-11-26T09:00:00.250+01:00`) or unix seconds. Devices
//! are named freely (`greenhouse-a`, shown by that name) or by their hexadecimal id. The file is
//! streamed, never held whole. A row that does not read (no value, a bad timestamp) is skipped,
//! counted and named on stderr with its line number (`--strict` stops there instead). The clock
//! moves to each row, so an absence is reported at its deadline, not at the next row. SenML
//! JSON (RFC 8428) packs are read with their base names and times resolved; the device is the
//! name up to its last `:` or `/`, the channel what follows. `--all` also prints commands and
//! derived readings.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::json;
use telemetra::codec::senml;
use telemetra::model::rule::Window;
use telemetra::model::{AlertState, DeviceId, Timestamp};
#[cfg(test)]
use telemetra::rules::parse;
use telemetra::rules::{Engine, EngineConfig, Event, parse_with_warnings};

struct Row {
    at: Timestamp,
    device: String,
    channel: String,
    value: f64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn rfc3339(t: Timestamp) -> String {
    let ms = t.0 as i64;
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, frac) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{frac:03}Z")
    }
}

/// RFC 3339 or unix seconds (with an optional fraction).
fn parse_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is neither RFC 3339 (2026-11-26T08:00:00Z) nor unix seconds");
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let secs: f64 = text.parse().map_err(|_| bad())?;
        return Ok(Timestamp((secs * 1000.0).round() as u64));
    }
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        text.get(r).and_then(|s| s.parse().ok()).ok_or_else(bad)
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d, h, mi, s) =
        (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &text[start..i];
        ms = format!("{:0<3}", &digits[..digits.len().min(3)]).parse::<i64>().map_err(|_| bad())?;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' { v } else { -v }
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60;
    u64::try_from(secs * 1000 + ms).map(Timestamp).map_err(|_| format!("`{text}` is before 1970"))
}

/// Where a CSV file's columns are.
struct Columns {
    time: usize,
    device: usize,
    channel: usize,
    value: usize,
}

impl Columns {
    fn of(header: &csv::StringRecord) -> Result<Columns, String> {
        let col = |name: &str| {
            header.iter().position(|c| c.trim().eq_ignore_ascii_case(name)).ok_or(format!(
                "the CSV header has no `{name}` column: {}",
                header.iter().collect::<Vec<_>>().join(",")
            ))
        };
        Ok(Columns {
            time: col("timestamp")?,
            device: col("device")?,
            channel: col("channel")?,
            value: col("value")?,
        })
    }

    /// The row of `record`, or why it is not one.
    fn row(&self, record: &csv::StringRecord) -> Result<Row, String> {
        let field =
            |i: usize, what: &str| record.get(i).filter(|f| !f.is_empty()).ok_or(format!("no {what}"));
        let value = match field(self.value, "value")? {
            "true" => 1.0,
            "false" => 0.0,
            v => v.parse().map_err(|_| format!("`{v}` is not a number"))?,
        };
        Ok(Row {
            at: parse_time(field(self.time, "timestamp")?)?,
            device: field(self.device, "device")?.to_string(),
            channel: field(self.channel, "channel")?.to_string(),
            value,
        })
    }
}

/// Streams a CSV recording (header `timestamp,device,channel,value`, in any column order;
/// quoted fields allowed) into `each`, row by row: the file is never held whole. A row that
/// does not read is handed over as `Err((line, why))`.
fn read_csv(
    input: impl std::io::Read,
    mut each: impl FnMut(Result<Row, (u64, String)>) -> Result<(), String>,
) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(input);
    let columns = Columns::of(reader.headers().map_err(|e| e.to_string())?)?;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.iter().all(str::is_empty) {
                    continue;
                }
                each(columns.row(&record).map_err(|e| (line, e)))?;
            }
            // A broken record (bad UTF-8, say): skipped like a row that does not read.
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                each(Err((line, e.to_string())))?;
            }
        }
    }
}

fn read_senml(text: &str) -> Result<Vec<Row>, String> {
    let pack = senml::from_json(text.as_bytes()).map_err(|e| e.to_string())?;
    let records = senml::resolve(&pack, 0.0).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for r in records {
        let value = match r.value {
            Some(senml::ResolvedValue::Number(v)) => v,
            Some(senml::ResolvedValue::Bool(b)) => f64::from(u8::from(b)),
            _ => continue,
        };
        let split = r.name.rfind([':', '/']).unwrap_or(0);
        let (device, channel) = r.name.split_at(split);
        let channel = channel.trim_start_matches([':', '/']);
        rows.push(Row {
            at: Timestamp((r.time * 1000.0).round() as u64),
            device: device.into(),
            channel: channel.into(),
            value,
        });
    }
    rows.sort_by_key(|r| r.at);
    Ok(rows)
}

const USAGE: &str = "\
usage: replay --rules FILE (--csv FILE | --senml FILE) [--until TIME] [--all] [--strict]

Runs a rule set over a recording and prints each alert transition as one JSON line.

  --rules FILE    the rule set (the rule language of telemetra-rules)
  --csv FILE      readings as CSV: a header naming timestamp, device, channel and value, then
                  one reading per row, in time order (as recorders write them); timestamps in
                  RFC 3339 or unix seconds; devices by name or hexadecimal id
  --senml FILE    readings as a SenML JSON pack (RFC 8428)
  --until TIME    move the clock on to TIME at the end (absences due by then are reported)
  --all           print commands and derived readings too
  --strict        stop at the first row that does not read (default: skip it, count it, and
                  name the first few on stderr)
  --help          this text";

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let rules_path = flag("--rules").ok_or(USAGE)?;
    let rules_text = std::fs::read_to_string(&rules_path).map_err(|e| format!("{rules_path}: {e}"))?;
    let (rules, warnings) = parse_with_warnings(&rules_text).map_err(|e| format!("{rules_path}: {e}"))?;
    for w in warnings {
        eprintln!("{rules_path}: {w}");
    }
    let until = flag("--until").map(|t| parse_time(&t)).transpose()?;
    let (all, strict) = (args.iter().any(|a| a == "--all"), args.iter().any(|a| a == "--strict"));
    let mut replay = Replay::new(rules, all, strict)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut print = |line: String| {
        use std::io::Write;
        let _ = writeln!(out, "{line}");
    };
    match (flag("--csv"), flag("--senml")) {
        (Some(p), None) => {
            let file = std::fs::File::open(&p).map_err(|e| format!("{p}: {e}"))?;
            read_csv(std::io::BufReader::new(file), |row| replay.row(row, &mut print))
                .map_err(|e| format!("{p}: {e}"))?;
        }
        (None, Some(p)) => {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
            for row in read_senml(&text).map_err(|e| format!("{p}: {e}"))? {
                replay.row(Ok(row), &mut print)?;
            }
        }
        _ => return Err(USAGE.into()),
    }
    let summary = replay.finish(until, &mut print);
    std::io::Write::flush(&mut out).map_err(|e| e.to_string())?;
    eprintln!("{summary}");
    Ok(())
}

/// The rules running over a recording, row by row.
struct Replay {
    engine: Engine,
    /// Devices named by a hexadecimal id keep it; other names get unused ids from the top of
    /// the range, and are shown by name.
    names: BTreeMap<DeviceId, String>,
    ids: BTreeMap<String, DeviceId>,
    next_free: u64,
    all: bool,
    strict: bool,
    events: Vec<Event>,
    rows: u64,
    /// Rows that did not read: how many, and the first few with their line numbers.
    bad: u64,
    first_bad: Vec<String>,
    last: Timestamp,
}

impl Replay {
    fn new(rules: Vec<telemetra::model::Rule>, all: bool, strict: bool) -> Result<Replay, String> {
        let mut engine = Engine::new(EngineConfig { max_devices: 1_000_000, memory_budget: 4 << 30 });
        engine.load(rules).map_err(|e| e.to_string())?;
        Ok(Replay {
            engine,
            names: BTreeMap::new(),
            ids: BTreeMap::new(),
            next_free: u64::MAX,
            all,
            strict,
            events: Vec::new(),
            rows: 0,
            bad: 0,
            first_bad: Vec::new(),
            last: Timestamp(0),
        })
    }

    fn id(&mut self, device: &str) -> DeviceId {
        if let Some(id) = self.ids.get(device) {
            return *id;
        }
        let mut id = device.parse().unwrap_or(DeviceId(self.next_free));
        while self.names.contains_key(&id) {
            self.next_free -= 1;
            id = DeviceId(self.next_free);
        }
        self.names.insert(id, device.to_string());
        self.ids.insert(device.to_string(), id);
        id
    }

    /// One row: time reaches it (every device's deadlines before it are decided, each at its
    /// own instant: an absence alert at its deadline, not at the next row), then it goes in.
    fn row(&mut self, row: Result<Row, (u64, String)>, print: &mut impl FnMut(String)) -> Result<(), String> {
        let row = match row {
            Ok(row) => row,
            Err((line, why)) if self.strict => return Err(format!("line {line}: {why}")),
            Err((line, why)) => {
                self.bad += 1;
                if self.first_bad.len() < 5 {
                    self.first_bad.push(format!("line {line}: {why}"));
                }
                return Ok(());
            }
        };
        self.rows += 1;
        let id = self.id(&row.device);
        self.engine.advance(row.at, &mut self.events);
        self.engine.ingest(id, &row.channel, row.at, row.value, &mut self.events);
        self.last = self.last.max(row.at);
        self.emit(print);
        Ok(())
    }

    /// Everything due up to the end (or `until`) included: time moves just past it. Returns
    /// the summary.
    fn finish(mut self, until: Option<Timestamp>, print: &mut impl FnMut(String)) -> String {
        self.engine.advance(Timestamp(until.unwrap_or(self.last).0.saturating_add(1)), &mut self.events);
        self.emit(print);
        let s = self.engine.stats();
        let mut summary = format!(
            "{} readings, {} devices, {} rules; dropped: {} out of order, {} duplicates, {} not finite, {} late; {} rows skipped",
            self.rows,
            self.names.len(),
            self.engine.rules().count(),
            s.out_of_order,
            s.duplicates,
            s.non_finite,
            s.late,
            self.bad,
        );
        for bad in &self.first_bad {
            summary += &format!("\n  skipped {bad}");
        }
        let unheard: Vec<&str> = self.engine.unheard_channels().collect();
        if !unheard.is_empty() {
            summary += &format!("\n  no reading of {} (read by the rules)", unheard.join(", "));
        }
        for w in self.engine.truncated_windows() {
            let (span, holds) = match w.window {
                Window::Time { span_ms, max_samples } => (span_ms, max_samples),
                Window::Count(n) => (0, n),
            };
            summary += &format!(
                "\n  window over {} of {} s holds {holds} samples: {} dropped inside the span (rules {}); write `max N` for more",
                w.channel,
                span / 1000,
                w.dropped,
                w.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
            );
        }
        if let Some(peak) = peak_memory() {
            summary += &format!("\n  peak memory {:.1} MiB", peak as f64 / 1048576.0);
        }
        summary
    }

    fn emit(&mut self, print: &mut impl FnMut(String)) {
        for e in self.events.drain(..) {
            let name = |d: DeviceId| self.names.get(&d).cloned().unwrap_or_else(|| d.to_string());
            let line = match e {
                Event::Alert(a) => json!({
                    "time": rfc3339(a.at),
                    "rule": a.rule.as_str(),
                    "device": name(a.device),
                    "state": match a.state {
                        AlertState::Raised => "raised",
                        AlertState::Acknowledged => "acknowledged",
                        AlertState::Cleared => "cleared",
                    },
                    "severity": a.severity.as_str(),
                    "value": a.value.and_then(|v| v.as_f64()),
                }),
                Event::Command { rule, device, action } if self.all => {
                    json!({"kind": "command", "rule": rule.as_str(), "device": name(device), "action": format!("{action:?}")})
                }
                Event::Emit { rule, device, channel, at, value } if self.all => json!({
                    "kind": "emit", "time": rfc3339(at), "rule": rule.as_str(), "device": name(device),
                    "channel": channel.as_str(), "value": value,
                }),
                _ => continue,
            };
            print(line.to_string());
        }
    }
}

/// The process's peak resident memory in bytes (Linux: VmHWM in /proc/self/status).
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays `csv` with `rules`; the JSON lines and the summary.
    fn replay_csv(rules: &str, csv: &str, until: Option<Timestamp>) -> Result<(Vec<String>, String), String> {
        let mut replay = Replay::new(parse(rules).unwrap(), false, false)?;
        let mut lines = Vec::new();
        read_csv(csv.as_bytes(), |row| replay.row(row, &mut |l| lines.push(l)))?;
        let summary = replay.finish(until, &mut |l| lines.push(l));
        Ok((lines, summary))
    }

    fn brief(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {} {} {}",
                    v["time"].as_str().unwrap(),
                    v["rule"].as_str().unwrap(),
                    v["device"].as_str().unwrap(),
                    v["state"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn the_greenhouse_recording_gives_its_alerts() {
        let (lines, summary) =
            replay_csv(include_str!("data/greenhouse.rules"), include_str!("data/greenhouse.csv"), None)
                .unwrap();
        assert_eq!(
            brief(&lines),
            [
                "2026-11-26T08:31:00Z overheat greenhouse-a raised",
                "2026-11-26T08:46:00Z overheat greenhouse-a cleared",
                "2026-11-26T08:54:00Z offline greenhouse-b raised",
                "2026-11-26T09:02:00Z dry greenhouse-a raised",
                "2026-11-26T09:11:00Z dry greenhouse-a cleared",
            ]
        );
        assert!(summary.starts_with("220 readings, 2 devices, 3 rules"), "{summary}");
        assert!(summary.contains("0 rows skipped"), "{summary}");
    }

    #[test]
    fn a_window_too_small_for_the_data_is_named_in_the_summary() {
        // `5m max 3` was written for readings every 2.5 minutes; these come every minute.
        let rules = r#"rule warm: when avg(t, 5m max 3) > 25 then alert minor "Warm""#;
        let mut csv = String::from("timestamp,device,channel,value\n");
        for m in 0..10 {
            csv += &format!("2026-11-26T00:{m:02}:00Z,a,t,20\n");
        }
        let (_, summary) = replay_csv(rules, &csv, None).unwrap();
        assert!(
            summary
                .contains("window over t of 300 s holds 3 samples: 7 dropped inside the span (rules warm)"),
            "{summary}"
        );
        let (_, summary) =
            replay_csv(r#"rule warm: when avg(t, 5m max 6) > 25 then alert minor "Warm""#, &csv, None)
                .unwrap();
        assert!(!summary.contains("window over"), "{summary}");
    }

    #[test]
    fn an_absence_is_reported_at_its_deadline_not_at_the_next_row() {
        let rules = r#"rule gone: when silent(3h) then alert major "gone""#;
        let csv = "timestamp,device,channel,value\n\
                   2026-11-26T00:00:00Z,a,t,1\n\
                   2026-11-26T05:00:00Z,a,t,1\n";
        let (lines, _) = replay_csv(rules, csv, None).unwrap();
        assert_eq!(
            brief(&lines),
            ["2026-11-26T03:00:00Z gone a raised", "2026-11-26T05:00:00Z gone a cleared"]
        );
        // And with --until, one due after the last row.
        let (lines, _) = replay_csv(rules, csv, parse_time("2026-11-26T09:00:00Z").ok()).unwrap();
        assert_eq!(brief(&lines).last().map(String::as_str), Some("2026-11-26T08:00:00Z gone a raised"));
    }

    #[test]
    fn bad_rows_are_skipped_counted_and_named_and_the_rest_replayed() {
        let rules = r#"rule hot: when t > 30 then alert major "hot""#;
        let csv = "device,timestamp,\"channel\",value\n\
                   \"greenhouse, north\",2026-11-26T08:00:00Z,t,20\n\
                   b,2026-11-26T08:01:00Z,t,\n\
                   b,yesterday,t,5\n\
                   b,2026-11-26T08:02:00Z,t,warm\n\
                   \"greenhouse, north\",2026-11-26T08:03:00Z,t,35\n";
        let (lines, summary) = replay_csv(rules, csv, None).unwrap();
        assert_eq!(brief(&lines), ["2026-11-26T08:03:00Z hot greenhouse, north raised"]);
        assert!(summary.starts_with("2 readings, 1 devices"), "{summary}");
        assert!(summary.contains("3 rows skipped"), "{summary}");
        assert!(summary.contains("skipped line 3: no value"), "{summary}");
        assert!(summary.contains("skipped line 4: `yesterday` is neither"), "{summary}");
        assert!(summary.contains("skipped line 5: `warm` is not a number"), "{summary}");
        // --strict stops at the first.
        let mut strict = Replay::new(parse(rules).unwrap(), false, true).unwrap();
        let err = read_csv(csv.as_bytes(), |row| strict.row(row, &mut |_| {})).unwrap_err();
        assert_eq!(err, "line 3: no value");
    }

    #[test]
    fn a_header_without_a_column_is_refused() {
        let err =
            replay_csv("rule a: when t > 1 then alert info \"a\"", "time,device\n1,a\n", None).unwrap_err();
        assert!(err.contains("no `timestamp` column"), "{err}");
    }

    #[test]
    fn senml_input_is_read_with_its_base_names_and_times() {
        let pack = r#"[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"n":"voltage","u":"V","v":120.1},
                       {"n":"voltage","t":10,"v":125.5}]"#;
        let rows = read_senml(pack).unwrap();
        assert_eq!(
            (rows[0].device.as_str(), rows[0].channel.as_str()),
            ("urn:dev:ow:10e2073a0108006", "voltage")
        );
        let mut replay = Replay::new(
            parse(r#"rule surge: when voltage > 125 then alert major "Surge""#).unwrap(),
            false,
            false,
        )
        .unwrap();
        let mut lines = Vec::new();
        for row in rows {
            replay.row(Ok(row), &mut |l| lines.push(l)).unwrap();
        }
        replay.finish(None, &mut |l| lines.push(l));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("\"time\":\"2010-06-08T18:01:26.001Z\""), "{}", lines[0]);
    }

    #[test]
    fn rfc3339_round_trips_and_offsets_apply() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2026-11-26T08:00:00Z",
            "2000-02-29T23:59:59.250Z",
            "2400-12-31T00:00:00Z",
        ] {
            assert_eq!(rfc3339(parse_time(s).unwrap()), s);
        }
        assert_eq!(parse_time("2026-11-26T09:00:00+01:00"), parse_time("2026-11-26T08:00:00Z"));
        assert_eq!(parse_time("1795680000").unwrap(), parse_time("2026-11-26T08:00:00Z").unwrap());
        for bad in ["", "2026-13-01T00:00:00Z", "2026-11-26 08:00", "2026-11-26T08:00:00", "yesterday"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
