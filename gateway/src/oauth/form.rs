//! What the token, introspection and revocation endpoints read: a bounded
//! `application/x-www-form-urlencoded` body whose parameters each appear once (RFC 6749
//! §3.2), and the client's credentials — HTTP Basic with the form-urlencoded id and secret
//! (`client_secret_basic`, RFC 6749 §2.3.1) or `client_id` and `client_secret` in the body
//! (`client_secret_post`), never both. Pure functions but [`read_body`].

use std::time::Duration;

use crate::mask::query::form_decode;
use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

/// Largest body read: a token request is a few hundred bytes.
pub(crate) const MAX_BODY: usize = 16 * 1024;
/// Most parameters in one body.
const MAX_PARAMS: usize = 32;
/// Longest client id or secret looked at (one HMAC each, over at most this).
pub(crate) const MAX_CREDENTIAL: usize = 512;
/// How long the body may take to arrive once the head is in.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request is refused before the client is known: the RFC 6749 code, its status and
/// what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
}

impl Refused {
    pub fn bad(description: impl Into<String>) -> Refused {
        Refused {
            status: 400,
            code: "invalid_request",
            description: description.into(),
        }
    }

    pub fn client(description: impl Into<String>) -> Refused {
        Refused {
            status: 401,
            code: "invalid_client",
            description: description.into(),
        }
    }
}

/// Whether `Content-Type` is `application/x-www-form-urlencoded` (parameters such as
/// `charset=UTF-8` allowed).
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The body, at most [`MAX_BODY`] bytes (413 beyond, told by `Content-Length` or found
/// while reading), within [`BODY_TIMEOUT`].
pub(crate) async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, Refused> {
    let too_big = || Refused {
        status: 413,
        code: "invalid_request",
        description: format!("the body is over {MAX_BODY} bytes"),
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_big());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => Err(Refused::bad("the body did not arrive in time")),
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_big()),
        Ok(Err(_)) => Err(Refused::bad("the body could not be read")),
    }
}

/// The parameters of a form body, each named once; an empty value counts as absent
/// (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub(crate) struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, Refused> {
        let text = std::str::from_utf8(body).map_err(|_| Refused::bad("the body is not UTF-8"))?;
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k).ok_or_else(|| Refused::bad("a parameter name is badly encoded"))?;
            let v = decode(v)
                .ok_or_else(|| Refused::bad(format!("parameter {k:?} is badly encoded")))?;
            if params.iter().any(|(n, _)| *n == k) {
                return Err(Refused::bad(format!("parameter {k:?} is repeated")));
            }
            if params.len() == MAX_PARAMS {
                return Err(Refused::bad(format!("more than {MAX_PARAMS} parameters")));
            }
            params.push((k, v));
        }
        Ok(Form { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// One form-encoded name or value, owned (see [`form_decode`]).
fn decode(s: &str) -> Option<String> {
    form_decode(s).map(std::borrow::Cow::into_owned)
}

/// How the client authenticated (the record's `auth_method`).
pub(crate) use crate::access::auth::ClientAuth as Method;

/// A client's claimed identity, not yet checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub client_id: String,
    /// The secret, or the assertion with `private_key_jwt`.
    pub secret: String,
    pub method: Method,
}

/// The client's credentials from the `Authorization` header or the body. The error's
/// `Method` says whether Basic was tried (the answer then carries `WWW-Authenticate: Basic`).
pub(crate) fn credentials(
    headers: &HeaderMap,
    form: &Form,
) -> Result<Credentials, (Refused, Option<Method>)> {
    let basic = match headers.get(http::header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let basic = basic(v.as_bytes()).map_err(|r| (r, Some(Method::SecretBasic)))?;
            Some(basic)
        }
    };
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    let assertion_type = form.get("client_assertion_type");
    let assertion = form.get("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        return jwt_credentials(
            basic.is_some() || body_secret.is_some(),
            body_id,
            assertion_type,
            assertion,
        );
    }
    let c = match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                let r = Refused::bad("the client authenticated twice (Basic and client_secret)");
                return Err((r, Some(Method::SecretBasic)));
            }
            if body_id.is_some_and(|b| b != id) {
                let r = Refused::client("client_id differs from the Basic credentials");
                return Err((r, Some(Method::SecretBasic)));
            }
            Credentials {
                client_id: id,
                secret,
                method: Method::SecretBasic,
            }
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Credentials {
                client_id: id.to_string(),
                secret: secret.to_string(),
                method: Method::SecretPost,
            },
            _ => {
                let r = Refused::client(
                    "client authentication required: HTTP Basic or client_id and client_secret",
                );
                return Err((r, None));
            }
        },
    };
    if c.client_id.len() > MAX_CREDENTIAL || c.secret.len() > MAX_CREDENTIAL {
        let r = Refused::client(format!("client id or secret over {MAX_CREDENTIAL} bytes"));
        return Err((r, Some(c.method)));
    }
    Ok(c)
}

