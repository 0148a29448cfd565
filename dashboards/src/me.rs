//! Login, logout, the caller's own profile, password and bearer tokens.

use crate::extract::{Body, Path, Query};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use gatewatch_model::secret::hash_secret;
use gatewatch_model::user::{TokenSpec, UserSpec};
use gatewatch_model::{EntityKind, Permission};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use crate::auth::{self, Caller, ClientIp, Via};
use crate::error::ApiError;
use crate::keys::CreatedSecret;
use crate::write;
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

/// Who is logged in, and the CSRF token to send with unsafe requests (cookie sessions).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub user: String,
    pub role: String,
    pub display_name: String,
    pub permissions: Vec<String>,
    /// UI language: `en` or `zh-TW`.
    pub lang: String,
    /// The user's own IANA zone; `null`: the site's (`site_timezone`).
    pub timezone: Option<String>,
    /// The site's zone, for users who chose none.
    pub site_timezone: String,
    /// Send as `X-CSRF-Token` with every POST, PUT and DELETE of this session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// One's own display preferences. `timezone` absent or `null`: the site's zone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// `en` or `zh-TW`.
    pub lang: String,
    /// An IANA zone such as `Asia/Taipei`.
    #[serde(default)]
    pub timezone: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub expires_at: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(v).map_err(crate::error::invalid_body)
}

fn info(
    state: &AppState,
    user: &str,
    spec: &UserSpec,
    csrf: Option<String>,
    expires: Option<i64>,
) -> SessionInfo {
    SessionInfo {
        lang: spec.lang.clone(),
        timezone: spec.timezone.clone(),
        site_timezone: state.config.site_timezone.clone(),
        user: user.to_string(),
        role: spec.role.as_str().to_string(),
        display_name: spec.display_name.clone(),
        permissions: Permission::ALL
            .iter()
            .filter(|p| spec.role.may(**p))
            .filter_map(|p| serde_json::to_value(p).ok()?.as_str().map(str::to_string))
            .collect(),
        csrf_token: csrf,
        expires_at: expires
            .and_then(|e| DateTime::<Utc>::from_timestamp(e, 0))
            .map(|t| t.to_rfc3339()),
    }
}

/// A response carrying a new session for `user`.
fn with_session(
    state: &AppState,
    user: &str,
    spec: &UserSpec,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let ttl = state.config.session_ttl.as_secs() as i64;
    let expires = Utc::now().timestamp() + ttl;
    let (token, s) = state.sessions.issue(user, spec.session_epoch, expires)?;
    let mut r = (
        status,
        Json(info(state, user, spec, Some(s.nonce), Some(expires))),
    )
        .into_response();
    let c = auth::cookie(&token, ttl, state.config.secure_cookies);
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&c).map_err(ApiError::internal)?,
    );
    Ok(r)
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: LoginRequest = parse(&body)?;
    let name: String = req.user.chars().take(64).collect();
    let now = Utc::now().timestamp();
    let audit = |action: &str, reason: &str| {
        crate::audit::event(
            &name,
            action,
            "user",
            &name,
            uuid::Uuid::nil(),
            &ip,
            serde_json::json!({ "reason": reason }),
        )
    };
    // Locks are checked before any argon2 work, so a locked flood costs next to nothing.
    if let Some(lock) = state.lockout.check(&name, &ip, now) {
        let why = lock.describe(&name, &ip);
        if state.lockout.first_refusal(&name, &ip, lock, now) {
            crate::audit::record(&state, vec![audit("login.locked", &why)]).await;
        }
        return Err(locked(&why, lock.wait()));
    }
    let mut spec = state.cache.get().users.get(&name).cloned();
    if spec.is_none() {
        // Perhaps added a moment ago by another process (`gatewatch user add`).
        if let Err(e) = state.cache.refresh(false).await {
            tracing::warn!(error = %e, "cannot reload the configuration at login");
        }
        spec = state.cache.get().users.get(&name).cloned();
    }
    let stored = spec
        .as_ref()
        .map_or(auth::DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    // No password is longer than check_new_password allows: refuse longer ones unhashed.
    // Beyond the bound on argon2 work this is 429 `busy`, which counts as no failure.
    let ok =
        req.password.len() <= 1024 && state.password_checks.verify(req.password, stored).await?;
    let refusal = match &spec {
        None => Some("unknown user"),
        Some(_) if !ok => Some("wrong password"),
        Some(u) if u.disabled => Some("user disabled"),
        Some(_) => None,
    };
    if let Some(reason) = refusal {
        let locks = state.lockout.failed(&name, &ip, now);
        let mut events = vec![audit("login.failed", reason)];
        for lock in locks {
            events.push(audit("login.locked", &lock.describe(&name, &ip)));
        }
        crate::audit::record(&state, events).await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong user name or password",
        ));
    }
    state.lockout.succeeded(&name, &ip, now);
    crate::audit::record(&state, vec![audit("login", "ok")]).await;
    let spec = spec.ok_or_else(|| ApiError::internal("user vanished"))?;
    with_session(&state, &name, &spec, StatusCode::OK)
}

