//! `/api/v1/<kind>`: list, get, create, replace, delete and history of every entity kind, all
//! through the configuration log. Secrets (key, secret, password and token hashes) are set
//! only by their own actions, never accepted in a body, and stripped from every answer.

use crate::extract::{Path, Query};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use gatewatch_model::{Entity, EntityKind};
use gatewatch_store::config_log::{self, Change, Entry};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::answer::{entity_answer, redact, time_of, Envelope, History, HistoryEntry, Page};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::write::{
    certificates_unique, comment_of, commit, current, entry_after, if_match, object, references,
    referrers,
};
use crate::AppState;

/// Fields set only by their own actions: hashes are refused in bodies, the others ignored;
/// all are carried over on replace.
pub fn managed_fields(kind: EntityKind) -> &'static [&'static str] {
    kind.managed_fields()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Entities per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub async fn list(
    kind: EntityKind,
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = match q.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("{s:?} must be a whole number from 1 to {MAX_LIMIT}"),
                ))
            }
        },
    };
    let table = state.cache.get();
    let mut it = table.list(kind, q.cursor.as_deref().filter(|c| !c.is_empty()));
    let items: Vec<Envelope> = it.by_ref().take(limit).map(Envelope::of).collect();
    let next_cursor = if it.next().is_some() {
        items.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

pub async fn get_one(
    kind: EntityKind,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let table = state.cache.get();
    let e = table
        .get(kind, &id)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} {id:?}")))?;
    Ok(entity_answer(StatusCode::OK, e, None))
}

pub async fn history(
    kind: EntityKind,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let rows = config_log::history(&state.store, kind, &id).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("no {kind} {id:?}")));
    }
    Ok(Json(History {
        versions: rows
            .iter()
            .enumerate()
            .map(|(i, e)| HistoryEntry {
                changes: crate::diff::changes(
                    kind,
                    i.checked_sub(1).and_then(|p| body_of(&rows[p])),
                    body_of(e),
                ),
                version: e.version,
                changed_at: time_of(e.ts_us),
                changed_by: e.author.clone(),
                comment: e.comment.clone(),
                deleted: e.deleted,
                body: if e.deleted {
                    Value::Null
                } else {
                    redact(kind, &e.body)
                },
            })
            .collect(),
    }))
}

/// A user changing their own entity keeps their role and stays enabled: another admin may
/// demote or disable them, they may not lock themselves (perhaps the last admin) out.
fn keep_own_access(old: &str, new: &str) -> Result<(), ApiError> {
    let parse = |b: &str| serde_json::from_str::<Value>(b).unwrap_or(Value::Null);
    let (old, new) = (parse(old), parse(new));
    if old.get("role") != new.get("role") {
        return Err(ApiError::invalid(
            "role",
            "you cannot change your own role; another admin can",
        ));
    }
    let disabled = |v: &Value| v.get("disabled").and_then(Value::as_bool).unwrap_or(false);
    if disabled(&new) && !disabled(&old) {
        return Err(ApiError::invalid(
            "disabled",
            "you cannot disable your own user; another admin can",
        ));
    }
    Ok(())
}

fn body_of(e: &Entry) -> Option<&str> {
    (!e.deleted).then_some(e.body.as_str())
}

