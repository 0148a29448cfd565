//! API keys and client secrets: generated here from the OS's randomness, shown once, stored
//! only as `model::secret::hash_secret(pepper, secret)`. Rotation, revocation and product
//! grants are new versions of the key entity.

use crate::extract::{Body, Path};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use gatewatch_model::access::{Approval, GrantStatus, ProductGrant};
use gatewatch_model::secret::hash_secret;
use gatewatch_model::{ApiKeySpec, ClientSpec, Entity, EntityKind, ProductSpec};
use gatewatch_store::config_log::Change;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

use crate::answer::{entity_answer, segment, Envelope};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::write;
use crate::AppState;

/// A secret shown once, with the entity that now holds its hash.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedSecret {
    /// Id of the key or token (the client's id for a client secret).
    pub id: String,
    /// The secret itself: store it now, it is never shown again.
    pub secret: String,
    pub hint: String,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<Envelope>,
}

/// Options of a new key.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Refused after this instant (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Products to grant (auto-approval products are approved, manual ones pending).
    #[serde(default)]
    pub products: Vec<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old key keeps working, in seconds (0 to 30 days; default 0).
    #[serde(default)]
    pub overlap_secs: u64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub product: String,
}

const MAX_OVERLAP_SECS: u64 = 30 * 24 * 3600;

/// Parses an optional JSON body into `T` (an empty body is `T::default()`), naming the field.
fn body_of<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_json(format!("the body is not JSON: {e}")))?;
    typed(v)
}

/// `T` from a JSON value, the error naming the field (`expires_at`, `products[1]`).
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(crate::error::invalid_body)
}

fn grant_for(state: &AppState, product: &str, field: &str) -> Result<ProductGrant, ApiError> {
    let table = state.cache.get();
    let p = table
        .get(EntityKind::Product, product)
        .ok_or_else(|| ApiError::invalid(field, format!("no product {product:?}")))?;
    let spec: ProductSpec = serde_json::from_str(&p.body).map_err(ApiError::internal)?;
    Ok(ProductGrant {
        product: product.to_string(),
        status: match spec.approval {
            Approval::Auto => GrantStatus::Approved,
            Approval::Manual => GrantStatus::Pending,
        },
    })
}

fn new_key(state: &AppState, client: &str) -> Result<(String, ApiKeySpec), ApiError> {
    let key = crate::random::secret("gwk_")?;
    let spec = ApiKeySpec {
        client_id: client.to_string(),
        hash: hash_secret(&state.pepper, &key),
        hint: key.chars().take(8).collect(),
        expires_at: None,
        revoked: false,
        replaces: None,
        products: Vec::new(),
    };
    Ok((key, spec))
}

pub(crate) fn created(
    id: &str,
    secret: String,
    hint: String,
    e: &gatewatch_store::config_log::Entry,
) -> Response {
    let mut r = (
        StatusCode::CREATED,
        Json(CreatedSecret {
            id: id.to_string(),
            secret,
            hint,
            version: e.version,
            entity: Some(Envelope::of(e)),
        }),
    )
        .into_response();
    if let Ok(h) = format!("/api/v1/{}/{}", segment(e.kind), e.id).parse() {
        r.headers_mut().insert(axum::http::header::LOCATION, h);
    }
    r
}

/// Generates a key for `client` with the options in `options` (a [`KeyRequest`] as JSON).
pub async fn generate(
    state: &AppState,
    caller: &Caller,
    client: &str,
    options: Value,
) -> Result<Response, ApiError> {
    let req: KeyRequest = typed(options)?;
    if state.cache.get().get(EntityKind::Client, client).is_none() {
        return Err(ApiError::not_found(format!("no client {client:?}")));
    }
    let (key, mut spec) = new_key(state, client)?;
    spec.expires_at = req.expires_at;
    for (i, p) in req.products.iter().enumerate() {
        spec.products
            .push(grant_for(state, p, &format!("products[{i}]"))?);
    }
    let id = crate::random::id("key-")?;
    let json = Entity::ApiKey(spec.clone()).to_json();
    Entity::parse(EntityKind::ApiKey, &id, &json)?;
    let receipt = write::commit(
        state,
        caller,
        "key.create",
        &format!("key for client {client}"),
        vec![Change {
            kind: EntityKind::ApiKey,
            id: id.clone(),
            body: json.clone(),
            deleted: false,
            expected_version: Some(0),
        }],
    )
    .await?;
    let e = state
        .cache
        .get()
        .get(EntityKind::ApiKey, &id)
        .cloned()
        .unwrap_or_else(|| placeholder(EntityKind::ApiKey, &id, receipt.versions[0].2, json));
    Ok(created(&id, key, spec.hint, &e))
}

fn placeholder(
    kind: EntityKind,
    id: &str,
    version: u64,
    body: String,
) -> gatewatch_store::config_log::Entry {
    gatewatch_store::config_log::Entry {
        kind,
        id: id.to_string(),
        version,
        change_id: uuid::Uuid::nil(),
        ts_us: write::now_us(),
        author: String::new(),
        comment: String::new(),
        deleted: false,
        body,
    }
}

pub async fn create_key(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(client): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        Value::Object(write::object(&body)?)
    };
    generate(&state, &caller, &client, options).await
}

