//! The running admin API's entity answers match the model's OpenAPI read schemas
//! (`gatewatch_model::schema`), and an answer sent back matches the replace schema: real
//! writes, with a generated key, a client secret, a generated password and a webhook's sealed
//! credential header.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::schema::{create_schema, entity_schemas, read_schema, replace_schema};
use gatewatch_model::EntityKind;
use serde_json::{json, Map, Value};

const PW: &str = "a long test password";

/// Validators resolving `$ref`s against a document of every entity component.
struct Schemas(Value);

impl Schemas {
    fn new() -> Schemas {
        let map: Map<String, Value> = entity_schemas()
            .into_iter()
            .map(|(n, s)| (n, serde_json::to_value(s).unwrap()))
            .collect();
        Schemas(json!({ "components": { "schemas": map } }))
    }

    fn check(&self, name: &str, v: &Value) {
        let mut root = self.0.clone();
        root["$ref"] = json!(format!("#/components/schemas/{name}"));
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap();
        let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {v}: {errors:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_answers_match_the_openapi_read_schemas() {
    let site = Site::new(
        "entity_schemas",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let _store = site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;
    let s = Schemas::new();

    let bodies = [
        (
            EntityKind::Api,
            "apis",
            json!({"id": "orders", "name": "訂單", "path": "/orders/{id}",
                "upstreams": ["http://127.0.0.1:9", {"url": "http://127.0.0.1:10", "weight": 3}],
                "lb": "weighted", "auth": ["api_key"],
                "capture": {"mode": "bodies", "max_bytes": 1024}}),
        ),
        (
            EntityKind::Group,
            "groups",
            json!({"id": "g0", "name": "g", "apis": ["orders*"]}),
        ),
        (
            EntityKind::Product,
            "products",
            json!({"id": "p-man", "name": "M", "apis": ["*"], "approval": "manual",
                "quota": {"per_day": 1000}}),
        ),
        (
            EntityKind::Client,
            "clients",
            json!({"id": "acme", "name": "Acme", "groups": ["g0"], "timezone": "Asia/Taipei",
                "service_hours": {"days": ["mon"], "from": "22:00", "until": "06:00"},
                "tps": {"per_second": 5}}),
        ),
        (
            EntityKind::User,
            "users",
            json!({"id": "olive", "role": "ops", "email": "olive@example.tw"}),
        ),
        (
            EntityKind::AlertRule,
            "alert-rules",
            json!({"id": "cpu", "name": "CPU", "kind": {"type": "node_cpu"}, "threshold": 90,
                "windows": [{"type": "daily", "from": "22:00", "until": "06:00"}],
                "recipients": {"roles": ["ops"]}}),
        ),
        (
            EntityKind::Silence,
            "silences",
            json!({"id": "upgrade", "rule": "cpu", "from": "2026-11-25T10:00:00Z",
                "until": "2026-11-25T12:00:00Z", "who": "boss", "why": "upgrade"}),
        ),
        (
            EntityKind::Channel,
            "channels",
            json!({"id": "hook", "webhook": {"url": "https://hooks.example.invalid/a",
                "headers": {"Authorization": "Bearer s3cret", "X-Team": "ops"}}}),
        ),
        (
            EntityKind::ReportSubscription,
            "report-subscriptions",
            json!({"id": "weekly", "name": "每週", "report": "usage",
                "params": {"range": "last_week"}, "cron": "0 8 * * 1",
                "recipients": {"roles": ["manager"]}, "language": "en"}),
        ),
        (
            EntityKind::NotificationPolicy,
            "notification-policies",
            json!({"id": "by-node", "name": "By node", "matchers": ["severity=\"critical\""],
                "group_by": ["node"], "group_wait_secs": 10, "recipients": {"roles": ["ops"]}}),
        ),
        (
            EntityKind::InhibitRule,
            "inhibit-rules",
            json!({"id": "db-down", "name": "Database down mutes error rates",
                "source_matchers": ["kind=database"], "target_matchers": ["kind=api_error_rate"]}),
        ),
    ];
    for (kind, seg, body) in &bodies {
        s.check(create_schema(*kind), body);
        let r = admin.post(&format!("/api/v1/{seg}"), body.clone()).await;
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        s.check(read_schema(*kind), &r.body["body"]);
    }

    // Keys, a client secret: their own actions.
    let r = admin
        .post("/api/v1/clients/acme/keys", json!({"products": ["p-man"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.check(read_schema(EntityKind::ApiKey), &r.body["entity"]["body"]);
    let key = json!({"client_id": "acme", "expires_at": "2030-01-01T00:00:00Z"});
    s.check(create_schema(EntityKind::ApiKey), &key);
    let r = admin.post("/api/v1/api-keys", key).await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.check(read_schema(EntityKind::ApiKey), &r.body["entity"]["body"]);
    let r = admin.post("/api/v1/clients/acme/secret", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Every answer read back, and sent back as it is.
    for (kind, seg) in [
        (EntityKind::Api, "apis"),
        (EntityKind::Group, "groups"),
        (EntityKind::Product, "products"),
        (EntityKind::Client, "clients"),
        (EntityKind::ApiKey, "api-keys"),
        (EntityKind::User, "users"),
        (EntityKind::AlertRule, "alert-rules"),
        (EntityKind::Silence, "silences"),
        (EntityKind::Channel, "channels"),
        (EntityKind::ReportSubscription, "report-subscriptions"),
        (EntityKind::NotificationPolicy, "notification-policies"),
        (EntityKind::InhibitRule, "inhibit-rules"),
    ] {
        let list = admin
            .call("GET", &format!("/api/v1/{seg}"), None, &[])
            .await;
        assert_eq!(list.status, 200, "{}", list.text);
        let items = list.body["items"].as_array().unwrap().clone();
        assert!(!items.is_empty(), "{seg}");
        for item in items {
            let id = item["id"].as_str().unwrap().to_string();
            s.check(read_schema(kind), &item["body"]);
            s.check(replace_schema(kind), &item["body"]);
            let etag = format!("\"{}\"", item["version"]);
            let r = admin
                .call(
                    "PUT",
                    &format!("/api/v1/{seg}/{id}"),
                    Some(&item["body"].to_string()),
                    &[("if-match", &etag)],
                )
                .await;
            assert_eq!(r.status, 200, "{kind} {id} sent back: {}", r.text);
            s.check(read_schema(kind), &r.body["body"]);
            let h = admin
                .call("GET", &format!("/api/v1/{seg}/{id}/history"), None, &[])
                .await;
            for v in h.body["versions"].as_array().unwrap() {
                s.check(read_schema(kind), &v["body"]);
            }
        }
    }
    let client = admin.call("GET", "/api/v1/clients/acme", None, &[]).await;
    assert_eq!(client.body["body"]["has_secret"], true);
    let hook = admin.call("GET", "/api/v1/channels/hook", None, &[]).await;
    assert_eq!(
        hook.body["body"]["webhook"]["headers"]["Authorization"],
        "****"
    );
}
