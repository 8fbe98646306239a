//! The global allocator: a linked-list heap in a static region, counting its peak use.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// Bytes reserved for the heap. The measured peaks are in the README's Firmware section;
/// size this to them with a margin.
pub const HEAP_SIZE: usize = 48 * 1024;

struct Counting {
    heap: LlffHeap,
    used: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: every method forwards to `LlffHeap`, whose allocations are valid; the counters are
// bookkeeping only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            let used = self.used.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with `layout` (the caller's contract).
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: Counting =
    Counting { heap: LlffHeap::empty(), used: AtomicUsize::new(0), peak: AtomicUsize::new(0) };

/// Hands the heap its region. Call once, before anything allocates.
pub fn init() {
    // Outside .bss: not zeroed at boot and not counted as static RAM by `scripts/size` (the
    // peak heap is measured instead).
    #[unsafe(link_section = ".uninit.HEAP")]
    static mut REGION: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
    // SAFETY: called once at start-up, before any allocation; REGION is used by nothing else.
    unsafe { HEAP.heap.init(core::ptr::addr_of_mut!(REGION) as usize, HEAP_SIZE) }
}

/// The most bytes allocated at once so far.
pub fn peak() -> usize {
    HEAP.peak.load(Ordering::Relaxed)
}
