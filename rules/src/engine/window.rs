//! Sample windows with a fixed capacity, and the aggregates over them.

use telemetra_core::rule::{Aggregate, Window};

use super::Real;
use super::ring::Ring;

/// The samples of one windowed operation: at most its declared capacity, allocated as they
/// come (a 5-minute window of 10-second readings holds 30 samples, not the 64 it may hold).
#[derive(Debug, Clone)]
pub(crate) struct Samples<R> {
    window: Window,
    buf: Ring<(u64, R)>,
}

impl<R: Real> Samples<R> {
    pub(crate) fn new(window: Window) -> Self {
        Samples { window, buf: Ring::new(capacity(window)) }
    }

    /// Adds a sample; returns true if a time window was truncated: its oldest sample, still
    /// inside the span, had to be dropped to make room (a count window drops its oldest by
    /// definition, which is not reported).
    pub(crate) fn push(&mut self, at: u64, value: R) -> bool {
        self.expire(at);
        self.buf.push((at, value)) && matches!(self.window, Window::Time { .. })
    }

    /// The oldest sample.
    pub(crate) fn oldest(&self) -> Option<(u64, R)> {
        self.buf.front()
    }

    /// Drops samples that have left a time window at `now`.
    pub(crate) fn expire(&mut self, now: u64) {
        if let Window::Time { span_ms, .. } = self.window {
            let horizon = now.saturating_sub(u64::from(span_ms));
            while self.buf.front().is_some_and(|(t, _)| t <= horizon && now >= u64::from(span_ms)) {
                self.buf.pop_front();
            }
        }
    }

    pub(crate) fn aggregate(&self, func: Aggregate) -> R {
        let values = self.buf.iter().map(|(_, v)| v);
        let n = R::from_u64(self.buf.len() as u64);
        match func {
            Aggregate::Count => n,
            Aggregate::Sum => sum(values),
            _ if self.buf.is_empty() => R::NAN,
            Aggregate::Avg => sum(values) / n,
            Aggregate::Min => values.fold(R::INFINITY, R::min),
            Aggregate::Max => values.fold(R::NEG_INFINITY, R::max),
            Aggregate::First => self.buf.front().map_or(R::NAN, |s| s.1),
            Aggregate::Last => self.buf.back().map_or(R::NAN, |s| s.1),
            Aggregate::Delta => {
                self.buf.back().map_or(R::NAN, |s| s.1) - self.buf.front().map_or(R::NAN, |s| s.1)
            }
            Aggregate::StdDev => {
                let mean = sum(values.clone()) / n;
                let var = sum(values.map(|v| (v - mean) * (v - mean))) / n;
                var.sqrt()
            }
        }
    }

    /// Change per second from the oldest to the newest sample; NaN with fewer than two samples
    /// or no time between them.
    pub(crate) fn rate(&self) -> R {
        match (self.buf.front(), self.buf.back()) {
            (Some((t0, v0)), Some((t1, v1))) if t1 > t0 => {
                (v1 - v0) / (R::from_u64(t1 - t0) / R::from_u64(1000))
            }
            _ => R::NAN,
        }
    }
}

/// As `Iterator::sum` of floats: from -0.0, so that an empty sum is -0.0.
fn sum<R: Real>(values: impl Iterator<Item = R>) -> R {
    values.fold(-R::ZERO, |a, v| a + v)
}

/// How many samples a window holds at most.
pub(crate) fn capacity(window: Window) -> usize {
    match window {
        Window::Time { max_samples, .. } => usize::from(max_samples),
        Window::Count(n) => usize::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The aggregate computed the slow, obvious way over the samples the window should hold.
    fn naive(samples: &[(u64, f64)], window: Window, now: u64, func: Aggregate) -> f64 {
        let kept: Vec<f64> = match window {
            Window::Count(n) => samples.iter().rev().take(usize::from(n)).rev().map(|s| s.1).collect(),
            Window::Time { span_ms, max_samples } => {
                let recent: Vec<_> = samples.iter().rev().take(usize::from(max_samples)).rev().collect();
                recent
                    .into_iter()
                    .filter(|(t, _)| now < u64::from(span_ms) || *t > now - u64::from(span_ms))
                    .map(|s| s.1)
                    .collect()
            }
        };
        let n = kept.len() as f64;
        match func {
            Aggregate::Count => n,
            Aggregate::Sum => kept.iter().sum(),
            _ if kept.is_empty() => f64::NAN,
            Aggregate::Avg => kept.iter().sum::<f64>() / n,
            Aggregate::Min => kept.iter().cloned().fold(f64::INFINITY, f64::min),
            Aggregate::Max => kept.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            Aggregate::First => kept[0],
            Aggregate::Last => kept[kept.len() - 1],
            Aggregate::Delta => kept[kept.len() - 1] - kept[0],
            Aggregate::StdDev => {
                let mean = kept.iter().sum::<f64>() / n;
                (kept.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
            }
        }
    }

    fn window() -> impl Strategy<Value = Window> {
        prop_oneof![
            (1u32..5_000, 1u16..40).prop_map(|(span_ms, max_samples)| Window::Time { span_ms, max_samples }),
            (1u16..40).prop_map(Window::Count),
        ]
    }

    proptest! {
        #[test]
        fn aggregates_equal_a_naive_recomputation(
            window in window(),
            steps in proptest::collection::vec((1u64..400, -1000i32..1000), 1..120),
        ) {
            let mut w = Samples::<f64>::new(window);
            let mut all = Vec::new();
            let mut t = 0u64;
            for (dt, v) in steps {
                t += dt;
                let v = f64::from(v) / 10.0;
                w.push(t, v);
                all.push((t, v));
                w.expire(t);
                for func in Aggregate::ALL {
                    let got = w.aggregate(func);
                    let want = naive(&all, window, t, func);
                    let close = (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-9 * (1.0 + want.abs());
                    prop_assert!(close, "{func:?} over {window:?} at {t}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn empty_windows_and_rates() {
        let w = Samples::<f64>::new(Window::Count(3));
        assert_eq!(w.aggregate(Aggregate::Count), 0.0);
        assert_eq!(w.aggregate(Aggregate::Sum), 0.0);
        assert!(w.aggregate(Aggregate::Avg).is_nan());
        assert!(w.rate().is_nan());
        let mut w = Samples::<f64>::new(Window::Count(3));
        w.push(1000, 10.0);
        w.push(3000, 14.0);
        assert_eq!(w.rate(), 2.0);
        assert!(!w.push(4000, 0.0));
        assert!(!w.push(5000, 0.0), "a count window drops its oldest by definition");
        assert_eq!(w.aggregate(Aggregate::Count), 3.0);
    }

    #[test]
    fn only_a_time_window_cut_short_is_reported() {
        let mut w = Samples::<f64>::new(Window::Time { span_ms: 10_000, max_samples: 3 });
        for t in [1_000, 2_000, 3_000] {
            assert!(!w.push(t, 1.0));
        }
        assert!(w.push(4_000, 1.0), "the sample at 1 s is still inside the 10 s span: truncated");
        // Once the oldest has left the span on its own, making room loses nothing.
        assert!(!w.push(13_500, 1.0));
        assert!(!w.push(14_500, 1.0));
        assert_eq!(w.aggregate(Aggregate::Count), 2.0);
    }
}
