//! OAuth 2.0 scopes through the admin API of the real binary: clients', APIs' and products'
//! `scopes` taken, refused 422 naming the item (`scopes[1]`) — spaces, quotes, non-ASCII,
//! control characters, repeats, too many, too long, the wrong type, scopes on an API without
//! `oauth2` —, answered back, in history and audit like any field, described by the OpenAPI
//! document; a client's effective scopes (`GET /api/v1/clients/{id}/scopes`); the client
//! secret for the token endpoint still set through `POST /api/v1/clients/{id}/secret`.

use crate::admin::{add_user, Answer, Api};
use crate::helpers::*;
use serde_json::{json, Value};

const PW: &str = "a long test password";

async fn put(api: &Api, path: &str, body: Value, version: &str) -> Answer {
    api.call(
        "PUT",
        path,
        Some(&body.to_string()),
        &[("if-match", version)],
    )
    .await
}

async fn get(api: &Api, path: &str) -> Answer {
    api.call("GET", path, None, &[]).await
}

fn refused(a: &Answer) -> (u16, Option<&str>) {
    (a.status, a.body["error"]["field"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_validated_kept_in_history_and_described() {
    let site = Site::new(
        "admin_scopes",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", PW).await;

    // Refusals name the item (or the list), on create and on replace; nothing is stored.
    let client = |scopes: Value| json!({"id": "acme", "name": "Acme", "scopes": scopes});
    let too_many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
    for (scopes, field) in [
        (json!(["orders.read", "no pe"]), "scopes[1]"),
        (json!(["orders.read", "orders.read"]), "scopes[1]"),
        (json!([""]), "scopes[0]"),
        (json!(["a\"b"]), "scopes[0]"),
        (json!(["a\\b"]), "scopes[0]"),
        (json!(["訂單.read"]), "scopes[0]"),
        (json!(["ok", "a\u{0}b"]), "scopes[1]"),
        (json!(["x".repeat(129)]), "scopes[0]"),
        (json!(too_many), "scopes"),
    ] {
        let r = admin.post("/api/v1/clients", client(scopes.clone())).await;
        assert_eq!(refused(&r), (422, Some(field)), "{scopes}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "invalid", "{}", r.text);
    }
    // The wrong type names the field too.
    for scopes in [json!("orders.read"), json!([1]), json!({"a": 1})] {
        let r = admin.post("/api/v1/clients", client(scopes.clone())).await;
        assert!(
            matches!(r.status, 400 | 422)
                && r.body["error"]["field"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("scopes")),
            "{scopes}: {} {}",
            r.status,
            r.text
        );
    }
    assert_eq!(get(&admin, "/api/v1/clients/acme").await.status, 404);

    // Taken and answered back as sent (128 bytes is the longest).
    let long = "x".repeat(128);
    let r = admin
        .post(
            "/api/v1/clients",
            client(json!(["orders.read", "x:y/z", "!#[]~", long])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = get(&admin, "/api/v1/clients/acme").await;
    assert_eq!(
        r.body["body"]["scopes"],
        json!(["orders.read", "x:y/z", "!#[]~", long]),
        "{}",
        r.text
    );
    let v1 = r.headers["etag"].to_str().unwrap().to_string();
    let r = put(
        &admin,
        "/api/v1/clients/acme",
        json!({"name": "Acme", "scopes": ["orders.read", "orders read"]}),
        &v1,
    )
    .await;
    assert_eq!(refused(&r), (422, Some("scopes[1]")), "{}", r.text);
    let r = put(
        &admin,
        "/api/v1/clients/acme",
        json!({"name": "Acme", "scopes": ["orders.read", "orders.write"]}),
        &v1,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["body"]["scopes"],
        json!(["orders.read", "orders.write"])
    );

    // An API's scopes need `oauth2` among its credentials.
    let api = |auth: Value, scopes: Value| {
        json!({"id": "orders", "name": "Orders", "prefix": "/orders",
            "upstreams": ["http://127.0.0.1:9"], "auth": auth, "scopes": scopes})
    };
    let r = admin
        .post(
            "/api/v1/apis",
            api(json!(["api_key"]), json!(["orders.read"])),
        )
        .await;
    assert_eq!(refused(&r), (422, Some("scopes")), "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("oauth2"),
        "{}",
        r.text
    );
    let r = admin
        .post(
            "/api/v1/apis",
            api(json!(["oauth2"]), json!(["orders.read", "orders read"])),
        )
        .await;
    assert_eq!(refused(&r), (422, Some("scopes[1]")), "{}", r.text);
    let r = admin
        .post(
            "/api/v1/apis",
            api(json!(["oauth2"]), json!(["orders.read"])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = get(&admin, "/api/v1/apis/orders").await;
    assert_eq!(r.body["body"]["auth"], json!(["oauth2"]), "{}", r.text);
    assert_eq!(r.body["body"]["scopes"], json!(["orders.read"]));
    // Dropping oauth2 while scopes stay is refused; dropping both is taken.
    let v = r.headers["etag"].to_str().unwrap().to_string();
    let mut body = api(json!(["api_key"]), json!(["orders.read"]));
    body.as_object_mut().unwrap().remove("id");
    let r = put(&admin, "/api/v1/apis/orders", body.clone(), &v).await;
    assert_eq!(refused(&r), (422, Some("scopes")), "{}", r.text);
    body.as_object_mut().unwrap().remove("scopes");
    let r = put(&admin, "/api/v1/apis/orders", body, &v).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["body"].get("scopes").is_none(), "{}", r.text);

    // Products: taken, refused, answered.
    let r = admin
        .post(
            "/api/v1/products",
            json!({"id": "reports", "name": "Reports", "apis": ["orders"],
                "scopes": ["reports.read", "reports.read"]}),
        )
        .await;
    assert_eq!(refused(&r), (422, Some("scopes[1]")), "{}", r.text);
    let r = admin
        .post(
            "/api/v1/products",
            json!({"id": "reports", "name": "Reports", "apis": ["orders"],
                "scopes": ["reports.read", "orders.read"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["body"]["scopes"],
        json!(["reports.read", "orders.read"])
    );

    // History shows the scopes changed like any field; audit names the field.
    let r = get(&admin, "/api/v1/clients/acme/history").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let versions = r.body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{}", r.text);
    let changes = versions[1]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["path"].as_str().unwrap().starts_with("scopes")
                && c.get("secret").is_none()),
        "{}",
        r.text
    );
    let shown = serde_json::to_string(changes).unwrap();
    assert!(shown.contains("orders.write"), "{shown}");
    let r = get(&admin, "/api/v1/audit").await;
    let update = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "update" && i["id"] == "acme")
        .cloned()
        .unwrap_or_else(|| panic!("no audit row: {}", r.text));
    assert_eq!(update["entity"], "client");
    assert_eq!(update["detail"]["fields"], json!(["scopes"]));

    // Effective scopes: own, then those of the products approved for active keys.
    let r = get(&admin, "/api/v1/clients/acme/scopes").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"client_id": "acme", "own": ["orders.read", "orders.write"], "products": [],
            "effective": ["orders.read", "orders.write"]})
    );
    let r = admin
        .post(
            "/api/v1/clients/acme/keys",
            json!({"products": ["reports"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key_id = r.body["entity"]["id"].as_str().unwrap().to_string();
    let r = get(&admin, "/api/v1/clients/acme/scopes").await;
    assert_eq!(
        r.body,
        json!({"client_id": "acme", "own": ["orders.read", "orders.write"],
            "products": [{"product": "reports", "scopes": ["reports.read", "orders.read"],
                "keys": [key_id]}],
            "effective": ["orders.read", "orders.write", "reports.read"]}),
        "{}",
        r.text
    );
    let r = admin
        .post(&format!("/api/v1/api-keys/{key_id}/revoke"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get(&admin, "/api/v1/clients/acme/scopes").await;
    assert_eq!(r.body["products"], json!([]), "{}", r.text);
    for path in [
        "/api/v1/clients/nobody/scopes",
        "/api/v1/clients/..%2F/scopes",
    ] {
        let r = get(&admin, path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }

    // The client secret (HTTP Basic and the token endpoint): shown once, never again.
    let r = admin.post("/api/v1/clients/acme/secret", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("gws_"), "{}", r.text);
    let r = get(&admin, "/api/v1/clients/acme").await;
    assert_eq!(r.body["body"]["has_secret"], true);
    assert!(!r.text.contains(&secret) && !r.text.contains("hmac-sha256"));

    // The OpenAPI document describes the scopes and the new route.
    let r = Api::anonymous(site.dashboards)
        .call("GET", "/api/openapi.json", None, &[])
        .await;
    let schemas = &r.body["components"]["schemas"];
    for kind in ["Client", "Api", "Product"] {
        for form in ["Create", "Replace", "Read"] {
            // An API's writes are `allOf` (exactly one of `prefix`, `path`).
            let c = &schemas[format!("{kind}{form}")];
            let s = match &c["properties"]["scopes"] {
                Value::Null => &c["allOf"][0]["properties"]["scopes"],
                s => s,
            };
            assert_eq!(
                s["items"]["pattern"],
                gatewatch_model::schema::SCOPE_PATTERN,
                "{kind}{form}: {s}"
            );
            assert_eq!(s["maxItems"], 64, "{kind}{form}: {s}");
            assert_eq!(s["uniqueItems"], true, "{kind}{form}: {s}");
        }
    }
    // `oauth2` among an API's credentials (the enum, inline or named).
    let api_schemas = serde_json::to_string(schemas).unwrap();
    assert!(
        api_schemas.contains("\"oauth2\""),
        "no oauth2 in the schemas"
    );
    assert!(
        r.body["paths"]["/api/v1/clients/{id}/scopes"]["get"].is_object(),
        "no scopes route"
    );
    let secret_doc = r.body["paths"]["/api/v1/clients/{id}/secret"]["post"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(secret_doc.contains("token endpoint"), "{secret_doc}");
}
