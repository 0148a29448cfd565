//! Hashing of machine secrets (API keys, client secrets, bearer tokens): HMAC-SHA256 under the
//! site's pepper, written `hmac-sha256:<hex>`.
//!
//! Why not argon2 here: these secrets are 32 random bytes, so no dictionary or brute force can
//! reach them and a slow hash adds nothing but tens of milliseconds on every proxied call. The
//! pepper lives outside ClickHouse (the data directory or the configuration), so a copy of the
//! configuration log alone cannot even test a guess. Passwords, chosen by people, use argon2.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every stored hash.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// `hmac-sha256:<64 hex digits>` of `secret` under `pepper`.
pub fn hash_secret(pepper: &[u8], secret: &str) -> String {
    format!("{HASH_PREFIX}{}", hex(&mac(pepper, secret)))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn verify_secret(pepper: &[u8], secret: &str, stored: &str) -> bool {
    let Some(hex) = stored.strip_prefix(HASH_PREFIX) else {
        return false;
    };
    let mut m = new_mac(pepper);
    m.update(secret.as_bytes());
    match decode_hex(hex) {
        Some(expected) => m.verify_slice(&expected).is_ok(),
        None => false,
    }
}

/// What the alerter's test-send bearer is derived from (see [`alerter_test_send_token`]).
pub const TEST_SEND_PURPOSE: &str = "gatewatch alerter test-send";

/// The bearer token of the alerter's `POST /v1/test-send`: hex HMAC-SHA256 of
/// [`TEST_SEND_PURPOSE`] under the site pepper. Both the dashboards (caller) and the alerter
/// (checker) hold the pepper, so no extra secret needs configuring.
pub fn alerter_test_send_token(pepper: &[u8]) -> String {
    hex(&mac(pepper, TEST_SEND_PURPOSE))
}

/// Whether `token` is [`alerter_test_send_token`] of `pepper`, compared in constant time.
pub fn verify_alerter_test_send_token(pepper: &[u8], token: &str) -> bool {
    verify_secret(pepper, TEST_SEND_PURPOSE, &format!("{HASH_PREFIX}{token}"))
}

/// What the collector's ingest token is derived from when `[security] ingest_token` is empty
/// (see [`ingest_token`]).
pub const INGEST_TOKEN_PURPOSE: &str = "gatewatch ingest token v1";

/// The default bearer token of the collector's `POST /v1/records` and `/v1/node-samples`: hex
/// HMAC-SHA256 of [`INGEST_TOKEN_PURPOSE`] under the site pepper. Gateways and collectors that
/// share the pepper (`gatewatch up`, or roles started from one file and data directory) agree
/// on it with nothing configured.
pub fn ingest_token(pepper: &[u8]) -> String {
    hex(&mac(pepper, INGEST_TOKEN_PURPOSE))
}

/// Whether `presented` equals `expected`, in time that depends on neither their contents nor
/// where they first differ (both are HMAC'd under a fixed key and the MACs compared in constant
/// time, so not even the length of the expected token shows).
pub fn tokens_match(expected: &str, presented: &str) -> bool {
    const KEY: &[u8] = b"gatewatch token comparison";
    let mut m = new_mac(KEY);
    m.update(presented.as_bytes());
    m.verify_slice(&mac(KEY, expected)).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        out.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    out
}

fn new_mac(pepper: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(pepper).unwrap_or_else(|_| unreachable!())
}

fn mac(pepper: &[u8], secret: &str) -> [u8; 32] {
    let mut m = new_mac(pepper);
    m.update(secret.as_bytes());
    m.finalize().into_bytes().into()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let h = hash_secret(b"pepper", "gwk_secret");
        assert!(h.starts_with(HASH_PREFIX));
        assert_eq!(h.len(), HASH_PREFIX.len() + 64);
        assert!(verify_secret(b"pepper", "gwk_secret", &h));
        assert!(!verify_secret(b"pepper", "gwk_secreT", &h));
        assert!(!verify_secret(b"other", "gwk_secret", &h));
        assert!(!verify_secret(b"pepper", "gwk_secret", "sha1:00"));
        // RFC 4231 test case 2.
        assert_eq!(
            hash_secret(b"Jefe", "what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn test_send_token_is_the_hmac_of_its_purpose() {
        let t = alerter_test_send_token(b"Jefe");
        assert_eq!(t.len(), 64);
        assert_eq!(
            format!("{HASH_PREFIX}{t}"),
            hash_secret(b"Jefe", "gatewatch alerter test-send")
        );
        assert!(verify_alerter_test_send_token(b"Jefe", &t));
        assert!(!verify_alerter_test_send_token(b"other", &t));
        assert!(!verify_alerter_test_send_token(b"Jefe", ""));
        assert!(!verify_alerter_test_send_token(b"Jefe", &t[..63]));
        assert!(!verify_alerter_test_send_token(b"Jefe", "zz"));
    }

    #[test]
    fn ingest_token_is_the_hmac_of_its_purpose_and_compares_whole() {
        let t = ingest_token(b"Jefe");
        assert_eq!(t.len(), 64);
        assert_eq!(
            format!("{HASH_PREFIX}{t}"),
            hash_secret(b"Jefe", "gatewatch ingest token v1")
        );
        assert_ne!(t, ingest_token(b"other"));
        assert!(tokens_match(&t, &t));
        assert!(!tokens_match(&t, &t[..63]));
        assert!(!tokens_match(&t, &format!("{t}0")));
        assert!(!tokens_match(&t, ""));
        assert!(!tokens_match(&t, &t.to_uppercase()));
    }
}
