//! OSCORE (RFC 8613): end-to-end protection of CoAP requests and responses, through proxies
//! and over any transport, for devices that cannot run TLS. The request's method, the inner
//! options (Uri-Path, Content-Format, Block, ...) and the payload travel encrypted and
//! authenticated with AES-CCM-16-64-128 under keys derived by HKDF-SHA-256 from a shared
//! master secret; only what a proxy needs (Uri-Host, Uri-Port, Proxy-Uri/Scheme, Observe) stays
//! outside. A server refuses a request it has already taken (the replay window).
//!
//! `no_std`, no allocation; the cryptography is RustCrypto's (`aes`, `ccm`, `hkdf`, `sha2`).
//! [`SecurityContext`] holds one side's keys and counters; [`protect_request`],
//! [`unprotect_request`], [`protect_response`] and [`unprotect_response`] turn a plain CoAP
//! message into its protected form and back, each into the caller's buffer.
//!
//! ```
//! use telemetra_transports::coap::oscore::{self, SecurityContext};
//! use telemetra_transports::coap::{Builder, Code, Message, OptionNumber, Type};
//!
//! let secret = [7u8; 16];
//! let mut client = SecurityContext::derive(&secret, b"salt", b"", b"\x01", None).unwrap();
//! let mut server = SecurityContext::derive(&secret, b"salt", b"\x01", b"", None).unwrap();
//! let mut buf = [0u8; 64];
//! let mut b = Builder::new(&mut buf, Type::Con, Code::GET, 1, &[9]).unwrap();
//! b.option(OptionNumber::URI_PATH, b"secret").unwrap();
//! let plain = Message::parse(b.finish()).unwrap();
//! let (mut wire, mut back) = ([0u8; 128], [0u8; 128]);
//! let (protected, _) = oscore::protect_request(&mut client, &plain, &mut wire).unwrap();
//! let outer = Message::parse(protected).unwrap();
//! assert_eq!(outer.code, Code::POST, "the method is hidden");
//! assert_eq!(outer.option(OptionNumber::URI_PATH), None, "so is the path");
//! let (inner, _) = oscore::unprotect_request(&mut server, &outer, &mut back).unwrap();
//! let inner = Message::parse(inner).unwrap();
//! assert_eq!((inner.code, inner.option(OptionNumber::URI_PATH)), (Code::GET, Some(&b"secret"[..])));
//! // The same request again is a replay.
//! assert!(oscore::unprotect_request(&mut server, &outer, &mut back).is_err());
//! ```

mod context;
mod protect;
mod replay;

pub use context::{ECHO, MAX_ID, SecurityContext};
pub use protect::{
    Binding, echo_challenge, kid_of, protect_request, protect_response, unprotect_request, unprotect_response,
};
pub use replay::ReplayWindow;

/// Why a message could not be protected or unprotected.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OscoreError {
    /// A Sender or Recipient ID longer than 7 bytes, or an ID Context longer than 8.
    #[error("an OSCORE identifier is too long")]
    IdTooLong,
    /// The message has no OSCORE option.
    #[error("the message is not OSCORE-protected")]
    NotProtected,
    /// The OSCORE option cannot be read (reserved flags, lengths past its end).
    #[error("the OSCORE option is malformed")]
    BadOption,
    /// The request's kid (or kid context) names no context this side holds.
    #[error("no security context for this kid")]
    UnknownKid,
    /// The request's Partial IV was seen before or is too old: a replay.
    #[error("replayed request (Partial IV already seen or too old)")]
    Replay,
    /// The request authenticated, but the replay window was lost (a restart) and the request
    /// does not carry the Echo value that proves it fresh: answer it with
    /// [`echo_challenge`] (RFC 8613 Appendix B.1.2).
    #[error("the request's freshness is unknown (replay window being recovered)")]
    FreshnessUnknown,
    /// [`echo_challenge`] was asked for while the replay window is known: there is no Echo
    /// value to give.
    #[error("no Echo challenge: the replay window is known")]
    NoChallenge,
    /// The ciphertext did not authenticate (another key, or altered on the way).
    #[error("the protected message does not authenticate")]
    Decrypt,
    /// The decrypted content is not a code, options and payload.
    #[error("the decrypted content is malformed")]
    BadPlaintext,
    /// The sender sequence number must be stored before it is used (see
    /// [`SecurityContext::persist_every`]).
    #[error("the OSCORE sequence number must be persisted first")]
    PersistFirst,
    /// The sender's sequence numbers are used up (2^40): derive a new context.
    #[error("the sender sequence number is exhausted")]
    SequenceExhausted,
    /// The caller's buffer is too small.
    #[error("the buffer is too small")]
    BufferTooSmall,
}

#[cfg(test)]
mod tests;
