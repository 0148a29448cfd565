//! The shipper: records and samples from memory to the collector, through the spool when the
//! collector is away.
//!
//! Two tasks:
//! - the **batcher** drains the record queue into batches of up to `batch_max_records`, at
//!   least every `flush_interval`, and encodes each (NDJSON, zstd) on the blocking pool; an
//!   encoded batch is cut into several when its NDJSON passes `batch_max_bytes`, and a single
//!   record longer than that (which the caps of `caps.rs` make impossible in practice) is
//!   dropped and counted (`records_dropped_total{reason="too_large"}`);
//! - the **sender** owns the network and the [`Spool`]. It numbers each batch it receives
//!   (the sampler's batches come the same way) and sends one batch at a time, oldest number
//!   first, from two places: a few batches waiting in memory and the spool files.
//!
//! Rules of the sender, which make delivery ordered and at-least-once (the collector makes it
//! exactly-once by batch id):
//! - a new batch waits in memory only while the spool is empty (and at most [`PENDING_MAX`]
//!   of them); otherwise it goes to the spool;
//! - a batch that meets an away collector goes to the next collector that may be tried (see
//!   below) at once, with the replay header, before any other batch; when there is none, it
//!   goes to the spool with its number, and so do all batches waiting in memory; nothing is
//!   sent again before a backoff (250 ms doubling to 5 s, or the collector's `Retry-After`),
//!   and then the oldest batch is tried first;
//! - spooled batches are sent with the replay header; a spool file is deleted after a 2xx or a
//!   "bad batch" answer (see [`classify`]);
//! - a batch the collector refuses as too large (413) is not lost: it is split into two halves
//!   by lines (new batch ids: nothing of it was stored; the replay mark kept), and the halves
//!   are sent next, first half first, each split again on another 413, down to one record; a
//!   single record refused with 413 is dropped and counted (`reason="too_large"`). Counted in
//!   `gatewatch_gateway_batches_split_total`.
//!
//! Several collectors (`collector_urls`): the sender keeps them in the gateway's order of
//! preference ([`preference`]) and a [`Health`] for each; every send goes to the first that is
//! up or whose wait is over ([`choose`]), so a better collector is taken back as soon as it
//! answers. A failed collector waits 250 ms doubling per failure in a row, at most 5 s while
//! no collector answers and at most [`FAILBACK_MAX`] while another does; its `Retry-After`
//! holds back only itself. A 404/405 (no ingest endpoint at that URL) counts as "away" when
//! there are several: it says nothing of the batch, which the next one can take. Spreading batches of one gateway over several collectors at once
//! was not chosen: one collector per gateway keeps its rounds large and a gateway's recent
//! records in one write-ahead log; gateways spread by their ranking instead.
//!
//! On shutdown the batcher flushes what is queued, and the sender, after its send in flight,
//! sends the batches waiting in memory if the collector is reachable and nothing older is
//! spooled, and spools them otherwise. Replaying the spool waits for the next start.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatewatch_model::{ndjson, NodeSample};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};
use uuid::Uuid;

pub(crate) use crate::batch::{compress, Batch, Kind};
use crate::ids;
use crate::journal::{self, Journal, Refs};
use crate::metrics::{DropReason, Metrics};
use crate::record_json;
use crate::recorder::CallEvent;
use crate::spool::{self, AppendError, LoadError, Spool};
use gatewatch_listen::chain;

/// How long the batcher lets records gather in the queue after taking some (see
/// [`run_batcher`]); a record's shipping is delayed by at most this on top of `flush_interval`.
const GATHER: Duration = Duration::from_millis(5);
/// Batches held in memory while a send is in flight (beyond that, they go to the spool).
pub(crate) const PENDING_MAX: usize = 8;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Longest `Retry-After` obeyed.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// How much of a collector's answer is read (for the log when it refuses a batch).
const ANSWER_LIMIT: usize = 64 * 1024;

static BATCH_ID: HeaderName = HeaderName::from_static(gatewatch_model::BATCH_ID_HEADER);
static REPLAY: HeaderName = HeaderName::from_static(gatewatch_model::REPLAY_HEADER);

fn encode<T: serde::Serialize>(kind: Kind, values: &[T]) -> io::Result<Batch> {
    let mut raw = Vec::with_capacity(values.len() * 512);
    ndjson::encode_lines(values, &mut raw).map_err(io::Error::other)?;
    Ok(Batch {
        kind,
        id: Uuid::now_v7(),
        body: Bytes::from(compress(&raw)?),
        count: values.len(),
        replay: false,
        journal: Default::default(),
    })
}

/// What [`encode_records`] made of the events.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub batches: Vec<Batch>,
    /// Records whose line alone was longer than the byte limit: dropped.
    pub too_large: usize,
    /// Their journal entries (handed on: they are dropped and counted).
    pub too_large_refs: Refs,
}

