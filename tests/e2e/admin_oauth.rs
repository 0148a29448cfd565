//! The authorization server's signing keys and token revocation through the admin API of the
//! real binary: who may read, rotate and revoke; no private part in any answer; the rotation
//! seen in the list, by `gatewatch keys list` and in the audit log; the bound on retired keys
//! still published; revocations stored for the gateways, bad input refused naming the field.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use serde_json::json;

const PW: &str = "a long test password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_rotate_and_tokens_revoke_through_the_admin_api() {
    let site = Site::new(
        "admin_oauth",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "root", "admin", PW);
    add_user(&site, "olive", "ops", PW);
    add_user(&site, "sue", "support", PW);
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", PW).await;
    let ops = Api::login(site.dashboards, "olive", PW).await;
    let support = Api::login(site.dashboards, "sue", PW).await;

    // Every role reads the keys; none yet. Only admins rotate and revoke.
    for who in [&admin, &ops, &support] {
        let r = who.call("GET", "/api/v1/oauth/keys", None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["items"], json!([]));
        assert_eq!(r.body["signing_alg"], "ES256");
    }
    for who in [&ops, &support] {
        let r = who.post("/api/v1/oauth/keys/rotate", json!({})).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = who
            .post(
                "/api/v1/oauth/revocations",
                json!({"jti": "j1", "client_id": "c1"}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    assert_eq!(
        Api::anonymous(site.dashboards)
            .call("GET", "/api/v1/oauth/keys", None, &[])
            .await
            .status,
        401
    );

    // Options that do not exist are refused, naming them.
    let r = admin
        .post("/api/v1/oauth/keys/rotate", json!({"alg": "none"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("alg")),
        "{}",
        r.text
    );

    // Two rotations: the first key retired, published until its last token expires.
    let first = admin
        .call("POST", "/api/v1/oauth/keys/rotate", Some(""), &[])
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let kid1 = first.body["key"]["kid"].as_str().unwrap().to_string();
    assert_eq!(first.body["retired"], json!([]));
    let second = admin.post("/api/v1/oauth/keys/rotate", json!({})).await;
    assert_eq!(second.status, 201, "{}", second.text);
    let kid2 = second.body["key"]["kid"].as_str().unwrap().to_string();
    assert_eq!(second.body["retired"][0]["kid"], kid1.as_str());
    assert_eq!(second.body["retired"][0]["state"], "retired");

    let list = ops.call("GET", "/api/v1/oauth/keys", None, &[]).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", list.text);
    assert_eq!(
        (items[0]["kid"].as_str(), items[0]["state"].as_str()),
        (Some(kid2.as_str()), Some("active"))
    );
    assert!(items[0]["retired_at"].is_null() && items[0]["keep_until"].is_null());
    assert_eq!(
        (items[1]["kid"].as_str(), items[1]["state"].as_str()),
        (Some(kid1.as_str()), Some("retired"))
    );
    // Published for the token TTL (an hour by default) plus a minute past the retirement.
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(
        at(&items[1]["keep_until"]) - at(&items[1]["retired_at"]),
        3600 + 60
    );
    for k in items {
        assert_eq!(k["alg"], "ES256");
        assert_eq!(k["public_jwk"]["kid"], k["kid"]);
        assert_eq!(k["public_jwk"]["kty"], "EC");
        assert!(k["public_jwk"].get("d").is_none(), "{k}");
    }

    // No answer carries a private part.
    let rows = gatewatch_store::oauth::keys(&site.store()).await.unwrap();
    assert_eq!(rows.len(), 2);
    for text in [&first.text, &second.text, &list.text] {
        assert!(!text.contains("private"), "{text}");
        for row in &rows {
            assert!(!text.contains(&row.private_sealed), "{text}");
        }
    }

    // The CLI sees the same keys.
    let out = gatewatch(&["keys", "list"], &site.config_path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(&kid1) && printed.contains(&kid2),
        "{printed}"
    );

    // At most five retired keys published: the sixth rotation waits for the oldest to expire.
    for _ in 0..4 {
        let r = admin.post("/api/v1/oauth/keys/rotate", json!({})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = admin.post("/api/v1/oauth/keys/rotate", json!({})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "too_many_keys");
    assert_eq!(
        gatewatch_store::oauth::keys(&site.store())
            .await
            .unwrap()
            .len(),
        6
    );

    // Revocation: bad input refused naming the field, nothing stored.
    for (body, field) in [
        (json!({"client_id": "c1"}), "jti"),
        (json!({"jti": "", "client_id": "c1"}), "jti"),
        (json!({"jti": "a b", "client_id": "c1"}), "jti"),
        (json!({"jti": "令牌", "client_id": "c1"}), "jti"),
        (json!({"jti": "x".repeat(257), "client_id": "c1"}), "jti"),
        (json!({"jti": 7, "client_id": "c1"}), "jti"),
        (json!({"jti": "j1", "client_id": "c 1"}), "client_id"),
        (json!({"jti": "j1"}), "client_id"),
        (json!({"jti": "j1", "client_id": "c1", "why": "x"}), "why"),
    ] {
        let r = admin.post("/api/v1/oauth/revocations", body.clone()).await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {}",
            r.text
        );
    }
    let r = admin
        .call("POST", "/api/v1/oauth/revocations", Some("[1"), &[])
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let store = site.store();
    let now = chrono::Utc::now().timestamp_micros();
    assert!(gatewatch_store::oauth::revoked_since(&store, 0, now, 10)
        .await
        .unwrap()
        .is_empty());

    let jti = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let r = admin
        .post(
            "/api/v1/oauth/revocations",
            json!({"jti": jti, "client_id": "acme"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["revoked_by"], "user:root");
    assert_eq!(
        at(&r.body["expires_at"]) - at(&r.body["revoked_at"]),
        86_400
    );
    let rows = gatewatch_store::oauth::revoked_since(&store, 0, now, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].jti.as_str(),
            rows[0].client_id.as_str(),
            rows[0].revoked_by.as_str()
        ),
        (jti, "acme", "user:root")
    );

    // Listed for every role, by client.
    for (q, n) in [
        ("", 1),
        ("?client=acme", 1),
        ("?client=other", 0),
        ("?limit=1", 1),
    ] {
        let r = support
            .call("GET", &format!("/api/v1/oauth/revocations{q}"), None, &[])
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(
            r.body["items"].as_array().unwrap().len(),
            n,
            "{q}: {}",
            r.text
        );
    }
    assert_eq!(
        support
            .call("GET", "/api/v1/oauth/revocations", None, &[])
            .await
            .body["items"][0]["jti"],
        jti
    );
    for (q, field) in [
        ("?client=a%20b", "client"),
        ("?limit=0", "limit"),
        ("?limit=x", "limit"),
    ] {
        let r = admin
            .call("GET", &format!("/api/v1/oauth/revocations{q}"), None, &[])
            .await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{q}: {}",
            r.text
        );
    }

    // Audit rows: the kids of each rotation, the revoked jti; no secret.
    let audit = admin
        .call("GET", "/api/v1/audit?action=oauth.key.rotate", None, &[])
        .await;
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "{}", audit.text);
    let newest = &items[0];
    assert_eq!(newest["actor"], "root");
    let second_row = items
        .iter()
        .find(|i| i["id"] == kid2.as_str())
        .unwrap_or_else(|| panic!("{}", audit.text));
    assert_eq!(second_row["detail"]["retired"], json!([kid1]));
    assert!(!audit.text.contains("private"), "{}", audit.text);
    let audit = admin
        .call("GET", "/api/v1/audit?action=oauth.token.revoke", None, &[])
        .await;
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", audit.text);
    assert_eq!(items[0]["id"], jti);
    assert_eq!(items[0]["detail"]["client_id"], "acme");
}
