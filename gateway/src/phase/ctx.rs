//! The per-call context: everything the phases learn about one call. Each phase reads what the
//! ones before it wrote and adds its own part; none of them touches the record, which
//! [`crate::recorder`] builds from this context once, when the call ends.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatewatch_model::Outcome;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};
use uuid::Uuid;

use crate::access::table::{ClientEntry, Grant, KeyEntry};
use crate::access::{Admission, CallerIds, Refund};
use crate::body::count::BodyCount;
use crate::capture::Captures;
use crate::headers::{self, X_REQUEST_ID};
use crate::ids;
use crate::route::Route;
use crate::upstream::InFlight;

/// Status recorded for a call whose client left before any response head (nginx's 499).
pub(crate) const CLIENT_CLOSED_STATUS: u16 = 499;

/// The client end of one connection.
#[derive(Clone)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    /// The address rendered once for `X-Forwarded-For`.
    pub ip_header: HeaderValue,
    /// What the TLS handshake settled, when the call came over the TLS listener
    /// (`X-Forwarded-Proto: https` upstream; version and cipher in the record).
    pub tls: Option<Arc<gatewatch_listen::TlsInfo>>,
    /// `sha256:<hex>` of the client certificate, hashed once per connection (`mtls` APIs
    /// look it up in the access table).
    pub client_cert: Option<Arc<str>>,
}

impl Peer {
    pub fn new(conn: gatewatch_listen::Conn) -> Peer {
        let client_cert = conn
            .tls
            .as_ref()
            .and_then(|t| t.client_cert.as_deref())
            .map(|der| Arc::from(gatewatch_model::client::certificate_fingerprint(der)));
        Peer {
            addr: conn.peer,
            ip_header: headers::ip_header(conn.peer.ip()),
            tls: conn.tls,
            client_cert,
        }
    }
}

/// Sees the answer a call gets as it goes to the client (see [`Ctx::tap`]).
pub(crate) trait AnswerTap: Send {
    /// The answer's head, as the client gets it.
    fn head(&mut self, status: StatusCode, headers: &HeaderMap);
    /// A piece of the answer's body.
    fn data(&mut self, data: &[u8]);
    /// The call is over: `whole` when the answer reached the client complete.
    fn end(self: Box<Self>, whole: bool);
}

/// One call's context, grouped by the phase that writes each part (see [`crate::phase`]).
pub(crate) struct Ctx {
    // ── opened with the request head ──
    pub start: Instant,
    /// Start time on the wall clock, Unix microseconds.
    pub ts_us: i64,
    /// UUIDv7 of the start time.
    pub call_id: Uuid,
    /// The client's valid `X-Request-Id`, or the call id's text.
    pub request_id: HeaderValue,
    /// The gateway made `request_id` (nothing of the client's to mask).
    pub request_id_generated: bool,
    pub method: Method,
    /// The target as received (the record keeps this path and query).
    pub uri: Uri,
    pub http_version: Version,
    pub user_agent: Option<HeaderValue>,
    pub peer: Peer,

    // ── early filter ──
    /// The normalized path, when it differs from the received one (routed and forwarded).
    pub path: Option<String>,
    /// The API the call was routed to.
    pub route: Option<Arc<Route>>,
    /// The gateway's own endpoint that answered the call (the record's `route`).
    pub local: Option<&'static str>,
    /// The query forwarded upstream when it differs from the received one (an API family's
    /// version parameter taken out; `Some("")`: none).
    pub query: Option<String>,
    /// A canary split decided once the client is known (see [`super::version`]).
    pub canary: Option<super::version::PendingCanary>,

    // ── authenticate ──
    /// The caller's ids as recorded (never a credential); refusals fill what they know.
    pub caller: CallerIds,
    /// The authenticated client (`None`: a public API, or not authenticated).
    pub client: Option<Arc<ClientEntry>>,
    /// The API key that authenticated the call.
    pub key: Option<Arc<KeyEntry>>,

    // ── authorize ──
    /// Through what the call was allowed.
    pub grant: Option<Grant>,

    // ── limits ──
    /// The counts taken, given back if the gate refuses the call.
    pub refund: Option<Refund>,
    /// The call's place behind the VIP gate, held until the call ends.
    pub admission: Option<Admission>,

    // ── request policies ──
    /// What the message checks found (`sqli:query.q`): the record's `findings`.
    pub findings: Vec<String>,
    /// What the request policies did (`idempotency:replayed`): the record's `policies`.
    pub policies: Vec<Cow<'static, str>>,
    /// Headers every answer to this call carries, the upstream's and the gateway's own
    /// (CORS's `Access-Control-Allow-Origin` and `Vary: Origin`...).
    pub answer_headers: Vec<(HeaderName, HeaderValue)>,
    /// Told about the answer as it goes to the client (idempotency keeps the first answer).
    pub tap: Option<Box<dyn AnswerTap>>,
    /// The API's CORS is the gateway's: the upstream's own `Access-Control-*` headers are
    /// dropped from its answer (see [`crate::policy::cors`]).
    pub cors: bool,

    // ── trace ──
    /// The call's W3C trace context: the caller's `traceparent` continued, or a trace the
    /// gateway started (`None` when tracing is off). Forwarded upstream and recorded.
    pub trace: Option<gatewatch_model::trace::TraceIds>,

    // ── upstream ──
    /// Index into `route.upstreams` of the upstream last tried.
    pub upstream: Option<usize>,
    /// Time waiting on the upstream (a tunnel's whole life included).
    pub upstream_latency: Duration,
    /// Counts the call in flight at its upstream (least connections) until the call ends.
    pub in_flight: Option<InFlight>,
    /// The request body's byte count (the body streams in another task).
    pub request_bytes: Option<Arc<BodyCount>>,
    /// Bytes from the client when not counted by `request_bytes` (a tunnel's).
    pub request_bytes_total: u64,

