//! Request signatures (`signature`, RFC 9421 HTTP Message Signatures; the seeds' SignCode):
//! `hmac-sha256` with the client's signing secret (keyid: the client's id),
//! `ecdsa-p256-sha256` / `ed25519` with a key the client registered (keyid: the key's id).
//! The components the API names must be covered, `created` within `max_age_secs` (either
//! way: clock skew), a nonce seen before refused ([`nonce`]), and `content-digest` (RFC
//! 9530, `sha-256` / `sha-512`) checked against the body read whole. Anything wrong is 401
//! `bad_signature` (outcome `refused_auth`) with the reason; a call that passes is recorded
//! with `signature:<keyid>` in its `policies`.
//!
//! Bounds: the first signature of `Signature-Input` whose label `Signature` also has is the
//! one verified (others, e.g. added by proxies on the way, are ignored); each header at most
//! [`MAX_FIELD`] bytes, at most [`MAX_COVERED`] components; a body checked against its digest
//! is read whole, up to `max_body_bytes` or 1 MiB.

mod base;
mod keys;
mod nonce;
pub mod sfv;
pub mod sign;
#[cfg(test)]
mod tests;

use std::fmt;

use gatewatch_model::{ApiSpec, Outcome};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::body::client::ClientBody;
use crate::phase::{Answer, Ctx, Stop};
pub(crate) use keys::ClientKeys;
use sfv::{Item, Member};

/// `error.code` of every refusal.
pub const CODE: &str = "bad_signature";
/// Longest `Signature-Input` / `Signature` / `Content-Digest` read (bytes, all instances).
pub const MAX_FIELD: usize = 8 * 1024;
/// Most components one signature may cover.
pub const MAX_COVERED: usize = 32;
/// Longest `nonce` and `keyid`.
const MAX_PARAM: usize = 256;

/// The gateway-wide state: nonces seen.
#[derive(Default)]
pub(crate) struct State {
    pub nonces: nonce::Nonces,
}

/// An API's `signature` policy, ready for calls.
#[derive(Debug)]
pub(crate) struct Compiled {
    required: bool,
    components: Vec<String>,
    max_age: i64,
    nonce_required: bool,
    /// The policy covers `content-digest`: every signed call's body is read and checked.
    digest: bool,
    /// `Accept-Signature` (RFC 9421 §5.1) sent with a refusal: what to sign.
    accept: Option<HeaderValue>,
}

impl Compiled {
    /// The body is read whole when a signature must bind it: the policy covers
    /// `content-digest`, or the call carries one (checked too). An unsigned call to an API
    /// that does not require signatures streams as usual.
    pub fn needs_body(&self, head: &Parts) -> bool {
        let signed = self.required || head.headers.contains_key(SIGNATURE_INPUT);
        signed && (self.digest || head.headers.contains_key(CONTENT_DIGEST))
    }
}

const SIGNATURE_INPUT: &str = "signature-input";
const SIGNATURE: &str = "signature";
const CONTENT_DIGEST: &str = "content-digest";

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    let s = spec.signature.as_ref()?;
    let accept = format!(
        "sig1={}",
        base::signature_params(&s.components, &Vec::new())
    );
    Some(Compiled {
        required: s.required,
        components: s.components.clone(),
        max_age: i64::from(s.max_age_secs),
        nonce_required: s.nonce_required,
        digest: s.components.iter().any(|c| c == CONTENT_DIGEST),
        accept: HeaderValue::from_str(&accept).ok(),
    })
}

/// Why a signature was refused (the answer's `error.message`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Missing,
    Malformed(String),
    NotCovered(String),
    Expired(i64),
    Future,
    /// The signature's own `expires` has passed.
    ExpiresPassed,
    MissingNonce,
    ReplayedNonce,
    UnknownKey(String),
    AlgMismatch {
        keyid: String,
        alg: String,
    },
    NoClient,
    Invalid,
    DigestMismatch(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Missing => f.write_str(
                "missing: the API requires a signature (Signature-Input and Signature, RFC 9421)",
            ),
            Refusal::Malformed(m) => write!(f, "malformed: {m}"),
            Refusal::NotCovered(c) => {
                write!(f, "component not covered: the signature must cover {c:?}")
            }
            Refusal::Expired(age) => write!(
                f,
                "expired: created {age} s ago, more than the API's max_age_secs"
            ),
            Refusal::Future => {
                f.write_str("expired: created is further in the future than the API's max_age_secs")
            }
            Refusal::ExpiresPassed => f.write_str("expired: the signature's expires has passed"),
            Refusal::MissingNonce => {
                f.write_str("missing nonce: the API requires a nonce parameter")
            }
            Refusal::ReplayedNonce => f.write_str("replayed nonce: this nonce was used before"),
            Refusal::UnknownKey(k) => write!(f, "unknown key: the client has no signing key {k:?}"),
            Refusal::AlgMismatch { keyid, alg } => {
                write!(f, "unknown key: key {keyid:?} is not a {alg} key")
            }
            Refusal::NoClient => {
                f.write_str("unknown key: the call names no client whose keys could verify it")
            }
            Refusal::Invalid => {
                f.write_str("invalid: the signature does not verify with the key named")
            }
            Refusal::DigestMismatch(m) => write!(f, "digest mismatch: {m}"),
        }
    }
}

