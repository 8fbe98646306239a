//! The engine's devices: a slab in arrival order plus an index by id. A device keeps its slot
//! for the engine's life, so a [`ChannelHandle`](super::ChannelHandle) can name it by position
//! and skip the hash lookup, and iteration (the order of the events `advance` produces) follows
//! arrival, the same on every run.

use alloc::vec::Vec;

use telemetra_core::DeviceId;

/// Devices by slot, and slots by id.
pub(crate) struct Devices<E> {
    index: hashbrown::HashMap<DeviceId, u32, foldhash::fast::FixedState>,
    entries: Vec<(DeviceId, E)>,
}

impl<E> Devices<E> {
    pub fn new() -> Self {
        Devices {
            index: hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::default()),
            entries: Vec::new(),
        }
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

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (DeviceId, &mut E)> {
        self.entries.iter_mut().map(|(id, e)| (*id, e))
    }

    pub fn values(&self) -> impl Iterator<Item = &E> {
        self.entries.iter().map(|(_, e)| e)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut E> {
        self.entries.iter_mut().map(|(_, e)| e)
    }
}
