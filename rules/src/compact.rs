//! A rule in the form the engine keeps it: validated, and each list as long as it is.
//!
//! The model's [`Rule`] has room for everything a rule may hold (16 operations per expression,
//! 4 channels, 2 actions): 1.3 KB, most of it empty in a typical rule. A [`CompactRule`] keeps
//! the same rule in a few hundred bytes, which is what lets a node hold its rule set in a few
//! kilobytes of heap. [`Engine::load`](crate::Engine::load) compacts what it is given; a
//! firmware compacts each rule as it arrives ([`RuleSetAssembler<N,
//! CompactRule>`](crate::RuleSetAssembler)), so the full-size rules never pile up.

use alloc::boxed::Box;

use telemetra_core::rule::Expr;
use telemetra_core::{Action, CommandAction, Name, Op, Rule, RuleError, Scope, Severity, Text};

/// A validated rule, compacted.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactRule {
    pub(crate) name: Name,
    pub(crate) scope: Scope,
    pub(crate) channels: Box<[Name]>,
    pub(crate) when: Box<[Op]>,
    pub(crate) hold_ms: u32,
    pub(crate) repeat: u16,
    pub(crate) clear: Option<Box<[Op]>>,
    pub(crate) clear_repeat: u16,
    pub(crate) cooldown_ms: u32,
    pub(crate) severity: Severity,
    pub(crate) actions: Box<[Act]>,
}

/// An action, compacted: a command is boxed (it is the largest), an emitted expression is as
/// long as it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Act {
    Alert { message: Text },
    Command(Box<CommandAction>),
    Emit { channel: u8, value: Box<[Op]> },
}

impl CompactRule {
    /// Validates `rule` and compacts it.
    pub fn new(rule: &Rule) -> Result<CompactRule, RuleError> {
        rule.validate()?;
        Ok(CompactRule {
            name: rule.name.clone(),
            scope: rule.scope.clone(),
            channels: rule.channels.iter().cloned().collect(),
            when: rule.when.ops.iter().copied().collect(),
            hold_ms: rule.hold_ms,
            repeat: rule.repeat,
            clear: rule.clear.as_ref().map(|c| c.ops.iter().copied().collect()),
            clear_repeat: rule.clear_repeat,
            cooldown_ms: rule.cooldown_ms,
            severity: rule.severity,
            actions: rule
                .actions
                .iter()
                .map(|a| match a {
                    Action::Alert { message } => Act::Alert { message: message.clone() },
                    Action::Command(c) => Act::Command(Box::new(c.clone())),
                    Action::Emit { channel, value } => {
                        Act::Emit { channel: *channel, value: value.ops.iter().copied().collect() }
                    }
                })
                .collect(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule again, in the model's form.
    pub fn to_rule(&self) -> Rule {
        // Every list came from a rule's list of the same capacity, so nothing is cut.
        let expr = |ops: &[Op]| Expr::from_ops(ops).unwrap_or_default();
        Rule {
            name: self.name.clone(),
            scope: self.scope.clone(),
            channels: self.channels.iter().cloned().collect(),
            when: expr(&self.when),
            hold_ms: self.hold_ms,
            repeat: self.repeat,
            clear: self.clear.as_deref().map(expr),
            clear_repeat: self.clear_repeat,
            cooldown_ms: self.cooldown_ms,
            severity: self.severity,
            actions: self
                .actions
                .iter()
                .map(|a| match a {
                    Act::Alert { message } => Action::Alert { message: message.clone() },
                    Act::Command(c) => Action::Command((**c).clone()),
                    Act::Emit { channel, value } => Action::Emit { channel: *channel, value: expr(value) },
                })
                .collect(),
        }
    }

    /// Its expressions in evaluation order: `when`, `clear`, then each emit.
    pub(crate) fn exprs(&self) -> impl Iterator<Item = &[Op]> {
        let emits = self.actions.iter().filter_map(|a| match a {
            Act::Emit { value, .. } => Some(&**value),
            _ => None,
        });
        core::iter::once(&*self.when).chain(self.clear.as_deref()).chain(emits)
    }
}

/// What [`Engine::load`](crate::Engine::load) and a
/// [`RuleSetAssembler`](crate::RuleSetAssembler) take: a rule, whole or compact.
pub trait IntoCompact {
    /// The rule's name (for errors).
    fn name(&self) -> &str;
    /// The compact rule, validated.
    fn into_compact(self) -> Result<CompactRule, RuleError>;
}

impl IntoCompact for CompactRule {
    fn name(&self) -> &str {
        &self.name
    }

    fn into_compact(self) -> Result<CompactRule, RuleError> {
        Ok(self)
    }
}

impl IntoCompact for Box<CompactRule> {
    fn name(&self) -> &str {
        &self.name
    }

    fn into_compact(self) -> Result<CompactRule, RuleError> {
        Ok(*self)
    }
}

impl IntoCompact for Rule {
    fn name(&self) -> &str {
        &self.name
    }

    fn into_compact(self) -> Result<CompactRule, RuleError> {
        CompactRule::new(&self)
    }
}

impl IntoCompact for Box<Rule> {
    fn name(&self) -> &str {
        &self.name
    }

    fn into_compact(self) -> Result<CompactRule, RuleError> {
        CompactRule::new(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn a_rule_round_trips_and_is_smaller() {
        let rules = parse(
            r#"rule a: on tag site = "x" when avg(t, 5m) > 30 and h < 2 for 2m times 3 clear when t < 28 cooldown 1m then alert major "A", command actuate 3 = 1
               rule b: when changed(t, 0.5) then emit r = t * 2"#,
        )
        .unwrap();
        for r in rules {
            let c = CompactRule::new(&r).unwrap();
            assert_eq!(c.to_rule(), r);
            let heap: usize = c.channels.len() * core::mem::size_of::<Name>()
                + (c.when.len() + c.clear.as_ref().map_or(0, |x| x.len())) * core::mem::size_of::<Op>()
                + c.actions.len() * core::mem::size_of::<Act>();
            assert!(core::mem::size_of::<CompactRule>() + heap < core::mem::size_of::<Rule>() / 2);
        }
    }

    #[test]
    fn an_invalid_rule_is_refused() {
        let mut r = parse("rule a: when t > 1 then alert info \"x\"").unwrap().remove(0);
        r.when = Expr::from_ops(&[Op::Gt]).unwrap();
        assert_eq!(CompactRule::new(&r), Err(RuleError::StackUnderflow { at: 0 }));
    }
}
