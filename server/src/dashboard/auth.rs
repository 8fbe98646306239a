//! Who may look: users with argon2-hashed passwords, sessions behind an `HttpOnly`,
//! `SameSite=Strict` cookie, and a CSRF token per session that every form carries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ring::rand::{SecureRandom, SystemRandom};

/// The dashboard's users: a name and an argon2 hash (PHC string) of the password each.
#[derive(Clone, Default)]
pub struct Users {
    hashes: HashMap<String, String>,
}

impl core::fmt::Debug for Users {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Names only: a hash is a secret too.
        f.debug_struct("Users").field("names", &self.hashes.keys().collect::<Vec<_>>()).finish()
    }
}

/// A password could not be hashed, or a stored hash is not an argon2 PHC string.
#[derive(Debug, thiserror::Error)]
#[error("password hash: {0}")]
pub struct HashError(String);

impl Users {
    /// No users: nobody can log in.
    pub fn new() -> Users {
        Users::default()
    }

    /// Adds `name` with `password`, hashed with argon2id (the crate's default parameters:
    /// 19 MiB, 2 passes) and a random salt. The password itself is not kept.
    pub fn add(&mut self, name: &str, password: &str) -> Result<(), HashError> {
        let hash = hash_password(password)?;
        self.hashes.insert(name.to_string(), hash);
        Ok(())
    }

    /// Adds (or replaces) user `name` with a new random password (20 letters and digits,
    /// about 103 bits), and returns it: to show once to whoever sets the server up, and keep
    /// nowhere else.
    pub fn add_generated(&mut self, name: &str) -> Result<String, HashError> {
        const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789A";
        let mut bytes = [0u8; 20];
        SystemRandom::new().fill(&mut bytes).expect("the system's random number generator failed");
        let password: String = bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char).collect();
        self.add(name, &password)?;
        Ok(password)
    }

    /// Adds `name` with a hash made before (an argon2 PHC string: `$argon2id$v=19$...`), as
    /// read from a configuration file.
    pub fn add_hash(&mut self, name: &str, phc: &str) -> Result<(), HashError> {
        PasswordHash::new(phc).map_err(|e| HashError(e.to_string()))?;
        self.hashes.insert(name.to_string(), phc.to_string());
        Ok(())
    }

    /// Whether `password` is `name`'s. An unknown name costs as much as a wrong password, so
    /// the time taken does not tell which names exist.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        let known = self.hashes.get(name);
        let phc = known.map_or(DUMMY_HASH.as_str(), String::as_str);
        let Ok(hash) = PasswordHash::new(phc) else { return false };
        let ok = Argon2::default().verify_password(password.as_bytes(), &hash).is_ok();
        ok && known.is_some()
    }
}

/// An argon2 PHC string of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| HashError("no randomness".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// What an unknown name is checked against: a hash of a random password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&token()).unwrap_or_default());

/// 32 random bytes, hex: a session id or a CSRF token.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 32];
    // The system's randomness failing is not something to go on without.
    SystemRandom::new().fill(&mut bytes).expect("the system's random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A logged-in user's session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The user's name.
    pub user: String,
    /// The token every form of this session carries.
    pub csrf: String,
    expires: Instant,
}

/// The sessions open, by their cookie's token.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `user`, valid for `ttl`; returns its token.
    pub fn open(&self, user: &str, ttl: Duration) -> String {
        let id = token();
        let session = Session { user: user.to_string(), csrf: token(), expires: Instant::now() + ttl };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.retain(|_, s| s.expires > now);
        open.insert(id.clone(), session);
        id
    }

    /// The session of token `id`, if open and not expired.
    pub fn get(&self, id: &str) -> Option<Session> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    /// Ends the session of token `id`.
    pub fn close(&self, id: &str) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Compares two tokens in time that does not depend on where they differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_nothing_else_does() {
        let mut users = Users::new();
        users.add("ops", "correct horse").unwrap();
        assert!(users.verify("ops", "correct horse"));
        assert!(!users.verify("ops", "correct horse "));
        assert!(!users.verify("nobody", "correct horse"));
        assert!(!format!("{users:?}").contains("argon2"), "no hash in a log");
        let phc = hash_password("s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        users.add_hash("admin", &phc).unwrap();
        assert!(users.verify("admin", "s3cret"));
        assert!(users.add_hash("bad", "plain text").is_err());
        let generated = users.add_generated("first").unwrap();
        assert_eq!(generated.len(), 20);
        assert!(generated.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(users.verify("first", &generated));
        assert_ne!(users.add_generated("second").unwrap(), generated);
    }

    #[test]
    fn sessions_open_close_and_cookies_parse() {
        let sessions = Sessions::default();
        let id = sessions.open("ops", Duration::from_secs(60));
        assert_eq!(sessions.get(&id).unwrap().user, "ops");
        assert_eq!(cookie(&format!("a=1; tm_session={id}; b=2"), "tm_session"), Some(id.as_str()));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
        let short = sessions.open("ops", Duration::ZERO);
        assert!(sessions.get(&short).is_none(), "expired");
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("abc", "ab"));
    }
}
