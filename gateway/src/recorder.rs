//! The recorder: exactly one [`CallRecord`](gatewatch_model::CallRecord) per call, on every exit path.
//!
//! The record phase. A [`Call`] owns the call's context ([`Ctx`], which the phases read and
//! write through it) from the moment a request head arrives and travels with the call: in the
//! handler while the upstream is asked, then inside the response body. Whatever ends the call —
//! the body's last byte, an early answer (404, 502, 504), the client going away before or
//! during the response — ends with the `Call` being dropped, and its `Drop` is the one place
//! that builds the [`CallEvent`] from the context ([`CallEvent::from_ctx`]: no phase writes the
//! record) and hands it to the queue with `try_send`. The proxy
//! never waits on telemetry: when the queue is full the event is dropped and counted.
//!
//! The event holds cheap, reference-counted pieces of the request (URI, header values, the
//! route) and, when the API's capture policy asks, copies of headers and body prefixes; the
//! record is masked from it ([`CallEvent::masked`]) and written as its NDJSON line
//! ([`crate::record_json`]). With the journal on (the default), that happens here, in
//! [`Sink::record`], and the line is appended to the journal before the event is queued (see
//! `journal.rs`), so the call's record survives a killed process; the shipper then batches
//! the line as it is. With `journal_max_mb = 0`, the line is written on the shipper's side.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
use gatewatch_model::CallRecord;
use gatewatch_model::Outcome;
use http::{HeaderValue, Method, Uri};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tracing::warn;
use uuid::Uuid;

use crate::caps;
use crate::capture::{self, Captured, Captures};
use crate::journal::Journal;
use crate::mask::Masker;
use crate::metrics::{DropReason, Metrics};
use crate::phase::ctx::Ctx;
pub(crate) use crate::phase::ctx::CLIENT_CLOSED_STATUS;
use crate::route::Route;

/// What the recorder knows about one finished call.
#[derive(Debug)]
pub(crate) struct CallEvent {
    pub call_id: Uuid,
    pub ts_us: i64,
    pub request_id: HeaderValue,
    /// The gateway made `request_id` (the call id's text): nothing of the client's to mask.
    pub request_id_generated: bool,
    pub method: Method,
    pub uri: Uri,
    pub client_ip: IpAddr,
    pub user_agent: Option<HeaderValue>,
    pub route: Option<Arc<Route>>,
    /// The gateway's own endpoint that answered (the record's `route` when `route` is `None`).
    pub local: Option<&'static str>,
    /// Index into `route.upstreams` of the upstream last tried.
    pub upstream: Option<usize>,
    pub status: u16,
    pub outcome: Outcome,
    pub latency_us: u64,
    pub upstream_latency_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub error: Cow<'static, str>,
    /// Headers and bodies captured under the API's policy; `None` when it keeps only the
    /// summary.
    pub capture: Option<Box<Captures>>,
    /// Client, key and product ids, auth method and token ids (from the access phases).
    pub caller: crate::access::CallerIds,
    /// The HTTP version of the request.
    pub http_version: http::Version,
    /// The TLS handshake of the call's connection (`None` on the plain listener).
    pub tls: Option<Arc<gatewatch_listen::TlsInfo>>,
    /// `sha256:<hex>` of the client certificate the authenticate phase matched.
    pub client_cert: Option<Arc<str>>,
    /// What the message checks found (`sqli:query.q`).
    pub findings: Vec<String>,
    /// What the request policies did (`idempotency:replayed`).
    pub policies: Vec<Cow<'static, str>>,
    /// The call's W3C trace context (the trace phase's; `None` when tracing is off).
    pub trace: Option<gatewatch_model::trace::TraceIds>,
    /// The record's journal frame ([`crate::journal::frame_with`]: header, then the NDJSON
    /// line), made when the call ended; `None` when the journal is off.
    pub line: Option<Vec<u8>>,
    /// Where the journal holds `line`; `None` when it was not journalled.
    pub journal_at: Option<crate::journal::Pos>,
}