/// A channel's webhook header sent back as [`crate::answer::KEPT`] (as a GET answered it)
/// keeps its stored value; with none stored, the placeholder is refused. When the URL's host
/// or port changed, kept headers are dropped instead: a credential given for one receiver
/// does not follow the channel to another.
fn keep_secret_headers(
    obj: &mut Map<String, Value>,
    prev: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    // Only a channel that had a destination can move; a new one's "****" is refused below.
    let moved = prev.is_some() && !crate::channel_guard::same_destination(obj, prev);
    let stored = |name: &str| {
        prev.and_then(|p| p.get("webhook"))
            .and_then(|w| w.get("headers"))
            .and_then(|h| h.get(name))
            .cloned()
    };
    keep_routing_key(obj, prev, moved)?;
    let Some(headers) = obj
        .get_mut("webhook")
        .and_then(|w| w.get_mut("headers"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    if moved {
        headers.retain(|_, v| v.as_str() != Some(crate::answer::KEPT));
        return Ok(());
    }
    for (name, value) in headers.iter_mut() {
        if value.as_str() != Some(crate::answer::KEPT) {
            continue;
        }
        match stored(name) {
            Some(old) => *value = old,
            None => {
                return Err(ApiError::invalid(
                    format!("webhook.headers.{name}"),
                    format!(
                        "is {:?}, which keeps a stored value, but none is stored: send the value",
                        crate::answer::KEPT
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// A PagerDuty `routing_key` sent back as [`crate::answer::KEPT`] keeps its stored value,
/// as credential headers do; when the URL's host or port changed it is dropped (the channel
/// then asks for the key again).
fn keep_routing_key(
    obj: &mut Map<String, Value>,
    prev: Option<&Map<String, Value>>,
    moved: bool,
) -> Result<(), ApiError> {
    let Some(Value::Object(w)) = obj.get_mut("webhook") else {
        return Ok(());
    };
    if w.get("routing_key").and_then(Value::as_str) != Some(crate::answer::KEPT) {
        return Ok(());
    }
    let stored = prev
        .and_then(|p| p.get("webhook"))
        .and_then(|w| w.get("routing_key"))
        .cloned();
    match stored {
        Some(old) if !moved => {
            w.insert("routing_key".into(), old);
        }
        Some(_) => {
            w.remove("routing_key");
        }
        None => {
            return Err(ApiError::invalid(
                "webhook.routing_key",
                format!(
                    "is {:?}, which keeps a stored value, but none is stored: send the key",
                    crate::answer::KEPT
                ),
            ))
        }
    }
    Ok(())
}

/// Checks a body against its kind and readies it for the log: managed fields refused (or
/// carried over from `previous`), a user's `password` hashed. Returns the JSON to store and
/// a secret to show once (a generated password).
async fn prepare(
    state: &AppState,
    kind: EntityKind,
    id: &str,
    mut obj: Map<String, Value>,
    previous: Option<&Entry>,
) -> Result<(String, Option<String>), ApiError> {
    for f in crate::answer::derived_fields(kind) {
        obj.remove(*f);
    }
    for f in managed_fields(kind) {
        // Hashes are refused outright; shown server-kept fields (a user's token list and
        // session epoch) are ignored, so that a GET body can be sent back as it is.
        if f.contains("hash") && obj.contains_key(*f) {
            return Err(ApiError::invalid(
                *f,
                "is managed by its own action (keys, secrets, passwords) and cannot be set here",
            ));
        }
        obj.remove(*f);
    }
    let prev: Option<Map<String, Value>> = previous
        .filter(|e| !e.deleted)
        .and_then(|e| serde_json::from_str(&e.body).ok());
    if kind == EntityKind::Channel {
        keep_secret_headers(&mut obj, prev.as_ref())?;
    }
    if let Some(p) = &prev {
        for f in managed_fields(kind) {
            if let Some(v) = p.get(*f) {
                obj.insert(f.to_string(), v.clone());
            }
        }
    }
    let mut shown = None;
    if kind == EntityKind::User {
        let password = match obj.remove("password") {
            Some(Value::String(p)) => {
                crate::auth::check_new_password("password", &p)?;
                Some(p)
            }
            Some(_) => return Err(ApiError::invalid("password", "must be a string")),
            None if prev.is_none() => {
                let p = crate::random::password()?;
                shown = Some(p.clone());
                Some(p)
            }
            None => None,
        };
        if let Some(p) = password {
            obj.insert(
                "password_hash".into(),
                Value::String(state.password_checks.hash(p).await?),
            );
            // A new password ends every session and bearer token of the user.
            let epoch = prev
                .as_ref()
                .and_then(|p| p.get("session_epoch"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if prev.is_some() {
                obj.insert("session_epoch".into(), Value::from(epoch + 1));
                obj.remove("tokens");
            }
        }
        if prev.is_none() {
            // A user created anew (perhaps under the name of a deleted one) starts at an epoch
            // no earlier session of that name can carry.
            let epoch = Utc::now().timestamp().clamp(0, u32::MAX as i64 / 2);
            obj.insert("session_epoch".into(), Value::from(epoch));
        }
    }
    if kind == EntityKind::ApiKey && prev.is_none() {
        return Err(ApiError::invalid(
            "hash",
            "API keys are generated by POST /api/v1/clients/{id}/keys",
        ));
    }
    let json = Value::Object(obj).to_string();
    let mut parsed = Entity::parse(kind, id, &json)?;
    if let Entity::Channel(c) = &mut parsed {
        crate::channel_guard::check_destination(&state.config.outbound, c).await?;
        crate::channel_guard::seal(&state.pepper, c)?;
    }
    references(state, &parsed)?;
    if let Entity::Client(c) = &parsed {
        certificates_unique(state, id, c)?;
    }
    Ok((parsed.to_json(), shown))
}

pub async fn create(
    kind: EntityKind,
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut obj = object(&body)?;
    if kind == EntityKind::ApiKey {
        // Same as POST /clients/{id}/keys with the client named in the body.
        let client = match obj.remove("client_id") {
            Some(Value::String(s)) => s,
            _ => return Err(ApiError::invalid("client_id", "must name the key's client")),
        };
        // Named in the body, an unknown client is a bad field (the path's would be a 404).
        if state.cache.get().get(EntityKind::Client, &client).is_none() {
            return Err(ApiError::invalid(
                "client_id",
                format!("no client {client:?}"),
            ));
        }
        return crate::keys::generate(&state, &caller, &client, Value::Object(obj)).await;
    }
    let id = match obj.remove("id") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::invalid("id", "must be a string")),
        None => return Err(ApiError::invalid("id", "is missing")),
    };
    gatewatch_model::field::check_id("id", &id)?;
    let previous = current(&state, kind, &id).await?;
    if previous.as_ref().is_some_and(|e| !e.deleted) {
        return Err(ApiError::conflict(format!(
            "{kind} {id:?} exists; replace it with PUT and If-Match"
        )));
    }
    let (json, shown) = prepare(&state, kind, &id, obj, None).await?;
    let expected = previous.as_ref().map_or(0, |e| e.version);
    let comment = comment_of(&headers);
    let change = Change {
        kind,
        id: id.clone(),
        body: json.clone(),
        deleted: false,
        expected_version: Some(expected),
    };
    let receipt = match commit(&state, &caller, "create", &comment, vec![change]).await {
        Err(e) if e.status == StatusCode::PRECONDITION_FAILED => {
            return Err(ApiError::conflict(format!(
                "{kind} {id:?} was created meanwhile"
            )))
        }
        r => r?,
    };
    let e = entry_after(
        &state,
        kind,
        &id,
        receipt.versions[0].2,
        &caller.user,
        &comment,
        json,
    );
    Ok(entity_answer(
        StatusCode::CREATED,
        &e,
        shown.map(|p| ("password", p)),
    ))
}

pub async fn replace(
    kind: EntityKind,
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let mut obj = object(&body)?;
    match obj.remove("id") {
        None => {}
        Some(Value::String(s)) if s == id => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "id",
                format!("must be {id:?}, as in the URL, or absent"),
            ))
        }
    }
    let previous = current(&state, kind, &id)
        .await?
        .filter(|e| !e.deleted)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} {id:?}")))?;
    if previous.version != expected {
        return Err(ApiError::stale(format!(
            "{kind} {id:?} is at version {}, not {expected}: reload it and try again",
            previous.version
        )));
    }
    let (json, _) = prepare(&state, kind, &id, obj, Some(&previous)).await?;
    if kind == EntityKind::User && id == caller.user {
        keep_own_access(&previous.body, &json)?;
    }
    let comment = comment_of(&headers);
    let change = Change {
        kind,
        id: id.clone(),
        body: json.clone(),
        deleted: false,
        expected_version: Some(expected),
    };
    let receipt = commit(&state, &caller, "update", &comment, vec![change]).await?;
    let e = entry_after(
        &state,
        kind,
        &id,
        receipt.versions[0].2,
        &caller.user,
        &comment,
        json,
    );
    Ok(entity_answer(StatusCode::OK, &e, None))
}

pub async fn delete(
    kind: EntityKind,
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let previous = current(&state, kind, &id)
        .await?
        .filter(|e| !e.deleted)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} {id:?}")))?;
    if previous.version != expected {
        return Err(ApiError::stale(format!(
            "{kind} {id:?} is at version {}, not {expected}",
            previous.version
        )));
    }
    if kind == EntityKind::User && id == caller.user {
        // So that a site never loses its last admin by a slip; another admin may do it.
        return Err(ApiError::conflict(
            "you cannot delete your own user; another admin can",
        ));
    }
    let refs = referrers(&state.cache.get(), kind, &id);
    if !refs.is_empty() {
        return Err(ApiError::conflict(format!(
            "{kind} {id:?} is still named by {}; change or delete those first (or revoke the keys)",
            refs.join(", ")
        )));
    }
    let change = Change {
        kind,
        id: id.clone(),
        body: String::new(),
        deleted: true,
        expected_version: Some(expected),
    };
    commit(
        &state,
        &caller,
        "delete",
        &comment_of(&headers),
        vec![change],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::{keep_own_access, keep_secret_headers};
    use serde_json::{json, Map, Value};

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn kept_credentials_follow_the_channel_only_to_the_same_host() {
        let stored = obj(json!({"webhook": {"url": "https://hooks.example.tw/a",
            "headers": {"Authorization": "sealed:v1:AAAA", "X-Team": "ops"}}}));
        let sent = |url: &str| {
            obj(json!({"webhook": {"url": url,
                "headers": {"Authorization": "****", "X-Team": "sre"}}}))
        };
        let mut same = sent("https://hooks.example.tw/b");
        keep_secret_headers(&mut same, Some(&stored)).unwrap();
        assert_eq!(
            same["webhook"]["headers"]["Authorization"],
            "sealed:v1:AAAA"
        );
        assert_eq!(same["webhook"]["headers"]["X-Team"], "sre");
        for elsewhere in [
            "https://attacker.example/a",
            "https://hooks.example.tw:8443/a",
            "http://hooks.example.tw/a",
        ] {
            let mut moved = sent(elsewhere);
            keep_secret_headers(&mut moved, Some(&stored)).unwrap();
            let h = &moved["webhook"]["headers"];
            assert!(h.get("Authorization").is_none(), "{elsewhere}: {h}");
            assert_eq!(h["X-Team"], "sre");
        }
        // A new value given for the new host is taken as it is.
        let mut fresh = sent("https://attacker.example/a");
        fresh["webhook"]["headers"]["Authorization"] = json!("Bearer new");
        keep_secret_headers(&mut fresh, Some(&stored)).unwrap();
        assert_eq!(fresh["webhook"]["headers"]["Authorization"], "Bearer new");
        // "****" with nothing stored (a new channel) is refused, naming the header.
        let e = keep_secret_headers(&mut sent("https://hooks.example.tw/a"), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("webhook.headers.Authorization"));
    }

    #[test]
    fn a_kept_routing_key_follows_the_channel_only_to_the_same_host() {
        let stored = obj(
            json!({"webhook": {"url": "https://events.pagerduty.com/v2/enqueue",
            "preset": "pagerduty", "routing_key": "sealed:v1:BBBB"}}),
        );
        let sent = |url: &str| {
            obj(json!({"webhook": {"url": url, "preset": "pagerduty", "routing_key": "****"}}))
        };
        let mut same = sent("https://events.pagerduty.com/v2/enqueue?x=1");
        keep_secret_headers(&mut same, Some(&stored)).unwrap();
        assert_eq!(same["webhook"]["routing_key"], "sealed:v1:BBBB");
        let mut moved = sent("https://attacker.example/v2/enqueue");
        keep_secret_headers(&mut moved, Some(&stored)).unwrap();
        assert!(moved["webhook"].get("routing_key").is_none(), "{moved:?}");
        // A new key is taken as given; "****" with none stored is refused, naming the field.
        let mut fresh = sent("https://attacker.example/v2/enqueue");
        fresh["webhook"]["routing_key"] = json!("R0123456789abcdefR0123456789abcd");
        keep_secret_headers(&mut fresh, Some(&stored)).unwrap();
        assert_eq!(
            fresh["webhook"]["routing_key"],
            "R0123456789abcdefR0123456789abcd"
        );
        let e = keep_secret_headers(&mut sent("https://events.pagerduty.com/v2/enqueue"), None)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("webhook.routing_key"));
    }

    #[test]
    fn one_keeps_ones_own_role_and_stays_enabled() {
        let admin = r#"{"role":"admin","password_hash":"$argon2id$x"}"#;
        assert!(keep_own_access(admin, r#"{"role":"admin","display_name":"A"}"#).is_ok());
        let e = keep_own_access(admin, r#"{"role":"ops"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("role"));
        assert_eq!(e.status.as_u16(), 422);
        let e = keep_own_access(admin, r#"{"role":"admin","disabled":true}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("disabled"));
        // Already disabled (cannot happen for a caller, but not this check's business).
        assert!(keep_own_access(
            r#"{"role":"admin","disabled":true}"#,
            r#"{"role":"admin","disabled":true}"#
        )
        .is_ok());
    }
}
