//! A rule frame decoded into a rule the caller already has: the 1.3 KB [`Rule`] is written
//! field by field where it lies (on a firmware, in a `Box` on the heap) and never moved.
//!
//! Decoding a [`RulePart`] by value (as serde does, returning each nested value up through its
//! callers) takes about 11 KB of stack on a Cortex-M4: the rule is copied at every level. This
//! reads the same bytes (the layout of `RulePart` in the crate's README) container by
//! container, leaving the small leaves (an operation, a name, a command) to serde. A property
//! test holds it to the serde path on random rules and on damaged bytes.

use telemetra_core::rule::{Expr, MAX_ACTIONS, MAX_OPS, MAX_RULE_CHANNELS};
use telemetra_core::{Action, CommandAction, Name, Op, Rule, Scope, Severity, Text};

use crate::error::DecodeError;

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

/// The bytes of a rule part not read yet.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, DecodeError> {
        let (value, rest) = postcard::take_from_bytes::<T>(self.0)?;
        self.0 = rest;
        Ok(value)
    }

    /// A length prefix (postcard's `varint(usize)`), at most `max`.
    fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let n = self.take::<usize>()?;
        if n > max {
            return Err(DecodeError::InvalidField);
        }
        Ok(n)
    }

    fn expr(&mut self, into: &mut Expr) -> Result<(), DecodeError> {
        into.ops.clear();
        for _ in 0..self.len(MAX_OPS)? {
            let op = self.take::<Op>()?;
            into.ops.push(op).map_err(|_| DecodeError::InvalidField)?;
        }
        Ok(())
    }
}

/// Decodes the body of a `Rule` message into `rule`, overwriting every field.
pub(crate) fn decode(body: &[u8], rule: &mut Rule) -> Result<RulePlace, DecodeError> {
    let mut input = Input(body);
    let place = RulePlace { set_version: input.take()?, index: input.take()?, count: input.take()? };
    rule.name = input.take::<Name>()?;
    rule.scope = input.take::<Scope>()?;
    rule.channels.clear();
    for _ in 0..input.len(MAX_RULE_CHANNELS)? {
        let name = input.take::<Name>()?;
        rule.channels.push(name).map_err(|_| DecodeError::InvalidField)?;
    }
    input.expr(&mut rule.when)?;
    rule.hold_ms = input.take()?;
    rule.repeat = input.take()?;
    match input.take::<u8>()? {
        0 => rule.clear = None,
        1 => input.expr(rule.clear.get_or_insert_with(Expr::default))?,
        _ => return Err(DecodeError::BadOption),
    }
    rule.cooldown_ms = input.take()?;
    rule.severity = input.take::<Severity>()?;
    rule.actions.clear();
    for _ in 0..input.len(MAX_ACTIONS)? {
        // The variant index of `Action`, then its fields.
        let action = match input.take::<u32>()? {
            0 => Action::Alert { message: input.take::<Text>()? },
            1 => Action::Command(input.take::<CommandAction>()?),
            2 => Action::Emit { channel: input.take()?, value: Expr::default() },
            _ => return Err(DecodeError::InvalidField),
        };
        rule.actions.push(action).map_err(|_| DecodeError::InvalidField)?;
        if let Some(Action::Emit { value, .. }) = rule.actions.last_mut() {
            input.expr(value)?;
        }
    }
    match input.0.len() {
        0 => Ok(place),
        extra => Err(DecodeError::TrailingBytes { extra }),
    }
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
            }
        }
    }
}
