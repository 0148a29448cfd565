//! Idempotency keys (`idempotency`, the IETF httpapi `Idempotency-Key` header): per client +
//! API + key (API + key on a public API), the first answer kept (status, headers, body up to
//! `max_answer_bytes`) and replayed to repeats within `ttl_secs`; a repeat with another
//! method, target or body is 422, one while the first is still running 409. The answer is
//! taken through [`crate::phase::ctx::AnswerTap`].
//!
//! - Only a whole answer with a status of 200–499 is kept; a 5xx, a gateway failure (502,
//!   504...) or an answer cut short (client gone, upstream broken mid-body) frees the key, so
//!   the client can try again.
//! - A first answer larger than `max_answer_bytes` is not kept, its key is: a repeat is
//!   refused 409 `idempotency_answer_not_kept` (the call is not run twice).
//! - Memory: see [`kept::Limits`] (64 MiB of answers, 200,000 keys per gateway).
//! - Exact on one gateway. Gateways do not share keys: a repeat that reaches another gateway
//!   than its first call runs again there (at most once per gateway within the TTL). Route a
//!   client's calls to one gateway (sticky load balancing) where that matters.
//!
//! A replayed answer carries `Idempotency-Replayed: true`, and its record the policy
//! `idempotency:replayed` with the kept status.

pub(crate) mod kept;

use std::sync::Arc;
use std::time::Instant;

use gatewatch_model::{ApiSpec, Outcome};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::body::client::ClientBody;
use crate::headers::X_REQUEST_ID;
use crate::phase::ctx::AnswerTap;
use crate::phase::{Answer, Ctx, Reply, Stop};
use kept::{Found, Gone, Kept, KeyHash};

pub(crate) static HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub(crate) static REPLAYED: HeaderName = HeaderName::from_static("idempotency-replayed");

/// Longest key taken (bytes of its text); longer ones are refused 400.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// First answers kept, and keys in flight (shared with the taps of running calls).
#[derive(Clone)]
pub(crate) struct State {
    kept: Arc<Kept>,
}

impl Default for State {
    fn default() -> State {
        State::new(kept::Limits::default())
    }
}

impl State {
    pub fn new(limits: kept::Limits) -> State {
        State {
            kept: Arc::new(Kept::new(limits)),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Compiled {
    methods: Vec<Method>,
    ttl: std::time::Duration,
    required: bool,
    max_answer: usize,
}

impl Compiled {
    fn applies(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// A keyed call's body is fingerprinted (a repeat with another body is refused).
    pub fn needs_body(&self, head: &Parts) -> bool {
        self.applies(&head.method) && head.headers.contains_key(&HEADER)
    }
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.idempotency.as_ref().map(|p| Compiled {
        // Validated upper-case method names; one that would not parse never matches.
        methods: p
            .methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect(),
        ttl: kept::ttl(p.ttl_secs),
        required: p.required,
        max_answer: p.max_answer_bytes as usize,
    })
}

const CODE_REQUIRED: &str = "idempotency_key_required";
const CODE_BAD: &str = "bad_idempotency_key";
const CODE_REUSED: &str = "idempotency_key_reused";
const CODE_IN_PROGRESS: &str = "idempotency_in_progress";
const CODE_NOT_KEPT: &str = "idempotency_answer_not_kept";

fn refuse(status: StatusCode, code: &'static str, told: &'static str) -> Stop {
    Stop::Refuse(Answer::new(status, Outcome::RefusedBadRequest, code, told))
}

/// The key's text: an RFC 8941 sf-string (`"…"`, as the draft writes it) or, leniently, a
/// bare token of visible ASCII; 1 to [`MAX_KEY_LEN`] bytes; one header only.
pub(crate) fn key_text(headers: &HeaderMap) -> Result<Option<Vec<u8>>, &'static str> {
    let mut values = headers.get_all(&HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Idempotency-Key header");
    }
    let raw = value.as_bytes();
    let text = match raw {
        [b'"', inner @ .., b'"'] => unquote(inner)?,
        _ if raw.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b'"') => raw.to_vec(),
        _ => return Err("the Idempotency-Key must be a quoted string or visible ASCII"),
    };
    if text.is_empty() {
        return Err("the Idempotency-Key is empty");
    }
    if text.len() > MAX_KEY_LEN {
        return Err("the Idempotency-Key is longer than 255 bytes");
    }
    Ok(Some(text))
}

/// The inside of an sf-string: printable ASCII, `\"` and `\\` escapes only.
fn unquote(inner: &[u8]) -> Result<Vec<u8>, &'static str> {
    let bad = "the Idempotency-Key is not a valid quoted string";
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        match b {
            b'\\' => match it.next() {
                Some(&e @ (b'"' | b'\\')) => out.push(e),
                _ => return Err(bad),
            },
            b'"' => return Err(bad),
            0x20..=0x7e => out.push(b),
            _ => return Err(bad),
        }
    }
    Ok(out)
}