/// Verifies the call's signature (phase 5).
pub(crate) fn verify(
    state: &State,
    sig: &Compiled,
    head: &Parts,
    body: &ClientBody,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    let call = Call {
        head,
        body,
        client: ctx.client.as_deref().map(|c| (c.id.as_ref(), &c.signing)),
        scheme: if ctx.peer.tls.is_some() {
            "https"
        } else {
            "http"
        },
        now: ctx.ts_us.div_euclid(1_000_000),
    };
    match check(state, sig, &call) {
        Ok(Some(keyid)) => {
            ctx.policies.push(format!("signature:{keyid}").into());
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(r) => {
            let mut a = Answer::new(
                StatusCode::UNAUTHORIZED,
                Outcome::RefusedAuth,
                CODE,
                r.to_string(),
            );
            if let Some(h) = &sig.accept {
                a = a.header(http::HeaderName::from_static("accept-signature"), h.clone());
            }
            Err(Stop::Refuse(a))
        }
    }
}

/// One call as the verifier sees it.
pub(crate) struct Call<'a> {
    pub head: &'a Parts,
    pub body: &'a ClientBody,
    /// The authenticated client: its id and keys.
    pub client: Option<(&'a str, &'a ClientKeys)>,
    pub scheme: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// The keyid of a good signature, `None` for an unsigned call the API lets through.
pub(crate) fn check(state: &State, sig: &Compiled, call: &Call) -> Result<Option<String>, Refusal> {
    let headers = &call.head.headers;
    let input = field(headers, SIGNATURE_INPUT)?;
    let signature = field(headers, SIGNATURE)?;
    let (input, signature) = match (input, signature) {
        (None, None) if !sig.required => return Ok(None),
        (None, None) => return Err(Refusal::Missing),
        (Some(_), None) => return Err(malformed("Signature-Input without Signature")),
        (None, Some(_)) => return Err(malformed("Signature without Signature-Input")),
        (Some(i), Some(s)) => (i, s),
    };
    let inputs =
        sfv::parse_dictionary(&input).map_err(|e| malformed(format!("Signature-Input: {e}")))?;
    let signatures =
        sfv::parse_dictionary(&signature).map_err(|e| malformed(format!("Signature: {e}")))?;
    // The first signature of Signature-Input that Signature has.
    let (label, items, params) = inputs
        .iter()
        .find_map(|(label, m)| match m {
            Member::Inner(items, params) if signatures.iter().any(|(l, _)| l == label) => {
                Some((label, items, params))
            }
            _ => None,
        })
        .ok_or_else(|| {
            malformed("no signature of Signature-Input is in Signature (labels differ)")
        })?;
    let sig_bytes = match signatures.iter().find(|(l, _)| l == label) {
        Some((_, Member::Item(Item::Bytes(b), _))) => b,
        _ => {
            return Err(malformed(format!(
                "Signature {label:?} is not a byte sequence"
            )))
        }
    };

    // Covered components: plain strings, each once.
    if items.len() > MAX_COVERED {
        return Err(malformed(format!(
            "covers more than {MAX_COVERED} components"
        )));
    }
    let mut covered: Vec<String> = Vec::with_capacity(items.len());
    for (item, p) in items {
        let Item::String(name) = item else {
            return Err(malformed("a covered component is not a string"));
        };
        if !p.is_empty() {
            return Err(malformed(format!(
                "component {name:?} has parameters (not supported)"
            )));
        }
        base::check_component(name).map_err(malformed)?;
        if covered.contains(name) {
            return Err(malformed(format!("component {name:?} is covered twice")));
        }
        covered.push(name.clone());
    }
    if let Some(c) = sig.components.iter().find(|c| !covered.contains(c)) {
        return Err(Refusal::NotCovered(c.clone()));
    }

    // Parameters.
    let mut created = None;
    let mut expires = None;
    let mut nonce = None;
    let mut keyid = None;
    let mut alg = None;
    for (k, v) in params {
        match (k.as_str(), v) {
            ("created", Item::Integer(t)) => created = Some(*t),
            ("expires", Item::Integer(t)) => expires = Some(*t),
            ("nonce", Item::String(n)) if !n.is_empty() && n.len() <= MAX_PARAM => {
                nonce = Some(n.as_str())
            }
            ("keyid", Item::String(n)) if !n.is_empty() && n.len() <= MAX_PARAM => {
                keyid = Some(n.as_str())
            }
            ("alg", Item::String(a)) => alg = Some(a.as_str()),
            ("created" | "expires" | "nonce" | "keyid" | "alg", _) => {
                return Err(malformed(format!(
                    "parameter {k:?} has the wrong type or size"
                )))
            }
            _ => {} // `tag` and extensions: covered by the base, not interpreted.
        }
    }
    let created = created.ok_or_else(|| malformed("no created parameter"))?;
    let keyid = keyid.ok_or_else(|| malformed("no keyid parameter"))?;
    let age = call.now - created;
    if age > sig.max_age {
        return Err(Refusal::Expired(age));
    }
    if -age > sig.max_age {
        return Err(Refusal::Future);
    }
    if expires.is_some_and(|e| e < call.now) {
        return Err(Refusal::ExpiresPassed);
    }
    if sig.nonce_required && nonce.is_none() {
        return Err(Refusal::MissingNonce);
    }

    // The key: the authenticated client's only (another client's keyid is unknown here).
    let (client_id, keys) = call.client.ok_or(Refusal::NoClient)?;
    let key = keys
        .get(keyid)
        .ok_or_else(|| Refusal::UnknownKey(keyid.to_string()))?;
    if let Some(a) = alg {
        if a != key.alg() {
            return Err(Refusal::AlgMismatch {
                keyid: keyid.to_string(),
                alg: a.to_string(),
            });
        }
    }
    let target = base::Target {
        method: &call.head.method,
        uri: &call.head.uri,
        headers,
        scheme: call.scheme,
    };
    let base = target.base(&covered, params).map_err(malformed)?;
    // The body, when a digest binds it (covered, or sent): before the signature, so that a
    // malformed or mismatched digest is named as such (it is no secret either way).
    if sig.digest || headers.contains_key(CONTENT_DIGEST) {
        check_digest(headers, call.body)?;
    }
    if !key.verifies(base.as_bytes(), sig_bytes) {
        return Err(Refusal::Invalid);
    }

    // Last: a refused call does not use up its nonce.
    if let Some(n) = nonce {
        match state
            .nonces
            .check_and_keep(client_id, n, created + sig.max_age, call.now)
        {
            nonce::Seen::Fresh => {}
            nonce::Seen::Replayed => return Err(Refusal::ReplayedNonce),
            nonce::Seen::TooOld => return Err(Refusal::Expired(age)),
        }
    }
    Ok(Some(keyid.to_string()))
}

fn malformed(m: impl Into<String>) -> Refusal {
    Refusal::Malformed(m.into())
}

/// A field's instances joined by ", " (RFC 9110 §5.3), bounded.
fn field(headers: &HeaderMap, name: &str) -> Result<Option<String>, Refusal> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let text = v
            .to_str()
            .map_err(|_| malformed(format!("{name} is not visible ASCII")))?;
        let s = out.get_or_insert_with(String::new);
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(text);
        if s.len() > MAX_FIELD {
            return Err(malformed(format!(
                "{name} is longer than {MAX_FIELD} bytes"
            )));
        }
    }
    Ok(out)
}

