//! Audit rows for changes and logins, and `GET /api/v1/audit`.

use crate::extract::Query;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatewatch_store::audit::{self, AuditEvent, AuditQuery};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::answer::time_of;
use crate::error::ApiError;
use crate::AppState;

pub fn event(
    actor: &str,
    action: &str,
    entity: &str,
    id: &str,
    change_id: uuid::Uuid,
    ip: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        ts_us: crate::write::now_us(),
        actor: actor.to_string(),
        action: action.to_string(),
        entity: entity.to_string(),
        id: id.to_string(),
        change_id,
        client_ip: ip.to_string(),
        detail: detail.to_string(),
    }
}

/// Appends audit rows. The change they describe is already written, so a failure here is
/// logged (with the rows, so nothing is lost from the log) rather than failing the request.
pub async fn record(state: &AppState, events: Vec<AuditEvent>) {
    if let Err(e) = audit::write(&state.store, &events).await {
        for ev in &events {
            tracing::error!(error = %e, actor = %ev.actor, action = %ev.action, entity = %ev.entity, id = %ev.id, ip = %ev.client_ip, detail = %ev.detail, "audit row not stored");
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Oldest time (RFC 3339); default a day before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Newest time (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// Only this user's rows.
    user: Option<String>,
    /// Only this action (`login`, `api.create`, …).
    action: Option<String>,
    /// Rows per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub ts: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub id: String,
    pub change_id: String,
    pub client_ip: String,
    /// What the action carried (an object), or null for actions without detail.
    #[schema(value_type = Option<Object>)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditRow>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

pub(crate) fn time(field: &str, v: Option<&str>, default: DateTime<Utc>) -> Result<i64, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(default.timestamp_micros()),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
            .map_err(|e| ApiError::invalid(field, format!("{s:?} is not an RFC 3339 time: {e}"))),
    }
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let now = Utc::now();
    let from_us = time("from", p.from.as_deref(), now - chrono::Duration::days(1))?;
    let to_us = time("to", p.to.as_deref(), now + chrono::Duration::seconds(1))?;
    if to_us <= from_us {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let limit = match p.limit.as_deref() {
        None | Some("") => 1000,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("{s:?} must be 1 to 10000")))?,
    };
    let after = crate::answer::cursor_param(p.cursor.as_deref())?;
    let action = p.action.filter(|a| !a.is_empty());
    if let Some(a) = &action {
        // Actions are dotted words (`login.failed`, `key.create`).
        if a.len() > 64
            || !a
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
        {
            return Err(ApiError::invalid(
                "action",
                format!("{a:?} is not an action (e.g. login, update, key.create)"),
            ));
        }
    }
    // One more than asked says whether a next page exists.
    let mut rows = audit::page(
        &state.store,
        &AuditQuery {
            from_us,
            to_us,
            actor: p.user.filter(|u| !u.is_empty()),
            action,
            limit: limit + 1,
        },
        after,
    )
    .await?;
    let next_cursor = crate::answer::page_end(&mut rows, limit, |r| r.cursor);
    Ok(Json(AuditPage {
        next_cursor,
        items: rows
            .into_iter()
            .map(|r| r.event)
            .map(|r| AuditRow {
                ts: time_of(r.ts_us),
                actor: r.actor,
                action: r.action,
                entity: r.entity,
                id: r.id,
                change_id: if r.change_id.is_nil() {
                    String::new()
                } else {
                    r.change_id.to_string()
                },
                client_ip: r.client_ip,
                detail: serde_json::from_str(&r.detail)
                    .unwrap_or(serde_json::Value::String(r.detail)),
            })
            .collect(),
    }))
}
