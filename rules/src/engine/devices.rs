//! The engine's devices: a slab in arrival order plus an index by id. A device keeps its slot
//! for the engine's life, so a [`ChannelHandle`](super::ChannelHandle) can name it by position
//! and skip the hash lookup, and iteration (the order of the events `advance` produces) follows
//! arrival, the same on every run.
//!
//! The index is a hash map with the `device-hash` feature (servers: `std` implies it), else a
//! sorted vector: a binary search among the few devices a node or small gateway watches, and
//! a fraction of the flash.

use alloc::vec::Vec;

use telemetra_core::DeviceId;

#[cfg(feature = "device-hash")]
type Index = hashbrown::HashMap<DeviceId, u32, foldhash::fast::FixedState>;
#[cfg(not(feature = "device-hash"))]
type Index = SortedIndex;

/// Devices by slot, and slots by id.
pub(crate) struct Devices<E> {
    index: Index,
    entries: Vec<(DeviceId, E)>,
}

impl<E> Devices<E> {
    pub fn new() -> Self {
        Devices { index: Index::default(), entries: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn slot(&self, id: &DeviceId) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn contains_key(&self, id: &DeviceId) -> bool {
        self.index.contains_key(id)
    }

    pub fn get(&self, id: &DeviceId) -> Option<&E> {
        let slot = *self.index.get(id)?;
        self.entries.get(slot as usize).map(|(_, e)| e)
    }

    pub fn get_mut(&mut self, id: &DeviceId) -> Option<&mut E> {
        let slot = *self.index.get(id)?;
        self.entries.get_mut(slot as usize).map(|(_, e)| e)
    }

    /// The device in `slot`.
    pub fn at(&self, slot: u32) -> Option<&E> {
        self.entries.get(slot as usize).map(|(_, e)| e)
    }

    /// The device in `slot`, with its id.
    #[inline]
    pub fn at_mut(&mut self, slot: u32) -> Option<(DeviceId, &mut E)> {
        self.entries.get_mut(slot as usize).map(|(id, e)| (*id, e))
    }

    /// The slot of `id`, made with `new` on first sight.
    pub fn slot_or_insert_with(&mut self, id: DeviceId, new: impl FnOnce() -> E) -> u32 {
        if let Some(&slot) = self.index.get(&id) {
            return slot;
        }
        let slot = self.entries.len() as u32;
        if self.entries.capacity() == 0 {
            // Room for one device first (a node watches itself), then the usual doubling.
            self.entries.reserve_exact(1);
        }
        self.entries.push((id, new()));
        self.index.insert(id, slot);
        slot
    }

    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, &E)> {
        self.entries.iter().map(|(id, e)| (*id, e))
    }

    pub fn values(&self) -> impl Iterator<Item = &E> {
        self.entries.iter().map(|(_, e)| e)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut E> {
        self.entries.iter_mut().map(|(_, e)| e)
    }
}

/// Slots by id in a vector sorted by id: the index without `device-hash`.
#[derive(Default)]
#[cfg_attr(feature = "device-hash", allow(dead_code))]
pub(crate) struct SortedIndex(Vec<(DeviceId, u32)>);

#[cfg_attr(feature = "device-hash", allow(dead_code))]
impl SortedIndex {
    pub fn get(&self, id: &DeviceId) -> Option<&u32> {
        let at = self.0.binary_search_by_key(id, |(d, _)| *d).ok()?;
        Some(&self.0[at].1)
    }

    pub fn contains_key(&self, id: &DeviceId) -> bool {
        self.get(id).is_some()
    }

    pub fn insert(&mut self, id: DeviceId, slot: u32) {
        match self.0.binary_search_by_key(&id, |(d, _)| *d) {
            Ok(at) => self.0[at].1 = slot,
            Err(at) => super::sorted::insert_at(&mut self.0, at, (id, slot)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn the_sorted_index_is_a_map(ops in proptest::collection::vec((0u32..64, any::<u32>()), 0..200)) {
            let (mut ours, mut model) = (SortedIndex::default(), BTreeMap::new());
            for (id, slot) in ops {
                let id = DeviceId(u64::from(id));
                ours.insert(id, slot);
                model.insert(id, slot);
                for probe in 0u32..64 {
                    let probe = DeviceId(u64::from(probe));
                    prop_assert_eq!(ours.get(&probe), model.get(&probe));
                    prop_assert_eq!(ours.contains_key(&probe), model.contains_key(&probe));
                }
            }
        }
    }
}
