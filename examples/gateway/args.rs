//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use telemetra::transports::outbox::{FullPolicy, OutboxConfig};

pub const USAGE: &str = "usage: gateway --serial URL [--serial URL ...] [--coap URL] --mqtt URL \
[--store DIR] [--max-bytes N] [--ttl SECONDS] [--full refuse|drop-oldest] [--id NAME]";

pub struct Args {
    pub serial: Vec<String>,
    pub coap: Option<String>,
    pub mqtt: String,
    pub store: PathBuf,
    pub outbox: OutboxConfig,
    pub id: String,
}

impl Args {
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let (mut serial, mut mqtt, mut store, mut id) =
            (Vec::new(), None, PathBuf::from("gateway-store"), None);
        let mut outbox = OutboxConfig::default();
        let mut coap = None;
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--serial" => serial.push(value()?),
                "--coap" => coap = Some(value()?),
                "--mqtt" => mqtt = Some(value()?),
                "--store" => store = PathBuf::from(value()?),
                "--id" => id = Some(value()?),
                "--max-bytes" => {
                    outbox.max_bytes = value()?.parse().map_err(|e| format!("--max-bytes: {e}"))?
                }
                "--ttl" => {
                    outbox.ttl = Duration::from_secs(value()?.parse().map_err(|e| format!("--ttl: {e}"))?)
                }
                "--full" => {
                    outbox.full = match value()?.as_str() {
                        "refuse" => FullPolicy::RefuseNew,
                        "drop-oldest" => FullPolicy::DropOldest,
                        other => return Err(format!("--full {other}: refuse or drop-oldest")),
                    }
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if serial.is_empty() && coap.is_none() {
            return Err("at least one --serial URL, or --coap URL".into());
        }
        let mqtt = mqtt.ok_or("--mqtt URL is required")?;
        Ok(Args { serial, coap, mqtt, store, outbox, id: id.unwrap_or_else(|| "telemetra-gateway".into()) })
    }
}
