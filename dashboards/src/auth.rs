//! Who is calling: passwords (argon2id), sessions (signed cookies), bearer tokens, the login
//! lockout, CSRF, and the middleware that applies the route table ([`crate::access`]).
//!
//! - **Passwords**: argon2id with the crate's default parameters (19 MiB, 2 passes, 1 lane:
//!   OWASP's minimum), hashed and checked on the blocking pool, a bounded number at once
//!   ([`crate::password_checks`]).
//! - **Sessions** are signed, not stored: `s1:<user>:<epoch>:<expires>:<nonce>:<mac>`, the
//!   MAC an HMAC-SHA256 under a key derived from the site pepper. Nothing in the token is
//!   trusted beyond who it is: the user is reloaded from the current configuration on every
//!   request (role, `disabled`), and a token whose `epoch` is not the user's `session_epoch` is
//!   void — logging out everywhere, a password change or an admin's reset bumps it. Logout
//!   also remembers the token's nonce in memory until it expires, so that one cookie is void
//!   in this process even before expiry.
//! - **Bearer tokens** are bound to the `session_epoch` they were made under, and the changes
//!   that bump it also delete the user's tokens: a password change (one's own or an admin's
//!   reset) and "log out everywhere" end scripts' tokens as well as browser sessions.
//! - **CSRF**: the cookie is `HttpOnly; SameSite=Strict`, and every unsafe request
//!   authenticated by the cookie must also carry `X-CSRF-Token` equal to the session's nonce
//!   (returned by login and `GET /api/v1/me`). Bearer-token requests need no CSRF token: a
//!   browser never adds that header on its own.
//! - **Lockout**: failed logins are counted per (user, address), per address and per
//!   account ([`crate::lockout`]); a lock answers 429 `locked` with `Retry-After`. The
//!   client's address is the TCP peer, or behind one of `[dashboards] trusted_proxies` the
//!   `X-Forwarded-For` entry that proxy appended ([`gatewatch_model::forwarded`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use gatewatch_model::secret::{hash_secret, verify_secret};
use gatewatch_model::{Permission, Role};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::access::{self, Access};
use crate::error::ApiError;
use crate::AppState;

pub const COOKIE: &str = "gw_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_LEN: usize = 10;

/// The caller of a request, as the middleware found it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    pub ip: String,
    pub via: Via,
    /// The user's `session_epoch` when the caller was authenticated: a bearer token made now
    /// is bound to it, and refused if it moved in between.
    pub epoch: u32,
}

#[derive(Debug, Clone)]
pub enum Via {
    /// The session cookie; its nonce doubles as the CSRF token.
    Cookie {
        nonce: String,
        expires: i64,
    },
    Bearer {
        token_id: String,
    },
}

impl Caller {
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }
}

/// Argon2id PHC string of `password`, on the blocking pool and outside the bound of
/// [`crate::password_checks`]: for `gatewatch user add` and a fresh site's first admin.
/// Requests hash through `AppState::password_checks`.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let salt = crate::random::bytes(16)?;
    tokio::task::spawn_blocking(move || hash_now(&password, &salt))
        .await
        .map_err(ApiError::internal)?
}

/// Argon2id PHC string of `password` with `salt`, here and now (blocking).
pub(crate) fn hash_now(password: &str, salt: &[u8]) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(salt).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches the PHC string `stored` (false for a malformed one), here and
/// now (blocking).
pub(crate) fn verify_now(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, checked for unknown users so that a wrong name costs as long
/// as a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1nJCBXLeQ0ETbHxgW4tZyMiDmiu5S4FXbEpVZjUx1bU";

pub fn check_new_password(field: &str, p: &str) -> Result<(), ApiError> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if p.len() > 1024 {
        return Err(ApiError::invalid(field, "must be at most 1024 bytes"));
    }
    Ok(())
}

/// Signs and checks session tokens.
pub struct Sessions {
    key: Vec<u8>,
    /// Nonces of logged-out sessions → their expiry (unix seconds).
    ended: Mutex<HashMap<String, i64>>,
}

/// A checked session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub epoch: u32,
    pub expires: i64,
    pub nonce: String,
}

impl Sessions {
    pub fn new(pepper: &[u8]) -> Sessions {
        // A key of its own, so a session MAC can never be confused with a stored secret hash.
        Sessions {
            key: hash_secret(pepper, "gatewatch session key v1").into_bytes(),
            ended: Mutex::new(HashMap::new()),
        }
    }

    pub fn issue(
        &self,
        user: &str,
        epoch: u32,
        expires: i64,
    ) -> Result<(String, Session), ApiError> {
        let nonce = crate::random::secret("")?;
        let payload = format!("s1:{user}:{epoch}:{expires}:{nonce}");
        let mac = hash_secret(&self.key, &payload);
        let hex = mac.trim_start_matches(gatewatch_model::secret::HASH_PREFIX);
        Ok((
            format!("{payload}:{hex}"),
            Session {
                user: user.to_string(),
                epoch,
                expires,
                nonce,
            },
        ))
    }

    /// The session of `token`, if its MAC is right, it has not expired and was not ended.
    pub fn check(&self, token: &str, now: i64) -> Option<Session> {
        let (payload, hex) = token.rsplit_once(':')?;
        let stored = format!("{}{hex}", gatewatch_model::secret::HASH_PREFIX);
        if !verify_secret(&self.key, payload, &stored) {
            return None;
        }
        let mut it = payload.split(':');
        let (Some("s1"), Some(user), Some(epoch), Some(expires), Some(nonce), None) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return None;
        };
        let expires: i64 = expires.parse().ok()?;
        if now >= expires {
            return None;
        }
        let ended = self.ended.lock().ok()?;
        if ended.contains_key(nonce) {
            return None;
        }
        Some(Session {
            user: user.to_string(),
            epoch: epoch.parse().ok()?,
            expires,
            nonce: nonce.to_string(),
        })
    }

    /// Voids one session in this process until it would have expired anyway.
    pub fn end(&self, nonce: &str, expires: i64, now: i64) {
        if let Ok(mut m) = self.ended.lock() {
            m.retain(|_, exp| *exp > now);
            m.insert(nonce.to_string(), expires);
        }
    }
}

