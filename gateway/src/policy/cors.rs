//! CORS (`cors`), the Fetch standard's protocol for browsers calling across origins.
//!
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered by
//!   the gateway before authentication (browsers send it without credentials), also on an API
//!   whose `methods` leave `OPTIONS` out: 204 with `Access-Control-Allow-*` when the origin,
//!   the method and every requested header are allowed, outcome `ok`, `policies`
//!   `cors:preflight`; else 403 `cors_refused` (outcome `refused_not_allowed`) without CORS
//!   headers, so the browser stops there.
//! - Any other call from an allowed origin gets `Access-Control-Allow-Origin` (and
//!   `-Credentials`, `-Expose-Headers` as set) on whatever answer it gets, the upstream's or
//!   the gateway's, through [`crate::phase::Ctx::answer_headers`]; these replace any the
//!   upstream sent. A call from another origin is passed on as usual (CORS is the browser's
//!   to enforce) but its answer carries no CORS header. Every answer of the API carries
//!   `Vary: Origin`.
//!
//! Defaults: `methods` the API's methods (all when it lists none); `headers` the
//! CORS-safelisted ones (`Accept`, `Accept-Language`, `Content-Language`) plus `Content-Type`,
//! `Authorization` and `Idempotency-Key`. `*` in `origins` allows any origin (then
//! `Access-Control-Allow-Origin: *`; validation refuses it with `credentials`); `*` in
//! `headers` allows any requested header.

use bytes::Bytes;
use gatewatch_model::{ApiSpec, Outcome};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};

use crate::phase::{Answer, Ctx, Failure, Reply, Stop};
use crate::route::Route;

/// The error code of a preflight refused.
pub(crate) const CODE: &str = "cors_refused";

/// Request headers a browser may send across origins without asking (the Fetch standard's
/// CORS-safelisted request headers, `Content-Type` only for form and text values).
const SAFELISTED: [&str; 3] = ["accept", "accept-language", "content-language"];
/// Allowed when the API names no `headers`, beside [`SAFELISTED`].
const DEFAULT_HEADERS: [&str; 3] = ["content-type", "authorization", "idempotency-key"];
/// Most headers a preflight may ask for; more is refused (a browser never asks for this many).
const MAX_REQUESTED: usize = 64;

static VARY_ORIGIN: HeaderValue = HeaderValue::from_static("origin");
static VARY_PREFLIGHT: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);
static TRUE: HeaderValue = HeaderValue::from_static("true");
static ANY: HeaderValue = HeaderValue::from_static("*");

#[derive(Debug)]
pub(crate) struct Compiled {
    /// `*` in `origins`.
    any_origin: bool,
    origins: Vec<String>,
    /// `None`: any method.
    methods: Option<Vec<Method>>,
    /// `Access-Control-Allow-Methods` when `methods` lists them.
    allow_methods: Option<HeaderValue>,
    /// Lower case, safelisted ones included; `None`: any header (`*`).
    headers: Option<Vec<String>>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    let c = spec.cors.as_deref()?;
    let methods: Vec<Method> = if c.methods.is_empty() {
        &spec.methods
    } else {
        &c.methods
    }
    .iter()
    .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
    .collect();
    let methods = (!methods.is_empty()).then_some(methods);
    let allow_methods = methods.as_ref().and_then(|m| {
        let list: Vec<&str> = m.iter().map(Method::as_str).collect();
        HeaderValue::from_str(&list.join(", ")).ok()
    });
    let headers = if c.headers.iter().any(|h| h == "*") {
        None
    } else {
        let named = if c.headers.is_empty() {
            DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect()
        } else {
            c.headers.iter().map(|h| h.to_ascii_lowercase()).collect()
        };
        let mut all: Vec<String> = SAFELISTED.iter().map(|h| h.to_string()).collect();
        all.extend::<Vec<String>>(named);
        Some(all)
    };
    let expose = (!c.expose_headers.is_empty())
        .then(|| HeaderValue::from_str(&c.expose_headers.join(", ")).ok())
        .flatten();
    Some(Compiled {
        any_origin: c.origins.iter().any(|o| o == "*"),
        origins: c.origins.iter().filter(|o| *o != "*").cloned().collect(),
        methods,
        allow_methods,
        headers,
        expose,
        max_age: c.max_age.map(HeaderValue::from),
        credentials: c.credentials,
    })
}

