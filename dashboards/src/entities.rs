//! `/api/v1/<kind>`: list, get, create, replace, delete and history of every entity kind, all
//! through the configuration log. Secrets (key, secret, password and token hashes) are set
//! only by their own actions, never accepted in a body, and stripped from every answer.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use gatewatch_model::{Entity, EntityKind};
use gatewatch_store::config_log::{self, Change, Entry};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Fields set only by their own actions: hashes are refused in bodies, the others ignored;
/// all are carried over on replace.
pub fn managed_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Client => &["secret_hash"],
        EntityKind::ApiKey => &["hash"],
        EntityKind::User => &["password_hash", "tokens", "session_epoch"],
        _ => &[],
    }
}

/// A body with its secrets removed, for answers.
pub fn redact(kind: EntityKind, body: &str) -> Value {
    let mut v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        match kind {
            EntityKind::Client => {
                let has = o.remove("secret_hash").is_some();
                o.insert("has_secret".into(), Value::Bool(has));
            }
            EntityKind::ApiKey => {
                o.remove("hash");
            }
            EntityKind::User => {
                o.remove("password_hash");
                if let Some(Value::Array(ts)) = o.get_mut("tokens") {
                    for t in ts {
                        if let Some(t) = t.as_object_mut() {
                            t.remove("hash");
                        }
                    }
                }
            }
            _ => {}
        }
    }
    v
}

/// Answer fields added by [`redact`], dropped from bodies sent back.
fn derived_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Client => &["has_secret"],
        _ => &[],
    }
}

/// One entity in an answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Envelope {
    pub kind: String,
    pub id: String,
    pub version: u64,
    pub changed_at: String,
    pub changed_by: String,
    pub comment: String,
    /// The entity (see the model docs of its kind), secrets removed.
    #[schema(value_type = Object)]
    pub body: Value,
}

impl Envelope {
    pub fn of(e: &Entry) -> Envelope {
        Envelope {
            kind: e.kind.as_str().to_string(),
            id: e.id.clone(),
            version: e.version,
            changed_at: time_of(e.ts_us),
            changed_by: e.author.clone(),
            comment: e.comment.clone(),
            body: if e.deleted {
                Value::Null
            } else {
                redact(e.kind, &e.body)
            },
        }
    }
}

pub fn time_of(ts_us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(ts_us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub items: Vec<Envelope>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Every version of an entity, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    pub versions: Vec<HistoryEntry>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub version: u64,
    pub changed_at: String,
    pub changed_by: String,
    pub comment: String,
    pub deleted: bool,
    #[schema(value_type = Object)]
    pub body: Value,
}

/// An entity to create: its fields and its `id` (the kind's model, see the model docs).
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = EntityBody)]
pub struct EntityBodyDoc {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// `If-Match: "<version>"` → the version; 428 when missing, 400 when unreadable.
pub fn if_match(headers: &HeaderMap) -> Result<u64, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "send If-Match: \"<version>\" (the ETag of the version you read)",
        ));
    };
    optional_if_match(Some(v))?.ok_or_else(|| ApiError::bad_json("If-Match must be \"<version>\""))
}

pub fn optional_if_match(v: Option<&HeaderValue>) -> Result<Option<u64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_json(format!("If-Match {s:?} is not \"<version>\"")))
}

/// The JSON object of a body: 400 when it is not JSON, 422 when not an object.
pub fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("the body is not JSON: {e}")))?;
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::invalid("", "the body must be a JSON object")),
    }
}

/// The entity's authoritative current row (from ClickHouse, not the cache).
pub async fn current(
    state: &AppState,
    kind: EntityKind,
    id: &str,
) -> Result<Option<Entry>, ApiError> {
    Ok(config_log::get(&state.store, kind, id).await?)
}

