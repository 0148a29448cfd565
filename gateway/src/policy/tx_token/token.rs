//! The token itself: self-contained and MACed, so every gateway of the site verifies what any
//! of them issued, with no shared state.
//!
//! `gwtx1.<payload>.<mac>`, both base64url without padding; the payload is `expires` (Unix
//! seconds, 8 bytes big-endian) ‖ a 16-byte random id ‖ the API id's length (2 bytes) ‖ the
//! API id ‖ the client id (an API with `tx_token` has `auth`, so there is one; the form takes
//! an empty one too); the MAC is HMAC-SHA256 of the payload under
//! a key derived from the site's pepper (its own label: no other key the pepper gives).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "gwtx1.";
/// What the MAC key is derived under (HMAC of this label keyed by the pepper).
const LABEL: &[u8] = b"gatewatch tx-token v1";
/// Longest token text looked at; longer ones are invalid without decoding.
pub(crate) const MAX_LEN: usize = 1024;

/// A token's random id: what "used once" remembers.
pub(crate) type TokenId = [u8; 16];

/// Issues and verifies tokens (the key never leaves it).
#[derive(Clone)]
pub(crate) struct Minter {
    key: hmac::Key,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minter(<key>)")
    }
}

/// A token that verified: whose, for which API, until when.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    pub id: TokenId,
    pub expires: u64,
    pub api: String,
    pub client: String,
}

/// Why a token does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("the transaction token is malformed")]
    Malformed,
    #[error("the transaction token's MAC does not verify (altered, or another site's)")]
    Mac,
    #[error("the transaction token has expired")]
    Expired,
    #[error("the transaction token was issued for another API")]
    OtherApi,
    #[error("the transaction token was issued to another client")]
    OtherClient,
}