/// A call's record as it may leave the process: the event's pieces masked under the route's
/// rules (the defaults without a route), borrowed from the event where masking changed
/// nothing. Both [`crate::record_json`] (what is shipped) and [`CallEvent::into_record`] are
/// made from it, so masking is decided in one place.
pub(crate) struct Masked<'e> {
    pub ev: &'e CallEvent,
    pub path: Cow<'e, str>,
    pub request_id: Cow<'e, str>,
    pub query: String,
    pub user_agent: Cow<'e, str>,
    pub error: Cow<'e, str>,
    /// Headers and bodies as captured (empty without a capture).
    pub captured: Captured,
    /// The fields cut at their caps (see [`crate::caps`]), in record order.
    pub truncated: Vec<&'static str>,
}

impl CallEvent {
    /// Masks what the record will carry (see [`Masked`]): path, query, request id, user agent
    /// and error always; headers and bodies as captured (see [`crate::capture`] and
    /// [`crate::mask`]).
    pub fn masked(&self) -> Masked<'_> {
        let masker = Masker::new(self.route.as_ref().map(|r| &r.spec.masking));
        let mut captured = Captured::default();
        if let Some(cap) = &self.capture {
            capture::fill(&mut captured, cap, &masker);
        }
        // Masked first, then cut (see `caps`): no half of a secret is kept.
        let mut truncated = Vec::new();
        let path = caps::cap(
            masker.path(self.uri.path()),
            caps::PATH_MAX,
            "path",
            &mut truncated,
        );
        let query = self
            .uri
            .query()
            .map(|q| masker.query(q))
            .unwrap_or_default();
        let query =
            caps::cap(Cow::Owned(query), caps::QUERY_MAX, "query", &mut truncated).into_owned();
        let user_agent = self
            .user_agent
            .as_ref()
            .map_or(Cow::Borrowed(""), |v| masked_text(&masker, v));
        let user_agent = caps::cap(
            user_agent,
            caps::USER_AGENT_MAX,
            "user_agent",
            &mut truncated,
        );
        // Error messages may quote the path or an upstream's words.
        let error = caps::cap(
            masker.text(&self.error),
            caps::ERROR_MAX,
            "error",
            &mut truncated,
        );
        caps::cap_headers(
            &mut captured.request_headers,
            "request_headers",
            &mut truncated,
        );
        caps::cap_headers(
            &mut captured.response_headers,
            "response_headers",
            &mut truncated,
        );
        Masked {
            ev: self,
            path,
            // Client-supplied; detectors only (an id that is a phone number is masked too).
            request_id: if self.request_id_generated {
                Cow::Borrowed(std::str::from_utf8(self.request_id.as_bytes()).unwrap_or_default())
            } else {
                masked_text(&masker, &self.request_id)
            },
            query,
            user_agent,
            error,
            captured,
            truncated,
        }
    }

    /// The API's id, name, matched pattern and the upstream last tried (empty without a route).
    pub fn route_fields(&self) -> (&str, &str, &str, &str) {
        match &self.route {
            Some(r) => (
                &r.api_id,
                &r.api_name,
                &r.pattern,
                self.upstream
                    .and_then(|i| r.upstreams.get(i))
                    .map_or("", |u| u.label.as_str()),
            ),
            None => ("", "", self.local.unwrap_or(""), ""),
        }
    }

    /// The answering API's `version` (empty without a route or a version).
    pub fn api_version(&self) -> &str {
        self.route.as_ref().map_or("", |r| r.spec.version.as_str())
    }

    /// Time waiting on the upstream, never more than the whole call.
    pub fn upstream_latency(&self) -> u64 {
        self.upstream_latency_us.min(self.latency_us)
    }

    /// The record as shipped, masked (see [`CallEvent::masked`]). The shipper writes the same
    /// record's NDJSON line straight from the event ([`crate::record_json`]); this owned form
    /// is the reference the tests hold that line to.
    #[cfg(test)]
    pub fn into_record(self, node: &str) -> CallRecord {
        let m = self.masked();
        let ev = m.ev;
        let (api_id, api_name, route, upstream) = ev.route_fields();
        let id = |v: &Option<Arc<str>>| v.as_deref().unwrap_or_default().to_string();
        let mut rec = CallRecord::new(ev.call_id, ev.ts_us, node, ev.method.as_str(), &m.path);
        rec.request_id = m.request_id.into_owned();
        rec.api_id = api_id.to_string();
        rec.api_name = api_name.to_string();
        rec.route = route.to_string();
        rec.query = m.query;
        rec.client_ip = ev.client_ip.to_string();
        rec.user_agent = m.user_agent.into_owned();
        rec.upstream = upstream.to_string();
        rec.status = ev.status;
        rec.outcome = ev.outcome;
        rec.latency_us = ev.latency_us;
        rec.upstream_latency_us = ev.upstream_latency();
        rec.overhead_us = ev.latency_us - rec.upstream_latency_us;
        rec.request_bytes = ev.request_bytes;
        rec.response_bytes = ev.response_bytes;
        rec.error = m.error.into_owned();
        rec.request_headers = m.captured.request_headers;
        rec.response_headers = m.captured.response_headers;
        rec.request_body = m.captured.request_body;
        rec.response_body = m.captured.response_body;
        rec.client_id = id(&ev.caller.client_id);
        rec.api_key_id = id(&ev.caller.api_key_id);
        rec.app_id = id(&ev.caller.app_id);
        rec.truncated = m.truncated.iter().map(|f| f.to_string()).collect();
        rec.http_version = http_version(ev.http_version).to_string();
        if let Some(tls) = &ev.tls {
            rec.tls_version = tls.version.to_string();
            rec.tls_cipher = tls.cipher.to_string();
        }
        rec.client_cert = id(&ev.client_cert);
        rec.auth_method = ev
            .caller
            .auth_method
            .map(|a| a.name())
            .unwrap_or_default()
            .to_string();
        if let Some(token) = &ev.caller.token {
            rec.token_jti = token.jti.to_string();
            rec.scopes = token.scopes.to_string();
        }
        rec.findings = ev.findings.clone();
        rec.policies = ev.policies.iter().map(|p| p.to_string()).collect();
        rec.api_version = ev.api_version().to_string();
        if let Some(t) = &ev.trace {
            use gatewatch_model::trace::Hex;
            rec.trace_id = Hex(&t.trace_id).to_string();
            rec.span_id = Hex(&t.span_id).to_string();
            rec.parent_span_id = t
                .parent_span_id
                .map(|p| Hex(&p).to_string())
                .unwrap_or_default();
        }
        rec
    }
}

