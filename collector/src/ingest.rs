//! The HTTP side: `POST /v1/records`, `POST /v1/node-samples`, health and metrics.
//!
//! Answers (see the README): 200 all lines stored; 207 some lines rejected (listed) and the
//! good ones stored — do not resend; 400/413/415 nothing stored — fix the request; 401 without
//! the ingest token — nothing read; 503 with `Retry-After` when the write-ahead log is full or
//! every decode slot is busy — resend later. "Stored" means fsynced to the write-ahead log; the
//! inserter takes it to ClickHouse from there.
//!
//! Order of the checks, cheapest first, so that a request that will be refused costs little:
//! the token (before a byte of the body is read), the headers, a decode slot (at most
//! [`DECODE_SLOTS`] requests read, decode and log their bodies at once), then the body itself
//! under [`decode::Limits`].

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use gatewatch_model::ndjson::Validate;
use gatewatch_model::{CallRecord, LineError, NodeSample, BATCH_ID_HEADER, REPLAY_HEADER};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use crate::bounds::{Bounded, TimeWindow};
use crate::decode::{self, BodyError};
use crate::metrics::Metrics;
use crate::wal::{AppendError, Kind, Wal, FLAG_MAYBE_STORED};
use crate::Batch;

/// Requests that may read, decode and log their bodies at once. Decoding is CPU work and its
/// memory is per request (see [`decode::decode_stream`]), so this bounds both; a request waits
/// up to [`DECODE_WAIT`] for a slot, then gets 503 with `Retry-After`.
pub const DECODE_SLOTS: usize = 4;
/// Longest wait for a decode slot.
pub const DECODE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) struct AppState {
    pub wal: Wal<Batch>,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    /// The bearer token senders must present.
    pub token: String,
    pub decode_slots: Arc<tokio::sync::Semaphore>,
    /// `[collector] max_record_age`.
    pub max_record_age: std::time::Duration,
    /// What `/metrics` renders (the role's series and [`crate::metrics::Figures`]).
    pub registry: Arc<gatewatch_listen::metrics::Registry>,
    /// `[collector] registered_nodes_only`: the nodes the registry knows.
    pub registered: Option<Arc<crate::registered::Registered>>,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/records", post(post_records))
        .route("/v1/node-samples", post(post_samples))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn post_records(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest::<CallRecord>(st, headers, body, Kind::Calls, Batch::Calls).await
}

async fn post_samples(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest::<NodeSample>(st, headers, body, Kind::NodeSamples, Batch::Samples).await
}

async fn ingest<T>(
    st: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
    wrap: fn(Vec<T>) -> Batch,
) -> Response
where
    T: DeserializeOwned + Validate + Bounded + Send + 'static,
{
    if !authorized(&st.token, &headers) {
        Metrics::add(&st.metrics.requests_unauthorized, 1);
        let mut r = error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the collector's ingest token as 'Authorization: Bearer <token>' ([security] ingest_token, or the one derived from the site pepper)",
            None,
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"gatewatch ingest\""),
        );
        return r;
    }
    let head = match check_headers(&headers) {
        Ok(h) => h,
        Err(e) => {
            Metrics::add(&st.metrics.requests_rejected, 1);
            return body_error(&e);
        }
    };
    // Held until the batch is in the log: what one request holds in memory is bounded, so
    // these slots bound it for all.
    let slot =
        match tokio::time::timeout(DECODE_WAIT, st.decode_slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                Metrics::add(&st.metrics.requests_busy, 1);
                return retry_later(
                    "busy",
                    &format!("{DECODE_SLOTS} requests are being decoded already; retry later"),
                    "1",
                );
            }
        };
    let prepared = match prepare::<T>(&st, head, body, slot).await {
        Ok(p) => p,
        Err(e) => {
            Metrics::add(&st.metrics.requests_rejected, 1);
            if let BodyError::NoValidLine { rejected, .. } = &e {
                Metrics::add(&st.metrics.lines_rejected, *rejected as u64);
            }
            return body_error(&e);
        }
    };
    let (batch_id, flags, mut decoded, slot) = prepared;
    if let Some(refused) = unregistered(&st, &decoded.values) {
        drop(slot);
        Metrics::add(&st.metrics.requests_unregistered, 1);
        return refused;
    }
    let accepted = decoded.values.len();
    let rejected = decoded.rejected;
    let ignored = std::mem::take(&mut decoded.ignored_fields);
    if !ignored.is_empty() {
        Metrics::add(&st.metrics.requests_unknown_fields, 1);
        warn_ignored(&ignored);
    }
    if accepted == 0 {
        drop(slot);
        Metrics::add(&st.metrics.requests_ok, 1);
        return answer(StatusCode::OK, json!({"accepted": 0, "rejected": 0}));
    }
    let payload_bytes = decoded.payload.len() as u64;
    let appended = st
        .wal
        .append(
            kind,
            batch_id,
            flags,
            accepted as u32,
            decoded.payload,
            Some(Arc::new(wrap(decoded.values))),
        )
        .await;
    drop(slot);
    match appended {
        Ok(_) => {}
        Err(AppendError::Duplicate(_)) => {
            Metrics::add(&st.metrics.requests_duplicate, 1);
            return answer(
                StatusCode::OK,
                json!({"accepted": accepted, "rejected": rejected, "duplicate": true}),
            );
        }
        Err(AppendError::Full { used, max }) => {
            Metrics::add(&st.metrics.requests_wal_full, 1);
            return retry_later(
                "wal_full",
                &format!("write-ahead log is full ({used} of {max} bytes): ClickHouse is behind; retry later"),
                "5",
            );
        }
        Err(AppendError::Wal(e)) => {
            tracing::error!(error = %e, "cannot write batch to the write-ahead log");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "wal_error",
                &e.to_string(),
                None,
            );
        }
    }
    Metrics::add(&st.metrics.lines_accepted, accepted as u64);
    let k = usize::from(kind == Kind::NodeSamples);
    st.metrics.batch_records[k].observe(accepted as u64);
    st.metrics.batch_bytes[k].observe(payload_bytes);
    let (status, mut body) = if rejected == 0 {
        Metrics::add(&st.metrics.requests_ok, 1);
        (StatusCode::OK, json!({"accepted": accepted, "rejected": 0}))
    } else {
        Metrics::add(&st.metrics.requests_partial, 1);
        Metrics::add(&st.metrics.lines_rejected, rejected as u64);
        (
            StatusCode::MULTI_STATUS,
            json!({
                "accepted": accepted,
                "rejected": rejected,
                "errors": listed(&decoded.errors),
            }),
        )
    };
    if rejected > decoded.errors.len() {
        body["errors_not_listed"] = json!(rejected - decoded.errors.len());
    }
    if !ignored.is_empty() {
        body["ignored_fields"] = json!(ignored);
    }
    answer(status, body)
}

