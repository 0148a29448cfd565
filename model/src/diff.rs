//! What changed between two versions of an entity, for its history: changed paths with their
//! old and new values. Values come from the redacted bodies ([`crate::entity::redact`]), so no
//! hash is ever shown; a changed secret is listed by its name alone (`password`, `secret`,
//! `key`), marked `secret`.

use crate::entity::EntityKind;
use serde::Serialize;
use serde_json::{Map, Value};

/// One changed path. `old` is absent when the path is new, `new` when it went away.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// As in field errors: `quota.per_day`, `upstreams[1].url`.
    pub path: String,
    /// Any JSON value the field held (a string, a number, an array…).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub new: Option<Value>,
    /// A secret changed — `path` names it (`password`, `secret`, `key`); no value or hash is
    /// ever shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The changes from `old` to `new` (raw stored bodies; `None` for "no version": before the
/// first, or deleted). Objects are compared key by key; arrays element by element when their
/// lengths agree, else as one value.
pub fn changes(kind: EntityKind, old: Option<&str>, new: Option<&str>) -> Vec<FieldChange> {
    let raw = |b: Option<&str>| -> Value {
        b.and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null)
    };
    let (raw_old, raw_new) = (raw(old), raw(new));
    let shown = |b: Option<&str>| b.map_or(Value::Null, |b| crate::entity::redact(kind, b));
    let mut out = Vec::new();
    walk(
        String::new(),
        Some(&shown(old)),
        Some(&shown(new)),
        &mut out,
    );
    // A user's session counter moves with every password change or "log out everywhere"
    // (named below as `password`, or audited): bookkeeping, not something anyone set.
    if kind == EntityKind::User {
        out.retain(|c| c.path != "session_epoch");
    }
    // `redact` replaces a client's secret hash by `has_secret`: a rotated secret (true → true)
    // would not show, so secrets are compared raw and reported by path only.
    // A webhook's credential headers answer as "****" both sides: compared raw, named only.
    if kind == EntityKind::Channel {
        let headers = |v: &Value| {
            v.pointer("/webhook/headers")
                .cloned()
                .unwrap_or(Value::Null)
        };
        let (a, b) = (headers(&raw_old), headers(&raw_new));
        let mut names: Vec<&String> = a
            .as_object()
            .into_iter()
            .chain(b.as_object())
            .flat_map(|m| m.keys())
            .filter(|k| crate::channel::is_secret_header(k))
            .collect();
        names.sort();
        names.dedup();
        for n in names {
            if a.get(n) != b.get(n) {
                out.retain(|c| c.path != format!("webhook.headers.{n}"));
                out.push(FieldChange {
                    path: format!("webhook.headers.{n}"),
                    old: None,
                    new: None,
                    secret: true,
                });
            }
        }
        // A PagerDuty routing key answers as "****" both sides: compared raw, named only.
        let key = |v: &Value| v.pointer("/webhook/routing_key").cloned();
        if key(&raw_old) != key(&raw_new) {
            out.retain(|c| c.path != "webhook.routing_key");
            out.push(FieldChange {
                path: "webhook.routing_key".into(),
                old: None,
                new: None,
                secret: true,
            });
        }
    }
    for f in kind.managed_fields() {
        let secret = f.contains("hash") || *f == "signing_secret";
        if secret && raw_old.get(*f) != raw_new.get(*f) {
            out.push(FieldChange {
                path: secret_name(f).to_string(),
                old: None,
                new: None,
                secret: true,
            });
        }
    }
    out
}

