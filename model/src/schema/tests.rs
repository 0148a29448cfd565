//! The schemas say what the model does: every body the repository's tests and demo write is
//! accepted by its kind's create schema, its stored-then-redacted answer by the read schema and
//! that answer, sent back, by the replace schema; bodies the model refuses for a reason JSON
//! Schema can state are refused by the schema too.

use serde_json::{json, Map, Value};
use std::collections::HashMap;

use super::*;
use crate::entity::{redact, Entity};

/// Every component in one document, as the admin API's would hold them.
fn components() -> Value {
    let map: Map<String, Value> = entity_schemas()
        .into_iter()
        .map(|(name, s)| (name, serde_json::to_value(s).expect("a schema is JSON")))
        .collect();
    json!({ "components": { "schemas": map } })
}

/// Validators by component name, each resolving `$ref`s in the document of all components.
struct Schemas {
    doc: Value,
    built: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn new() -> Schemas {
        Schemas {
            doc: components(),
            built: HashMap::new(),
        }
    }

    fn errors(&mut self, name: &str, v: &Value) -> Vec<String> {
        if !self.built.contains_key(name) {
            assert!(
                self.doc["components"]["schemas"].get(name).is_some(),
                "no component {name}"
            );
            let mut root = self.doc.clone();
            root["$ref"] = json!(format!("#/components/schemas/{name}"));
            let v = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            self.built.insert(name.to_string(), v);
        }
        self.built[name]
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    fn accepts(&mut self, name: &str, v: &Value) {
        let errors = self.errors(name, v);
        assert!(errors.is_empty(), "{name} refuses {v}: {errors:?}");
    }

    fn refuses(&mut self, name: &str, v: &Value) {
        assert!(
            !self.errors(name, v).is_empty(),
            "{name} accepts {v}, which the model refuses"
        );
    }
}

const HASH: &str = "hmac-sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
const LINE_ID: &str = "U00000000000000000000000000000001";

/// What the admin API does with a create or replace body before the log (dashboards'
/// `entities::prepare`, less the reference checks): the stored JSON, or why it is refused.
fn server_prepares(kind: EntityKind, body: &Value) -> Result<String, String> {
    let mut o = body.as_object().ok_or("not an object")?.clone();
    let id = match o.remove("id") {
        Some(Value::String(s)) => s,
        None => "x1".into(),
        Some(_) => return Err("id: must be a string".into()),
    };
    for f in kind.derived_fields() {
        o.remove(*f);
    }
    for f in kind.managed_fields() {
        if f.contains("hash") && o.contains_key(*f) {
            return Err(format!("{f}: is managed by its own action"));
        }
        o.remove(*f);
    }
    if kind == EntityKind::User {
        match o.remove("password") {
            Some(Value::String(p)) if p.chars().count() >= 10 && p.len() <= 1024 => {}
            Some(_) => return Err("password: 10 characters or more".into()),
            None => {}
        }
        o.insert("password_hash".into(), json!(PHC));
        o.insert("session_epoch".into(), json!(1_764_000_000));
    }
    Entity::parse(kind, &id, &Value::Object(o).to_string())
        .map(|e| e.to_json())
        .map_err(|e| e.to_string())
}

/// What only the server's own actions add to a stored body (a secret, tokens), for the
/// `n`th body of a kind, so that the read schema meets them.
fn with_stored_secrets(kind: EntityKind, stored: &str, n: usize) -> String {
    let mut v: Value = serde_json::from_str(stored).expect("stored JSON");
    match kind {
        EntityKind::Client if n.is_multiple_of(2) => v["secret_hash"] = json!(HASH),
        EntityKind::User if n.is_multiple_of(2) => {
            v["tokens"] = json!([
                {"id": "tok-1", "name": "ci", "hash": HASH, "epoch": 1_764_000_000},
                {"id": "tok-2", "hash": HASH, "expires_at": "2027-01-01T00:00:00Z"},
            ])
        }
        _ => {}
    }
    let e = Entity::parse(kind, "x1", &v.to_string()).expect("a stored body with its secrets");
    e.to_json()
}

/// Bodies of `POST /api/v1/<kinds>` that the demo (`src/demo.rs`), the e2e tests and the
/// model's unit tests write, and a few that use every field and variant.
fn create_bodies() -> Vec<(EntityKind, Value)> {
    use EntityKind::*;
    let mut b = vec![
        // src/demo.rs
        (
            Api,
            json!({"id": "demo-shop", "name": "示範商店 API (demo shop, key required)",
                "module": "demo", "prefix": "/shop", "strip_prefix": true,
                "upstreams": ["http://127.0.0.1:18080"], "auth": ["api_key"],
                "capture": {"mode": "bodies", "max_bytes": 2048},
                "masking": {"json_paths": ["card.number", "card.cvc"]}}),
        ),
        (
            Api,
            json!({"id": "payments-v1", "name": "支付 API", "prefix": "/pay",
                "upstreams": ["http://127.0.0.1:18080"], "family": "payments", "version": "v1",
                "portal": {"published": true, "category": "支付", "summary": "收款與退款",
                    "description": "# 支付\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                    "tags": ["付款", "payments"],
                    "openapi": {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
                        "paths": {"/pay": {"post": {"summary": "收款"}}}}}}),
        ),
        (
            Group,
            json!({"id": "demo", "name": "示範群組 (demo group)", "apis": ["demo-*"]}),
        ),
        (
            Client,
            json!({"id": "demo-client", "name": "示範客戶 (demo client)",
                "tps": {"per_second": 20, "burst": 40}, "quota": {"per_day": 100000},
                "groups": ["demo"]}),
        ),
        (
            AlertRule,
            json!({"id": "demo-shop-errors", "name": "示範商店錯誤率 (demo shop errors)",
                "severity": "critical",
                "kind": {"type": "api_error_rate", "window_secs": 300, "min_calls": 20},
                "scope": {"api": "demo-shop"}, "threshold": 2, "recovery": 1, "for_secs": 60,
                "repeat_secs": 3600, "recipients": {"roles": ["ops"]}}),
        ),
        (
            AlertRule,
            json!({"id": "demo-latency", "name": "示範 API 延遲 (demo p95 latency)",
                "kind": {"type": "api_latency", "quantile": "p95", "window_secs": 300,
                    "min_calls": 20},
                "scope": {"api": "demo"}, "threshold": 1500, "recovery": 1000,
                "for_secs": 120, "repeat_secs": 3600, "recipients": {"roles": ["ops"]}}),
        ),
        (
            AlertRule,
            json!({"id": "node-cpu-high", "name": "節點 CPU 過高 (node CPU)",
                "kind": {"type": "node_cpu"}, "threshold": 90, "recovery": 80,
                "for_secs": 180, "repeat_secs": 1800, "timezone": "Asia/Taipei",
                "windows": [{"type": "weekly", "days": ["sat", "sun"], "from": "22:00",
                    "until": "06:00"}],
                "recipients": {"roles": ["ops"]}}),
        ),
        (
            ReportSubscription,
            json!({"id": "demo-weekly-usage", "name": "每週 API 用量 (weekly usage)",
                "report": "usage", "params": {"range": "last_week"}, "cron": "0 8 * * 1",
                "timezone": "Asia/Taipei", "recipients": {"roles": ["manager"]}}),
        ),
        // tests/e2e/admin.rs
        (
            Api,
            json!({"id": "orders", "name": "訂單", "prefix": "/orders",
                "upstreams": ["http://127.0.0.1:9"]}),
        ),
        (Group, json!({"id": "tw", "name": "台灣", "apis": ["*"]})),
        (
            Client,
            json!({"id": "acme", "name": "Acme", "groups": ["g0"]}),
        ),
        (
            Product,
            json!({"id": "p-auto", "name": "P", "apis": ["orders"]}),
        ),
        (
            Product,
            json!({"id": "p-man", "name": "M", "apis": ["*"], "approval": "manual"}),
        ),
        (User, json!({"id": "olive", "role": "ops"})),
        (
            AlertRule,
            json!({"id": "cpu", "name": "CPU", "kind": {"type": "node_cpu"}, "threshold": 90}),
        ),
        (
            Silence,
            json!({"id": "upgrade", "rule": "cpu", "from": "2026-11-25T10:00:00Z",
                "until": "2026-11-25T12:00:00Z", "who": "olive", "why": "upgrade"}),
        ),
        // tests/e2e/test_send.rs, outbound.rs, report_mail.rs
        (
            Channel,
            json!({"id": "mail", "email": {"to": ["ops@example.tw"]}}),
        ),
        (Channel, json!({"id": "line-ok", "line": {"to": [LINE_ID]}})),
        (
            Channel,
            json!({"id": "hook", "webhook": {"url": "http://127.0.0.1:9/alerts",
                "secret": "hook",
                "body": {"title": "{{subject}}", "message": "$TEXT", "state": "{{ state }}",
                    "rule": "{{rule}} ({{rule_id}})", "for": "$DURATION", "level": 2},
                "headers": {"X-Team": "ops", "Authorization": "Bearer e2e-s3cret"},
                "retries": 0}}),
        ),
        (
            AlertRule,
            json!({"id": "cpu-t", "name": "CPU 高", "kind": {"type": "node_cpu"},
                "threshold": 90, "for_secs": 180, "repeat_secs": 180,
                "recipients": {"emails": ["rule@example.tw"], "line": [LINE_ID]}}),
        ),
        (
            ReportSubscription,
            json!({"id": "each-minute", "name": "每分鐘流量", "report": "traffic",
                "params": {"range": "1h"}, "cron": "* * * * *", "timezone": "Asia/Taipei",
                "recipients": {"emails": ["ops@example.tw"]}, "language": "zh-TW"}),
        ),
        // model unit tests (api.rs, entity.rs, alert/rule.rs)
        (
            Api,
            json!({"id": "x", "name": "x", "path": "/x/{id}",
                "upstreams": ["http://a:1", {"url": "http://b:2", "weight": 3}],
                "lb": "weighted"}),
        ),
        (
            Api,
            json!({"id": "fc", "name": "x", "prefix": "/x", "upstreams": ["http://a"],
                "auth": ["basic"], "forward_credentials": true}),
        ),
        (Client, json!({"id": "tw-client", "name": "台灣客戶"})),
        (
            AlertRule,
            json!({"id": "full", "name": "CPU 高", "severity": "critical",
                "kind": {"type": "node_cpu"}, "scope": {"nodes": ["gw1", "gw2"]},
                "threshold": 90, "recovery": 80, "for_secs": 180, "repeat_secs": 180,
                "timezone": "Asia/Taipei",
                "windows": [{"type": "weekly", "days": ["sat", "sun"]},
                    {"type": "daily", "from": "22:00", "until": "06:00"}],
                "recipients": {"roles": ["ops"], "emails": ["a@b.tw"], "line": ["U0123abc"],
                    "webhooks": ["slack"]},
                "templates": {"en": {"firing": {"subject": "$NODE hot: $VALUE > $THRESHOLD"}}},
                "language": "zh-TW"}),
        ),
        (
            Silence,
            json!({"id": "s-all", "rule": "*", "from": "2026-11-25T10:00:00Z",
                "until": "2026-11-25T11:00:00Z", "who": "o", "why": "w"}),
        ),
        // Every field and variant.
        (
            Api,
            json!({"id": "everything", "name": "全部", "module": "m", "version": "v2",
                "prefix": "/", "methods": ["GET", "POST", "OPTIONS"],
                "upstreams": [{"url": "http://10.0.0.7:8080", "weight": 1000}, "http://h:1/"],
                "lb": "least_connections", "strip_prefix": false,
                "health_check": {"path": "/healthz", "interval_ms": 100, "timeout_ms": 100,
                    "healthy_threshold": 1, "unhealthy_threshold": 9},
                "passive": {"failures": 1, "eject_ms": 1},
                "connect_timeout_ms": 1, "timeout_ms": 30000, "retries": 5,
                "auth": ["api_key", "basic", "jwt", "mtls"], "forward_credentials": false,
                "capture": {"mode": "headers"},
                "masking": {"headers": ["X-Card"], "query_params": ["token"],
                    "json_paths": ["**.pin", "items[*].token"],
                    "detectors": [{"kind": "card", "keep_last": 4},
                        {"kind": "tw_id", "keep_first": 1, "keep_last": 3},
                        {"kind": "email"}, {"kind": "phone", "keep_first": 8, "keep_last": 8}]},
                "enabled": false}),
        ),
        (
            Api,
            json!({"id": "root", "name": "root", "prefix": "", "path": null,
                "upstreams": ["http://a"], "capture": {"mode": "none"}, "masking": {},
                "health_check": null, "timeout_ms": null}),
        ),
        (
            Client,
            json!({"id": "full-client", "name": "Full", "description": "every field",
                "status": "suspended", "valid_from": "2026-01-01", "valid_until": "2026-12-31",
                "timezone": "Asia/Taipei",
                "service_hours": {"days": ["mon", "tue", "wed", "thu", "fri"],
                    "from": "08:00", "until": "24:00"},
                "ip_allow": ["10.0.0.0/8", "192.0.2.7", "::1"], "tps": {"per_second": 1},
                "quota": {"per_minute": 1, "per_hour": 2, "per_day": 3, "per_month": 4,
                    "scope": "shared"},
                "priority": 9, "groups": ["g0", "g.1"], "has_secret": true, "has_signing_secret": false,
                "certificates": [format!("sha256:{}", "ab".repeat(32)),
                    format!("sha256:{}", "CD".repeat(32))],
                "scopes": ["orders.read", "orders:write", "!#[]~"]}),
        ),
        (
            Client,
            json!({"id": "night", "name": "Night", "status": "active",
                "service_hours": {"from": "22:00", "until": "00:00"},
                "quota": {"scope": "node"}, "tps": null, "valid_from": null}),
        ),
        (
            Product,
            json!({"id": "p-quota", "name": "Quota", "description": "d",
                "apis": ["orders-*", "pay"], "approval": "auto",
                "quota": {"per_month": 1000, "scope": "shared"}}),
        ),
        (
            Product,
            json!({"id": "p-scopes", "name": "Scopes", "apis": ["orders"],
                "scopes": ["orders.read", "orders.write"]}),
        ),
        (
            Api,
            json!({"id": "oauth", "name": "OAuth", "prefix": "/oauth",
                "upstreams": ["http://a"], "auth": ["oauth2", "mtls"],
                "scopes": ["orders.read"]}),
        ),
        (
            Group,
            json!({"id": "g0", "name": "g", "description": "d", "apis": ["a*b*c"]}),
        ),
        (
            User,
            json!({"id": "sam", "role": "support", "password": "a long password",
                "display_name": "Sam", "email": "sam@example.tw", "lang": "zh-TW",
                "timezone": "Asia/Taipei", "disabled": false}),
        ),
        (
            User,
            json!({"id": "mgr", "role": "manager", "email": "", "lang": "en",
                "timezone": null}),
        ),
        (
            User,
            json!({"id": "root", "role": "admin", "disabled": true}),
        ),
        (
            AlertRule,
            json!({"id": "mem", "name": "mem", "kind": {"type": "node_memory"},
                "scope": "all_nodes", "threshold": 100, "comparison": "above",
                "enabled": false, "send_resolved": false}),
        ),
        (
            AlertRule,
            json!({"id": "heap", "name": "heap",
                "kind": {"type": "process_memory", "unit": "percent", "limit_mb": 2048},
                "threshold": 80, "recovery": 70}),
        ),
        (
            AlertRule,
            json!({"id": "heap-mb", "name": "heap",
                "kind": {"type": "process_memory", "unit": "mb", "limit_mb": null},
                "threshold": 1500.5}),
        ),
        (
            AlertRule,
            json!({"id": "disk", "name": "disk", "kind": {"type": "disk", "mounts": ["/", "/var"]},
                "threshold": 90,
                "windows": [{"type": "month_days", "days": [1, 15, 31], "from": "01:00",
                    "until": "02:00"}]}),
        ),
        (
            AlertRule,
            json!({"id": "db", "name": "db", "kind": {"type": "database", "check": "connect_ms"},
                "threshold": 500,
                "windows": [{"type": "dates", "dates": ["2026-12-25", "2027-01-01"]}]}),
        ),
        (
            AlertRule,
            json!({"id": "db-down", "name": "db", "kind": {"type": "database", "check": "failure"},
                "threshold": 0}),
        ),
        (
            AlertRule,
            json!({"id": "spool", "name": "spool",
                "kind": {"type": "database", "check": "gateway_spool"},
                "scope": {"nodes": ["gw1"]}, "threshold": 10}),
        ),
        (
            AlertRule,
            json!({"id": "silent", "name": "silent", "kind": {"type": "node_silent"},
                "threshold": 120, "comparison": "above"}),
        ),
        (
            AlertRule,
            json!({"id": "drop", "name": "drop", "kind": {"type": "traffic_drop", "min_calls": 100},
                "scope": {"client": "acme"}, "threshold": 50, "comparison": "above"}),
        ),
        (
            AlertRule,
            json!({"id": "errors-all", "name": "e", "kind": {"type": "api_error_rate"},
                "scope": "all_apis", "threshold": 5, "comparison": "below", "recovery": 6}),
        ),
        (
            AlertRule,
            json!({"id": "backlog", "name": "b",
                "kind": {"type": "backlog", "measure": "spool_batches"}, "threshold": 10}),
        ),
        (
            AlertRule,
            json!({"id": "backlog-mb", "name": "b",
                "kind": {"type": "backlog", "measure": "spool_mb"}, "threshold": 100}),
        ),
        (
            AlertRule,
            json!({"id": "queue", "name": "b",
                "kind": {"type": "backlog", "measure": "queue_depth"}, "threshold": 1000}),
        ),
        (
            AlertRule,
            json!({"id": "quarantine", "name": "q",
                "kind": {"type": "ingest_quarantine", "window_secs": 3600}, "threshold": 0,
                "templates": {"zh-TW": {"firing": {"subject": "{{rule}}", "body": "{{value}}"},
                    "repeat": {}, "resolved": {"body": "ok"}}},
                "language": "en"}),
        ),
        (
            Silence,
            json!({"id": "s-node", "rule": "cpu", "node": "gw-1 (台北)", "api": "orders",
                "client": "acme", "from": "2026-11-25T10:00:00+08:00",
                "until": "2026-11-26T00:00:00Z", "who": "olive", "why": "維護"}),
        ),
        (
            Channel,
            json!({"id": "roles", "name": "值班", "enabled": false, "lang": "zh-TW",
                "email": {"roles": ["ops", "admin"]}, "line": null}),
        ),
        (
            Channel,
            json!({"id": "chatops", "webhook": {"url": "https://hooks.slack.com/services/T0/B0/x",
                "method": "PUT", "preset": "slack", "timeout_ms": 60000, "retries": 10,
                "body": [{"text": "{{rule}}"}], "secret": null,
                "headers": {"X-Api-Key": "k", "X-Tab": "a\tb"}}}),
        ),
        (
            Channel,
            json!({"id": "teams", "webhook": {"url": "http://teams.example/hook",
                "method": "PATCH", "preset": "teams"}}),
        ),
        (
            ReportSubscription,
            json!({"id": "monthly", "name": "Monthly", "enabled": false, "report": "client-apis",
                "cron": "0 0 8 1 * *", "recipients": {"roles": ["manager", "admin"],
                    "emails": ["a@b.tw"]},
                "formats": ["csv"], "lang": "en", "timezone": null}),
        ),
        (
            ReportSubscription,
            json!({"id": "nodes", "name": "Nodes", "report": "nodes",
                "cron": "30 7 * * *", "recipients": {"emails": ["x@y.z"]},
                "formats": ["chart", "csv"]}),
        ),
        (
            NotificationPolicy,
            json!({"id": "cpu-by-rule", "name": "CPU by rule", "matchers": ["kind=node_cpu"],
                "group_by": ["rule"], "group_wait_secs": 30, "group_interval_secs": 300,
                "repeat_interval_secs": 14400}),
        ),
        (
            NotificationPolicy,
            json!({"id": "all", "name": "全部", "enabled": false, "order": -1,
                "matchers": ["severity=\"critical\"", "node=~gw[0-9]+", "api!~internal-.*"],
                "group_by": ["..."], "group_wait_secs": 0, "repeat_interval_secs": 0,
                "recipients": {"roles": ["ops"], "webhooks": ["hook"]}, "continue": true,
                "send_resolved": false}),
        ),
        (
            InhibitRule,
            json!({"id": "silent-node", "name": "silent node",
                "source_matchers": ["kind=node_silent"],
                "target_matchers": ["kind=~node_cpu|node_memory|process_memory|disk"],
                "equal": ["node"]}),
        ),
        (
            InhibitRule,
            json!({"id": "db", "name": "db", "enabled": false, "source_matchers": ["kind=database"],
                "target_matchers": ["kind=api_error_rate", "severity!=critical"]}),
        ),
        (
            ApiFamily,
            json!({"id": "orders", "name": "Orders", "default_version": "v1"}),
        ),
        (
            ApiFamily,
            json!({"id": "pay", "name": "Pay", "description": "payments", "default_version": "2024-01",
                "select": {"path": false, "header": "x-api-version", "query": "version"},
                "canary": {"version": "2025-06", "percent": 2.5}}),
        ),
        (
            Api,
            json!({"id": "orders-v2", "name": "Orders v2", "prefix": "/orders", "family": "orders",
                "version": "v2", "node_groups": ["edge", "core"], "retired": false,
                "deprecation": {"since": "2026-07-01T00:00:00Z", "sunset": "2027-01-01T00:00:00Z",
                    "link": "https://developer.example/orders"},
                "upstreams": ["http://10.0.0.7:8080"]}),
        ),
        (
            Release,
            json!({"id": "r1", "created_us": 1, "entities": [{"kind": "api", "id": "a", "version": 1}]}),
        ),
        (
            Release,
            json!({"id": "r2", "comment": "launch", "created_us": 2, "entities": []}),
        ),
    ];
    b.sort_by_key(|(k, _)| *k);
    b
}

/// Stored API keys: the model's unit test's, the demo's, a rotated and revoked one.
fn stored_keys() -> Vec<Value> {
    vec![
        json!({"client_id": "acme", "hash": HASH, "expires_at": "2026-12-01T00:00:00Z",
            "products": [{"product": "p", "status": "pending"}]}),
        json!({"client_id": "demo-client", "hash": HASH, "hint": "gwk_3fA9xy"}),
        json!({"client_id": "acme", "hash": HASH, "hint": "gwk_", "revoked": true,
            "replaces": "key-1", "products": [{"product": "p", "status": "approved"},
                {"product": "q", "status": "revoked"}]}),
    ]
}

#[test]
fn every_body_written_is_accepted_and_its_answer_is_read() {
    let mut s = Schemas::new();
    let bodies = create_bodies();
    for kind in EntityKind::ALL {
        if kind == EntityKind::ApiKey {
            continue;
        }
        let n = bodies.iter().filter(|(k, _)| *k == kind).count();
        assert!(n >= 2, "{kind}: {n} bodies");
    }
    for (n, (kind, body)) in bodies.iter().enumerate() {
        let kind = *kind;
        s.accepts(create_schema(kind), body);
        let stored = server_prepares(kind, body)
            .unwrap_or_else(|e| panic!("the model refuses {kind} {body}: {e}"));
        // Every other body of a kind gets the secrets only the server's actions add.
        let nth = bodies[..n].iter().filter(|(k, _)| *k == kind).count();
        let stored = with_stored_secrets(kind, &stored, nth);
        let answer = redact(kind, &stored);
        s.accepts(read_schema(kind), &answer);
        // A GET's body sent back as it is, with or without its id.
        s.accepts(replace_schema(kind), &answer);
        let mut with_id = answer.clone();
        with_id["id"] = body["id"].clone();
        s.accepts(replace_schema(kind), &with_id);
        s.accepts(replace_schema(kind), body);
        assert!(
            server_prepares(kind, &answer).is_ok(),
            "{kind}: {answer} sent back"
        );
    }
    for stored in stored_keys() {
        let kind = EntityKind::ApiKey;
        let stored = Entity::parse(kind, "key-1", &stored.to_string())
            .expect("a stored key")
            .to_json();
        let answer = redact(kind, &stored);
        s.accepts(read_schema(kind), &answer);
        s.accepts(replace_schema(kind), &answer);
    }
    // POST /api/v1/api-keys: a client and the options of POST /clients/{id}/keys.
    for body in [
        json!({"client_id": "acme", "products": ["p-auto"]}),
        json!({"client_id": "acme", "expires_at": "2026-12-01T00:00:00Z", "products": []}),
        json!({"client_id": "acme", "expires_at": null}),
    ] {
        s.accepts(create_schema(EntityKind::ApiKey), &body);
    }
}

#[test]
fn the_examples_are_taken() {
    let mut s = Schemas::new();
    for kind in EntityKind::ALL {
        let (create, replace) = (create_example(kind), replace_example(kind));
        s.accepts(create_schema(kind), &create);
        s.accepts(replace_schema(kind), &replace);
        let doc = components();
        assert_eq!(
            doc["components"]["schemas"][create_schema(kind)]["examples"][0],
            create
        );
        if kind != EntityKind::ApiKey {
            server_prepares(kind, &create).unwrap_or_else(|e| panic!("{kind}: {e}"));
            server_prepares(kind, &replace).unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }
    let mut key = replace_example(EntityKind::ApiKey);
    key["hash"] = json!(HASH);
    assert!(Entity::parse(EntityKind::ApiKey, "k", &key.to_string()).is_ok());
}

/// Each refusal: a body the model refuses, for a reason the schema states as well.
#[test]
fn what_the_model_refuses_the_schema_refuses() {
    use EntityKind::*;
    let mut s = Schemas::new();
    let base = |kind: EntityKind| -> Value {
        create_bodies()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, b)| b)
            .expect("a body of each kind")
    };
    let cases: Vec<(EntityKind, &str, Value)> = vec![
        // Unknown fields, at the top and nested (deny_unknown_fields).
        (Api, "/bogus", json!(1)),
        (Client, "/quota", json!({"per_dya": 1})),
        (Client, "/tps", json!({"per_second": 1, "brust": 2})),
        (
            Api,
            "/capture",
            json!({"mode": "bodies", "max_bytes": 10, "x": 1}),
        ),
        (
            AlertRule,
            "/kind",
            json!({"type": "node_cpu", "window_secs": 60}),
        ),
        (
            AlertRule,
            "/windows",
            json!([{"type": "daily", "from": "22:00", "until": "06:00", "days": []}]),
        ),
        (AlertRule, "/scope", json!({"api": "a", "client": "b"})),
        (AlertRule, "/recipients", json!({"role": ["ops"]})),
        (
            Channel,
            "/email",
            json!({"to": ["a@b.tw"], "cc": ["c@d.tw"]}),
        ),
        (
            ReportSubscription,
            "/recipients",
            json!({"emails": ["a@b.tw"], "users": []}),
        ),
        (Silence, "/reason", json!("x")),
        (User, "/pasword", json!("a long password")),
        // Unknown enum tags and values.
        (AlertRule, "/kind", json!({"type": "node_gpu"})),
        (AlertRule, "/windows", json!([{"type": "hourly"}])),
        (AlertRule, "/scope", json!("everything")),
        (AlertRule, "/severity", json!("fatal")),
        (
            AlertRule,
            "/kind",
            json!({"type": "database", "check": "ping"}),
        ),
        (AlertRule, "/language", json!("fr")),
        (Api, "/capture", json!({"mode": "all"})),
        (Api, "/lb", json!("random")),
        (Api, "/auth", json!(["oauth"])),
        (Api, "/methods", json!(["get"])),
        (Product, "/approval", json!("never")),
        (User, "/role", json!("boss")),
        (User, "/lang", json!("fr")),
        (
            Channel,
            "/webhook",
            json!({"url": "https://h/x", "method": "GET"}),
        ),
        (ReportSubscription, "/formats", json!(["pdf"])),
        (ReportSubscription, "/report", json!("weekly")),
        (
            ReportSubscription,
            "/recipients",
            json!({"roles": ["boss"]}),
        ),
        // Wrong types.
        (AlertRule, "/threshold", json!("90")),
        (
            Api,
            "/upstreams",
            json!([{"url": "http://a", "weight": "heavy"}]),
        ),
        (Api, "/enabled", json!("yes")),
        (Api, "/upstreams", json!("http://a")),
        (Client, "/priority", json!(-1)),
        (Client, "/groups", json!("g0")),
        (Silence, "/from", json!(1764000000)),
        (Product, "/apis", json!("orders")),
        // Bounds and shapes the validation has.
        (Api, "/portal", json!({"published": "yes"})),
        (Api, "/portal", json!({"publish": true})),
        (Api, "/portal", json!({"summary": "x".repeat(301)})),
        (Api, "/portal", json!({"summary": "a\nb"})),
        (Api, "/portal", json!({"category": "c".repeat(65)})),
        (Api, "/portal", json!({"description": "bell\u{7}"})),
        (Api, "/portal", json!({"tags": ["a", "a"]})),
        (Api, "/portal", json!({"tags": [""]})),
        (Api, "/portal", json!({"tags": vec!["t"; 21]})),
        (Api, "/portal", json!({"openapi": {"swagger": "2.0"}})),
        (Api, "/portal", json!({"openapi": {"openapi": "2.0"}})),
        (Api, "/portal", json!({"openapi": ["3.0.0"]})),
        (Api, "/retries", json!(6)),
        (Api, "/upstreams", json!([])),
        (Api, "/upstreams", json!(["ftp://a"])),
        (Api, "/upstreams", json!([{"url": "http://a", "weight": 0}])),
        (
            Api,
            "/capture",
            json!({"mode": "bodies", "max_bytes": 65537}),
        ),
        (Api, "/health_check", json!({"path": "healthz"})),
        (
            Api,
            "/health_check",
            json!({"path": "/h", "interval_ms": 99}),
        ),
        (Api, "/name", json!("")),
        (
            Api,
            "/masking",
            json!({"detectors": [{"kind": "card", "keep_last": 9}]}),
        ),
        (Client, "/priority", json!(10)),
        (Client, "/tps", json!({"per_second": 0})),
        (Client, "/quota", json!({"per_day": 0})),
        (Client, "/groups", json!(["a/b"])),
        (Client, "/certificates", json!(["sha256:abc"])),
        (Client, "/scopes", json!(["ok", "no pe"])),
        (Client, "/scopes", json!(["twice", "twice"])),
        (Client, "/scopes", json!([""])),
        (Client, "/scopes", json!("orders.read")),
        (Product, "/scopes", json!(["a\\b"])),
        (Product, "/scopes", json!(["x".repeat(129)])),
        (
            Product,
            "/scopes",
            json!((0..65).map(|i| format!("s{i}")).collect::<Vec<_>>()),
        ),
        (
            Client,
            "/certificates",
            json!([format!("SHA256:{}", "ab".repeat(32))]),
        ),
        (
            Client,
            "/certificates",
            json!(vec![format!("sha256:{}", "ab".repeat(32)); 33]),
        ),
        (Api, "/auth", json!(["mtls", "tls"])),
        (Client, "/valid_from", json!("2026-13-01")),
        (
            Client,
            "/service_hours",
            json!({"from": "25:00", "until": "06:00"}),
        ),
        (
            Client,
            "/service_hours",
            json!({"from": "7:00", "until": "08:00"}),
        ),
        (
            Client,
            "/service_hours",
            json!({"from": "24:01", "until": "08:00"}),
        ),
        (AlertRule, "/threshold", json!(-1)),
        (AlertRule, "/for_secs", json!(604801)),
        (
            AlertRule,
            "/kind",
            json!({"type": "api_error_rate", "window_secs": 9}),
        ),
        (
            AlertRule,
            "/kind",
            json!({"type": "ingest_quarantine", "window_secs": 59}),
        ),
        (
            AlertRule,
            "/kind",
            json!({"type": "traffic_drop", "min_calls": 0}),
        ),
        (
            AlertRule,
            "/kind",
            json!({"type": "disk", "mounts": ["var"]}),
        ),
        (
            AlertRule,
            "/windows",
            json!([{"type": "month_days", "days": [32]}]),
        ),
        (
            AlertRule,
            "/windows",
            json!([{"type": "weekly", "days": []}]),
        ),
        (
            AlertRule,
            "/windows",
            json!([{"type": "dates", "dates": ["25/12/2026"]}]),
        ),
        (AlertRule, "/scope", json!({"nodes": []})),
        (AlertRule, "/scope", json!({"api": "a b"})),
        (
            AlertRule,
            "/recipients",
            json!({"emails": ["not-an-address"]}),
        ),
        (AlertRule, "/recipients", json!({"line": ["U-1"]})),
        (Silence, "/rule", json!("a b")),
        (Silence, "/who", json!("")),
        (Channel, "/line", json!({"to": ["Ubbbb"]})),
        (Channel, "/webhook", json!({"url": "ftp://h/x"})),
        (
            Channel,
            "/webhook",
            json!({"url": "https://h/x", "timeout_ms": 0}),
        ),
        (
            Channel,
            "/webhook",
            json!({"url": "https://h/x", "retries": 11}),
        ),
        (
            Channel,
            "/webhook",
            json!({"url": "https://h/x", "headers": {"Bad Name": "v"}}),
        ),
        (
            Channel,
            "/webhook",
            json!({"url": "https://h/x", "headers": {"X": "a\r\nb"}}),
        ),
        (
            Channel,
            "/webhook",
            json!({"url": "https://h/x", "body": "text"}),
        ),
        (Channel, "/lang", json!("de")),
        (ReportSubscription, "/name", json!("x".repeat(201))),
        (ReportSubscription, "/formats", json!(["csv", "csv"])),
        (
            ReportSubscription,
            "/recipients",
            json!({"emails": ["nobody"]}),
        ),
        (User, "/email", json!("nobody")),
        (User, "/password", json!("short")),
        (Channel, "/email", json!({"to": []})),
        (Channel, "/email", json!({"roles": []})),
        (ReportSubscription, "/recipients", json!({})),
        (
            ReportSubscription,
            "/recipients",
            json!({"roles": [], "emails": []}),
        ),
        (ReportSubscription, "/cron", json!("* * * *")),
        (ReportSubscription, "/cron", json!("")),
        (ReportSubscription, "/report", json!("calls")),
        (Client, "/timezone", json!("Asia/Taipe")),
        (User, "/timezone", json!("asia/taipei")),
        (AlertRule, "/timezone", json!("UTC+8")),
        (Api, "/upstreams", json!(["http://"])),
        (Api, "/upstreams", json!(["http://a/base"])),
        (
            Api,
            "/upstreams",
            json!([{"url": "http://u@a", "weight": 2}]),
        ),
        // Secrets are set by their own actions.
        (Client, "/secret_hash", json!(HASH)),
        (User, "/password_hash", json!(PHC)),
    ];
    // serde ignores what else a unit variant's object holds; so does the schema.
    let mut extra = base(Api);
    extra["capture"] = json!({"mode": "none", "max_bytes": 10});
    assert!(server_prepares(Api, &extra).is_ok());
    s.accepts(create_schema(Api), &extra);
    for (kind, pointer, value) in cases {
        let mut body = base(kind);
        let field = &pointer[1..];
        if kind == Channel && field != "email" {
            // On a channel without another destination.
            body.as_object_mut().map(|o| o.remove("email"));
        }
        body[field] = value;
        assert!(
            server_prepares(kind, &body).is_err(),
            "the model accepts {kind} {body}"
        );
        s.refuses(create_schema(kind), &body);
        s.refuses(replace_schema(kind), &body);
    }
    // Exactly one of an API's prefix and path; of a channel's destinations.
    for (kind, body) in [
        (
            Api,
            json!({"id": "a", "name": "a", "upstreams": ["http://a"]}),
        ),
        (
            Api,
            json!({"id": "a", "name": "a", "prefix": "/a", "path": "/a", "upstreams": ["http://a"]}),
        ),
        (Channel, json!({"id": "c"})),
        (
            Channel,
            json!({"id": "c", "email": {"to": ["a@b.tw"]}, "line": {"to": [LINE_ID]}}),
        ),
    ] {
        assert!(server_prepares(kind, &body).is_err(), "{body}");
        s.refuses(create_schema(kind), &body);
    }
    // `language` is another name of `lang`: one of them.
    let mut both = base(ReportSubscription);
    both["lang"] = json!("en");
    both["language"] = json!("en");
    assert!(server_prepares(ReportSubscription, &both).is_err());
    s.refuses(create_schema(ReportSubscription), &both);
    both.as_object_mut().map(|o| o.remove("lang"));
    assert!(server_prepares(ReportSubscription, &both).is_ok());
    s.accepts(create_schema(ReportSubscription), &both);
    // The id: a create names it; a replace may; either way it is an id.
    let mut no_id = base(Group);
    no_id.as_object_mut().map(|o| o.remove("id"));
    s.refuses(create_schema(Group), &no_id);
    s.accepts(replace_schema(Group), &no_id);
    let mut bad_id = base(Group);
    bad_id["id"] = json!("a/b");
    assert!(server_prepares(Group, &bad_id).is_err());
    s.refuses(create_schema(Group), &bad_id);
    s.refuses(replace_schema(Group), &bad_id);
    // An API key is generated: a body naming its hash is refused, as is an unknown option.
    s.refuses(
        create_schema(ApiKey),
        &json!({"client_id": "acme", "hash": HASH}),
    );
    s.refuses(create_schema(ApiKey), &json!({"products": []}));
    let mut key = stored_keys()[0].clone();
    assert!(server_prepares(ApiKey, &key).is_err());
    s.refuses(replace_schema(ApiKey), &key);
    key.as_object_mut().map(|o| o.remove("hash"));
    s.accepts(replace_schema(ApiKey), &key);
}

