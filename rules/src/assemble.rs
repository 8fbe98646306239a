//! Reassembling a rule set that arrived as one frame per rule.

use core::borrow::Borrow;

use telemetra_codec::{RulePart, RulePlace};
use telemetra_core::{Rule, RuleError};

/// Why a rule part was refused. The assembler's state is unchanged by a refused part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssembleError {
    /// The set has more rules than this assembler holds.
    #[error("rule set of {count} rules exceeds this device's capacity of {capacity}")]
    TooManyRules {
        /// Rules in the set.
        count: u8,
        /// Rules the assembler holds.
        capacity: usize,
    },
    /// The part's index is not below its count, or its count is zero.
    #[error("rule part {index} of {count} is out of range")]
    BadIndex {
        /// The part's index.
        index: u8,
        /// The part's count.
        count: u8,
    },
    /// A part of the current set version announced a different count.
    #[error("rule part says the set has {count} rules, earlier parts said {expected}")]
    CountChanged {
        /// What this part says.
        count: u8,
        /// What earlier parts said.
        expected: u8,
    },
    /// The part belongs to an older version than the one being assembled or installed.
    #[error("rule part of set version {version} is older than version {current}")]
    Stale {
        /// The part's version.
        version: u32,
        /// The current version.
        current: u32,
    },
    /// The rule is not well formed.
    #[error("rule {index} is malformed: {error}")]
    Invalid {
        /// The part's index.
        index: u8,
        /// What is wrong with it.
        error: RuleError,
    },
}

/// Where assembly stands after a part was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// `received` of `count` rules of `version` are in.
    Partial {
        /// The set version.
        version: u32,
        /// Distinct parts received.
        received: u8,
        /// Parts in the set.
        count: u8,
    },
    /// Every rule of `version` is in; [`RuleSetAssembler::rules`] returns them.
    Complete {
        /// The set version.
        version: u32,
    },
}

/// Collects the parts of a rule set (in any order, duplicates allowed) into at most `N` rules.
/// A part of a newer version starts over; parts of older versions are refused, so a late
/// retransmission cannot roll a device back.
///
/// Each rule is held as an `R` ([`HeldRule`]): a `Rule` in place by default (no allocator:
/// the assembler is `N` full-size rules large); with a heap, a `Box<Rule>` (only the rules
/// received take memory) or a [`CompactRule`](crate::CompactRule) (a few hundred bytes each,
/// the form the engine keeps), which [`into_rules`](Self::into_rules) hands to
/// [`Engine::load`](crate::Engine::load) without copying.
#[derive(Debug)]
pub struct RuleSetAssembler<const N: usize, R = Rule> {
    version: Option<u32>,
    count: u8,
    slots: [Option<R>; N],
}

/// How a [`RuleSetAssembler`] holds a rule.
pub trait HeldRule: Sized {
    /// The held form of `rule`, which is validated.
    fn hold(rule: Rule) -> Result<Self, RuleError>;
    /// The held form of a copy of `rule`, which is validated (a firmware decodes each rule
    /// into one reused buffer and keeps only this).
    fn hold_copy(rule: &Rule) -> Result<Self, RuleError>;
    /// Validates a rule given already held.
    fn check(&self) -> Result<(), RuleError>;
}

impl HeldRule for Rule {
    fn hold(rule: Rule) -> Result<Self, RuleError> {
        rule.validate()?;
        Ok(rule)
    }

    fn hold_copy(rule: &Rule) -> Result<Self, RuleError> {
        rule.validate()?;
        Ok(rule.clone())
    }

    fn check(&self) -> Result<(), RuleError> {
        self.validate()
    }
}

#[cfg(feature = "alloc")]
impl HeldRule for alloc::boxed::Box<Rule> {
    fn hold(rule: Rule) -> Result<Self, RuleError> {
        rule.validate()?;
        Ok(alloc::boxed::Box::new(rule))
    }

    fn hold_copy(rule: &Rule) -> Result<Self, RuleError> {
        rule.validate()?;
        Ok(alloc::boxed::Box::new(rule.clone()))
    }

    fn check(&self) -> Result<(), RuleError> {
        self.validate()
    }
}

#[cfg(feature = "alloc")]
impl HeldRule for alloc::boxed::Box<crate::CompactRule> {
    fn hold(rule: Rule) -> Result<Self, RuleError> {
        crate::CompactRule::new(&rule).map(alloc::boxed::Box::new)
    }

    fn hold_copy(rule: &Rule) -> Result<Self, RuleError> {
        crate::CompactRule::new(rule).map(alloc::boxed::Box::new)
    }

    fn check(&self) -> Result<(), RuleError> {
        Ok(())
    }
}