/// The record's name for an HTTP version (`Version`'s `Debug` text, without formatting).
pub(crate) fn http_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "",
    }
}

/// A header value as text (invalid UTF-8 replaced) through the detectors.
fn masked_text<'v>(masker: &Masker<'_>, v: &'v HeaderValue) -> Cow<'v, str> {
    match String::from_utf8_lossy(v.as_bytes()) {
        Cow::Borrowed(s) => masker.text(s),
        Cow::Owned(s) => Cow::Owned(masker.text(&s).into_owned()),
    }
}

/// How the response body ended, as seen by [`crate::body::response::ResponseBody`].
#[derive(Debug)]
pub(crate) enum BodyEnd {
    /// The last byte went out (or none were due).
    Complete,
    /// The body was dropped before its end: the client went away.
    ClientGone,
    /// The upstream's body broke off.
    UpstreamFailed(String),
}

/// One call in progress: the owner of its [`Ctx`], which the phases read and write through
/// it (`Deref`); emits the call's record when dropped. See the module doc.
pub(crate) struct Call {
    sink: Arc<Sink>,
    /// Boxed: the call moves several times (into the response body, a tunnel's task); a
    /// pointer moves cheaper than the whole context.
    ctx: Box<Ctx>,
}

impl std::ops::Deref for Call {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl std::ops::DerefMut for Call {
    fn deref_mut(&mut self) -> &mut Ctx {
        &mut self.ctx
    }
}

impl Call {
    /// Opens the record of the call whose context is `ctx`; it goes to `sink` when the call
    /// ends, however it ends.
    pub fn open(sink: Arc<Sink>, ctx: Ctx) -> Call {
        Call {
            sink,
            ctx: Box::new(ctx),
        }
    }

