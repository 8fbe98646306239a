//! Firmware updates for a fleet: offer a signed release to devices, serve the chunks each one
//! asks for, and track how far each device got.
//!
//! The exchange is `telemetra_update::transfer`'s, on each device's firmware routes
//! (`tm/v1/{device}/firmware/...`): the offer (the signed manifest envelope, retained), the
//! device's chunk requests, the chunks, and the device's status (retained). The device pulls
//! at its own pace and resumes after a dropped link; the server only answers, and only devices
//! the release was offered to.
//!
//! Progress needs no database: statuses are retained by the broker, so a restarted server that
//! subscribes again learns every device's state at once. Releases (the images) are added again
//! at start.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use telemetra_core::DeviceId;
use telemetra_core::route::{FirmwareRoute, firmware_topic, parse_firmware_topic};
use telemetra_transports::mqtt::client::Message;
use telemetra_transports::mqtt::driver::MqttClient;
use telemetra_transports::mqtt::packet::publish::QoS;
use telemetra_update::transfer::{Chunk, ChunkRequest, MAX_CHUNK, Progress, Status};
use telemetra_update::{Manifest, UpdateError, digest, verify};

/// Why a release or an offer was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetUpdateError {
    /// The manifest does not verify under the vendor's key, or is malformed.
    #[error("the manifest does not verify: {0}")]
    Manifest(UpdateError),
    /// The image is not the one the manifest describes (size or digest).
    #[error("the image is not the manifest's ({0})")]
    Image(&'static str),
    /// The manifest's chunks are larger than a transfer message carries.
    #[error("chunks of {0} bytes are larger than a transfer carries")]
    ChunkSize(u32),
    /// No release with that sequence number was added.
    #[error("no release {0}")]
    UnknownRelease(u64),
    /// The broker did not take the offer.
    #[error("offer not published: {0}")]
    Broker(String),
}

/// A signed image, ready to offer: the manifest envelope and the image it describes.
#[derive(Debug)]
pub struct Release {
    envelope: Vec<u8>,
    manifest: Manifest,
    image: Vec<u8>,
}

impl Release {
    /// A release from the vendor's signed manifest `envelope` and the `image`, checked as a
    /// device would (the signature under `vendor_key`), and against each other (size, digest).
    pub fn new(
        envelope: Vec<u8>,
        image: Vec<u8>,
        vendor_key: &[u8; 32],
    ) -> Result<Release, FleetUpdateError> {
        let manifest = verify(&envelope, vendor_key).map_err(FleetUpdateError::Manifest)?;
        if manifest.size as usize != image.len() {
            return Err(FleetUpdateError::Image("size"));
        }
        if manifest.digest != digest(&image) {
            return Err(FleetUpdateError::Image("digest"));
        }
        if manifest.chunk_size == 0 || manifest.chunk_size as usize > MAX_CHUNK {
            return Err(FleetUpdateError::ChunkSize(manifest.chunk_size));
        }
        Ok(Release { envelope, manifest, image })
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn chunk(&self, offset: u32) -> Option<&[u8]> {
        let start = offset as usize;
        if !offset.is_multiple_of(self.manifest.chunk_size) || start >= self.image.len() {
            return None;
        }
        Some(&self.image[start..(start + self.manifest.chunk_size as usize).min(self.image.len())])
    }
}

/// What the server knows of one device's update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceProgress {
    /// The release offered to it (the latest offer).
    pub offered: Option<u64>,
    /// The device's last status, and the release it was about.
    pub status: Option<Status>,
    /// Chunks sent to it for the release offered.
    pub chunks_sent: u64,
    /// When the server last heard from it or about it.
    pub updated: SystemTime,
}

impl DeviceProgress {
    /// True when the device runs the release it was offered.
    pub fn is_done(&self) -> bool {
        matches!(self.status, Some(Status { sequence, progress: Progress::Running }) if Some(sequence) == self.offered)
    }
}

/// What the service has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetUpdateStats {
    /// Chunk requests answered.
    pub requests: u64,
    /// Chunks sent.
    pub chunks_sent: u64,
    /// Messages dropped: undecodable, for a release not offered to that device, or out of the
    /// image.
    pub refused: u64,
    /// Statuses received.
    pub statuses: u64,
}

