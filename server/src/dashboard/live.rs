//! Live values: a device's status and latest values as server-sent events, one each time
//! they change in the store.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use telemetra_core::{DeviceId, Unit};

use super::html::{time, value};
use super::pages::device_id;
use super::{Dashboard, Shown};
use crate::store::{Store, StoreError};

pub(crate) async fn device<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if d.session(&headers).is_none() {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let Some(device) = device_id(&id) else {
        return (StatusCode::NOT_FOUND, "no such device").into_response();
    };
    Sse::new(changes(d, device)).keep_alive(KeepAlive::default()).into_response()
}

/// The device's state as JSON each time it differs from the last sent, looked up every
/// `refresh`; ends if the store fails.
fn changes<S: Store>(d: Dashboard<S>, device: DeviceId) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut tick = tokio::time::interval(d.inner.config.refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold((d, tick, String::new()), move |(d, mut tick, last)| async move {
        loop {
            tick.tick().await;
            match state(&d, device).await {
                Ok(json) if json == last => continue,
                Ok(json) => return Some((Ok(Event::default().data(json.clone())), (d, tick, json))),
                Err(e) => {
                    tracing::warn!("dashboard: live values of {device}: {e}");
                    return None;
                }
            }
        }
    })
}

async fn state<S: Store>(d: &Dashboard<S>, device: DeviceId) -> Result<String, StoreError> {
    let row = d.inner.store.device(device).await?;
    let latest = d.inner.store.latest(device).await?;
    let status =
        row.as_ref().map_or(Shown::Offline, |r| Shown::of(r, d.inner.clock.now(), d.inner.config.silence));
    let info = row.as_ref().and_then(|r| r.info.as_ref());
    let channels: Vec<serde_json::Value> = latest
        .iter()
        .map(|l| {
            let unit = info.and_then(|i| i.channel(l.channel)).map_or(Unit::None, |s| s.unit);
            serde_json::json!({ "id": l.channel.0, "value": value(&l.value, unit), "at": time(l.at) })
        })
        .collect();
    let last_seen = row.as_ref().and_then(|r| r.last_seen).map(time).unwrap_or_default();
    let commands: Vec<[String; 5]> = d
        .inner
        .store
        .commands(device)
        .await?
        .iter()
        .take(super::commands::SHOWN)
        .map(super::commands::cells)
        .collect();
    Ok(serde_json::json!({
        "status": status.word(),
        "last_seen": last_seen,
        "channels": channels,
        "commands": commands,
    })
    .to_string())
}
