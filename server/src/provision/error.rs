//! What can go wrong in the provisioning service (a device sees only a `ClaimRefusal`).

/// A provisioning operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The fleet CA could not make a key, a certificate or a revocation list.
    #[error("fleet CA: {what}: {reason}")]
    Ca {
        /// What it was making.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The registry (SQLite) failed.
    #[error("registry: {0}")]
    Store(String),
    /// The broker refused a command, did not answer, or the connection to it failed.
    #[error("broker: {0}")]
    Broker(String),
    /// Writing the revocation list or reloading the broker failed.
    #[error("revocation list: {0}")]
    Io(#[from] std::io::Error),
    /// The system's random source failed.
    #[error("no randomness from the system")]
    Random,
}

impl From<rusqlite::Error> for ProvisionError {
    fn from(e: rusqlite::Error) -> Self {
        ProvisionError::Store(e.to_string())
    }
}
