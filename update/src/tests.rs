//! The update path under faults: a power cut at every write and erase of an update and of its
//! boot bookkeeping, refusals with their reasons, chunks in any order.

use proptest::prelude::*;

use crate::sim::SimFlash;
use crate::*;

const LAYOUT: Layout = Layout { slots: [0, 8192], slot_size: 8192, state: [16384, 17408], sector: 1024 };
const SEED: [u8; 32] = [3; 32];
const DEVICE: (u32, u32) = (0x7e1e, 7);
const CHUNK: u32 = 512;

fn image(version: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ version).collect()
}

fn envelope(sequence: u64, image: &[u8], class: u32) -> Vec<u8> {
    let m = Manifest::for_image(image, sequence, DEVICE.0, class, CHUNK);
    let mut out = [0u8; MAX_ENVELOPE];
    let n = sign(&m, &SEED, &mut out).unwrap();
    out[..n].to_vec()
}

fn key() -> [u8; 32] {
    public_key(&SEED).unwrap()
}

/// The whole update of `image` at `sequence`: download, finish, boot (trial), confirm.
fn update(flash: &mut SimFlash, sequence: u64, image: &[u8]) -> Result<(), UpdateError> {
    let mut d = Download::begin(flash, &LAYOUT, &envelope(sequence, image, DEVICE.1), &key(), DEVICE)?;
    for (i, chunk) in image.chunks(CHUNK as usize).enumerate() {
        d.write(flash, i as u32 * CHUNK, chunk)?;
    }
    d.finish(flash)?;
    boot(flash, &LAYOUT)?;
    confirm(flash, &LAYOUT)
}

/// Which image the booted slot holds, whole: `Some(version)`, or `None` for a mix.
fn booted_image(flash: &SimFlash, slot: u8, images: &[(u8, &[u8])]) -> Option<u8> {
    let start = LAYOUT.slots[usize::from(slot)] as usize;
    images.iter().find(|(_, img)| flash.contents(start, img.len()) == *img).map(|(v, _)| *v)
}

#[test]
fn a_power_cut_at_any_write_or_erase_leaves_a_whole_image_to_boot() {
    // From 1 to 10 updates installed before: the boot state's records (3 an update, 14 a
    // sector) move to the other sector during the 5th and the 10th, so the cuts also fall on
    // that erase and the first write after it.
    let (mut cuts, mut old, mut new) = (0, 0, 0);
    let mut installed = SimFlash::new(18432, 1024);
    for before in 1..=10u64 {
        let previous = image(before as u8, 2000 + before as usize * 100);
        update(&mut installed, before, &previous).unwrap();
        let next = image(before as u8 + 1, 5000);
        let seq = before + 1;
        // How many writes and erases the next update takes, boot and confirmation included.
        let mut dry = installed.clone();
        let start = dry.ops();
        update(&mut dry, seq, &next).unwrap();
        let total = dry.ops() - start;
        for cut in 0..total {
            let mut flash = installed.clone();
            flash.cut_at(cut);
            assert!(update(&mut flash, seq, &next).is_err(), "cut {cut}: the power went");
            assert!(flash.is_dead());
            flash.power_on();
            cuts += 1;
            // The device boots: a whole image, old or new, never a mix.
            let slot = boot(&mut flash, &LAYOUT).unwrap();
            match booted_image(&flash, slot, &[(0, &previous), (1, &next)]) {
                Some(0) => old += 1,
                Some(1) => new += 1,
                _ => panic!("after {before} updates, cut {cut}: slot {slot} holds neither image whole"),
            }
            // It carries on: a new image confirms; the old one takes the update again.
            match running(&mut flash, &LAYOUT).unwrap() {
                (_, s) if s == seq => confirm(&mut flash, &LAYOUT).unwrap(),
                (_, s) if s == before => update(&mut flash, seq, &next).unwrap(),
                other => panic!("after {before} updates, cut {cut}: running {other:?}"),
            }
            let slot = boot(&mut flash, &LAYOUT).unwrap();
            assert_eq!(
                booted_image(&flash, slot, &[(1, &next)]),
                Some(1),
                "cut {cut}: the new image in the end"
            );
            assert_eq!(running(&mut flash, &LAYOUT).unwrap().1, seq);
        }
    }
    println!("{cuts} power cuts: {old} booted the old image, {new} the new one, 0 a mix");
    assert!(old > 0 && new > 0);
}

#[test]
fn an_image_that_resets_before_confirming_is_abandoned_for_the_previous_one() {
    let (v1, v2) = (image(1, 3000), image(2, 5000));
    let mut flash = SimFlash::new(18432, 1024);
    update(&mut flash, 1, &v1).unwrap();
    let mut d = Download::begin(&mut flash, &LAYOUT, &envelope(2, &v2, DEVICE.1), &key(), DEVICE).unwrap();
    for (i, chunk) in v2.chunks(CHUNK as usize).enumerate() {
        d.write(&mut flash, i as u32 * CHUNK, chunk).unwrap();
    }
    d.finish(&mut flash).unwrap();
    assert_eq!(boot(&mut flash, &LAYOUT).unwrap(), 0, "v2 in slot 0, on trial");
    assert_eq!(
        Download::begin(&mut flash, &LAYOUT, &envelope(3, &v1, DEVICE.1), &key(), DEVICE).unwrap_err(),
        UpdateError::Unconfirmed,
        "no update while on trial: the other slot is the way back"
    );
    // It resets without confirming.
    assert_eq!(boot(&mut flash, &LAYOUT).unwrap(), 1, "back to v1");
    assert_eq!(booted_image(&flash, 1, &[(1, &v1)]), Some(1));
    assert_eq!(running(&mut flash, &LAYOUT).unwrap(), (1, 1));
    assert_eq!(confirm(&mut flash, &LAYOUT), Ok(()), "v1 is confirmed already");
}

