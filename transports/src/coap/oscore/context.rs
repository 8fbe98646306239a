//! A security context (RFC 8613 §3): the keys and Common IV one side derives from the shared
//! master secret, its sequence number, and its replay window.

use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use minicbor::Encoder;
use minicbor::encode::write::Cursor;
use telemetra_core::heapless;

use super::{OscoreError, ReplayWindow};

/// The longest Sender or Recipient ID: the nonce (13 bytes) less 6.
pub const MAX_ID: usize = 7;
/// The longest ID Context this implementation keeps.
const MAX_ID_CONTEXT: usize = 16;
/// AES-CCM-16-64-128: the COSE algorithm number.
pub(super) const ALG: u8 = 10;
/// Its key, nonce and tag lengths.
pub(super) const KEY: usize = 16;
pub(super) const NONCE: usize = 13;
pub(super) const TAG: usize = 8;
/// The largest sequence number (a Partial IV is at most 5 bytes).
const MAX_SEQUENCE: u64 = (1 << 40) - 1;

type Aead = ccm::Ccm<aes::Aes128, ccm::consts::U8, ccm::consts::U13>;

/// One side of an OSCORE security context.
#[derive(Clone)]
pub struct SecurityContext {
    pub(super) sender_id: heapless::Vec<u8, MAX_ID>,
    pub(super) recipient_id: heapless::Vec<u8, MAX_ID>,
    pub(super) id_context: Option<heapless::Vec<u8, MAX_ID_CONTEXT>>,
    sender_key: [u8; KEY],
    recipient_key: [u8; KEY],
    common_iv: [u8; NONCE],
    sender_sequence: u64,
    /// Sequence numbers below this one are covered by stored state (RFC 8613 Appendix B.1.1),
    /// when persistence is on.
    persisted_below: Option<u64>,
    /// How many numbers each stored value covers ahead.
    persist_chunk: u64,
    pub(super) replay: ReplayWindow,
    /// The Echo value a request must carry to start a lost replay window again.
    pub(super) echo: Option<[u8; ECHO]>,
}

/// The length of the Echo value of a replay window recovery.
pub const ECHO: usize = 8;

impl Drop for SecurityContext {
    /// The derived keys and Common IV are overwritten with zeros.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.sender_key.zeroize();
        self.recipient_key.zeroize();
        self.common_iv.zeroize();
    }
}

impl core::fmt::Debug for SecurityContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityContext")
            .field("sender_id", &self.sender_id)
            .field("recipient_id", &self.recipient_id)
            .field("id_context", &self.id_context)
            .field("sender_sequence", &self.sender_sequence)
            .finish_non_exhaustive()
    }
}

/// HKDF-SHA-256 of the master secret for one `id` and `kind` ("Key" or "IV"), §3.2.1.
fn derive<const L: usize>(
    secret: &[u8],
    salt: &[u8],
    id: &[u8],
    id_context: Option<&[u8]>,
    kind: &str,
) -> Result<[u8; L], OscoreError> {
    let mut info = [0u8; 64];
    let len = {
        let mut e = Encoder::new(Cursor::new(&mut info[..]));
        let encoded = e.array(5).and_then(|e| e.bytes(id)).and_then(|e| match id_context {
            Some(c) => e.bytes(c),
            None => e.null(),
        });
        encoded
            .and_then(|e| e.u8(ALG))
            .and_then(|e| e.str(kind))
            .and_then(|e| e.u8(L as u8))
            .map_err(|_| OscoreError::IdTooLong)?;
        e.writer().position()
    };
    let mut out = [0u8; L];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), secret)
        .expand(&info[..len], &mut out)
        .map_err(|_| OscoreError::BufferTooSmall)?;
    Ok(out)
}

impl SecurityContext {
    /// Derives one side's context from the shared `master_secret` and `master_salt` (empty:
    /// none), this side's `sender_id` and the peer's `recipient_id` (at most 7 bytes each), and
    /// the optional ID Context. Sequence numbers start at 0; restore a persisted one with
    /// [`SecurityContext::set_sender_sequence`] after a reboot, or never reuse the context.
    pub fn derive(
        master_secret: &[u8],
        master_salt: &[u8],
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
    ) -> Result<SecurityContext, OscoreError> {
        let id = |v: &[u8]| heapless::Vec::from_slice(v).map_err(|_| OscoreError::IdTooLong);
        let id_ctx =
            id_context.map(heapless::Vec::from_slice).transpose().map_err(|_| OscoreError::IdTooLong)?;
        Ok(SecurityContext {
            sender_id: id(sender_id)?,
            recipient_id: id(recipient_id)?,
            id_context: id_ctx,
            sender_key: derive(master_secret, master_salt, sender_id, id_context, "Key")?,
            recipient_key: derive(master_secret, master_salt, recipient_id, id_context, "Key")?,
            common_iv: derive(master_secret, master_salt, &[], id_context, "IV")?,
            sender_sequence: 0,
            persisted_below: None,
            persist_chunk: 0,
            replay: ReplayWindow::new(),
            echo: None,
        })
    }

    /// This side's Sender ID.
    pub fn sender_id(&self) -> &[u8] {
        &self.sender_id
    }

    /// The peer's ID (this side's Recipient ID).
    pub fn recipient_id(&self) -> &[u8] {
        &self.recipient_id
    }

    /// The derived Sender Key (for test vectors and diagnostics; never log it).
    pub fn sender_key(&self) -> &[u8; KEY] {
        &self.sender_key
    }

    /// The derived Recipient Key.
    pub fn recipient_key(&self) -> &[u8; KEY] {
        &self.recipient_key
    }

    /// The derived Common IV.
    pub fn common_iv(&self) -> &[u8; NONCE] {
        &self.common_iv
    }