/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `private_key_jwt`: the assertion, and the client it names (`client_id`, else the
/// assertion's `sub`, read unchecked here: the signature is checked against that client's
/// keys).
fn jwt_credentials(
    other_method: bool,
    body_id: Option<&str>,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
) -> Result<Credentials, (Refused, Option<Method>)> {
    let m = Some(Method::PrivateKeyJwt);
    if other_method {
        let r = Refused::bad("the client authenticated twice (a secret and client_assertion)");
        return Err((r, m));
    }
    let (Some(kind), Some(assertion)) = (assertion_type, assertion) else {
        let r = Refused::bad("client_assertion_type and client_assertion go together");
        return Err((r, m));
    };
    if kind != JWT_BEARER {
        let r = Refused::client(format!("client_assertion_type must be {JWT_BEARER}"));
        return Err((r, m));
    }
    let client_id = match body_id {
        Some(id) => id.to_string(),
        None => {
            #[derive(serde::Deserialize)]
            struct Sub {
                sub: String,
            }
            let jws = gatewatch_model::oauth::keys::decode_jws(assertion)
                .map_err(|e| (Refused::client(format!("client_assertion: {e}")), m))?;
            serde_json::from_slice::<Sub>(&jws.payload)
                .map_err(|_| (Refused::client("client_assertion has no sub"), m))?
                .sub
        }
    };
    if client_id.len() > MAX_CREDENTIAL {
        let r = Refused::client(format!("client id over {MAX_CREDENTIAL} bytes"));
        return Err((r, m));
    }
    Ok(Credentials {
        client_id,
        secret: assertion.to_string(),
        method: Method::PrivateKeyJwt,
    })
}

/// The client id of an HTTP Basic `Authorization`, if it is one (nothing checked).
pub(crate) fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?;
    basic(v.as_bytes()).ok().map(|(id, _)| id)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic(value: &[u8]) -> Result<(String, String), Refused> {
    let bad = || Refused::client("the Authorization header is not HTTP Basic with id and secret");
    let v = std::str::from_utf8(value).map_err(|_| bad())?;
    let (scheme, rest) = v.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (decode(id).ok_or_else(bad)?, decode(secret).ok_or_else(bad)?);
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn forms_decode_and_refuse_repeats() {
        let f = Form::parse(b"grant_type=client_credentials&scope=a+b%2Fc&x=").unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("scope"), Some("a b/c"));
        assert_eq!(f.get("x"), None, "empty is absent");
        let e = Form::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(e.description, "parameter \"scope\" is repeated");
        assert_eq!(e.code, "invalid_request");
        assert!(Form::parse(b"a=%zz").is_err());
        assert!(Form::parse(b"a=%e9").is_err(), "not UTF-8 once decoded");
        // A sign is not a hex digit (`u8::from_str_radix` would take `+1`).
        assert!(Form::parse(b"a=%+1").is_err());
        assert!(Form::parse(b"a=%4").is_err());
        assert!(Form::parse(b"a=%4").is_err());
        let many: String = (0..40).map(|i| format!("p{i}=1&")).collect();
        assert!(Form::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let form = Form::default();
        let h = headers(Some(&format!("Basic {}", b64("my%20app:s%3Acret+x"))));
        let c = credentials(&h, &form).unwrap();
        assert_eq!(c.client_id, "my app");
        assert_eq!(c.secret, "s:cret x");
        assert_eq!(c.method, Method::SecretBasic);
    }

    #[test]
    fn post_credentials_and_refusals() {
        let form = Form::parse(b"client_id=c1&client_secret=s").unwrap();
        let c = credentials(&headers(None), &form).unwrap();
        assert_eq!((c.client_id.as_str(), c.method), ("c1", Method::SecretPost));
        // Both ways at once.
        let h = headers(Some(&format!("Basic {}", b64("c1:s"))));
        let (r, m) = credentials(&h, &form).unwrap_err();
        assert_eq!((r.code, m), ("invalid_request", Some(Method::SecretBasic)));
        // None at all.
        let (r, m) = credentials(&headers(None), &Form::default()).unwrap_err();
        assert_eq!((r.status, r.code, m), (401, "invalid_client", None));
        // Another scheme, bad base64, no colon.
        for a in [
            "Bearer x",
            "Basic !!!",
            &format!("Basic {}", b64("nocolon")),
        ] {
            let (r, m) = credentials(&headers(Some(a)), &Form::default()).unwrap_err();
            assert_eq!((r.status, m), (401, Some(Method::SecretBasic)), "{a}");
        }
        // A body client_id naming another client than Basic.
        let form = Form::parse(b"client_id=c2").unwrap();
        let h = headers(Some(&format!("Basic {}", b64("c1:s"))));
        assert_eq!(credentials(&h, &form).unwrap_err().0.code, "invalid_client");
        // Oversized secret.
        let long = format!("client_id=c1&client_secret={}", "x".repeat(600));
        let form = Form::parse(long.as_bytes()).unwrap();
        assert_eq!(
            credentials(&headers(None), &form).unwrap_err().0.code,
            "invalid_client"
        );
    }

    #[test]
    fn content_type_is_the_form_one() {
        let mut h = HeaderMap::new();
        assert!(!is_form(&h));
        for (v, ok) in [
            ("application/x-www-form-urlencoded", true),
            ("application/x-www-form-urlencoded; charset=UTF-8", true),
            ("Application/X-WWW-Form-Urlencoded", true),
            ("application/json", false),
            ("multipart/form-data", false),
        ] {
            h.insert(http::header::CONTENT_TYPE, v.parse().unwrap());
            assert_eq!(is_form(&h), ok, "{v}");
        }
    }
}