impl Minter {
    /// The site's minter: every gateway with the same pepper has the same key.
    pub fn from_pepper(pepper: &[u8]) -> Minter {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, pepper), LABEL);
        Minter {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// A minter with a random key (tokens valid on this process only): the default when no
    /// pepper is given.
    pub fn random() -> Minter {
        let mut k = [0u8; 32];
        // ring reads the OS's generator; should it fail, a v7 UUID's 74 random bits still
        // make a key nobody else has.
        if SystemRandom::new().fill(&mut k).is_err() {
            k[..16].copy_from_slice(&uuid::Uuid::now_v7().into_bytes());
        }
        Minter {
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
        }
    }

    /// A token for `client` on `api`, valid until `expires`.
    pub fn issue(&self, api: &str, client: &str, expires: u64) -> Option<String> {
        let api_len = u16::try_from(api.len()).ok()?;
        let mut id = [0u8; 16];
        SystemRandom::new().fill(&mut id).ok()?;
        let mut payload = Vec::with_capacity(26 + api.len() + client.len());
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.extend_from_slice(&id);
        payload.extend_from_slice(&api_len.to_be_bytes());
        payload.extend_from_slice(api.as_bytes());
        payload.extend_from_slice(client.as_bytes());
        let mac = hmac::sign(&self.key, &payload);
        let token = format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac.as_ref())
        );
        // The MAX_LEN bound holds for API and client ids as validated (≤ 128 each).
        (token.len() <= MAX_LEN).then_some(token)
    }

    /// Verifies `token` for a call by `client` (empty: none) to `api` at `now` (Unix s).
    pub fn verify(
        &self,
        token: &[u8],
        api: &str,
        client: &str,
        now: u64,
    ) -> Result<Claims, Invalid> {
        let claims = self.open(token)?;
        if claims.expires <= now {
            return Err(Invalid::Expired);
        }
        if claims.api != api {
            return Err(Invalid::OtherApi);
        }
        if claims.client != client {
            return Err(Invalid::OtherClient);
        }
        Ok(claims)
    }

    /// The claims of a token whose MAC verifies.
    fn open(&self, token: &[u8]) -> Result<Claims, Invalid> {
        if token.len() > MAX_LEN {
            return Err(Invalid::Malformed);
        }
        let text = std::str::from_utf8(token).map_err(|_| Invalid::Malformed)?;
        let rest = text.strip_prefix(PREFIX).ok_or(Invalid::Malformed)?;
        let (payload, mac) = rest.split_once('.').ok_or(Invalid::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Invalid::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| Invalid::Malformed)?;
        if mac.len() != 32 {
            return Err(Invalid::Malformed);
        }
        // Constant time; before any field of the payload is trusted.
        hmac::verify(&self.key, &payload, &mac).map_err(|_| Invalid::Mac)?;
        let field = |r: std::ops::Range<usize>| payload.get(r).ok_or(Invalid::Malformed);
        let expires = u64::from_be_bytes(field(0..8)?.try_into().map_err(|_| Invalid::Malformed)?);
        let id: TokenId = field(8..24)?.try_into().map_err(|_| Invalid::Malformed)?;
        let api_len =
            u16::from_be_bytes(field(24..26)?.try_into().map_err(|_| Invalid::Malformed)?);
        let api_end = 26 + usize::from(api_len);
        let api = std::str::from_utf8(field(26..api_end)?).map_err(|_| Invalid::Malformed)?;
        let client =
            std::str::from_utf8(field(api_end..payload.len())?).map_err(|_| Invalid::Malformed)?;
        Ok(Claims {
            id,
            expires,
            api: api.to_string(),
            client: client.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_on_any_minter_of_the_same_pepper_for_its_api_client_and_time() {
        let a = Minter::from_pepper(b"pepper 0123456789abcdef");
        let b = Minter::from_pepper(b"pepper 0123456789abcdef");
        let t = a.issue("pay", "acme", 1000).unwrap();
        assert!(t.starts_with("gwtx1."));
        let c = b.verify(t.as_bytes(), "pay", "acme", 999).unwrap();
        assert_eq!(
            (c.api.as_str(), c.client.as_str(), c.expires),
            ("pay", "acme", 1000)
        );
        // Two tokens for the same call differ (their ids are random).
        let t2 = a.issue("pay", "acme", 1000).unwrap();
        assert_ne!(
            b.verify(t2.as_bytes(), "pay", "acme", 999).unwrap().id,
            c.id
        );
        assert_eq!(
            b.verify(t.as_bytes(), "pay", "acme", 1000),
            Err(Invalid::Expired)
        );
        assert_eq!(
            b.verify(t.as_bytes(), "refund", "acme", 0),
            Err(Invalid::OtherApi)
        );
        assert_eq!(
            b.verify(t.as_bytes(), "pay", "evil", 0),
            Err(Invalid::OtherClient)
        );
        assert_eq!(
            b.verify(t.as_bytes(), "pay", "", 0),
            Err(Invalid::OtherClient)
        );
        let public = a.issue("open", "", 1000).unwrap();
        assert!(b.verify(public.as_bytes(), "open", "", 0).is_ok());
    }

    #[test]
    fn forged_altered_and_foreign_tokens_do_not_verify() {
        let m = Minter::from_pepper(b"pepper 0123456789abcdef");
        let other = Minter::from_pepper(b"another pepper 0123456789");
        let foreign = other.issue("pay", "acme", u64::MAX).unwrap();
        assert_eq!(
            m.verify(foreign.as_bytes(), "pay", "acme", 0),
            Err(Invalid::Mac)
        );
        // The payload rewritten (another client, later expiry) with the old MAC.
        let t = m.issue("pay", "acme", 1000).unwrap();
        let (_, mac) = t.rsplit_once('.').unwrap();
        let mut payload = 9999u64.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0; 16]);
        payload.extend_from_slice(&3u16.to_be_bytes());
        payload.extend_from_slice(b"payevil");
        let forged = format!("gwtx1.{}.{mac}", URL_SAFE_NO_PAD.encode(&payload));
        assert_eq!(
            m.verify(forged.as_bytes(), "pay", "evil", 0),
            Err(Invalid::Mac)
        );
        for junk in [
            &b""[..],
            b"gwtx1.",
            b"gwtx1..",
            b"gwtx1.!!.!!",
            b"gwtx2.AAAA.AAAA",
            b"\xff\xfe",
            &[b'a'; 2000],
        ] {
            assert_eq!(
                m.verify(junk, "pay", "acme", 0),
                Err(Invalid::Malformed),
                "{junk:?}"
            );
        }
        // A MAC that verifies over a payload too short to hold the fields.
        let short = b"12".to_vec();
        let mac = hmac::sign(&m.key, &short);
        let t = format!(
            "gwtx1.{}.{}",
            URL_SAFE_NO_PAD.encode(&short),
            URL_SAFE_NO_PAD.encode(mac.as_ref())
        );
        assert_eq!(
            m.verify(t.as_bytes(), "pay", "acme", 0),
            Err(Invalid::Malformed)
        );
        // The random minter is nobody else's.
        let r = Minter::random().issue("pay", "acme", 1000).unwrap();
        assert_eq!(m.verify(r.as_bytes(), "pay", "acme", 0), Err(Invalid::Mac));
    }
}