    /// The next sequence number this side will use.
    pub fn sender_sequence(&self) -> u64 {
        self.sender_sequence
    }

    /// Sets the next sequence number (restored from storage, above any used before).
    pub fn set_sender_sequence(&mut self, next: u64) {
        self.sender_sequence = next;
    }

    /// Requires the sender sequence number to be stored before it is used, `chunk` numbers at
    /// a time (RFC 8613 Appendix B.1.1): a device that reboots then starts at the stored value
    /// and never reuses a nonce. From now on, protecting fails with
    /// [`OscoreError::PersistFirst`] whenever [`SecurityContext::to_persist`] has a value to
    /// store; store it, then call [`SecurityContext::persisted`]. After a reboot: derive the
    /// context, [`SecurityContext::set_sender_sequence`] to the stored value, then this.
    ///
    /// ```
    /// use telemetra_transports::coap::oscore::{OscoreError, SecurityContext};
    /// let mut ctx = SecurityContext::derive(&[1; 16], &[], b"", b"\x01", None).unwrap();
    /// ctx.persist_every(100);
    /// assert_eq!(ctx.to_persist(), Some(100));
    /// ctx.persisted(100); // after writing 100 to storage
    /// assert_eq!(ctx.to_persist(), None);
    /// ```
    pub fn persist_every(&mut self, chunk: u64) {
        self.persist_chunk = chunk.max(1);
        self.persisted_below = Some(self.sender_sequence);
    }

    /// The value to store before the next request can be protected, if one is due.
    pub fn to_persist(&self) -> Option<u64> {
        let below = self.persisted_below?;
        (self.sender_sequence >= below).then(|| self.sender_sequence.saturating_add(self.persist_chunk))
    }

    /// `value` (from [`SecurityContext::to_persist`]) is in storage: numbers below it may be
    /// used.
    pub fn persisted(&mut self, value: u64) {
        if let Some(below) = &mut self.persisted_below {
            *below = (*below).max(value);
        }
    }

    /// Forgets the replay window, as a server must when it restarts without it (RFC 8613
    /// Appendix B.1.2): a request that authenticates is then refused with
    /// [`OscoreError::FreshnessUnknown`] (answer it with [`echo_challenge`](super::echo_challenge),
    /// a protected 4.01 carrying `echo`) until one comes back with `echo` in its Echo option
    /// (RFC 9175); that request is taken and the window starts again at its sequence number,
    /// so no request sent before the restart is ever taken again. `echo` must never repeat:
    /// eight fresh random bytes at each start.
    ///
    /// ```
    /// use telemetra_transports::coap::oscore::SecurityContext;
    /// let mut server = SecurityContext::derive(&[1; 16], &[], b"\x01", b"", None).unwrap();
    /// server.recover_replay_window(*b"8 random");
    /// assert!(server.is_recovering());
    /// ```
    pub fn recover_replay_window(&mut self, echo: [u8; ECHO]) {
        self.replay = ReplayWindow::unknown();
        self.echo = Some(echo);
    }

    /// Whether the replay window is still unknown (see
    /// [`SecurityContext::recover_replay_window`]).
    pub fn is_recovering(&self) -> bool {
        !self.replay.is_known()
    }

    /// Takes the next sequence number as a Partial IV (its shortest big-endian form).
    pub(super) fn next_piv(&mut self) -> Result<heapless::Vec<u8, 5>, OscoreError> {
        if self.sender_sequence > MAX_SEQUENCE {
            return Err(OscoreError::SequenceExhausted);
        }
        if self.to_persist().is_some() {
            return Err(OscoreError::PersistFirst);
        }
        let piv = piv_bytes(self.sender_sequence);
        self.sender_sequence += 1;
        Ok(piv)
    }

    /// The AEAD nonce for a Partial IV `piv` generated by the endpoint `id_piv` (§5.2).
    pub(super) fn nonce(&self, id_piv: &[u8], piv: &[u8]) -> [u8; NONCE] {
        let mut n = [0u8; NONCE];
        n[0] = id_piv.len() as u8;
        n[1 + MAX_ID - id_piv.len()..1 + MAX_ID].copy_from_slice(id_piv);
        n[NONCE - piv.len()..].copy_from_slice(piv);
        for (b, iv) in n.iter_mut().zip(self.common_iv) {
            *b ^= iv;
        }
        n
    }

    /// Encrypts `data` in place with the Sender Key; returns the tag.
    pub(super) fn seal(
        &self,
        nonce: &[u8; NONCE],
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; TAG], OscoreError> {
        let cipher = Aead::new(GenericArray::from_slice(&self.sender_key));
        let tag = cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, data)
            .map_err(|_| OscoreError::BufferTooSmall)?;
        let mut out = [0u8; TAG];
        out.copy_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts `data` in place with the Recipient Key, checking `tag`.
    pub(super) fn open(
        &self,
        nonce: &[u8; NONCE],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8],
    ) -> Result<(), OscoreError> {
        let cipher = Aead::new(GenericArray::from_slice(&self.recipient_key));
        cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                aad,
                data,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| OscoreError::Decrypt)
    }
}

/// A sequence number's Partial IV: big-endian, no leading zero bytes, 0 as one byte.
pub(super) fn piv_bytes(seq: u64) -> heapless::Vec<u8, 5> {
    let bytes = seq.to_be_bytes();
    let skip = bytes[3..].iter().take_while(|&&b| b == 0).count().min(4);
    heapless::Vec::from_slice(&bytes[3 + skip..]).unwrap_or_default()
}

/// The sequence number of a Partial IV.
pub(super) fn piv_value(piv: &[u8]) -> u64 {
    piv.iter().fold(0, |v, &b| v << 8 | u64::from(b))
}