#[cfg(feature = "alloc")]
impl HeldRule for crate::CompactRule {
    fn hold(rule: Rule) -> Result<Self, RuleError> {
        crate::CompactRule::new(&rule)
    }

    fn hold_copy(rule: &Rule) -> Result<Self, RuleError> {
        crate::CompactRule::new(rule)
    }

    fn check(&self) -> Result<(), RuleError> {
        // Validated when it was made.
        Ok(())
    }
}

impl<const N: usize, R: HeldRule> Default for RuleSetAssembler<N, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, R: Borrow<Rule>> RuleSetAssembler<N, R> {
    /// The rules of the complete set, in index order; `None` while parts are missing.
    pub fn rules(&self) -> Option<impl Iterator<Item = &Rule>> {
        self.is_complete().then(|| self.slots[..usize::from(self.count)].iter().flatten().map(Borrow::borrow))
    }
}

impl<const N: usize, R> RuleSetAssembler<N, R> {
    fn is_complete(&self) -> bool {
        self.version.is_some() && self.slots[..usize::from(self.count)].iter().all(Option::is_some)
    }
}

impl<const N: usize, R: HeldRule> RuleSetAssembler<N, R> {
    /// An empty assembler.
    pub fn new() -> Self {
        RuleSetAssembler { version: None, count: 0, slots: core::array::from_fn(|_| None) }
    }

    /// Takes one part.
    pub fn accept(&mut self, part: RulePart) -> Result<Progress, AssembleError> {
        let place = part.place();
        self.check_place(place)?;
        let rule =
            R::hold(part.rule).map_err(|error| AssembleError::Invalid { index: place.index, error })?;
        self.place(place, rule)
    }

    /// Takes a copy of a rule decoded elsewhere (on a firmware: into one reused buffer by the
    /// codec's `FrameView::rule_into`), held as an `R`.
    pub fn accept_copy(&mut self, place: RulePlace, rule: &Rule) -> Result<Progress, AssembleError> {
        self.check_place(place)?;
        let rule =
            R::hold_copy(rule).map_err(|error| AssembleError::Invalid { index: place.index, error })?;
        self.place(place, rule)
    }

    /// Takes one rule and its place in the set, already held as an `R`.
    pub fn accept_rule(&mut self, place: RulePlace, rule: R) -> Result<Progress, AssembleError> {
        self.check_place(place)?;
        rule.check().map_err(|error| AssembleError::Invalid { index: place.index, error })?;
        self.place(place, rule)
    }

    /// Refuses a part whose place cannot be taken (nothing changes).
    fn check_place(&self, place: RulePlace) -> Result<(), AssembleError> {
        let RulePlace { set_version, index, count } = place;
        if usize::from(count) > N {
            return Err(AssembleError::TooManyRules { count, capacity: N });
        }
        if index >= count {
            return Err(AssembleError::BadIndex { index, count });
        }
        match self.version {
            Some(current) if set_version < current => {
                return Err(AssembleError::Stale { version: set_version, current });
            }
            Some(current) if set_version == current && count != self.count => {
                return Err(AssembleError::CountChanged { count, expected: self.count });
            }
            _ => {}
        }
        Ok(())
    }

    /// Puts a checked rule in its place.
    fn place(&mut self, place: RulePlace, rule: R) -> Result<Progress, AssembleError> {
        let RulePlace { set_version, index, count } = place;
        if self.version != Some(set_version) {
            self.version = Some(set_version);
            self.count = count;
            self.slots.iter_mut().for_each(|s| *s = None);
        }
        self.slots[usize::from(index)] = Some(rule);
        let received = self.slots[..usize::from(count)].iter().filter(|s| s.is_some()).count() as u8;
        Ok(if received == count {
            Progress::Complete { version: set_version }
        } else {
            Progress::Partial { version: set_version, received, count }
        })
    }

