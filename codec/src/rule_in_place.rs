//! A rule frame decoded into a rule the caller already has: the 1.3 KB [`Rule`] is written
//! field by field where it lies (on a firmware, in a `Box` on the heap) and never moved.
//!
//! Decoding a [`RulePart`] by value (as serde does, returning each nested value up through its
//! callers) takes about 11 KB of stack on a Cortex-M4: the rule is copied at every level. This
//! reads the same bytes (the layout of `RulePart` in the crate's README) field by field, by
//! hand down to the leaves (no serde visitor is linked: on a microcontroller they cost more
//! flash than this whole decoder). A property test holds it to the serde path on random rules
//! and on damaged bytes, and a fuzz target on any bytes.

use telemetra_core::rule::{Aggregate, Expr, MAX_ACTIONS, MAX_OPS, MAX_RULE_CHANNELS, Window};
use telemetra_core::{Action, DeviceId, Op, Rule, Scope, Severity, Tag};

use crate::error::DecodeError;
use crate::input::Input;

/// Where a rule belongs: what a [`RulePart`](crate::RulePart) says besides the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RulePlace {
    /// The version of the rule set.
    pub set_version: u32,
    /// The rule's position in the set, from 0.
    pub index: u8,
    /// How many rules the set has.
    pub count: u8,
}

/// The operations without fields, by variant index from 5 (`Neg`) to 18 (`Or`).
const PLAIN_OPS: [Op; 14] = [
    Op::Neg,
    Op::Not,
    Op::Add,
    Op::Sub,
    Op::Mul,
    Op::Div,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::Eq,
    Op::Ne,
    Op::And,
    Op::Or,
];

impl Input<'_> {
    fn expr(&mut self, into: &mut Expr) -> Result<(), DecodeError> {
        into.ops.clear();
        for _ in 0..self.len(MAX_OPS)? {
            let op = self.op()?;
            into.ops.push(op).map_err(|_| DecodeError::InvalidField)?;
        }
        Ok(())
    }

    fn op(&mut self) -> Result<Op, DecodeError> {
        Ok(match self.variant()? {
            0 => Op::Const(self.number()?.to_f64()),
            1 => Op::Value(self.byte()?),
            2 => Op::Aggregate { func: self.aggregate()?, channel: self.byte()?, window: self.window()? },
            3 => Op::Rate { channel: self.byte()?, window: self.window()? },
            // A silence's channel: 255 is the whole device.
            4 => Op::Silent { channel: Some(self.byte()?).filter(|&c| c != u8::MAX), for_ms: self.u32()? },
            19 => Op::Changed { channel: self.byte()?, by: self.number()?.to_f64() },
            i => *PLAIN_OPS.get((i as usize).wrapping_sub(5)).ok_or(DecodeError::InvalidField)?,
        })
    }

    fn aggregate(&mut self) -> Result<Aggregate, DecodeError> {
        let i = self.variant()? as usize;
        Aggregate::ALL.get(i).copied().ok_or(DecodeError::InvalidField)
    }

    fn window(&mut self) -> Result<Window, DecodeError> {
        Ok(match self.variant()? {
            0 => Window::Time { span_ms: self.u32()?, max_samples: self.u16()? },
            1 => Window::Count(self.u16()?),
            _ => return Err(DecodeError::InvalidField),
        })
    }

    fn scope(&mut self) -> Result<Scope, DecodeError> {
        Ok(match self.variant()? {
            0 => Scope::Device(DeviceId(self.u64()?)),
            1 => Scope::Tagged(Tag { key: self.string()?, value: self.string()? }),
            2 => Scope::All,
            _ => return Err(DecodeError::InvalidField),
        })
    }
}

/// Decodes the body of a `Rule` message into `rule`, overwriting every field.
pub(crate) fn decode(body: &[u8], version: u8, rule: &mut Rule) -> Result<RulePlace, DecodeError> {
    let mut input = Input(body);
    let place = RulePlace { set_version: input.u32()?, index: input.byte()?, count: input.byte()? };
    rule.name = input.string()?;
    rule.scope = input.scope()?;
    rule.channels.clear();
    for _ in 0..input.len(MAX_RULE_CHANNELS)? {
        let name = input.string()?;
        rule.channels.push(name).map_err(|_| DecodeError::InvalidField)?;
    }
    input.expr(&mut rule.when)?;
    rule.hold_ms = input.u32()?;
    rule.repeat = input.u16()?;
    match input.some()? {
        false => rule.clear = None,
        true => input.expr(rule.clear.get_or_insert_with(Expr::default))?,
    }
    rule.cooldown_ms = input.u32()?;
    rule.severity = *Severity::ALL.get(input.variant()? as usize).ok_or(DecodeError::InvalidField)?;
    rule.actions.clear();
    for _ in 0..input.len(MAX_ACTIONS)? {
        // The variant index of `Action`, then its fields.
        let action = match input.variant()? {
            0 => Action::Alert { message: input.string()? },
            1 => Action::Command(input.command_action()?),
            2 => Action::Emit { channel: input.byte()?, value: Expr::default() },
            _ => return Err(DecodeError::InvalidField),
        };
        rule.actions.push(action).map_err(|_| DecodeError::InvalidField)?;
        if let Some(Action::Emit { value, .. }) = rule.actions.last_mut() {
            input.expr(value)?;
        }
    }
    // Since version 3, the count of the clearing condition follows the rule.
    rule.clear_repeat = if version >= 3 { input.u16()? } else { 0 };
    input.finish()?;
    Ok(place)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary::rule;
    use crate::{Frame, FrameView, Message, RulePart};
    use proptest::prelude::*;
    use telemetra_core::DeviceId;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn reads_what_serde_reads(r in rule(), set_version in any::<u32>(), index in any::<u8>(), count in any::<u8>(), reused in rule()) {
            let part = RulePart { set_version, index, count, rule: r };
            let bytes = Frame::new(DeviceId(1), 2, Message::Rule(part.clone())).to_vec().unwrap();
            let view = FrameView::parse(&bytes).unwrap();
            // Into a rule that held another one: every field is overwritten.
            let mut into = reused;
            let place = view.rule_into(&mut into).unwrap();
            prop_assert_eq!(place, RulePlace { set_version, index, count });
            // NaN != NaN: compare the encodings.
            prop_assert_eq!(postcard::to_allocvec(&into).unwrap(), postcard::to_allocvec(&part.rule).unwrap());
            prop_assert_eq!(into.clear_repeat, part.rule.clear_repeat);
        }

        #[test]
        fn damaged_rules_fail_as_serde_fails(r in rule(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
            let part = RulePart { set_version: 1, index: 0, count: 1, rule: r };
            let mut bytes = Frame::new(DeviceId(1), 2, Message::Rule(part)).to_vec().unwrap();
            for (at, x) in flips {
                let i = 4 + at % (bytes.len() - 4); // keep the envelope
                bytes[i] ^= x;
            }
            bytes.truncate(4 + cut % (bytes.len() - 3));
            let Ok(view) = FrameView::parse(&bytes) else { return Ok(()) };
            let by_serde = view.rule();
            let mut into = Rule::default();
            let in_place = view.rule_into(&mut into);
            prop_assert_eq!(in_place.is_ok(), by_serde.is_ok());
            if let Ok(part) = by_serde {
                prop_assert_eq!(postcard::to_allocvec(&into).unwrap(), postcard::to_allocvec(&part.rule).unwrap());
                prop_assert_eq!(into.clear_repeat, part.rule.clear_repeat);
            }
        }
    }
}