/// What a stored hash is called where people set it: a user's `password`, a client's
/// `secret`, an API key's `key`.
fn secret_name(field: &str) -> &str {
    match field {
        "password_hash" => "password",
        "secret_hash" => "secret",
        "hash" => "key",
        other => other,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (present(old), present(new)) {
        (None, None) => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => objects(&path, a, b, out),
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        // A whole entity appearing or going: its top-level fields, one by one.
        (None, Some(Value::Object(b))) if path.is_empty() => objects(&path, &Map::new(), b, out),
        (Some(Value::Object(a)), None) if path.is_empty() => objects(&path, a, &Map::new(), out),
        (a, b) if a != b => out.push(FieldChange {
            path,
            old: a.cloned(),
            new: b.cloned(),
            secret: false,
        }),
        _ => {}
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn objects(path: &str, a: &Map<String, Value>, b: &Map<String, Value>, out: &mut Vec<FieldChange>) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        walk(join(path, k), a.get(k), b.get(k), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(c: &[FieldChange]) -> Vec<&str> {
        c.iter().map(|c| c.path.as_str()).collect()
    }

    #[test]
    fn nested_paths_old_and_new_values() {
        let a = r#"{"name":"a","quota":{"per_day":10},"upstreams":[{"url":"http://x"}],"groups":["g1"]}"#;
        let b = r#"{"name":"a","quota":{"per_day":20},"upstreams":[{"url":"http://y"}],"groups":["g1","g2"],"ip_allow":["10.0.0.0/8"]}"#;
        let c = changes(EntityKind::Api, Some(a), Some(b));
        assert_eq!(
            paths(&c),
            ["groups", "ip_allow", "quota.per_day", "upstreams[0].url"]
        );
        assert_eq!(c[0].old, Some(json!(["g1"])));
        assert_eq!(c[1].old, None);
        assert_eq!(c[2].new, Some(json!(20)));
        assert!(changes(EntityKind::Api, Some(a), Some(a)).is_empty());
        // Created, deleted.
        assert_eq!(
            paths(&changes(EntityKind::Api, None, Some(a))),
            ["groups", "name", "quota", "upstreams"]
        );
        assert!(changes(EntityKind::Api, Some(a), None)
            .iter()
            .all(|c| c.new.is_none()));
    }

    #[test]
    fn webhook_credentials_are_named_never_shown() {
        let a = r#"{"webhook":{"url":"http://h/x","headers":{"Authorization":"Bearer one","X-Team":"ops"}}}"#;
        let b = r#"{"webhook":{"url":"http://h/x","headers":{"Authorization":"Bearer two","X-Team":"sre"}}}"#;
        let c = changes(EntityKind::Channel, Some(a), Some(b));
        assert_eq!(
            paths(&c),
            ["webhook.headers.X-Team", "webhook.headers.Authorization"]
        );
        assert!(c[1].secret && c[1].old.is_none() && c[1].new.is_none());
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("Bearer"), "{text}");
        let created = serde_json::to_string(&changes(EntityKind::Channel, None, Some(a))).unwrap();
        assert!(!created.contains("Bearer"), "{created}");
        assert!(changes(EntityKind::Channel, Some(a), Some(a)).is_empty());
    }

    #[test]
    fn secrets_are_named_never_shown() {
        let a = r#"{"name":"c","secret_hash":"hmac-sha256:aa"}"#;
        let b = r#"{"name":"c","secret_hash":"hmac-sha256:bb"}"#;
        let c = changes(EntityKind::Client, Some(a), Some(b));
        assert_eq!(paths(&c), ["secret"]);
        assert!(c[0].secret && c[0].old.is_none() && c[0].new.is_none());
        let u1 = r#"{"role":"ops","password_hash":"$argon2id$1","session_epoch":1,"tokens":[{"id":"t1","name":"ci","hash":"hmac-sha256:00"}]}"#;
        let u2 = r#"{"role":"ops","password_hash":"$argon2id$2","session_epoch":2,"tokens":[{"id":"t1","name":"ci","hash":"hmac-sha256:00"},{"id":"t2","name":"x","hash":"hmac-sha256:11"}]}"#;
        let c = changes(EntityKind::User, Some(u1), Some(u2));
        assert_eq!(paths(&c), ["tokens", "password"]);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("hmac") && !text.contains("argon2"), "{text}");
        let created = serde_json::to_string(&changes(EntityKind::User, None, Some(u1))).unwrap();
        assert!(
            !created.contains("hmac") && !created.contains("argon2"),
            "{created}"
        );
    }
}
