//! The clock of the drivers' sans-IO cores: milliseconds since the task started, and a sleep
//! until the core's next deadline.

/// Milliseconds since `start`: the sans-IO core's clock.
pub(crate) fn millis(start: tokio::time::Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// When the core's time `ms` falls, for a core started at `start`.
pub(crate) fn instant(start: tokio::time::Instant, ms: u64) -> tokio::time::Instant {
    start + std::time::Duration::from_millis(ms)
}

/// Sleeps until `deadline`; never, for `None`.
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
