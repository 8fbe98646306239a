//! The serializable rule model: what `telemetra-rules` evaluates, and what a server pushes to
//! a device.
//!
//! A rule's conditions are small postfix programs ([`Expr`]) over the channels the rule names,
//! so a rule has a fixed maximum size, needs no allocator, and travels in one frame. The text
//! language that compiles to this model, and the engine that runs it, live in `telemetra-rules`.
//!
//! ```
//! use telemetra_core::rule::{Expr, Op};
//! // temperature > 30
//! let e = Expr::from_ops(&[Op::Value(0), Op::Const(30.0), Op::Gt]).unwrap();
//! assert!(e.validate(1).is_ok());
//! assert!(e.validate(0).is_err(), "channel 0 is not declared");
//! ```

use serde::{Deserialize, Serialize};

use crate::{CapacityError, CommandAction, DeviceId, Name, Severity, Tag, Text};

/// The most operations in one [`Expr`].
pub const MAX_OPS: usize = 16;
/// The most channels one rule refers to.
pub const MAX_RULE_CHANNELS: usize = 4;
/// The most actions one rule takes.
pub const MAX_ACTIONS: usize = 2;
/// The deepest evaluation stack an [`Expr`] may need.
pub const MAX_STACK: usize = 8;

/// A window over a channel's recent samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Window {
    /// The samples of the last `span_ms` milliseconds, keeping at most `max_samples` of them
    /// (the oldest are dropped first), so that the state has a size known in advance.
    Time {
        /// The window's length in milliseconds.
        span_ms: u32,
        /// The most samples kept.
        max_samples: u16,
    },
    /// The last `n` samples.
    Count(u16),
}

/// A function over the samples of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Aggregate {
    /// Arithmetic mean.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum.
    Sum,
    /// Number of samples.
    Count,
    /// Population standard deviation.
    StdDev,
    /// Oldest sample.
    First,
    /// Newest sample.
    Last,
    /// Newest minus oldest.
    Delta,
}

impl Aggregate {
    /// Every aggregate function.
    pub const ALL: [Aggregate; 9] = [
        Aggregate::Avg,
        Aggregate::Min,
        Aggregate::Max,
        Aggregate::Sum,
        Aggregate::Count,
        Aggregate::StdDev,
        Aggregate::First,
        Aggregate::Last,
        Aggregate::Delta,
    ];

    /// Its name in rule text (`avg`, `stddev`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Sum => "sum",
            Aggregate::Count => "count",
            Aggregate::StdDev => "stddev",
            Aggregate::First => "first",
            Aggregate::Last => "last",
            Aggregate::Delta => "delta",
        }
    }
}

/// One step of a postfix program. Operands are pushed; operators pop their operands and push
/// the result. Booleans are numbers: 0 is false, anything else is true.
///
/// Two operations are equal as `f64`s compare: a NaN constant equals nothing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op {
    /// Push a constant.
    Const(#[serde(with = "crate::compact_f64")] f64),
    /// Push the latest value of the rule's channel number `n`.
    Value(u8),
    /// Push an aggregate of channel `channel` over a window.
    Aggregate {
        /// The function.
        func: Aggregate,
        /// The rule's channel number.
        channel: u8,
        /// The window.
        window: Window,
    },
    /// Push the rate of change of channel `channel` per second over a window.
    Rate {
        /// The rule's channel number.
        channel: u8,
        /// The window.
        window: Window,
    },
    /// Push true if channel `channel` has been silent for `for_ms` (absence detection);
    /// `None` means "the device sent nothing at all".
    Silent {
        /// The rule's channel number, or `None` for the whole device (on the wire: the byte
        /// 255, as in version 1).
        #[serde(with = "whole_device")]
        channel: Option<u8>,
        /// How long the silence must last, in milliseconds.
        for_ms: u32,
    },
    /// Negate the top.
    Neg,
    /// Logical not of the top.
    Not,
    /// Add the top two.
    Add,
    /// Subtract the top from the one below.
    Sub,
    /// Multiply the top two.
    Mul,
    /// Divide the one below by the top.
    Div,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Logical and.
    And,
    /// Logical or.
    Or,
    /// Deadband (report by exception): true when channel `channel`'s latest value differs by at
    /// least `by` from its value the last time this was true (and the first time it is seen).
    Changed {
        /// The rule's channel number.
        channel: u8,
        /// The deadband.
        #[serde(with = "crate::compact_f64")]
        by: f64,
    },
}

