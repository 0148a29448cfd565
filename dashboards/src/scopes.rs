//! `GET /api/v1/clients/{id}/scopes`: the OAuth 2.0 scopes a client may be granted at the
//! gateway's token endpoint, read-only, for the client's page: its own `scopes` and those of
//! every product approved for one of its active keys (Apigee: a key's scopes are the union of
//! its approved products'), as agreed with the token endpoint. Computed here from the cached
//! configuration (model specs); the gateway computes the same from its own copy.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatewatch_model::{ApiKeySpec, ClientSpec, EntityKind, ProductSpec};
use serde::Serialize;
use std::sync::Arc;

use crate::error::ApiError;
use crate::extract::Path;
use crate::AppState;

/// What a client may be granted, and where each scope comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientScopes {
    pub client_id: String,
    /// The client's own `scopes`.
    pub own: Vec<String>,
    /// Each product approved for one of the client's active keys (not revoked, not expired),
    /// in id order, with its scopes (possibly none) and those keys.
    pub products: Vec<ProductScopes>,
    /// Every scope the token endpoint may grant the client — what a request without `scope`
    /// gets: its own first, then the products' in product order, each once.
    pub effective: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductScopes {
    pub product: String,
    pub scopes: Vec<String>,
    /// The client's active keys holding the product approved.
    pub keys: Vec<String>,
}

/// The scopes of `client` from its keys (id, spec: any client's; others are skipped) and the
/// existing products, at `now`. A grant of a product that no longer exists grants nothing.
pub fn effective<'a>(
    client_id: &str,
    client: &ClientSpec,
    keys: impl IntoIterator<Item = (&'a str, &'a ApiKeySpec)>,
    product: impl Fn(&str) -> Option<ProductSpec>,
    now: DateTime<Utc>,
) -> ClientScopes {
    // The rule is the token endpoint's (`gatewatch_model::oauth`), so the page shows what a
    // token would carry.
    let products: Vec<ProductScopes> =
        gatewatch_model::oauth::approved_products(client_id, keys, now)
            .into_iter()
            .filter_map(|(p, keys)| {
                let spec = product(p)?;
                Some(ProductScopes {
                    product: p.to_string(),
                    scopes: spec.scopes,
                    keys: keys.into_iter().map(str::to_string).collect(),
                })
            })
            .collect();
    let effective = gatewatch_model::oauth::effective_scopes(
        &client.scopes,
        products.iter().map(|p| p.scopes.as_slice()),
    )
    .into_iter()
    .map(str::to_string)
    .collect();
    ClientScopes {
        client_id: client_id.to_string(),
        own: client.scopes.clone(),
        products,
        effective,
    }
}

pub async fn client_scopes(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ClientScopes>, ApiError> {
    let table = state.cache.get();
    let client: ClientSpec = table
        .get(EntityKind::Client, &id)
        .and_then(|e| serde_json::from_str(&e.body).ok())
        .ok_or_else(|| ApiError::not_found(format!("no client {id:?}")))?;
    let keys: Vec<(String, ApiKeySpec)> = table
        .list(EntityKind::ApiKey, None)
        .filter_map(|e| Some((e.id.clone(), serde_json::from_str(&e.body).ok()?)))
        .collect();
    let product = |p: &str| {
        table
            .get(EntityKind::Product, p)
            .and_then(|e| serde_json::from_str(&e.body).ok())
    };
    Ok(Json(effective(
        &id,
        &client,
        keys.iter().map(|(id, k)| (id.as_str(), k)),
        product,
        Utc::now(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(client: &str, grants: serde_json::Value, more: serde_json::Value) -> ApiKeySpec {
        let mut v = json!({"client_id": client, "hash": format!("hmac-sha256:{}", "0".repeat(64)),
            "products": grants});
        for (k, x) in more.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn own_scopes_then_those_of_products_approved_for_active_keys() {
        let now = Utc::now();
        let client: ClientSpec =
            serde_json::from_value(json!({"name": "c", "scopes": ["a", "b"]})).unwrap();
        let approved = |p: &str| json!([{"product": p, "status": "approved"}]);
        let keys = [
            ("k1", key("c1", approved("p2"), json!({}))),
            (
                "k2",
                key(
                    "c1",
                    json!([{"product": "p1", "status": "approved"},
                        {"product": "p3", "status": "pending"},
                        {"product": "p4", "status": "revoked"}]),
                    json!({}),
                ),
            ),
            // Revoked, expired, another client's: grant nothing.
            ("k3", key("c1", approved("p5"), json!({"revoked": true}))),
            (
                "k4",
                key(
                    "c1",
                    approved("p5"),
                    json!({"expires_at": now - chrono::Duration::seconds(1)}),
                ),
            ),
            ("k5", key("c2", approved("p5"), json!({}))),
            // Still valid until later; a product deleted since.
            (
                "k6",
                key(
                    "c1",
                    approved("p1"),
                    json!({"expires_at": now + chrono::Duration::hours(1)}),
                ),
            ),
            ("k7", key("c1", approved("gone"), json!({}))),
        ];
        let product = |p: &str| -> Option<ProductSpec> {
            let scopes = match p {
                "p1" => json!(["b", "c"]),
                "p2" => json!(["d"]),
                "p3" | "p4" | "p5" => json!(["never"]),
                _ => return None,
            };
            Some(
                serde_json::from_value(json!({"name": p, "apis": ["*"], "scopes": scopes}))
                    .unwrap(),
            )
        };
        let s = effective(
            "c1",
            &client,
            keys.iter().map(|(id, k)| (*id, k)),
            product,
            now,
        );
        assert_eq!(s.own, ["a", "b"]);
        assert_eq!(s.effective, ["a", "b", "c", "d"]);
        let got: Vec<(&str, Vec<String>, Vec<String>)> = s
            .products
            .iter()
            .map(|p| (p.product.as_str(), p.scopes.clone(), p.keys.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "p1",
                    vec!["b".into(), "c".into()],
                    vec!["k2".into(), "k6".into()]
                ),
                ("p2", vec!["d".into()], vec!["k1".into()]),
            ]
        );
    }
}
