//! Rules from frames: a rule set arrives as `Rule` frames over the UART, is assembled and
//! loaded, and the engine runs on the node's readings; alerts go back as frames.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use cortex_m_rt::entry;

use telemetra::model::{DeviceStatus, Timestamp};
use telemetra::rules::{CompactRule, Event, NodeEngine, Progress, RuleSetAssembler};
use telemetra_firmware_example::{self as board, app};

/// Receives a rule set and loads it. Out of line, so that what assembling needs is on the
/// stack only while rules arrive, not while the engine runs.
#[inline(never)]
fn receive_rule_set<S: embedded_io::Read + embedded_io::ReadReady>(
    uart: &mut S,
    link: &mut app::SerialLink,
    engine: &mut NodeEngine<f32>,
) {
    // Each rule is decoded in place into one reused 1.3 KB buffer and kept compact (a few
    // hundred bytes, the form the engine keeps): full-size rules never pile up.
    let mut assembler = RuleSetAssembler::<5, Box<CompactRule>>::new();
    let mut buffer = app::rule_buffer();
    // Wait for the rule set (at most 10 s).
    loop {
        if board::clock::now() > 10_000 {
            board::probe::fail(b"no rule set");
        }
        let Some(Ok(place)) = link.receive(uart, |view| view.rule_into(&mut buffer)) else { continue };
        if let Ok(Progress::Complete { .. }) = assembler.accept_copy(place, &buffer) {
            break;
        }
    }
    drop(buffer);
    if engine.load(assembler.into_rules().into_iter().flatten()).is_err() {
        board::probe::fail(b"rule set refused");
    }
}

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let link = app::SerialLink::take();
    link.send(&mut uart, 0, &DeviceStatus::Online);
    // The engine of this device, on this device: rule state within 4 KB of heap.
    let mut engine = NodeEngine::<f32>::new(app::DEVICE, &[], 4 * 1024);
    engine.online(Timestamp(0));
    receive_rule_set(&mut uart, link, &mut engine);
    // Simulated time: a reading every 10 s; the temperature climbs past every threshold.
    let (mut events, mut seq, mut alerts) = (Vec::with_capacity(2), 0u32, 0u32);
    // Room for two events per reading (an `Event` is 192 bytes); more grow it.
    for tick in 0..120u32 {
        let at = Timestamp(u64::from(tick) * 10_000);
        for r in app::sample(tick, at) {
            let channel = app::channel_name(r.channel);
            if let Some(x) = r.value.as_f32() {
                engine.ingest(channel, at, x, &mut events);
            }
        }
        engine.advance(at, &mut events);
        // Read, then cleared: `drain` would move the tail with `memmove` (1.5 KB).
        for event in &events {
            if let Event::Alert(alert) = event {
                seq += 1;
                alerts += 1;
                link.send(&mut uart, seq, alert);
            }
        }
        events.clear();
    }
    if alerts == 0 {
        board::probe::fail(b"no alert");
    }
    board::probe::finish()
}