#[test]
fn every_bad_update_is_refused_with_its_reason() {
    let (v1, v2) = (image(1, 3000), image(2, 5000));
    let mut flash = SimFlash::new(18432, 1024);
    update(&mut flash, 5, &v1).unwrap();
    let begin =
        |flash: &mut SimFlash, env: &[u8]| Download::begin(flash, &LAYOUT, env, &key(), DEVICE).map(drop);
    // A tampered manifest: nothing in it is used.
    let mut tampered = envelope(6, &v2, DEVICE.1);
    tampered[5] ^= 1;
    assert_eq!(begin(&mut flash, &tampered), Err(UpdateError::BadSignature));
    // Another vendor's key.
    let mut foreign = [0u8; MAX_ENVELOPE];
    let m = verify(&envelope(6, &v2, DEVICE.1), &key()).unwrap();
    let n = sign(&m, &[4; 32], &mut foreign).unwrap();
    assert_eq!(begin(&mut flash, &foreign[..n]), Err(UpdateError::BadSignature));
    // Another device class; an older and an equal sequence (the replayed manifest of the
    // running image).
    assert_eq!(begin(&mut flash, &envelope(6, &v2, 8)), Err(UpdateError::WrongClass));
    assert_eq!(
        begin(&mut flash, &envelope(4, &v2, DEVICE.1)),
        Err(UpdateError::Rollback { offered: 4, running: 5 })
    );
    assert_eq!(
        begin(&mut flash, &envelope(5, &v1, DEVICE.1)),
        Err(UpdateError::Rollback { offered: 5, running: 5 })
    );
    // Too large for a slot.
    assert_eq!(begin(&mut flash, &envelope(6, &image(2, 9000), DEVICE.1)), Err(UpdateError::TooLarge));
    // A tampered chunk: the digest refuses the image, nothing is switched.
    let mut d = Download::begin(&mut flash, &LAYOUT, &envelope(6, &v2, DEVICE.1), &key(), DEVICE).unwrap();
    for (i, chunk) in v2.chunks(CHUNK as usize).enumerate() {
        let mut c = chunk.to_vec();
        if i == 3 {
            c[10] ^= 0x80;
        }
        d.write(&mut flash, i as u32 * CHUNK, &c).unwrap();
    }
    assert_eq!(d.finish(&mut flash), Err(UpdateError::DigestMismatch));
    assert_eq!(running(&mut flash, &LAYOUT).unwrap(), (1, 5), "still the running image");
    // A truncated image: chunks missing, and a chunk of the wrong length or offset.
    let mut d = Download::begin(&mut flash, &LAYOUT, &envelope(6, &v2, DEVICE.1), &key(), DEVICE).unwrap();
    d.write(&mut flash, 0, &v2[..512]).unwrap();
    assert_eq!(d.write(&mut flash, 512, &v2[512..1000]), Err(UpdateError::BadChunk(512)));
    assert_eq!(d.write(&mut flash, 100, &v2[100..612]), Err(UpdateError::BadChunk(100)));
    assert_eq!(d.write(&mut flash, 5120, &v2[..8]), Err(UpdateError::BadChunk(5120)));
    assert_eq!(d.missing().count(), 9);
    assert_eq!(d.finish(&mut flash), Err(UpdateError::Incomplete(9)));
    assert_eq!(boot(&mut flash, &LAYOUT).unwrap(), 1, "the running image boots");
}

#[test]
fn the_boot_state_survives_many_updates_across_its_two_sectors() {
    // Each update writes three records (pending, trial, confirmed): 40 updates fill the two
    // 1 KiB sectors several times over.
    let mut flash = SimFlash::new(18432, 1024);
    for seq in 1..=40u64 {
        let img = image(seq as u8, 1000 + seq as usize * 50);
        update(&mut flash, seq, &img).unwrap();
        let slot = boot(&mut flash, &LAYOUT).unwrap();
        assert_eq!(booted_image(&flash, slot, &[(seq as u8, &img)]), Some(seq as u8));
        assert_eq!(running(&mut flash, &LAYOUT).unwrap().1, seq);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Chunks in any order, any of them several times: the image is whole and boots.
    #[test]
    fn chunks_in_any_order_and_repeated_make_the_same_image(
        order in Just((0..10u32).collect::<Vec<_>>()).prop_shuffle(),
        repeats in proptest::collection::vec(0..10u32, 0..20),
    ) {
        let v = image(9, 4700);
        let mut flash = SimFlash::new(18432, 1024);
        let mut d = Download::begin(&mut flash, &LAYOUT, &envelope(1, &v, DEVICE.1), &key(), DEVICE).unwrap();
        let chunk = |i: u32| &v[(i * CHUNK) as usize..((i + 1) * CHUNK).min(v.len() as u32) as usize];
        for i in order.iter().chain(&repeats) {
            d.write(&mut flash, i * CHUNK, chunk(*i)).unwrap();
        }
        prop_assert_eq!(d.missing().count(), 0);
        d.finish(&mut flash).unwrap();
        let slot = boot(&mut flash, &LAYOUT).unwrap();
        prop_assert_eq!(booted_image(&flash, slot, &[(9, &v)]), Some(9));
    }
}