#[test]
fn answers_never_describe_a_secret() {
    let doc = components();
    let schemas = &doc["components"]["schemas"];
    for kind in EntityKind::ALL {
        for name in [read_schema(kind), replace_schema(kind), create_schema(kind)] {
            let text = schemas[name].to_string();
            for secret in ["\"secret_hash\"", "\"password_hash\"", "\"hash\""] {
                assert!(!text.contains(secret), "{name} names {secret}");
            }
        }
        let read = schemas[read_schema(kind)].to_string();
        assert!(!read.contains("\"password\""), "{kind}");
    }
    assert!(!schemas["TokenRead"].to_string().contains("\"hash\""));
    assert!(schemas.get("TokenSpec").is_none());
}

#[test]
fn components_are_whole_and_clash_with_none_of_the_dashboards() {
    let list = entity_schemas();
    let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a name twice: {names:?}");
    // The dashboards' own components (answer.rs, keys.rs, me.rs, alerts.rs, …).
    for theirs in [
        "Envelope",
        "Page",
        "History",
        "HistoryEntry",
        "ErrorBody",
        "ErrorDetail",
        "CreatedSecret",
        "KeyRequest",
        "RotateRequest",
        "GrantRequest",
        "LoginRequest",
        "SessionInfo",
        "PasswordChange",
        "TokenRequest",
        "TokenInfo",
        "Preferences",
        "FieldChange",
        "Scope",
        "ActiveAlert",
        "ActiveAlerts",
        "AlertEventRow",
        "AlertEventsPage",
        "PreviewNotice",
        "RulePreview",
        "Disk",
        "Health",
        "UpstreamHealth",
        "UpstreamHealthPage",
        "AuditRow",
        "AuditPage",
        "Attempt",
        "Run",
        "RunsPage",
        "EntityBody",
    ] {
        assert!(!names.contains(&theirs), "{theirs} is the dashboards'");
    }
    assert!(!names.iter().any(|n| n.starts_with("Node")), "{names:?}");
    for kind in EntityKind::ALL {
        for n in [create_schema(kind), replace_schema(kind), read_schema(kind)] {
            assert!(names.contains(&n), "{n}");
        }
    }
    // Every $ref names a component of the list.
    let text = serde_json::to_string(&components()).expect("JSON");
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let target = &part[..part.find('"').unwrap_or(0)];
        assert!(names.contains(&target), "dangling $ref {target}");
    }
}