/// The key's scope: client (none on a public API), API and key, hashed (fields are
/// length-prefixed, so no two triples hash alike).
pub(crate) fn scope(client: Option<&str>, api: &str, key: &[u8]) -> KeyHash {
    let mut h = Sha256::new();
    for part in [client.unwrap_or("").as_bytes(), api.as_bytes(), key] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The call's key scope when this API keeps keys and the call carries a valid one (the
/// transaction token lets the same key's repeats through, see [`super::tx_token`]).
pub(crate) fn call_scope(idem: &Compiled, head: &Parts, ctx: &Ctx) -> Option<KeyHash> {
    if !idem.applies(&head.method) {
        return None;
    }
    let key = key_text(&head.headers).ok()??;
    let api = ctx.route.as_ref().map_or("", |r| r.api_id.as_str());
    Some(scope(ctx.caller.client_id.as_deref(), api, &key))
}

fn fingerprint(method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        query.unwrap_or("").as_bytes(),
        body,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// A repeat is answered from the first answer; a first call goes on, its answer tapped.
pub(crate) async fn begin(
    state: &State,
    idem: &Compiled,
    head: &Parts,
    body: &ClientBody,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    begin_at(state, idem, head, body, ctx, Instant::now())
}

fn begin_at(
    state: &State,
    idem: &Compiled,
    head: &Parts,
    body: &ClientBody,
    ctx: &mut Ctx,
    now: Instant,
) -> Result<(), Stop> {
    if !idem.applies(&head.method) {
        return Ok(());
    }
    let key = match key_text(&head.headers) {
        Ok(Some(k)) => k,
        Ok(None) if idem.required => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                CODE_REQUIRED,
                "this API requires an Idempotency-Key header",
            ))
        }
        Ok(None) => return Ok(()),
        Err(why) => return Err(refuse(StatusCode::BAD_REQUEST, CODE_BAD, why)),
    };
    let api = ctx.route.as_ref().map_or("", |r| r.api_id.as_str());
    let scope = scope(ctx.caller.client_id.as_deref(), api, &key);
    // `needs_body` read it whole; a streamed body (never, for a keyed call) counts as empty.
    let data: &[u8] = body.bytes().map_or(&[], |b| b);
    let fp = fingerprint(&head.method, ctx.path(), ctx.uri.query(), data);
    match state.kept.begin(scope, fp, now) {
        Found::First(gen) => {
            ctx.tap = Some(Box::new(Tap {
                kept: state.kept.clone(),
                key: scope,
                gen,
                ttl: idem.ttl,
                max_answer: idem.max_answer,
                // What earlier policies add to every answer (CORS, rate) is theirs, not the
                // first answer's: a replay gets its own.
                added: ctx.answer_headers.clone(),
                status: None,
                headers: HeaderMap::new(),
                body: Vec::new(),
                over: false,
            }));
            Ok(())
        }
        Found::Running => Err(refuse(
            StatusCode::CONFLICT,
            CODE_IN_PROGRESS,
            "a call with this Idempotency-Key is still running",
        )),
        Found::Mismatch => Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            CODE_REUSED,
            "this Idempotency-Key was used for another request (method, target or body)",
        )),
        Found::NotKept(gone) => Err(refuse(
            StatusCode::CONFLICT,
            CODE_NOT_KEPT,
            match gone {
                Gone::TooLarge => {
                    "the first answer to this Idempotency-Key was larger than the API keeps; it is not given twice"
                }
                Gone::Shed => {
                    "the first answer to this Idempotency-Key is no longer kept; it is not given twice"
                }
            },
        )),
        Found::Replay(a) => {
            ctx.policies.push("idempotency:replayed".into());
            let mut headers = a.headers.clone();
            headers.insert(REPLAYED.clone(), HeaderValue::from_static("true"));
            Err(Stop::Reply(Box::new(Reply {
                status: a.status,
                headers,
                body: a.body.clone(),
                outcome: Outcome::from_upstream_status(a.status.as_u16()),
            })))
        }
    }
}

/// Takes a first call's answer as it goes out; keeps it (or frees the key) when it ends.
struct Tap {
    kept: Arc<Kept>,
    key: KeyHash,
    gen: u64,
    ttl: std::time::Duration,
    max_answer: usize,
    added: Vec<(HeaderName, HeaderValue)>,
    status: Option<StatusCode>,
    headers: HeaderMap,
    body: Vec<u8>,
    /// The body grew past `max_answer`: not kept.
    over: bool,
}

