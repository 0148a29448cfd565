//! What answers look like: an entity in its envelope (version, who, when) with every secret
//! removed, pages of lists, histories. The one place that decides what of a stored body may
//! leave the process.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::Entry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What stands for a kept secret value in answers (a webhook's `Authorization` header); sent
/// back unchanged in a body, it keeps the stored value.
pub const KEPT: &str = gatewatch_model::entity::KEPT;

/// Whether a webhook header carries a credential, by its name: its value is never answered
/// (and is stored sealed, see [`crate::channel_guard`]).
pub fn secret_header(name: &str) -> bool {
    gatewatch_model::channel::is_secret_header(name)
}

/// A body with its secrets removed, for answers (the model's, which the OpenAPI read schemas
/// are tested against).
pub fn redact(kind: EntityKind, body: &str) -> Value {
    gatewatch_model::entity::redact(kind, body)
}

/// Answer fields added by [`redact`], dropped from bodies sent back.
pub(crate) fn derived_fields(kind: EntityKind) -> &'static [&'static str] {
    kind.derived_fields()
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
    /// Null for a delete.
    #[schema(value_type = Option<Object>)]
    pub body: Value,
    /// What changed from the version before (every field for the first version or one
    /// re-created after a delete; every field gone for a delete). Secrets by path only.
    pub changes: Vec<crate::diff::FieldChange>,
}

/// An entity to create: its fields and its `id` (the kind's model, see the model docs).
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = EntityBody)]
pub struct EntityBodyDoc {
    pub id: String,
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

/// An optional `cursor` query parameter (absent or empty: the first page).
pub(crate) fn cursor_param(
    s: Option<&str>,
) -> Result<Option<gatewatch_store::cursor::TimeCursor>, crate::error::ApiError> {
    s.filter(|c| !c.is_empty()).map(parse_cursor).transpose()
}

/// Cuts `rows`, read with a limit of `limit + 1`, to `limit`; the cursor of the next page
/// when the extra row said there is one.
pub(crate) fn page_end<T>(
    rows: &mut Vec<T>,
    limit: u64,
    cursor: impl Fn(&T) -> gatewatch_store::cursor::TimeCursor,
) -> Option<String> {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if more {
        rows.last().map(|r| cursor(r).to_string())
    } else {
        None
    }
}

/// A `cursor` query parameter: where the previous page ended (`<ts_us>.<tie>`).
pub(crate) fn parse_cursor(
    s: &str,
) -> Result<gatewatch_store::cursor::TimeCursor, crate::error::ApiError> {
    s.parse().map_err(|e: gatewatch_store::cursor::BadCursor| {
        crate::error::ApiError::invalid("cursor", e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_ends_with_a_cursor_only_when_a_row_is_left_over() {
        use gatewatch_store::cursor::TimeCursor;
        let at = |n: i64| TimeCursor { ts_us: n, tie: 0 };
        let mut rows = vec![3, 2, 1];
        assert_eq!(page_end(&mut rows, 2, |r| at(*r)), Some(at(2).to_string()));
        assert_eq!(rows, [3, 2]);
        let mut rows = vec![3, 2];
        assert_eq!(page_end(&mut rows, 2, |r| at(*r)), None);
        assert_eq!(rows, [3, 2]);
        assert_eq!(cursor_param(None).unwrap(), None);
        assert_eq!(cursor_param(Some("")).unwrap(), None);
        assert_eq!(cursor_param(Some("5.0")).unwrap(), Some(at(5)));
        assert_eq!(
            cursor_param(Some("x")).unwrap_err().field.as_deref(),
            Some("cursor")
        );
    }

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
        assert_eq!(
            client,
            serde_json::json!({"name": "a", "has_secret": true, "has_signing_secret": false})
        );
        let key = redact(
            EntityKind::ApiKey,
            r#"{"client_id":"a","hash":"hmac-sha256:00","hint":"gwk_"}"#,
        );
        assert!(key.get("hash").is_none() && key["hint"] == "gwk_");
    }
}
