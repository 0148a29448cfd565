//! The gateway's authorization server, administered: its signing keys (`GET
//! /api/v1/oauth/keys`, public parts only; `POST /api/v1/oauth/keys/rotate`) and token
//! revocation by an admin (`POST /api/v1/oauth/revocations`, listed by `GET`). Keys and revocations are rows
//! of `store::oauth`, which every gateway follows (about a second); nothing here talks to a
//! gateway. A key's private part (sealed) never leaves this module's reads.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gatewatch_model::oauth::keys::{KeyState, RETIRE_MARGIN_US};
use gatewatch_model::sealed::SealKey;
use gatewatch_store::oauth::{KeyRow, RevocationRow};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::answer::time_of;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, Query};
use crate::AppState;

/// Retired keys still published at most: one more rotation is refused (409
/// `too_many_keys`) until the oldest expires, so the JWKS stays small.
pub const MAX_PUBLISHED_RETIRED: usize = 5;

/// A revocation whose token's expiry is unknown matters this long: the longest token TTL.
pub const MAX_TOKEN_TTL_US: i64 = 86_400_000_000;

/// One signing key as the admin API shows it: never its private part. (Named apart from a
/// client's request-signing key, the model's `SigningKey`.)
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = OAuthSigningKey)]
pub struct SigningKey {
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// `active` (signs new tokens), `retired` (signs no more, still published), `expired`
    /// (published no more).
    pub state: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it stopped signing; null while active.
    #[schema(format = DateTime)]
    pub retired_at: Option<String>,
    /// Published in the JWKS until then (its last token's expiry); null while active.
    #[schema(format = DateTime)]
    pub keep_until: Option<String>,
    /// The public key as the JWKS publishes it.
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
}

/// The keys, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SigningKeys {
    pub items: Vec<SigningKey>,
    /// The algorithm a rotation makes keys for (`[gateway.oauth] signing_alg`).
    pub signing_alg: String,
}

/// What a rotation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// The new signing key.
    pub key: SigningKey,
    /// The keys it retired, published until `keep_until`.
    pub retired: Vec<SigningKey>,
}

/// The options of a rotation: none yet (an empty body or `{}`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationRequest {}

/// A token to revoke, as the call detail names it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    /// The token's `jti`: 1 to 256 visible ASCII characters.
    #[schema(pattern = "^[!-~]{1,256}$")]
    pub jti: String,
    /// The client the token was issued to (1 to 256 visible ASCII characters).
    #[schema(pattern = "^[!-~]{1,256}$")]
    pub client_id: String,
}

