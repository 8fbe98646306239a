//! A live web dashboard over a [`Store`]: the devices with their status and last seen, each
//! device's latest values pushed to the page by server-sent events as they are stored, charts
//! of its channels over selectable ranges (downsampled by the store, drawn by the vendored
//! uPlot), the alarms as they stand with acknowledge and clear, commands sent by hand with
//! their acknowledgements, and the rule set in effect, behind a login.
//!
//! Acknowledging, clearing and sending commands go through a running pipeline's
//! [`Operator`] ([`with_operator`](Dashboard::with_operator)), so that the rule
//! engine hears of them; without one the dashboard only shows.
//!
//! It is an axum [`Router`] ([`Dashboard::router`]) that an application mounts
//! next to its own routes, or serves alone ([`Dashboard::serve`]). Pages are rendered on the
//! server, with a few lines of plain script for the live values: no JavaScript toolchain.
//!
//! Secure by default: every page but the login needs a session (an `HttpOnly`,
//! `SameSite=Strict` cookie, `Secure` unless [`DashboardConfig::secure_cookies`] is off);
//! passwords are kept as argon2 hashes ([`Users`]); after 5 failed logins in a row under one
//! name, each further attempt waits (1 s, doubling up to 15 minutes); every form carries a
//! CSRF token, checked before anything is done; serve it on loopback unless a TLS-terminating proxy fronts it.
//!
//! A device's status is what people expect to see ([`Presence`](crate::store::Presence)):
//! **online** while its last status (birth) says so and it was heard within
//! [`DashboardConfig::silence`]; **offline** after its goodbye, or once silent that long;
//! **lost** when its broker published its last will (or the server marked it lost). The list
//! reads one page of devices from the store at a time
//! ([`device_page`](crate::store::Store::device_page)).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use telemetra_server::dashboard::{Dashboard, DashboardConfig, Users};
//! use telemetra_server::store::SqliteStore;
//!
//! let store = Arc::new(SqliteStore::open("telemetry.db")?);
//! let mut users = Users::new();
//! users.add("ops", "a long passphrase")?;
//! let dashboard = Dashboard::new(store, users, DashboardConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! dashboard.serve(listener).await?;
//! # Ok(()) }
//! ```

mod alarms;
mod assets;
mod auth;
mod charts;
mod commands;
mod html;
mod live;
mod pages;
mod rules;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use telemetra_core::{Rule, Timestamp};

pub use auth::{HashError, Users, hash_password};

use crate::ingest::{Changes, Clock, Operator, SystemClock};
use crate::store::Store;

/// How the dashboard behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DashboardConfig {
    /// A device not heard from this long is shown offline: 5 minutes (the ingest pipeline's
    /// silence; keep the two equal).
    pub silence: Duration,
    /// How long a login lasts: 12 hours.
    pub session_ttl: Duration,
    /// Whether the session cookie is `Secure` (sent over HTTPS only; browsers also send it to
    /// `http://localhost` and `127.0.0.1`): true.
    pub secure_cookies: bool,
    /// Devices per page of the list: 50.
    pub page_size: usize,
    /// How often a live page's values are looked up in the store when no pipeline announces
    /// changes ([`Dashboard::with_changes`]): 250 ms.
    pub refresh: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            silence: Duration::from_secs(300),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: true,
            page_size: 50,
            refresh: Duration::from_millis(250),
        }
    }
}

/// The dashboard over a store: cheap to clone (one shared state).
pub struct Dashboard<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Dashboard<S> {
    fn clone(&self) -> Self {
        Dashboard { inner: self.inner.clone() }
    }
}

impl<S> core::fmt::Debug for Dashboard<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dashboard").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

struct Inner<S> {
    store: Arc<S>,
    users: Users,
    sessions: auth::Sessions,
    throttle: throttle::Throttle,
    config: DashboardConfig,
    clock: Arc<dyn Clock>,
    operator: Option<Operator>,
    changes: Option<Changes>,
    rules: Vec<Rule>,
}

