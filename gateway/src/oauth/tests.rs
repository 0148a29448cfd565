//! The issuer's checks, one attack each, and the scope rules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;

use super::server::{endpoint, grant_scopes};
use super::*;

const NOW: i64 = 1_800_000_000;

fn issuer() -> OwnIssuer {
    OwnIssuer::ephemeral("https://gw.example", "https://api.example").unwrap()
}

fn part(v: &serde_json::Value) -> String {
    B64.encode(v.to_string())
}

/// A token with `header` and `claims`, keeping `sig` (base64url) as the signature.
fn forge(header: serde_json::Value, claims: serde_json::Value, sig: &str) -> String {
    format!("{}.{}.{sig}", part(&header), part(&claims))
}

#[test]
fn a_token_it_issued_verifies() {
    let own = issuer();
    let (token, claims) = own.issue("c1", "orders.read", 600, NOW).unwrap();
    let v = own.verify(&token, NOW + 10).unwrap();
    assert_eq!(&*v.client_id, "c1");
    assert_eq!(&*v.scopes, "orders.read");
    assert_eq!(*v.jti, *claims.jti);
    assert_eq!(claims.sub, "c1");
    assert_eq!(claims.aud, "https://api.example");
    assert_eq!(claims.exp, NOW + 600);
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
}

#[test]
fn expired_revoked_and_future_tokens_are_refused() {
    let own = issuer();
    let (token, c) = own.issue("c1", "", 60, NOW).unwrap();
    assert!(
        own.verify(&token, NOW + 60 + LEEWAY_S - 1).is_ok(),
        "within the leeway"
    );
    let e = own.verify(&token, NOW + 60 + LEEWAY_S).unwrap_err();
    assert!(e.starts_with("expired"), "{e}");
    let e = own.verify(&token, NOW - LEEWAY_S - 1).unwrap_err();
    assert!(e.starts_with("issued in the future"), "{e}");
    own.revoke(&c.jti, (NOW + 60) * 1_000_000);
    assert!(own.verify(&token, NOW).unwrap_err().contains("revoked"));
    // Revocations are forgotten once the token has expired anyway.
    own.prune_revoked((NOW + 61) * 1_000_000);
    assert!(!own.is_revoked(&c.jti));
}

#[test]
fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let own = issuer();
    let (token, _) = own.issue("c1", "admin", 600, NOW).unwrap();
    let kid = own.keys().verifiers.keys().next().unwrap().clone();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    let none = forge(
        serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        claims.clone(),
        "",
    );
    assert!(own.verify(&none, NOW).unwrap_err().contains("alg \"none\""));
    // HS256 keyed with the published JWK's text: the classic confusion.
    use hmac::Mac as _;
    let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let input = format!("{}.{}", part(&header), part(&claims));
    let jwks = own.keys().jwks.clone();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&jwks).unwrap();
    mac.update(input.as_bytes());
    let hs = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
    assert!(own.verify(&hs, NOW).unwrap_err().contains("HS256"));
}

#[test]
fn tampered_foreign_and_misaddressed_tokens_are_refused() {
    let own = issuer();
    let (token, _) = own.issue("c1", "orders.read", 600, NOW).unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
    claims["scope"] = "orders.read orders.write".into();
    parts[1] = part(&claims);
    assert_eq!(
        own.verify(&parts.join("."), NOW).unwrap_err(),
        "bad signature"
    );

    // Another issuer's key, same names: unknown kid.
    let other = issuer();
    let (foreign, _) = other.issue("c1", "", 600, NOW).unwrap();
    assert!(own
        .verify(&foreign, NOW)
        .unwrap_err()
        .contains("not a published key"));

    // Signed by this key but for another audience or issuer.
    let same_key = OwnIssuer::new("https://gw.example", "https://elsewhere");
    same_key.set_keys(KeySet {
        signer: own.keys().signer.clone(),
        verifiers: own.keys().verifiers.clone(),
        jwks: own.keys().jwks.clone(),
    });
    let (wrong_aud, _) = same_key.issue("c1", "", 600, NOW).unwrap();
    assert!(own.verify(&wrong_aud, NOW).unwrap_err().starts_with("aud"));
    let other_iss = OwnIssuer::new("https://evil.example", "https://api.example");
    other_iss.set_keys(KeySet {
        signer: own.keys().signer.clone(),
        verifiers: own.keys().verifiers.clone(),
        jwks: own.keys().jwks.clone(),
    });
    let (wrong_iss, _) = other_iss.issue("c1", "", 600, NOW).unwrap();
    assert!(own.verify(&wrong_iss, NOW).unwrap_err().starts_with("iss"));

    // No typ, or another one.
    let kid = own.keys().verifiers.keys().next().unwrap().clone();
    let jwt_typ = forge(
        serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
        claims,
        &parts[2],
    );
    assert!(own.verify(&jwt_typ, NOW).unwrap_err().contains("typ"));
    assert!(own.verify("garbage", NOW).is_err());
    assert!(own.verify("", NOW).is_err());
}

