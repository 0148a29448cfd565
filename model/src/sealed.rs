//! Secrets that users give us and that must be sent on later (a webhook's `Authorization`
//! header), kept encrypted in the configuration log: `sealed:v1:<base64(nonce ‖ ciphertext)>`.
//!
//! The key is derived from the site pepper (HKDF-SHA256, its own `info`, so it is no other
//! key the pepper gives), and the cipher is XChaCha20-Poly1305: an AEAD with 24-byte random
//! nonces, which never repeat in practice. Each value is bound to a context (for a webhook
//! header: its name and the host and port it goes to), so a sealed value copied to another
//! header or another destination does not open. The pepper lives outside ClickHouse: a copy
//! of the configuration log alone reveals nothing.
//!
//! No I/O here: the caller brings the nonce (24 random bytes from the OS).

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// What every sealed value starts with.
pub const PREFIX: &str = "sealed:v1:";

/// What [`SealKey::from_pepper`] derives from (HKDF `info`).
const INFO: &[u8] = b"gatewatch sealed secrets v1";

/// The key of sealed values. Never printed.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<secret>)")
    }
}

/// A sealed value that does not open: another pepper, another context, or altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value does not open with this site's key for this destination (another site's pepper, another header or host, or altered)")]
pub struct OpenError;

impl SealKey {
    pub fn from_pepper(pepper: &[u8]) -> SealKey {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit (255 × 32): this cannot fail.
        Hkdf::<Sha256>::new(None, pepper)
            .expand(INFO, &mut key)
            .unwrap_or_else(|_| unreachable!());
        SealKey(key)
    }

    /// `plain` sealed for `context` with `nonce` (24 random bytes).
    pub fn seal(&self, context: &str, plain: &str, nonce: [u8; 24]) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption only fails on messages of gigabytes.
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// The plain text of a value made by [`SealKey::seal`] for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, OpenError> {
        let b64 = sealed.strip_prefix(PREFIX).ok_or(OpenError)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| OpenError)?;
        if raw.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

/// Whether a stored value is sealed (else it is plain text, as stored before sealing).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_its_context_under_its_key() {
        let k = SealKey::from_pepper(b"pepper of the site 0123456789");
        let s = k.seal("ctx a", "Bearer s3cr3t", [7; 24]);
        assert!(is_sealed(&s));
        assert!(!s.contains("s3cr3t"));
        assert_eq!(k.open("ctx a", &s).unwrap(), "Bearer s3cr3t");
        assert_eq!(k.open("ctx b", &s), Err(OpenError));
        let other = SealKey::from_pepper(b"another pepper 0123456789");
        assert_eq!(other.open("ctx a", &s), Err(OpenError));
        // A flipped bit anywhere is refused.
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&s[PREFIX.len()..])
            .unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let bad = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        assert_eq!(k.open("ctx a", &bad), Err(OpenError));
        for junk in ["", "sealed:v1:", "sealed:v1:!!", "sealed:v1:AAAA", "plain"] {
            assert_eq!(k.open("ctx a", junk), Err(OpenError), "{junk}");
        }
        // Fresh nonces, fresh texts.
        assert_ne!(s, k.seal("ctx a", "Bearer s3cr3t", [8; 24]));
        assert_eq!(format!("{k:?}"), "SealKey(<secret>)");
    }
}
