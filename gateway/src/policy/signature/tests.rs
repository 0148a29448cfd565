//! The verifier against the RFC 9421 test vectors, the signer, and every attack of issue 17.

use base64::Engine as _;
use bytes::Bytes;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};

use super::keys::{ClientKeys, VerifyKey};
use super::sign::{self, Options, Request, SigningKey};
use super::*;

const NOW: i64 = 1_800_000_000;
const SECRET: &str = "gwsig_test-secret-0123456789";

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn policy(components: &[&str]) -> Compiled {
    let spec = gatewatch_model::policy::SignaturePolicy {
        required: true,
        components: components.iter().map(|c| c.to_string()).collect(),
        max_age_secs: 300,
        nonce_required: true,
    };
    let api: ApiSpec = serde_json::from_value(serde_json::json!({
        "name": "Orders", "prefix": "/orders", "upstreams": ["http://127.0.0.1:9"],
        "auth": ["api_key"], "signature": spec
    }))
    .unwrap();
    compile(&api).unwrap()
}

fn default_policy() -> Compiled {
    policy(&["@method", "@path", "@query", "content-digest"])
}

struct Keys {
    ed: Vec<u8>,
    ec: Vec<u8>,
}

fn keys() -> Keys {
    let rng = ring::rand::SystemRandom::new();
    Keys {
        ed: Ed25519KeyPair::generate_pkcs8(&rng)
            .unwrap()
            .as_ref()
            .to_vec(),
        ec: EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec(),
    }
}

/// Client "team-a": its secret (keyid "team-a") and both public keys ("ed", "ec").
fn client_keys(k: &Keys) -> ClientKeys {
    let ed = SigningKey::from_pkcs8(&k.ed).unwrap();
    let ec = SigningKey::from_pkcs8(&k.ec).unwrap();
    ClientKeys::from_keys(vec![
        (
            "ed".into(),
            VerifyKey::public(
                gatewatch_model::policy::SigningAlg::Ed25519,
                &ed.public_key_pem().unwrap(),
            )
            .unwrap(),
        ),
        (
            "ec".into(),
            VerifyKey::public(
                gatewatch_model::policy::SigningAlg::EcdsaP256Sha256,
                &ec.public_key_pem().unwrap(),
            )
            .unwrap(),
        ),
        (
            "team-a".into(),
            VerifyKey::Hmac(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                SECRET.as_bytes(),
            )),
        ),
    ])
}

/// A signed request's head and body (signed for `url`, sent as `sent_url`).
struct Signed {
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn signed(
    key: &SigningKey,
    keyid: &str,
    components: &[&str],
    nonce: Option<&str>,
    created: i64,
) -> Signed {
    let url = "http://gw.test/orders/7?x=1".to_string();
    let body = br#"{"qty":1}"#.to_vec();
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let comps: Vec<String> = components.iter().map(|c| c.to_string()).collect();
    let mut out = sign::sign(
        &Request {
            method: "POST",
            url: &url,
            headers: &headers,
            body: &body,
        },
        &Options {
            components: &comps,
            keyid,
            key,
            created,
            nonce: nonce.map(String::from),
            label: "sig1",
        },
    )
    .unwrap()
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect::<Vec<_>>();
    out.extend(headers);
    Signed {
        method: "POST",
        url,
        headers: out,
        body,
    }
}

fn run(
    state: &State,
    pol: &Compiled,
    keys: &ClientKeys,
    s: &Signed,
) -> Result<Option<String>, Refusal> {
    let uri: http::Uri = s.url.parse().unwrap();
    let mut b = http::Request::builder()
        .method(s.method)
        .uri(uri.path_and_query().unwrap().as_str())
        .header("host", uri.authority().unwrap().as_str());
    for (k, v) in &s.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let (head, ()) = b.body(()).unwrap().into_parts();
    let body = ClientBody::Buffered(Bytes::from(s.body.clone()));
    check(
        state,
        pol,
        &Call {
            head: &head,
            body: &body,
            client: Some(("team-a", keys)),
            scheme: "http",
            now: NOW,
        },
    )
}

fn header_mut<'a>(s: &'a mut Signed, name: &str) -> &'a mut String {
    &mut s
        .headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .unwrap()
        .1
}

const ALL: [&str; 4] = ["@method", "@path", "@query", "content-digest"];

