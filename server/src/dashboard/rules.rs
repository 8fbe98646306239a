//! The rule set in effect, as rule text.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::Dashboard;
use super::html::{escape, page};
use crate::store::Store;

pub(crate) async fn list<S: Store>(State(d): State<Dashboard<S>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = d.session(&headers) else { return Redirect::to("/login").into_response() };
    let rules = &d.inner.rules;
    let body = if rules.is_empty() {
        "<p id=\"no-rules\">No rule set was given to the dashboard.</p>".to_string()
    } else {
        format!(
            "<p>{} rules, as the pipeline runs them:</p><pre id=\"rules\">{}</pre>",
            rules.len(),
            escape(&telemetra_rules::print_rules(rules))
        )
    };
    Html(page("Rules", Some(&session.csrf), &body)).into_response()
}
