//! The pages: login and logout, the device list, a device.

use std::fmt::Write;
use std::time::Instant;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use telemetra_core::{DeviceId, Unit, Value};

use super::Dashboard;
use super::auth::{Session, cookie, same_token, token};
use super::html::{escape, page, time, value};
use crate::ingest::Operator;
use crate::store::{DeviceFilter, Presence, Store, StoreError};

const SESSION: &str = "tm_session";
const LOGIN: &str = "tm_login";

impl<S: Store> Dashboard<S> {
    /// The session a request's cookie names, with its token.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let id = cookie(cookies, SESSION)?;
        Some((id.to_string(), self.inner.sessions.get(id)?))
    }

    fn set_cookie(&self, name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
        let secure = if self.inner.config.secure_cookies { "; Secure" } else { "" };
        let text =
            format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// What a page answers when the store failed: logged, not shown.
pub(crate) fn store_failed(e: StoreError) -> Response {
    tracing::warn!("dashboard: store: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "the store failed; see the server's log").into_response()
}

fn login_page<S: Store>(d: &Dashboard<S>, status: StatusCode, message: &str) -> Response {
    let csrf = token();
    let error = if message.is_empty() {
        String::new()
    } else {
        format!("<p class=\"error\" id=\"error\">{}</p>", escape(message))
    };
    let body = format!(
        "{error}<form method=\"post\" action=\"/login\" id=\"login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" required></label></p>\
         <p><label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label></p>\
         <p><button id=\"submit\">Log in</button></p></form>"
    );
    let cookie = d.set_cookie(LOGIN, &csrf, "/login", 600);
    (status, [(header::SET_COOKIE, cookie)], Html(page("Log in", None, &body))).into_response()
}

pub(crate) async fn login_form<S: Store>(State(d): State<Dashboard<S>>) -> Response {
    login_page(&d, StatusCode::OK, "")
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn login<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).and_then(|c| cookie(c, LOGIN));
    if !expected.is_some_and(|t| !form.csrf.is_empty() && same_token(t, &form.csrf)) {
        return login_page(&d, StatusCode::FORBIDDEN, "The form had expired: log in again.");
    }
    if let Some(wait) = d.inner.throttle.wait(&form.user, Instant::now()) {
        tracing::warn!(user = %form.user.escape_debug(), "dashboard: login refused unchecked: too many failures");
        let message = format!("Too many failed logins: try again in {} s.", wait.as_secs().max(1));
        return login_page(&d, StatusCode::TOO_MANY_REQUESTS, &message);
    }
    let (users, user, password) = (d.inner.users.clone(), form.user.clone(), form.password);
    let ok = tokio::task::spawn_blocking(move || users.verify(&user, &password)).await.unwrap_or(false);
    if !ok {
        d.inner.throttle.failed(&form.user, Instant::now());
        tracing::info!(user = %form.user.escape_debug(), "dashboard: login refused");
        return login_page(&d, StatusCode::UNAUTHORIZED, "Wrong user or password.");
    }
    d.inner.throttle.succeeded(&form.user);
    let ttl = d.inner.config.session_ttl;
    let id = d.inner.sessions.open(&form.user, ttl);
    tracing::info!(user = %form.user.escape_debug(), "dashboard: logged in");
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, d.set_cookie(SESSION, &id, "/", ttl.as_secs()));
    headers.append(header::SET_COOKIE, d.set_cookie(LOGIN, "", "/login", 0));
    response
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Whether an action's CSRF token is its session's (a refusal is logged).
pub(crate) fn csrf_ok(session: &Session, sent: &str) -> bool {
    let ok = !sent.is_empty() && same_token(&session.csrf, sent);
    if !ok {
        tracing::warn!(user = %session.user, "dashboard: an action without its CSRF token refused");
    }
    ok
}

/// The answer to an action whose CSRF token is missing or wrong.
pub(crate) fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, "refused: the form's CSRF token is missing or wrong").into_response()
}