impl Compiled {
    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        self.any_origin
            || self
                .origins
                .iter()
                .any(|o| o.as_bytes() == origin.as_bytes())
    }

    /// `Access-Control-Allow-Origin` for an allowed `origin`.
    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.any_origin && !self.credentials {
            ANY.clone()
        } else {
            origin.clone()
        }
    }

    fn method_allowed(&self, m: &Method) -> bool {
        self.methods.as_ref().is_none_or(|ms| ms.contains(m))
    }

    /// The first requested header not allowed, if any (`Err` when the list does not parse).
    fn header_refused<'a>(&self, requested: &'a str) -> Result<Option<&'a str>, ()> {
        let mut n = 0;
        for h in requested
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            n += 1;
            if n > MAX_REQUESTED || HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(());
            }
            let allowed = self
                .headers
                .as_ref()
                .is_none_or(|hs| hs.iter().any(|a| a.eq_ignore_ascii_case(h)));
            if !allowed {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }
}

fn refused(told: String) -> Stop {
    Stop::Refuse(
        Answer::new(
            StatusCode::FORBIDDEN,
            Outcome::RefusedNotAllowed,
            CODE,
            told,
        )
        .header(header::VARY, VARY_PREFLIGHT.clone()),
    )
}

/// Answers a preflight, or notes the headers an allowed origin's answer carries.
pub(crate) fn screen(
    cors: &Compiled,
    route: &Route,
    head: &Parts,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    let origin = head.headers.get(header::ORIGIN);
    let asked = head.headers.get(header::ACCESS_CONTROL_REQUEST_METHOD);
    if head.method == Method::OPTIONS {
        if let (Some(origin), Some(asked)) = (origin, asked) {
            return Err(preflight(cors, origin, asked, head, ctx));
        }
        if !route.allows(&Method::OPTIONS) {
            // Routed only because the API answers preflights (see `phase::filter`).
            let allow = route.allow_header();
            let message = format!(
                "OPTIONS is not allowed on '{}' (allowed: {})",
                ctx.path(),
                allow.to_str().unwrap_or("")
            );
            return Err(Stop::Refuse(
                Answer::failure(Failure::WrongMethod, message).header(header::ALLOW, allow),
            ));
        }
    }
    ctx.cors = true;
    ctx.answer_headers.push((header::VARY, VARY_ORIGIN.clone()));
    let Some(origin) = origin.filter(|o| cors.origin_allowed(o)) else {
        return Ok(());
    };
    let h = &mut ctx.answer_headers;
    h.push((
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        cors.allow_origin(origin),
    ));
    if cors.credentials {
        h.push((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone()));
    }
    if let Some(e) = &cors.expose {
        h.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone()));
    }
    Ok(())
}

/// The answer to a preflight: 204 with what is allowed, or 403 `cors_refused`.
fn preflight(
    cors: &Compiled,
    origin: &HeaderValue,
    asked: &HeaderValue,
    head: &Parts,
    ctx: &mut Ctx,
) -> Stop {
    let shown = |v: &HeaderValue| {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .take(200)
            .collect::<String>()
    };
    if !cors.origin_allowed(origin) {
        return refused(format!("origin {:?} is not allowed", shown(origin)));
    }
    let method = match Method::from_bytes(asked.as_bytes()) {
        Ok(m) if cors.method_allowed(&m) => m,
        _ => {
            return refused(format!(
                "method {:?} is not allowed across origins",
                shown(asked)
            ))
        }
    };
    let requested = head
        .headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .map(|v| v.to_str().map_err(|_| ()))
        .collect::<Result<Vec<&str>, ()>>()
        .map(|parts| parts.join(","));
    let requested = match requested {
        Ok(r) => r,
        Err(()) => return refused("Access-Control-Request-Headers does not parse".into()),
    };
    match cors.header_refused(&requested) {
        Err(()) => return refused("Access-Control-Request-Headers does not parse".into()),
        Ok(Some(h)) => {
            let h: String = h.chars().take(100).collect();
            return refused(format!("header {h:?} is not allowed across origins"));
        }
        Ok(None) => {}
    }
    let mut h = HeaderMap::new();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        cors.allow_origin(origin),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        match &cors.allow_methods {
            Some(list) => list.clone(),
            None => HeaderValue::from_str(method.as_str()).unwrap_or_else(|_| ANY.clone()),
        },
    );
    if !requested.is_empty() {
        // Checked above: each requested header is allowed, so say them back.
        if let Ok(v) = HeaderValue::from_str(&requested) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    if let Some(age) = &cors.max_age {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
    }
    if cors.credentials {
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
    }
    h.insert(header::VARY, VARY_PREFLIGHT.clone());
    ctx.policies.push("cors:preflight".into());
    Stop::Reply(Box::new(Reply {
        status: StatusCode::NO_CONTENT,
        headers: h,
        body: Bytes::new(),
        outcome: Outcome::Ok,
    }))
}

