//! Kinds of configuration entity kept in the configuration log.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::access::{ApiKeySpec, GroupSpec, ProductSpec};
use crate::alert::{AlertRuleSpec, InhibitRuleSpec, NotificationPolicySpec, SilenceSpec};
use crate::api::ApiSpec;
use crate::channel::ChannelSpec;
use crate::client::ClientSpec;
use crate::field::{check_id, FieldError};
use crate::release::ReleaseSpec;
use crate::report_subscription::ReportSubscriptionSpec;
use crate::user::UserSpec;
use crate::version::ApiFamilySpec;
use std::str::FromStr;

/// What a configuration entity is. The wire and database name is the snake_case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Api,
    Client,
    ApiKey,
    Group,
    Product,
    AlertRule,
    Channel,
    User,
    Silence,
    ReportSubscription,
    NotificationPolicy,
    InhibitRule,
    ApiFamily,
    Release,
}

impl EntityKind {
    pub const ALL: [EntityKind; 14] = [
        EntityKind::Api,
        EntityKind::Client,
        EntityKind::ApiKey,
        EntityKind::Group,
        EntityKind::Product,
        EntityKind::AlertRule,
        EntityKind::Channel,
        EntityKind::User,
        EntityKind::Silence,
        EntityKind::ReportSubscription,
        EntityKind::NotificationPolicy,
        EntityKind::InhibitRule,
        EntityKind::ApiFamily,
        EntityKind::Release,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Api => "api",
            EntityKind::Client => "client",
            EntityKind::ApiKey => "api_key",
            EntityKind::Group => "group",
            EntityKind::Product => "product",
            EntityKind::AlertRule => "alert_rule",
            EntityKind::Channel => "channel",
            EntityKind::User => "user",
            EntityKind::Silence => "silence",
            EntityKind::ReportSubscription => "report_subscription",
            EntityKind::NotificationPolicy => "notification_policy",
            EntityKind::InhibitRule => "inhibit_rule",
            EntityKind::ApiFamily => "api_family",
            EntityKind::Release => "release",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EntityKind {
    /// Fields set only by their own actions (keys, secrets, passwords, tokens): hashes are
    /// refused in a body, the others ignored; all are carried over on replace. The admin API
    /// and its OpenAPI schemas ([`crate::schema`]) read this one list.
    pub fn managed_fields(self) -> &'static [&'static str] {
        match self {
            EntityKind::Client => &["secret_hash", "signing_secret"],
            EntityKind::ApiKey => &["hash"],
            EntityKind::User => &["password_hash", "tokens", "session_epoch"],
            _ => &[],
        }
    }

    /// Answer fields added by [`redact`], dropped from bodies sent back.
    pub fn derived_fields(self) -> &'static [&'static str] {
        match self {
            EntityKind::Client => &["has_secret", "has_signing_secret"],
            _ => &[],
        }
    }
}

/// What stands for a kept secret value in answers (a webhook's `Authorization` header); sent
/// back unchanged in a body, it keeps the stored value.
pub const KEPT: &str = "****";