/// What an action that acts through the pipeline checks first: a session, its CSRF token,
/// and a pipeline to act through; else the answer to give.
pub(crate) fn acting<'a, S: Store>(
    d: &'a Dashboard<S>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Session, &'a Operator), Box<Response>> {
    let Some((_, session)) = d.session(headers) else {
        return Err(Box::new(Redirect::to("/login").into_response()));
    };
    if !csrf_ok(&session, csrf) {
        return Err(Box::new(csrf_refused()));
    }
    let read_only = "this dashboard only shows: it was given no pipeline to act through";
    d.inner
        .operator
        .as_ref()
        .map(|o| (session, o))
        .ok_or_else(|| Box::new((StatusCode::CONFLICT, read_only).into_response()))
}

pub(crate) async fn logout<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some((id, session)) = d.session(&headers) else { return Redirect::to("/login").into_response() };
    if !csrf_ok(&session, &form.csrf) {
        return csrf_refused();
    }
    d.inner.sessions.close(&id);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, d.set_cookie(SESSION, "", "/", 0));
    response
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: usize,
}

pub(crate) async fn devices<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some((_, session)) = d.session(&headers) else { return Redirect::to("/login").into_response() };
    let size = d.inner.config.page_size.clamp(1, 1_000);
    let mut filter = DeviceFilter::new(d.heard_since());
    filter.text = query.q.clone();
    filter.presence = Presence::ALL.into_iter().find(|p| p.word() == query.status);
    let offset = query.page.saturating_mul(size) as u64;
    let mut listed = match d.inner.store.device_page(filter.clone(), offset, size as u32).await {
        Ok(page) => page,
        Err(e) => return store_failed(e),
    };
    let pages = (listed.matching.div_ceil(size as u64)).max(1) as usize;
    let current = query.page.min(pages - 1);
    if current != query.page {
        // Past the last page: the last page.
        listed = match d.inner.store.device_page(filter, (current * size) as u64, size as u32).await {
            Ok(page) => page,
            Err(e) => return store_failed(e),
        };
    }
    let [online, offline, lost] = listed.counts;
    let mut body = format!(
        "<p id=\"summary\">{} devices: <span class=\"online\">{online} online</span>, \
         <span class=\"offline\">{offline} offline</span>, <span class=\"lost\">{lost} lost</span></p>\
         <form class=\"filter\" method=\"get\" action=\"/\"><input name=\"q\" id=\"q\" placeholder=\"id or model\" value=\"{}\"> \
         <select name=\"status\" id=\"status-filter\">",
        listed.total(),
        escape(&query.q)
    );
    for option in ["", "online", "offline", "lost"] {
        let selected = if option == query.status { " selected" } else { "" };
        let label = if option.is_empty() { "any status" } else { option };
        let _ = write!(body, "<option value=\"{option}\"{selected}>{label}</option>");
    }
    body.push_str(
        "</select> <button>Filter</button></form><table id=\"devices\"><thead><tr><th>Device</th>\
         <th>Model</th><th>Status</th><th>Last seen (UTC)</th></tr></thead><tbody>",
    );
    let heard_since = d.heard_since();
    for row in &listed.rows {
        let seen = row.last_seen.map(time).unwrap_or_default();
        let model = row.info.as_ref().map_or("", |i| i.model.as_str());
        let _ = write!(
            body,
            "<tr id=\"device-{id}\"><td><a href=\"/devices/{id}\">{id}</a></td><td>{}</td>\
             <td class=\"{w}\">{w}</td><td>{seen}</td></tr>",
            escape(model),
            id = row.device,
            w = Presence::of(row, heard_since).word(),
        );
    }
    body.push_str("</tbody></table><nav>");
    let link = |p: usize| {
        let q: String = query
            .q
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        format!("/?q={q}&amp;status={}&amp;page={p}", escape(&query.status))
    };
    if current > 0 {
        let _ = write!(body, "<a id=\"previous\" href=\"{}\">previous</a>", link(current - 1));
    }
    let _ = write!(body, "<span>page {} of {pages}</span>", current + 1);
    if current + 1 < pages {
        let _ = write!(body, " <a id=\"next\" href=\"{}\">next</a>", link(current + 1));
    }
    body.push_str("</nav>");
    Html(page("Devices", Some(&session.csrf), &body)).into_response()
}

/// A device id from its hex form in a path.
pub(crate) fn device_id(text: &str) -> Option<DeviceId> {
    u64::from_str_radix(text, 16).ok().map(DeviceId)
}

