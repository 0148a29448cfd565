//! OTLP/HTTP export of one span per call (`[gateway.otlp]`, off while its endpoint is empty).
//!
//! The span is made from the call's event on the shipper's side ([`crate::ship`]'s encoding,
//! on a blocking thread, off the proxy's path): a SERVER span with the call's trace id, the
//! gateway's span id and the caller's span as the parent; named `<method> <route>`; the
//! call's start and end; `http.request.method`, `url.path` (masked as the record's),
//! `http.response.status_code`, `gatewatch.api`, `gatewatch.outcome`, `gatewatch.call_id`;
//! status ERROR for 5xx answers (OpenTelemetry's HTTP conventions for servers), else UNSET.
//!
//! Spans wait in a bounded queue: when it is full they are dropped and counted, never waited
//! for. A background task sends them in batches (`batch_max_spans`, or every
//! `flush_interval`) as `ExportTraceServiceRequest` in binary protobuf (`opentelemetry-proto`'s
//! types) over the gateway's HTTP client, each request within `timeout`; a batch the receiver
//! does not take (not 2xx, no answer) is dropped and counted, not retried. At shutdown what is
//! queued is sent once.
//!
//! `opentelemetry-otlp` itself is not used: with default features off and only `http-proto`
//! and `trace`, it brings 94 crates, among them a second major version of reqwest (0.13 beside
//! the tree's 0.12), where the protobuf types alone add 10 to the lock; built alone from scratch
//! (debug, two jobs) it takes 48 s of CPU, against 23 s for `opentelemetry-proto`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::recorder::CallEvent;

/// `[gateway.otlp]`: where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The OTLP/HTTP traces endpoint, `http(s)://host:port/v1/traces`.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Longest wait for the receiver's answer to one batch.
    pub timeout: Duration,
    /// Spans waiting at most; more are dropped (and counted).
    pub queue_capacity: usize,
    /// Spans per request at most.
    pub batch_max_spans: usize,
    /// A batch is sent at least this often.
    pub flush_interval: Duration,
}

impl OtlpConfig {
    /// The defaults for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> OtlpConfig {
        OtlpConfig {
            endpoint: endpoint.into(),
            service_name: "gatewatch-gateway".into(),
            timeout: Duration::from_secs(10),
            queue_capacity: 2048,
            batch_max_spans: 512,
            flush_interval: Duration::from_secs(2),
        }
    }

    /// The endpoint as a URI: `http://` or `https://` with a host; fields named `otlp.<key>`.
    pub fn check(&self) -> Result<Uri> {
        let bad = |m: &str| Error::config("otlp.endpoint", m.to_string());
        let uri: Uri = self
            .endpoint
            .parse()
            .map_err(|_| bad("is not a URL (http://host:4318/v1/traces)"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(bad("must be an http:// or https:// URL with a host"));
        }
        let name = &self.service_name;
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(Error::config(
                "otlp.service_name",
                "must be 1 to 256 characters, without control characters",
            ));
        }
        if self.queue_capacity == 0 || self.batch_max_spans == 0 {
            let field = if self.queue_capacity == 0 {
                "otlp.queue_capacity"
            } else {
                "otlp.batch_max_spans"
            };
            return Err(Error::config(field, "must be at least 1"));
        }
        if self.timeout.is_zero() || self.flush_interval.is_zero() {
            let field = if self.timeout.is_zero() {
                "otlp.timeout_ms"
            } else {
                "otlp.flush_interval_ms"
            };
            return Err(Error::config(field, "must be at least 1"));
        }
        Ok(uri)
    }
}

/// Spans exported, and dropped (queue full, or a batch the receiver did not take).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub exported: AtomicU64,
    pub dropped: AtomicU64,
}

/// Where the shipper hands spans (cheap to clone).
#[derive(Clone)]
pub(crate) struct Spans {
    tx: mpsc::Sender<Span>,
    pub stats: Arc<Stats>,
}