#[test]
fn rfc_9421_test_vectors_verify() {
    // B.2.5 (hmac-sha256, test-shared-secret) and B.2.6 (ed25519, test-key-ed25519).
    let head = || {
        http::Request::builder()
            .method("POST")
            .uri("/foo?param=Value&Pet=dog")
            .header("host", "example.com")
            .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("content-type", "application/json")
            .header("content-length", "18")
    };
    let hmac = VerifyKey::Hmac(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &b64("uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="),
    ));
    let ed = VerifyKey::public(
        gatewatch_model::policy::SigningAlg::Ed25519,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----",
    )
    .unwrap();
    let keys = ClientKeys::from_keys(vec![
        ("test-shared-secret".into(), hmac),
        ("test-key-ed25519".into(), ed),
    ]);
    for (input, signature) in [
        (
            r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#,
            "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
        ),
        (
            r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
        ),
    ] {
        let (head, ()) = head()
            .header("signature-input", input)
            .header("signature", signature)
            .body(())
            .unwrap()
            .into_parts();
        let mut pol = policy(&["@authority"]);
        pol.nonce_required = false;
        pol.max_age = i64::MAX / 2;
        let body = ClientBody::Buffered(Bytes::from_static(b"{\"hello\": \"world\"}"));
        let call = Call {
            head: &head,
            body: &body,
            client: Some(("c", &keys)),
            scheme: "https",
            now: 1618884473,
        };
        let got = check(&State::default(), &pol, &call);
        assert!(got.is_ok(), "{input}: {got:?}");
    }
}

#[test]
fn each_algorithm_signs_and_verifies_and_the_keyid_is_recorded() {
    let k = keys();
    let ck = client_keys(&k);
    let state = State::default();
    let pol = default_policy();
    for (key, keyid) in [
        (SigningKey::HmacSha256(SECRET.as_bytes().to_vec()), "team-a"),
        (SigningKey::from_pkcs8(&k.ed).unwrap(), "ed"),
        (SigningKey::from_pkcs8(&k.ec).unwrap(), "ec"),
    ] {
        let s = signed(&key, keyid, &ALL, Some(&format!("n-{keyid}")), NOW - 5);
        assert_eq!(
            run(&state, &pol, &ck, &s),
            Ok(Some(keyid.to_string())),
            "{keyid}"
        );
    }
}

