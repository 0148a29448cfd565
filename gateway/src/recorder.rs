//! The recorder: exactly one [`CallRecord`](gatewatch_model::CallRecord) per call, on every exit path.
//!
//! A [`Call`] is created when a request head arrives and travels with the call: in the
//! handler while the upstream is asked, then inside the response body. Whatever ends the call —
//! the body's last byte, an early answer (404, 502, 504), the client going away before or
//! during the response — ends with the `Call` being dropped, and its `Drop` is the one place
//! that finishes the figures and hands a [`CallEvent`] to the queue with `try_send`. The proxy
//! never waits on telemetry: when the queue is full the event is dropped and counted.
//!
//! The event holds cheap, reference-counted pieces of the request (URI, header values, the
//! route) and, when the API's capture policy asks, copies of headers and body prefixes; the
//! record is masked from it ([`CallEvent::masked`]) and written as its NDJSON line
//! ([`crate::record_json`]) on the shipper's side, off the hot path, before anything is written
//! or sent.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(test)]
use gatewatch_model::CallRecord;
use gatewatch_model::{Header, Outcome};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use tokio::sync::mpsc::error::TrySendError;
use tracing::warn;
use uuid::Uuid;

use crate::body::BodyCount;
use crate::caps;
use crate::capture::{self, Captures};
use crate::mask::Masker;
use crate::metrics::DropReason;
use crate::proxy::Shared;
use crate::route::Route;

/// Status recorded for a call whose client left before any response head (nginx's 499).
pub(crate) const CLIENT_CLOSED_STATUS: u16 = 499;

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
    /// The gateway's own endpoint the call was answered by (the OAuth server's paths): the
    /// record's `route` when there is no API route.
    pub endpoint: Option<&'static str>,
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
    /// Client, key and product ids from the access phase.
    pub caller: crate::access::CallerIds,
    /// The HTTP version of the request.
    pub http_version: http::Version,
    /// The TLS handshake of the call's connection (`None` on the plain listener).
    pub tls: Option<Arc<gatewatch_listen::TlsInfo>>,
    /// `sha256:<hex>` of the client certificate the access phase matched.
    pub client_cert: Option<Arc<str>>,
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

/// The captured parts of a record, masked.
#[derive(Default)]
pub(crate) struct Captured {
    pub request_headers: Vec<Header>,
    pub response_headers: Vec<Header>,
    pub request_body: String,
    pub response_body: String,
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
            None => ("", "", self.endpoint.unwrap_or(""), ""),
        }
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

/// How the response body ended, as seen by [`crate::body::ResponseBody`].
#[derive(Debug)]
pub(crate) enum BodyEnd {
    /// The last byte went out (or none were due).
    Complete,
    /// The body was dropped before its end: the client went away.
    ClientGone,
    /// The upstream's body broke off.
    UpstreamFailed(String),
}

/// One call in progress; emits its record when dropped. See the module doc.
pub(crate) struct Call {
    shared: Arc<Shared>,
    start: Instant,
    /// Boxed: the call and its event move several times (into the response body, through
    /// the queue, into a batch); a pointer moves cheaper than the whole event.
    ev: Option<Box<CallEvent>>,
    request_bytes: Option<Arc<BodyCount>>,
    /// A response head was handed to hyper.
    answered: bool,
    /// The response carries no body (HEAD, 1xx, 204, 304): hyper never polls it.
    pub no_body: bool,
    /// Counts the call in flight at its upstream (least connections) until the call ends.
    in_flight: Option<crate::upstream::InFlight>,
    /// The call's place behind the access phase's gate, given up when the call ends.
    admission: Option<crate::access::Admission>,
}

