//! A set of packet identifiers (the QoS 2 messages received and not yet released): a sorted
//! vector, which costs a fraction of a `BTreeSet`'s code in flash and finds an id by binary
//! search among at most Receive Maximum of them.

use alloc::vec::Vec;

/// Packet identifiers, each at most once.
#[derive(Debug, Clone, Default)]
pub(super) struct PacketIds(Vec<u16>);

impl PacketIds {
    /// True if `id` is in the set.
    pub fn contains(&self, id: u16) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// Adds `id`; false if it was there already.
    pub fn insert(&mut self, id: u16) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    /// Removes `id`; false if it was not there.
    pub fn remove(&mut self, id: u16) -> bool {
        match self.0.binary_search(&id) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Forgets every id.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u16..50), 0..200)) {
            let (mut ours, mut model) = (PacketIds::default(), BTreeSet::new());
            for (add, id) in ops {
                if add {
                    prop_assert_eq!(ours.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(ours.remove(id), model.remove(&id));
                }
                prop_assert_eq!(ours.len(), model.len());
                prop_assert_eq!(ours.contains(id), model.contains(&id));
            }
        }
    }
}