    /// Takes the rules of the complete set out, in index order (the assembler then waits for
    /// a newer version); `None`, and nothing taken, while parts are missing.
    pub fn into_rules(&mut self) -> Option<impl Iterator<Item = R> + '_> {
        self.is_complete().then(|| self.slots[..usize::from(self.count)].iter_mut().filter_map(Option::take))
    }

    /// The version being assembled or complete.
    pub fn version(&self) -> Option<u32> {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetra_core::rule::Op;
    use telemetra_core::text::bounded;
    use telemetra_core::{Expr, Scope, Severity};

    fn rule(name: &str, ops: &[Op]) -> Rule {
        Rule {
            name: bounded("name", name).unwrap(),
            scope: Scope::All,
            channels: heapless::Vec::from_slice(&[bounded("c", "temperature").unwrap()]).unwrap(),
            when: Expr::from_ops(ops).unwrap(),
            severity: Severity::Minor,
            ..Rule::default()
        }
    }

    fn partial(version: u32, received: u8, count: u8) -> Result<Progress, AssembleError> {
        Ok(Progress::Partial { version, received, count })
    }

    fn part(version: u32, index: u8, count: u8, name: &str) -> RulePart {
        RulePart {
            set_version: version,
            index,
            count,
            rule: rule(name, &[Op::Value(0), Op::Const(1.0), Op::Gt]),
        }
    }

    #[test]
    fn parts_in_any_order_with_duplicates() {
        let mut a = RuleSetAssembler::<4>::new();
        assert_eq!(a.accept(part(1, 2, 3, "c")), partial(1, 1, 3));
        assert!(a.rules().is_none());
        assert_eq!(a.accept(part(1, 0, 3, "a")), partial(1, 2, 3));
        assert_eq!(a.accept(part(1, 0, 3, "a")), partial(1, 2, 3));
        assert_eq!(a.accept(part(1, 1, 3, "b")), Ok(Progress::Complete { version: 1 }));
        let names: std::vec::Vec<_> = a.rules().unwrap().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn newer_versions_restart_and_older_ones_are_refused() {
        let mut a = RuleSetAssembler::<4>::new();
        a.accept(part(5, 0, 1, "a")).unwrap();
        assert_eq!(a.accept(part(6, 0, 2, "x")), partial(6, 1, 2));
        assert!(a.rules().is_none());
        assert_eq!(a.accept(part(5, 0, 1, "a")), Err(AssembleError::Stale { version: 5, current: 6 }));
        assert_eq!(a.accept(part(6, 1, 3, "y")), Err(AssembleError::CountChanged { count: 3, expected: 2 }));
    }

    #[test]
    fn boxed_rules_are_handed_over_without_copies() {
        let mut a = RuleSetAssembler::<4, std::boxed::Box<Rule>>::new();
        a.accept(part(1, 1, 2, "b")).unwrap();
        assert!(a.into_rules().is_none());
        a.accept(part(1, 0, 2, "a")).unwrap();
        let rules: std::vec::Vec<std::boxed::Box<Rule>> = a.into_rules().unwrap().collect();
        assert_eq!(rules.iter().map(|r| r.name.as_str()).collect::<std::vec::Vec<_>>(), ["a", "b"]);
        assert!(a.rules().is_none(), "taken");
    }

    #[test]
    fn compact_rules_from_a_reused_buffer_load_into_the_engine() {
        use crate::{CompactRule, Engine, EngineConfig};
        let mut a = RuleSetAssembler::<4, std::boxed::Box<CompactRule>>::new();
        let mut buffer = Rule::default();
        for (index, name) in [(1u8, "b"), (0, "a")] {
            // What a firmware does: decode into one buffer, keep a compact copy.
            buffer = part(3, index, 2, name).rule;
            let place = RulePlace { set_version: 3, index, count: 2 };
            let progress = a.accept_copy(place, &buffer).unwrap();
            assert_eq!(progress == Progress::Complete { version: 3 }, index == 0);
        }
        assert_eq!(buffer.name, "a");
        let mut engine = Engine::new(EngineConfig::default());
        engine.load(a.into_rules().unwrap()).unwrap();
        let names: std::vec::Vec<_> = engine.rules().map(|r| r.name.to_string()).collect();
        assert_eq!(names, ["a", "b"]);
        // An invalid rule is refused by the copy too, and changes nothing.
        let bad = rule("bad", &[Op::Gt]);
        let place = RulePlace { set_version: 4, index: 0, count: 1 };
        assert_eq!(
            a.accept_copy(place, &bad),
            Err(AssembleError::Invalid { index: 0, error: RuleError::StackUnderflow { at: 0 } })
        );
        assert_eq!(a.version(), Some(3));
    }

    #[test]
    fn bad_parts_are_refused_with_a_reason() {
        let mut a = RuleSetAssembler::<2>::new();
        assert_eq!(a.accept(part(1, 0, 3, "a")), Err(AssembleError::TooManyRules { count: 3, capacity: 2 }));
        assert_eq!(a.accept(part(1, 2, 2, "a")), Err(AssembleError::BadIndex { index: 2, count: 2 }));
        assert_eq!(a.accept(part(1, 0, 0, "a")), Err(AssembleError::BadIndex { index: 0, count: 0 }));
        let bad = RulePart { set_version: 1, index: 0, count: 1, rule: rule("bad", &[Op::Gt]) };
        assert_eq!(
            a.accept(bad),
            Err(AssembleError::Invalid { index: 0, error: RuleError::StackUnderflow { at: 0 } })
        );
        assert_eq!(a.version(), None, "a refused part changes nothing");
    }
}
