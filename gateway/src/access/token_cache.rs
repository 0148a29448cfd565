//! Verified access tokens of trusted issuers, kept until they expire, so that a client calling
//! with one token pays its signature check once: verifying RS256 or ES256 costs tens to
//! hundreds of microseconds, a look-up one SHA-256 of the token (see `ops/bench/RESULTS.md`).
//!
//! Keyed by the token's SHA-256 (never the token), so only the very token verified finds its
//! entry. An entry lives until the token's `exp` plus the leeway; the client, its bars, the
//! grant and the scopes are still checked on every call. Bounded by [`MAX_TOKENS`]: when
//! full, expired entries are dropped, and if none expired, everything (the next calls verify
//! again). The gateway's own tokens are not cached here: their revocation is checked on every
//! call by `OwnIssuer::verify`.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::oauth::Verified;

/// Most tokens kept.
pub(crate) const MAX_TOKENS: usize = 10_000;

#[derive(Default)]
pub(crate) struct TokenCache {
    map: Mutex<HashMap<[u8; 32], (Verified, i64)>>,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// The claims of `token` when it verified before and is still within `until_s`.
    pub fn get(&self, token: &str, now_s: i64) -> Option<Verified> {
        let k = key(token);
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&k) {
            Some((v, until)) if now_s < *until => Some(v.clone()),
            _ => None,
        }
    }

    /// Keeps a verified token until `until_s` (Unix seconds).
    pub fn put(&self, token: &str, v: &Verified, until_s: i64, now_s: i64) {
        let k = key(token);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TOKENS {
            map.retain(|_, (_, until)| now_s < *until);
            if map.len() >= MAX_TOKENS {
                map.clear();
            }
        }
        map.insert(k, (v.clone(), until_s));
    }

    /// Forgets every token (measurements of the uncached path).
    #[cfg(test)]
    pub fn clear(&self) {
        self.map.lock().unwrap().clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn v(client: &str) -> Verified {
        Verified {
            issuer: Arc::from("https://idp"),
            client_id: Arc::from(client),
            jti: Arc::from("j"),
            scopes: Arc::from("a"),
        }
    }

    #[test]
    fn tokens_are_kept_until_they_expire_and_the_cache_is_bounded() {
        let c = TokenCache::default();
        c.put("t1", &v("acme"), 100, 0);
        assert_eq!(c.get("t1", 99), Some(v("acme")));
        assert_eq!(c.get("t1", 100), None);
        assert_eq!(c.get("t1x", 0), None);
        assert_eq!(c.get("t", 0), None);
        // Full of live entries: cleared; of expired ones: only those go.
        let c = TokenCache::default();
        for i in 0..MAX_TOKENS {
            c.put(&format!("k{i}"), &v("x"), 50, 0);
        }
        assert_eq!(c.len(), MAX_TOKENS);
        c.put("new", &v("n"), 200, 10);
        assert_eq!(c.len(), 1);
        for i in 0..MAX_TOKENS - 1 {
            c.put(&format!("k{i}"), &v("x"), 50, 10);
        }
        c.put("late", &v("l"), 300, 60);
        assert_eq!(c.len(), 2, "the expired went, the live stayed");
        assert!(c.get("new", 60).is_some());
    }
}
