//! `POST /api/v1/channels/{id}/test` and `POST /api/v1/alert-rules/{id}/test`: forwarded to
//! the alerter's `POST /v1/test-send` (`[dashboards] alerter_url`), because only the alerter
//! holds the SMTP/LINE credentials. The alerter's answer (one result per recipient, with the
//! far end's status) is returned as it stands; an unreachable alerter is 502. Each test-send
//! leaves an audit row.

use crate::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// The alerter's answer to a test-send, as this role passes it on (its `test_send::Outcome`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TestSendResult {
    results: Vec<TestSendOutcome>,
}

/// One recipient's outcome.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TestSendOutcome {
    /// `email`, `line` or `webhook`.
    channel: String,
    /// The addresses, LINE ids or channel id reached.
    recipient: String,
    sent: bool,
    /// HTTP status or SMTP reply code of the last answer; null when nothing answered.
    status: Option<u16>,
    /// The far end's answer text, or why nothing was sent.
    answer: String,
    attempts: u32,
}

/// Longest wait for the alerter: its notifiers retry with backoff inside one send.
const TIMEOUT: Duration = Duration::from_secs(90);

pub async fn channel(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    forward(&state, &caller, "channel", &id).await
}

pub async fn rule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    forward(&state, &caller, "rule", &id).await
}

async fn forward(state: &AppState, caller: &Caller, what: &str, id: &str) -> Response {
    let url = format!("{}/v1/test-send", state.config.alerter_url);
    let token = gatewatch_model::secret::alerter_test_send_token(&state.pepper);
    let sent = state
        .http
        .post(&url)
        .bearer_auth(token)
        .timeout(TIMEOUT)
        .json(&serde_json::json!({ what: id }))
        .send()
        .await;
    let (status, body) = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.json::<Value>().await {
                // The alerter refusing our bearer means the two processes disagree on the
                // pepper: the caller cannot fix that, so it is the gateway's (502) problem.
                Ok(_) if status == 401 => (502, None),
                Ok(v) => (status, Some(v)),
                Err(_) => (502, None),
            }
        }
        Err(_) => (502, None),
    };
    let entity = if what == "rule" {
        "alert_rule"
    } else {
        "channel"
    };
    let detail = match &body {
        Some(v) => serde_json::json!({"status": status, "answer": v}),
        None => serde_json::json!({"status": status, "error": "alerter unreachable"}),
    };
    crate::audit::record(
        state,
        vec![crate::audit::event(
            &caller.user,
            &format!("{entity}.test"),
            entity,
            id,
            uuid::Uuid::nil(),
            &caller.ip,
            detail,
        )],
    )
    .await;
    match body {
        Some(v) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            Json(v),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "alerter_unavailable",
            format!(
                "the alerter at {} did not take the test-send (not running, not reachable, or it refused this site's token: check [dashboards] alerter_url and that both share the pepper)",
                state.config.alerter_url
            ),
        )
        .into_response(),
    }
}
