//! The vendor's firmware signing tool: a key, a signed manifest for an image, and a check.
//!
//! ```text
//! cargo run --features update --example sign-firmware -- new-key vendor.key
//! cargo run --features update --example sign-firmware -- sign vendor.key app.bin \
//!     --sequence 7 --vendor 0x7e1e --class 3 [--chunk 1024] --out app.manifest
//! cargo run --features update --example sign-firmware -- verify <public key hex> app.manifest [app.bin]
//! ```
//!
//! `new-key` writes a random 32-byte ed25519 seed (readable by its owner only) and prints the
//! public key that devices are built with. Keep the key offline; the sequence number must grow
//! with every release (devices refuse one that does not: anti-rollback). `verify` does what a
//! device does with the manifest (and, given the image, checks its size and digest).

use std::io::Read;
use std::process::exit;

use telemetra::update::{MAX_ENVELOPE, Manifest, digest, public_key, sign, verify};
use zeroize::Zeroize;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn number(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("{s}: {e}"))
}

/// Reads a 32-byte seed; the caller zeroes it after use.
fn read_key(path: &str) -> Result<[u8; 32], String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("{path}: not a 32-byte key"));
    bytes.zeroize();
    key
}

fn new_key(path: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| e.to_string())?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &seed));
    let public = public_key(&seed).map_err(|e| e.to_string());
    seed.zeroize();
    written.map_err(|e| format!("{path}: {e}"))?;
    println!("public key: {}", hex(&public?));
    Ok(())
}

fn sign_image(args: &[String]) -> Result<(), String> {
    let [key_path, image_path, rest @ ..] = args else {
        return Err("sign KEY IMAGE --sequence N ...".into());
    };
    let (mut sequence, mut vendor, mut class, mut chunk, mut out) = (None, None, None, 1024u64, None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sequence" => sequence = Some(number(value)?),
            "--vendor" => vendor = Some(number(value)?),
            "--class" => class = Some(number(value)?),
            "--chunk" => chunk = number(value)?,
            "--out" => out = Some(value.clone()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let image = std::fs::read(image_path).map_err(|e| format!("{image_path}: {e}"))?;
    let u32_of = |v: Option<u64>, name: &str| {
        v.ok_or(format!("--{name} is required"))
            .and_then(|v| u32::try_from(v).map_err(|_| format!("--{name} does not fit 32 bits")))
    };
    let manifest = Manifest {
        sequence: sequence.ok_or("--sequence is required")?,
        vendor: u32_of(vendor, "vendor")?,
        class: u32_of(class, "class")?,
        size: u32::try_from(image.len()).map_err(|_| "the image is over 4 GiB")?,
        digest: digest(&image),
        chunk_size: u32_of(Some(chunk), "chunk")?,
    };
    let mut seed = read_key(key_path)?;
    let mut envelope = [0u8; MAX_ENVELOPE];
    let signed = sign(&manifest, &seed, &mut envelope).map_err(|e| e.to_string());
    seed.zeroize();
    let n = signed?;
    let out = out.ok_or("--out FILE is required")?;
    std::fs::write(&out, &envelope[..n]).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "{out}: sequence {}, {} bytes in {} chunks, digest {}",
        manifest.sequence,
        manifest.size,
        manifest.chunks(),
        hex(&manifest.digest)
    );
    Ok(())
}

fn verify_manifest(args: &[String]) -> Result<(), String> {
    let [key, manifest_path, image @ ..] = args else {
        return Err("verify PUBLIC-KEY-HEX MANIFEST [IMAGE]".into());
    };
    let key = unhex(key).ok_or("the public key is 64 hex digits")?;
    let envelope = std::fs::read(manifest_path).map_err(|e| format!("{manifest_path}: {e}"))?;
    let m = verify(&envelope, &key).map_err(|e| format!("{manifest_path}: {e}"))?;
    if let [image_path] = image {
        let image = std::fs::read(image_path).map_err(|e| format!("{image_path}: {e}"))?;
        if image.len() as u64 != u64::from(m.size) || digest(&image) != m.digest {
            return Err(format!("{image_path}: not the image {manifest_path} describes"));
        }
    }
    println!(
        "{manifest_path}: signed; sequence {}, vendor {:#x}, class {}, {} bytes",
        m.sequence, m.vendor, m.class, m.size
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("new-key") if args.len() == 2 => new_key(&args[1]),
        Some("sign") => sign_image(&args[1..]),
        Some("verify") => verify_manifest(&args[1..]),
        _ => Err("usage: sign-firmware new-key FILE | sign KEY IMAGE --sequence N --vendor V --class C [--chunk N] --out FILE | verify PUBLIC-KEY-HEX MANIFEST [IMAGE]".into()),
    };
    if let Err(e) = result {
        eprintln!("sign-firmware: {e}");
        exit(1);
    }
}
