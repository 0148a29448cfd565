//! `private_key_jwt` (RFC 7523 §2.2, §3): a client proves itself with a JWT it signed ES256
//! with a key whose public part it registered (`jwks` on the client). Checked: the key by
//! `kid` (or the client's only key), the algorithm the key's, the signature, `iss` = `sub` =
//! the client, `aud` naming this server (its issuer or the endpoint's URL), `exp` present
//! and at most [`MAX_LIFETIME_S`] ahead, `nbf`, and a `jti` not used before ([`Replays`]).

use std::collections::HashMap;
use std::sync::Mutex;

use gatewatch_model::oauth::keys;
use serde::Deserialize;

use super::LEEWAY_S;

/// Longest an assertion may be valid for: also how long its `jti` is remembered.
pub(crate) const MAX_LIFETIME_S: i64 = 600;
/// Most `jti`s remembered at once (about 80 bytes each).
const MAX_REMEMBERED: usize = 100_000;

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Aud,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

impl Aud {
    fn names(&self, wanted: &[&str]) -> bool {
        match self {
            Aud::One(a) => wanted.contains(&a.as_str()),
            Aud::Many(v) => v.iter().any(|a| wanted.contains(&a.as_str())),
        }
    }
}

/// Checks `assertion` for `client_id` against the client's `jwks`; `audiences`: the names
/// accepted in `aud`. The `jti` and `exp` to remember, or why not.
pub(crate) fn check(
    assertion: &str,
    client_id: &str,
    jwks: Option<&serde_json::Value>,
    audiences: &[&str],
    now_s: i64,
) -> Result<(String, i64), String> {
    let Some(jwks) = jwks else {
        return Err("the client registered no jwks".into());
    };
    let keys = keys::client_keys(jwks).map_err(|e| format!("the client's {e}"))?;
    let jws = keys::decode_jws(assertion)?;
    let key = match jws.header.kid.as_deref() {
        Some(kid) => keys.iter().find(|k| k.kid == kid),
        None if keys.len() == 1 => keys.first(),
        None => None,
    };
    let Some(key) = key else {
        return Err(format!("no key of the client has kid {:?}", jws.header.kid));
    };
    if jws.header.alg != key.alg {
        return Err(format!(
            "alg {:?} is not the key's ({})",
            jws.header.alg, key.alg
        ));
    }
    if !key.verifies(jws.signing_input.as_bytes(), &jws.signature) {
        return Err("bad signature".into());
    }
    let c: Claims =
        serde_json::from_slice(&jws.payload).map_err(|e| format!("claims do not parse: {e}"))?;
    if c.iss != client_id || c.sub != client_id {
        return Err("iss and sub must both be the client id".into());
    }
    if !c.aud.names(audiences) {
        return Err("aud does not name this server".into());
    }
    if c.exp.saturating_add(LEEWAY_S) <= now_s {
        return Err(format!("expired at {}", c.exp));
    }
    if c.exp > now_s.saturating_add(MAX_LIFETIME_S) {
        return Err(format!("exp is more than {MAX_LIFETIME_S} s ahead"));
    }
    if c.nbf.is_some_and(|n| n > now_s.saturating_add(LEEWAY_S)) {
        return Err("not valid yet (nbf)".into());
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err("jti must be 1 to 256 characters".into());
    }
    Ok((c.jti, c.exp))
}

/// The assertions seen, by client and `jti`, until they expire: one is accepted once per
/// gateway.
#[derive(Default)]
pub(crate) struct Replays {
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl Replays {
    /// Whether the assertion is new (and remembers it).
    pub fn first_use(
        &self,
        client_id: &str,
        jti: &str,
        exp: i64,
        now_s: i64,
    ) -> Result<(), String> {
        let Ok(mut seen) = self.seen.lock() else {
            return Err("replay cache unavailable".into());
        };
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, e| e.saturating_add(LEEWAY_S) > now_s);
            if seen.len() >= MAX_REMEMBERED {
                return Err("too many assertions in flight; try again shortly".into());
            }
        }
        match seen.insert((client_id.to_string(), jti.to_string()), exp) {
            Some(_) => Err(format!("assertion jti {jti:?} was used before")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn client() -> (keys::Signer, serde_json::Value) {
        let k = keys::generate(keys::ES256).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk).unwrap();
        (
            keys::Signer::new(&k.kid, k.alg, &k.pkcs8).unwrap(),
            json!({"keys": [jwk]}),
        )
    }

    fn claims() -> serde_json::Value {
        json!({"iss": "c1", "sub": "c1", "aud": "https://gw/oauth2/token", "exp": NOW + 60, "jti": "j1"})
    }

    #[test]
    fn a_good_assertion_passes_once() {
        let (signer, jwks) = client();
        let a = signer.sign(&claims()).unwrap();
        let auds = ["https://gw", "https://gw/oauth2/token"];
        let (jti, exp) = check(&a, "c1", Some(&jwks), &auds, NOW).unwrap();
        assert_eq!((jti.as_str(), exp), ("j1", NOW + 60));
        let r = Replays::default();
        assert!(r.first_use("c1", &jti, exp, NOW).is_ok());
        assert!(r
            .first_use("c1", &jti, exp, NOW)
            .unwrap_err()
            .contains("used before"));
        assert!(r.first_use("c2", &jti, exp, NOW).is_ok(), "per client");
    }

    #[test]
    fn bad_assertions_are_named() {
        let (signer, jwks) = client();
        let (other, _) = client();
        let auds = ["https://gw/oauth2/token"];
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims();
            f(&mut c);
            signer.sign(&c).unwrap()
        };
        let cases: Vec<(String, &str)> = vec![
            (with(&|c| c["iss"] = json!("c2")), "iss and sub"),
            (with(&|c| c["aud"] = json!("https://elsewhere")), "aud"),
            (
                with(&|c| c["aud"] = json!(["x", "https://gw/oauth2/token"])),
                "",
            ),
            (with(&|c| c["exp"] = json!(NOW - 100)), "expired"),
            (with(&|c| c["exp"] = json!(NOW + 3600)), "ahead"),
            (with(&|c| c["nbf"] = json!(NOW + 3600)), "nbf"),
            (with(&|c| c["jti"] = json!("")), "jti"),
            (other.sign(&claims()).unwrap(), "no key of the client"),
        ];
        for (a, want) in cases {
            let r = check(&a, "c1", Some(&jwks), &auds, NOW);
            if want.is_empty() {
                assert!(r.is_ok(), "{r:?}");
            } else {
                assert!(r.unwrap_err().contains(want), "{want}");
            }
        }
        assert!(check("x.y.z", "c1", None, &auds, NOW)
            .unwrap_err()
            .contains("no jwks"));
        // alg none with the client's kid.
        let kid = jwks["keys"][0]["kid"].as_str().unwrap();
        let b64 = |v: serde_json::Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "kid": kid})),
            b64(claims())
        );
        assert!(check(&none, "c1", Some(&jwks), &auds, NOW)
            .unwrap_err()
            .contains("alg"));
    }
}