#[derive(Deserialize)]
pub(crate) struct DeviceQuery {
    /// The charts' range in seconds (one of the buttons'); 1 hour unless given.
    #[serde(default)]
    range: Option<u64>,
}

pub(crate) async fn device<S: Store>(
    State(d): State<Dashboard<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<DeviceQuery>,
) -> Response {
    let Some((_, session)) = d.session(&headers) else { return Redirect::to("/login").into_response() };
    let Some(device) = device_id(&id) else {
        return (StatusCode::NOT_FOUND, "no such device").into_response();
    };
    let row = match d.inner.store.device(device).await {
        Ok(Some(row)) => row,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such device").into_response(),
        Err(e) => return store_failed(e),
    };
    let latest = match d.inner.store.latest(device).await {
        Ok(latest) => latest,
        Err(e) => return store_failed(e),
    };
    let status = Presence::of(&row, d.heard_since());
    let info = row.info.as_ref();
    let mut body = format!(
        "<p>Model <b>{}</b>, firmware {}. Status <span id=\"status\" class=\"{w}\">{w}</span>, \
         last seen <span id=\"last-seen\">{}</span> UTC.</p>\
         <table id=\"channels\"><thead><tr><th>Channel</th><th>Quantity</th><th>Latest</th><th>At (UTC)</th></tr></thead><tbody>",
        escape(info.map_or("unknown", |i| i.model.as_str())),
        info.map(|i| i.firmware.to_string()).unwrap_or_default(),
        row.last_seen.map(time).unwrap_or_default(),
        w = status.word(),
    );
    for l in &latest {
        let spec = info.and_then(|i| i.channel(l.channel));
        let (name, quantity, unit) = spec
            .map_or((format!("channel {}", l.channel.0), String::new(), Unit::None), |s| {
                (s.name.to_string(), format!("{:?}", s.quantity), s.unit)
            });
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"value\" id=\"value-{c}\" data-unit=\"{}\">{}</td>\
             <td id=\"at-{c}\">{}</td></tr>",
            escape(&name),
            escape(&quantity),
            escape(unit.symbol()),
            escape(&value(&l.value, unit)),
            time(l.at),
            c = l.channel.0,
        );
    }
    body.push_str("</tbody></table>");
    let numeric: Vec<(u16, String, String)> = latest
        .iter()
        .filter(|l| l.value.as_f64().is_some() && !matches!(l.value, Value::Bool(_)))
        .map(|l| {
            let spec = info.and_then(|i| i.channel(l.channel));
            let name = spec.map_or(format!("channel {}", l.channel.0), |s| s.name.to_string());
            (l.channel.0, name, spec.map_or("", |s| s.unit.symbol()).to_string())
        })
        .collect();
    let commands = match d.inner.store.commands(device).await {
        Ok(c) => c,
        Err(e) => return store_failed(e),
    };
    let csrf = d.inner.operator.as_ref().map(|_| session.csrf.as_str());
    super::commands::section(&mut body, &device.to_string(), &commands, csrf);
    let _ = write!(body, "<script>{}</script>", LIVE_SCRIPT.replace("DEVICE", &device.to_string()));
    super::charts::section(&mut body, &device.to_string(), &numeric, query.range);
    Html(page(&format!("Device {device}"), Some(&session.csrf), &body)).into_response()
}

/// Keeps the page's values and status current from `/devices/{id}/live`.
const LIVE_SCRIPT: &str = "const live=new EventSource('/devices/DEVICE/live');\
live.onmessage=(m)=>{const d=JSON.parse(m.data);\
const s=document.getElementById('status');s.textContent=d.status;s.className=d.status;\
document.getElementById('last-seen').textContent=d.last_seen;\
for(const c of d.channels){const v=document.getElementById('value-'+c.id);\
if(v){v.textContent=c.value;document.getElementById('at-'+c.id).textContent=c.at;}else{location.reload();}}\
const tb=document.querySelector('#commands tbody');\
if(tb){tb.replaceChildren(...d.commands.map(c=>{const tr=document.createElement('tr');tr.id='command-'+c[0];\
c.forEach((t,i)=>{const td=document.createElement('td');td.textContent=t;if(i==4)td.className='ack';tr.appendChild(td);});\
return tr;}));}\
if(typeof redraw==='function')redraw(false);};";
