//! The dashboard in a real browser (headless Chromium by WebDriver): a wrong password is
//! refused, guessing is slowed down, and the right one logs in; the device list shows a device online; a reading the
//! device sends appears on its page within a second without a reload; a device that falls
//! silent turns offline at the configured silence; an action without its CSRF token is
//! refused; logging out ends the session. Screenshots go to `target/screenshots/`.
#![cfg(feature = "dashboard")]

#[path = "support/browser.rs"]
mod browser;
#[path = "support/thermometer.rs"]
mod thermometer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use telemetra_codec::{Frame, Message};
use telemetra_core::transport::Sender;
use telemetra_core::{ChannelId, Device, DeviceId, DeviceStatus, FirmwareVersion, Reading, Route, RouteKind};
use telemetra_rules::Engine;
use telemetra_server::dashboard::{Dashboard, DashboardConfig, Users};
use telemetra_server::ingest::{Ingest, IngestConfig, now};
use telemetra_server::store::{AlarmFilter, SqliteStore, Store};
use telemetra_transports::memory::{MemoryHub, MemoryTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SILENCE: Duration = Duration::from_secs(5);

fn info() -> Device {
    thermometer::thermometer(0x2a, "greenhouse-th", FirmwareVersion::new(1, 4, 0))
}

async fn send(device: &mut MemoryTransport, kind: RouteKind, seq: u32, message: Message) {
    let bytes = Frame::new(DeviceId(0x2a), seq, message).to_vec().unwrap();
    Sender::send_acked(device, Route::new(kind, DeviceId(0x2a)), &bytes).await.unwrap();
}

async fn reading(device: &mut MemoryTransport, seq: u32, celsius: f64) {
    let r = Reading::new(ChannelId(1), now(), celsius);
    send(device, RouteKind::Readings, seq, Message::Readings([r].into_iter().collect())).await;
}

/// The text of element `#id`, or empty if it is not on the page.
async fn text(browser: &Client, id: &str) -> String {
    match browser.find(Locator::Id(id)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (at most `limit`) until `#id`'s text contains `want`; returns how long it took.
async fn until_text(browser: &Client, id: &str, want: &str, limit: Duration) -> Duration {
    until_any(browser, id, &[want], limit).await
}

/// Waits (at most `limit`) until `#id`'s text contains one of `wants`.
async fn until_any(browser: &Client, id: &str, wants: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let now = text(browser, id).await;
        if wants.iter().any(|w| now.contains(w)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "#{id} did not show {wants:?} within {limit:?}: {:?}",
            text(browser, id).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn log_in(browser: &Client, base: &str, user: &str, password: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    browser.find(Locator::Id("user")).await.unwrap().send_keys(user).await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys(password).await.unwrap();
    browser.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(browser::screenshot_dir().join(name), png).unwrap();
}

/// A raw HTTP/1.1 request; returns the status code.
async fn status_of(addr: std::net::SocketAddr, request: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_and_watches_a_device_live() {
    let driver = browser::Driver::start();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let hub = MemoryHub::new(1024);
    let mut config = IngestConfig::default();
    config.silence = SILENCE;
    let ingest = Ingest::new(store.clone(), Engine::new(Default::default()), config);
    let changes = ingest.changes();
    tokio::spawn(ingest.run(hub.connect(), std::future::pending()));
    let mut users = Users::new();
    users.add("ops", "correct horse battery").unwrap();
    users.add("guessed", "a right guess").unwrap();
    let mut config = DashboardConfig::default();
    config.silence = SILENCE;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Live pages pushed as the pipeline stores (the other test polls).
    tokio::spawn(Dashboard::new(store.clone(), users, config).with_changes(changes).serve(listener));
    let base = format!("http://{addr}");

    tokio::time::sleep(Duration::from_millis(100)).await;

    let browser = driver.browser().await;
    browser.goto(&base).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/login", "a page needs a login");
    log_in(&browser, &base, "ops", "wrong horse").await;
    until_text(&browser, "error", "Wrong user or password", Duration::from_secs(5)).await;
    screenshot(&browser, "dashboard-login-refused.png").await;
    // Guessing: 5 failures in a row are free, then the name must wait between attempts.
    for guess in 0..5 {
        log_in(&browser, &base, "guessed", &format!("guess {guess}")).await;
        until_text(&browser, "error", "Wrong user or password", Duration::from_secs(5)).await;
    }
    let mut waited = false;
    for guess in 5..20 {
        log_in(&browser, &base, "guessed", &format!("guess {guess}")).await;
        until_any(
            &browser,
            "error",
            &["Wrong user or password", "Too many failed logins"],
            Duration::from_secs(5),
        )
        .await;
        if text(&browser, "error").await.contains("Too many failed logins") {
            waited = true;
            break;
        }
    }
    assert!(waited, "guessing was never slowed down");
    log_in(&browser, &base, "ops", "correct horse battery").await;
    until_text(&browser, "summary", "0 devices", Duration::from_secs(5)).await;
    // The device speaks once the operator is in (a slow browser start must not count against
    // its silence).
    let mut device = hub.connect();
    send(&mut device, RouteKind::Status, 0, Message::Status(DeviceStatus::Online)).await;
    send(&mut device, RouteKind::Info, 1, Message::DeviceInfo(info())).await;
    reading(&mut device, 2, 21.5).await;
    browser.goto(&base).await.unwrap();
    until_text(&browser, "device-2a", "online", Duration::from_secs(5)).await;
    assert!(text(&browser, "summary").await.starts_with("1 devices"));
    screenshot(&browser, "dashboard-devices.png").await;

    browser.find(Locator::LinkText("2a")).await.unwrap().click().await.unwrap();
    until_text(&browser, "value-1", "21.5 Cel", Duration::from_secs(5)).await;
    // A mark the page would lose if it were reloaded.
    browser.execute("window.notReloaded = true;", vec![]).await.unwrap();
    let last = Instant::now();
    reading(&mut device, 3, 42.5).await;
    let took = until_text(&browser, "value-1", "42.5 Cel", Duration::from_secs(1)).await;
    let kept = browser.execute("return window.notReloaded === true;", vec![]).await.unwrap();
    assert_eq!(kept, serde_json::Value::Bool(true), "updated without a reload");
    println!("a reading reached the page in {took:?}");
    screenshot(&browser, "dashboard-device.png").await;

    // Silent from the last reading on: offline at the silence, not before.
    assert_eq!(text(&browser, "status").await, "online");
    // Offline by the dashboard's silence, or lost once the pipeline marked it so (its tick
    // comes every quarter of the same silence): either way no longer online.
    until_any(&browser, "status", &["offline", "lost"], SILENCE + Duration::from_secs(2)).await;
    let after = last.elapsed();
    assert!(after >= SILENCE, "offline too early: after {after:?}");
    println!("offline {after:?} after the last reading (silence {SILENCE:?})");

    // An action without its CSRF token, with the session's cookie: refused, session kept.
    let cookie = browser.get_named_cookie("tm_session").await.unwrap();
    let request = |body: &str| {
        format!(
            "POST /logout HTTP/1.1\r\nHost: {addr}\r\nCookie: tm_session={}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            cookie.value(),
            body.len()
        )
    };
    assert_eq!(status_of(addr, &request("")).await, 403, "no CSRF token");
    assert_eq!(status_of(addr, &request("csrf=00ff")).await, 403, "a wrong CSRF token");
    browser.goto(&base).await.unwrap();
    until_any(&browser, "device-2a", &["offline", "lost"], Duration::from_secs(5)).await;

    browser.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    until_text(&browser, "submit", "Log in", Duration::from_secs(5)).await;
    browser.goto(&base).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/login", "logged out");
    browser.close().await.unwrap();
}

const RULES: &str = r#"
rule too_hot: when temperature > 30 clear when temperature < 25
    then alert major "Greenhouse too hot"
"#;

/// Waits (at most `limit`) until `script` returns true in the page.
async fn until_true(browser: &Client, script: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if browser.execute(script, vec![]).await.unwrap() == serde_json::Value::Bool(true) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "`{script}` not true within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_handles_an_alarm_sends_a_command_and_reads_the_charts() {
    use telemetra_core::transport::Receiver;
    use telemetra_core::{AlertState, CommandAck, CommandResult, RouteFilter};

    let driver = browser::Driver::start();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let hub = MemoryHub::new(4096);
    let rules = telemetra_rules::parse(RULES).unwrap();
    let mut engine = Engine::new(Default::default());
    engine.load(rules.clone()).unwrap();
    let mut ingest = Ingest::new(store.clone(), engine, IngestConfig::default());
    let operator = ingest.operator();
    let stats = ingest.stats();
    tokio::spawn(ingest.run(hub.connect(), std::future::pending()));
    let mut users = Users::new();
    users.add("ops", "correct horse battery").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dashboard = Dashboard::new(store.clone(), users, DashboardConfig::default())
        .with_operator(operator.clone())
        .with_rules(rules);
    tokio::spawn(dashboard.serve(listener));
    let base = format!("http://{addr}");

    // The device: half an hour of history (a chart to draw), then too hot now: the rule
    // raises its alarm. It obeys and acknowledges every command it is sent.
    let mut device = hub.connect();
    Receiver::subscribe(&mut device, RouteFilter::exact(Route::new(RouteKind::Commands, DeviceId(0x2a))))
        .await
        .unwrap();
    send(&mut device, RouteKind::Info, 1, Message::DeviceInfo(info())).await;
    let start = now().0 - 30 * 60_000;
    let history: Vec<Reading> = (0..30u64)
        .map(|m| {
            Reading::new(ChannelId(1), telemetra_core::Timestamp(start + m * 60_000), 20.0 + (m % 7) as f64)
        })
        .collect();
    for (k, chunk) in history.chunks(10).enumerate() {
        send(
            &mut device,
            RouteKind::Readings,
            2 + k as u32,
            Message::Readings(chunk.iter().cloned().collect()),
        )
        .await;
    }
    reading(&mut device, 10, 31.5).await;
    let (mut tx, mut rx) = telemetra_core::Transport::split(device);
    let obeyed = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut seq = 100;
        loop {
            let d = Receiver::receive(&mut rx, &mut buf).await.unwrap();
            let Message::Command(c) = Frame::decode(&buf[..d.len]).unwrap().message else { continue };
            let ack = CommandAck { command: c.id, at: now(), result: CommandResult::Completed };
            let bytes = Frame::new(DeviceId(0x2a), seq, Message::Ack(ack)).to_vec().unwrap();
            Sender::send_acked(&mut tx, Route::new(RouteKind::Acks, DeviceId(0x2a)), &bytes).await.unwrap();
            seq += 1;
        }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.get().alerts == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the rule raised no alarm");

    let browser = driver.browser().await;
    log_in(&browser, &base, "ops", "correct horse battery").await;
    until_text(&browser, "summary", "1 devices", Duration::from_secs(5)).await;

    // The alarm, raised; acknowledged from the page: recorded, and the engine knows.
    click(&browser, "#nav-alarms").await;
    until_text(&browser, "alarm-2a-too_hot", "raised", Duration::from_secs(5)).await;
    assert!(text(&browser, "alarm-2a-too_hot").await.contains("Greenhouse too hot"));
    screenshot(&browser, "dashboard-alarms.png").await;
    click(&browser, "#alarm-2a-too_hot button.acknowledge").await;
    until_text(&browser, "flash", "acknowledged", Duration::from_secs(5)).await;
    assert!(text(&browser, "alarm-2a-too_hot").await.contains("acknowledged"));
    assert_eq!(store.alarms(AlarmFilter::Any, 10).await.unwrap()[0].state, AlertState::Acknowledged);
    assert!(
        !operator.acknowledge(DeviceId(0x2a), "too_hot").await.unwrap(),
        "the engine holds the alarm as acknowledged"
    );
    assert!(browser.find(Locator::Css("#alarm-2a-too_hot button.acknowledge")).await.is_err());

    // An action without its CSRF token: refused, nothing changed.
    let cookie = browser.get_named_cookie("tm_session").await.unwrap();
    let body = "device=2a&rule=too_hot";
    let request = format!(
        "POST /alarms/clear HTTP/1.1\r\nHost: {addr}\r\nCookie: tm_session={}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        cookie.value(),
        body.len()
    );
    assert_eq!(status_of(addr, &request).await, 403);
    assert_eq!(store.alarms(AlarmFilter::Any, 10).await.unwrap()[0].state, AlertState::Acknowledged);

    // Cleared from the page.
    click(&browser, "#alarm-2a-too_hot button.clear").await;
    until_text(&browser, "flash", "cleared", Duration::from_secs(5)).await;
    assert_eq!(store.alarms(AlarmFilter::Any, 10).await.unwrap()[0].state, AlertState::Cleared);
    assert!(text(&browser, "no-alarms").await.contains("No alarm"), "none active");

    // The device page: its chart drawn from the store's buckets.
    browser.goto(&format!("{base}/devices/2a")).await.unwrap();
    until_true(
        &browser,
        "const c=document.getElementById('chart-1');return !!c && +c.dataset.points>=30;",
        Duration::from_secs(5),
    )
    .await;
    assert!(browser.find(Locator::Css("#chart-1 canvas")).await.is_ok(), "uPlot drew on a canvas");
    screenshot(&browser, "dashboard-device-chart.png").await;

    // A command typed in rule syntax: sent, and its acknowledgement shows without a reload.
    browser.execute("window.notReloaded = true;", vec![]).await.unwrap();
    browser.find(Locator::Id("command")).await.unwrap().send_keys("set cooling = 1").await.unwrap();
    click(&browser, "#send-command").await;
    until_text(&browser, "commands", "set cooling = 1", Duration::from_secs(5)).await;
    until_text(&browser, "commands", "completed", Duration::from_secs(5)).await;
    let commands = store.commands(DeviceId(0x2a)).await.unwrap();
    assert_eq!(commands[0].ack.map(|a| a.result), Some(CommandResult::Completed));
    screenshot(&browser, "dashboard-command.png").await;
    // A command that does not parse: refused with the parser's word, nothing sent.
    browser.find(Locator::Id("command")).await.unwrap().send_keys("explode now").await.unwrap();
    click(&browser, "#send-command").await;
    until_text(&browser, "error", "Not a command", Duration::from_secs(5)).await;
    assert_eq!(store.commands(DeviceId(0x2a)).await.unwrap().len(), 1);

    // The rule set in effect.
    click(&browser, "#nav-rules").await;
    until_text(&browser, "rules", "rule too_hot", Duration::from_secs(5)).await;
    screenshot(&browser, "dashboard-rules.png").await;
    browser.close().await.unwrap();
    obeyed.abort();
}

/// A number the page's script returns.
async fn number(browser: &Client, script: &str) -> f64 {
    browser
        .execute(script, vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap_or_else(|| panic!("`{script}`: not a number"))
}

/// What the browser's navigation timing says of the page just loaded: (request to last byte,
/// to DOM content loaded), in ms since navigation start.
async fn navigation(browser: &Client) -> (f64, f64) {
    let entry = "performance.getEntriesByType('navigation')[0]";
    (
        number(browser, &format!("return {entry}.responseEnd;")).await,
        number(browser, &format!("return {entry}.domContentLoadedEventEnd;")).await,
    )
}

/// The scale the issue names: a list of 10,000 devices and a year of 100,000 readings drawn,
/// right, and how long each took to first render (printed for benches/README.md, never
/// asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_devices_and_a_year_of_readings_render() {
    use telemetra_core::Timestamp;
    const DEVICES: u64 = 10_000;
    const READINGS: u64 = 100_000;
    let driver = browser::Driver::start();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let seeded = Instant::now();
    let mut frames = Vec::new();
    for id in 1..=DEVICES {
        let info = thermometer::thermometer(id, &format!("th-{}", id % 7), FirmwareVersion::new(1, 0, 0));
        frames.push(Frame::new(DeviceId(id), 1, Message::DeviceInfo(info)));
        frames.push(Frame::new(DeviceId(id), 0, Message::Status(DeviceStatus::Online)));
    }
    store.put(frames.into(), now()).await.unwrap();
    let year = 365 * 86_400_000u64;
    let end = now().0;
    let step = year / READINGS;
    let readings: Vec<Reading> = (0..READINGS)
        .map(|k| {
            let at = end - year + k * step;
            Reading::new(ChannelId(1), Timestamp(at), 15.0 + 10.0 * ((k as f64) / 2_000.0).sin())
        })
        .collect();
    let frames: Vec<Frame> = readings
        .chunks(16)
        .zip(2u32..)
        .map(|(c, seq)| Frame::new(DeviceId(1), seq, Message::Readings(c.iter().cloned().collect())))
        .collect();
    store.put(frames.into(), now()).await.unwrap();
    println!("seeded {DEVICES} devices and {READINGS} readings in {:?}", seeded.elapsed());
    let buckets = store
        .series(DeviceId(1), ChannelId(1), Timestamp(end - year), Timestamp(end + 1), 600)
        .await
        .unwrap();
    assert!(buckets.len() <= 600 && buckets.len() > 500, "{} buckets", buckets.len());
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), READINGS);

    let mut users = Users::new();
    users.add("ops", "correct horse battery").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Dashboard::new(store.clone(), users, DashboardConfig::default()).serve(listener));
    let base = format!("http://{addr}");
    let browser = driver.browser().await;
    log_in(&browser, &base, "ops", "correct horse battery").await;
    until_text(&browser, "summary", "10000 devices", Duration::from_secs(20)).await;

    let mut list = Vec::new();
    for _ in 0..5 {
        browser.goto(&base).await.unwrap();
        list.push(navigation(&browser).await);
    }
    assert!(text(&browser, "summary").await.contains("10000 online"));
    let rows = browser.find_all(Locator::Css("#devices tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 50);
    assert!(
        browser.find(Locator::Css("nav span")).await.unwrap().text().await.unwrap().contains("page 1 of 200")
    );
    browser.goto(&format!("{base}/?q=270f")).await.unwrap();
    assert_eq!(
        browser.find_all(Locator::Css("#devices tbody tr")).await.unwrap().len(),
        1,
        "device 0x270f alone"
    );
    screenshot(&browser, "dashboard-devices-10000.png").await;

    let mut chart = Vec::new();
    for _ in 0..5 {
        browser.goto(&format!("{base}/devices/1?range=31536000")).await.unwrap();
        until_true(
            &browser,
            "const c=document.getElementById('chart-1');return !!c && +c.dataset.points>500;",
            Duration::from_secs(20),
        )
        .await;
        let drawn = number(&browser, "return +document.getElementById('chart-1').dataset.drawnMs;").await;
        chart.push((navigation(&browser).await.0, drawn));
    }
    screenshot(&browser, "dashboard-chart-year.png").await;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "device list of {DEVICES} (page of 50): response {:.0} ms, DOM ready {:.0} ms (median of 5)",
        median(list.iter().map(|l| l.0).collect()),
        median(list.iter().map(|l| l.1).collect())
    );
    println!(
        "chart of {READINGS} readings over a year ({} buckets): page {:.0} ms, chart drawn {:.0} ms (median of 5)",
        buckets.len(),
        median(chart.iter().map(|c| c.0).collect()),
        median(chart.iter().map(|c| c.1).collect())
    );
    browser.close().await.unwrap();
}