    /// The response body is over; the record goes out when `self` drops here.
    pub fn body_ended(mut self, response_bytes: u64, end: BodyEnd) {
        let ctx = &mut *self.ctx;
        ctx.response_bytes = response_bytes;
        match end {
            BodyEnd::Complete => ctx.complete = true,
            BodyEnd::ClientGone => {
                ctx.outcome = Outcome::ClientAborted;
                ctx.error = Cow::Borrowed("client closed the connection during the response");
            }
            BodyEnd::UpstreamFailed(e) => {
                ctx.outcome = Outcome::UpstreamError;
                ctx.error = Cow::Owned(format!("upstream response body failed: {e}"));
            }
        }
    }

    /// The tunnel of an upgraded call ended after `life`: `up` bytes went from the client to
    /// the upstream, `down` back; `note` says why it ended, when not by a close. The record
    /// goes out when `self` drops here, its latency the whole call; the tunnel's life counts
    /// as time with the upstream, so the gateway's overhead stays what it spent itself.
    pub fn tunnel_ended(mut self, up: u64, down: u64, life: Duration, note: Cow<'static, str>) {
        let ctx = &mut *self.ctx;
        ctx.request_bytes = None;
        ctx.request_bytes_total = up;
        ctx.response_bytes = down;
        ctx.upstream_latency = ctx.upstream_latency.saturating_add(life);
        ctx.error = note;
    }
}

impl CallEvent {
    /// The record phase: the call's record, built from its context when the call ends — the
    /// one place where a context becomes a record. Moves what the record keeps out of `ctx`.
    fn from_ctx(ctx: &mut Ctx) -> CallEvent {
        let (status, outcome, error) = if ctx.answered {
            (ctx.status, ctx.outcome, std::mem::take(&mut ctx.error))
        } else {
            // Ended before a head was handed to hyper: the client went away while the
            // gateway waited (on the upstream, a gate, a local endpoint), and hyper dropped
            // the handler.
            (
                CLIENT_CLOSED_STATUS,
                Outcome::ClientAborted,
                Cow::Borrowed("client closed the connection before the response"),
            )
        };
        let mut capture = ctx.capture.take();
        let request_bytes = match &ctx.request_bytes {
            Some(c) => {
                if let Some(cap) = capture.as_deref_mut() {
                    cap.request_body = c.take_tap();
                }
                c.bytes()
            }
            None => ctx.request_bytes_total,
        };
        let mut caller = std::mem::take(&mut ctx.caller);
        CallEvent {
            call_id: ctx.call_id,
            ts_us: ctx.ts_us,
            request_id: std::mem::replace(&mut ctx.request_id, HeaderValue::from_static("")),
            request_id_generated: ctx.request_id_generated,
            method: std::mem::replace(&mut ctx.method, Method::GET),
            uri: std::mem::take(&mut ctx.uri),
            client_ip: ctx.peer.addr.ip(),
            user_agent: ctx.user_agent.take(),
            route: ctx.route.take(),
            local: ctx.local,
            upstream: ctx.upstream,
            status,
            outcome,
            latency_us: micros(ctx.start.elapsed()),
            upstream_latency_us: micros(ctx.upstream_latency),
            request_bytes,
            response_bytes: ctx.response_bytes,
            error,
            capture,
            client_cert: caller.client_cert.take(),
            caller,
            http_version: ctx.http_version,
            tls: ctx.peer.tls.take(),
            findings: std::mem::take(&mut ctx.findings),
            policies: std::mem::take(&mut ctx.policies),
            trace: ctx.trace,
            line: None,
            journal_at: None,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(tap) = self.ctx.tap.take() {
            tap.end(self.ctx.answered && self.ctx.complete);
        }
        let ev = Box::new(CallEvent::from_ctx(&mut self.ctx));
        self.sink.record(ev);
        // The context drops after this: the upstream's in-flight count and the gate's
        // place are given back as the record leaves.
    }
}

/// Where finished calls go: the journal, the bounded record queue, and the counters of what
/// it took.
pub(crate) struct Sink {
    /// The bounded record queue (only ever `try_send`).
    pub records: mpsc::Sender<Box<CallEvent>>,
    pub metrics: Arc<Metrics>,
    /// The journal and the node name its lines carry; `None` when `journal_max_mb = 0`.
    pub journal: Option<(Arc<Journal>, Arc<str>)>,
}

impl Sink {
    /// Hands a finished call to the shipper without waiting — through the journal first,
    /// when it is on: the record's line is on disk (page cache) when this returns.
    pub(crate) fn record(&self, mut ev: Box<CallEvent>) {
        if let Some((journal, node)) = &self.journal {
            let mut frame = Vec::with_capacity(1024);
            crate::journal::frame_with(&mut frame, |buf| {
                crate::record_json::write_line(&ev, node, buf)
            });
            ev.journal_at = journal.append(&frame);
            ev.line = Some(frame);
        }
        self.metrics.count_request(ev.outcome);
        // The API's series, reached through the route the call holds: no lookup per call.
        let series = ev
            .route
            .as_ref()
            .map_or(&self.metrics.unmatched, |r| &*r.series);
        series.observe(
            ev.outcome,
            ev.status,
            ev.latency_us,
            ev.upstream.map(|_| ev.upstream_latency_us),
        );
        let reason = match self.records.try_send(ev) {
            Ok(()) => return,
            Err(TrySendError::Full(ev)) => {
                // Lost as before the journal: hand its entry on so the segment can go.
                if let Some((journal, _)) = &self.journal {
                    let mut refs = crate::journal::Refs::default();
                    refs.add(ev.journal_at);
                    journal.release(&refs);
                }
                DropReason::QueueFull
            }
            // After the shipper stopped (a call that outlived the drain): a journalled record
            // is replayed at the next start, so it is not lost.
            Err(TrySendError::Closed(ev)) if ev.journal_at.is_some() => return,
            Err(TrySendError::Closed(_)) => DropReason::Shutdown,
        };
        self.metrics.count_dropped(reason, 1);
        let n = self.metrics.dropped(reason);
        // The first drop and every 10 000th after: a full queue must not flood the log.
        if n == 1 || n.is_multiple_of(10_000) {
            warn!(
                reason = ?reason,
                dropped_so_far = n,
                "call record dropped: the record queue is full or closed"
            );
        }
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::route::RouteConfig;
    use crate::route::Router;

    fn sink() -> (Arc<Sink>, tokio::sync::mpsc::Receiver<Box<CallEvent>>) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let sink = Sink {
            records: tx,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            journal: None,
        };
        (Arc::new(sink), rx)
    }

