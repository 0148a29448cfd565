//! The gateways' OAuth signing keys and token revocation, for admins: the keys' public parts
//! (`GET /api/v1/oauth/keys`), a rotation (`POST /api/v1/oauth/keys/rotate`, as `gatewatch keys
//! rotate`) and the revocation of a token by its `jti` (`POST /api/v1/oauth/revocations`).
//! Every gateway follows both within about a second. Only `model` and `store` code: the
//! dashboards never depend on the gateway.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gatewatch_model::oauth::keys::{KeyState, ES256};
use gatewatch_model::sealed::SealKey;
use gatewatch_store::oauth::{KeyRow, RevocationRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::AppState;

/// A retired key stays published this long: the longest token lifetime a gateway may be
/// configured with (`token_ttl_secs` ≤ 86 400) plus a minute, since the dashboards do not
/// know the gateways' setting.
const KEEP_US: i64 = (86_400 + 60) * 1_000_000;

/// One signing key, public parts only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OauthKey {
    pub kid: String,
    /// `ES256`.
    pub alg: String,
    /// `active` (the newest signs), `retired` (published until `published_until`), `expired`.
    pub state: String,
    pub created: String,
    pub retired: Option<String>,
    pub published_until: Option<String>,
    /// The public key as the JWKS publishes it.
    #[schema(value_type = Object)]
    pub public_jwk: Value,
}

/// The keys, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OauthKeyList {
    pub keys: Vec<OauthKey>,
}

/// What a rotation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OauthRotation {
    /// The new key (signs within a few seconds, once every gateway has published it).
    pub key: OauthKey,
    /// The kids retired by it.
    pub retired: Vec<String>,
}

/// A token to revoke, by its `jti` (the record of the token request shows it).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The token's `jti`.
    pub jti: String,
    /// The client it was issued to, for the record (optional).
    #[serde(default)]
    pub client_id: String,
}

fn time(us: i64) -> Option<String> {
    (us != 0).then(|| crate::answer::time_of(us))
}

fn key(r: &KeyRow, now_us: i64) -> OauthKey {
    OauthKey {
        kid: r.kid.clone(),
        alg: r.alg.clone(),
        state: KeyState::of(r.retired_us, r.keep_until_us, now_us)
            .name()
            .to_string(),
        created: crate::answer::time_of(r.created_us),
        retired: time(r.retired_us),
        published_until: time(r.keep_until_us),
        public_jwk: serde_json::from_str(&r.public_jwk).unwrap_or(Value::Null),
    }
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let now = crate::write::now_us();
    let rows = gatewatch_store::oauth::keys(&state.store).await?;
    let keys = rows.iter().rev().map(|r| key(r, now)).collect();
    Ok(Json(OauthKeyList { keys }).into_response())
}

pub async fn rotate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let now = crate::write::now_us();
    let row = KeyRow::generate(&SealKey::from_pepper(&state.pepper), ES256, now)
        .map_err(ApiError::internal)?;
    let retired = gatewatch_store::oauth::rotate(&state.store, &row, now, now + KEEP_US).await?;
    let retired: Vec<String> = retired.into_iter().map(|r| r.kid).collect();
    let event = crate::audit::event(
        &caller.user,
        "oauth.key.rotate",
        "oauth_key",
        &row.kid,
        uuid::Uuid::nil(),
        &caller.ip,
        serde_json::json!({ "retired": retired }),
    );
    crate::audit::record(&state, vec![event]).await;
    let body = OauthRotation {
        key: key(&row, now),
        retired,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: RevokeRequest = parse(&body)?;
    if req.jti.is_empty() || req.jti.len() > 256 || req.jti.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "jti",
            "must be 1 to 256 characters, without control characters",
        ));
    }
    if req.client_id.len() > 256 {
        return Err(ApiError::invalid(
            "client_id",
            "must be at most 256 characters",
        ));
    }
    let now = crate::write::now_us();
    let row = RevocationRow {
        jti: req.jti.clone(),
        client_id: req.client_id.clone(),
        // The token's exp is not known here: kept as long as any token may live.
        expires_us: now + KEEP_US,
        revoked_us: now,
        revoked_by: format!("user:{}", caller.user),
    };
    gatewatch_store::oauth::revoke(&state.store, &[row]).await?;
    let event = crate::audit::event(
        &caller.user,
        "oauth.token.revoke",
        "oauth_token",
        &req.jti,
        uuid::Uuid::nil(),
        &caller.ip,
        serde_json::json!({ "client_id": req.client_id }),
    );
    crate::audit::record(&state, vec![event]).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(v).map_err(crate::error::invalid_body)
}
