//! The state of one rule for one device, and expression evaluation over it.

use alloc::vec::Vec;

use telemetra_core::Op;
use telemetra_core::rule::{Aggregate, MAX_RULE_CHANNELS, MAX_STACK, Window};

use crate::compact::CompactRule;

use super::Real;
use super::window::{Samples, capacity};

/// Where an alarm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The condition does not hold.
    Idle,
    /// The condition holds, but not yet long enough or often enough.
    Pending { since: u64, count: u16 },
    /// Raised (and maybe acknowledged); `clearing`: readings in a row that met the clearing
    /// condition, for a rule that needs several (`clear when ... times N`).
    Active { since: u64, acknowledged: bool, clearing: u16 },
    /// Cleared; may not be raised again before `until`.
    Cooldown { until: u64 },
}

/// One rule's memory for one device: its alarm phase, and (only for rules that use them) its
/// windows and deadband references. The latest values are the device's, shared by its rules.
#[derive(Debug, Clone)]
pub(crate) struct RuleState<R> {
    pub(crate) phase: Phase,
    /// When the state was created: a channel never heard since is silent from here.
    created: u64,
    extra: Option<alloc::boxed::Box<Extra<R>>>,
}

#[derive(Debug, Clone)]
struct Extra<R> {
    /// One reference value per `changed` operation, in operation order over when, clear, emits.
    deadbands: Vec<Option<R>>,
}

/// What a rule's expressions read besides its own state: the device's latest values and its
/// sample windows, which rules over the same channel and window share.
pub(crate) struct Ctx<'a, R> {
    /// The device's latest `(time, value)` per watched channel, by global channel index.
    pub(crate) values: &'a [Option<(u64, R)>],
    /// The global channel index of each of the rule's channels.
    pub(crate) map: &'a [usize; MAX_RULE_CHANNELS],
    /// When the device was last heard from.
    pub(crate) device_heard: u64,
    /// The device's windows, by pool index.
    pub(crate) pool: &'a mut [Option<Samples<R>>],
    /// The pool index of each of the rule's windowed operations, in operation order.
    pub(crate) windows: &'a [u32],
}

impl<R: Real> Ctx<'_, R> {
    /// The window of the rule's windowed operation number `i`.
    #[inline]
    pub(crate) fn window(&mut self, i: usize) -> Option<&mut Samples<R>> {
        self.pool.get_mut(*self.windows.get(i)? as usize)?.as_mut()
    }

    #[inline]
    pub(crate) fn latest(&self, channel: u8) -> Option<(u64, R)> {
        self.values.get(*self.map.get(usize::from(channel))?).copied().flatten()
    }

    /// The latest value of the rule's channel `channel`, NaN if none yet.
    #[inline]
    pub(crate) fn value(&self, channel: u8) -> R {
        self.latest(channel).map_or(R::NAN, |(_, v)| v)
    }
}

impl<R: Real> RuleState<R> {
    pub(crate) fn new(rule: &CompactRule, now: u64) -> Self {
        let mut extra = Extra { deadbands: Vec::new() };
        for e in rule.exprs() {
            for op in e {
                if let Op::Changed { .. } = op {
                    extra.deadbands.push(None);
                }
            }
        }
        let needed = !extra.deadbands.is_empty();
        RuleState { phase: Phase::Idle, created: now, extra: needed.then(|| alloc::boxed::Box::new(extra)) }
    }

    /// When the state was created.
    pub(crate) fn created(&self) -> u64 {
        self.created
    }

