//! Commands on a device page: sent by hand in the rules' command syntax, listed with when they
//! were sent and the device's acknowledgement.

use std::fmt::Write;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use telemetra_core::CommandResult;

use super::Dashboard;
use super::alarms::operator_failed;
use super::html::{escape, page, time};
use super::pages::{acting, device_id};
use crate::store::{CommandRow, Store};

/// The most recent commands a device page lists.
pub(crate) const SHOWN: usize = 10;

/// A command's columns as shown: id, command, issued, sent, acknowledgement.
pub(crate) fn cells(c: &CommandRow) -> [String; 5] {
    let ack = match c.ack.map(|a| (a.result, a.at)) {
        None if c.sent_at.is_none() => "pending".to_string(),
        None => "waiting".to_string(),
        Some((result, at)) => {
            let what = match result {
                CommandResult::Accepted => "accepted".to_string(),
                CommandResult::Completed => "completed".to_string(),
                CommandResult::Rejected(why) => format!("rejected ({why:?})"),
                CommandResult::Failed(code) => format!("failed (code {code})"),
            };
            format!("{what} at {}", time(at))
        }
    };
    [
        c.command.id.0.to_string(),
        telemetra_rules::print_command(&c.command.action),
        time(c.command.issued_at),
        c.sent_at.map(time).unwrap_or_default(),
        ack,
    ]
}

/// The commands section of a device page: the form (with an operator) and the table.
pub(crate) fn section(body: &mut String, device: &str, rows: &[CommandRow], csrf: Option<&str>) {
    body.push_str("<h2>Commands</h2>");
    if let Some(csrf) = csrf {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/devices/{device}/command\" id=\"command-form\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input name=\"command\" id=\"command\" size=\"40\" placeholder=\"set sample_period_ms = 5000\" required> \
             <button id=\"send-command\">Send</button></form>",
            escape(csrf)
        );
    }
    body.push_str(
        "<table id=\"commands\"><thead><tr><th>Id</th><th>Command</th><th>Issued (UTC)</th><th>Sent</th>\
         <th>Acknowledgement</th></tr></thead><tbody>",
    );
    for c in rows.iter().take(SHOWN) {
        let [id, action, issued, sent, ack] = cells(c).map(|t| escape(&t));
        let _ = write!(
            body,
            "<tr id=\"command-{id}\"><td>{id}</td><td>{action}</td><td>{issued}</td><td>{sent}</td>\
             <td class=\"ack\">{ack}</td></tr>"
        );
    }
    body.push_str("</tbody></table>");
}

#[derive(Deserialize)]
pub(crate) struct CommandForm {
    #[serde(default)]
    csrf: String,
    command: String,
}

pub(crate) async fn send<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CommandForm>,
) -> Response {
    let (session, operator) = match acting(&d, &headers, &form.csrf) {
        Ok(acting) => acting,
        Err(answer) => return *answer,
    };
    let Some(device) = device_id(&id) else {
        return (StatusCode::NOT_FOUND, "no such device").into_response();
    };
    let action = match telemetra_rules::parse_command(form.command.trim()) {
        Ok(action) => action,
        Err(e) => {
            let body = format!(
                "<p class=\"error\" id=\"error\">Not a command: {}</p><p>Commands are written as in a rule: \
                 <code>set key = 1</code>, <code>actuate 3 = 40</code>, <code>reboot after 5s</code>, \
                 <code>request 1, 2</code>.</p><p><a href=\"/devices/{device}\">Back to the device</a></p>",
                escape(&e.to_string())
            );
            return (StatusCode::BAD_REQUEST, Html(page("Command refused", Some(&session.csrf), &body)))
                .into_response();
        }
    };
    match operator.command(device, action).await {
        Ok(id) => {
            tracing::info!(user = %session.user, device = %device, command = id.0, "dashboard: command sent");
            Redirect::to(&format!("/devices/{device}")).into_response()
        }
        Err(e) => operator_failed(e),
    }
}
