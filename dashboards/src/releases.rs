//! `/api/v1/releases…`: named points of the whole configuration (`store::releases`), the diff
//! between two of them (or one and `current`), and the rollback to one as a single new change
//! in the configuration log.
//!
//! Reading needs `ReadGatewayConfig`; making a release and rolling back need
//! `WriteGatewayConfig`, as editing the entities one by one does (a rollback writes nothing
//! one could not write by hand; keys, users and silences are never touched). Diffs come from
//! the redacted bodies: client secrets and sealed channel credentials are named, never shown.
//! Both writes are audited (`release.create`, `release.rollback` plus one row per entity).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use gatewatch_model::release::EntityDiff;
use gatewatch_store::releases::{self, Point, Release, ReleaseError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use crate::answer::time_of;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, Path, Query};
use crate::AppState;

/// Make a release of the current configuration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Its name (an id: 1–64 of `A-Za-z0-9._-`; not `current` or `diff`); never reused.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// What it is (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub comment: String,
}

/// One release.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReleaseInfo {
    pub name: String,
    pub comment: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Who made it.
    pub by: String,
    /// How many entities it holds.
    pub entity_count: usize,
    /// The configuration log change that stored it.
    pub change_id: String,
}

/// A release with what it holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReleaseDetail {
    pub name: String,
    pub comment: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Who made it.
    pub by: String,
    pub entity_count: usize,
    pub change_id: String,
    /// Every entity of the release with its version then.
    pub entities: Vec<gatewatch_model::release::ReleaseEntry>,
}

/// The releases, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReleasesPage {
    pub items: Vec<ReleaseInfo>,
}

/// What differs between two points.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReleaseDiff {
    pub from: String,
    pub to: String,
    /// Per entity: added, removed or changed (with its changed fields).
    pub entities: Vec<EntityDiff>,
}

/// Optional body of a rollback.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Only show what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a rollback did (or would do).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RollbackResult {
    pub release: String,
    pub dry_run: bool,
    /// From the current configuration to what the rollback writes.
    pub entities: Vec<EntityDiff>,
    /// The new change in the configuration log; absent for a dry run or when nothing differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// A release name, or `current`.
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub from: Option<String>,
    /// A release name, or `current`.
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub to: Option<String>,
}

fn info(r: &Release) -> ReleaseInfo {
    ReleaseInfo {
        name: r.name.clone(),
        comment: r.spec.comment.clone(),
        created: time_of(r.created_us),
        by: r.author.clone(),
        entity_count: r.spec.entities.len(),
        change_id: r.change_id.to_string(),
    }
}

/// The answer to a release error; `field` names where the name came from.
fn answer(e: ReleaseError, field: &str) -> ApiError {
    match e {
        ReleaseError::Bad(f) => ApiError::invalid(f.field, f.message),
        ReleaseError::NotFound(_) => ApiError {
            field: Some(field.to_string()),
            ..ApiError::not_found(e.to_string())
        },
        ReleaseError::Exists(_) => ApiError {
            field: Some("name".into()),
            ..ApiError::conflict(e.to_string())
        },
        ReleaseError::Unreadable { ref kind, ref id, .. } => ApiError {
            field: Some(format!("{kind}/{id}")),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unrestorable", e.to_string())
        },
        ReleaseError::Log(gatewatch_store::config_log::ConfigLogError::Conflict { .. }) => {
            ApiError::conflict(format!(
                "{e}; nothing was written (someone changed the configuration meanwhile: look at the diff again)"
            ))
        }
        ReleaseError::Log(l) => l.into(),
        ReleaseError::Store(s) => gatewatch_store::config_log::ConfigLogError::Store(s).into(),
        other => ApiError::internal(other),
    }
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<ReleasesPage>, ApiError> {
    let items = releases::list(&state.store)
        .await
        .map_err(|e| answer(e, "name"))?
        .iter()
        .map(info)
        .collect();
    Ok(Json(ReleasesPage { items }))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ReleaseDetail>, ApiError> {
    let r = releases::get(&state.store, &name)
        .await
        .map_err(|e| answer(e, "name"))?;
    let i = info(&r);
    Ok(Json(ReleaseDetail {
        name: i.name,
        comment: i.comment,
        created: i.created,
        by: i.by,
        entity_count: i.entity_count,
        change_id: i.change_id,
        entities: r.spec.entities,
    }))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<(StatusCode, Json<ReleaseInfo>), ApiError> {
    let o = crate::write::object(&body)?;
    let req: ReleaseRequest =
        serde_path_to_error::deserialize(Value::Object(o)).map_err(crate::error::invalid_body)?;
    let now = crate::write::now_us();
    let (r, receipt) = releases::make(&state.store, &req.name, &req.comment, &caller.user, now)
        .await
        .map_err(|e| answer(e, "name"))?;
    let ev = crate::audit::event(
        &caller.user,
        "release.create",
        "release",
        &r.name,
        receipt.change_id,
        &caller.ip,
        serde_json::json!({"comment": r.spec.comment, "entities": r.spec.entities.len()}),
    );
    crate::audit::record(&state, vec![ev]).await;
    Ok((StatusCode::CREATED, Json(info(&r))))
}

pub async fn diff(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DiffParams>,
) -> Result<Json<ReleaseDiff>, ApiError> {
    let from = q
        .from
        .ok_or_else(|| ApiError::invalid("from", "is required: a release name or `current`"))?;
    let to = q.to.unwrap_or_else(|| "current".into());
    let a = releases::state(&state.store, &Point::parse(&from))
        .await
        .map_err(|e| answer(e, "from"))?;
    let b = releases::state(&state.store, &Point::parse(&to))
        .await
        .map_err(|e| answer(e, "to"))?;
    Ok(Json(ReleaseDiff {
        entities: releases::diff(&a, &b),
        from,
        to,
    }))
}

pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body,
) -> Result<Json<RollbackResult>, ApiError> {
    let req: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        let o = crate::write::object(&body)?;
        serde_path_to_error::deserialize(Value::Object(o)).map_err(crate::error::invalid_body)?
    };
    let plan = releases::plan_rollback(&state.store, &name)
        .await
        .map_err(|e| answer(e, "name"))?;
    let mut out = RollbackResult {
        release: name,
        dry_run: req.dry_run,
        entities: plan.diff.clone(),
        change_id: None,
    };
    if req.dry_run {
        return Ok(Json(out));
    }
    let now = crate::write::now_us();
    let Some(receipt) = releases::apply(&state.store, &plan, &caller.user, now)
        .await
        .map_err(|e| answer(e, "name"))?
    else {
        return Ok(Json(out));
    };
    if let Err(e) = state.cache.refresh(true).await {
        tracing::warn!(error = %e, "cache reload after a rollback failed; the poller will retry");
    }
    crate::audit::record(
        &state,
        releases::audit_events(&plan, &receipt, &caller.user, &caller.ip, now),
    )
    .await;
    out.change_id = Some(receipt.change_id.to_string());
    Ok(Json(out))
}
