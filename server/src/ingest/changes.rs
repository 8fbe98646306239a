//! Which devices' stored state just changed (frames stored, a status set, an alarm or a
//! command recorded or sent): what a live view listens to instead of polling the store.

use telemetra_core::DeviceId;
use tokio::sync::broadcast;

/// Device ids held for a slow listener before it lags (and is told so).
const BACKLOG: usize = 4_096;

/// Where a running pipeline announces the devices whose stored state changed; cheap to
/// clone. Get it from [`Ingest::changes`](super::Ingest::changes), listen with
/// [`subscribe`](Self::subscribe).
#[derive(Debug, Clone)]
pub struct Changes {
    tx: broadcast::Sender<DeviceId>,
}

impl Changes {
    pub(crate) fn new() -> Changes {
        Changes { tx: broadcast::channel(BACKLOG).0 }
    }

    /// Announces that `device`'s stored state changed (after the store committed it).
    pub(crate) fn notify(&self, device: DeviceId) {
        // No listener is not an error: nobody is watching.
        let _ = self.tx.send(device);
    }

    /// The devices changed from now on, in order. A listener more than 4,096 behind gets
    /// `Lagged` once and goes on from the oldest still held: it should then look at
    /// everything it shows again.
    pub fn subscribe(&self) -> broadcast::Receiver<DeviceId> {
        self.tx.subscribe()
    }
}