impl<S: Store> Dashboard<S> {
    /// A dashboard showing `store` to `users`.
    pub fn new(store: Arc<S>, users: Users, config: DashboardConfig) -> Dashboard<S> {
        let inner = Inner {
            store,
            users,
            sessions: auth::Sessions::default(),
            throttle: throttle::Throttle::default(),
            config,
            clock: Arc::new(SystemClock),
            operator: None,
            changes: None,
            rules: Vec::new(),
        };
        Dashboard { inner: Arc::new(inner) }
    }

    /// Changes the set-up: on this copy alone if others share it (they keep theirs, and their
    /// sessions).
    fn edit(self, f: impl FnOnce(&mut Inner<S>)) -> Dashboard<S> {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            store: shared.store.clone(),
            users: shared.users.clone(),
            sessions: auth::Sessions::default(),
            throttle: throttle::Throttle::default(),
            config: shared.config.clone(),
            clock: shared.clock.clone(),
            operator: shared.operator.clone(),
            changes: shared.changes.clone(),
            rules: shared.rules.clone(),
        });
        f(&mut inner);
        Dashboard { inner: Arc::new(inner) }
    }

    /// The dashboard judging silence on `clock`'s time (the pipeline's, in a simulation).
    /// Call it before serving: a copy already serving keeps its clock and its sessions.
    pub fn with_clock(self, clock: impl Clock) -> Dashboard<S> {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.edit(|inner| inner.clock = clock)
    }

    /// The dashboard acting through a running pipeline: the alarm list offers acknowledge and
    /// clear, a device page a command form. Call it before serving.
    pub fn with_operator(self, operator: Operator) -> Dashboard<S> {
        self.edit(|inner| inner.operator = Some(operator))
    }

    /// The dashboard's live pages pushed as the pipeline stores a change of their device,
    /// instead of looking at the store every [`DashboardConfig::refresh`]. Call it before
    /// serving.
    pub fn with_changes(self, changes: Changes) -> Dashboard<S> {
        self.edit(|inner| inner.changes = Some(changes))
    }

    /// The rule set the pipeline runs, shown at `/rules`. Call it before serving.
    pub fn with_rules(self, rules: Vec<Rule>) -> Dashboard<S> {
        self.edit(|inner| inner.rules = rules)
    }

    /// Its routes: `/login`, `/logout`, `/` (the devices), `/devices/{id}` with its live values
    /// (`/devices/{id}/live`), series (`/devices/{id}/series`) and commands
    /// (`/devices/{id}/command`), `/alarms` with `/alarms/acknowledge` and `/alarms/clear`,
    /// `/rules`, and the chart library under `/assets/`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/login", get(pages::login_form::<S>).post(pages::login::<S>))
            .route("/logout", post(pages::logout::<S>))
            .route("/", get(pages::devices::<S>))
            .route("/devices/{id}", get(pages::device::<S>))
            .route("/devices/{id}/live", get(live::device::<S>))
            .route("/devices/{id}/series", get(charts::series::<S>))
            .route("/devices/{id}/command", post(commands::send::<S>))
            .route("/alarms", get(alarms::list::<S>))
            .route("/alarms/acknowledge", post(alarms::acknowledge::<S>))
            .route("/alarms/clear", post(alarms::clear::<S>))
            .route("/rules", get(rules::list::<S>))
            .route("/assets/uplot.js", get(assets::uplot_js))
            .route("/assets/uplot.css", get(assets::uplot_css))
            .with_state(self.clone())
    }

    /// Heard at or after this counts as heard recently: now less the silence.
    pub(crate) fn heard_since(&self) -> Timestamp {
        let silence = self.inner.config.silence.as_millis() as u64;
        Timestamp(self.inner.clock.now().0.saturating_sub(silence))
    }

    /// Serves [`router`](Self::router) on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}
