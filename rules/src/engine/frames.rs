//! Frames into the engine: what a server or gateway calls for every frame it receives.

use alloc::vec::Vec;

use telemetra_codec::{Frame, Message};
use telemetra_core::Timestamp;

use super::{Engine, Event, Real};

impl<R: Real> Engine<R> {
    /// Feeds one decoded frame to the engine and returns how many readings it carried:
    ///
    /// | message | what the engine does |
    /// |---|---|
    /// | `DeviceInfo` | [`register`](Engine::register)s the device at `now` (the receiver's time) |
    /// | `Readings` | [`ingest_reading`](Engine::ingest_reading) for each, in order |
    /// | `Batch` | the same for each reading, in time order across its channels; a malformed batch is counted in `bad_batches` and skipped |
    /// | anything else | nothing (commands, acks and status are the application's) |
    ///
    /// Readings before the device's `DeviceInfo` are counted as `unknown_channels`: a device
    /// announces itself first.
    pub fn ingest_frame(&mut self, frame: &Frame, now: Timestamp, out: &mut Vec<Event<R>>) -> usize {
        match &frame.message {
            Message::DeviceInfo(info) => {
                self.register(info, now);
                0
            }
            Message::Readings(rs) => {
                for r in rs {
                    self.ingest_reading(frame.device, r.channel, r.at, &r.value, out);
                }
                rs.len()
            }
            Message::Batch(batch) => {
                let mut readings = Vec::new();
                match batch.for_each(|r| readings.push(r)) {
                    Ok(n) => {
                        // A batch lists channel after channel; the device's readings go in in
                        // time order (stable: a channel's own order is kept), or the later
                        // channels' readings would be late.
                        readings.sort_by_key(|r| r.at);
                        for r in &readings {
                            self.ingest_reading(frame.device, r.channel, r.at, &r.value, out);
                        }
                        n
                    }
                    Err(_) => {
                        self.stats.bad_batches += 1;
                        0
                    }
                }
            }
            _ => 0,
        }
    }
}
