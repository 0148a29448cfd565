//! `POST /api/v1/report-subscriptions/{id}/run`: send a subscription's report now. Served by
//! the dashboards role (mounted like the report API, behind its role check); the run goes
//! through the same path as a scheduled one and is recorded in `report_runs`, under the id
//! `<subscription>@<this second>`.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatewatch_model::Permission;
use std::sync::Arc;

use super::{RunNowError, Scheduler};
use crate::http::RouteAccess;
use crate::segment::Segment;

/// The route's row for the access table.
pub fn access() -> Vec<RouteAccess> {
    vec![RouteAccess {
        method: Method::POST,
        path: "/api/v1/report-subscriptions/{id}/run",
        permission: Permission::WriteReportSubscriptions,
        summary: "Send the subscription's report now (in the background; see its runs)",
        params: Vec::new(),
        ok: vec![(
            202,
            crate::doc::json("the run started: its id and scheduled time", "RunStarted"),
        )],
        errors: vec![404],
    }]
}

pub fn router<S: Clone + Send + Sync + 'static>(scheduler: Arc<Scheduler>) -> Router<S> {
    Router::new()
        .route("/api/v1/report-subscriptions/{id}/run", post(run_now))
        .with_state(scheduler)
}

async fn run_now(State(s): State<Arc<Scheduler>>, Segment(id): Segment) -> Response {
    let error = |status: StatusCode, code: &str, message: String| {
        (
            status,
            Json(serde_json::json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    };
    match s.start_now(&id).await {
        Ok((run_id, slot)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"run_id": run_id, "scheduled_for": slot.to_rfc3339()})),
        )
            .into_response(),
        Err(RunNowError::NotFound(id)) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no report_subscription {id:?}"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "run now");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the configuration could not be read; see the server log".into(),
            )
        }
    }
}