#[test]
fn string_patterns_agree_with_the_parsers() {
    let mut s = Schemas::new();
    // Every HH:MM-shaped string and some others: ClockTime's pattern is its parser.
    let mut probes: Vec<String> = Vec::new();
    for h in 0..=99 {
        for m in 0..=99 {
            probes.push(format!("{h:02}:{m:02}"));
        }
    }
    probes.extend(
        [
            "7:00", "07:0", "0700", "07:00 ", "", "24:00", "-1:00", "+1:00",
        ]
        .map(String::from),
    );
    for p in &probes {
        let parsed = p.parse::<crate::client::ClockTime>();
        let valid = s.errors("ClockTime", &json!(p)).is_empty();
        if valid {
            assert!(parsed.is_ok(), "{p:?}");
        }
        // The parser also takes a sign ("+1:00"); what it writes back is always HH:MM.
        if let Ok(t) = parsed {
            assert!(valid || p.contains('+'), "{p:?}");
            assert!(
                s.errors("ClockTime", &json!(t.to_string())).is_empty(),
                "{t}"
            );
        }
    }
    // E-mail addresses: the pattern is looks_like_email.
    for e in [
        "a@b.tw",
        "x@y.z",
        "a.b+c@d-e.f.g",
        "名前@例え.台灣",
        "a@b@c.d",
        "a@.b.c",
        "a@b..c",
        "a@b.c.",
        "@b.c",
        "a@bc",
        "a b@c.d",
        "",
        "a@b.c\u{feff}",
        "a@b.c\u{85}",
        "a@b.c\u{3000}",
        "a\u{1}@b.c",
        "a@b.c@d",
        "a@.",
        "a@b.",
        "a@b.c\n",
    ] {
        // A user's address may be empty (none).
        let model = crate::user::looks_like_email(e) || e.is_empty();
        let schema = s
            .errors("UserRead", &json!({"role": "ops", "email": e}))
            .is_empty();
        assert_eq!(model, schema, "{e:?}");
        let in_list = s.errors("EmailTarget", &json!({"to": [e]})).is_empty();
        assert_eq!(crate::user::looks_like_email(e), in_list, "{e:?}");
    }
    // LINE ids: the channel's pattern is is_line_id.
    for id in [
        LINE_ID,
        "Cb2f4e7a9c1d3e5f7a9b1c3d5e7f9a1b2",
        "R0123456789abcdef0123456789abcdef",
        "Ubbbb",
        "UBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "X00000000000000000000000000000001",
        "U000000000000000000000000000000012",
    ] {
        let model = crate::channel::is_line_id(id);
        let schema = s.errors("LineTarget", &json!({"to": [id]})).is_empty();
        assert_eq!(model, schema, "{id}");
    }
    // Certificate fingerprints: the pattern is check_fingerprint.
    let fp = format!("sha256:{}", "0a".repeat(32));
    for f in [
        fp.clone(),
        fp.to_uppercase().replace("SHA256", "sha256"),
        fp.to_uppercase(),
        format!("{fp}0"),
        fp[..70].to_string(),
        format!(" {fp}"),
        format!("{fp}\n"),
        fp.replace("0a", "0g"),
        fp.replace("sha256", "sha1"),
        format!("sha256:{}", "٣".repeat(64)),
        String::new(),
    ] {
        let model = crate::client::check_fingerprint(&f).is_ok();
        let schema = s
            .errors(
                "ClientRead",
                &json!({"name": "x", "has_secret": false, "has_signing_secret": false, "certificates": [f]}),
            )
            .is_empty();
        assert_eq!(model, schema, "{f:?}");
    }
    // Scope names: the pattern is check_scope.
    for sc in [
        "orders.read".to_string(),
        "!#[]~".to_string(),
        "x".repeat(128),
        "x".repeat(129),
        String::new(),
        "a b".into(),
        "a\"b".into(),
        "a\\b".into(),
        "é".into(),
        "a\tb".into(),
        "a\u{7f}".into(),
    ] {
        let model = crate::oauth::check_scope(&sc).is_ok();
        let schema = s
            .errors(
                "ClientRead",
                &json!({"name": "x", "has_secret": false, "has_signing_secret": false, "scopes": [sc]}),
            )
            .is_empty();
        assert_eq!(model, schema, "{sc:?}");
    }
    // Upstreams: the pattern is check_upstream_url, in both forms.
    let url_pattern = &components()["components"]["schemas"]["Upstream"]["oneOf"][1]["properties"]
        ["url"]["pattern"];
    assert_eq!(url_pattern, UPSTREAM_PATTERN);
    for u in [
        "http://a",
        "http://a:1",
        "http://a:1/",
        "http://10.0.0.7:8080",
        "http://[::1]:80",
        "http://",
        "http:///",
        "http://a/b",
        "http://a//",
        "https://a",
        "https://a:8443/",
        "https://",
        "https://a/b",
        "http://u@a",
        "http://a?x",
        "http://a#x",
        "http://a b",
        "http://a/?x",
        "ftp://a",
        "http://台灣",
    ] {
        let body = json!({"name": "x", "prefix": "/x", "upstreams": [u]});
        let model = Entity::parse(EntityKind::Api, "x", &body.to_string()).is_ok();
        let plain = s.errors("Upstream", &json!(u)).is_empty();
        let object = s
            .errors("Upstream", &json!({"url": u, "weight": 2}))
            .is_empty();
        assert_eq!((model, model), (plain, object), "{u}");
    }
    // upstream_tls: the schema refuses what the model's form check refuses.
    for tls in [
        json!({}),
        json!({"ca_file": "/etc/ca.pem", "server_name": "api.example"}),
        json!({"cert_file": "c.pem", "key_file": "k.pem", "verify": false}),
        json!({"server_name": "10.0.0.7"}),
        json!({"ca_file": ""}),
        json!({"ca_file": "  "}),
        json!({"server_name": "a b"}),
        json!({"server_name": "h/x"}),
        json!({"server_name": ""}),
        json!({"verify": "no"}),
        json!({"cafile": "x"}),
    ] {
        let body =
            json!({"name": "x", "prefix": "/x", "upstreams": ["https://h"], "upstream_tls": tls});
        let model = Entity::parse(EntityKind::Api, "x", &body.to_string()).is_ok();
        let schema = s.errors("UpstreamTls", &tls).is_empty();
        // (cert_file without key_file, and the reverse, are refused by the model alone.)
        assert_eq!(model, schema, "{tls}");
    }
    // Cron: five or six fields, split as the model splits them.
    for c in [
        "0 8 * * 1",
        "* * * * *",
        "0 0 8 1 * *",
        " 0 8 * * 1 ",
        "0\t8 * * 1",
        "0\u{85}8 * * 1",
        "* * * *",
        "0 0 0 8 1 * *",
        "",
        "61 * * * *",
        "0 8 * * MON-FRI",
        "0 8 L * ?",
        "0 8 1W * *",
        "0 8 * * 1#2",
        "0 8 * * 1,3,5",
        "*/15 * * * *",
        "0 8 * * 1 ;",
        "0 8 * * 1é",
    ] {
        let model = crate::report_subscription::parse_cron(c).is_ok();
        let schema = s
            .errors(
                "ReportSubscriptionRead",
                &json!({"name": "n", "report": "usage", "cron": c,
                    "recipients": {"roles": ["ops"]}}),
            )
            .is_empty();
        if model {
            assert!(
                schema,
                "{c:?} is a schedule to the model, not to the schema"
            );
        }
    }
    // Zones: the enum is what parse_tz takes.
    for z in [
        "Asia/Taipei",
        "UTC",
        "US/Eastern",
        "Etc/GMT-8",
        "asia/taipei",
        "UTC+8",
        "",
    ] {
        let model = crate::client::parse_tz(z).is_ok();
        let schema = s.errors("TimeZone", &json!(z)).is_empty();
        assert_eq!(model, schema, "{z:?}");
    }
    // Methods: the schema's list is the validation's.
    let methods = components()["components"]["schemas"]["ApiRead"]["allOf"][0]["properties"]
        ["methods"]["items"]["enum"]
        .clone();
    assert_eq!(methods, json!(crate::api::METHODS));
}