impl Call {
    /// Starts the record of a call whose head arrived at `start` (`since_epoch` on the wall
    /// clock).
    pub fn new<B>(
        shared: Arc<Shared>,
        start: Instant,
        since_epoch: Duration,
        call_id: Uuid,
        request_id: HeaderValue,
        req: &Request<B>,
        peer: &crate::proxy::Peer,
    ) -> Call {
        Call {
            shared,
            start,
            request_bytes: None,
            answered: false,
            no_body: req.method() == Method::HEAD,
            in_flight: None,
            admission: None,
            ev: Some(Box::new(CallEvent {
                call_id,
                ts_us: i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX),
                request_id,
                request_id_generated: false,
                method: req.method().clone(),
                uri: req.uri().clone(),
                client_ip: peer.addr.ip(),
                user_agent: req.headers().get(http::header::USER_AGENT).cloned(),
                route: None,
                endpoint: None,
                upstream: None,
                status: CLIENT_CLOSED_STATUS,
                outcome: Outcome::ClientAborted,
                latency_us: 0,
                upstream_latency_us: 0,
                request_bytes: 0,
                response_bytes: 0,
                error: Cow::Borrowed(""),
                capture: None,
                caller: Default::default(),
                http_version: req.version(),
                tls: peer.tls.clone(),
                client_cert: None,
            })),
        }
    }

    /// The request id is the gateway's own (the client sent none, or none valid).
    pub fn request_id_generated(&mut self) {
        if let Some(ev) = self.ev() {
            ev.request_id_generated = true;
        }
    }

    /// Who is calling (set by the access phase).
    pub fn set_caller(&mut self, mut caller: crate::access::CallerIds) {
        if let Some(ev) = self.ev() {
            ev.client_cert = caller.client_cert.take();
            ev.caller = caller;
        }
    }

    /// Keeps the call's place behind the gate until the call ends.
    pub fn hold_admission(&mut self, admission: crate::access::Admission) {
        self.admission = Some(admission);
    }

    /// Gives up the call's place behind the gate before the call ends: a tunnel (see
    /// [`crate::tunnel`]) may stay open for hours and must not keep calls out.
    pub fn release_admission(&mut self) {
        self.admission = None;
    }

    fn ev(&mut self) -> Option<&mut CallEvent> {
        self.ev.as_deref_mut()
    }

    /// The call is answered by the gateway's own `endpoint` (a path of the OAuth server).
    pub fn set_endpoint(&mut self, endpoint: &'static str) {
        if let Some(ev) = self.ev() {
            ev.endpoint = Some(endpoint);
        }
    }

    /// The call matched `route`: its capture policy starts applying.
    pub fn set_route(&mut self, route: Arc<Route>) {
        if let Some(ev) = self.ev() {
            ev.capture = Captures::for_policy(&route.spec.capture);
            ev.route = Some(route);
        }
    }

    fn captures(&mut self) -> Option<&mut Captures> {
        self.ev.as_mut()?.capture.as_deref_mut()
    }

    /// The request headers as the client sent them, when the API captures headers.
    pub fn capture_request_headers(&mut self, headers: &HeaderMap) {
        if let Some(c) = self.captures() {
            c.request_headers = Some(headers.clone());
        }
    }

    /// The response headers as sent to the client, when the API captures headers.
    pub fn capture_response_headers(&mut self, headers: &HeaderMap) {
        if let Some(c) = self.captures() {
            c.response_headers = Some(headers.clone());
        }
    }

    /// A frame of the response body went to the client (copied while under `max_bytes`).
    pub fn tap_response(&mut self, data: &[u8]) {
        if let Some(t) = self.captures().and_then(|c| c.response_body.as_mut()) {
            t.push(data);
        }
    }

    pub fn set_upstream(&mut self, index: usize) {
        if let Some(ev) = self.ev() {
            ev.upstream = Some(index);
        }
    }

    /// Keeps the upstream's in-flight count up until the call ends (its body's last byte).
    pub fn hold(&mut self, in_flight: crate::upstream::InFlight) {
        self.in_flight = Some(in_flight);
    }

    /// Where the request body's byte count will be (the body streams in another task); its
    /// first bytes are copied there too when the API captures bodies.
    pub fn count_request_bytes(&mut self, counter: Arc<BodyCount>) {
        if let Some(limit) = self.captures().and_then(|c| c.body_limit) {
            counter.start_tap(limit);
        }
        self.request_bytes = Some(counter);
    }

    pub fn set_upstream_latency(&mut self, d: Duration) {
        if let Some(ev) = self.ev() {
            ev.upstream_latency_us = micros(d);
        }
    }

    /// The response head with `status` is on its way to the client.
    pub fn answered(&mut self, status: u16, outcome: Outcome) {
        self.answered = true;
        self.no_body |= status < 200 || status == 204 || status == 304;
        if let Some(ev) = self.ev() {
            ev.status = status;
            ev.outcome = outcome;
        }
    }

    /// Like [`Call::answered`], for a response the gateway makes itself, with the reason.
    pub fn failed(&mut self, status: u16, outcome: Outcome, error: impl Into<Cow<'static, str>>) {
        self.answered(status, outcome);
        if let Some(ev) = self.ev() {
            ev.error = error.into();
        }
    }

    /// The response body is over; the record goes out when `self` drops here.
    pub fn body_ended(mut self, response_bytes: u64, end: BodyEnd) {
        if let Some(ev) = self.ev() {
            ev.response_bytes = response_bytes;
            match end {
                BodyEnd::Complete => {}
                BodyEnd::ClientGone => {
                    ev.outcome = Outcome::ClientAborted;
                    ev.error = Cow::Borrowed("client closed the connection during the response");
                }
                BodyEnd::UpstreamFailed(e) => {
                    ev.outcome = Outcome::UpstreamError;
                    ev.error = Cow::Owned(format!("upstream response body failed: {e}"));
                }
            }
        }
    }
}

