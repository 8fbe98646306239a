//! Runs a rule set over recorded readings and prints each alert transition as one JSON line:
//! how to try rules on real data before deploying them.
//!
//! ```text
//! cargo run --example replay -- --rules examples/data/greenhouse.rules --csv examples/data/greenhouse.csv
//! cargo run --example replay -- --rules FILE --senml FILE.json [--until 2026-11-26T12:00:00Z] [--all]
//! ```
//!
//! CSV: a header `timestamp,device,channel,value`, then one reading per line; timestamps in
//! RFC 3339 (`2026-11-26T08:00:00Z`, `2026-11-26T09:00:00.250+01:00`) or unix seconds. Devices
//! are named freely (`greenhouse-a`) or by their hexadecimal id. SenML JSON (RFC 8428) packs
//! are read with their base names and times resolved; the device is the name up to its last `:`
//! or `/`, the channel what follows. `--all` also prints commands and derived readings.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::json;
use telemetra::codec::senml;
use telemetra::model::{AlertState, DeviceId, Timestamp};
use telemetra::rules::{Engine, EngineConfig, Event, parse};

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

fn read_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the CSV file is empty")?;
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .ok_or(format!("the CSV header has no `{name}` column: {header}"))
    };
    let (ct, cd, cc, cv) = (col("timestamp")?, col("device")?, col("channel")?, col("value")?);
    lines
        .map(|(n, line)| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let field = |i: usize| {
                f.get(i).copied().ok_or(format!("line {}: expected {} fields", n + 1, columns.len()))
            };
            let value = field(cv)?;
            let value = match value {
                "true" => 1.0,
                "false" => 0.0,
                v => v.parse().map_err(|_| format!("line {}: `{v}` is not a number", n + 1))?,
            };
            Ok(Row {
                at: parse_time(field(ct)?).map_err(|e| format!("line {}: {e}", n + 1))?,
                device: field(cd)?.to_string(),
                channel: field(cc)?.to_string(),
                value,
            })
        })
        .collect()
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
    Ok(rows)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let usage = "usage: replay --rules FILE (--csv FILE | --senml FILE) [--until TIME] [--all]";
    let rules_path = flag("--rules").ok_or(usage)?;
    let rules_text = std::fs::read_to_string(&rules_path).map_err(|e| format!("{rules_path}: {e}"))?;
    let rules = parse(&rules_text).map_err(|e| format!("{rules_path}: {e}"))?;
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let rows = match (flag("--csv"), flag("--senml")) {
        (Some(p), None) => read_csv(&read(&p)?).map_err(|e| format!("{p}: {e}"))?,
        (None, Some(p)) => read_senml(&read(&p)?).map_err(|e| format!("{p}: {e}"))?,
        _ => return Err(usage.into()),
    };
    let until = flag("--until").map(|t| parse_time(&t)).transpose()?;
    let all = args.iter().any(|a| a == "--all");
    let (lines, summary) = replay(rules, rows, until, all)?;
    for line in lines {
        println!("{line}");
    }
    eprintln!("{summary}");
    Ok(())
}

/// Runs `rules` over `rows` in time order; returns the JSON lines and a summary.
fn replay(
    rules: Vec<telemetra::model::Rule>,
    mut rows: Vec<Row>,
    until: Option<Timestamp>,
    all: bool,
) -> Result<(Vec<String>, String), String> {
    rows.sort_by_key(|r| r.at);
    let mut engine = Engine::new(EngineConfig { max_devices: 100_000, memory_budget: 1 << 30 });
    engine.load(rules).map_err(|e| e.to_string())?;
    // Devices named by a hex id keep it; other names get unused ids from the top of the range.
    let mut names: BTreeMap<DeviceId, String> = BTreeMap::new();
    let mut ids: BTreeMap<String, DeviceId> = BTreeMap::new();
    let mut next_free = u64::MAX;
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let mut emit = |events: &mut Vec<Event>, names: &BTreeMap<DeviceId, String>| {
        for e in events.drain(..) {
            let name = |d: DeviceId| names.get(&d).cloned().unwrap_or_else(|| d.to_string());
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
                Event::Command { rule, device, action } if all => {
                    json!({"kind": "command", "rule": rule.as_str(), "device": name(device), "action": format!("{action:?}")})
                }
                Event::Emit { rule, device, channel, at, value } if all => json!({
                    "kind": "emit", "time": rfc3339(at), "rule": rule.as_str(), "device": name(device),
                    "channel": channel.as_str(), "value": value,
                }),
                _ => continue,
            };
            lines.push(line.to_string());
        }
    };
    let mut last = Timestamp(0);
    for row in &rows {
        let id = match ids.get(&row.device) {
            Some(id) => *id,
            None => {
                let mut id = row.device.parse().unwrap_or(DeviceId(next_free));
                while names.contains_key(&id) {
                    next_free -= 1;
                    id = DeviceId(next_free);
                }
                names.insert(id, row.device.clone());
                ids.insert(row.device.clone(), id);
                id
            }
        };
        // Time reaches the row: every device's deadlines before it are decided, each at its
        // own instant (an absence alert at its deadline, not at the next row).
        engine.advance(row.at, &mut events);
        engine.ingest(id, &row.channel, row.at, row.value, &mut events);
        emit(&mut events, &names);
        last = row.at;
    }
    // Everything due up to the end (or `--until`) included: time moves just past it.
    engine.advance(Timestamp(until.unwrap_or(last).0.saturating_add(1)), &mut events);
    emit(&mut events, &names);
    let s = engine.stats();
    let summary = format!(
        "{} readings, {} devices, {} rules; dropped: {} out of order, {} duplicates, {} not finite, {} late",
        rows.len(),
        names.len(),
        engine.rules().count(),
        s.out_of_order,
        s.duplicates,
        s.non_finite,
        s.late
    );
    Ok((lines, summary))
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

    #[test]
    fn the_greenhouse_recording_gives_its_alerts() {
        let rules = parse(include_str!("data/greenhouse.rules")).unwrap();
        let rows = read_csv(include_str!("data/greenhouse.csv")).unwrap();
        let (lines, summary) = replay(rules, rows, None, false).unwrap();
        let brief: Vec<String> = lines
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
            .collect();
        assert_eq!(
            brief,
            [
                "2026-11-26T08:31:00Z overheat greenhouse-a raised",
                "2026-11-26T08:46:00Z overheat greenhouse-a cleared",
                "2026-11-26T08:54:00Z offline greenhouse-b raised",
                "2026-11-26T09:02:00Z dry greenhouse-a raised",
                "2026-11-26T09:11:00Z dry greenhouse-a cleared",
            ]
        );
        assert!(summary.starts_with("220 readings, 2 devices, 3 rules"), "{summary}");
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
        let rules = parse(r#"rule surge: when voltage > 125 then alert major "Surge""#).unwrap();
        let (lines, _) = replay(rules, rows, None, false).unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("\"time\":\"2010-06-08T18:01:26.001Z\""), "{}", lines[0]);
    }

    #[test]
    fn bad_csv_lines_are_named() {
        let err = read_csv("timestamp,device,channel,value\n2026-11-26T08:00:00Z,a,t,warm\n").err().unwrap();
        assert_eq!(err, "line 2: `warm` is not a number");
        assert!(read_csv("time,device\n").is_err());
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
