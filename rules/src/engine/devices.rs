//! The engine's devices: a slab of slots plus an index by id. A device keeps its slot while
//! the engine knows it, so a [`ChannelHandle`](super::ChannelHandle) can name it by position
//! and skip the hash lookup. A forgotten device's slot goes to the next new device, with its
//! generation counted up, so that a handle made for the old one is found stale.
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

/// One place for a device.
struct Slot<E> {
    id: DeviceId,
    /// Counts the devices this slot has held.
    generation: u32,
    /// `None` while free.
    entry: Option<E>,
}

/// Devices by slot, and slots by id.
pub(crate) struct Devices<E> {
    index: Index,
    slots: Vec<Slot<E>>,
    /// Slots freed by `remove`, reused first.
    free: Vec<u32>,
}

impl<E> Devices<E> {
    pub fn new() -> Self {
        Devices { index: Index::default(), slots: Vec::new(), free: Vec::new() }
    }

    /// How many devices (free slots not counted).
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn slot(&self, id: &DeviceId) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn contains_key(&self, id: &DeviceId) -> bool {
        self.index.contains_key(id)
    }

    pub fn get(&self, id: &DeviceId) -> Option<&E> {
        self.at(*self.index.get(id)?)
    }

    pub fn get_mut(&mut self, id: &DeviceId) -> Option<&mut E> {
        let slot = *self.index.get(id)?;
        self.at_mut(slot).map(|(_, e)| e)
    }

    /// The device in `slot`.
    pub fn at(&self, slot: u32) -> Option<&E> {
        self.slots.get(slot as usize)?.entry.as_ref()
    }

    /// The device in `slot`, with its id.
    #[inline]
    pub fn at_mut(&mut self, slot: u32) -> Option<(DeviceId, &mut E)> {
        let s = self.slots.get_mut(slot as usize)?;
        Some((s.id, s.entry.as_mut()?))
    }

    /// How many devices `slot` has held (a handle carries it, to tell them apart).
    #[inline]
    pub fn generation(&self, slot: u32) -> u32 {
        self.slots.get(slot as usize).map_or(0, |s| s.generation)
    }

    /// The slot of `id`, made with `new` on first sight (a freed slot first).
    pub fn slot_or_insert_with(&mut self, id: DeviceId, new: impl FnOnce() -> E) -> u32 {
        if let Some(&slot) = self.index.get(&id) {
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                (s.id, s.entry) = (id, Some(new()));
                slot
            }
            None => {
                if self.slots.capacity() == 0 {
                    // Room for one device first (a node watches itself), then the usual doubling.
                    self.slots.reserve_exact(1);
                }
                self.slots.push(Slot { id, generation: 0, entry: Some(new()) });
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(id, slot);
        slot
    }

    /// Forgets `id`: its entry is returned, and its slot waits for the next new device.
    pub fn remove(&mut self, id: &DeviceId) -> Option<E> {
        let slot = self.index.remove(id)?;
        let s = &mut self.slots[slot as usize];
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        s.entry.take()
    }

    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, &E)> {
        self.slots.iter().filter_map(|s| Some((s.id, s.entry.as_ref()?)))
    }

    pub fn values(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().filter_map(|s| s.entry.as_ref())
    }

    /// Every device with its slot.
    pub fn slots_mut(&mut self) -> impl Iterator<Item = (u32, &mut E)> {
        self.slots.iter_mut().zip(0..).filter_map(|(s, slot)| Some((slot, s.entry.as_mut()?)))
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

    pub fn remove(&mut self, id: &DeviceId) -> Option<u32> {
        let at = self.0.binary_search_by_key(id, |(d, _)| *d).ok()?;
        // Moved down one by one (no `Vec::remove`: it would link memmove on a firmware).
        let (_, slot) = self.0[at];
        for i in at..self.0.len() - 1 {
            self.0.swap(i, i + 1);
        }
        self.0.pop();
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn the_sorted_index_is_a_map(ops in proptest::collection::vec((0u32..64, any::<u32>(), any::<bool>()), 0..200)) {
            let (mut ours, mut model) = (SortedIndex::default(), BTreeMap::new());
            for (id, slot, remove) in ops {
                let id = DeviceId(u64::from(id));
                if remove {
                    prop_assert_eq!(ours.remove(&id), model.remove(&id));
                } else {
                    ours.insert(id, slot);
                    model.insert(id, slot);
                }
                for probe in 0u32..64 {
                    let probe = DeviceId(u64::from(probe));
                    prop_assert_eq!(ours.get(&probe), model.get(&probe));
                    prop_assert_eq!(ours.contains_key(&probe), model.contains_key(&probe));
                }
            }
        }
    }
}