#[test]
fn an_issuer_without_keys_verifies_nothing() {
    let own = OwnIssuer::new("https://gw.example", "https://gw.example");
    assert!(own.issue("c1", "", 60, NOW).is_err());
    let (token, _) = issuer().issue("c1", "", 60, NOW).unwrap();
    assert!(own.verify(&token, NOW).is_err());
}

#[test]
fn scopes_are_granted_from_the_allowed_ones() {
    let allowed = ["a", "b", "c"];
    assert_eq!(grant_scopes(None, &allowed).unwrap(), "a b c");
    assert_eq!(grant_scopes(Some("b a b"), &allowed).unwrap(), "b a");
    assert!(grant_scopes(Some("d"), &allowed)
        .unwrap_err()
        .contains("\"d\""));
    assert!(
        grant_scopes(Some("a  b"), &allowed).is_err(),
        "an empty scope"
    );
    assert!(grant_scopes(Some("a\"b"), &allowed).is_err());
    assert_eq!(grant_scopes(None, &[]).unwrap(), "");
}

#[test]
fn endpoints_are_found_by_exact_path() {
    use super::server::Endpoint;
    assert_eq!(endpoint("/oauth2/token"), Some(Endpoint::Token));
    assert_eq!(
        endpoint("/.well-known/oauth-authorization-server"),
        Some(Endpoint::Metadata)
    );
    for other in [
        "/oauth2/token/",
        "/oauth2/tokens",
        "/oauth2",
        "/api/oauth2/token",
        "/",
    ] {
        assert_eq!(endpoint(other), None, "{other}");
    }
}

#[test]
fn a_new_key_is_published_before_it_signs_and_a_retired_one_until_its_end() {
    use super::sync::{key_set, PUBLISH_FIRST_US};
    use gatewatch_store::oauth::KeyRow;
    let seal = gatewatch_model::sealed::SealKey::from_pepper(b"pepper 0123456789abcdef");
    let t = 1_000_000_000_000i64;
    let old = KeyRow::generate(&seal, "ES256", t).unwrap();
    // Alone, a fresh key signs at once.
    let set = key_set(std::slice::from_ref(&old), t, &seal, None);
    assert_eq!(
        set.signer.as_deref().map(|s| s.kid()),
        Some(old.kid.as_str())
    );

    // Rotated at r: both published; the old one signs until every gateway knows the new.
    let r = t + 3_600_000_000;
    let new = KeyRow::generate(&seal, "ES256", r).unwrap();
    let rows = [old.retired(r, r + 7_200_000_000), new.clone()];
    let set = key_set(&rows, r + 1, &seal, None);
    assert_eq!(set.verifiers.len(), 2);
    assert_eq!(
        set.signer.as_deref().map(|s| s.kid()),
        Some(old.kid.as_str())
    );
    let set = key_set(&rows, r + PUBLISH_FIRST_US, &seal, set.signer.as_ref());
    assert_eq!(
        set.signer.as_deref().map(|s| s.kid()),
        Some(new.kid.as_str())
    );
    // Past keep_until the old key is published no more.
    let set = key_set(&rows, r + 7_200_000_000, &seal, None);
    assert_eq!(set.fingerprint().0, vec![new.kid.as_str()]);
    let jwks: serde_json::Value = serde_json::from_slice(&set.jwks).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    // A key sealed under another pepper never signs.
    let other = gatewatch_model::sealed::SealKey::from_pepper(b"another pepper 0123456789");
    let set = key_set(std::slice::from_ref(&old), t, &other, None);
    assert!(set.signer.is_none());
}