impl AnswerTap for Tap {
    fn head(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.status = Some(status);
        let mut kept = headers.clone();
        // Per call, or set again when the answer is sent.
        for name in [
            &X_REQUEST_ID,
            &header::CONTENT_LENGTH,
            &header::TRANSFER_ENCODING,
            &header::DATE,
        ] {
            kept.remove(name);
        }
        for (name, value) in &self.added {
            if let header::Entry::Occupied(e) = kept.entry(name) {
                let others: Vec<HeaderValue> = e.iter().filter(|v| *v != value).cloned().collect();
                e.remove();
                for v in others {
                    kept.append(name, v);
                }
            }
        }
        self.headers = kept;
    }

    fn data(&mut self, data: &[u8]) {
        if self.over {
            return;
        }
        if self.body.len() + data.len() > self.max_answer {
            self.over = true;
            self.body = Vec::new();
        } else {
            self.body.extend_from_slice(data);
        }
    }

    fn end(self: Box<Self>, whole: bool) {
        let this = *self;
        match this.status {
            Some(s) if whole && (200..500).contains(&s.as_u16()) => {
                let answer = (!this.over).then(|| kept::Answer {
                    status: s,
                    headers: this.headers,
                    body: this.body.into(),
                });
                let expires = Instant::now() + this.ttl;
                this.kept.keep(this.key, this.gen, answer, expires);
            }
            _ => this.kept.release(&this.key, this.gen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn head(method: &str, key: Option<&str>) -> Parts {
        let mut b = http::Request::builder().method(method).uri("/pay?x=1");
        if let Some(k) = key {
            b = b.header("idempotency-key", k);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn compiled(required: bool, max_answer: usize) -> Compiled {
        Compiled {
            methods: vec![Method::POST],
            ttl: kept::ttl(60),
            required,
            max_answer,
        }
    }

    fn body(b: &'static str) -> ClientBody {
        ClientBody::Buffered(Bytes::from_static(b.as_bytes()))
    }

    fn ctx(client: Option<&str>) -> Ctx {
        let mut c = Ctx::for_tests("127.0.0.1");
        c.method = Method::POST;
        c.uri = "/pay?x=1".parse().unwrap();
        c.caller.client_id = client.map(Arc::from);
        c
    }

    fn code(r: Result<(), Stop>) -> Option<(u16, &'static str)> {
        match r {
            Err(Stop::Refuse(a)) => Some((a.status.as_u16(), a.code)),
            Err(Stop::Reply(r)) => Some((r.status.as_u16(), "replayed")),
            Ok(()) => None,
        }
    }

    /// Sends an answer through the call's tap, as the response phase and the body do.
    fn answer(ctx: &mut Ctx, status: u16, body: &[u8], whole: bool) {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("r1"));
        h.insert("location", HeaderValue::from_static("/pay/7"));
        h.insert("content-length", HeaderValue::from(body.len()));
        ctx.answer_head(StatusCode::from_u16(status).unwrap(), &mut h);
        ctx.tap_response(body);
        ctx.tap.take().unwrap().end(whole);
    }

    #[test]
    fn keys_are_quoted_strings_or_visible_ascii_bounded_and_single() {
        let h = |vals: &[&[u8]]| {
            let mut m = HeaderMap::new();
            for v in vals {
                m.append(&HEADER, HeaderValue::from_bytes(v).unwrap());
            }
            key_text(&m)
        };
        assert_eq!(h(&[]), Ok(None));
        assert_eq!(h(&[b"\"abc\""]), Ok(Some(b"abc".to_vec())));
        assert_eq!(h(&[b"\"a\\\"b\""]), Ok(Some(b"a\"b".to_vec())));
        assert_eq!(h(&[b"8e03978e-40d5"]), Ok(Some(b"8e03978e-40d5".to_vec())));
        assert!(h(&[b"\"\""]).is_err());
        assert!(h(&[b"a b"]).is_err());
        assert!(h(&[b"\"a\\nb\""]).is_err());
        assert!(h(&[b"\"a\"b\""]).is_err());
        assert!(h(&[b"\xff\xfe"]).is_err());
        assert!(h(&[b"a", b"b"]).is_err());
        assert!(h(&[&[b'k'; 255]]).is_ok());
        assert!(h(&[&[b'k'; 256]]).is_err());
    }

    #[test]
    fn scopes_differ_by_client_api_and_key_and_cannot_be_spliced() {
        let a = scope(Some("acme"), "pay", b"k1");
        assert_ne!(a, scope(Some("other"), "pay", b"k1"));
        assert_ne!(a, scope(Some("acme"), "refund", b"k1"));
        assert_ne!(a, scope(None, "pay", b"k1"));
        assert_ne!(scope(Some("ab"), "c", b"k"), scope(Some("a"), "bc", b"k"));
    }

    #[test]
    fn required_missing_and_bad_keys_are_refused_others_pass() {
        let state = State::default();
        let now = Instant::now();
        let mut c = ctx(Some("acme"));
        let on = compiled(true, 1024);
        assert_eq!(
            code(begin_at(
                &state,
                &on,
                &head("POST", None),
                &body(""),
                &mut c,
                now
            )),
            Some((400, CODE_REQUIRED))
        );
        let long = "k".repeat(300);
        assert_eq!(
            code(begin_at(
                &state,
                &on,
                &head("POST", Some(&long)),
                &body(""),
                &mut c,
                now
            )),
            Some((400, CODE_BAD))
        );
        // Another method is not the policy's.
        assert_eq!(
            code(begin_at(
                &state,
                &on,
                &head("GET", None),
                &body(""),
                &mut c,
                now
            )),
            None
        );
        let off = compiled(false, 1024);
        assert_eq!(
            code(begin_at(
                &state,
                &off,
                &head("POST", None),
                &body(""),
                &mut c,
                now
            )),
            None
        );
        assert!(c.tap.is_none());
    }

    #[test]
    fn the_first_answer_is_replayed_without_per_call_headers_and_repeats_are_refused() {
        let state = State::default();
        let now = Instant::now();
        let idem = compiled(false, 1024);
        let h = head("POST", Some("\"k1\""));
        let mut first = ctx(Some("acme"));
        first.answer_headers.push((
            HeaderName::from_static("vary"),
            HeaderValue::from_static("Origin"),
        ));
        assert_eq!(
            code(begin_at(
                &state,
                &idem,
                &h,
                &body("{\"a\":1}"),
                &mut first,
                now
            )),
            None
        );
        // While it runs: 409; another body: 422.
        let mut c = ctx(Some("acme"));
        assert_eq!(
            code(begin_at(&state, &idem, &h, &body("{\"a\":1}"), &mut c, now)),
            Some((409, CODE_IN_PROGRESS))
        );
        assert_eq!(
            code(begin_at(&state, &idem, &h, &body("{\"a\":2}"), &mut c, now)),
            Some((422, CODE_REUSED))
        );
        answer(&mut first, 201, b"{\"id\":7}", true);
        let mut c = ctx(Some("acme"));
        match begin_at(&state, &idem, &h, &body("{\"a\":1}"), &mut c, now) {
            Err(Stop::Reply(r)) => {
                assert_eq!(r.status, 201);
                assert_eq!(&r.body[..], b"{\"id\":7}");
                assert_eq!(r.headers["location"], "/pay/7");
                assert_eq!(r.headers[&REPLAYED], "true");
                assert!(!r.headers.contains_key("x-request-id"));
                assert!(!r.headers.contains_key("content-length"));
                assert!(
                    !r.headers.contains_key("vary"),
                    "the CORS header is the call's"
                );
                assert_eq!(r.outcome, Outcome::Ok);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.policies, ["idempotency:replayed"]);
        // Another client with the same key is its own first call.
        let mut c = ctx(Some("other"));
        assert_eq!(
            code(begin_at(&state, &idem, &h, &body("x"), &mut c, now)),
            None
        );
        // Same client, another target: the key was used for another request.
        let mut c = ctx(Some("acme"));
        c.uri = "/pay?x=2".parse().unwrap();
        assert_eq!(
            code(begin_at(&state, &idem, &h, &body("{\"a\":1}"), &mut c, now)),
            Some((422, CODE_REUSED))
        );
    }

    #[test]
    fn failures_and_cut_answers_free_the_key_large_ones_keep_it_without_the_answer() {
        let state = State::default();
        let now = Instant::now();
        let idem = compiled(false, 8);
        let run = |key: &str, status: u16, b: &[u8], whole: bool| {
            let mut c = ctx(Some("acme"));
            let h = head("POST", Some(key));
            assert_eq!(
                code(begin_at(&state, &idem, &h, &body(""), &mut c, now)),
                None
            );
            answer(&mut c, status, b, whole);
            let mut again = ctx(Some("acme"));
            code(begin_at(&state, &idem, &h, &body(""), &mut again, now))
        };
        assert_eq!(run("a", 502, b"", true), None, "a 5xx frees the key");
        assert_eq!(run("b", 200, b"ok", false), None, "a cut answer frees it");
        assert_eq!(run("c", 404, b"no", true), Some((404, "replayed")));
        assert_eq!(
            run("d", 200, b"longer than 8", true),
            Some((409, CODE_NOT_KEPT))
        );
    }
}