/// Each event's record, masked, as its NDJSON line — the one the journal took when the call
/// ended, else written now (see [`crate::record_json`]); a new batch starts where the NDJSON
/// would pass `max_bytes`.
// The events arrive boxed from the queue (see `recorder::Call`); unboxing would copy each.
#[allow(clippy::vec_box)]
pub(crate) fn encode_records(
    events: Vec<Box<CallEvent>>,
    node: &str,
    max_bytes: usize,
    spans: Option<&crate::trace_otlp::Spans>,
) -> io::Result<Encoded> {
    let mut out = Encoded {
        batches: Vec::new(),
        too_large: 0,
        too_large_refs: Refs::default(),
    };
    let mut raw = Vec::with_capacity((events.len() * 640).min(max_bytes));
    let mut lines = 0;
    let mut refs = Refs::default();
    for e in &events {
        let start = raw.len();
        match e.line.as_deref().and_then(|l| l.get(journal::HEADER..)) {
            Some(line) => raw.extend_from_slice(line),
            None => record_json::write_line(e, node, &mut raw),
        }
        if let Some(s) = spans {
            // The span's path is masked as the record's is.
            let masker = crate::mask::Masker::new(e.route.as_ref().map(|r| &r.spec.masking));
            s.offer(e, &masker.path(e.uri.path()));
        }
        let len = raw.len() - start;
        if len > max_bytes {
            tracing::error!(bytes = len, max_bytes, call_id = %e.call_id, "a call record is larger than batch_max_bytes on its own; dropped");
            raw.truncate(start);
            out.too_large += 1;
            out.too_large_refs.add(e.journal_at);
            continue;
        }
        if raw.len() > max_bytes {
            // This line opens the next batch.
            let next = raw.split_off(start);
            out.batches
                .push(records_batch(&raw, lines, std::mem::take(&mut refs))?);
            raw = next;
            lines = 0;
        }
        lines += 1;
        refs.add(e.journal_at);
    }
    if lines > 0 {
        out.batches.push(records_batch(&raw, lines, refs)?);
    }
    Ok(out)
}

fn records_batch(raw: &[u8], count: usize, journal: Refs) -> io::Result<Batch> {
    Ok(Batch {
        kind: Kind::Records,
        id: Uuid::now_v7(),
        body: Bytes::from(compress(raw)?),
        count,
        replay: false,
        journal,
    })
}

/// A batch body cut in two halves by lines (each a new batch, see the module doc); `None`
/// when it holds fewer than two lines or cannot be read.
pub(crate) fn split_batch(kind: Kind, body: &[u8], replay: bool) -> Option<(Batch, Batch)> {
    let raw = zstd::stream::decode_all(body).ok()?;
    let ends: Vec<usize> = raw
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    // A last line without its newline still counts.
    let total = ends.len() + usize::from(ends.last().copied().unwrap_or(0) < raw.len());
    if total < 2 {
        return None;
    }
    let half = total / 2;
    let cut = ends[half - 1];
    let make = |part: &[u8], count: usize| -> Option<Batch> {
        Some(Batch {
            kind,
            id: Uuid::now_v7(),
            body: Bytes::from(compress(part).ok()?),
            count,
            replay,
            journal: Refs::default(),
        })
    };
    Some((make(&raw[..cut], half)?, make(&raw[cut..], total - half)?))
}

pub(crate) fn encode_samples(samples: &[NodeSample]) -> io::Result<Batch> {
    encode(Kind::Samples, samples)
}

// ---------------------------------------------------------------------------------------------
// Batcher

/// Drains the record queue into batches of at most `max` records and `max_bytes` of NDJSON
/// until `stop` turns true, then drains what is left.
pub(crate) async fn run_batcher(
    mut rx: mpsc::Receiver<Box<CallEvent>>,
    // Where the batches go, the calls' spans when `[gateway.otlp]` is on, and the journal
    // (to hand on the records dropped as too large).
    (out, spans, journal): (
        mpsc::Sender<Batch>,
        Option<crate::trace_otlp::Spans>,
        Option<Arc<Journal>>,
    ),
    node: Arc<str>,
    (max, max_bytes): (usize, usize),
    every: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf: Vec<Box<CallEvent>> = Vec::new();
    // The first flush is one interval in, not at once (`interval`'s first tick is immediate).
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        // `buf` is flushed whenever it reaches `max`, so the limit is never zero here.
        let room = max - buf.len();
        tokio::select! {
            n = rx.recv_many(&mut buf, room) => {
                if n == 0 {
                    break;
                }
                if buf.len() >= max {
                    flush(&mut buf, &node, max_bytes, &out, &metrics, (spans.as_ref(), journal.as_deref())).await;
                } else {
                    // Records come one per call: taking each as it comes would cost a task
                    // wake-up per call on the proxy's cores. Let a few milliseconds of them
                    // gather in the queue (far below its capacity) and take them together.
                    tokio::time::sleep(GATHER).await;
                }
            }
            _ = tick.tick() => {
                if !buf.is_empty() {
                    flush(&mut buf, &node, max_bytes, &out, &metrics, (spans.as_ref(), journal.as_deref())).await;
                }
            }
            () = stopped(&mut stop) => {
                // Refuse new records; what is queued still comes out below.
                rx.close();
                loop {
                    let room = max - buf.len();
                    if rx.recv_many(&mut buf, room).await == 0 {
                        break;
                    }
                    if buf.len() >= max {
                        flush(&mut buf, &node, max_bytes, &out, &metrics, (spans.as_ref(), journal.as_deref())).await;
                    }
                }
                break;
            }
        }
    }
    if !buf.is_empty() {
        flush(
            &mut buf,
            &node,
            max_bytes,
            &out,
            &metrics,
            (spans.as_ref(), journal.as_deref()),
        )
        .await;
    }
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it here.
    let _ = stop.wait_for(|s| *s).await;
}

