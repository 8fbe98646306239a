//! The device's side of at-least-once commands: a server sends a command again until the
//! transport takes it, and a redelivery after a reconnect repeats it, always with the same
//! id. [`Answered`] remembers the answers a device gave to its last commands, so that it
//! carries out each once and answers a repeat as it answered the first.

use crate::{CommandId, CommandResult};

/// The answers to the last `N` commands, in a fixed array: no allocation.
///
/// ```
/// use telemetra_core::answered::Answered;
/// use telemetra_core::{CommandId, CommandResult};
///
/// let mut answered = Answered::<4>::new();
/// let mut carried_out = 0;
/// for id in [7, 7, 8] {
///     let result = answered.answer(CommandId(id), || {
///         carried_out += 1; // the work, once per command
///         CommandResult::Completed
///     });
///     assert_eq!(result, CommandResult::Completed); // acknowledge every delivery
/// }
/// assert_eq!(carried_out, 2);
/// ```
#[derive(Debug, Clone)]
pub struct Answered<const N: usize> {
    entries: [(u32, CommandResult); N],
    len: usize,
    next: usize,
}

impl<const N: usize> Default for Answered<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Answered<N> {
    /// Nothing answered yet.
    pub const fn new() -> Self {
        Answered { entries: [(0, CommandResult::Completed); N], len: 0, next: 0 }
    }

    /// The answer given to `id`, if it is one of the last `N` answered.
    pub fn get(&self, id: CommandId) -> Option<CommandResult> {
        self.entries[..self.len].iter().find(|(i, _)| *i == id.0).map(|(_, r)| *r)
    }

    /// Remembers `result` as the answer to `id`, forgetting the oldest of `N` (with `N` = 0,
    /// nothing is remembered).
    pub fn record(&mut self, id: CommandId, result: CommandResult) {
        if N == 0 {
            return;
        }
        if let Some(entry) = self.entries[..self.len].iter_mut().find(|(i, _)| *i == id.0) {
            entry.1 = result;
            return;
        }
        self.entries[self.next] = (id.0, result);
        self.next = (self.next + 1) % N;
        self.len = (self.len + 1).min(N);
    }

    /// The answer to `id`: the one given before if it is a repeat, else `carry_out`'s, run
    /// once and remembered.
    pub fn answer(&mut self, id: CommandId, carry_out: impl FnOnce() -> CommandResult) -> CommandResult {
        if let Some(result) = self.get(id) {
            return result;
        }
        let result = carry_out();
        self.record(id, result);
        result
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::RejectReason;

    #[test]
    fn a_repeat_gets_the_first_answer_and_the_oldest_is_forgotten_past_n() {
        let mut a = Answered::<2>::new();
        let refused = CommandResult::Rejected(RejectReason::Unsupported);
        assert_eq!(a.answer(CommandId(1), || refused), refused);
        assert_eq!(a.answer(CommandId(1), || CommandResult::Completed), refused, "the first answer");
        a.record(CommandId(2), CommandResult::Accepted);
        a.record(CommandId(2), CommandResult::Completed);
        assert_eq!(a.get(CommandId(2)), Some(CommandResult::Completed), "an answer updated");
        a.record(CommandId(3), CommandResult::Completed);
        assert_eq!(a.get(CommandId(1)), None, "forgotten past 2");
        assert_eq!(Answered::<0>::new().answer(CommandId(5), || refused), refused);
    }

    proptest! {
        /// Carried out exactly when the id is not among the last N distinct ids carried out.
        #[test]
        fn agrees_with_a_list_of_the_last_n(ids in proptest::collection::vec(0u32..12, 0..200)) {
            let mut a = Answered::<5>::new();
            let mut model: std::vec::Vec<u32> = std::vec::Vec::new();
            for id in ids {
                let mut ran = false;
                a.answer(CommandId(id), || { ran = true; CommandResult::Failed(id as u16) });
                prop_assert_eq!(ran, !model.contains(&id));
                if ran {
                    model.push(id);
                    if model.len() > 5 {
                        model.remove(0);
                    }
                }
                prop_assert_eq!(a.get(CommandId(id)), Some(CommandResult::Failed(id as u16)));
            }
        }
    }
}
