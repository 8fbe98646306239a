//! The state of one rule for one device, and expression evaluation over it.

use alloc::vec::Vec;

use telemetra_core::rule::{Aggregate, MAX_RULE_CHANNELS, MAX_STACK};
use telemetra_core::{Expr, Op, Rule};

use super::window::{Samples, capacity};

/// Where an alarm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The condition does not hold.
    Idle,
    /// The condition holds, but not yet long enough or often enough.
    Pending { since: u64, count: u16 },
    /// Raised (and maybe acknowledged).
    Active { since: u64, acknowledged: bool },
    /// Cleared; may not be raised again before `until`.
    Cooldown { until: u64 },
}

/// One rule's memory for one device: latest values, windows, deadband references and phase.
#[derive(Debug, Clone)]
pub(crate) struct RuleState {
    pub(crate) latest: [Option<(u64, f64)>; MAX_RULE_CHANNELS],
    /// When each channel, and the device (last slot), was last heard from; starts at creation.
    pub(crate) heard: [u64; MAX_RULE_CHANNELS + 1],
    /// One sample window per windowed operation, in operation order over when, clear, emits.
    pub(crate) windows: Vec<(u8, Samples)>,
    /// One reference value per `changed` operation, in the same order.
    pub(crate) deadbands: Vec<Option<f64>>,
    pub(crate) phase: Phase,
}

fn exprs(rule: &Rule) -> impl Iterator<Item = &Expr> {
    let emits = rule.actions.iter().filter_map(|a| match a {
        telemetra_core::Action::Emit { value, .. } => Some(value),
        _ => None,
    });
    core::iter::once(&rule.when).chain(rule.clear.as_ref()).chain(emits)
}

impl RuleState {
    pub(crate) fn new(rule: &Rule, now: u64) -> Self {
        let mut windows = Vec::new();
        let mut deadbands = Vec::new();
        for e in exprs(rule) {
            for op in &e.ops {
                match *op {
                    Op::Aggregate { channel, window, .. } | Op::Rate { channel, window } => {
                        windows.push((channel, Samples::new(window)));
                    }
                    Op::Changed { .. } => deadbands.push(None),
                    _ => {}
                }
            }
        }
        RuleState {
            latest: [None; MAX_RULE_CHANNELS],
            heard: [now; MAX_RULE_CHANNELS + 1],
            windows,
            deadbands,
            phase: Phase::Idle,
        }
    }

    /// The bytes this state occupies for `rule`, known before any reading arrives.
    pub(crate) fn size_for(rule: &Rule) -> usize {
        let mut bytes = core::mem::size_of::<RuleState>();
        for e in exprs(rule) {
            for op in &e.ops {
                match *op {
                    Op::Aggregate { window, .. } | Op::Rate { window, .. } => {
                        bytes += core::mem::size_of::<(u8, Samples)>() + capacity(window) * 16;
                    }
                    Op::Changed { .. } => bytes += core::mem::size_of::<Option<f64>>(),
                    _ => {}
                }
            }
        }
        bytes
    }

    /// Records a reading of the rule's channel `channel`. Returns how many window samples
    /// were pushed out by full windows.
    #[inline]
    pub(crate) fn record(&mut self, channel: u8, at: u64, value: f64) -> u32 {
        let c = usize::from(channel);
        self.latest[c] = Some((at, value));
        self.heard[c] = at;
        self.heard[MAX_RULE_CHANNELS] = self.heard[MAX_RULE_CHANNELS].max(at);
        let mut dropped = 0;
        for (ch, w) in &mut self.windows {
            if *ch == channel {
                dropped += u32::from(w.push(at, value));
            }
        }
        dropped
    }

    /// Notes that the device was heard from (a reading of a channel this rule does not use).
    #[inline]
    pub(crate) fn heard_device(&mut self, at: u64) {
        self.heard[MAX_RULE_CHANNELS] = self.heard[MAX_RULE_CHANNELS].max(at);
    }

