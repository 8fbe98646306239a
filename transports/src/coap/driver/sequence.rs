//! Keeping an OSCORE sender sequence number across reboots (RFC 8613 Appendix B.1.1): a file
//! holding the number to start from, written before the numbers below it are used.

use std::io;
use std::path::{Path, PathBuf};

use crate::coap::oscore::SecurityContext;

/// Numbers each write covers: a write per 64 requests.
const CHUNK: u64 = 64;

/// A file holding where a context's sender sequence number starts after a reboot (one
/// decimal number), replaced atomically (written beside it, synced, renamed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceFile(PathBuf);

impl SequenceFile {
    /// The file at `path` (it need not exist yet).
    pub fn new(path: impl AsRef<Path>) -> SequenceFile {
        SequenceFile(path.as_ref().to_path_buf())
    }

    /// The stored value, if the file exists.
    pub fn load(&self) -> io::Result<Option<u64>> {
        match std::fs::read_to_string(&self.0) {
            Ok(text) => text.trim().parse().map(Some).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.0.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `value`, durably, before returning.
    pub fn store(&self, value: u64) -> io::Result<()> {
        let tmp = self.0.with_extension("tmp");
        {
            use io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{value}")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.0)
    }

    /// Prepares `ctx`: it starts at the stored value and stores ahead every 64 numbers
    /// (through [`SequenceFile::persist`] when it asks).
    pub fn attach(&self, ctx: &mut SecurityContext) -> io::Result<()> {
        if let Some(start) = self.load()? {
            ctx.set_sender_sequence(start.max(ctx.sender_sequence()));
        }
        ctx.persist_every(CHUNK);
        Ok(())
    }

    /// Stores what `ctx` asks to have stored, if anything, and tells it.
    pub fn persist(&self, ctx: &mut SecurityContext) -> io::Result<()> {
        if let Some(value) = ctx.to_persist() {
            self.store(value)?;
            ctx.persisted(value);
        }
        Ok(())
    }
}
