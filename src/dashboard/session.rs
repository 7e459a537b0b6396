//! Logins: the API token typed into the login form gives a session, kept
//! in memory (a restart logs everyone out). The cookie holds a random id;
//! only its SHA-256 is kept, so a lookup's timing says nothing about ids.
//! Each session has its own CSRF token, which every action must carry.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub const COOKIE: &str = "dlpd_session";
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 256;

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    /// By the wall clock: time spent suspended counts.
    expires: SystemTime,
    created: SystemTime,
}

/// The live sessions.
pub struct Sessions {
    by_hash: HashMap<[u8; 32], Session>,
    ttl: Duration,
    rng: SystemRandom,
}

fn random_hex(rng: &SystemRandom) -> Option<String> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).ok()?;
    Some(crate::fsutil::hex(&bytes))
}

fn hash(id: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            by_hash: HashMap::new(),
            ttl,
            rng: SystemRandom::new(),
        }
    }

    /// Starts a session: its cookie value, and the session.
    pub fn start(&mut self) -> Option<(String, Session)> {
        let now = SystemTime::now();
        self.by_hash.retain(|_, s| s.expires > now);
        if self.by_hash.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .by_hash
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| *k)
        {
            self.by_hash.remove(&oldest);
        }
        let id = random_hex(&self.rng)?;
        let session = Session {
            csrf: random_hex(&self.rng)?,
            expires: now.checked_add(self.ttl)?,
            created: now,
        };
        self.by_hash.insert(hash(&id), session.clone());
        Some((id, session))
    }

    /// The live session a cookie value names.
    pub fn get(&self, id: &str) -> Option<Session> {
        self.by_hash
            .get(&hash(id))
            .filter(|s| s.expires > SystemTime::now())
            .cloned()
    }

    pub fn end(&mut self, id: &str) {
        self.by_hash.remove(&hash(id));
    }

    /// How long a session lasts, for the cookie's `Max-Age`.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Whether `presented` is the session's CSRF token, in constant time.
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), presented.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The values of cookie `name` in a `Cookie` header: there may be more
/// than one (another site on this host can set one with a narrower path).
pub fn cookies<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends_or_expires() {
        let mut s = Sessions::new(Duration::from_secs(60));
        let (id, session) = s.start().unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(s.get(&id).unwrap().csrf, session.csrf);
        assert!(s.get("nope").is_none());
        assert!(csrf_matches(&session, &session.csrf));
        assert!(!csrf_matches(&session, &session.csrf[1..]));
        s.end(&id);
        assert!(s.get(&id).is_none());
        let mut short = Sessions::new(Duration::ZERO);
        let (id, _) = short.start().unwrap();
        assert!(short.get(&id).is_none());
    }

    #[test]
    fn sessions_are_capped() {
        let mut s = Sessions::new(Duration::from_secs(60));
        let first = s.start().unwrap().0;
        for _ in 0..MAX_SESSIONS {
            s.start().unwrap();
        }
        assert!(s.get(&first).is_none());
        assert_eq!(s.by_hash.len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies_are_read_by_name() {
        let h = "a=1; dlpd_session=abc; b=2; dlpd_session=def";
        assert_eq!(cookies(h, COOKIE).collect::<Vec<_>>(), ["abc", "def"]);
        assert_eq!(cookies(h, "c").count(), 0);
    }
}
