//! Moving an update over any link: the messages between the device and the server that offers
//! the update, and the device's side of the exchange as a sans-IO state machine ([`Fetcher`]).
//!
//! The server offers the signed manifest envelope (on MQTT, retained on the device's
//! `firmware/offer` route). The device checks it ([`Download::begin`]) and *pulls* the image: it
//! asks for a run of chunks ([`ChunkRequest`]), the server answers each with a [`Chunk`], and
//! the device writes them by offset. The device sets the pace, so a slow link or a busy device is
//! never flooded; a lost request or chunk is asked for again after a timeout; after a dropped
//! link it goes on from [`Download::missing`]. The device reports how far it got with a
//! [`Status`] (retained on MQTT), which is how the server tracks a fleet.
//!
//! Every message is one format byte ([`TRANSFER_FORMAT`]) and postcard. Decoding never panics,
//! never allocates and checks lengths.
//!
//! ```
//! use telemetra_update::transfer::{Chunk, ChunkRequest, Progress, Status};
//!
//! let mut buf = [0u8; 64];
//! let req = ChunkRequest { sequence: 7, offset: 1024, count: 4 };
//! assert_eq!(ChunkRequest::decode(req.encode(&mut buf)?)?, req);
//! let chunk = Chunk { sequence: 7, offset: 1024, data: b"image bytes" };
//! assert_eq!(Chunk::decode(chunk.encode(&mut buf)?)?, chunk);
//! let status = Status { sequence: 7, progress: Progress::Downloading { received: 3, chunks: 10 } };
//! assert_eq!(Status::decode(status.encode(&mut buf)?)?, status);
//! # Ok::<(), telemetra_update::transfer::TransferError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::{Download, Manifest, UpdateError};

/// The format byte that starts every transfer message of this build.
pub const TRANSFER_FORMAT: u8 = 1;

/// The most chunks one request asks for (a server sends no more for one request).
pub const MAX_RUN: u16 = 32;

/// The largest chunk a message carries.
pub const MAX_CHUNK: usize = 4096;

/// A transfer message could not be encoded or decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The message is empty.
    #[error("the message is empty")]
    Empty,
    /// The format byte is not one this build reads.
    #[error("transfer format {0} is not supported (this build reads 1)")]
    UnknownFormat(u8),
    /// The bytes are not a well-formed message (truncated, bad field, bytes after it, a chunk
    /// over [`MAX_CHUNK`] or a run over [`MAX_RUN`]).
    #[error("the transfer message is malformed")]
    Malformed,
    /// The output buffer is too small.
    #[error("the output buffer is too small")]
    BufferTooSmall,
}

/// Device → server: send `count` chunks starting at `offset`, of update `sequence`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ChunkRequest {
    /// The update's sequence number (its manifest's).
    pub sequence: u64,
    /// The first chunk's offset in the image.
    pub offset: u32,
    /// How many consecutive chunks (1 to [`MAX_RUN`]).
    pub count: u16,
}

/// Server → device: the chunk of update `sequence` at `offset`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Chunk<'a> {
    /// The update's sequence number.
    pub sequence: u64,
    /// Its offset in the image.
    pub offset: u32,
    /// Its bytes (at most [`MAX_CHUNK`]).
    pub data: &'a [u8],
}

/// How far a device got with an update.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Progress {
    /// Receiving: `received` of `chunks` chunks are written.
    Downloading {
        /// Chunks written.
        received: u32,
        /// Chunks in the image.
        chunks: u32,
    },
    /// Every chunk written and the image's digest checked: it boots next (on trial).
    Ready,
    /// The update runs and is confirmed.
    Running,
    /// The device refused the update, or it failed; the reason.
    Refused(UpdateError),
}

/// Device → server: the device's progress with update `sequence`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Status {
    /// The update's sequence number.
    pub sequence: u64,
    /// How far it got.
    pub progress: Progress,
}

fn encode<'b, T: Serialize>(value: &T, buf: &'b mut [u8]) -> Result<&'b [u8], TransferError> {
    let (first, rest) = buf.split_first_mut().ok_or(TransferError::BufferTooSmall)?;
    *first = TRANSFER_FORMAT;
    let n = postcard::to_slice(value, rest).map_err(|_| TransferError::BufferTooSmall)?.len();
    Ok(&buf[..1 + n])
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, TransferError> {
    let (&format, rest) = bytes.split_first().ok_or(TransferError::Empty)?;
    if format != TRANSFER_FORMAT {
        return Err(TransferError::UnknownFormat(format));
    }
    match postcard::take_from_bytes(rest) {
        Ok((value, [])) => Ok(value),
        _ => Err(TransferError::Malformed),
    }
}

