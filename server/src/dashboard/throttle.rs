//! Password guessing slowed down: after [`FREE`] failed logins in a row under one user name,
//! each further attempt under it must wait, the wait doubling from 1 s up to 15 minutes; a
//! login that succeeds resets it. A refused attempt is not checked at all, so the password's
//! hash costs nothing to an attacker's flood and a right guess during a wait still fails.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins in a row allowed before waits begin.
pub(crate) const FREE: u32 = 5;

/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(900);

/// The most user names remembered (names tried are attacker-chosen: the memory is bounded).
const NAMES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// Per user name: failures in a row, and when the next attempt may come.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// How long `user` must still wait before an attempt is checked; `None`: now.
    pub fn wait(&self, user: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (_, next) = failures.get(user)?;
        (*next > now).then(|| *next - now)
    }

    /// Records a failed attempt of `user` at `now`.
    pub fn failed(&self, user: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= NAMES && !failures.contains_key(user) {
            // Forget those that may try again anyway (their count restarts, their wait is over).
            failures.retain(|_, (_, next)| *next > now);
            if failures.len() >= NAMES {
                return;
            }
        }
        let (count, next) = failures.entry(user.to_string()).or_insert((0, now));
        *count += 1;
        *next = now + delay(*count);
    }

    /// Records that `user` logged in: no wait.
    pub fn succeeded(&self, user: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(user);
    }
}

/// The wait after `failures` failed attempts in a row.
fn delay(failures: u32) -> Duration {
    match failures.checked_sub(FREE) {
        None | Some(0) => Duration::ZERO,
        Some(n) => Duration::from_secs(1u64 << (n - 1).min(10)).min(MAX_WAIT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_begin_after_the_free_failures_double_and_reset_on_success() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..FREE {
            assert_eq!(t.wait("ops", now), None);
            t.failed("ops", now);
        }
        assert_eq!(t.wait("ops", now), None, "the free attempts cost no wait");
        t.failed("ops", now);
        assert_eq!(t.wait("ops", now), Some(Duration::from_secs(1)));
        assert_eq!(t.wait("other", now), None, "per user name");
        let later = now + Duration::from_secs(1);
        assert_eq!(t.wait("ops", later), None);
        t.failed("ops", later);
        assert_eq!(t.wait("ops", later), Some(Duration::from_secs(2)));
        assert_eq!(delay(FREE + 20), MAX_WAIT);
        t.succeeded("ops");
        assert_eq!(t.wait("ops", later), None);
    }

    #[test]
    fn memory_is_bounded_under_a_flood_of_names() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..NAMES + 100 {
            t.failed(&format!("user{i}"), now);
        }
        assert!(t.failures.lock().unwrap().len() <= NAMES);
    }
}