/// `Set-Cookie` for a session (or its removal when `token` is empty).
pub fn cookie(token: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    if token.is_empty() {
        format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
    } else {
        format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// The client's address: the TCP peer, or behind a trusted proxy the address it forwarded.
pub fn client_ip(state: &AppState, req: &Request) -> String {
    let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return "unknown".to_string();
    };
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok());
    gatewatch_model::forwarded::client_ip(peer.0.ip(), &state.config.trusted_proxies, forwarded)
        .to_string()
}

/// The role check of every route: finds the route's rule, authenticates the caller (bearer
/// token or session cookie + CSRF), checks the permission, and hands the [`Caller`] on.
pub async fn guard(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    if let Some(r) = method_not_allowed(&state, &req) {
        return r;
    }
    match authorize(&state, &mut req) {
        Ok(()) => next.run(req).await,
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

/// 405 with `Allow` for a method the table has no row of on a path it has rows of (axum
/// routes those here too), before anything else: the answer says nothing of who may call.
fn method_not_allowed(state: &AppState, req: &Request) -> Option<Response> {
    let path = req.extensions().get::<MatchedPath>()?.as_str();
    if access::find(&state.rules, req.method(), path).is_some() {
        return None;
    }
    let allow = access::methods(&state.rules, path);
    if allow.is_empty() {
        return None;
    }
    let mut r = axum::response::IntoResponse::into_response(ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not served here; try {allow}", req.method()),
    ));
    if let Ok(v) = header::HeaderValue::from_str(&allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    Some(r)
}

fn authorize(state: &AppState, req: &mut Request) -> Result<(), ApiError> {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return Err(ApiError::forbidden("route not in the access table"));
    };
    let Some(rule) = access::find(&state.rules, req.method(), &path) else {
        return Err(ApiError::forbidden("route not in the access table"));
    };
    let ip = client_ip(state, req);
    if rule.access == Access::Public {
        req.extensions_mut().insert(ClientIp(ip));
        return Ok(());
    }
    let now = Utc::now().timestamp();
    let table = state.cache.get();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let caller = if let Some(token) = bearer {
        let hash = hash_secret(&state.pepper, token);
        let (user, token_id) = table
            .tokens
            .get(&hash)
            .ok_or_else(|| ApiError::unauthorized("unknown bearer token"))?;
        let spec = table
            .users
            .get(user)
            .filter(|u| !u.disabled)
            .ok_or_else(|| ApiError::unauthorized("the token's user is disabled or gone"))?;
        let t = spec
            .tokens
            .iter()
            .find(|t| &t.id == token_id)
            .filter(|t| t.current(spec.session_epoch))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the bearer token ended with a password change or a log out everywhere",
                )
            })?;
        if t.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(ApiError::unauthorized("the bearer token has expired"));
        }
        Caller {
            user: user.clone(),
            role: spec.role,
            ip,
            via: Via::Bearer {
                token_id: token_id.clone(),
            },
            epoch: spec.session_epoch,
        }
    } else if let Some(token) = session_cookie(req.headers()) {
        let s = state
            .sessions
            .check(token, now)
            .ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
        let spec = table
            .users
            .get(&s.user)
            .filter(|u| !u.disabled && u.session_epoch == s.epoch)
            .ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|t| same(t.as_bytes(), s.nonce.as_bytes())) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "send the session's csrf_token (from login or GET /api/v1/me) in X-CSRF-Token",
                ));
            }
        }
        Caller {
            user: s.user,
            role: spec.role,
            ip,
            via: Via::Cookie {
                nonce: s.nonce,
                expires: s.expires,
            },
            epoch: s.epoch,
        }
    } else {
        return Err(ApiError::unauthorized(
            "log in (POST /api/v1/login) or send Authorization: Bearer <token>",
        ));
    };
    if let Access::Perm(p) = rule.access {
        if !caller.may(p) {
            return Err(ApiError::forbidden(format!(
                "role {} may not {}",
                caller.role,
                serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            )));
        }
    }
    req.extensions_mut().insert(ClientIp(caller.ip.clone()));
    req.extensions_mut().insert(caller);
    Ok(())
}

/// Equality in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client's address, for audit rows of public routes (login).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_expire() {
        let s = Sessions::new(b"pepper-pepper-pepper");
        let (token, sess) = s.issue("alice", 3, 1_000).unwrap();
        assert_eq!(s.check(&token, 999), Some(sess.clone()));
        assert_eq!(s.check(&token, 1_000), None);
        let forged = token.replacen("alice", "admin", 1);
        assert_eq!(s.check(&forged, 999), None);
        let other = Sessions::new(b"another pepper!!");
        assert_eq!(other.check(&token, 999), None);
        s.end(&sess.nonce, sess.expires, 10);
        assert_eq!(s.check(&token, 999), None);
        assert_eq!(s.check("garbage", 0), None);
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(same(b"", b""));
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_now("correct horse", &h));
        assert!(!verify_now("wrong horse", &h));
        // The stand-in for unknown users must be a real hash, or it would answer faster.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_now("x", DUMMY_HASH));
        assert!(!verify_now("x", "not a hash"));
    }
}
