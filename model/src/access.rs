//! API keys (kind `api_key`), products (kind `product`) and groups (kind `group`): who may
//! call which API.
//!
//! A call to an API that asks for authentication is allowed when the caller's client belongs
//! to a group listing the API, or the key used carries an *approved* grant of a product listing
//! it. Products with `approval = "auto"` are approved when granted; `manual` ones wait for an
//! admin.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::Quota;
use crate::field::{bad, check_id, FieldError};

/// An API key. The key itself is shown once when created and never stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    /// The client the key belongs to.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub client_id: String,
    /// `hmac-sha256:<hex>` of the key under the site's secret pepper. Keys are 32 random
    /// bytes, so a fast keyed hash is as safe as a slow one and costs microseconds, not tens
    /// of milliseconds, on every call; the pepper (outside ClickHouse) makes a stolen table
    /// useless on its own.
    pub hash: String,
    /// The key's first characters, to tell keys apart in lists (`gwk_3fA9…`).
    #[serde(default)]
    pub hint: String,
    /// Refused after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Refused from the moment this is set.
    #[serde(default)]
    pub revoked: bool,
    /// The key this one replaced by a rotation (that key keeps working until its
    /// `expires_at`, the overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Products granted to the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductGrant>,
}

/// A product granted to a key, and where its approval stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductGrant {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub product: String,
    pub status: GrantStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Waiting for an admin (manual approval).
    Pending,
    Approved,
    Revoked,
}

/// Why a key may not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBar {
    Revoked,
    Expired,
}

impl ApiKeySpec {
    pub fn bar_at(&self, now: DateTime<Utc>) -> Option<KeyBar> {
        if self.revoked {
            Some(KeyBar::Revoked)
        } else if self.expires_at.is_some_and(|e| now >= e) {
            Some(KeyBar::Expired)
        } else {
            None
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        check_id("client_id", &self.client_id)?;
        let Some(hex) = self.hash.strip_prefix("hmac-sha256:") else {
            return bad("hash", "must be `hmac-sha256:` and 64 hex digits");
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("hash", "must be `hmac-sha256:` and 64 hex digits");
        }
        for (i, g) in self.products.iter().enumerate() {
            check_id(&format!("products[{i}].product"), &g.product)?;
        }
        Ok(())
    }
}

/// A set of APIs by id, with `*` matching any run of characters (`orders-*`, `*`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiSet(pub Vec<String>);

/// A list of API ids or `*` patterns, at least one (what `ApiSet::validate` accepts).
impl utoipa::PartialSchema for ApiSet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Za-z0-9._*-]{1,64}$")),
            )
            .min_items(Some(1))
            .examples([serde_json::json!(["orders-*", "pay"])])
            .into()
    }
}

impl utoipa::ToSchema for ApiSet {}

impl ApiSet {
    pub fn contains(&self, api_id: &str) -> bool {
        self.0.iter().any(|p| glob(p, api_id))
    }

    fn validate(&self) -> Result<(), FieldError> {
        if self.0.is_empty() {
            return bad("apis", "must list at least one API id or pattern");
        }
        for (i, p) in self.0.iter().enumerate() {
            let plain = p.replace('*', "x");
            check_id(&format!("apis[{i}]"), &plain)?;
        }
        Ok(())
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// How a product's grants are approved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    Auto,
    Manual,
}

/// A product (as Apigee's API products): APIs offered together, with a quota on each key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub apis: ApiSet,
    #[serde(default)]
    pub approval: Approval,
    /// Calls per window for each key holding the product, on top of the client's quota.
    #[serde(default, skip_serializing_if = "Quota::is_empty")]
    pub quota: Quota,
    /// OAuth 2.0 scopes the product grants to clients with an approved key for it (Apigee:
    /// a client's scopes are its own and those of its approved products).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::scopes)]
    pub scopes: Vec<String>,
}

impl ProductSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        self.apis.validate()?;
        crate::oauth::check_scopes("scopes", &self.scopes)?;
        let probe = crate::client::ClientSpec {
            quota: self.quota.clone(),
            ..crate::client::ClientSpec::named("probe")
        };
        probe.validate()
    }
}

/// A group of clients given a set of APIs without approval (TSMP's client groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub apis: ApiSet,
}

impl GroupSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        self.apis.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let s = ApiSet(vec![
            "orders-*".into(),
            "pay".into(),
            "*-v2".into(),
            "a*b*c".into(),
        ]);
        assert!(s.contains("orders-list"));
        assert!(s.contains("orders-"));
        assert!(s.contains("pay"));
        assert!(!s.contains("pay2"));
        assert!(s.contains("x-v2"));
        assert!(s.contains("abxxc"));
        assert!(!s.contains("ab"));
        assert!(ApiSet(vec!["*".into()]).contains("anything"));
    }

    #[test]
    fn keys() {
        let k: ApiKeySpec = serde_json::from_str(&format!(
            r#"{{"client_id":"acme","hash":"hmac-sha256:{}","expires_at":"2026-12-01T00:00:00Z","products":[{{"product":"p","status":"pending"}}]}}"#,
            "a".repeat(64)
        ))
        .unwrap();
        assert!(k.validate().is_ok());
        let before = "2026-11-30T23:59:59Z".parse().unwrap();
        assert_eq!(k.bar_at(before), None);
        assert_eq!(
            k.bar_at("2026-12-01T00:00:00Z".parse().unwrap()),
            Some(KeyBar::Expired)
        );
        let mut r = k.clone();
        r.revoked = true;
        assert_eq!(r.bar_at(before), Some(KeyBar::Revoked));
        let mut h = k;
        h.hash = "sha1:00".into();
        assert_eq!(h.validate().unwrap_err().field, "hash");
    }
}