#[allow(clippy::vec_box)]
async fn flush(
    buf: &mut Vec<Box<CallEvent>>,
    node: &Arc<str>,
    max_bytes: usize,
    out: &mpsc::Sender<Batch>,
    metrics: &Metrics,
    (spans, journal): (Option<&crate::trace_otlp::Spans>, Option<&Journal>),
) {
    let events = std::mem::take(buf);
    let spans = spans.cloned();
    let count = events.len() as u64;
    let node = node.clone();
    // Encoding a few thousand records takes milliseconds: keep it off the proxy's workers.
    match tokio::task::spawn_blocking(move || {
        encode_records(events, &node, max_bytes, spans.as_ref())
    })
    .await
    {
        Ok(Ok(encoded)) => {
            metrics.count_dropped(DropReason::TooLarge, encoded.too_large as u64);
            if let Some(j) = journal.filter(|_| !encoded.too_large_refs.is_empty()) {
                j.release(&encoded.too_large_refs);
            }
            for batch in encoded.batches {
                if let Some(j) = journal.filter(|_| !batch.journal.is_empty()) {
                    // Which records this batch id carries, before it can reach anyone: a
                    // restart replays them under the same id (see `journal.rs`).
                    j.intend(batch.id, &batch.journal);
                }
                let n = batch.count as u64;
                if out.send(batch).await.is_err() {
                    metrics.count_dropped(DropReason::Shutdown, n);
                }
            }
        }
        Ok(Err(e)) => {
            error!(records = count, error = %e, "cannot encode a batch of call records; dropped");
            metrics.count_dropped(DropReason::Encode, count);
        }
        Err(e) => {
            error!(records = count, error = %e, "encoding task failed; batch dropped");
            metrics.count_dropped(DropReason::Encode, count);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Talking to the collector

/// How the sender treats a collector's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Stored (200 and other 2xx except 207).
    Delivered,
    /// 207: good lines stored, bad ones refused; resending would not help.
    Partial,
    /// The batch itself is bad or the endpoint does not exist: never resend.
    Rejected,
    /// Try again later (503, other 5xx, 401/403/408/429, redirects, …). A 403 from a collector
    /// with `registered_nodes_only` (`node_not_registered`) is one: the batch waits in the
    /// spool until the node's heartbeat reaches the registry.
    Away,
}

/// The one place that decides whether a batch is resent. Unknown answers count as "away":
/// a batch kept in the spool can still be sent; a dropped one is gone.
pub(crate) fn classify(status: StatusCode) -> Class {
    match status.as_u16() {
        207 => Class::Partial,
        200..=299 => Class::Delivered,
        // 404/405: no such endpoint — a configuration error that a resend cannot fix, and
        // retrying would hold every later batch behind this one.
        400 | 404 | 405 | 411 | 413 | 415 | 422 => Class::Rejected,
        _ => Class::Away,
    }
}

/// The result of one send.
#[derive(Debug)]
pub(crate) enum Verdict {
    Delivered {
        partial: bool,
    },
    Rejected {
        status: u16,
        answer: String,
    },
    Away {
        retry_after: Option<Duration>,
        why: String,
    },
}

/// The HTTP client to the collector (`http://`, or `https://` checked against `tls`'s roots).
#[derive(Clone)]
pub(crate) struct Collector {
    client: HttpClient,
    records_uri: Uri,
    samples_uri: Uri,
    timeout: Duration,
    /// `Authorization: Bearer <ingest token>`, sent with every batch.
    auth: Option<HeaderValue>,
}

/// The gateway's HTTP(S) client for what it sends out of process (batches to the collector,
/// spans to an OTLP receiver): `https://` through `tls`, plain `http://` passed through, a
/// connect timeout of at most 3 s, idle connections dropped after `idle`.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) fn http_client(
    tls: &rustls::ClientConfig,
    timeout: Duration,
    idle: Duration,
) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout.min(Duration::from_secs(3))));
    // The TLS layer takes `https://` URLs; plain ones pass through it untouched.
    http.enforce_http(false);
    let http = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(idle)
        .build(http)
}

impl Collector {
    pub fn new(
        records_uri: Uri,
        samples_uri: Uri,
        timeout: Duration,
        tls: &rustls::ClientConfig,
    ) -> Collector {
        // Below the collector's read-header timeout (10 s by default), which also closes idle
        // kept-alive connections: a send never meets a connection the collector is closing.
        let client = http_client(tls, timeout, Duration::from_secs(5));
        Collector {
            client,
            records_uri,
            samples_uri,
            timeout,
            auth: None,
        }
    }

    /// Sends `token` as `Authorization: Bearer <token>` (the collector's ingest token); an
    /// empty one (or one no header can carry, refused by the configuration's checks) sends none.
    pub fn with_token(mut self, token: &str) -> Collector {
        self.auth = (!token.is_empty())
            .then(|| HeaderValue::from_str(&format!("Bearer {token}")).ok())
            .flatten()
            .map(|mut v| {
                // Kept out of debug output and HPACK tables.
                v.set_sensitive(true);
                v
            });
        self
    }