    #[test]
    fn the_record_is_built_from_the_context_once_however_the_call_ends() {
        let (sink, mut rx) = sink();
        // Dropped before any answer (the client left while a phase waited): 499.
        let mut call = Call::open(sink.clone(), Ctx::for_tests("10.1.2.3"));
        call.caller.client_id = Some("acme".into());
        call.upstream_latency = Duration::from_micros(5);
        let call_id = call.call_id;
        drop(call);
        let ev = rx.try_recv().unwrap();
        assert_eq!((ev.status, ev.outcome), (499, Outcome::ClientAborted));
        assert_eq!(ev.error, "client closed the connection before the response");
        assert_eq!(ev.call_id, call_id);
        assert_eq!(ev.caller.client_id.as_deref(), Some("acme"));
        assert_eq!(ev.client_ip.to_string(), "10.1.2.3");
        assert_eq!(ev.upstream_latency_us, 5);
        assert!(rx.try_recv().is_err(), "one record per call");

        // A local endpoint's answer: its name is the record's route, no API.
        let mut call = Call::open(sink.clone(), Ctx::for_tests("10.1.2.3"));
        call.local = Some("/oauth2/token");
        call.failed(401, Outcome::RefusedAuth, "invalid_client: no such client");
        call.body_ended(12, BodyEnd::Complete);
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.route_fields(), ("", "", "/oauth2/token", ""));
        assert_eq!((ev.status, ev.response_bytes), (401, 12));
        assert_eq!(ev.error, "invalid_client: no such client");
        assert!(rx.try_recv().is_err());

