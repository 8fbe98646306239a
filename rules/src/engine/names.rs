//! Channel names and their indices in the engine: a vector sorted by name, found by binary
//! search. A rule set names a handful of channels, so this holds exactly what it has (a
//! `BTreeMap` node reserves room for eleven) and links far less code on a firmware.

use alloc::vec::Vec;

use telemetra_core::Name;

/// Names, each with its index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names(Vec<(Name, usize)>);

impl Names {
    /// How many names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The index of `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|at| self.0[at].1)
    }

    /// The index of `name`, given `next` if it is new.
    pub fn get_or_insert(&mut self, name: &Name, next: usize) -> usize {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name.as_str())) {
            Ok(at) => self.0[at].1,
            Err(at) => {
                super::sorted::insert_at(&mut self.0, at, (name.clone(), next));
                next
            }
        }
    }

    /// Every name with its index, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, usize)> {
        self.0.iter().map(|(n, i)| (n, *i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn behaves_like_a_map(names in proptest::collection::vec("[a-d]{1,3}", 0..40)) {
            let (mut ours, mut model) = (Names::default(), BTreeMap::new());
            for n in &names {
                let name = Name::try_from(n.as_str()).unwrap();
                let next = model.len();
                let want = *model.entry(name.clone()).or_insert(next);
                prop_assert_eq!(ours.get_or_insert(&name, next), want);
            }
            prop_assert_eq!(ours.len(), model.len());
            for (n, i) in &model {
                prop_assert_eq!(ours.get(n), Some(*i));
            }
            prop_assert_eq!(ours.get("zzz"), None);
            let listed: Vec<_> = ours.iter().map(|(n, i)| (n.clone(), i)).collect();
            let expected: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(listed, expected);
        }
    }
}