/// RFC 9530: every `sha-256` / `sha-512` digest sent matches the body; other algorithms are
/// ignored, and at least one known must be there.
fn check_digest(headers: &HeaderMap, body: &ClientBody) -> Result<(), Refusal> {
    let value = field(headers, CONTENT_DIGEST)?
        .ok_or_else(|| Refusal::DigestMismatch("no Content-Digest header".into()))?;
    let dict =
        sfv::parse_dictionary(&value).map_err(|e| malformed(format!("Content-Digest: {e}")))?;
    // needs_body() read it whenever a digest is checked.
    let data = body
        .bytes()
        .ok_or_else(|| Refusal::DigestMismatch("the body was not read".into()))?;
    let mut known = 0;
    for (alg, m) in &dict {
        let algorithm = match alg.as_str() {
            "sha-256" => &ring::digest::SHA256,
            "sha-512" => &ring::digest::SHA512,
            _ => continue,
        };
        let Member::Item(Item::Bytes(sent), _) = m else {
            return Err(malformed(format!(
                "Content-Digest {alg} is not a byte sequence"
            )));
        };
        known += 1;
        let actual = ring::digest::digest(algorithm, data);
        if actual.as_ref() != sent.as_slice() {
            return Err(Refusal::DigestMismatch(format!(
                "the body's {alg} is not the one in Content-Digest"
            )));
        }
    }
    if known == 0 {
        return Err(Refusal::DigestMismatch(
            "Content-Digest has no sha-256 or sha-512".into(),
        ));
    }
    Ok(())
}