impl Call {
    /// The tunnel of an upgraded call ended after `life`: `up` bytes went from the client to
    /// the upstream, `down` back; `note` says why it ended, when not by a close. The record
    /// goes out when `self` drops here, its latency the whole call; the tunnel's life counts
    /// as time with the upstream, so the gateway's overhead stays what it spent itself.
    pub fn tunnel_ended(mut self, up: u64, down: u64, life: Duration, note: Cow<'static, str>) {
        self.request_bytes = None;
        if let Some(ev) = self.ev() {
            ev.request_bytes = up;
            ev.response_bytes = down;
            ev.upstream_latency_us = ev.upstream_latency_us.saturating_add(micros(life));
            ev.error = note;
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let Some(mut ev) = self.ev.take() else {
            return;
        };
        if !self.answered {
            // Dropped before a head was handed to hyper: the client went away while the
            // gateway waited on the upstream, and hyper dropped the handler.
            ev.status = CLIENT_CLOSED_STATUS;
            ev.outcome = Outcome::ClientAborted;
            ev.error = Cow::Borrowed("client closed the connection before the response");
        }
        ev.latency_us = micros(self.start.elapsed());
        if let Some(c) = &self.request_bytes {
            ev.request_bytes = c.bytes();
            if let Some(cap) = ev.capture.as_deref_mut() {
                cap.request_body = c.take_tap();
            }
        }
        self.shared.record(ev);
    }
}

impl Shared {
    /// Hands a finished call to the shipper without waiting.
    pub(crate) fn record(&self, ev: Box<CallEvent>) {
        self.metrics.count_request(ev.outcome);
        let reason = match self.records.try_send(ev) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => DropReason::QueueFull,
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
    use crate::config::RouteConfig;
    use crate::route::Router;

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
            endpoint: None,
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
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let shared = Shared {
            router: arc_swap::ArcSwap::from_pointee(Router::new(&[]).unwrap()),
            access: Arc::new(crate::access::tests::access_for_tests()),
            records: tx,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            upstream_timeout: Duration::from_secs(1),
            queue_capacity: 2,
            spool_max_bytes: 0,
            client_header: http::HeaderName::from_static("x-gatewatch-client"),
            tunnels: crate::tunnel::Tunnels::new(
                Duration::from_secs(1),
                1,
                tokio::sync::watch::channel(false).1,
            ),
            oauth: Arc::new(crate::oauth::Server::for_tests()),
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
            endpoint: None,
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