/// The upstream's own CORS headers, removed when the gateway answers CORS for the API (two
/// `Access-Control-Allow-Origin` headers fail in browsers; an upstream's would also undo a
/// refusal here).
pub(crate) fn drop_upstream_headers(headers: &mut HeaderMap) {
    // One pass over the names first: most upstreams send none, and each removal hashes.
    if !headers
        .keys()
        .any(|k| k.as_str().starts_with("access-control-"))
    {
        return;
    }
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_MAX_AGE,
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::policy::CorsPolicy;

    fn compiled(methods: &[&str], cors: serde_json::Value) -> Compiled {
        let mut spec = ApiSpec::prefixed("x", "/x", &["http://127.0.0.1:9"]);
        spec.methods = methods.iter().map(|m| m.to_string()).collect();
        let policy: CorsPolicy = serde_json::from_value(cors).unwrap();
        spec.cors = Some(Box::new(policy));
        compile(&spec).unwrap()
    }

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn methods_default_to_the_apis_and_to_all_when_it_lists_none() {
        let c = compiled(
            &["GET", "POST"],
            serde_json::json!({"origins": ["https://a.example"]}),
        );
        assert!(c.method_allowed(&Method::POST));
        assert!(!c.method_allowed(&Method::DELETE));
        assert_eq!(c.allow_methods.as_ref().unwrap(), "GET, POST");
        let c = compiled(&[], serde_json::json!({"origins": ["https://a.example"]}));
        assert!(c.method_allowed(&Method::DELETE));
        assert!(c.method_allowed(&Method::from_bytes(b"PURGE").unwrap()));
        assert!(c.allow_methods.is_none());
        let c = compiled(
            &["GET", "POST"],
            serde_json::json!({"origins": ["https://a.example"], "methods": ["GET"]}),
        );
        assert!(!c.method_allowed(&Method::POST));
    }

    #[test]
    fn headers_default_to_the_safelisted_plus_three_and_named_ones_replace_those() {
        let c = compiled(&[], serde_json::json!({"origins": ["https://a.example"]}));
        assert_eq!(
            c.header_refused("Content-Type, authorization,IDEMPOTENCY-KEY, accept, accept-language, content-language"),
            Ok(None)
        );
        assert_eq!(c.header_refused(""), Ok(None));
        assert_eq!(
            c.header_refused("content-type, x-custom"),
            Ok(Some("x-custom"))
        );
        let c = compiled(
            &[],
            serde_json::json!({"origins": ["https://a.example"], "headers": ["X-Custom"]}),
        );
        assert_eq!(c.header_refused("x-custom, accept"), Ok(None));
        assert_eq!(c.header_refused("authorization"), Ok(Some("authorization")));
        let any = compiled(
            &[],
            serde_json::json!({"origins": ["https://a.example"], "headers": ["*"]}),
        );
        assert_eq!(any.header_refused("x-anything, x-else"), Ok(None));
    }

    #[test]
    fn requested_headers_that_do_not_parse_or_are_too_many_are_refused() {
        let any = compiled(&[], serde_json::json!({"origins": ["*"], "headers": ["*"]}));
        assert_eq!(any.header_refused("x a"), Err(()));
        assert_eq!(any.header_refused("x\u{1}a"), Err(()));
        let many = vec!["x-h"; MAX_REQUESTED + 1].join(",");
        assert_eq!(any.header_refused(&many), Err(()));
        let enough = vec!["x-h"; MAX_REQUESTED].join(",");
        assert_eq!(any.header_refused(&enough), Ok(None));
    }

    #[test]
    fn origins_match_exactly_and_star_answers_star_without_credentials() {
        let c = compiled(
            &[],
            serde_json::json!({"origins": ["https://a.example", "http://localhost:3000"], "credentials": true}),
        );
        assert!(c.origin_allowed(&hv("https://a.example")));
        assert!(c.origin_allowed(&hv("http://localhost:3000")));
        for other in [
            "https://a.example.evil",
            "https://A.example",
            "http://a.example",
            "https://a.example/",
            "null",
            "",
        ] {
            assert!(!c.origin_allowed(&hv(other)), "{other}");
        }
        assert_eq!(
            c.allow_origin(&hv("https://a.example")),
            "https://a.example"
        );
        let any = compiled(&[], serde_json::json!({"origins": ["*"]}));
        assert!(any.origin_allowed(&hv("https://b.example")));
        assert_eq!(any.allow_origin(&hv("https://b.example")), "*");
    }

    #[test]
    fn upstream_cors_headers_are_dropped_and_others_kept() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, hv("*"));
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, hv("true"));
        h.insert(header::VARY, hv("accept"));
        drop_upstream_headers(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h[header::VARY], "accept");
    }
}