impl ChunkRequest {
    /// Encodes the request (at most 18 bytes).
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], TransferError> {
        encode(self, buf)
    }

    /// Decodes a request; a run of 0 or over [`MAX_RUN`] chunks is malformed.
    pub fn decode(bytes: &[u8]) -> Result<ChunkRequest, TransferError> {
        let r: ChunkRequest = decode(bytes)?;
        if r.count == 0 || r.count > MAX_RUN {
            return Err(TransferError::Malformed);
        }
        Ok(r)
    }
}

impl<'a> Chunk<'a> {
    /// Encodes the chunk (its data plus at most 18 bytes).
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], TransferError> {
        if self.data.len() > MAX_CHUNK {
            return Err(TransferError::Malformed);
        }
        encode(self, buf)
    }

    /// Decodes a chunk, borrowing its data from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Chunk<'a>, TransferError> {
        let c: Chunk<'a> = decode(bytes)?;
        if c.data.len() > MAX_CHUNK {
            return Err(TransferError::Malformed);
        }
        Ok(c)
    }
}

impl Status {
    /// Encodes the status (at most 24 bytes).
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], TransferError> {
        encode(self, buf)
    }

    /// Decodes a status.
    pub fn decode(bytes: &[u8]) -> Result<Status, TransferError> {
        decode(bytes)
    }
}

/// The device's side of a transfer: which chunks to ask for, and when to ask again. It keeps
/// one run of up to `window` chunks in flight; when the run has arrived it asks for the next
/// missing run, and when `timeout_ms` passes without the run complete it asks again from the
/// first chunk still missing (a lost request, a lost chunk, a dropped link).
#[derive(Clone, Copy, Debug)]
pub struct Fetcher {
    sequence: u64,
    chunk_size: u32,
    window: u16,
    timeout_ms: u64,
    in_flight: Option<(u32, u32, u64)>,
    asked: u32,
}

impl Fetcher {
    /// A fetcher for the download of `manifest`'s image, asking for up to `window` chunks at
    /// once (1 to [`MAX_RUN`]) and again after `timeout_ms`.
    pub fn new(manifest: &Manifest, window: u16, timeout_ms: u64) -> Fetcher {
        Fetcher {
            sequence: manifest.sequence,
            chunk_size: manifest.chunk_size.max(1),
            window: window.clamp(1, MAX_RUN),
            timeout_ms,
            in_flight: None,
            asked: 0,
        }
    }

    /// The request to send now, if any: the next missing run once the last has arrived or
    /// timed out. `None` when waiting, or when nothing is missing.
    pub fn poll(&mut self, download: &Download, now_ms: u64) -> Option<ChunkRequest> {
        let mut missing = download.missing();
        let first = missing.next()?;
        if let Some((start, end, sent)) = self.in_flight
            && (start..end).contains(&first)
            && now_ms < sent.saturating_add(self.timeout_ms)
        {
            return None;
        }
        // The run: consecutive missing chunks from the first, up to the window.
        let mut count: u16 = 1;
        for next in missing {
            if count == self.window || next != first + u32::from(count) * self.chunk_size {
                break;
            }
            count += 1;
        }
        self.in_flight = Some((first, first + u32::from(count) * self.chunk_size, now_ms));
        self.asked += u32::from(count);
        Some(ChunkRequest { sequence: self.sequence, offset: first, count })
    }

    /// When [`Fetcher::poll`] may have something to send without a chunk arriving first.
    pub fn next_timeout(&self) -> Option<u64> {
        self.in_flight.map(|(_, _, sent)| sent.saturating_add(self.timeout_ms))
    }

    /// How many chunks were asked for in all (more than the image's chunks when some were asked
    /// for again).
    pub fn asked(&self) -> u32 {
        self.asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimFlash;
    use crate::{Layout, sign};
    use proptest::prelude::*;

    const LAYOUT: Layout =
        Layout { slots: [0, 16384], slot_size: 16384, state: [32768, 33792], sector: 1024 };
    const SEED: [u8; 32] = [0x11; 32];

    fn offer(image: &[u8], chunk_size: u32) -> ([u8; crate::MAX_ENVELOPE], usize) {
        let m = Manifest::for_image(image, 5, 1, 2, chunk_size);
        let mut env = [0u8; crate::MAX_ENVELOPE];
        let n = sign(&m, &SEED, &mut env).unwrap();
        (env, n)
    }

    /// The server's side, simplest: the chunks a request asks for.
    fn serve<'a>(
        image: &'a [u8],
        chunk_size: u32,
        r: &ChunkRequest,
    ) -> impl Iterator<Item = (u32, &'a [u8])> {
        (0..u32::from(r.count))
            .map(move |i| r.offset + i * chunk_size)
            .filter(|&o| (o as usize) < image.len())
            .map(move |o| (o, &image[o as usize..(o as usize + chunk_size as usize).min(image.len())]))
    }

