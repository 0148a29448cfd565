//! `POST /api/v1/alerts/ack` and `POST /api/v1/alerts/unack`: an ops user acknowledges one
//! firing episode of an alert (its repeats stop until it resolves or `for_secs` pass) or takes
//! that back. Rows go to `alert_acks` (`store::acks`), which the alerter reads each round; the
//! user is the logged-in caller, never a field of the body. Refused when the episode is not
//! firing now (read from `alert_state`, as `GET /api/v1/alerts` does). Audited as
//! `alert.ack` / `alert.unack`.

use crate::extract::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use gatewatch_model::alert::{AlertState, Phase};
use gatewatch_model::EntityKind;
use gatewatch_store::acks::{self, Ack, AckAction};
use gatewatch_store::alerts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use crate::answer::time_of;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Longest `for_secs`: a week (a longer hold is "until it resolves": `for_secs` left out).
pub const MAX_ACK_SECS: u64 = 7 * 24 * 3600;
/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 500;
/// Longest scope key (`node=…,mount=…`), in bytes.
pub const MAX_SCOPE_KEY: usize = 512;

/// Acknowledge one firing episode.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// The rule's id.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub rule: String,
    /// The alert's scope key as `GET /api/v1/alerts` gives it (`node=gw1`; empty for site-wide
    /// rules).
    #[schema(max_length = 512)]
    pub scope_key: String,
    /// The episode: `episode_us` of the active alert (when its condition began, µs).
    #[schema(minimum = 1)]
    pub episode_us: i64,
    /// How long the ack holds, 60 s to a week; absent: until the episode resolves.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 604_800)]
    pub for_secs: Option<u64>,
    /// Why, or who is on it (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub comment: Option<String>,
}

/// Take back the ack of one episode.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnackRequest {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub rule: String,
    #[schema(max_length = 512)]
    pub scope_key: String,
    #[schema(minimum = 1)]
    pub episode_us: i64,
}

/// A stored ack or unack.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AckRecord {
    pub rule: String,
    pub scope_key: String,
    pub episode_us: i64,
    /// `ack` or `unack`.
    pub action: String,
    /// The user who acted.
    pub by: String,
    pub at: String,
    /// When the ack lapses; null: when the episode resolves (or for an unack).
    pub until: Option<String>,
    pub comment: String,
}

impl AckRecord {
    pub fn of(a: &Ack) -> AckRecord {
        AckRecord {
            rule: a.rule_id.clone(),
            scope_key: a.scope_key.clone(),
            episode_us: a.episode_us,
            action: a.action.as_str().to_string(),
            by: a.by.clone(),
            at: time_of(a.ts_us),
            until: (a.until_us != 0).then(|| time_of(a.until_us)),
            comment: a.comment.clone(),
        }
    }
}

/// An ack holding on an active alert, as `GET /api/v1/alerts` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AckInfo {
    pub by: String,
    pub at: String,
    /// When it lapses; null: when the episode resolves.
    pub until: Option<String>,
    pub comment: String,
}

impl AckInfo {
    pub fn of(a: &Ack) -> AckInfo {
        AckInfo {
            by: a.by.clone(),
            at: time_of(a.ts_us),
            until: (a.until_us != 0).then(|| time_of(a.until_us)),
            comment: a.comment.clone(),
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(body: &axum::body::Bytes) -> Result<T, ApiError> {
    let o = crate::write::object(body)?;
    serde_path_to_error::deserialize(Value::Object(o)).map_err(crate::error::invalid_body)
}

fn check_episode(rule: &str, scope_key: &str, episode_us: i64) -> Result<(), ApiError> {
    gatewatch_model::field::check_id("rule", rule)?;
    if scope_key.len() > MAX_SCOPE_KEY {
        return Err(ApiError::invalid(
            "scope_key",
            format!("at most {MAX_SCOPE_KEY} bytes"),
        ));
    }
    if scope_key.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "scope_key",
            "must not hold control characters",
        ));
    }
    if episode_us <= 0 {
        return Err(ApiError::invalid("episode_us", "must be positive"));
    }
    Ok(())
}

