//! telemetra's benchmarks (`cargo bench -p telemetra-benches`): each target compares telemetra
//! with a named alternative in the same run; `README.md` holds the measured tables. The package
//! exists so that the benchmarks' dependencies (criterion, the alternatives) are not the
//! published facade's dev-dependencies; this library holds what several benchmarks share.

use std::sync::atomic::{AtomicU64, Ordering};

/// A global allocator that counts heap bytes in use and their peak, so that each client's
/// memory is measured exactly (a resident set size moves by ±100 KiB between runs). A benchmark
/// installs it with `#[global_allocator] static A: Counting = Counting;`.
pub struct Counting;

static IN_USE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to the system allocator unchanged; only counters are added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size() as u64, Ordering::Relaxed) + layout.size() as u64;
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        IN_USE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// Starts a measurement: the bytes in use now, the peak reset to them.
pub fn heap_mark() -> u64 {
    let now = IN_USE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes in use beyond `mark` since [`heap_mark`] returned it.
pub fn heap_peak_since(mark: u64) -> u64 {
    PEAK.load(Ordering::Relaxed).saturating_sub(mark)
}