/// A stored body with its secrets removed, as the admin API answers it: a client's
/// `secret_hash` becomes `has_secret` (`signing_secret`, `has_signing_secret`), key, password and token hashes go, and a webhook's
/// credential header values and PagerDuty `routing_key` read [`KEPT`].
pub fn redact(kind: EntityKind, body: &str) -> serde_json::Value {
    use serde_json::Value;
    let mut v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        match kind {
            EntityKind::Client => {
                let has = o.remove("secret_hash").is_some();
                o.insert("has_secret".into(), Value::Bool(has));
                // Sealed, but still the secret's ciphertext: it never leaves.
                let has = o.remove("signing_secret").is_some();
                o.insert("has_signing_secret".into(), Value::Bool(has));
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
            EntityKind::Channel => {
                // A PagerDuty integration key (sealed when stored) is never answered.
                if let Some(Value::Object(w)) = o.get_mut("webhook") {
                    if let Some(k) = w.get_mut("routing_key") {
                        *k = Value::String(KEPT.into());
                    }
                }
                let headers = o
                    .get_mut("webhook")
                    .and_then(|w| w.get_mut("headers"))
                    .and_then(Value::as_object_mut);
                if let Some(h) = headers {
                    for (name, value) in h.iter_mut() {
                        if crate::channel::is_secret_header(name) {
                            *value = Value::String(KEPT.into());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    v
}

/// An unknown entity kind, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity kind {0:?} (known: api, client, api_key, group, product, alert_rule, channel, user, silence, report_subscription, notification_policy, inhibit_rule, api_family, release)")]
pub struct UnknownKind(pub String);

impl FromStr for EntityKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<EntityKind, UnknownKind> {
        EntityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// A configuration entity's body, parsed and checked.
// One at a time on admin paths (never in bulk or on the request path), so the size of the
// largest variant (an API) costs nothing worth a box at every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Api(ApiSpec),
    Client(ClientSpec),
    ApiKey(ApiKeySpec),
    Group(GroupSpec),
    Product(ProductSpec),
    User(UserSpec),
    AlertRule(AlertRuleSpec),
    Silence(SilenceSpec),
    Channel(ChannelSpec),
    ReportSubscription(ReportSubscriptionSpec),
    NotificationPolicy(NotificationPolicySpec),
    InhibitRule(InhibitRuleSpec),
    ApiFamily(ApiFamilySpec),
    Release(ReleaseSpec),
}

impl Entity {
    /// Parses and validates a body of `kind`; the error names the field (`upstreams[1].weight`,
    /// `quota.per_day`), or the id.
    pub fn parse(kind: EntityKind, id: &str, json: &str) -> Result<Entity, FieldError> {
        check_id("id", id)?;
        fn de<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, FieldError> {
            let mut d = serde_json::Deserializer::from_str(json);
            let v = serde_path_to_error::deserialize(&mut d).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { String::new() } else { path };
                FieldError::new(field, e.into_inner().to_string())
            })?;
            d.end().map_err(|e| FieldError::new("", e.to_string()))?;
            Ok(v)
        }
        let e = match kind {
            EntityKind::Api => Entity::Api(de(json)?),
            EntityKind::Client => Entity::Client(de(json)?),
            EntityKind::ApiKey => Entity::ApiKey(de(json)?),
            EntityKind::Group => Entity::Group(de(json)?),
            EntityKind::Product => Entity::Product(de(json)?),
            EntityKind::User => Entity::User(de(json)?),
            EntityKind::AlertRule => Entity::AlertRule(de(json)?),
            EntityKind::Silence => Entity::Silence(de(json)?),
            EntityKind::Channel => Entity::Channel(de(json)?),
            EntityKind::ReportSubscription => Entity::ReportSubscription(de(json)?),
            EntityKind::NotificationPolicy => Entity::NotificationPolicy(de(json)?),
            EntityKind::InhibitRule => Entity::InhibitRule(de(json)?),
            EntityKind::ApiFamily => Entity::ApiFamily(de(json)?),
            EntityKind::Release => Entity::Release(de(json)?),
        };
        e.validate()?;
        Ok(e)
    }

    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::Api(_) => EntityKind::Api,
            Entity::Client(_) => EntityKind::Client,
            Entity::ApiKey(_) => EntityKind::ApiKey,
            Entity::Group(_) => EntityKind::Group,
            Entity::Product(_) => EntityKind::Product,
            Entity::User(_) => EntityKind::User,
            Entity::AlertRule(_) => EntityKind::AlertRule,
            Entity::Silence(_) => EntityKind::Silence,
            Entity::Channel(_) => EntityKind::Channel,
            Entity::ReportSubscription(_) => EntityKind::ReportSubscription,
            Entity::NotificationPolicy(_) => EntityKind::NotificationPolicy,
            Entity::InhibitRule(_) => EntityKind::InhibitRule,
            Entity::ApiFamily(_) => EntityKind::ApiFamily,
            Entity::Release(_) => EntityKind::Release,
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Entity::Api(a) => a.validate(),
            Entity::Client(c) => c.validate(),
            Entity::ApiKey(k) => k.validate(),
            Entity::Group(g) => g.validate(),
            Entity::Product(p) => p.validate(),
            Entity::User(u) => u.validate(),
            Entity::AlertRule(r) => r.validate(),
            Entity::Silence(s) => s.validate(),
            Entity::Channel(c) => c.validate(),
            Entity::ReportSubscription(s) => s.validate(),
            Entity::NotificationPolicy(p) => p.validate(),
            Entity::InhibitRule(r) => r.validate(),
            Entity::ApiFamily(f) => f.validate(),
            Entity::Release(r) => r.validate(),
        }
    }

    /// The body as stored in the configuration log.
    pub fn to_json(&self) -> String {
        let r = match self {
            Entity::Api(a) => serde_json::to_string(a),
            Entity::Client(c) => serde_json::to_string(c),
            Entity::ApiKey(k) => serde_json::to_string(k),
            Entity::Group(g) => serde_json::to_string(g),
            Entity::Product(p) => serde_json::to_string(p),
            Entity::User(u) => serde_json::to_string(u),
            Entity::AlertRule(r) => serde_json::to_string(r),
            Entity::Silence(s) => serde_json::to_string(s),
            Entity::Channel(c) => serde_json::to_string(c),
            Entity::ReportSubscription(s) => serde_json::to_string(s),
            Entity::NotificationPolicy(p) => serde_json::to_string(p),
            Entity::InhibitRule(r) => serde_json::to_string(r),
            Entity::ApiFamily(f) => serde_json::to_string(f),
            Entity::Release(r) => serde_json::to_string(r),
        };
        // Serializing these types cannot fail: no maps with non-string keys, no I/O.
        r.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EntityKind::ALL {
            assert_eq!(k.as_str().parse::<EntityKind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert!("apis"
            .parse::<EntityKind>()
            .unwrap_err()
            .to_string()
            .contains("apis"));
    }

    #[test]
    fn parse_names_nested_fields() {
        let e = Entity::parse(
            EntityKind::Api,
            "orders",
            r#"{"name":"x","prefix":"/x","upstreams":[{"url":"http://a","weight":"heavy"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "upstreams[0]", "{e}");
        let e = Entity::parse(
            EntityKind::Client,
            "acme",
            r#"{"name":"x","quota":{"per_dya":1}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "quota.per_dya", "{e}");
        let e = Entity::parse(
            EntityKind::Client,
            "acme",
            r#"{"name":"x","tps":{"per_second":0}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "tps.per_second");
        assert_eq!(
            Entity::parse(EntityKind::Client, "a/b", "{}")
                .unwrap_err()
                .field,
            "id"
        );
        let e = Entity::parse(
            EntityKind::AlertRule,
            "cpu",
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":90,"recovery":95}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "recovery", "{e}");
        let e = Entity::parse(
            EntityKind::AlertRule,
            "cpu",
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":90,"windows":[{"type":"weekly","days":["sat","sunday"]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "windows[0].days[1]", "{e}");
        let e = Entity::parse(
            EntityKind::Silence,
            "s1",
            r#"{"rule":"*","from":"2026-11-25T10:00:00Z","until":"2026-11-25T09:00:00Z","who":"o","why":"w"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "until", "{e}");
        for (kind, json) in [
            (
                EntityKind::AlertRule,
                r#"{"name":"CPU","kind":{"type":"node_cpu"},"threshold":90,"for_secs":180,"repeat_secs":180}"#,
            ),
            (
                EntityKind::Silence,
                r#"{"rule":"*","from":"2026-11-25T10:00:00Z","until":"2026-11-25T11:00:00Z","who":"o","why":"w"}"#,
            ),
        ] {
            let ok = Entity::parse(kind, "x1", json).unwrap();
            assert_eq!(ok.kind(), kind);
            assert_eq!(Entity::parse(kind, "x1", &ok.to_json()).unwrap(), ok);
        }
        let ok = Entity::parse(EntityKind::Client, "acme", r#"{"name":"台灣客戶"}"#).unwrap();
        assert_eq!(ok.kind(), EntityKind::Client);
        assert_eq!(
            Entity::parse(EntityKind::Client, "acme", &ok.to_json()).unwrap(),
            ok
        );
    }
}