pub async fn client_secret(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(client): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let secret = crate::random::secret("gws_")?;
    let hash = hash_secret(&state.pepper, &secret);
    let e = write::edit(
        &state,
        &caller,
        EntityKind::Client,
        &client,
        &headers,
        "client.secret",
        |c: &mut ClientSpec| {
            c.secret_hash = Some(hash.clone());
            Ok(())
        },
    )
    .await?;
    let hint = secret.chars().take(8).collect();
    Ok(created(&client, secret, hint, &e))
}

pub async fn rotate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let req: RotateRequest = body_of(&body)?;
    if req.overlap_secs > MAX_OVERLAP_SECS {
        return Err(ApiError::invalid(
            "overlap_secs",
            format!("must be at most {MAX_OVERLAP_SECS} (30 days)"),
        ));
    }
    let expected = write::optional_if_match(headers.get(axum::http::header::IF_MATCH))?;
    let old = write::current(&state, EntityKind::ApiKey, &id)
        .await?
        .filter(|e| !e.deleted)
        .ok_or_else(|| ApiError::not_found(format!("no api_key {id:?}")))?;
    if expected.is_some_and(|v| v != old.version) {
        return Err(ApiError::stale(format!(
            "api_key {id:?} is at version {}",
            old.version
        )));
    }
    let mut old_spec: ApiKeySpec = serde_json::from_str(&old.body).map_err(ApiError::internal)?;
    if old_spec.revoked {
        return Err(ApiError::conflict(format!(
            "api_key {id:?} is revoked; create a new key instead"
        )));
    }
    let (key, mut spec) = new_key(&state, &old_spec.client_id)?;
    spec.products = old_spec.products.clone();
    spec.replaces = Some(id.clone());
    let until = Utc::now() + chrono::Duration::seconds(req.overlap_secs as i64);
    old_spec.expires_at = Some(old_spec.expires_at.map_or(until, |e| e.min(until)));
    let new_id = crate::random::id("key-")?;
    let new_json = Entity::ApiKey(spec.clone()).to_json();
    let receipt = write::commit(
        &state,
        &caller,
        "key.rotate",
        &format!("rotation of {id}, overlap {} s", req.overlap_secs),
        vec![
            Change {
                kind: EntityKind::ApiKey,
                id: id.clone(),
                body: Entity::ApiKey(old_spec).to_json(),
                deleted: false,
                expected_version: Some(old.version),
            },
            Change {
                kind: EntityKind::ApiKey,
                id: new_id.clone(),
                body: new_json.clone(),
                deleted: false,
                expected_version: Some(0),
            },
        ],
    )
    .await?;
    let e = state
        .cache
        .get()
        .get(EntityKind::ApiKey, &new_id)
        .cloned()
        .unwrap_or_else(|| {
            placeholder(EntityKind::ApiKey, &new_id, receipt.versions[1].2, new_json)
        });
    Ok(created(&new_id, key, spec.hint, &e))
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let e = write::edit(
        &state,
        &caller,
        EntityKind::ApiKey,
        &id,
        &headers,
        "key.revoke",
        |k: &mut ApiKeySpec| {
            k.revoked = true;
            Ok(())
        },
    )
    .await?;
    Ok(entity_answer(StatusCode::OK, &e, None))
}

pub async fn grant(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v = Value::Object(write::object(&body)?);
    let req: GrantRequest = typed(v)?;
    let g = grant_for(&state, &req.product, "product")?;
    let e = write::edit(
        &state,
        &caller,
        EntityKind::ApiKey,
        &id,
        &headers,
        "grant.add",
        move |k: &mut ApiKeySpec| {
            match k.products.iter_mut().find(|x| x.product == g.product) {
                Some(x) if x.status != GrantStatus::Revoked => {}
                Some(x) => x.status = g.status,
                None => k.products.push(g.clone()),
            }
            Ok(())
        },
    )
    .await?;
    Ok(entity_answer(StatusCode::OK, &e, None))
}

async fn set_grant(
    state: Arc<AppState>,
    caller: Caller,
    id: String,
    product: String,
    headers: HeaderMap,
    status: GrantStatus,
) -> Result<Response, ApiError> {
    let action = match status {
        GrantStatus::Approved => "grant.approve",
        _ => "grant.revoke",
    };
    let e = write::edit(
        &state,
        &caller,
        EntityKind::ApiKey,
        &id,
        &headers,
        action,
        |k: &mut ApiKeySpec| {
            let g = k
                .products
                .iter_mut()
                .find(|x| x.product == product)
                .ok_or_else(|| {
                    ApiError::not_found(format!("key {id:?} has no grant of {product:?}"))
                })?;
            g.status = status;
            Ok(())
        },
    )
    .await?;
    Ok(entity_answer(StatusCode::OK, &e, None))
}

pub async fn approve(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((id, product)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_grant(state, caller, id, product, headers, GrantStatus::Approved).await
}

pub async fn revoke_grant(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((id, product)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_grant(state, caller, id, product, headers, GrantStatus::Revoked).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_name_the_field() {
        let e = typed::<KeyRequest>(serde_json::json!({"bogus": 1})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("bogus"), "{e:?}");
        let e = typed::<KeyRequest>(serde_json::json!({"expires_at": "soon"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("expires_at"));
        let e = typed::<KeyRequest>(serde_json::json!({"products": ["a", 2]})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("products[1]"));
        let e = typed::<GrantRequest>(serde_json::json!({})).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.field.as_deref()),
            (422, Some("product"))
        );
    }
}