impl Spans {
    /// Queues the span of `ev` (calls without trace ids have none); dropped and counted when
    /// the queue is full.
    pub fn offer(&self, ev: &CallEvent, path: &str) {
        let Some(span) = call_span(ev, path) else {
            return;
        };
        if self.tx.try_send(span).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The exporter's queue and its task; the task ends once every [`Spans`] is dropped and
/// what was queued has been sent.
pub(crate) fn start(
    config: &OtlpConfig,
    endpoint: Uri,
    node: &str,
    tls: &rustls::ClientConfig,
    stats: Arc<Stats>,
) -> (Spans, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let exporter = Exporter {
        client: client(tls, config.timeout),
        endpoint,
        timeout: config.timeout,
        resource: Resource {
            attributes: vec![
                attr("service.name", string(&config.service_name)),
                attr("service.instance.id", string(node)),
            ],
            ..Default::default()
        },
        stats: stats.clone(),
    };
    let task = tokio::spawn(exporter.run(rx, config.batch_max_spans, config.flush_interval));
    (Spans { tx, stats }, task)
}

use crate::ship::HttpClient;

/// The shipper's client, with idle connections kept longer (spans go out in steady batches).
fn client(tls: &rustls::ClientConfig, timeout: Duration) -> HttpClient {
    crate::ship::http_client(tls, timeout, Duration::from_secs(30))
}

struct Exporter {
    client: HttpClient,
    endpoint: Uri,
    timeout: Duration,
    resource: Resource,
    stats: Arc<Stats>,
}

impl Exporter {
    async fn run(self, mut rx: mpsc::Receiver<Span>, max: usize, every: Duration) {
        let mut buf: Vec<Span> = Vec::with_capacity(max);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // `buf` is sent whenever it reaches `max`, so there is always room here.
            let room = max - buf.len();
            tokio::select! {
                n = rx.recv_many(&mut buf, room) => {
                    if n == 0 {
                        break;
                    }
                    if buf.len() >= max {
                        self.send(std::mem::take(&mut buf)).await;
                    }
                }
                _ = tick.tick() => {
                    if !buf.is_empty() {
                        self.send(std::mem::take(&mut buf)).await;
                    }
                }
            }
        }
        if !buf.is_empty() {
            self.send(buf).await;
        }
    }

    /// One `ExportTraceServiceRequest` with `spans`; counted as exported or dropped.
    async fn send(&self, spans: Vec<Span>) {
        let n = spans.len() as u64;
        let body = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "gatewatch".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let req = Request::post(self.endpoint.clone())
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(Bytes::from(body)));
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot build the OTLP request; spans dropped");
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
                return;
            }
        };
        let answer = tokio::time::timeout(self.timeout, async {
            let resp = self.client.request(req).await?;
            let status = resp.status();
            // Read the answer whole so the connection goes back to the pool.
            let _ = resp.into_body().collect().await;
            Ok::<_, hyper_util::client::legacy::Error>(status)
        })
        .await;
        match answer {
            Ok(Ok(s)) if s.is_success() => {
                debug!(spans = n, "spans exported");
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Ok(s)) => {
                warn!(status = s.as_u16(), spans = n, endpoint = %self.endpoint, "the OTLP receiver refused spans; dropped");
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                warn!(error = %e, spans = n, endpoint = %self.endpoint, "cannot reach the OTLP receiver; spans dropped");
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => {
                warn!(spans = n, endpoint = %self.endpoint, timeout_ms = self.timeout.as_millis() as u64, "the OTLP receiver did not answer in time; spans dropped");
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// The span of one call (see the module doc); `None` without trace ids.
pub(crate) fn call_span(ev: &CallEvent, path: &str) -> Option<Span> {
    let t = ev.trace.as_ref()?;
    let (api_id, _, route, _) = ev.route_fields();
    let route = if route.is_empty() {
        ev.local.unwrap_or("")
    } else {
        route
    };
    let name = if route.is_empty() {
        ev.method.as_str().to_string()
    } else {
        format!("{} {route}", ev.method)
    };
    let start = u64::try_from(ev.ts_us).unwrap_or(0).saturating_mul(1_000);
    let end = start.saturating_add(ev.latency_us.saturating_mul(1_000));
    let error = ev.status >= 500;
    Some(Span {
        trace_id: t.trace_id.to_vec(),
        span_id: t.span_id.to_vec(),
        parent_span_id: t.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        // W3C trace flags: sampled as received or decided.
        flags: u32::from(t.sampled),
        name,
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![
            attr("http.request.method", string(ev.method.as_str())),
            attr("url.path", string(path)),
            attr(
                "http.response.status_code",
                any_value::Value::IntValue(i64::from(ev.status)),
            ),
            attr("gatewatch.api", string(api_id)),
            attr("gatewatch.outcome", string(ev.outcome.as_str())),
            attr("gatewatch.call_id", string(&ev.call_id.to_string())),
        ],
        status: Some(Status {
            code: if error {
                status::StatusCode::Error as i32
            } else {
                status::StatusCode::Unset as i32
            },
            message: if error {
                ev.outcome.as_str().to_string()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    })
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_string())
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::trace::TraceIds;

    fn traced() -> CallEvent {
        let mut e = crate::recorder::tests::event();
        e.trace = Some(TraceIds {
            trace_id: [7; 16],
            span_id: [8; 8],
            parent_span_id: None,
            sampled: true,
        });
        e
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_untraced_calls_have_no_span() {
        let (tx, mut rx) = mpsc::channel(2);
        let spans = Spans {
            tx,
            stats: Arc::default(),
        };
        spans.offer(&crate::recorder::tests::event(), "/");
        assert!(rx.try_recv().is_err(), "no trace ids: no span");
        for _ in 0..5 {
            spans.offer(&traced(), "/");
        }
        assert_eq!(spans.stats.dropped.load(Ordering::Relaxed), 3);
        let s = rx.try_recv().unwrap();
        assert_eq!((s.trace_id, s.span_id), (vec![7; 16], vec![8; 8]));
        assert!(s.parent_span_id.is_empty());
        // A 404 of no route: named by its method alone, not an error.
        assert_eq!(s.name, "GET");
        assert_eq!(s.status.unwrap().code, status::StatusCode::Unset as i32);
        assert_eq!(s.start_time_unix_nano, 1_764_000_000_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_764_000_000_000_001_000);
    }

    #[test]
    fn endpoints_and_bounds_are_checked_naming_the_field() {
        assert!(OtlpConfig::new("http://127.0.0.1:4318/v1/traces")
            .check()
            .is_ok());
        assert!(OtlpConfig::new("https://otel.example.com/v1/traces")
            .check()
            .is_ok());
        let field = |c: OtlpConfig| match c.check() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        for bad in [
            "",
            "ftp://x/v1/traces",
            "/v1/traces",
            "http:///v1/traces",
            "a b",
        ] {
            assert_eq!(field(OtlpConfig::new(bad)), "otlp.endpoint", "{bad:?}");
        }
        let ok = || OtlpConfig::new("http://127.0.0.1:4318/v1/traces");
        let mut c = ok();
        c.service_name = "a\nb".into();
        assert_eq!(field(c), "otlp.service_name");
        let mut c = ok();
        c.queue_capacity = 0;
        assert_eq!(field(c), "otlp.queue_capacity");
        let mut c = ok();
        c.batch_max_spans = 0;
        assert_eq!(field(c), "otlp.batch_max_spans");
        let mut c = ok();
        c.timeout = Duration::ZERO;
        assert_eq!(field(c), "otlp.timeout_ms");
    }
}