/// `[collector] registered_nodes_only`: the refusal for a batch naming a node the registry
/// does not know (403, whole: nothing of it is stored), or 503 while the registry was never
/// read; `None` lets the batch through.
fn unregistered<T: Bounded>(st: &AppState, values: &[T]) -> Option<Response> {
    use crate::registered::Verdict;
    match st.registered.as_ref()?.check(values.iter().map(|v| v.node())) {
        Verdict::Known => None,
        Verdict::Unknown(node) => {
            tracing::debug!(node = %node, "batch from a node the registry does not know; refused");
            let message = format!(
                "node {node:?} is not registered: a node's batches are taken once one of its processes has written a heartbeat ([collector] registered_nodes_only)"
            );
            Some(answer(
                StatusCode::FORBIDDEN,
                json!({"error": {"code": "node_not_registered", "field": "node", "node": node, "message": message}}),
            ))
        }
        Verdict::NotLoaded => Some(retry_later(
            "registry_unavailable",
            "the node registry could not be read yet ([collector] registered_nodes_only); retry later",
            "5",
        )),
    }
}

/// The batch id, the log flags, the decoded body, and the decode slot, still held.
type Prepared<T> = (
    Uuid,
    u8,
    decode::Decoded<T>,
    tokio::sync::OwnedSemaphorePermit,
);

/// What the headers say about the body.
struct Head {
    encoding: decode::Encoding,
    batch_id: Uuid,
    flags: u8,
}

/// Whether the request carries `Authorization: Bearer <token>` (compared in constant time).
/// 503 with `Retry-After: secs`: nothing was stored, the same request may pass later.
fn retry_later(code: &str, message: &str, secs: &'static str) -> Response {
    let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, code, message, None);
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static(secs));
    r
}

fn authorized(token: &str, headers: &HeaderMap) -> bool {
    // An empty token would let anyone in: `bind` refuses to start without one.
    if token.is_empty() {
        return false;
    }
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = v.trim().splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(presented)) if scheme.eq_ignore_ascii_case("bearer") => {
            gatewatch_model::secret::tokens_match(token, presented.trim())
        }
        _ => false,
    }
}