/// 429 `locked` with the time to wait.
fn locked(why: &str, wait: i64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "locked",
        format!("{why}; try again in {wait} s"),
    );
    e.retry_after = Some(wait.max(1) as u64);
    e
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutParams {
    /// `true` or `1` ends every session and bearer token of the user.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    everywhere: Option<String>,
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<LogoutParams>,
) -> Result<Response, ApiError> {
    if let Via::Cookie { nonce, expires } = &caller.via {
        state.sessions.end(nonce, *expires, Utc::now().timestamp());
    }
    if matches!(p.everywhere.as_deref(), Some("true" | "1")) {
        write::edit(
            &state,
            &caller,
            EntityKind::User,
            &caller.user,
            &HeaderMap::new(),
            "logout.everywhere",
            |u: &mut UserSpec| {
                end_every_session(u);
                Ok(())
            },
        )
        .await?;
    } else {
        crate::audit::record(
            &state,
            vec![crate::audit::event(
                &caller.user,
                "logout",
                "user",
                &caller.user,
                uuid::Uuid::nil(),
                &caller.ip,
                Value::Null,
            )],
        )
        .await;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let c = auth::cookie("", 0, state.config.secure_cookies);
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&c).map_err(ApiError::internal)?,
    );
    Ok(r)
}

pub async fn me(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SessionInfo>, ApiError> {
    let table = state.cache.get();
    let spec = table
        .users
        .get(&caller.user)
        .ok_or_else(|| ApiError::unauthorized("no such user"))?;
    let (csrf, exp) = match &caller.via {
        Via::Cookie { nonce, expires } => (Some(nonce.clone()), Some(*expires)),
        Via::Bearer { .. } => (None, None),
    };
    Ok(Json(info(&state, &caller.user, spec, csrf, exp)))
}

pub async fn change_password(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: PasswordChange = parse(&body)?;
    auth::check_new_password("new", &req.new)?;
    let now = Utc::now().timestamp();
    // Guessing the current password through a stolen session counts like a failed login.
    if let Some(lock) = state.lockout.check(&caller.user, &caller.ip, now) {
        return Err(locked(
            &lock.describe(&caller.user, &caller.ip),
            lock.wait(),
        ));
    }
    let stored = state
        .cache
        .get()
        .users
        .get(&caller.user)
        .map(|u| u.password_hash.clone())
        .ok_or_else(|| ApiError::unauthorized("no such user"))?;
    if !state.password_checks.verify(req.current, stored).await? {
        state.lockout.failed(&caller.user, &caller.ip, now);
        return Err(ApiError::invalid("current", "is not the current password"));
    }
    let hash = state.password_checks.hash(req.new).await?;
    let user = caller.user.clone();
    write::edit(
        &state,
        &caller,
        EntityKind::User,
        &user,
        &HeaderMap::new(),
        "password.change",
        |u: &mut UserSpec| {
            u.password_hash = hash.clone();
            end_every_session(u);
            Ok(())
        },
    )
    .await?;
    // Every session of the user ended with the epoch; a cookie caller gets a fresh one.
    match caller.via {
        Via::Cookie { .. } => {
            let spec = state
                .cache
                .get()
                .users
                .get(&user)
                .cloned()
                .ok_or_else(|| ApiError::internal("user vanished"))?;
            with_session(&state, &user, &spec, StatusCode::OK)
        }
        Via::Bearer { .. } => {
            let table = state.cache.get();
            let spec = table
                .users
                .get(&user)
                .ok_or_else(|| ApiError::internal("user vanished"))?;
            Ok(Json(info(&state, &user, spec, None, None)).into_response())
        }
    }
}

/// Ends every session and bearer token of the user: the epoch moves (cookies and any token
/// bound to the old one are void) and the tokens are deleted.
pub fn end_every_session(u: &mut UserSpec) {
    u.session_epoch = u.session_epoch.wrapping_add(1);
    u.tokens.clear();
}

pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    let table = state.cache.get();
    let spec = table
        .users
        .get(&caller.user)
        .ok_or_else(|| ApiError::unauthorized("no such user"))?;
    Ok(Json(
        spec.tokens
            .iter()
            .map(|t| TokenInfo {
                id: t.id.clone(),
                name: t.name.clone(),
                expires_at: t.expires_at.map(|e| e.to_rfc3339()),
            })
            .collect(),
    ))
}

