//! The pages' HTML: escaping, the layout, values and times as people read them.

use std::fmt::Write;

use telemetra_core::{Timestamp, Unit, Value};

/// `text` with `& < > " '` escaped, for an element's text or a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` (escaped here) and `body` (HTML already). With a session's `csrf`,
/// the header carries the logout form.
pub(crate) fn page(title: &str, csrf: Option<&str>, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · telemetra</title><style>{STYLE}</style></head><body><header><a href=\"/\">telemetra</a>",
        escape(title)
    );
    if let Some(csrf) = csrf {
        let _ = write!(
            out,
            "<nav class=\"top\"><a href=\"/\">Devices</a><a href=\"/alarms\" id=\"nav-alarms\">Alarms</a>\
             <a href=\"/rules\" id=\"nav-rules\">Rules</a></nav><form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button id=\"logout\">Log out</button></form>",
            escape(csrf)
        );
    }
    let _ = write!(out, "</header><main><h1>{}</h1>{body}</main></body></html>", escape(title));
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2433}\
header{display:flex;justify-content:space-between;align-items:center;padding:.6rem 1.2rem;background:#1d2433}\
header a{color:#fff;font-weight:600;text-decoration:none}header button{cursor:pointer}\
main{padding:1rem 1.2rem}table{border-collapse:collapse;min-width:40rem}\
th,td{text-align:left;padding:.3rem .8rem;border-bottom:1px solid #dde}\
.online{color:#187a2f;font-weight:600}.offline{color:#8a8f98}.lost{color:#b3261e;font-weight:600}\
.error{color:#b3261e}form.filter{margin-bottom:1rem}nav{margin-top:1rem}nav a{margin-right:1rem}\
.value{font-variant-numeric:tabular-nums;font-weight:600}\
nav.top a{margin-left:1.2rem;font-weight:400}header>a{margin-right:auto}header form{margin:0 0 0 1.2rem}\
.critical,.major{color:#b3261e;font-weight:600}.minor,.warning{color:#a15c00;font-weight:600}.info{color:#3b5bdb}\
.raised{font-weight:600}.acknowledged{color:#a15c00}.cleared{color:#8a8f98}\
td form{display:inline;margin-right:.4rem}.flash{background:#eef6ee;padding:.4rem .8rem}\
.chart{margin:1rem 0}.ranges button{margin-right:.3rem}.ranges button.on{font-weight:700}\
pre{background:#f4f5f8;padding:.8rem;white-space:pre-wrap}";

/// A value as read, with its unit's symbol.
pub(crate) fn value(v: &Value, unit: Unit) -> String {
    let text = match v {
        Value::Number(n) => trim(n.to_f64()),
        Value::Integer(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Location(l) => format!("{:.5}, {:.5}", l.lat.to_f64(), l.lon.to_f64()),
        Value::State(s) => s.as_str().to_string(),
    };
    match unit.symbol() {
        "" => text,
        symbol => format!("{text} {symbol}"),
    }
}

/// At most 3 decimals, without trailing zeros.
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// `t` as UTC, `2026-11-26 00:01:10`.
pub(crate) fn time(t: Timestamp) -> String {
    let secs = (t.0 / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The proleptic Gregorian date of the `days`th day after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_values_and_times_read_well() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(value(&Value::from(21.5), Unit::Celsius), "21.5 Cel");
        assert_eq!(value(&Value::from(23.383333), Unit::None), "23.383");
        assert_eq!(value(&Value::Integer(7), Unit::Watt), "7 W");
        assert_eq!(time(Timestamp(1_795_651_270_000)), "2026-11-26 00:01:10");
        assert_eq!(time(Timestamp(951_782_400_000)), "2000-02-29 00:00:00");
        assert_eq!(time(Timestamp(0)), "1970-01-01 00:00:00");
    }
}
