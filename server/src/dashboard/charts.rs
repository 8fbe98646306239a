//! Charts: a channel's series over a range, downsampled by the store to at most as many
//! buckets as a chart has pixels to draw them, so that a year of readings draws as quickly as
//! an hour.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use telemetra_core::{ChannelId, Timestamp};

use super::Dashboard;
use super::pages::{device_id, store_failed};
use crate::store::Store;

/// The ranges a chart offers: label and seconds.
pub(crate) const RANGES: [(&str, u64); 7] = [
    ("15 min", 900),
    ("1 h", 3_600),
    ("6 h", 21_600),
    ("1 day", 86_400),
    ("7 days", 604_800),
    ("30 days", 2_592_000),
    ("1 year", 31_536_000),
];

/// Buckets per chart unless asked: about one per two pixels of a wide chart.
const POINTS: u32 = 600;

#[derive(Deserialize)]
pub(crate) struct SeriesQuery {
    channel: u16,
    /// Seconds back from now: 1 hour unless given; from a minute to 10 years.
    #[serde(default)]
    range: Option<u64>,
    /// Buckets at most: [`POINTS`] unless given; from 10 to 4,000.
    #[serde(default)]
    points: Option<u32>,
}

/// `{"t": [seconds], "mean": [...], "min": [...], "max": [...], "count": [...]}`, what uPlot
/// draws (time in seconds on x).
pub(crate) async fn series<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> Response {
    if d.session(&headers).is_none() {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let Some(device) = device_id(&id) else {
        return (StatusCode::NOT_FOUND, "no such device").into_response();
    };
    let range = Duration::from_secs(q.range.unwrap_or(3_600).clamp(60, 10 * 31_536_000));
    let points = q.points.unwrap_or(POINTS).clamp(10, 4_000);
    let to = Timestamp(d.inner.clock.now().0 + 1);
    let from = Timestamp(to.0.saturating_sub(range.as_millis() as u64));
    let buckets = match d.inner.store.series(device, ChannelId(q.channel), from, to, points).await {
        Ok(b) => b,
        Err(e) => return store_failed(e),
    };
    let column = |f: fn(&crate::store::Point) -> f64| buckets.iter().map(f).collect::<Vec<f64>>();
    let json = serde_json::json!({
        "t": column(|p| p.at.0 as f64 / 1000.0),
        "mean": column(|p| p.mean),
        "min": column(|p| p.min),
        "max": column(|p| p.max),
        "count": buckets.iter().map(|p| p.count).collect::<Vec<u64>>(),
    });
    ([(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response()
}

/// The charts of a device page: range buttons, one chart per channel in `channels` (id,
/// name, unit), redrawn from [`series`] when the range changes and at most once a second as
/// live values arrive (the page's `redraw()` is called by the live script).
pub(crate) fn section(
    body: &mut String,
    device: &str,
    channels: &[(u16, String, String)],
    range: Option<u64>,
) {
    use std::fmt::Write;
    if channels.is_empty() {
        return;
    }
    let range = RANGES.iter().map(|(_, s)| *s).find(|s| Some(*s) == range).unwrap_or(3_600);
    body.push_str("<h2>Charts</h2><link rel=\"stylesheet\" href=\"/assets/uplot.css\"><div class=\"ranges\" id=\"ranges\">");
    for (label, secs) in RANGES {
        let on = if secs == range { " class=\"on\"" } else { "" };
        let _ = write!(body, "<button type=\"button\" data-range=\"{secs}\"{on}>{label}</button>");
    }
    body.push_str("</div>");
    for (id, name, unit) in channels {
        let unit = if unit.is_empty() { String::new() } else { format!(" ({})", super::html::escape(unit)) };
        let _ = write!(
            body,
            "<div class=\"chart\" id=\"chart-{id}\" data-channel=\"{id}\"><b>{}{unit}</b></div>",
            super::html::escape(name)
        );
    }
    let _ = write!(
        body,
        "<script src=\"/assets/uplot.js\"></script><script>{}</script>",
        CHART_SCRIPT.replace("DEVICE", device).replace("RANGE", &range.to_string())
    );
}

/// Draws the charts; `data-points` and `data-drawn-ms` (since navigation) on each chart's
/// element say what was drawn, and when.
const CHART_SCRIPT: &str = "let range=RANGE,lastDraw=0;const plots={};\
function draw(el){const c=el.dataset.channel;\
return fetch('/devices/DEVICE/series?channel='+c+'&range='+range).then(r=>r.json()).then(s=>{\
const data=[s.t,s.mean,s.min,s.max];\
if(plots[c]){plots[c].setData(data);}else{plots[c]=new uPlot({width:Math.min(960,Math.max(320,el.clientWidth)),height:220,\
series:[{},{label:'mean',stroke:'#3b5bdb',width:2},{label:'min',stroke:'#a5b4fc',width:1},{label:'max',stroke:'#a5b4fc',width:1}]},data,el);}\
el.dataset.points=s.t.length;el.dataset.drawnMs=Math.round(performance.now());});}\
function redraw(force){const now=Date.now();if(!force&&now-lastDraw<1000)return;lastDraw=now;\
for(const el of document.querySelectorAll('.chart'))draw(el);}\
for(const b of document.querySelectorAll('#ranges button')){b.onclick=()=>{range=+b.dataset.range;\
for(const o of document.querySelectorAll('#ranges button'))o.className=o===b?'on':'';redraw(true);};}\
redraw(true);";