fn check_headers(headers: &HeaderMap) -> Result<Head, BodyError> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    decode::check_content_type(text(header::CONTENT_TYPE))?;
    let encoding = decode::parse_encoding(text(header::CONTENT_ENCODING))?;
    let batch_id = match headers.get(BATCH_ID_HEADER) {
        None => Uuid::now_v7(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| Uuid::parse_str(s.trim()).ok())
            .filter(|u| !u.is_nil())
            .ok_or_else(|| BodyError::BadHeader {
                header: BATCH_ID_HEADER,
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })?,
    };
    let flags = match headers.get(REPLAY_HEADER) {
        Some(v) if v.as_bytes() != b"0" => FLAG_MAYBE_STORED,
        _ => 0,
    };
    Ok(Head {
        encoding,
        batch_id,
        flags,
    })
}

async fn prepare<T>(
    st: &AppState,
    head: Head,
    body: Body,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Result<Prepared<T>, BodyError>
where
    T: DeserializeOwned + Validate + Bounded + Send + 'static,
{
    let raw = axum::body::to_bytes(body, st.max_body_bytes)
        .await
        .map_err(|e| {
            // Over the limit, or the sender went away (then nobody reads the answer).
            let over = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .any(|e| e.to_string().contains("length limit exceeded"));
            if over {
                BodyError::TooLarge {
                    limit: st.max_body_bytes,
                    decompressed: false,
                }
            } else {
                BodyError::Corrupt {
                    encoding: "body",
                    detail: format!("cannot read it: {e}"),
                }
            }
        })?;
    let limits = decode::Limits::new(st.max_decoded_bytes);
    // Replays are exempt from the age bound: a collector outage longer than max_record_age
    // must lose nothing.
    let window = TimeWindow::now(st.max_record_age, head.flags & FLAG_MAYBE_STORED != 0);
    let encoding = head.encoding;
    // Decompressing and decoding are CPU work: keep them off the I/O threads. The slot goes
    // with the work, so a sender that hangs up does not free it while the decoding goes on.
    let (decoded, slot) = tokio::task::spawn_blocking(move || {
        let decode = || -> Result<decode::Decoded<T>, BodyError> {
            // A guess at the decoded size, so the buffer need not grow from nothing; capped,
            // as the body's ratio is the sender's to choose.
            let hint = raw.len().saturating_mul(8).min(32 << 20);
            let reader = decode::decoder(&raw, encoding)?;
            decode::decode_stream(reader, encoding, limits, hint, |v: &T| {
                window.check_record(v)
            })
        };
        (decode(), slot)
    })
    .await
    .map_err(|e| BodyError::Corrupt {
        encoding: "body",
        detail: e.to_string(),
    })?;
    Ok((head.batch_id, head.flags, decoded?, slot))
}

/// Warns once per new set of unknown fields (a newer sender: upgrade this collector), not on
/// every batch.
fn warn_ignored(fields: &[String]) {
    static LAST: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut last) = LAST.lock() else { return };
    if last.as_slice() != fields {
        tracing::warn!(
            ?fields,
            "records have fields this collector does not know (a newer sender?); stored without them until the collector is upgraded"
        );
        *last = fields.to_vec();
    }
}

fn listed(errors: &[LineError]) -> Vec<&LineError> {
    errors.iter().take(decode::MAX_LISTED_ERRORS).collect()
}

fn body_error(e: &BodyError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match e {
        BodyError::NoValidLine { errors, rejected } => {
            let mut err =
                json!({"code": e.code(), "message": e.to_string(), "errors": listed(errors)});
            err["rejected"] = json!(rejected);
            if *rejected > errors.len() {
                err["errors_not_listed"] = json!(rejected - errors.len());
            }
            answer(status, json!({ "error": err }))
        }
        _ => error_response(status, e.code(), &e.to_string(), None),
    }
}

fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    lines: Option<Vec<&LineError>>,
) -> Response {
    let mut err = json!({"code": code, "message": message});
    if let Some(lines) = lines {
        err["errors"] = json!(lines);
    }
    answer(status, json!({ "error": err }))
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    let wal_full = st.wal.disk_bytes() >= st.wal.max_bytes();
    let ch_down = st.metrics.clickhouse_down();
    if wal_full {
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "wal_full",
            "write-ahead log is full",
            None,
        )
    } else if ch_down {
        // Still accepting (into the log), but an operator wants to know.
        answer(
            StatusCode::OK,
            json!({"status": "degraded", "clickhouse": "down"}),
        )
    } else {
        answer(StatusCode::OK, json!({"status": "ready"}))
    }
}

async fn metrics(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (ctype, body) = gatewatch_listen::metrics::render(&st.registry, accept);
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}