    /// POSTs one batch body; `replay` marks a send that may repeat an earlier one.
    pub async fn post(&self, kind: Kind, id: Uuid, body: Bytes, replay: bool) -> Verdict {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = match kind {
            Kind::Records => self.records_uri.clone(),
            Kind::Samples => self.samples_uri.clone(),
        };
        let h = req.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
        h.insert(BATCH_ID.clone(), ids::header_value(&id));
        if let Some(auth) = &self.auth {
            h.insert(header::AUTHORIZATION, auth.clone());
        }
        if replay {
            h.insert(REPLAY.clone(), HeaderValue::from_static("1"));
        }
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| chain(&e))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(RETRY_AFTER_MAX));
            // Read the answer to the end so the connection can be reused.
            let answer = Limited::new(resp.into_body(), ANSWER_LIMIT)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, retry_after, answer))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Verdict::Away {
                retry_after: None,
                why: format!("no answer within {} ms", self.timeout.as_millis()),
            },
            Ok(Err(why)) => Verdict::Away {
                retry_after: None,
                why,
            },
            Ok(Ok((status, retry_after, answer))) => match classify(status) {
                Class::Delivered => Verdict::Delivered { partial: false },
                Class::Partial => {
                    warn!(batch_id = %id, answer = %String::from_utf8_lossy(&answer), "collector refused some lines of a batch");
                    Verdict::Delivered { partial: true }
                }
                Class::Rejected => Verdict::Rejected {
                    status: status.as_u16(),
                    answer: String::from_utf8_lossy(&answer).into_owned(),
                },
                // A 401/403 says why (a wrong ingest token, a node the registry does not
                // know): the log line carries it, as those need an operator.
                Class::Away if status.is_client_error() && !answer.is_empty() => Verdict::Away {
                    retry_after,
                    why: format!(
                        "collector answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    ),
                },
                Class::Away => Verdict::Away {
                    retry_after,
                    why: format!("collector answered {status}"),
                },
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sender

/// What was sent, handed back with its verdict.
enum Sent {
    Fresh {
        seq: u64,
        batch: Batch,
    },
    Spooled {
        seq: u64,
        kind: Kind,
        count: usize,
        /// Kept for a split after a 413.
        body: Bytes,
    },
    /// The spool file could not be read back; no send happened.
    Unreadable {
        seq: u64,
        error: LoadError,
    },
}

type InFlight = Pin<Box<dyn Future<Output = (usize, Sent, Option<Verdict>)> + Send>>;

// ---------------------------------------------------------------------------------------------
// Choosing a collector

/// Longest wait before a collector that failed is tried again while another one takes the
/// batches. Returning to it is tried with a real batch, and one that meets a hung collector
/// costs up to `collector_timeout`, so it must be rare; while no collector answers,
/// [`BACKOFF_MAX`] bounds the wait instead, as with a single collector.
const FAILBACK_MAX: Duration = Duration::from_secs(30);

/// One collector the sender may use.
#[derive(Clone)]
pub(crate) struct Target {
    pub collector: Collector,
    /// Its base URL as configured: its name in logs and its `collector` label.
    pub name: Arc<str>,
}

/// What the sender knows of one collector's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Health {
    /// When its last send found it away; `None`: up (or not tried yet).
    failed_at: Option<Instant>,
    /// The wait after that failure: 250 ms, doubling with each failure in a row; capped
    /// when read (see [`Health::ready_at`]).
    backoff: Duration,
    /// Its own `Retry-After` (which replaces the backoff): it stalls no other collector.
    retry_after: Option<Duration>,
}

impl Health {
    pub fn is_up(&self) -> bool {
        self.failed_at.is_none()
    }

    /// When it may be tried again (`None`: now). `alone`: no collector is up, so the wait is
    /// at most [`BACKOFF_MAX`] (or its `Retry-After`); else at most [`FAILBACK_MAX`].
    fn ready_at(&self, alone: bool) -> Option<Instant> {
        let failed = self.failed_at?;
        let wait = match self.retry_after {
            Some(r) => r.max(BACKOFF_MIN),
            None if alone => self.backoff.min(BACKOFF_MAX),
            None => self.backoff.min(FAILBACK_MAX),
        };
        Some(failed + wait)
    }

    /// A send found it away at `now`.
    pub fn failed(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.backoff = match self.failed_at {
            Some(_) => (self.backoff * 2).clamp(BACKOFF_MIN, FAILBACK_MAX),
            None => BACKOFF_MIN,
        };
        self.failed_at = Some(now);
        self.retry_after = retry_after;
    }

    /// It answered (any answer but "away"); true if it was down.
    pub fn answered(&mut self) -> bool {
        self.backoff = Duration::ZERO;
        self.retry_after = None;
        self.failed_at.take().is_some()
    }
}

/// The collector for the next send at `now`, by index into `health` (which is in the
/// gateway's order of preference): the first that is up or whose wait is over, so a better
/// collector is returned to as soon as its wait ends; else `Err` with the instant the first
/// wait ends.
pub(crate) fn choose(health: &[Health], now: Instant) -> Result<usize, Instant> {
    let alone = !health.iter().any(Health::is_up);
    let mut soonest: Option<Instant> = None;
    for (i, h) in health.iter().enumerate() {
        match h.ready_at(alone) {
            Some(t) if t > now => soonest = Some(soonest.map_or(t, |s| s.min(t))),
            _ => return Ok(i),
        }
    }
    Err(soonest.unwrap_or(now))
}

/// The gateway's order of preference over `names` (indices into it): as listed, or by
/// rendezvous hashing of `node` with each name (highest score first), so that gateways with
/// one configuration file spread over the collectors and, when one fails, its gateways
/// spread over the rest. The hash is FNV-1a with a final mix: fixed, so a gateway keeps its
/// order across restarts and releases.
pub(crate) fn preference(names: &[&str], node: &str, order: crate::CollectorOrder) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    if order == crate::CollectorOrder::Spread {
        let score = |name: &str| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in node.bytes().chain([0]).chain(name.bytes()) {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            // splitmix64's finalizer: FNV alone leaves the high bits poorly mixed.
            h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            h ^ (h >> 31)
        };
        idx.sort_by_key(|&i| (std::cmp::Reverse(score(names[i])), i));
    }
    idx
}

/// The sender's state; see the module doc.
pub(crate) struct Sender {
    /// The collectors, in this gateway's order of preference.
    targets: Vec<Target>,
    /// Their health, index for index.
    health: Vec<Health>,
    /// The collector the last answered batch went to.
    in_use: Option<usize>,
    /// Set while every collector is away (batches go to the spool): logged once per outage.
    all_away: bool,
    /// Nothing is sent before this (a spool file that could not be read).
    hold_until: Option<Instant>,
    spool: Spool,
    pending: VecDeque<(u64, Batch)>,
    metrics: Arc<Metrics>,
    /// Told when a batch's records are handed on (see `journal.rs`).
    journal: Option<Arc<Journal>>,
}