/// A revoked token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revocation {
    pub jti: String,
    pub client_id: String,
    /// `user:<name>` or `client:<id>`.
    pub revoked_by: String,
    #[schema(format = DateTime)]
    pub revoked_at: String,
    /// Gateways refuse the token until then (its latest possible expiry).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// The tokens revoked and not yet expired, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revocations {
    pub items: Vec<Revocation>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevocationParams {
    /// Only this client's tokens.
    #[param(pattern = "^[!-~]{0,256}$")]
    client: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

fn date(us: i64) -> Option<String> {
    (us != 0).then(|| time_of(us))
}

/// What the API shows of a key (the public JWK parsed; a row whose JWK is not JSON shows
/// null rather than failing the list).
pub fn shown(k: &KeyRow, now_us: i64) -> SigningKey {
    SigningKey {
        kid: k.kid.clone(),
        alg: k.alg.clone(),
        state: KeyState::of(k.retired_us, k.keep_until_us, now_us)
            .name()
            .to_string(),
        created_at: time_of(k.created_us),
        retired_at: date(k.retired_us),
        keep_until: date(k.keep_until_us),
        public_jwk: serde_json::from_str(&k.public_jwk).unwrap_or(serde_json::Value::Null),
    }
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<SigningKeys>, ApiError> {
    let now = crate::write::now_us();
    let keys = gatewatch_store::oauth::keys(&state.store).await?;
    Ok(Json(SigningKeys {
        items: keys.iter().rev().map(|k| shown(k, now)).collect(),
        signing_alg: state.config.oauth_signing_alg.clone(),
    }))
}

/// Retired keys still in the JWKS at `now_us`.
fn published_retired(keys: &[KeyRow], now_us: i64) -> usize {
    keys.iter()
        .filter(|k| KeyState::of(k.retired_us, k.keep_until_us, now_us) == KeyState::Retired)
        .count()
}

pub async fn rotate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let o = crate::write::object(&body)?;
        let _: KeyRotationRequest = serde_path_to_error::deserialize(serde_json::Value::Object(o))
            .map_err(crate::error::invalid_body)?;
    }
    // One rotation at a time from this process: two at once would both pass the bound.
    let _one = state.oauth_rotation.lock().await;
    let now = crate::write::now_us();
    let before = gatewatch_store::oauth::keys(&state.store).await?;
    if published_retired(&before, now) >= MAX_PUBLISHED_RETIRED {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_keys",
            format!(
                "{MAX_PUBLISHED_RETIRED} retired keys are still published; rotate again when the oldest expires"
            ),
        ));
    }
    let alg = &state.config.oauth_signing_alg;
    let row = KeyRow::generate(&SealKey::from_pepper(&state.pepper), alg, now)
        .map_err(ApiError::internal)?;
    let ttl_us = i64::try_from(state.config.oauth_token_ttl.as_micros()).unwrap_or(i64::MAX);
    let keep = now.saturating_add(ttl_us).saturating_add(RETIRE_MARGIN_US);
    let retired = gatewatch_store::oauth::rotate(&state.store, &row, now, keep).await?;
    let detail = serde_json::json!({
        "kid": row.kid,
        "alg": row.alg,
        "retired": retired.iter().map(|r| r.kid.as_str()).collect::<Vec<_>>(),
        "keep_until": time_of(keep),
    });
    crate::audit::record(
        &state,
        vec![crate::audit::event(
            &caller.user,
            "oauth.key.rotate",
            "oauth_key",
            &row.kid,
            uuid::Uuid::nil(),
            &caller.ip,
            detail,
        )],
    )
    .await;
    let answer = Rotation {
        key: shown(&row, now),
        retired: retired.iter().map(|r| shown(r, now)).collect(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `jti` and `client_id` as a gateway can match them: 1 to 256 visible ASCII characters.
fn token_field(field: &str, v: &str) -> Result<(), ApiError> {
    if v.is_empty() || v.len() > 256 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            field,
            "must be 1 to 256 visible ASCII characters",
        ));
    }
    Ok(())
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let o = crate::write::object(&body)?;
    let req: RevocationRequest = serde_path_to_error::deserialize(serde_json::Value::Object(o))
        .map_err(crate::error::invalid_body)?;
    token_field("jti", &req.jti)?;
    token_field("client_id", &req.client_id)?;
    let now = crate::write::now_us();
    let row = RevocationRow {
        jti: req.jti,
        client_id: req.client_id,
        // The token's `exp` is not in its call record: its latest possible expiry.
        expires_us: now.saturating_add(MAX_TOKEN_TTL_US),
        revoked_us: now,
        revoked_by: format!("user:{}", caller.user),
    };
    gatewatch_store::oauth::revoke(&state.store, std::slice::from_ref(&row)).await?;
    crate::audit::record(
        &state,
        vec![crate::audit::event(
            &caller.user,
            "oauth.token.revoke",
            "oauth_token",
            &row.jti,
            uuid::Uuid::nil(),
            &caller.ip,
            serde_json::json!({"client_id": row.client_id}),
        )],
    )
    .await;
    Ok((StatusCode::CREATED, Json(revocation(row))).into_response())
}

fn revocation(row: RevocationRow) -> Revocation {
    Revocation {
        revoked_at: time_of(row.revoked_us),
        expires_at: time_of(row.expires_us),
        jti: row.jti,
        client_id: row.client_id,
        revoked_by: row.revoked_by,
    }
}

pub async fn revocations(
    State(state): State<Arc<AppState>>,
    Query(p): Query<RevocationParams>,
) -> Result<Json<Revocations>, ApiError> {
    let client = p.client.unwrap_or_default();
    if !client.is_empty() {
        token_field("client", &client)?;
    }
    let limit = match p.limit.as_deref() {
        None | Some("") => 100,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("{s:?} must be 1 to 1000")))?,
    };
    let rows = gatewatch_store::oauth::recent_revocations(
        &state.store,
        &client,
        crate::write::now_us(),
        limit,
    )
    .await?;
    Ok(Json(Revocations {
        items: rows.into_iter().map(revocation).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_key_has_no_private_part() {
        let seal = SealKey::from_pepper(b"pepper 0123456789abcdef");
        let k = KeyRow::generate(&seal, "ES256", 1_000_000).unwrap();
        let text = serde_json::to_string(&shown(&k, 2_000_000)).unwrap();
        assert!(!text.contains(&k.private_sealed));
        assert!(
            !text.contains("private") && !text.contains("\"d\""),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["state"], "active");
        assert_eq!(v["public_jwk"]["kid"], k.kid.as_str());
        assert!(v["retired_at"].is_null());
    }

    #[test]
    fn only_published_retired_keys_count_toward_the_bound() {
        let seal = SealKey::from_pepper(b"pepper 0123456789abcdef");
        let k = KeyRow::generate(&seal, "ES256", 1).unwrap();
        let keys = vec![k.clone(), k.retired(2, 10), k.retired(2, 100)];
        assert_eq!(published_retired(&keys, 50), 1);
        assert_eq!(published_retired(&keys, 5), 2);
    }

    #[test]
    fn token_fields_are_visible_ascii() {
        assert!(token_field("jti", "0190a1b2-c3d4").is_ok());
        for bad in ["", "a b", "é", "a\u{0}", &"x".repeat(257)] {
            let e = token_field("jti", bad).unwrap_err();
            assert_eq!((e.status.as_u16(), e.field.as_deref()), (422, Some("jti")));
        }
    }
}