impl PartialEq for Op {
    /// By hand rather than derived, to compare the constants by their bits
    /// ([`ieee`](crate::ieee)): a microcontroller reloading a rule set links no double-precision
    /// comparison.
    fn eq(&self, other: &Op) -> bool {
        use crate::ieee::same_value;
        match (*self, *other) {
            (Op::Const(a), Op::Const(b)) => same_value(a, b),
            (Op::Value(a), Op::Value(b)) => a == b,
            (
                Op::Aggregate { func: f, channel: c, window: w },
                Op::Aggregate { func: g, channel: d, window: v },
            ) => f == g && c == d && w == v,
            (Op::Rate { channel: c, window: w }, Op::Rate { channel: d, window: v }) => c == d && w == v,
            (Op::Silent { channel: c, for_ms: f }, Op::Silent { channel: d, for_ms: g }) => c == d && f == g,
            (Op::Changed { channel: c, by: a }, Op::Changed { channel: d, by: b }) => {
                c == d && same_value(a, b)
            }
            (a, b) => {
                // The rest carry no data: the same variant is the same operation.
                a.arity() != 0 && core::mem::discriminant(&a) == core::mem::discriminant(&b)
            }
        }
    }
}

impl Op {
    /// How many operands it pops, and whether it pushes a result.
    pub const fn arity(self) -> u8 {
        match self {
            Op::Const(_)
            | Op::Value(_)
            | Op::Aggregate { .. }
            | Op::Rate { .. }
            | Op::Silent { .. }
            | Op::Changed { .. } => 0,
            Op::Neg | Op::Not => 1,
            _ => 2,
        }
    }

    fn channel(self) -> Option<u8> {
        match self {
            Op::Value(c)
            | Op::Aggregate { channel: c, .. }
            | Op::Rate { channel: c, .. }
            | Op::Changed { channel: c, .. } => Some(c),
            Op::Silent { channel, .. } => channel,
            _ => None,
        }
    }
}

/// `Option<u8>` as one byte, 255 for `None`: the version 1 encoding of a silence's channel.
mod whole_device {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    const WHOLE_DEVICE: u8 = u8::MAX;

    pub fn serialize<S: Serializer>(channel: &Option<u8>, s: S) -> Result<S::Ok, S::Error> {
        channel.unwrap_or(WHOLE_DEVICE).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        let c = u8::deserialize(d)?;
        Ok((c != WHOLE_DEVICE).then_some(c))
    }
}

/// Why a rule is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RuleError {
    /// The expression has no operations.
    #[error("expression is empty")]
    Empty,
    /// An operator at this position has fewer operands than it needs.
    #[error("operation {at} needs more operands than the stack holds")]
    StackUnderflow {
        /// Index of the operation.
        at: usize,
    },
    /// The expression would need a deeper stack than [`MAX_STACK`].
    #[error("expression needs a stack deeper than {MAX_STACK}")]
    TooDeep,
    /// The expression leaves more than one value.
    #[error("expression leaves {left} values instead of one")]
    Unbalanced {
        /// How many values remain.
        left: usize,
    },
    /// An operation names a channel the rule does not declare.
    #[error("operation {at} refers to channel {channel}, but the rule declares {declared}")]
    UnknownChannel {
        /// Index of the operation.
        at: usize,
        /// The channel number used.
        channel: u8,
        /// How many channels the rule declares.
        declared: usize,
    },
    /// A window has zero length or zero samples.
    #[error("operation {at} has an empty window")]
    EmptyWindow {
        /// Index of the operation.
        at: usize,
    },
}

/// A postfix program of at most [`MAX_OPS`] operations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Expr {
    /// The operations, in evaluation order.
    pub ops: heapless::Vec<Op, MAX_OPS>,
}

impl Expr {
    /// An expression from a slice of operations (not validated).
    pub fn from_ops(ops: &[Op]) -> Result<Self, CapacityError> {
        crate::text::bounded_vec("expression operations", ops).map(|ops| Expr { ops })
    }

    /// Checks that the program is well formed for a rule declaring `channels` channels: every
    /// operator has its operands, one value remains, the stack stays within [`MAX_STACK`],
    /// channel numbers are declared and windows are not empty.
    pub fn validate(&self, channels: usize) -> Result<(), RuleError> {
        if self.ops.is_empty() {
            return Err(RuleError::Empty);
        }
        let mut depth = 0usize;
        for (at, op) in self.ops.iter().enumerate() {
            if let Some(channel) = op.channel()
                && usize::from(channel) >= channels
            {
                return Err(RuleError::UnknownChannel { at, channel, declared: channels });
            }
            if let Op::Aggregate { window, .. } | Op::Rate { window, .. } = op {
                let empty = match window {
                    Window::Time { span_ms, max_samples } => *span_ms == 0 || *max_samples == 0,
                    Window::Count(n) => *n == 0,
                };
                if empty {
                    return Err(RuleError::EmptyWindow { at });
                }
            }
            let arity = usize::from(op.arity());
            depth = depth.checked_sub(arity).ok_or(RuleError::StackUnderflow { at })? + 1;
            if depth > MAX_STACK {
                return Err(RuleError::TooDeep);
            }
        }
        match depth {
            1 => Ok(()),
            left => Err(RuleError::Unbalanced { left }),
        }
    }
}

/// Which devices a rule watches. Each device in scope has its own rule state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scope {
    /// One device.
    Device(DeviceId),
    /// Every device carrying this tag.
    Tagged(Tag),
    /// Every device.
    All,
}

