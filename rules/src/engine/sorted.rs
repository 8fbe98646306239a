//! Insertion into the engine's sorted vectors (channel names, the device index).
//!
//! `Vec::insert` shifts the tail with one overlapping copy, which links `memmove` (1.5 KB on a
//! Cortex-M); these vectors hold a handful of entries and change only when a rule set loads or
//! a device first appears, so the tail moves up by swaps instead.

use alloc::vec::Vec;

/// Inserts `x` at position `at` (at most `v.len()`), shifting the later entries up.
pub(crate) fn insert_at<T>(v: &mut Vec<T>, at: usize, x: T) {
    v.push(x);
    for i in (at + 1..v.len()).rev() {
        v.swap(i, i - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn inserts_like_vec_insert(v in proptest::collection::vec(any::<u8>(), 0..20), at in any::<usize>(), x in any::<u8>()) {
            let at = at % (v.len() + 1);
            let (mut ours, mut theirs) = (v.clone(), v);
            insert_at(&mut ours, at, x);
            theirs.insert(at, x);
            prop_assert_eq!(ours, theirs);
        }
    }
}