        // A tunnel's end: bytes each way, its life counted with the upstream.
        let mut call = Call::open(sink, Ctx::for_tests("10.1.2.3"));
        call.answered(101, Outcome::Ok);
        call.tunnel_ended(
            3,
            4,
            Duration::from_micros(70),
            Cow::Borrowed("tunnel closed"),
        );
        let ev = rx.try_recv().unwrap();
        assert_eq!((ev.request_bytes, ev.response_bytes), (3, 4));
        assert_eq!((ev.status, ev.upstream_latency_us), (101, 70));
        assert!(rx.try_recv().is_err());
    }

    /// A plain 404 event (other modules' tests build on it).
    pub(crate) fn event() -> CallEvent {
        CallEvent {
            call_id: crate::ids::v7_at(Duration::from_secs(1_764_000_000)),
            ts_us: 1_764_000_000_000_000,
            request_id: HeaderValue::from_static("r"),
            request_id_generated: false,
            method: Method::GET,
            uri: "/".parse().unwrap(),
            client_ip: "127.0.0.1".parse().unwrap(),
            user_agent: None,
            route: None,
            local: None,
            upstream: None,
            status: 404,
            outcome: Outcome::NoRoute,
            latency_us: 1,
            upstream_latency_us: 0,
            request_bytes: 0,
            response_bytes: 0,
            error: Cow::Borrowed(""),
            capture: None,
            caller: Default::default(),
            http_version: http::Version::HTTP_11,
            tls: None,
            client_cert: None,
            findings: Vec::new(),
            policies: Vec::new(),
            trace: None,
            line: None,
            journal_at: None,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let shared = Sink {
            records: tx,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            journal: None,
        };
        for _ in 0..5 {
            shared.record(Box::new(event()));
        }
        assert_eq!(shared.metrics.dropped(DropReason::QueueFull), 3);
        rx.close();
        let mut queued = 0;
        while rx.recv().await.is_some() {
            queued += 1;
        }
        assert_eq!(queued, 2);
        shared.record(Box::new(event()));
        assert_eq!(shared.metrics.dropped(DropReason::Shutdown), 1);
        let text = shared.metrics.render(0, 2, 0);
        assert!(text.contains("gatewatch_gateway_requests_total{outcome=\"no_route\"} 6"));
        assert!(text.contains("gatewatch_gateway_records_queued_total 2"));
    }

    #[test]
    fn record_carries_route_upstream_and_timings() {
        let router = Router::new(&[RouteConfig::new("/demo", ["http://10.0.0.5:9000"])]).unwrap();
        let route = router.find("/demo/a").unwrap().clone();
        let id = crate::ids::v7_at(Duration::from_micros(1_764_000_000_123_456));
        let ev = CallEvent {
            call_id: id,
            ts_us: 1_764_000_000_123_456,
            request_id: HeaderValue::from_static("rid-1"),
            request_id_generated: false,
            method: Method::POST,
            uri: "/demo/a?x=1".parse().unwrap(),
            client_ip: "10.1.2.3".parse().unwrap(),
            user_agent: Some(HeaderValue::from_static("curl/8")),
            route: Some(route),
            local: None,
            upstream: Some(0),
            status: 201,
            outcome: Outcome::Ok,
            latency_us: 900,
            upstream_latency_us: 700,
            request_bytes: 5,
            response_bytes: 7,
            error: Cow::Borrowed(""),
            capture: None,
            caller: Default::default(),
            http_version: http::Version::HTTP_11,
            tls: None,
            client_cert: None,
            findings: Vec::new(),
            policies: Vec::new(),
            trace: None,
            line: None,
            journal_at: None,
        };
        let r = ev.into_record("gw1");
        assert_eq!(r.call_id, id);
        assert_eq!(r.request_id, "rid-1");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/demo/a", "x=1"));
        assert_eq!(r.api_id, "/demo");
        assert_eq!(r.route, "/demo/**");
        assert_eq!(r.upstream, "http://10.0.0.5:9000");
        assert_eq!(r.client_ip, "10.1.2.3");
        assert_eq!(r.user_agent, "curl/8");
        assert_eq!(
            (r.latency_us, r.upstream_latency_us, r.overhead_us),
            (900, 700, 200)
        );
        assert!(r.validate().is_ok());
    }
}
