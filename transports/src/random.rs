//! Random values for protocol state: session ids, tokens, Message IDs, Echo values.

/// Eight bytes no one outside the process can predict and that no start of it repeats: the
/// clock and a counter hashed by SipHash under the process's OS-random hasher keys.
pub(crate) fn unpredictable() -> [u8; 8] {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    h.finish().to_be_bytes()
}