    /// The bytes this state occupies for `rule`, known before any reading arrives.
    pub(crate) fn size_for(rule: &CompactRule) -> usize {
        let mut bytes = core::mem::size_of::<Option<RuleState<R>>>();
        let mut extra = false;
        for e in rule.exprs() {
            for op in e {
                match *op {
                    Op::Aggregate { window, .. } | Op::Rate { window, .. } => {
                        bytes += core::mem::size_of::<(u8, Samples<R>)>()
                            + capacity(window) * core::mem::size_of::<(u64, R)>();
                        extra = true;
                    }
                    Op::Changed { .. } => {
                        bytes += core::mem::size_of::<Option<R>>();
                        extra = true;
                    }
                    _ => {}
                }
            }
        }
        if extra {
            bytes += core::mem::size_of::<Extra<R>>();
        }
        bytes
    }

    /// The windowed operations of `rule`, in the order the cursor numbers them: the rule's
    /// channel slot and the window of each.
    pub(crate) fn windows_of(rule: &CompactRule) -> impl Iterator<Item = (u8, Window)> + '_ {
        rule.exprs().flat_map(|e| {
            e.iter().filter_map(|op| match *op {
                Op::Aggregate { channel, window, .. } | Op::Rate { channel, window } => {
                    Some((channel, window))
                }
                _ => None,
            })
        })
    }

    /// Evaluates the expressions of the rule in order (`when`, `clear`, emits share the
    /// windows' and deadbands' numbering); `cursor` tracks that numbering.
    pub(crate) fn eval(&mut self, ctx: &mut Ctx<'_, R>, e: &[Op], now: u64, cursor: &mut Cursor<R>) -> R {
        let mut stack = [R::ZERO; MAX_STACK];
        let mut sp = 0usize;
        // Bit i: stack[i] is a constant (so that a comparison knows which side is the reading).
        let mut constant = 0u32;
        for op in e {
            let v = match *op {
                Op::Const(c) => R::from_f64(c),
                Op::Value(c) => ctx.value(c),
                Op::Aggregate { func, .. } => cursor.next_window(ctx).map_or(R::NAN, |w| {
                    w.expire(now);
                    w.aggregate(func)
                }),
                Op::Rate { .. } => cursor.next_window(ctx).map_or(R::NAN, |w| {
                    w.expire(now);
                    w.rate()
                }),
                Op::Silent { channel, for_ms } => {
                    let heard = match channel {
                        None => ctx.device_heard,
                        Some(c) => ctx.latest(c).map_or(0, |(t, _)| t),
                    };
                    truth(now.saturating_sub(heard.max(self.created)) >= u64::from(for_ms))
                }
                Op::Changed { channel, by } => {
                    let i = cursor.deadband;
                    cursor.deadband += 1;
                    let Some(reference) = self.extra.as_mut().and_then(|x| x.deadbands.get_mut(i)) else {
                        return R::NAN;
                    };
                    match (ctx.latest(channel), *reference) {
                        (None, _) => R::ZERO,
                        // A NaN deadband never fires again after the first value.
                        (Some((_, v)), Some(r))
                            if (v - r).abs() < R::from_f64(by) || telemetra_core::ieee::is_nan(by) =>
                        {
                            R::ZERO
                        }
                        (Some((_, v)), _) => {
                            *reference = Some(v);
                            R::ONE
                        }
                    }
                }
                Op::Neg => -stack[sp - 1],
                Op::Not => truth(!is_true(stack[sp - 1])),
                binary => {
                    let (a, b) = (stack[sp - 2], stack[sp - 1]);
                    let (a_fixed, b_fixed) = (constant >> (sp - 2) & 1 == 1, constant >> (sp - 1) & 1 == 1);
                    sp -= 1;
                    if is_comparison(binary) && cursor.crossing.is_none() {
                        cursor.crossing = Some(if a_fixed && !b_fixed { b } else { a });
                    }
                    // Arithmetic on constants is constant; anything else is not.
                    let fixed = a_fixed && b_fixed && !is_comparison(binary);
                    constant = constant & !(1 << (sp - 1)) | u32::from(fixed) << (sp - 1);
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
                    constant = constant & !(1 << sp) | u32::from(matches!(op, Op::Const(_))) << sp;
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
pub(crate) struct Quick<R> {
    operand: Operand,
    op: Op,
    constant: R,
    /// The constant is the left operand.
    constant_first: bool,
}

impl<R: Real> Quick<R> {
    /// The quick form of `e`, if it has one. `first` says whether `e` is the first expression
    /// of its rule (an aggregate then uses window 0).
    pub(crate) fn of(e: &[Op], first: bool) -> Option<Quick<R>> {
        let compare = |op: Op| matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne);
        let operand = |op: Op| match op {
            Op::Value(c) => Some(Operand::Value(c)),
            Op::Aggregate { func, .. } if first => Some(Operand::Window(func)),
            _ => None,
        };
        match *e {
            [a, Op::Const(constant), op] if compare(op) => Some(Quick {
                operand: operand(a)?,
                op,
                constant: R::from_f64(constant),
                constant_first: false,
            }),
            [Op::Const(constant), b, op] if compare(op) => Some(Quick {
                operand: operand(b)?,
                op,
                constant: R::from_f64(constant),
                constant_first: true,
            }),
            _ => None,
        }
    }
}

impl<R: Real> RuleState<R> {
    /// Evaluates a quick condition at `now` (as `eval` would, to the bit): whether it holds,
    /// and the value it compared.
    #[inline]
    pub(crate) fn quick(&mut self, ctx: &mut Ctx<'_, R>, q: Quick<R>, now: u64) -> (bool, R) {
        let v = match q.operand {
            Operand::Value(c) => ctx.value(c),
            Operand::Window(func) => match ctx.window(0) {
                Some(w) => {
                    w.expire(now);
                    w.aggregate(func)
                }
                None => R::NAN,
            },
        };
        (q.test(v), v)
    }
}

impl<R: Real> Quick<R> {
    /// The comparison applied to `v`.
    #[inline]
    pub(crate) fn test(&self, v: R) -> bool {
        let (a, b) = if self.constant_first { (self.constant, v) } else { (v, self.constant) };
        match self.op {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            _ => a != b,
        }
    }

    /// True when it compares the latest value of the rule's channel `channel`.
    pub(crate) fn reads_value_of(&self, channel: u8) -> bool {
        matches!(self.operand, Operand::Value(c) if c == channel)
    }
}

/// Which window and deadband the next windowed or `changed` operation uses, and what the
/// expression evaluated so far compared.
#[derive(Debug)]
pub(crate) struct Cursor<R> {
    window: usize,
    deadband: usize,
    /// The value the first comparison evaluated compared with its constant (the operand that
    /// is not a constant): what an alert raised by the `when` condition reports.
    pub(crate) crossing: Option<R>,
}

impl<R> Default for Cursor<R> {
    fn default() -> Self {
        Cursor { window: 0, deadband: 0, crossing: None }
    }
}

impl<R> Cursor<R> {
    /// The window of the next windowed operation.
    fn next_window<'c>(&mut self, ctx: &'c mut Ctx<'_, R>) -> Option<&'c mut Samples<R>>
    where
        R: Real,
    {
        let i = self.window;
        self.window += 1;
        ctx.window(i)
    }

    /// Skips the windows and deadbands of an expression that is not evaluated this time.
    pub(crate) fn skip(&mut self, e: &[Op]) {
        for op in e {
            match op {
                Op::Aggregate { .. } | Op::Rate { .. } => self.window += 1,
                Op::Changed { .. } => self.deadband += 1,
                _ => {}
            }
        }
    }
}

/// A comparison operator (its result is a truth value, not a quantity).
fn is_comparison(op: Op) -> bool {
    matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne)
}

/// Numbers as booleans: true is anything but 0 and NaN.
pub(crate) fn is_true<R: Real>(v: R) -> bool {
    v != R::ZERO && !v.is_nan()
}

fn truth<R: Real>(b: bool) -> R {
    if b { R::ONE } else { R::ZERO }
}