    #[test]
    fn a_run_at_a_time_with_lost_chunks_asked_for_again() {
        let image: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (env, n) = offer(&image, 512);
        let mut flash = SimFlash::new(34816, 1024);
        let key = crate::public_key(&SEED).unwrap();
        let mut d = Download::begin(&mut flash, &LAYOUT, &env[..n], &key, (1, 2)).unwrap();
        let mut f = Fetcher::new(d.manifest(), 8, 1000);
        let mut now = 0;
        let mut lost = 0;
        let mut rounds = 0;
        loop {
            let Some(first) = d.missing().next() else { break };
            rounds += 1;
            assert!(rounds < 100);
            match f.poll(&d, now) {
                Some(r) => {
                    assert_eq!(r.offset, first);
                    assert!(r.count <= 8);
                    let mut buf = [0u8; 32];
                    let r = ChunkRequest::decode(r.encode(&mut buf).unwrap()).unwrap();
                    for (i, (o, data)) in serve(&image, 512, &r).enumerate() {
                        // Every third run loses its second chunk.
                        if rounds % 3 == 0 && i == 1 {
                            lost += 1;
                            continue;
                        }
                        let mut buf = [0u8; 600];
                        let c =
                            Chunk::decode(Chunk { sequence: 5, offset: o, data }.encode(&mut buf).unwrap())
                                .unwrap();
                        d.write(&mut flash, c.offset, c.data).unwrap();
                    }
                }
                // Waiting for a lost chunk: nothing until the timeout.
                None => {
                    assert!(f.poll(&d, now).is_none());
                    now = f.next_timeout().unwrap();
                }
            }
        }
        assert!(lost > 0);
        assert!(f.poll(&d, now).is_none(), "nothing missing, nothing asked");
        assert!(f.asked() >= d.manifest().chunks());
        d.finish(&mut flash).unwrap();
    }

    #[test]
    fn malformed_messages_are_named() {
        assert_eq!(ChunkRequest::decode(&[]), Err(TransferError::Empty));
        assert_eq!(ChunkRequest::decode(&[2, 0, 0, 1]), Err(TransferError::UnknownFormat(2)));
        let mut buf = [0u8; 32];
        let zero = ChunkRequest { sequence: 1, offset: 0, count: 0 }.encode(&mut buf).unwrap().to_vec();
        assert_eq!(ChunkRequest::decode(&zero), Err(TransferError::Malformed));
        let many =
            ChunkRequest { sequence: 1, offset: 0, count: MAX_RUN + 1 }.encode(&mut buf).unwrap().to_vec();
        assert_eq!(ChunkRequest::decode(&many), Err(TransferError::Malformed));
        let ok = ChunkRequest { sequence: 1, offset: 0, count: 1 }.encode(&mut buf).unwrap().to_vec();
        assert_eq!(ChunkRequest::decode(&[ok.as_slice(), &[0]].concat()), Err(TransferError::Malformed));
        let big = [0u8; MAX_CHUNK + 1];
        assert_eq!(
            Chunk { sequence: 1, offset: 0, data: &big }.encode(&mut [0u8; 5000]),
            Err(TransferError::Malformed)
        );
        assert_eq!(
            ChunkRequest { sequence: 1, offset: 0, count: 1 }.encode(&mut [0u8; 3]),
            Err(TransferError::BufferTooSmall)
        );
        let refused = Status {
            sequence: 9,
            progress: Progress::Refused(UpdateError::Rollback { offered: 9, running: 12 }),
        };
        assert_eq!(Status::decode(refused.encode(&mut buf).unwrap()).unwrap(), refused);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ChunkRequest::decode(&bytes);
            let _ = Chunk::decode(&bytes);
            let _ = Status::decode(&bytes);
        }

        #[test]
        fn any_loss_pattern_ends_with_the_whole_image(
            size in 1usize..12_000,
            chunk in prop::sample::select(vec![64u32, 256, 1024]),
            window in 1u16..40,
            loss in proptest::collection::vec(any::<bool>(), 64),
        ) {
            let image: Vec<u8> = (0..size).map(|i| (i * 13 + 1) as u8).collect();
            let (env, n) = offer(&image, chunk);
            let mut flash = SimFlash::new(34816, 1024);
            let key = crate::public_key(&SEED).unwrap();
            let mut d = Download::begin(&mut flash, &LAYOUT, &env[..n], &key, (1, 2)).unwrap();
            let mut f = Fetcher::new(d.manifest(), window, 500);
            let (mut now, mut k) = (0u64, 0usize);
            for _ in 0..10_000 {
                if d.missing().next().is_none() { break; }
                match f.poll(&d, now) {
                    Some(r) => for (o, data) in serve(&image, chunk, &r) {
                        k += 1;
                        if !loss[k % loss.len()] || k % 7 == 0 {
                            d.write(&mut flash, o, data).unwrap();
                        }
                    },
                    None => now = f.next_timeout().unwrap(),
                }
            }
            prop_assert!(d.missing().next().is_none());
            prop_assert!(d.finish(&mut flash).is_ok());
        }
    }
}