/// Writes one change, refreshes the cache and records the audit rows.
pub async fn commit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    comment: &str,
    changes: Vec<Change>,
) -> Result<config_log::Receipt, ApiError> {
    // The table before the write says what changed (names of fields only: values may be
    // secrets).
    let before = state.cache.get();
    let fields: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            let old: Value = before
                .get(c.kind, &c.id)
                .and_then(|e| serde_json::from_str(&e.body).ok())
                .unwrap_or(Value::Null);
            let new: Value = serde_json::from_str(&c.body).unwrap_or(Value::Null);
            changed_fields(&old, &new)
        })
        .collect();
    let receipt =
        config_log::write(&state.store, &caller.user, comment, &changes, now_us()).await?;
    if let Err(e) = state.cache.refresh(true).await {
        tracing::warn!(error = %e, "cache reload after a write failed; the poller will retry");
    }
    let events = receipt
        .versions
        .iter()
        .zip(fields)
        .map(|((kind, id, version), fields)| {
            crate::audit::event(
                &caller.user,
                action,
                kind.as_str(),
                id,
                receipt.change_id,
                &caller.ip,
                serde_json::json!({ "version": version, "comment": comment, "fields": fields }),
            )
        })
        .collect::<Vec<_>>();
    crate::audit::record(state, events).await;
    Ok(receipt)
}

/// Top-level fields that differ between two bodies.
pub fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| o.get(*k) != n.get(*k))
        .cloned()
        .collect()
}

/// The comment of a change: `X-Comment` header, if any.
/// Raw UTF-8 is taken as it is (curl sends it), so comments may be in any language.
pub fn comment_of(headers: &HeaderMap) -> String {
    headers
        .get("x-comment")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(500)
        .collect()
}

/// What still names `kind`/`id` (keys of a client, clients of a group, keys granted a
/// product), so that a delete does not leave dangling references.
pub fn referrers(table: &crate::table::Table, kind: EntityKind, id: &str) -> Vec<String> {
    let bodies = |k: EntityKind| {
        table
            .list(k, None)
            .filter_map(move |e| Some((e.id.clone(), serde_json::from_str::<Value>(&e.body).ok()?)))
    };
    let names = |v: &Value, field: &str| -> bool {
        v[field].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x.as_str() == Some(id) || x["product"].as_str() == Some(id))
        })
    };
    match kind {
        EntityKind::Client => bodies(EntityKind::ApiKey)
            .filter(|(_, b)| {
                b["client_id"].as_str() == Some(id) && b["revoked"] != Value::Bool(true)
            })
            .map(|(k, _)| format!("api_key {k}"))
            .collect(),
        EntityKind::Group => bodies(EntityKind::Client)
            .filter(|(_, b)| names(b, "groups"))
            .map(|(c, _)| format!("client {c}"))
            .collect(),
        EntityKind::Product => bodies(EntityKind::ApiKey)
            .filter(|(_, b)| names(b, "products"))
            .map(|(k, _)| format!("api_key {k}"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The answer for one entity: the envelope, `ETag`, and `Location` on create.
pub fn entity_answer(status: StatusCode, e: &Entry, extra: Option<(&str, String)>) -> Response {
    let mut v = serde_json::to_value(Envelope::of(e)).unwrap_or(Value::Null);
    if let (Some((k, s)), Some(o)) = (extra, v.as_object_mut()) {
        o.insert(k.to_string(), Value::String(s));
    }
    let mut r = (status, Json(v)).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("\"{}\"", e.version)) {
        r.headers_mut().insert(header::ETAG, h);
    }
    if status == StatusCode::CREATED {
        if let Ok(h) = HeaderValue::from_str(&format!("/api/v1/{}/{}", segment(e.kind), e.id)) {
            r.headers_mut().insert(header::LOCATION, h);
        }
    }
    r
}

pub fn segment(kind: EntityKind) -> &'static str {
    crate::access::KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(_, s)| s)
}