    /// Evaluates the expressions of the rule in order (`when`, `clear`, emits share the
    /// windows' and deadbands' numbering); `cursor` tracks that numbering.
    pub(crate) fn eval(&mut self, e: &Expr, now: u64, cursor: &mut Cursor) -> f64 {
        let mut stack = [0f64; MAX_STACK];
        let mut sp = 0usize;
        for op in &e.ops {
            let v = match *op {
                Op::Const(c) => c,
                Op::Value(c) => self.latest[usize::from(c)].map_or(f64::NAN, |(_, v)| v),
                Op::Aggregate { func, .. } => {
                    let (_, w) = &mut self.windows[cursor.window];
                    cursor.window += 1;
                    w.expire(now);
                    w.aggregate(func)
                }
                Op::Rate { .. } => {
                    let (_, w) = &mut self.windows[cursor.window];
                    cursor.window += 1;
                    w.expire(now);
                    w.rate()
                }
                Op::Silent { channel, for_ms } => {
                    let slot = if channel == u8::MAX { MAX_RULE_CHANNELS } else { usize::from(channel) };
                    truth(now.saturating_sub(self.heard[slot]) >= u64::from(for_ms))
                }
                Op::Changed { channel, by } => {
                    let reference = &mut self.deadbands[cursor.deadband];
                    cursor.deadband += 1;
                    match (self.latest[usize::from(channel)], *reference) {
                        (None, _) => 0.0,
                        // A NaN deadband never fires again after the first value.
                        (Some((_, v)), Some(r)) if libm::fabs(v - r) < by || by.is_nan() => 0.0,
                        (Some((_, v)), _) => {
                            *reference = Some(v);
                            1.0
                        }
                    }
                }
                Op::Neg => -stack[sp - 1],
                Op::Not => truth(!is_true(stack[sp - 1])),
                binary => {
                    let (a, b) = (stack[sp - 2], stack[sp - 1]);
                    sp -= 1;
                    match binary {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div => a / b,
                        Op::Lt => truth(a < b),
                        Op::Le => truth(a <= b),
                        Op::Gt => truth(a > b),
                        Op::Ge => truth(a >= b),
                        Op::Eq => truth(a == b),
                        Op::Ne => truth(a != b),
                        Op::And => truth(is_true(a) && is_true(b)),
                        _ => truth(is_true(a) || is_true(b)),
                    }
                }
            };
            match op.arity() {
                0 => {
                    stack[sp] = v;
                    sp += 1;
                }
                _ => stack[sp - 1] = v,
            }
        }
        stack[0]
    }
}

/// What a quick condition compares.
#[derive(Debug, Clone, Copy)]
enum Operand {
    /// The latest value of a channel.
    Value(u8),
    /// An aggregate over the state's first window (the expression's only windowed operation).
    Window(Aggregate),
}

/// A comparison of a channel's latest value, or of an aggregate over one window, with a
/// constant: the most common conditions, evaluated without the stack machine (same result, a
/// fraction of the time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quick {
    operand: Operand,
    op: Op,
    constant: f64,
    /// The constant is the left operand.
    constant_first: bool,
}

impl Quick {
    /// The quick form of `e`, if it has one. `first` says whether `e` is the first expression
    /// of its rule (an aggregate then uses window 0).
    pub(crate) fn of(e: &Expr, first: bool) -> Option<Quick> {
        let compare = |op: Op| matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne);
        let operand = |op: Op| match op {
            Op::Value(c) => Some(Operand::Value(c)),
            Op::Aggregate { func, .. } if first => Some(Operand::Window(func)),
            _ => None,
        };
        match e.ops[..] {
            [a, Op::Const(constant), op] if compare(op) => {
                Some(Quick { operand: operand(a)?, op, constant, constant_first: false })
            }
            [Op::Const(constant), b, op] if compare(op) => {
                Some(Quick { operand: operand(b)?, op, constant, constant_first: true })
            }
            _ => None,
        }
    }
}

impl RuleState {
    /// Evaluates a quick condition at `now` (as `eval` would, to the bit).
    #[inline]
    pub(crate) fn quick(&mut self, q: Quick, now: u64) -> bool {
        let v = match q.operand {
            Operand::Value(c) => self.latest[usize::from(c)].map_or(f64::NAN, |(_, v)| v),
            Operand::Window(func) => match self.windows.first_mut() {
                Some((_, w)) => {
                    w.expire(now);
                    w.aggregate(func)
                }
                None => f64::NAN,
            },
        };
        let (a, b) = if q.constant_first { (q.constant, v) } else { (v, q.constant) };
        match q.op {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            _ => a != b,
        }
    }
}

/// Which window and deadband the next windowed or `changed` operation uses.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    window: usize,
    deadband: usize,
}

impl Cursor {
    /// Skips the windows and deadbands of an expression that is not evaluated this time.
    pub(crate) fn skip(&mut self, e: &Expr) {
        for op in &e.ops {
            match op {
                Op::Aggregate { .. } | Op::Rate { .. } => self.window += 1,
                Op::Changed { .. } => self.deadband += 1,
                _ => {}
            }
        }
    }
}

/// Numbers as booleans: true is anything but 0 and NaN.
pub(crate) fn is_true(v: f64) -> bool {
    v != 0.0 && !v.is_nan()
}

fn truth(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}
