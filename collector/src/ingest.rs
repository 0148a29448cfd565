//! The HTTP side: `POST /v1/records`, `POST /v1/node-samples`, health and metrics.
//!
//! Answers (see the README): 200 all lines stored; 207 some lines rejected (listed) and the
//! good ones stored — do not resend; 400/413/415 nothing stored — fix the request; 503 with
//! `Retry-After` when the write-ahead log is full — resend later. "Stored" means fsynced to the
//! write-ahead log; the inserter takes it to ClickHouse from there.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use gatewatch_model::ndjson::Validate;
use gatewatch_model::{CallRecord, LineError, NodeSample, BATCH_ID_HEADER, REPLAY_HEADER};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use crate::decode::{self, BodyError};
use crate::metrics::Metrics;
use crate::wal::{AppendError, Kind, Wal, FLAG_MAYBE_STORED};
use crate::Batch;

/// At most this many rejected lines are listed in an answer (the count is always given).
const MAX_LISTED_ERRORS: usize = 100;

pub(crate) struct AppState {
    pub wal: Wal<Batch>,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
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
    T: DeserializeOwned + Validate + Send + 'static,
{
    let prepared = match prepare::<T>(&st, &headers, body).await {
        Ok(p) => p,
        Err(e) => {
            Metrics::add(&st.metrics.requests_rejected, 1);
            if let BodyError::NoValidLine(lines) = &e {
                Metrics::add(&st.metrics.lines_rejected, lines.len() as u64);
            }
            return body_error(&e);
        }
    };
    let (batch_id, flags, mut decoded) = prepared;
    let accepted = decoded.values.len();
    let rejected = decoded.errors.len();
    let ignored = std::mem::take(&mut decoded.ignored_fields);
    if !ignored.is_empty() {
        Metrics::add(&st.metrics.requests_unknown_fields, 1);
        warn_ignored(&ignored);
    }
    if accepted == 0 {
        Metrics::add(&st.metrics.requests_ok, 1);
        return answer(StatusCode::OK, json!({"accepted": 0, "rejected": 0}));
    }
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
            let mut r = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "wal_full",
                &format!("write-ahead log is full ({used} of {max} bytes): ClickHouse is behind; retry later"),
                None,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return r;
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
    if !ignored.is_empty() {
        body["ignored_fields"] = json!(ignored);
    }
    answer(status, body)
}

type Prepared<T> = (Uuid, u8, decode::Decoded<T>);

async fn prepare<T>(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Prepared<T>, BodyError>
where
    T: DeserializeOwned + Validate + Send + 'static,
{
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
    let raw = axum::body::to_bytes(body, st.max_body_bytes)
        .await
        .map_err(|_| BodyError::TooLarge {
            limit: st.max_body_bytes,
            decompressed: false,
        })?;
    let limit = st.max_decoded_bytes;
    // Decompressing and decoding are CPU work: keep them off the I/O threads.
    let decoded = tokio::task::spawn_blocking(move || -> Result<decode::Decoded<T>, BodyError> {
        let plain: Bytes = decode::decompress(raw, encoding, limit)?;
        decode::decode_body::<T>(plain)
    })
    .await
    .map_err(|e| BodyError::Corrupt {
        encoding: "body",
        detail: e.to_string(),
    })??;
    Ok((batch_id, flags, decoded))
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
    errors.iter().take(MAX_LISTED_ERRORS).collect()
}

fn body_error(e: &BodyError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let lines = match e {
        BodyError::NoValidLine(l) => Some(listed(l)),
        _ => None,
    };
    error_response(status, e.code(), &e.to_string(), lines)
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

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let pending = st.wal.durable().saturating_sub(st.wal.acked());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics
            .render(st.wal.disk_bytes(), st.wal.max_bytes(), pending),
    )
        .into_response()
}