/// The fleet's update service.
#[derive(Debug, Default)]
pub struct FleetUpdates {
    releases: Mutex<HashMap<u64, Arc<Release>>>,
    devices: Mutex<BTreeMap<DeviceId, DeviceProgress>>,
    stats: Mutex<FleetUpdateStats>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FleetUpdates {
    /// A service with no release yet.
    pub fn new() -> FleetUpdates {
        FleetUpdates::default()
    }

    /// Adds a release (by its sequence number).
    pub fn add_release(&self, release: Release) {
        lock(&self.releases).insert(release.manifest.sequence, Arc::new(release));
    }

    /// What the service has done.
    pub fn stats(&self) -> FleetUpdateStats {
        *lock(&self.stats)
    }

    /// Every device's progress, by device id.
    pub fn progress(&self) -> BTreeMap<DeviceId, DeviceProgress> {
        lock(&self.devices).clone()
    }

    fn device(&self, device: DeviceId, f: impl FnOnce(&mut DeviceProgress)) {
        let mut devices = lock(&self.devices);
        let p = devices.entry(device).or_insert(DeviceProgress {
            offered: None,
            status: None,
            chunks_sent: 0,
            updated: SystemTime::now(),
        });
        f(p);
        p.updated = SystemTime::now();
    }

    /// Offers release `sequence` to `devices`: its manifest envelope, retained, on each one's
    /// offer route (a device that is offline finds it when it connects).
    pub async fn offer(
        &self,
        client: &MqttClient,
        sequence: u64,
        devices: &[DeviceId],
    ) -> Result<(), FleetUpdateError> {
        let release =
            lock(&self.releases).get(&sequence).cloned().ok_or(FleetUpdateError::UnknownRelease(sequence))?;
        for &device in devices {
            let topic = firmware_topic(device, FirmwareRoute::Offer);
            let mut m = Message::new(topic.as_str(), release.envelope.clone()).with_qos(QoS::AtLeastOnce);
            m.retain = true;
            client.publish(m).await.map_err(|r| FleetUpdateError::Broker(r.reason.to_string()))?;
            self.device(device, |p| {
                if p.offered != Some(sequence) {
                    p.chunks_sent = 0;
                }
                p.offered = Some(sequence);
            });
            tracing::info!(device = %device, sequence, "update offered");
        }
        Ok(())
    }

    /// Handles one message from a device's firmware routes: a chunk request is answered with
    /// the chunks (topic and payload of each), a status is recorded. Anything else, or a request
    /// for a release not offered to that device, is dropped and counted.
    pub fn handle(&self, topic: &str, payload: &[u8]) -> Vec<(String, Vec<u8>)> {
        match parse_firmware_topic(topic) {
            Some((device, FirmwareRoute::Get)) => self.answer(device, payload),
            Some((device, FirmwareRoute::Status)) => {
                match Status::decode(payload) {
                    Ok(status) => {
                        lock(&self.stats).statuses += 1;
                        self.device(device, |p| p.status = Some(status));
                        tracing::debug!(device = %device, ?status, "update status");
                    }
                    // A retained status cleared by an empty message is no status.
                    Err(_) if payload.is_empty() => {}
                    Err(e) => self.refuse(device, &e.to_string()),
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn refuse(&self, device: DeviceId, why: &str) {
        lock(&self.stats).refused += 1;
        tracing::warn!(device = %device, "firmware message dropped: {why}");
    }

    fn answer(&self, device: DeviceId, payload: &[u8]) -> Vec<(String, Vec<u8>)> {
        let request = match ChunkRequest::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                self.refuse(device, &e.to_string());
                return Vec::new();
            }
        };
        let offered = lock(&self.devices).get(&device).and_then(|p| p.offered);
        let release = lock(&self.releases).get(&request.sequence).cloned();
        let Some(release) = release.filter(|_| offered == Some(request.sequence)) else {
            self.refuse(device, "a release not offered to it");
            return Vec::new();
        };
        let topic = firmware_topic(device, FirmwareRoute::Chunk);
        let mut out = Vec::new();
        for i in 0..u32::from(request.count) {
            let Some(offset) = request.offset.checked_add(i * release.manifest.chunk_size) else { break };
            let Some(data) = release.chunk(offset) else { break };
            let mut buf = vec![0u8; data.len() + 32];
            let n = match (Chunk { sequence: request.sequence, offset, data }).encode(&mut buf) {
                Ok(bytes) => bytes.len(),
                Err(_) => break,
            };
            buf.truncate(n);
            out.push((topic.as_str().to_owned(), buf));
        }
        if out.is_empty() {
            self.refuse(device, "a request outside the image");
            return out;
        }
        let sent = out.len() as u64;
        {
            let mut s = lock(&self.stats);
            s.requests += 1;
            s.chunks_sent += sent;
        }
        self.device(device, |p| p.chunks_sent += sent);
        out
    }

    /// Serves the fleet on `client` until it closes: subscribes to every device's chunk requests
    /// and statuses (the retained statuses arrive at once: the progress of a restarted server)
    /// and answers each request at QoS 1.
    pub async fn serve(&self, client: &MqttClient) -> Result<(), FleetUpdateError> {
        for route in [FirmwareRoute::Status, FirmwareRoute::Get] {
            client
                .subscribe(&route.filter(), QoS::AtLeastOnce)
                .await
                .map_err(|e| FleetUpdateError::Broker(e.to_string()))?;
        }
        while let Some(m) = client.recv().await {
            for (topic, payload) in self.handle(&m.topic, &m.payload) {
                if let Err(r) = client.publish(Message::new(topic, payload).with_qos(QoS::AtLeastOnce)).await
                {
                    tracing::warn!("chunk not sent: {}", r.reason);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use telemetra_update::transfer::{Fetcher, TransferError};
    use telemetra_update::{Download, Layout, public_key, sign};

    use super::*;

    const SEED: [u8; 32] = [0x22; 32];

    fn release(sequence: u64, image: &[u8], chunk_size: u32) -> Release {
        let m = Manifest::for_image(image, sequence, 1, 2, chunk_size);
        let mut env = [0u8; telemetra_update::MAX_ENVELOPE];
        let n = sign(&m, &SEED, &mut env).unwrap();
        Release::new(env[..n].to_vec(), image.to_vec(), &public_key(&SEED).unwrap()).unwrap()
    }

    fn get(sequence: u64, offset: u32, count: u16) -> Vec<u8> {
        let mut buf = [0u8; 32];
        ChunkRequest { sequence, offset, count }.encode(&mut buf).unwrap().to_vec()
    }

    #[test]
    fn a_release_must_be_the_image_its_manifest_names() {
        let image = vec![7u8; 3000];
        let good = release(3, &image, 512);
        let key = public_key(&SEED).unwrap();
        let other = Release::new(good.envelope.clone(), vec![8u8; 3000], &key).unwrap_err();
        assert!(matches!(other, FleetUpdateError::Image("digest")), "{other}");
        let short = Release::new(good.envelope.clone(), vec![7u8; 2999], &key).unwrap_err();
        assert!(matches!(short, FleetUpdateError::Image("size")), "{short}");
        let foreign = Release::new(good.envelope.clone(), image, &[9; 32]).unwrap_err();
        assert!(matches!(foreign, FleetUpdateError::Manifest(_)), "{foreign}");
    }

    #[test]
    fn chunks_go_only_to_devices_offered_the_release() {
        let image: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let s = FleetUpdates::new();
        s.add_release(release(3, &image, 512));
        let dev = DeviceId(0x2a);
        let get_topic = firmware_topic(dev, FirmwareRoute::Get);
        assert!(s.handle(&get_topic, &get(3, 0, 4)).is_empty(), "not offered yet");
        s.device(dev, |p| p.offered = Some(3));
        let out = s.handle(&get_topic, &get(3, 2048, 4));
        // 2048 and 2560 (the last, 440 bytes); nothing past the end.
        assert_eq!(out.len(), 2);
        let last = Chunk::decode(&out[1].1).unwrap();
        assert_eq!((last.offset, last.data), (2560, &image[2560..]));
        assert_eq!(out[0].0, "tm/v1/2a/firmware/chunk");
        assert!(s.handle(&get_topic, &get(3, 100, 1)).is_empty(), "not a chunk boundary");
        assert!(s.handle(&get_topic, &get(4, 0, 1)).is_empty(), "another release");
        assert!(s.handle(&get_topic, &[1, 2, 3]).is_empty());
        assert_eq!(s.stats(), FleetUpdateStats { requests: 1, chunks_sent: 2, refused: 4, statuses: 0 });
        assert_eq!(s.progress()[&dev].chunks_sent, 2);
    }

    #[test]
    fn a_device_pulls_the_whole_image_through_the_service() {
        let image: Vec<u8> = (0..9000u32).map(|i| (i * 31) as u8).collect();
        let s = FleetUpdates::new();
        s.add_release(release(3, &image, 512));
        let dev = DeviceId(7);
        s.device(dev, |p| p.offered = Some(3));
        let layout = Layout { slots: [0, 16384], slot_size: 16384, state: [32768, 33792], sector: 1024 };
        let mut flash = telemetra_update::sim::SimFlash::new(34816, 1024);
        let env = lock(&s.releases)[&3].envelope.clone();
        let mut d = Download::begin(&mut flash, &layout, &env, &public_key(&SEED).unwrap(), (1, 2)).unwrap();
        let mut f = Fetcher::new(d.manifest(), 6, 1000);
        while let Some(r) = f.poll(&d, 0) {
            let mut buf = [0u8; 32];
            for (_, payload) in
                s.handle(&firmware_topic(dev, FirmwareRoute::Get), r.encode(&mut buf).unwrap())
            {
                let c = Chunk::decode(&payload).unwrap();
                d.write(&mut flash, c.offset, c.data).unwrap();
            }
        }
        d.finish(&mut flash).unwrap();
        let mut buf = [0u8; 32];
        let ready = Status { sequence: 3, progress: Progress::Ready };
        s.handle(&firmware_topic(dev, FirmwareRoute::Status), ready.encode(&mut buf).unwrap());
        assert_eq!(s.progress()[&dev].status, Some(ready));
        assert_eq!(s.stats().chunks_sent, 18);
        assert_eq!(Status::decode(&[]), Err(TransferError::Empty));
    }
}
