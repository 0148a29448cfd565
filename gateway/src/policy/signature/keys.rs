//! A client's keys for request signatures, made once when the access table is built: the
//! `hmac-sha256` key opened from the sealed `signing_secret` (keyid: the client's id) and
//! the public keys of `signing_keys` (keyid: each key's id).

use gatewatch_model::policy::{public_key_der, SigningAlg};
use gatewatch_model::sealed::SealKey;
use gatewatch_model::ClientSpec;
use ring::signature::{self as sig, UnparsedPublicKey};
use tracing::warn;

/// The SubjectPublicKeyInfo header of a P-256 key (RFC 5480), before its 65-byte point.
pub(super) const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410), before its 32 bytes.
pub(super) const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The algorithm names of RFC 9421 §3.3.
pub const HMAC_SHA256: &str = "hmac-sha256";

/// One key a signature may be verified with.
pub enum VerifyKey {
    Hmac(ring::hmac::Key),
    /// The uncompressed point (65 bytes).
    EcdsaP256(Vec<u8>),
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.alg())
    }
}

impl VerifyKey {
    pub fn alg(&self) -> &'static str {
        match self {
            VerifyKey::Hmac(_) => HMAC_SHA256,
            VerifyKey::EcdsaP256(_) => SigningAlg::EcdsaP256Sha256.name(),
            VerifyKey::Ed25519(_) => SigningAlg::Ed25519.name(),
        }
    }

    /// The key of a registered public key (a validated client's: the SPKI fits its alg).
    pub fn public(alg: SigningAlg, pem: &str) -> Option<VerifyKey> {
        let der = public_key_der(pem).ok()?;
        match alg {
            SigningAlg::EcdsaP256Sha256 => {
                let point = der.strip_prefix(&P256_SPKI_PREFIX[..])?;
                (point.len() == 65 && point[0] == 4).then(|| VerifyKey::EcdsaP256(point.to_vec()))
            }
            SigningAlg::Ed25519 => {
                let raw = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
                Some(VerifyKey::Ed25519(raw.try_into().ok()?))
            }
        }
    }

    /// Whether `signature` is this key's over `base` (HMAC compared in constant time;
    /// ECDSA as `r ‖ s`, 64 bytes, RFC 9421 §3.3.4).
    pub fn verifies(&self, base: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyKey::Hmac(k) => ring::hmac::verify(k, base, signature).is_ok(),
            VerifyKey::EcdsaP256(point) => {
                UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(base, signature)
                    .is_ok()
            }
            VerifyKey::Ed25519(raw) => UnparsedPublicKey::new(&sig::ED25519, raw)
                .verify(base, signature)
                .is_ok(),
        }
    }
}

/// The context a client's `signing_secret` is sealed for: its id, so a sealed secret copied
/// onto another client does not open.
pub fn secret_context(client_id: &str) -> String {
    gatewatch_model::client::signing_secret_context(client_id)
}

/// A client's signing keys by keyid.
#[derive(Debug, Default)]
pub struct ClientKeys {
    /// `(keyid, key)`; at most 8 public keys and the secret.
    keys: Vec<(String, VerifyKey)>,
}

impl ClientKeys {
    /// The keys of client `id`; its secret opens only with `seal` (absent: no hmac key).
    pub fn new(id: &str, spec: &ClientSpec, seal: Option<&SealKey>) -> ClientKeys {
        let mut keys = Vec::new();
        for k in &spec.signing_keys {
            match VerifyKey::public(k.alg, &k.public_key) {
                Some(v) => keys.push((k.id.clone(), v)),
                None => {
                    warn!(client = %id, key = %k.id, field = "signing_keys", "signing key skipped: not a key of its alg")
                }
            }
        }
        if let (Some(sealed), Some(seal)) = (&spec.signing_secret, seal) {
            match seal.open(&secret_context(id), sealed) {
                Ok(secret) => keys.push((
                    id.to_string(),
                    VerifyKey::Hmac(ring::hmac::Key::new(
                        ring::hmac::HMAC_SHA256,
                        secret.as_bytes(),
                    )),
                )),
                Err(e) => {
                    warn!(client = %id, field = "signing_secret", error = %e, "signing secret skipped")
                }
            }
        }
        ClientKeys { keys }
    }

    #[cfg(test)]
    pub fn from_keys(keys: Vec<(String, VerifyKey)>) -> ClientKeys {
        ClientKeys { keys }
    }

    /// The key named `keyid` (a public key's id first, then the secret under the client's id).
    pub fn get(&self, keyid: &str) -> Option<&VerifyKey> {
        self.keys.iter().find(|(k, _)| k == keyid).map(|(_, v)| v)
    }
}