/// What a rule does when its alarm becomes active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Raise an alert with this message (cleared when the rule clears).
    Alert {
        /// The message for people.
        message: Text,
    },
    /// Send a command to the device concerned.
    Command(CommandAction),
    /// Emit a derived reading, with the value of the expression, on the rule's channel number
    /// `channel` (its name is in the rule's channel table).
    Emit {
        /// The rule's channel number of the derived reading.
        channel: u8,
        /// The value, over the rule's channels.
        value: Expr,
    },
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rule {
    /// Its name, unique in its rule set.
    pub name: Name,
    /// The devices it watches.
    pub scope: Scope,
    /// The channel names its expressions refer to by number.
    pub channels: heapless::Vec<Name, MAX_RULE_CHANNELS>,
    /// The condition that raises the alarm.
    pub when: Expr,
    /// How long `when` must hold before the alarm is active (0: at once).
    pub hold_ms: u32,
    /// How many consecutive evaluations `when` must hold (0 or 1: once).
    pub repeat: u16,
    /// The condition that clears it (hysteresis); `None` clears when `when` stops holding.
    pub clear: Option<Expr>,
    /// How many consecutive evaluations the clearing condition must hold (0 or 1: once).
    ///
    /// Travels in wire-version 3 frames, after the rule (the codec writes it: a rule that
    /// does not use it is still a version 1 frame); serde's derived form skips it, so a rule
    /// kept as JSON keeps it only in its text form.
    #[serde(skip)]
    pub clear_repeat: u16,
    /// After clearing, how long before it may be raised again, in milliseconds.
    pub cooldown_ms: u32,
    /// How serious its alarm is.
    pub severity: Severity,
    /// What it does when the alarm becomes active.
    pub actions: heapless::Vec<Action, MAX_ACTIONS>,
}

impl Default for Rule {
    /// A blank rule to decode into (see the codec's `FrameView::rule_into`): no name, no
    /// channels, an empty condition (so it does not validate), everywhere, `info`.
    fn default() -> Self {
        Rule {
            name: Name::new(),
            scope: Scope::All,
            channels: heapless::Vec::new(),
            when: Expr::default(),
            hold_ms: 0,
            repeat: 0,
            clear: None,
            clear_repeat: 0,
            cooldown_ms: 0,
            severity: Severity::Info,
            actions: heapless::Vec::new(),
        }
    }
}

impl Rule {
    /// Validates every expression of the rule against its declared channels.
    pub fn validate(&self) -> Result<(), RuleError> {
        let n = self.channels.len();
        self.when.validate(n)?;
        if let Some(clear) = &self.clear {
            clear.validate(n)?;
        }
        for action in &self.actions {
            if let Action::Emit { channel, value } = action {
                if usize::from(*channel) >= n {
                    return Err(RuleError::UnknownChannel { at: 0, channel: *channel, declared: n });
                }
                value.validate(n)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_compare_like_their_fields() {
        assert_eq!(Op::Const(1.5), Op::Const(1.5));
        assert_eq!(Op::Const(0.0), Op::Const(-0.0));
        assert_ne!(Op::Const(f64::NAN), Op::Const(f64::NAN));
        assert_ne!(Op::Const(1.0), Op::Value(1));
        assert_eq!(Op::Add, Op::Add);
        assert_ne!(Op::Add, Op::Sub);
        assert_ne!(Op::Neg, Op::Const(0.0));
        assert_eq!(Op::Changed { channel: 1, by: 0.5 }, Op::Changed { channel: 1, by: 0.5 });
        assert_ne!(Op::Changed { channel: 1, by: 0.5 }, Op::Changed { channel: 2, by: 0.5 });
        assert_ne!(Op::Silent { channel: None, for_ms: 5 }, Op::Silent { channel: Some(0), for_ms: 5 });
    }

    fn expr(ops: &[Op]) -> Expr {
        Expr::from_ops(ops).unwrap()
    }

    #[test]
    fn validation_catches_malformed_programs() {
        assert_eq!(Expr::default().validate(1), Err(RuleError::Empty));
        assert_eq!(expr(&[Op::Gt]).validate(1), Err(RuleError::StackUnderflow { at: 0 }));
        assert_eq!(
            expr(&[Op::Const(1.0), Op::Const(2.0)]).validate(1),
            Err(RuleError::Unbalanced { left: 2 })
        );
        assert_eq!(
            expr(&[Op::Value(3)]).validate(2),
            Err(RuleError::UnknownChannel { at: 0, channel: 3, declared: 2 })
        );
        let empty = Op::Aggregate { func: Aggregate::Avg, channel: 0, window: Window::Count(0) };
        assert_eq!(expr(&[empty]).validate(1), Err(RuleError::EmptyWindow { at: 0 }));
        assert_eq!(expr(&[Op::Const(1.0); 9]).validate(1), Err(RuleError::TooDeep));
        let silent = Op::Silent { channel: None, for_ms: 1000 };
        assert_eq!(expr(&[silent]).validate(0), Ok(()));
        assert!(Expr::from_ops(&[Op::Not; MAX_OPS + 1]).is_err());
    }
}
