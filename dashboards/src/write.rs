//! The write path shared by every route that changes an entity: `If-Match` versions, the
//! authoritative current row, one change through the configuration log with the caller as
//! author, the cache reload after it, audit rows naming the changed fields, and the reference
//! checks that keep the configuration whole.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use gatewatch_model::{Entity, EntityKind};
use gatewatch_store::config_log::{self, Change, Entry};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

pub use gatewatch_model::call::now_us;

/// The field refusals of the header name.
const IF_MATCH: &str = "If-Match";

/// `If-Match: "<version>"` → the version; 428 when missing, 400 when unreadable.
pub fn if_match(headers: &HeaderMap) -> Result<u64, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Err(ApiError {
            field: Some(IF_MATCH.into()),
            ..ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                "if_match_required",
                "send If-Match: \"<version>\" (the ETag of the version you read)",
            )
        });
    };
    optional_if_match(Some(v))?
        .ok_or_else(|| ApiError::malformed(IF_MATCH, "If-Match must be \"<version>\""))
}

pub fn optional_if_match(v: Option<&HeaderValue>) -> Result<Option<u64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse()
        .map(Some)
        .map_err(|_| ApiError::malformed(IF_MATCH, format!("If-Match {s:?} is not \"<version>\"")))
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

/// A certificate identifies one client: a fingerprint of `c` (client `id`) that another client
/// lists is refused, naming the entry and that client. (Two writes racing past this check
/// leave the fingerprint to neither: the gateway ignores a shared one.)
pub fn certificates_unique(
    state: &AppState,
    id: &str,
    c: &gatewatch_model::ClientSpec,
) -> Result<(), ApiError> {
    if c.certificates.is_empty() {
        return Ok(());
    }
    let table = state.cache.get();
    for other in table.list(EntityKind::Client, None) {
        if other.id == id {
            continue;
        }
        let Ok(body) = serde_json::from_str::<Value>(&other.body) else {
            continue;
        };
        let Some(theirs) = body["certificates"].as_array() else {
            continue;
        };
        for (i, fp) in c.certificates.iter().enumerate() {
            if theirs
                .iter()
                .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(fp)))
            {
                return Err(ApiError::invalid(
                    format!("certificates[{i}]"),
                    format!(
                        "{fp} is client {:?}'s: a certificate identifies one client",
                        other.id
                    ),
                ));
            }
        }
    }
    Ok(())
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
    mut edit: F,
) -> Result<Entry, ApiError>
where
    T: serde::de::DeserializeOwned + Serialize,
    F: FnMut(&mut T) -> Result<(), ApiError>,
{
    let expected = optional_if_match(headers.get(header::IF_MATCH))?;
    let comment = comment_of(headers);
    // Without an If-Match the caller asked for "this action on whatever is current": a
    // concurrent change to the same entity is read again and the action reapplied.
    let mut attempts = if expected.is_some() { 1 } else { 3 };
    loop {
        attempts -= 1;
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
        let body = Entity::parse(kind, id, &json)?.to_json();
        let change = Change {
            kind,
            id: id.to_string(),
            body: body.clone(),
            deleted: false,
            expected_version: Some(previous.version),
        };
        match commit(state, caller, action, &comment, vec![change]).await {
            Ok(receipt) => {
                return Ok(entry_after(
                    state,
                    kind,
                    id,
                    receipt.versions[0].2,
                    &caller.user,
                    &comment,
                    body,
                ))
            }
            Err(e) if e.status == StatusCode::PRECONDITION_FAILED && attempts > 0 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The entity as written: the cached row (reloaded right after the write, so its time is the
/// stored one), or one built from what was sent when the reload failed.
pub(crate) fn entry_after(
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Each refusal names the header (found by schemathesis: a 400 without a field).
        let mut m = HeaderMap::new();
        m.insert(header::IF_MATCH, HeaderValue::from_static(""));
        assert_eq!(if_match(&m).unwrap_err().field.as_deref(), Some("If-Match"));
        assert_eq!(
            if_match(&HeaderMap::new()).unwrap_err().field.as_deref(),
            Some("If-Match")
        );
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
