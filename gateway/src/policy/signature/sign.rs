//! Signing a request as the gateway verifies it (RFC 9421 and RFC 9530): what `gatewatch
//! sign` prints, and what tests send. The signature base is built by the same code the
//! verifier uses ([`super::base`]).

use base64::Engine as _;
use ring::rand::SecureRandom as _;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

use super::base::{check_component, signature_params, Target};
use super::sfv::Item;

/// A key to sign with.
pub enum SigningKey {
    /// `hmac-sha256`: the signing secret exactly as shown once (its bytes are the key);
    /// the keyid is the client's id.
    HmacSha256(Vec<u8>),
    /// `ecdsa-p256-sha256`: a PKCS#8 private key.
    EcdsaP256(EcdsaKeyPair),
    /// `ed25519`: a PKCS#8 private key.
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    /// A private key from PEM (`-----BEGIN PRIVATE KEY-----`, PKCS#8): Ed25519 or P-256.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let body = pem
            .trim()
            .strip_prefix("-----BEGIN PRIVATE KEY-----")
            .and_then(|r| r.strip_suffix("-----END PRIVATE KEY-----"))
            .ok_or("the key must be a PEM block -----BEGIN PRIVATE KEY----- (PKCS#8)")?;
        let b64: String = body.split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "the PEM block is not base64")?;
        Self::from_pkcs8(&der)
    }

    /// A private key from PKCS#8 DER: Ed25519 or P-256.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(SigningKey::Ed25519(k));
        }
        let rng = ring::rand::SystemRandom::new();
        EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map(SigningKey::EcdsaP256)
            .map_err(|_| "the key is neither an Ed25519 nor a P-256 private key (PKCS#8)".into())
    }

    /// The algorithm's name (RFC 9421 §6.2.2).
    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::HmacSha256(_) => super::keys::HMAC_SHA256,
            SigningKey::EcdsaP256(_) => "ecdsa-p256-sha256",
            SigningKey::Ed25519(_) => "ed25519",
        }
    }

    /// The public key as PEM (SubjectPublicKeyInfo), to register as a client's
    /// `signing_keys` entry; `None` for a secret.
    pub fn public_key_pem(&self) -> Option<String> {
        let (prefix, raw): (&[u8], &[u8]) = match self {
            SigningKey::HmacSha256(_) => return None,
            SigningKey::EcdsaP256(k) => (&super::keys::P256_SPKI_PREFIX, k.public_key().as_ref()),
            SigningKey::Ed25519(k) => (&super::keys::ED25519_SPKI_PREFIX, k.public_key().as_ref()),
        };
        let mut der = prefix.to_vec();
        der.extend_from_slice(raw);
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        Some(format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ))
    }

    fn sign(&self, base: &[u8]) -> Result<Vec<u8>, String> {
        Ok(match self {
            SigningKey::HmacSha256(secret) => {
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                ring::hmac::sign(&k, base).as_ref().to_vec()
            }
            SigningKey::EcdsaP256(k) => k
                .sign(&ring::rand::SystemRandom::new(), base)
                .map_err(|_| "ECDSA signing failed")?
                .as_ref()
                .to_vec(),
            SigningKey::Ed25519(k) => k.sign(base).as_ref().to_vec(),
        })
    }
}

/// What to sign.
pub struct Request<'a> {
    pub method: &'a str,
    /// The full URL the request goes to (`https://gw.example.com/orders?id=1`).
    pub url: &'a str,
    /// Headers the request carries (a covered header must be here, or be
    /// `content-digest`, which is made from `body`).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// How to sign it.
pub struct Options<'a> {
    /// Components to cover, in order (`@method`, `@path`, `@query`, `content-digest`, …).
    pub components: &'a [String],
    pub keyid: &'a str,
    pub key: &'a SigningKey,
    /// Unix seconds.
    pub created: i64,
    /// `None`: no nonce.
    pub nonce: Option<String>,
    /// The signature's label in the two headers.
    pub label: &'a str,
}

/// A nonce of 16 random bytes (URL-safe base64).
pub fn random_nonce() -> Result<String, String> {
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "no OS randomness")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// `Content-Digest` (RFC 9530) of a body: `sha-256=:<base64>:`.
pub fn content_digest(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    )
}

/// The headers to add to the request: `Content-Digest` when covered, `Signature-Input`,
/// `Signature` (names as written here, values ready to send).
pub fn sign(req: &Request, opts: &Options) -> Result<Vec<(&'static str, String)>, String> {
    let uri: http::Uri = req.url.parse().map_err(|e| format!("url: {e}"))?;
    let scheme = uri
        .scheme_str()
        .ok_or("url: must be absolute (http:// or https://)")?
        .to_string();
    let method =
        http::Method::from_bytes(req.method.as_bytes()).map_err(|e| format!("method: {e}"))?;
    let mut headers = http::HeaderMap::new();
    for (k, v) in req.headers {
        let name =
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k:?}: {e}"))?;
        let value = http::HeaderValue::from_str(v).map_err(|e| format!("header {k:?}: {e}"))?;
        headers.append(name, value);
    }
    let mut out = Vec::new();
    if opts.components.iter().any(|c| c == "content-digest")
        && !headers.contains_key("content-digest")
    {
        let d = content_digest(req.body);
        headers.insert(
            "content-digest",
            http::HeaderValue::from_str(&d).map_err(|e| e.to_string())?,
        );
        out.push(("Content-Digest", d));
    }
    for c in opts.components {
        check_component(c)?;
    }
    let mut params = vec![
        ("created".to_string(), Item::Integer(opts.created)),
        ("keyid".to_string(), Item::String(opts.keyid.to_string())),
        ("alg".to_string(), Item::String(opts.key.alg().to_string())),
    ];
    if let Some(n) = &opts.nonce {
        params.push(("nonce".to_string(), Item::String(n.clone())));
    }
    let target = Target {
        method: &method,
        uri: &uri,
        headers: &headers,
        scheme: &scheme,
    };
    let base = target.base(opts.components, &params)?;
    let signature = opts.key.sign(base.as_bytes())?;
    out.push((
        "Signature-Input",
        format!(
            "{}={}",
            opts.label,
            signature_params(opts.components, &params)
        ),
    ));
    out.push((
        "Signature",
        format!(
            "{}=:{}:",
            opts.label,
            base64::engine::general_purpose::STANDARD.encode(signature)
        ),
    ));
    Ok(out)
}