impl Sender {
    /// `targets` in the order of preference (see [`preference`]); at least one.
    pub fn new(targets: Vec<Target>, spool: Spool, metrics: Arc<Metrics>) -> Sender {
        metrics.set_collectors(targets.iter().map(|t| t.name.clone()).collect());
        Sender {
            health: vec![Health::default(); targets.len()],
            targets,
            in_use: None,
            all_away: false,
            hold_until: None,
            spool,
            pending: VecDeque::new(),
            metrics,
            journal: None,
        }
    }

    /// Hands the records of each batch on to `journal` once they are delivered, refused for
    /// good, spooled or dropped.
    pub fn with_journal(mut self, journal: Option<Arc<Journal>>) -> Sender {
        self.journal = journal;
        self
    }

    fn handed_on(&self, refs: &Refs) {
        if let Some(j) = self.journal.as_ref().filter(|_| !refs.is_empty()) {
            j.release(refs);
        }
    }

    /// Sends batches from `rx` until it closes, then flushes (see the module doc).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Batch>) {
        if !self.spool.is_empty() {
            info!(
                batches = self.spool.len(),
                "spool holds batches from before; replaying them"
            );
        }
        let mut in_flight: Option<InFlight> = None;
        let mut open = true;
        loop {
            let mut wait_for_retry = None;
            if open && in_flight.is_none() && self.has_work() {
                match self.next_target() {
                    Ok(to) => in_flight = self.start_next(to),
                    Err(t) => wait_for_retry = Some(t),
                }
            }
            if !open && in_flight.is_none() {
                break;
            }
            tokio::select! {
                b = rx.recv(), if open => match b {
                    Some(batch) => self.accept(batch).await,
                    None => open = false,
                },
                (to, sent, verdict) = wait_in_flight(&mut in_flight) => {
                    in_flight = None;
                    self.settle(to, sent, verdict).await;
                }
                () = sleep_until_opt(wait_for_retry) => {}
            }
        }
        self.finish().await;
    }

    /// The collector to send to now, or when to look again.
    fn next_target(&self) -> Result<usize, Instant> {
        let now = Instant::now();
        if let Some(t) = self.hold_until.filter(|t| *t > now) {
            return Err(t);
        }
        choose(&self.health, now)
    }

    fn has_work(&self) -> bool {
        !self.pending.is_empty() || !self.spool.is_empty()
    }

    /// A new batch from the batcher or the sampler.
    async fn accept(&mut self, batch: Batch) {
        let seq = self.spool.next_seq();
        // Not gated on a collector being up: while all are away with an empty spool (a spool
        // too small or failing), these batches are what probes them when the backoff ends.
        if self.spool.is_empty() && self.pending.len() < PENDING_MAX {
            self.pending.push_back((seq, batch));
        } else {
            self.spool_batch(seq, batch).await;
        }
    }

    /// Starts sending the oldest batch, wherever it waits, to collector `to`.
    fn start_next(&mut self, to: usize) -> Option<InFlight> {
        let pending = self.pending.front().map(|(s, _)| *s);
        let spooled = self.spool.first().map(|(s, e)| (s, e.kind, e.id));
        let collector = self.targets[to].collector.clone();
        let oldest_is_spooled = match (pending, spooled) {
            (Some(p), Some((s, _, _))) => s < p,
            (None, Some(_)) => true,
            _ => false,
        };
        match spooled {
            Some((seq, kind, id)) if oldest_is_spooled => {
                let path = self.spool.path(seq)?;
                Some(Box::pin(async move {
                    let loaded = tokio::task::spawn_blocking(move || spool::load(&path))
                        .await
                        .unwrap_or_else(|e| Err(LoadError::Io(io::Error::other(e.to_string()))));
                    match loaded {
                        Ok(l) => {
                            let verdict = collector.post(kind, id, l.body.clone(), true).await;
                            (
                                to,
                                Sent::Spooled {
                                    seq,
                                    kind,
                                    count: l.count,
                                    body: l.body,
                                },
                                Some(verdict),
                            )
                        }
                        Err(error) => (to, Sent::Unreadable { seq, error }, None),
                    }
                }))
            }
            _ => {
                let (seq, batch) = self.pending.pop_front()?;
                Some(Box::pin(async move {
                    let verdict = collector
                        .post(batch.kind, batch.id, batch.body.clone(), batch.replay)
                        .await;
                    (to, Sent::Fresh { seq, batch }, Some(verdict))
                }))
            }
        }
    }

    /// Acts on the answer to one send.
    async fn settle(&mut self, to: usize, sent: Sent, verdict: Option<Verdict>) {
        let (seq, kind, count, fresh, body, replay) = match sent {
            Sent::Unreadable {
                seq,
                error: LoadError::Corrupt(why),
            } => {
                error!(seq, reason = %why, "spool file is corrupt; moved to corrupt/");
                self.spool.quarantine(seq).await;
                return;
            }
            Sent::Unreadable {
                seq,
                error: LoadError::Io(e),
            } => {
                if e.kind() == io::ErrorKind::NotFound {
                    warn!(seq, "spool file vanished; forgetting it");
                    self.spool.forget(seq);
                } else {
                    error!(seq, error = %e, "cannot read a spool file; will retry");
                    self.hold_until = Some(Instant::now() + BACKOFF_MAX);
                }
                return;
            }
            Sent::Fresh { seq, batch } => {
                let body = batch.body.clone();
                (seq, batch.kind, batch.count, Some(batch), body, false)
            }
            Sent::Spooled {
                seq,
                kind,
                count,
                body,
            } => (seq, kind, count, None, body, true),
        };
        let Some(mut verdict) = verdict else { return };
        if let Verdict::Rejected {
            status: status @ (404 | 405),
            ..
        } = verdict
        {
            // No ingest endpoint at this URL: with one collector nothing can take the batch
            // (see `classify`), but with several it says nothing of the batch, only of this
            // collector's URL, and the next one can take it.
            if self.targets.len() > 1 {
                verdict = Verdict::Away {
                    retry_after: None,
                    why: format!("collector answered {status}: no ingest endpoint at this URL"),
                };
            }
        }
        match verdict {
            Verdict::Rejected { status: 413, .. } => {
                self.answered(to);
                if fresh.is_none() {
                    self.spool.remove(seq).await;
                }
                let body_replay = fresh.as_ref().map_or(replay, |b| b.replay);
                let refs = fresh
                    .as_ref()
                    .map(|b| b.journal.clone())
                    .unwrap_or_default();
                let halves =
                    tokio::task::spawn_blocking(move || split_batch(kind, &body, body_replay))
                        .await
                        .ok()
                        .flatten();
                match halves {
                    Some((a, mut b)) => {
                        // The second half is settled last: it hands the records on.
                        b.journal = refs;
                        warn!(seq, kind = kind.as_str(), lines = count, "collector refused a batch as too large (413); sending it again in two halves");
                        self.metrics.batches_split.fetch_add(1, Relaxed);
                        // Sent next, first half first; a new number keeps the spool's order
                        // should they be spooled.
                        let (sa, sb) = (self.spool.next_seq(), self.spool.next_seq());
                        self.pending.push_front((sb, b));
                        self.pending.push_front((sa, a));
                    }
                    None => {
                        error!(
                            seq,
                            kind = kind.as_str(),
                            lines = count,
                            "collector refused a single record as too large (413); dropped"
                        );
                        self.metrics.batches_rejected.fetch_add(1, Relaxed);
                        self.count_lost(kind, count, DropReason::TooLarge);
                        self.handed_on(&refs);
                    }
                }
            }
            Verdict::Delivered { partial } => {
                self.answered(to);
                let m = &self.metrics;
                // Batches reach the collector again: nothing is being dropped for the spool.
                m.spool_full.store(false, Relaxed);
                match kind {
                    Kind::Records => m.records_shipped.fetch_add(count as u64, Relaxed),
                    Kind::Samples => m.samples_shipped.fetch_add(count as u64, Relaxed),
                };
                if partial {
                    m.batches_partial.fetch_add(1, Relaxed);
                } else {
                    m.batches_shipped.fetch_add(1, Relaxed);
                }
                if let Some(b) = &fresh {
                    self.handed_on(&b.journal);
                } else {
                    self.spool.remove(seq).await;
                }
            }
            Verdict::Rejected { status, answer } => {
                error!(seq, kind = kind.as_str(), status, answer = %answer, lines = count, collector = %self.targets[to].name, "collector refused a batch as bad; not resending");
                self.answered(to);
                self.metrics.batches_rejected.fetch_add(1, Relaxed);
                self.count_lost(kind, count, DropReason::Rejected);
                if let Some(b) = &fresh {
                    self.handed_on(&b.journal);
                } else {
                    self.spool.remove(seq).await;
                }
            }
            Verdict::Away { retry_after, why } => {
                self.metrics.ship_errors.fetch_add(1, Relaxed);
                let now = Instant::now();
                let was_up = self.health[to].is_up();
                self.health[to].failed(now, retry_after);
                self.metrics.collector_up(to, false);
                let from = &self.targets[to].name;
                match choose(&self.health, now) {
                    Ok(next) => {
                        // Fail over at once. The batch may have reached `from` (no answer
                        // within the timeout, a connection cut after the body went out), so
                        // it goes with the replay mark: the next collector checks the markers
                        // in ClickHouse before inserting it. A spooled batch stays where it
                        // is and is sent next (always with the mark).
                        let into = &self.targets[next].name;
                        if was_up || self.in_use == Some(to) {
                            warn!(collector = %from, reason = %why, next = %into, "collector is away; failing over to the next collector");
                        } else {
                            debug!(collector = %from, reason = %why, next = %into, "collector still away");
                        }
                        self.metrics.collector_failover(to);
                        if let Some(mut batch) = fresh {
                            batch.replay = true;
                            self.pending.push_front((seq, batch));
                        }
                    }
                    Err(_) => {
                        if self.all_away {
                            debug!(collector = %from, reason = %why, "collector still away");
                        } else {
                            self.all_away = true;
                            let n = self.targets.len();
                            if n == 1 {
                                warn!(collector = %from, reason = %why, "collector is away; spooling batches");
                            } else {
                                warn!(collector = %from, reason = %why, collectors = n, "every collector is away; spooling batches");
                            }
                        }
                        if let Some(batch) = fresh {
                            self.spool_batch(seq, batch).await;
                        }
                        while let Some((seq, batch)) = self.pending.pop_front() {
                            self.spool_batch(seq, batch).await;
                        }
                    }
                }
            }
        }
    }

    /// Collector `to` answered (delivered, or refused the batch for what it is).
    fn answered(&mut self, to: usize) {
        let was_down = self.health[to].answered();
        self.metrics.collector_up(to, true);
        let name = &self.targets[to].name;
        if std::mem::take(&mut self.all_away) {
            info!(
                collector = %name,
                spooled_batches = self.spool.len(),
                "collector is reachable again"
            );
        } else if was_down {
            info!(collector = %name, "collector answers again; using it");
        }
        if self.in_use != Some(to) {
            if let Some(prev) = self.in_use {
                info!(collector = %name, previous = %self.targets[prev].name, "now sending to this collector");
            }
            self.in_use = Some(to);
            self.metrics.collector_in_use(to);
        }
    }

    async fn spool_batch(&mut self, seq: u64, batch: Batch) {
        let result = self.spool.append(seq, &batch).await;
        // Spooled (the spool's fsynced file holds the records now) or dropped and counted.
        self.handed_on(&batch.journal);
        match result {
            Ok(()) => {
                if batch.kind == Kind::Records {
                    self.metrics
                        .records_spooled
                        .fetch_add(batch.count as u64, Relaxed);
                }
            }
            Err(AppendError::Full) => {
                warn!(
                    seq,
                    kind = batch.kind.as_str(),
                    lines = batch.count,
                    "spool is full; batch dropped"
                );
                self.count_lost(batch.kind, batch.count, DropReason::SpoolFull);
            }
            Err(AppendError::Io(e)) => {
                error!(seq, kind = batch.kind.as_str(), lines = batch.count, error = %e, "cannot write to the spool; batch dropped");
                self.count_lost(batch.kind, batch.count, DropReason::SpoolError);
            }
        }
    }

    fn count_lost(&self, kind: Kind, count: usize, reason: DropReason) {
        match kind {
            Kind::Records => self.metrics.count_dropped(reason, count as u64),
            Kind::Samples => {
                self.metrics
                    .samples_dropped
                    .fetch_add(count as u64, Relaxed);
            }
        }
    }

    /// Shutdown: batches still in memory are sent if that keeps the order and a collector is
    /// not known to be away (the first such in the order of preference); else spooled.
    async fn finish(mut self) {
        while let Some((seq, batch)) = self.pending.pop_front() {
            let older_spooled = self.spool.first().is_some_and(|(s, _)| s < seq);
            let up = self.health.iter().position(Health::is_up);
            let Some(to) = up.filter(|_| !older_spooled) else {
                self.spool_batch(seq, batch).await;
                continue;
            };
            let verdict = self.targets[to]
                .collector
                .post(batch.kind, batch.id, batch.body.clone(), batch.replay)
                .await;
            self.settle(to, Sent::Fresh { seq, batch }, Some(verdict))
                .await;
        }
        if !self.spool.is_empty() {
            info!(
                batches = self.spool.len(),
                "shipper stopped with batches in the spool; they are sent after the next start"
            );
        }
    }
}