/// 404 naming `rule` or `scope_key` when there is no such alert, 409 naming `episode_us` when
/// the alert is not firing in that episode now.
async fn firing_episode(
    state: &AppState,
    rule: &str,
    scope_key: &str,
    episode_us: i64,
) -> Result<(), ApiError> {
    if state.cache.get().get(EntityKind::AlertRule, rule).is_none() {
        return Err(ApiError {
            field: Some("rule".into()),
            ..ApiError::not_found(format!("no alert rule {rule:?}"))
        });
    }
    let saved = alerts::load_states(&state.store)
        .await?
        .into_iter()
        .find(|s| s.rule_id == rule && s.scope_key == scope_key);
    let Some(saved) = saved else {
        return Err(ApiError {
            field: Some("scope_key".into()),
            ..ApiError::not_found(format!("rule {rule:?} has no alert for {scope_key:?}"))
        });
    };
    let st: AlertState = serde_json::from_str(&saved.state).map_err(ApiError::internal)?;
    match st.phase {
        Phase::Firing { since, .. } if since.timestamp_micros() == episode_us => Ok(()),
        Phase::Firing { since, .. } => Err(ApiError {
            field: Some("episode_us".into()),
            ..ApiError::conflict(format!(
                "that episode is over; the alert is firing in episode {} now",
                since.timestamp_micros()
            ))
        }),
        _ => Err(ApiError {
            field: Some("episode_us".into()),
            ..ApiError::conflict("the alert is not firing now")
        }),
    }
}

async fn audit(state: &AppState, caller: &Caller, a: &Ack) {
    let ev = crate::audit::event(
        &caller.user,
        &format!("alert.{}", a.action.as_str()),
        "alert",
        &a.rule_id,
        uuid::Uuid::new_v4(),
        &caller.ip,
        serde_json::json!({
            "scope_key": a.scope_key,
            "episode_us": a.episode_us,
            "until_us": a.until_us,
            "comment": a.comment,
        }),
    );
    crate::audit::record(state, vec![ev]).await;
}

pub async fn ack(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<(StatusCode, Json<AckRecord>), ApiError> {
    let req: AckRequest = typed(&body)?;
    check_episode(&req.rule, &req.scope_key, req.episode_us)?;
    if let Some(s) = req.for_secs {
        if !(60..=MAX_ACK_SECS).contains(&s) {
            return Err(ApiError::invalid(
                "for_secs",
                format!("must be 60 to {MAX_ACK_SECS} (leave it out: until it resolves)"),
            ));
        }
    }
    let comment = req.comment.unwrap_or_default();
    if comment.chars().count() > MAX_COMMENT {
        return Err(ApiError::invalid(
            "comment",
            format!("at most {MAX_COMMENT} characters"),
        ));
    }
    if comment.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(
            "comment",
            "must not hold control characters",
        ));
    }
    firing_episode(&state, &req.rule, &req.scope_key, req.episode_us).await?;
    let now = crate::write::now_us();
    let a = Ack {
        ts_us: now,
        rule_id: req.rule,
        scope_key: req.scope_key,
        episode_us: req.episode_us,
        action: AckAction::Ack,
        by: caller.user.clone(),
        until_us: req.for_secs.map_or(0, |s| {
            now.saturating_add((s as i64).saturating_mul(1_000_000))
        }),
        comment,
    };
    acks::write(&state.store, &a).await?;
    audit(&state, &caller, &a).await;
    Ok((StatusCode::CREATED, Json(AckRecord::of(&a))))
}

pub async fn unack(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<(StatusCode, Json<AckRecord>), ApiError> {
    let req: UnackRequest = typed(&body)?;
    check_episode(&req.rule, &req.scope_key, req.episode_us)?;
    firing_episode(&state, &req.rule, &req.scope_key, req.episode_us).await?;
    let now = crate::write::now_us();
    let held = acks::newest_since(&state.store, req.episode_us)
        .await?
        .into_iter()
        .find(|a| {
            a.rule_id == req.rule && a.scope_key == req.scope_key && a.episode_us == req.episode_us
        })
        .is_some_and(|a| a.holds_at(now));
    if !held {
        return Err(ApiError {
            field: Some("episode_us".into()),
            ..ApiError::conflict("that episode is not acknowledged")
        });
    }
    let a = Ack {
        ts_us: now,
        rule_id: req.rule,
        scope_key: req.scope_key,
        episode_us: req.episode_us,
        action: AckAction::Unack,
        by: caller.user.clone(),
        until_us: 0,
        comment: String::new(),
    };
    acks::write(&state.store, &a).await?;
    audit(&state, &caller, &a).await;
    Ok((StatusCode::CREATED, Json(AckRecord::of(&a))))
}