    // ── response and outcome ──
    /// A response head was handed to hyper.
    pub answered: bool,
    /// The response carries no body (HEAD, 1xx, 204, 304): hyper never polls it.
    pub no_body: bool,
    /// The answer's body went out to its end (the tap's `whole`).
    pub complete: bool,
    pub status: u16,
    pub outcome: Outcome,
    /// Why the call failed or was refused (`code: detail`), or how a tunnel ended.
    pub error: Cow<'static, str>,
    /// Headers and bodies captured under the API's policy; `None` when it keeps only the
    /// summary.
    pub capture: Option<Box<Captures>>,
    pub response_bytes: u64,
}

impl Ctx {
    /// The context of a call whose head has just arrived.
    pub fn new<B>(req: &Request<B>, peer: Peer) -> Ctx {
        let start = Instant::now();
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ctx::at(req, peer, start, since_epoch)
    }

    /// [`Ctx::new`] at a given time.
    pub fn at<B>(req: &Request<B>, peer: Peer, start: Instant, since_epoch: Duration) -> Ctx {
        let call_id = ids::v7_at(since_epoch);
        let (request_id, request_id_generated) = match req.headers().get(&X_REQUEST_ID) {
            Some(v) if headers::valid_request_id(v) => (v.clone(), false),
            _ => (ids::header_value(&call_id), true),
        };
        Ctx {
            start,
            ts_us: i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX),
            call_id,
            request_id,
            request_id_generated,
            method: req.method().clone(),
            uri: req.uri().clone(),
            http_version: req.version(),
            user_agent: req.headers().get(http::header::USER_AGENT).cloned(),
            peer,
            path: None,
            route: None,
            local: None,
            query: None,
            canary: None,
            caller: CallerIds::default(),
            client: None,
            key: None,
            grant: None,
            refund: None,
            admission: None,
            findings: Vec::new(),
            policies: Vec::new(),
            answer_headers: Vec::new(),
            cors: false,
            tap: None,
            trace: None,
            upstream: None,
            upstream_latency: Duration::ZERO,
            in_flight: None,
            request_bytes: None,
            request_bytes_total: 0,
            answered: false,
            no_body: req.method() == Method::HEAD,
            complete: false,
            status: CLIENT_CLOSED_STATUS,
            outcome: Outcome::ClientAborted,
            error: Cow::Borrowed(""),
            capture: None,
            response_bytes: 0,
        }
    }

    /// The path that is routed and forwarded: normalized once by the early filter.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or(self.uri.path())
    }

    /// The call matched `route`: its capture policy starts applying.
    pub fn set_route(&mut self, route: Arc<Route>) {
        self.capture = Captures::for_policy(&route.spec.capture);
        self.route = Some(route);
    }

    /// The request headers as the client sent them, when the API captures headers.
    pub fn capture_request_headers(&mut self, headers: &HeaderMap) {
        if let Some(c) = self.capture.as_deref_mut() {
            c.request_headers = Some(headers.clone());
        }
    }

    /// The response headers as sent to the client, when the API captures headers.
    pub fn capture_response_headers(&mut self, headers: &HeaderMap) {
        if let Some(c) = self.capture.as_deref_mut() {
            c.response_headers = Some(headers.clone());
        }
    }

    /// A frame of the response body went to the client (copied while under `max_bytes`).
    pub fn tap_response(&mut self, data: &[u8]) {
        if let Some(t) = self.tap.as_deref_mut() {
            t.data(data);
        }
        if let Some(t) = self
            .capture
            .as_deref_mut()
            .and_then(|c| c.response_body.as_mut())
        {
            t.push(data);
        }
    }

    /// Where the request body's byte count will be; its first bytes are copied there too
    /// when the API captures bodies.
    pub fn count_request_bytes(&mut self, counter: Arc<BodyCount>) {
        if let Some(limit) = self.capture.as_deref().and_then(|c| c.body_limit) {
            counter.start_tap(limit);
        }
        self.request_bytes = Some(counter);
    }

    /// The answer's head goes out: the call's answer headers are added, the tap sees it.
    pub fn answer_head(&mut self, status: StatusCode, headers: &mut HeaderMap) {
        if self.cors {
            crate::policy::cors::drop_upstream_headers(headers);
        }
        for (name, value) in self.answer_headers.drain(..) {
            headers.append(name, value);
        }
        // A deprecated version says so on every answer (made once, with the router).
        if let Some(r) = &self.route {
            for (name, value) in &r.deprecation {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(t) = self.tap.as_deref_mut() {
            t.head(status, headers);
        }
    }

    /// The response head with `status` is on its way to the client.
    pub fn answered(&mut self, status: u16, outcome: Outcome) {
        self.answered = true;
        self.no_body |= status < 200 || status == 204 || status == 304;
        self.status = status;
        self.outcome = outcome;
    }

    /// Like [`Ctx::answered`], for a response the gateway makes itself, with the reason.
    pub fn failed(&mut self, status: u16, outcome: Outcome, error: impl Into<Cow<'static, str>>) {
        self.answered(status, outcome);
        self.error = error.into();
    }
}

#[cfg(test)]
impl Ctx {
    /// A context for a GET of `/` from `ip` (phase tests).
    pub fn for_tests(ip: &str) -> Ctx {
        let req = Request::new(());
        let addr = SocketAddr::new(ip.parse().unwrap(), 40000);
        let peer = Peer {
            addr,
            ip_header: headers::ip_header(addr.ip()),
            tls: None,
            client_cert: None,
        };
        Ctx::new(&req, peer)
    }
}
