//! Firmware updates fed arbitrary bytes: as a signed manifest (never accepted without the
//! vendor's signature, never a panic), and as the boot state's flash sectors (whatever is
//! there, the boot decision is a slot, 0 or 1, and never a panic), and as each transfer message
//! (a request, a chunk, a status: decoded or named, never a panic; what decodes re-encodes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_update::sim::SimFlash;
use telemetra_update::{Layout, boot, running, transfer, verify};

const LAYOUT: Layout = Layout { slots: [0, 2048], slot_size: 2048, state: [4096, 5120], sector: 1024 };

fuzz_target!(|data: &[u8]| {
    let key = [0x5au8; 32];
    assert!(verify(data, &key).is_err(), "nothing verifies without the vendor's signature");
    let mut flash = SimFlash::new(6144, 1024);
    // The state sectors hold whatever the input says (cut at 2 KiB), programmed as NOR does.
    let state = &data[..data.len().min(2048)];
    use embedded_storage::nor_flash::NorFlash;
    let padded: Vec<u8> = state.iter().copied().chain(std::iter::repeat(0xff)).take(state.len().div_ceil(4) * 4).collect();
    if !padded.is_empty() {
        flash.write(4096, &padded).unwrap();
    }
    let slot = boot(&mut flash, &LAYOUT).unwrap();
    assert!(slot < 2);
    let _ = running(&mut flash, &LAYOUT).unwrap();
    let mut buf = [0u8; 8192];
    if let Ok(r) = transfer::ChunkRequest::decode(data) {
        assert_eq!(transfer::ChunkRequest::decode(r.encode(&mut buf).unwrap()), Ok(r));
    }
    if let Ok(c) = transfer::Chunk::decode(data) {
        assert_eq!(transfer::Chunk::decode(c.encode(&mut buf).unwrap()), Ok(c));
    }
    if let Ok(s) = transfer::Status::decode(data) {
        assert_eq!(transfer::Status::decode(s.encode(&mut buf).unwrap()), Ok(s));
    }
});