async fn wait_in_flight(f: &mut Option<InFlight>) -> (usize, Sent, Option<Verdict>) {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_answers_are_classified() {
        let table = [
            (200, Class::Delivered),
            (202, Class::Delivered),
            (207, Class::Partial),
            (400, Class::Rejected),
            (404, Class::Rejected),
            (413, Class::Rejected),
            (415, Class::Rejected),
            (422, Class::Rejected),
            (401, Class::Away),
            // registered_nodes_only: kept in the spool until the node registers.
            (403, Class::Away),
            (408, Class::Away),
            (429, Class::Away),
            (500, Class::Away),
            (502, Class::Away),
            (503, Class::Away),
            (301, Class::Away),
        ];
        for (status, want) in table {
            assert_eq!(
                classify(StatusCode::from_u16(status).unwrap()),
                want,
                "{status}"
            );
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_first_collector_that_answers_is_used_and_a_better_one_returned_to() {
        let t0 = Instant::now();
        let mut h = vec![Health::default(); 3];
        assert_eq!(choose(&h, t0), Ok(0));
        // The primary fails: the next one takes the batch at once.
        h[0].failed(t0, None);
        assert_eq!(choose(&h, t0), Ok(1));
        // Its wait over, the primary is tried again (and kept when it answers).
        assert_eq!(choose(&h, t0 + ms(249)), Ok(1));
        assert_eq!(choose(&h, t0 + ms(250)), Ok(0));
        assert!(h[0].answered());
        assert!(!h[0].answered());
        assert_eq!(choose(&h, t0), Ok(0));
        // Two down: the third.
        h[0].failed(t0, None);
        h[1].failed(t0, None);
        assert_eq!(choose(&h, t0), Ok(2));
    }

    #[test]
    fn a_failed_collector_waits_longer_while_another_answers() {
        let t0 = Instant::now();
        let mut h = vec![Health::default(); 2];
        // Eight failures in a row: 250 ms doubling is past both caps.
        for _ in 0..9 {
            h[0].failed(t0, None);
        }
        assert_eq!(h[0].backoff, FAILBACK_MAX);
        // The other answers: the failed one waits the long cap before it is tried again ...
        assert_eq!(choose(&h, t0 + FAILBACK_MAX - ms(1)), Ok(1));
        assert_eq!(choose(&h, t0 + FAILBACK_MAX), Ok(0));
        // ... but with none answering, the short cap, as with a single collector.
        h[1].failed(t0, None);
        assert_eq!(choose(&h, t0), Err(t0 + ms(250)));
        assert_eq!(choose(&h, t0 + ms(250)), Ok(1));
        let mut one = vec![Health::default()];
        for _ in 0..9 {
            one[0].failed(t0, None);
        }
        assert_eq!(choose(&one, t0), Err(t0 + BACKOFF_MAX));
        assert_eq!(choose(&one, t0 + BACKOFF_MAX), Ok(0));
    }

    #[test]
    fn one_collectors_retry_after_stalls_no_other() {
        let t0 = Instant::now();
        let mut h = vec![Health::default(); 2];
        h[0].failed(t0, Some(Duration::from_secs(60)));
        assert_eq!(choose(&h, t0), Ok(1));
        assert_eq!(choose(&h, t0 + Duration::from_secs(59)), Ok(1));
        assert_eq!(choose(&h, t0 + Duration::from_secs(60)), Ok(0));
        // Both away: the one without a long Retry-After is tried first.
        h[1].failed(t0, None);
        assert_eq!(choose(&h, t0), Err(t0 + ms(250)));
        // A Retry-After is obeyed even past the short cap, and at least the shortest wait.
        let mut one = vec![Health::default()];
        one[0].failed(t0, Some(Duration::from_secs(30)));
        assert_eq!(choose(&one, t0), Err(t0 + Duration::from_secs(30)));
        one[0].failed(t0, Some(Duration::ZERO));
        assert_eq!(choose(&one, t0), Err(t0 + BACKOFF_MIN));
    }

    #[test]
    fn spread_ranks_collectors_by_node_and_listed_keeps_the_list() {
        use crate::CollectorOrder::{Listed, Spread};
        let names = ["http://c1:8091", "http://c2:8091", "http://c3:8091"];
        assert_eq!(preference(&names, "gw1", Listed), [0, 1, 2]);
        let p = preference(&names, "gw1", Spread);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2]);
        // The same node ranks the same way every time.
        assert_eq!(preference(&names, "gw1", Spread), p);
        // Many gateways with one file spread over the collectors...
        let mut first = [0usize; 3];
        for n in 0..300 {
            first[preference(&names, &format!("gw{n}"), Spread)[0]] += 1;
        }
        assert!(first.iter().all(|&f| f >= 60), "{first:?}");
        // ... and losing one collector from the list moves only the gateways that preferred it
        // (rendezvous hashing), which spread over the others.
        let two = [names[0], names[2]];
        let mut moved = [0usize; 2];
        for n in 0..300 {
            let node = format!("gw{n}");
            let before = names[preference(&names, &node, Spread)[0]];
            let after = two[preference(&two, &node, Spread)[0]];
            if before != names[1] {
                assert_eq!(before, after, "{node}");
            } else {
                moved[usize::from(after == names[2])] += 1;
            }
        }
        assert!(moved.iter().all(|&m| m >= 20), "{moved:?}");
    }

    fn lines_of(b: &Batch) -> Vec<String> {
        let raw = zstd::stream::decode_all(&b.body[..]).unwrap();
        String::from_utf8(raw)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[allow(clippy::vec_box)]
    fn events(n: usize) -> Vec<Box<CallEvent>> {
        (0..n)
            .map(|i| {
                let mut e = crate::recorder::tests::event();
                e.uri = format!("/r/{i:04}").parse().unwrap();
                Box::new(e)
            })
            .collect()
    }

    #[test]
    fn batches_are_cut_by_bytes_and_a_record_too_large_alone_is_dropped() {
        let one = encode_records(events(1), "gw", usize::MAX, None).unwrap();
        let line = lines_of(&one.batches[0])[0].len() + 1;
        // Room for two lines and a half: batches of 2, 2, 2, 1; nothing lost, order kept.
        let e = encode_records(events(7), "gw", line * 5 / 2, None).unwrap();
        assert_eq!(e.too_large, 0);
        let counts: Vec<usize> = e.batches.iter().map(|b| b.count).collect();
        assert_eq!(counts, [2, 2, 2, 1]);
        let all: Vec<String> = e.batches.iter().flat_map(lines_of).collect();
        assert_eq!(all.len(), 7);
        for (i, l) in all.iter().enumerate() {
            assert!(l.contains(&format!("\"/r/{i:04}\"")), "{i}: {l}");
        }
        for b in &e.batches {
            let raw = zstd::stream::decode_all(&b.body[..]).unwrap();
            assert!(raw.len() <= line * 5 / 2);
            assert_eq!(b.count, lines_of(b).len());
        }
        // One record longer than the limit on its own: dropped, counted, the rest shipped.
        let mut evs = events(3);
        evs[1].error = std::borrow::Cow::Owned("e".repeat(3000));
        let e = encode_records(evs, "gw", line * 2, None).unwrap();
        assert_eq!(e.too_large, 1);
        let all: Vec<String> = e.batches.iter().flat_map(lines_of).collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].contains("/r/0000") && all[1].contains("/r/0002"));
    }

    #[test]
    fn a_split_batch_keeps_every_line_in_order() {
        for (text, halves) in [
            ("a\nb\nc\nd\ne\n", Some((2, 3))),
            ("a\nb\n", Some((1, 1))),
            ("a\nb", Some((1, 1))),
            ("a\n", None),
            ("", None),
        ] {
            let body = compress(text.as_bytes()).unwrap();
            let got = split_batch(Kind::Records, &body, true);
            match (got, halves) {
                (None, None) => {}
                (Some((x, y)), Some((nx, ny))) => {
                    assert_eq!((x.count, y.count), (nx, ny), "{text:?}");
                    assert!(x.replay && y.replay);
                    assert_ne!(x.id, y.id);
                    let mut joined = zstd::stream::decode_all(&x.body[..]).unwrap();
                    joined.extend(zstd::stream::decode_all(&y.body[..]).unwrap());
                    assert_eq!(String::from_utf8(joined).unwrap(), text);
                }
                (got, want) => panic!("{text:?}: {got:?} vs {want:?}"),
            }
        }
        assert!(split_batch(Kind::Records, b"not zstd", false).is_none());
    }

    #[test]
    fn a_batch_body_is_checksummed_ndjson() {
        let s = NodeSample {
            ts_us: 1_764_000_000_000_000,
            node: "gw1".into(),
            role: "gateway".into(),
            cpu_pct: 1.5,
            mem_used_bytes: 1,
            mem_total_bytes: 2,
            rss_bytes: 3,
            disks: vec![],
            backlog: Default::default(),
        };
        let b = encode_samples(&[s.clone(), s]).unwrap();
        assert_eq!((b.kind, b.count), (Kind::Samples, 2));
        let raw = zstd::stream::decode_all(&b.body[..]).unwrap();
        let d = ndjson::decode_lines::<NodeSample>(&raw);
        assert_eq!((d.values.len(), d.errors.len()), (2, 0));
        // Frame header descriptor: bit 2 is the content-checksum flag.
        assert_eq!(b.body[4] & 0b100, 0b100);
    }
}
