//! Live values: a device's status, latest values and commands as server-sent events, one each
//! time they change in the store: pushed as the pipeline announces the change, or polled.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use telemetra_core::{DeviceId, Unit};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Interval;

use super::Dashboard;
use super::html::{time, value};
use super::pages::device_id;
use crate::store::{Presence, Store, StoreError};

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

/// With a pipeline's [`Changes`](crate::ingest::Changes): how often a page's state is looked
/// at anyway (a status turns offline by silence, which nobody announces).
const SLOW: Duration = Duration::from_millis(500);

/// The least time between two looks at the store for one page (a device sending a hundred
/// frames a second is not looked up a hundred times).
const MIN_GAP: Duration = Duration::from_millis(50);

/// The device's state as JSON each time it differs from the last sent: looked up when the
/// pipeline announces a change of the device (and every [`SLOW`]), or every `refresh` without
/// a pipeline to listen to; ends if the store fails.
fn changes<S: Store>(d: Dashboard<S>, device: DeviceId) -> impl Stream<Item = Result<Event, Infallible>> {
    let rx = d.inner.changes.as_ref().map(|c| c.subscribe());
    let mut tick = tokio::time::interval(if rx.is_some() { SLOW } else { d.inner.config.refresh });
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let looked = Instant::now() - MIN_GAP;
    stream::unfold(
        (d, tick, rx, String::new(), looked),
        move |(d, mut tick, mut rx, last, mut looked)| async move {
            loop {
                until_changed(&mut tick, &mut rx, device).await;
                tokio::time::sleep_until((looked + MIN_GAP).into()).await;
                looked = Instant::now();
                match state(&d, device).await {
                    Ok(json) if json == last => continue,
                    Ok(json) => {
                        return Some((Ok(Event::default().data(json.clone())), (d, tick, rx, json, looked)));
                    }
                    Err(e) => {
                        tracing::warn!("dashboard: live values of {device}: {e}");
                        return None;
                    }
                }
            }
        },
    )
}

/// Returns at the next tick, or when `device` is announced changed (or the listener lagged:
/// it may have missed it).
async fn until_changed(tick: &mut Interval, rx: &mut Option<Receiver<DeviceId>>, device: DeviceId) {
    let Some(listener) = rx else {
        tick.tick().await;
        return;
    };
    let closed = loop {
        tokio::select! {
            _ = tick.tick() => return,
            got = listener.recv() => match got {
                Ok(d) if d == device => return,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => break true,
            },
        }
    };
    if closed {
        // The pipeline is gone: the tick alone from now on.
        *rx = None;
    }
}

async fn state<S: Store>(d: &Dashboard<S>, device: DeviceId) -> Result<String, StoreError> {
    let row = d.inner.store.device(device).await?;
    let latest = d.inner.store.latest(device).await?;
    let status = row.as_ref().map_or(Presence::Offline, |r| Presence::of(r, d.heard_since()));
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