pub async fn create_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        parse(&body)?
    };
    if req.name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be at most 100 characters"));
    }
    if req.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let token = crate::random::secret("gwt_")?;
    let id = crate::random::id("tok-")?;
    let spec = TokenSpec {
        id: id.clone(),
        name: req.name,
        hash: hash_secret(&state.pepper, &token),
        expires_at: req.expires_at,
        epoch: Some(caller.epoch),
    };
    let user = caller.user.clone();
    let e = write::edit(
        &state,
        &caller,
        EntityKind::User,
        &user,
        &HeaderMap::new(),
        "token.create",
        |u: &mut UserSpec| {
            // A session ended while this request ran makes no token.
            if u.session_epoch != caller.epoch {
                return Err(ApiError::unauthorized(
                    "the session has ended; log in again",
                ));
            }
            if u.tokens.len() >= 50 {
                return Err(ApiError::invalid(
                    "tokens",
                    "at most 50 tokens per user; delete one first",
                ));
            }
            u.tokens.push(spec.clone());
            Ok(())
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSecret {
            id,
            hint: token.chars().take(8).collect(),
            secret: token,
            version: e.version,
            entity: None,
        }),
    )
        .into_response())
}

pub async fn delete_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(token_id): Path<String>,
) -> Result<Response, ApiError> {
    let user = caller.user.clone();
    write::edit(
        &state,
        &caller,
        EntityKind::User,
        &user,
        &HeaderMap::new(),
        "token.delete",
        |u: &mut UserSpec| {
            let before = u.tokens.len();
            u.tokens.retain(|t| t.id != token_id);
            if u.tokens.len() == before {
                return Err(ApiError::not_found(format!("no token {token_id:?}")));
            }
            Ok(())
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/v1/me/preferences`: a user sets their own language and zone — a new version of
/// their user entity (history, audit row `preferences.change`); role, password and sessions
/// are left as they are.
pub async fn preferences(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<SessionInfo>, ApiError> {
    let req: Preferences = parse(&body)?;
    if !["en", "zh-TW"].contains(&req.lang.as_str()) {
        return Err(ApiError::invalid(
            "lang",
            format!("{:?} is not a language (en, zh-TW)", req.lang),
        ));
    }
    let timezone = req.timezone.filter(|z| !z.is_empty());
    if let Some(z) = &timezone {
        gatewatch_model::client::parse_tz(z).map_err(|m| ApiError::invalid("timezone", m))?;
    }
    let user = caller.user.clone();
    // An If-Match sent is checked (none: applied to whatever is current); X-Comment is kept.
    write::edit(
        &state,
        &caller,
        EntityKind::User,
        &user,
        &headers,
        "preferences.change",
        |u: &mut UserSpec| {
            u.lang = req.lang.clone();
            u.timezone = timezone.clone();
            Ok(())
        },
    )
    .await?;
    let table = state.cache.get();
    let spec = table
        .users
        .get(&user)
        .ok_or_else(|| ApiError::internal("user vanished"))?;
    let (csrf, exp) = match &caller.via {
        Via::Cookie { nonce, expires } => (Some(nonce.clone()), Some(*expires)),
        Via::Bearer { .. } => (None, None),
    };
    Ok(Json(info(&state, &user, spec, csrf, exp)))
}
