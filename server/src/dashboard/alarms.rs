//! The alarms as they stand, by state and severity, with acknowledge and clear.

use std::fmt::Write;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use telemetra_core::{AlertState, Severity};

use super::Dashboard;
use super::html::{escape, page, time};
use super::pages::{acting, device_id, store_failed};
use crate::ingest::OperatorError;
use crate::store::{AlarmFilter, AlertRow, Store, severity_text, state_text};

/// The most alarms the page lists.
const SHOWN: u32 = 1_000;

#[derive(Deserialize)]
pub(crate) struct AlarmQuery {
    /// `active` (raised or acknowledged: the default), `raised`, `acknowledged`, `cleared`,
    /// `all`.
    #[serde(default)]
    state: String,
    /// The least severity shown, lowercase; any when empty.
    #[serde(default)]
    severity: String,
    /// What the last action did (a fixed word, never echoed text).
    #[serde(default)]
    done: String,
}

pub(crate) async fn list<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Query(query): Query<AlarmQuery>,
) -> Response {
    let Some((_, session)) = d.session(&headers) else { return Redirect::to("/login").into_response() };
    let filter = if query.state.is_empty() { "active" } else { query.state.as_str() };
    let wanted = match filter {
        "active" => AlarmFilter::Active,
        "raised" => AlarmFilter::In(AlertState::Raised),
        "acknowledged" => AlarmFilter::In(AlertState::Acknowledged),
        "cleared" => AlarmFilter::In(AlertState::Cleared),
        _ => AlarmFilter::Any,
    };
    let mut rows = match d.inner.store.alarms(wanted, SHOWN).await {
        Ok(rows) => rows,
        Err(e) => return store_failed(e),
    };
    let least = Severity::ALL.into_iter().find(|s| severity_text(*s) == query.severity);
    rows.retain(|a| least.is_none_or(|l| a.severity >= l));
    rows.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.at.cmp(&a.at)));

    let mut body = String::new();
    let flash = match query.done.as_str() {
        "acknowledged" => "The alarm is acknowledged.",
        "cleared" => "The alarm is cleared.",
        "unchanged" => "Nothing changed: the server's rules hold no such alarm in that state now.",
        _ => "",
    };
    if !flash.is_empty() {
        let _ = write!(body, "<p class=\"flash\" id=\"flash\">{flash}</p>");
    }
    body.push_str("<form class=\"filter\" method=\"get\" action=\"/alarms\"><select name=\"state\" id=\"state-filter\">");
    for option in ["active", "raised", "acknowledged", "cleared", "all"] {
        let selected = if option == filter { " selected" } else { "" };
        let _ = write!(body, "<option value=\"{option}\"{selected}>{option}</option>");
    }
    body.push_str(
        "</select> <select name=\"severity\" id=\"severity-filter\"><option value=\"\">any severity</option>",
    );
    for s in Severity::ALL.into_iter().rev() {
        let word = severity_text(s);
        let selected = if Some(s) == least { " selected" } else { "" };
        let _ = write!(body, "<option value=\"{word}\"{selected}>{word} or worse</option>");
    }
    body.push_str("</select> <button>Filter</button></form>");
    if rows.is_empty() {
        body.push_str("<p id=\"no-alarms\">No alarm.</p>");
    }
    body.push_str(
        "<table id=\"alarms\"><thead><tr><th>Severity</th><th>State</th><th>Device</th><th>Rule</th>\
         <th>Message</th><th>Since (UTC)</th><th></th></tr></thead><tbody>",
    );
    for a in &rows {
        row(&mut body, a, d.inner.operator.is_some(), &session.csrf);
    }
    body.push_str("</tbody></table>");
    Html(page("Alarms", Some(&session.csrf), &body)).into_response()
}

fn row(body: &mut String, a: &AlertRow, actions: bool, csrf: &str) {
    let (state, severity) = (state_text(a.state), severity_text(a.severity));
    let _ = write!(
        body,
        "<tr id=\"alarm-{device}-{rule}\"><td class=\"{severity}\">{severity}</td><td class=\"state {state}\">{state}</td>\
         <td><a href=\"/devices/{device}\">{device}</a></td><td>{rule}</td><td>{}</td><td>{}</td><td>",
        escape(&a.message),
        time(a.at),
        device = a.device,
        rule = escape(&a.rule),
    );
    if actions && a.state != AlertState::Cleared {
        let form = |action: &str, label: &str| {
            format!(
                "<form method=\"post\" action=\"/alarms/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <input type=\"hidden\" name=\"device\" value=\"{}\"><input type=\"hidden\" name=\"rule\" value=\"{}\">\
                 <button class=\"{action}\">{label}</button></form>",
                escape(csrf),
                a.device,
                escape(&a.rule)
            )
        };
        if a.state == AlertState::Raised {
            body.push_str(&form("acknowledge", "Acknowledge"));
        }
        body.push_str(&form("clear", "Clear"));
    }
    body.push_str("</td></tr>");
}

#[derive(Deserialize)]
pub(crate) struct AlarmAction {
    #[serde(default)]
    csrf: String,
    device: String,
    rule: String,
}

pub(crate) async fn acknowledge<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Form(form): Form<AlarmAction>,
) -> Response {
    act(&d, &headers, form, "acknowledged").await
}

pub(crate) async fn clear<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Form(form): Form<AlarmAction>,
) -> Response {
    act(&d, &headers, form, "cleared").await
}

/// Acknowledges or clears (`done` says which) through the pipeline's operator handle.
async fn act<S: Store>(d: &Dashboard<S>, headers: &HeaderMap, form: AlarmAction, done: &str) -> Response {
    let (session, operator) = match acting(d, headers, &form.csrf) {
        Ok(acting) => acting,
        Err(answer) => return *answer,
    };
    let Some(device) = device_id(&form.device) else {
        return (StatusCode::BAD_REQUEST, "no such device").into_response();
    };
    let changed = match done {
        "acknowledged" => operator.acknowledge(device, &form.rule).await,
        _ => operator.clear(device, &form.rule).await,
    };
    match changed {
        Ok(changed) => {
            tracing::info!(user = %session.user, device = %device, rule = %form.rule.escape_debug(), changed, "dashboard: alarm {done}");
            Redirect::to(&format!("/alarms?done={}", if changed { done } else { "unchanged" }))
                .into_response()
        }
        Err(e) => operator_failed(e),
    }
}

/// What an action answers when the pipeline did not do it.
pub(crate) fn operator_failed(e: OperatorError) -> Response {
    tracing::warn!("dashboard: {e}");
    (StatusCode::SERVICE_UNAVAILABLE, "the ingest pipeline did not do it; see the server's log")
        .into_response()
}
