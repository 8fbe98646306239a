//! The boot decision, and the running image's confirmation.

use embedded_storage::nor_flash::NorFlash;

use crate::state::{self, Phase, Record};
use crate::{Layout, UpdateError};

/// Which slot to boot, recording the decision: a pending image starts on trial; an image
/// still on trial (the device reset before it confirmed) is abandoned for the previous one.
/// Without any record, slot 0 (the factory image, sequence 0).
pub fn boot<F: NorFlash>(flash: &mut F, layout: &Layout) -> Result<u8, UpdateError> {
    let log = state::read(flash, layout)?;
    let Some(latest) = log.latest else { return Ok(0) };
    match latest.phase {
        Phase::Confirmed => Ok(latest.slot),
        Phase::Pending => {
            let trial = Record { phase: Phase::Trial, ..latest };
            log.append(flash, layout, trial)?;
            Ok(latest.slot)
        }
        Phase::Trial => {
            // Reset during the trial: the previous image, at its sequence, runs again.
            let back = Record {
                phase: Phase::Confirmed,
                slot: 1 - latest.slot,
                sequence: latest.previous,
                previous: latest.previous,
                size: 0,
                digest: [0; 32],
                ..latest
            };
            log.append(flash, layout, back)?;
            Ok(back.slot)
        }
    }
}

/// The running image confirms that it works: it stays.
pub fn confirm<F: NorFlash>(flash: &mut F, layout: &Layout) -> Result<(), UpdateError> {
    let log = state::read(flash, layout)?;
    match log.latest {
        Some(r) if r.phase == Phase::Trial => {
            log.append(flash, layout, Record { phase: Phase::Confirmed, ..r }).map(drop)
        }
        Some(r) if r.phase == Phase::Confirmed => Ok(()),
        _ => Err(UpdateError::NotOnTrial),
    }
}

/// The slot that runs and its image's sequence number (anti-rollback's reference). A pending
/// update does not run yet; an image on trial does.
pub fn running<F: NorFlash>(flash: &mut F, layout: &Layout) -> Result<(u8, u64), UpdateError> {
    Ok(running_after(state::latest(flash, layout)?))
}

/// [`running`], from the latest record.
pub(crate) fn running_after(latest: Option<Record>) -> (u8, u64) {
    match latest {
        None => (0, 0),
        Some(r) => match r.phase {
            Phase::Confirmed | Phase::Trial => (r.slot, r.sequence),
            Phase::Pending => (1 - r.slot, r.previous),
        },
    }
}