/// The entity as written: the cached row (reloaded right after the write, so its time is the
/// stored one), or one built from what was sent when the reload failed.
fn entry_after(
    state: &AppState,
    kind: EntityKind,
    id: &str,
    version: u64,
    author: &str,
    comment: &str,
    body: String,
) -> Entry {
    if let Some(e) = state
        .cache
        .get()
        .get(kind, id)
        .filter(|e| e.version == version)
    {
        return e.clone();
    }
    Entry {
        kind,
        id: id.to_string(),
        version,
        change_id: uuid::Uuid::nil(),
        ts_us: now_us(),
        author: author.to_string(),
        comment: comment.to_string(),
        deleted: false,
        body,
    }
}

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
            .map(|e| HistoryEntry {
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
    for f in derived_fields(kind) {
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
                Value::String(crate::auth::hash_password(p).await?),
            );
            // A new password ends every session of the user.
            let epoch = prev
                .as_ref()
                .and_then(|p| p.get("session_epoch"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if prev.is_some() {
                obj.insert("session_epoch".into(), Value::from(epoch + 1));
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
    let parsed = Entity::parse(kind, id, &json)?;
    references(state, &parsed)?;
    Ok((parsed.to_json(), shown))
}

/// Checks that what an entity names exists (a key's client, its products, a client's groups).
pub fn references(state: &AppState, e: &Entity) -> Result<(), ApiError> {
    let table = state.cache.get();
    match e {
        Entity::ApiKey(k) => {
            if table.get(EntityKind::Client, &k.client_id).is_none() {
                return Err(ApiError::invalid(
                    "client_id",
                    format!("no client {:?}", k.client_id),
                ));
            }
            for (i, g) in k.products.iter().enumerate() {
                if table.get(EntityKind::Product, &g.product).is_none() {
                    return Err(ApiError::invalid(
                        format!("products[{i}].product"),
                        format!("no product {:?}", g.product),
                    ));
                }
            }
        }
        Entity::Client(c) => {
            for (i, g) in c.groups.iter().enumerate() {
                if table.get(EntityKind::Group, g).is_none() {
                    return Err(ApiError::invalid(
                        format!("groups[{i}]"),
                        format!("no group {g:?}"),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
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

/// Writes a new version of an existing entity built by `edit` from its current body, checked
/// against an optional `If-Match`. For the action routes (revoke, grants, secrets).
pub async fn edit<T, F>(
    state: &AppState,
    caller: &Caller,
    kind: EntityKind,
    id: &str,
    headers: &HeaderMap,
    action: &str,
    edit: F,
) -> Result<Entry, ApiError>
where
    T: serde::de::DeserializeOwned + Serialize,
    F: FnOnce(&mut T) -> Result<(), ApiError>,
{
    let expected = optional_if_match(headers.get(header::IF_MATCH))?;
    let previous = current(state, kind, id)
        .await?
        .filter(|e| !e.deleted)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} {id:?}")))?;
    if expected.is_some_and(|v| v != previous.version) {
        return Err(ApiError::stale(format!(
            "{kind} {id:?} is at version {}",
            previous.version
        )));
    }
    let mut spec: T = serde_json::from_str(&previous.body).map_err(ApiError::internal)?;
    edit(&mut spec)?;
    let json = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    let parsed = Entity::parse(kind, id, &json)?;
    let comment = comment_of(headers);
    let change = Change {
        kind,
        id: id.to_string(),
        body: parsed.to_json(),
        deleted: false,
        expected_version: Some(previous.version),
    };
    let receipt = commit(state, caller, action, &comment, vec![change]).await?;
    Ok(entry_after(
        state,
        kind,
        id,
        receipt.versions[0].2,
        &caller.user,
        &comment,
        parsed.to_json(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_no_hash() {
        let user = r#"{"role":"ops","password_hash":"$argon2id$x","session_epoch":3,"tokens":[{"id":"t","name":"ci","hash":"hmac-sha256:00"}]}"#;
        let v = redact(EntityKind::User, user);
        assert!(v.get("password_hash").is_none());
        assert_eq!(v["tokens"][0]["id"], "t");
        assert!(v["tokens"][0].get("hash").is_none());
        let client = redact(
            EntityKind::Client,
            r#"{"name":"a","secret_hash":"hmac-sha256:00"}"#,
        );
        assert_eq!(client, serde_json::json!({"name": "a", "has_secret": true}));
        let key = redact(
            EntityKind::ApiKey,
            r#"{"client_id":"a","hash":"hmac-sha256:00","hint":"gwk_"}"#,
        );
        assert!(key.get("hash").is_none() && key["hint"] == "gwk_");
    }

    #[test]
    fn if_match_forms() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
            if_match(&m).map_err(|e| e.status.as_u16())
        };
        assert_eq!(h("\"3\""), Ok(3));
        assert_eq!(h("W/\"3\""), Ok(3));
        assert_eq!(h("3"), Ok(3));
        assert_eq!(h("\"three\""), Err(400));
        assert_eq!(
            if_match(&HeaderMap::new()).unwrap_err().status.as_u16(),
            428
        );
    }

    #[test]
    fn changed_fields_are_named() {
        let a = serde_json::json!({"name": "a", "prefix": "/a", "x": 1});
        let b = serde_json::json!({"name": "a", "prefix": "/b", "y": 1});
        assert_eq!(changed_fields(&a, &b), ["prefix", "x", "y"]);
        assert_eq!(
            changed_fields(&Value::Null, &serde_json::json!({"n": 1})),
            ["n"]
        );
    }
}