#[test]
fn attacks_are_refused_with_their_reason() {
    let k = keys();
    let ck = client_keys(&k);
    let pol = default_policy();
    let hmac = SigningKey::HmacSha256(SECRET.as_bytes().to_vec());
    let ed = SigningKey::from_pkcs8(&k.ed).unwrap();
    let good = || signed(&ed, "ed", &ALL, Some("n1"), NOW);
    let fresh = State::default;

    // Wrong key: a secret that is not the client's; another Ed25519 key under "ed".
    let s = signed(
        &SigningKey::HmacSha256(b"guess".to_vec()),
        "team-a",
        &ALL,
        Some("n"),
        NOW,
    );
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Invalid));
    let other = SigningKey::from_pkcs8(&keys().ed).unwrap();
    let s = signed(&other, "ed", &ALL, Some("n"), NOW);
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Invalid));

    // Altered body (digest no longer matches), altered digest (signature no longer matches).
    let mut s = good();
    s.body = br#"{"qty":1000}"#.to_vec();
    assert!(matches!(
        run(&fresh(), &pol, &ck, &s),
        Err(Refusal::DigestMismatch(_))
    ));
    let mut s = good();
    *header_mut(&mut s, "content-digest") = sign::content_digest(br#"{"qty":1000}"#);
    s.body = br#"{"qty":1000}"#.to_vec();
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Invalid));

    // Altered path, query, method.
    for url in [
        "http://gw.test/orders/8?x=1",
        "http://gw.test/orders/7?x=2",
        "http://gw.test/orders/7",
    ] {
        let mut s = good();
        s.url = url.into();
        assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Invalid), "{url}");
    }
    let mut s = good();
    s.method = "PUT";
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Invalid));

    // Replayed nonce: the same signed request twice; a refused call does not use it up.
    let state = fresh();
    let mut bad = good();
    bad.body = b"x".to_vec();
    assert!(run(&state, &pol, &ck, &bad).is_err());
    assert_eq!(run(&state, &pol, &ck, &good()), Ok(Some("ed".into())));
    assert_eq!(run(&state, &pol, &ck, &good()), Err(Refusal::ReplayedNonce));

    // Old created, created in the future, expires passed.
    let s = signed(&ed, "ed", &ALL, Some("n"), NOW - 301);
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Expired(301)));
    let s = signed(&ed, "ed", &ALL, Some("n"), NOW + 301);
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Future));
    let mut s = good();
    let si = header_mut(&mut s, "signature-input");
    *si = si.replace(";nonce=", &format!(";expires={};nonce=", NOW - 1));
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::ExpiresPassed));

    // A component the API requires is not covered.
    let s = signed(
        &ed,
        "ed",
        &["@method", "@path", "content-digest"],
        Some("n"),
        NOW,
    );
    assert_eq!(
        run(&fresh(), &pol, &ck, &s),
        Err(Refusal::NotCovered("@query".into()))
    );

    // No nonce; no signature at all.
    let s = signed(&ed, "ed", &ALL, None, NOW);
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::MissingNonce));
    let mut s = good();
    s.headers.retain(|(k, _)| !k.starts_with("Signature"));
    assert_eq!(run(&fresh(), &pol, &ck, &s), Err(Refusal::Missing));

    // Another client's keyid (not among this client's keys), an alg that is not the key's.
    let s = signed(&hmac, "team-b", &ALL, Some("n"), NOW);
    assert_eq!(
        run(&fresh(), &pol, &ck, &s),
        Err(Refusal::UnknownKey("team-b".into()))
    );
    let s = signed(&ed, "ec", &ALL, Some("n"), NOW);
    assert!(matches!(
        run(&fresh(), &pol, &ck, &s),
        Err(Refusal::AlgMismatch { .. })
    ));

    // Malformed structured fields and parameters.
    for (header, value) in [
        ("Signature", "sig1=:not base64*:"),
        ("Signature", "sig1=\"a string\""),
        ("Signature", "other=:AAAA:"),
        ("Signature-Input", "sig1=(\"@method\" @path);created=1"),
        ("Signature-Input", "sig1=(\"@method\";sf \"@path\" \"@query\" \"content-digest\");created=1;keyid=\"ed\""),
        ("Signature-Input", "sig1=(\"@method\" \"@method\" \"@path\" \"@query\" \"content-digest\");created=1;keyid=\"ed\""),
        ("Signature-Input", "sig1=(\"@status\" \"@method\" \"@path\" \"@query\" \"content-digest\");created=1;keyid=\"ed\""),
        ("Signature-Input", "sig1=(\"@method\" \"@path\" \"@query\" \"content-digest\");created=\"now\";keyid=\"ed\""),
        ("Signature-Input", "sig1=(\"@method\" \"@path\" \"@query\" \"content-digest\");keyid=\"ed\""),
        ("Signature-Input", "sig1=(\"@method\" \"@path\" \"@query\" \"content-digest\");created=1800000000;nonce=\"n\""),
        ("Signature-Input", "sig1=(\"@method\" \"@path\" \"@query\" \"content-digest\");created=1800000000;keyid=ed"),
        ("Signature-Input", "sig1=(\"@method\" \"@path\" \"@query\" \"content-digest\"),"),
    ] {
        let mut s = good();
        *header_mut(&mut s, header) = value.into();
        let got = run(&fresh(), &pol, &ck, &s);
        assert!(
            matches!(got, Err(Refusal::Malformed(_))),
            "{header}: {value} → {got:?}"
        );
    }
    // A malformed Content-Digest, signed as it is; one of an algorithm we do not know only
    // (not a binding of the body).
    for value in ["sha-256=:%%%:", "sha-256=\"abc\"", "sha-256"] {
        let s = signed_digest(&ed, value);
        let got = run(&fresh(), &pol, &ck, &s);
        assert!(
            matches!(got, Err(Refusal::Malformed(_))),
            "{value} → {got:?}"
        );
    }
    let s = signed_digest(&ed, "md5=:AAAA:");
    assert!(matches!(
        run(&fresh(), &pol, &ck, &s),
        Err(Refusal::DigestMismatch(_))
    ));
    // An oversized header.
    let mut s = good();
    *header_mut(&mut s, "signature-input") = format!("sig1=(\"{}\")", "a".repeat(MAX_FIELD));
    assert!(matches!(
        run(&fresh(), &pol, &ck, &s),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn a_call_without_client_or_unsigned_on_an_optional_api() {
    let k = keys();
    let ck = client_keys(&k);
    let ed = SigningKey::from_pkcs8(&k.ed).unwrap();
    let s = signed(&ed, "ed", &ALL, Some("n"), NOW);
    let (head, ()) = http::Request::builder()
        .uri("/orders/7?x=1")
        .header(
            "signature-input",
            &s.headers
                .iter()
                .find(|h| h.0 == "Signature-Input")
                .unwrap()
                .1,
        )
        .header(
            "signature",
            &s.headers.iter().find(|h| h.0 == "Signature").unwrap().1,
        )
        .body(())
        .unwrap()
        .into_parts();
    let body = ClientBody::Buffered(Bytes::new());
    let mut call = Call {
        head: &head,
        body: &body,
        client: None,
        scheme: "http",
        now: NOW,
    };
    let pol = default_policy();
    assert_eq!(
        check(&State::default(), &pol, &call),
        Err(Refusal::NoClient)
    );
    let (plain, ()) = http::Request::builder()
        .uri("/")
        .body(())
        .unwrap()
        .into_parts();
    call.head = &plain;
    call.client = Some(("team-a", &ck));
    let mut optional = default_policy();
    optional.required = false;
    assert_eq!(check(&State::default(), &optional, &call), Ok(None));
    assert!(!optional.needs_body(&plain));
    assert!(pol.needs_body(&plain));
    assert_eq!(check(&State::default(), &pol, &call), Err(Refusal::Missing));
}

/// A request signed with `digest` as its Content-Digest (not made from the body).
fn signed_digest(ed: &SigningKey, digest: &str) -> Signed {
    let body = br#"{"qty":1}"#;
    let url = "http://gw.test/orders/7?x=1";
    let headers = vec![("content-digest".to_string(), digest.to_string())];
    let comps: Vec<String> = ALL.map(String::from).to_vec();
    let mut out: Vec<(String, String)> = sign::sign(
        &Request {
            method: "POST",
            url,
            headers: &headers,
            body,
        },
        &Options {
            components: &comps,
            keyid: "ed",
            key: ed,
            created: NOW,
            nonce: Some("n".into()),
            label: "sig1",
        },
    )
    .unwrap()
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    out.extend(headers);
    Signed {
        method: "POST",
        url: url.into(),
        headers: out,
        body: body.to_vec(),
    }
}

#[test]
fn sha_512_digests_are_checked_too() {
    let k = keys();
    let ck = client_keys(&k);
    let ed = SigningKey::from_pkcs8(&k.ed).unwrap();
    let d512 = base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA512, br#"{"qty":1}"#).as_ref());
    let s = signed_digest(&ed, &format!("sha-512=:{d512}:"));
    assert_eq!(
        run(&State::default(), &default_policy(), &ck, &s),
        Ok(Some("ed".into()))
    );
}

#[test]
fn openssl_keys_load_and_give_the_public_key_openssl_gives() {
    // Test-only keys made by `openssl genpkey` (ed25519; EC P-256), with `openssl pkey -pubout`.
    let ed = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJijpOCPVRC3stdzgAJC5BpOUObg80GuQ/0jZ4S59AiV\n-----END PRIVATE KEY-----\n";
    let ed_pub = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAvetr2kEa9sqE5gxBSTq7jYqdlSUlg7CM6U+FUUFaUSI=\n-----END PUBLIC KEY-----\n";
    let ec = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKY25IHS7j8LUU5YS\nykJEEg3CE+n38eMb8x90gdy4vLmhRANCAAThUJfxW+wyahS+Rdkg7dMvQNpT97Tm\n0+FIX1QTNSxLpN2wsIi28EZcF/Olo0gdrDnhMyxDBC+tnqDi9Lkzwx8/\n-----END PRIVATE KEY-----\n";
    let ec_pub = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4VCX8VvsMmoUvkXZIO3TL0DaU/e0\n5tPhSF9UEzUsS6TdsLCItvBGXBfzpaNIHaw54TMsQwQvrZ6g4vS5M8MfPw==\n-----END PUBLIC KEY-----\n";
    let k = SigningKey::from_pem(ed).unwrap();
    assert_eq!(
        (k.alg(), k.public_key_pem().unwrap().as_str()),
        ("ed25519", ed_pub)
    );
    let k = SigningKey::from_pem(ec).unwrap();
    assert_eq!(
        (k.alg(), k.public_key_pem().unwrap().as_str()),
        ("ecdsa-p256-sha256", ec_pub)
    );
    // And the model accepts them as registered keys.
    for (alg, pem) in [
        (gatewatch_model::policy::SigningAlg::Ed25519, ed_pub),
        (gatewatch_model::policy::SigningAlg::EcdsaP256Sha256, ec_pub),
    ] {
        let key = gatewatch_model::policy::SigningKey {
            id: "k".into(),
            alg,
            public_key: pem.into(),
        };
        assert!(gatewatch_model::policy::check_signing_keys(&[key]).is_ok());
        assert!(VerifyKey::public(alg, pem).is_some());
    }
    assert!(VerifyKey::public(gatewatch_model::policy::SigningAlg::Ed25519, ec_pub).is_none());
    assert!(
        SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----").is_err()
    );
}
