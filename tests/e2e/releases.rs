//! Releases end to end: a release made through the admin API, the configuration changed
//! (a route moved, a client's access taken away, a new API), the rollback through the admin
//! API bringing a running gateway back (old route served, the client's calls succeed, the new
//! API gone), one rollback change in the history and in the audit log; attacks on names and
//! roles; the command line's releases, diff and rollback; promote between two sites' databases
//! with a sealed channel credential that still opens on the target.

use crate::admin::{add_user, Api as AdminApi};
use crate::helpers::*;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log;
use serde_json::json;
use std::time::{Duration, Instant};

const PEPPER: &str = "e2e-releases-pepper-0123456789";
const PW: &str = "a long test password";

async fn status_of(url: &str, api_key: Option<&str>) -> u16 {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let mut req = hyper::Request::get(url);
    if let Some(k) = api_key {
        req = req.header("x-api-key", k);
    }
    client
        .request(req.body(http_body_util::Empty::new()).unwrap())
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn until(url: &str, api_key: Option<&str>, want: u16, secs: u64) {
    let t0 = Instant::now();
    loop {
        let s = status_of(url, api_key).await;
        if s == want {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{url} still answers {s} after {secs} s, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn api(up: std::net::SocketAddr, prefix: &str, auth: bool) -> serde_json::Value {
    let mut v = json!({"name": prefix, "prefix": prefix, "upstreams": [format!("http://{up}")],
        "strip_prefix": true});
    if auth {
        v["auth"] = json!(["api_key"]);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_through_the_admin_api_restores_routes_and_access() {
    let up = upstream().await;
    let site = Site::new(
        "releases_rollback",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[security]\npepper = \"{PEPPER}\"\n"),
    );
    let store = site.migrate().await;
    use EntityKind::*;
    put_entities(
        &store,
        &[
            change(Api, "orders", api(up, "/orders", true)),
            change(
                Group,
                "std",
                json!({"name": "Standard", "apis": ["orders"]}),
            ),
            change(
                Client,
                "acme",
                json!({"name": "Acme", "groups": ["std"],
                    "secret_hash": hash_secret(PEPPER.as_bytes(), "acme-secret")}),
            ),
            change(
                ApiKey,
                "k-acme",
                json!({"client_id": "acme", "hash": hash_secret(PEPPER.as_bytes(), "gwk_acme")}),
            ),
        ],
    )
    .await;
    add_user(&site, "root", "admin", PW);
    add_user(&site, "sam", "support", PW);
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let _dash = site.start("dashboards").await;
    let orders = site.url("/orders/ok");
    until(&orders, Some("gwk_acme"), 200, 20).await;

    let admin = AdminApi::login(site.dashboards, "root", PW).await;
    let support = AdminApi::login(site.dashboards, "sam", PW).await;
    let r = admin
        .post(
            "/api/v1/releases",
            json!({"name": "v1", "comment": "before the launch"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["entity_count"], 3, "{}", r.text);
    assert_eq!(r.body["by"], "root");

    // Attacks on the name: path tricks, 10 KB, reserved words, a taken name.
    for bad in ["../v1", "v1/../../x", "a b", "", "current", "diff"] {
        let r = admin.post("/api/v1/releases", json!({"name": bad})).await;
        assert_eq!(r.status, 422, "{bad:?}: {}", r.text);
        assert_eq!(r.body["error"]["field"], "name", "{bad:?}: {}", r.text);
    }
    let r = admin
        .post("/api/v1/releases", json!({"name": "x".repeat(10_240)}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].clone()),
        (422, json!("name"))
    );
    let r = admin.post("/api/v1/releases", json!({"name": "v1"})).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].clone()),
        (409, json!("name"))
    );
    let r = admin
        .post(
            "/api/v1/releases",
            json!({"name": "v9", "comment": "x".repeat(2001)}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].clone()),
        (422, json!("comment"))
    );
    let r = admin
        .get("/api/v1/releases/diff?from=nope&to=current")
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].clone()),
        (404, json!("from"))
    );
    assert!(r.text.contains("nope"), "{}", r.text);
    let r = admin.get("/api/v1/releases/diff?from=v1&to=nope2").await;
    assert_eq!(
        (r.status, r.body["error"]["field"].clone()),
        (404, json!("to"))
    );
    let r = admin.get("/api/v1/releases/nope").await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = admin
        .post("/api/v1/releases/nope/rollback", json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Changes since: the route moves, the client's group loses the API, the client gets a new
    // secret, a new API appears.
    put_entities(
        &store,
        &[
            change(Api, "orders", api(up, "/orders-v2", true)),
            change(Group, "std", json!({"name": "Standard", "apis": ["fresh"]})),
            change(Api, "fresh", api(up, "/fresh", false)),
            change(
                Client,
                "acme",
                json!({"name": "Acme", "groups": ["std"],
                    "secret_hash": hash_secret(PEPPER.as_bytes(), "new-secret")}),
            ),
        ],
    )
    .await;
    let fresh = site.url("/fresh/ok");
    until(&fresh, None, 200, 20).await;
    until(&orders, Some("gwk_acme"), 404, 20).await;
    until(&site.url("/orders-v2/ok"), Some("gwk_acme"), 403, 20).await;

    // The diff names what changed; no hash or secret anywhere.
    let d = admin.get("/api/v1/releases/diff?from=v1&to=current").await;
    assert_eq!(d.status, 200, "{}", d.text);
    let seen: Vec<String> = d.body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["change"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "changed group std",
            "added api fresh",
            "changed api orders",
            "changed client acme"
        ],
        "{}",
        d.text
    );
    assert!(!d.text.contains("hmac-sha256"), "{}", d.text);
    assert!(d.text.contains("\"secret\":true"), "{}", d.text);

    // Support reads, but may not roll back or make releases.
    assert_eq!(support.get("/api/v1/releases").await.status, 200);
    let r = support
        .post("/api/v1/releases/v1/rollback", json!({}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = support
        .post("/api/v1/releases", json!({"name": "v2"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // A dry run shows the diff and writes nothing.
    let before = config_log::revision(&store).await.unwrap();
    let r = admin
        .post("/api/v1/releases/v1/rollback", json!({"dry_run": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("change_id").is_none(), "{}", r.text);
    assert_eq!(
        r.body["entities"].as_array().unwrap().len(),
        3,
        "{}",
        r.text
    );
    assert!(!r.text.contains("hmac-sha256"), "{}", r.text);
    assert_eq!(config_log::revision(&store).await.unwrap(), before);

    let r = admin.post("/api/v1/releases/v1/rollback", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let change_id = r.body["change_id"].as_str().unwrap().to_string();
    until(&orders, Some("gwk_acme"), 200, 20).await;
    until(&fresh, None, 404, 20).await;

    // One rollback change in the history, the client's new secret kept, the key untouched.
    let h = config_log::history(&store, Api, "orders").await.unwrap();
    let last = h.last().unwrap();
    assert_eq!(
        (last.comment.as_str(), last.author.as_str()),
        ("rollback to v1", "root")
    );
    assert_eq!(last.change_id.to_string(), change_id);
    let rollbacks = store
        .fetch_u64("SELECT uniqExact(change_id) FROM config_log WHERE comment = 'rollback to v1'")
        .await
        .unwrap();
    assert_eq!(rollbacks, 1);
    let acme = config_log::get(&store, Client, "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(acme
        .body
        .contains(&hash_secret(PEPPER.as_bytes(), "new-secret")));
    assert_eq!(
        config_log::history(&store, ApiKey, "k-acme")
            .await
            .unwrap()
            .len(),
        1
    );
    let audited = store.fetch_u64("SELECT count() FROM audit_log WHERE action = 'release.rollback' AND id = 'v1' AND actor = 'root'")
        .await
        .unwrap();
    assert_eq!(audited, 1);
    // The admin API's history shows the rollback, with no secret.
    let hist = admin.get("/api/v1/apis/orders/history").await;
    assert!(hist.text.contains("rollback to v1"), "{}", hist.text);
    let hist = admin.get("/api/v1/clients/acme/history").await;
    assert!(!hist.text.contains("hmac-sha256"), "{}", hist.text);

    // The command line sees the same: the list, no difference left but the client's secret
    // (kept on purpose), and nothing to roll back.
    let out = gatewatch(&["config", "releases"], &site.config_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("v1") && text.contains("root"),
        "{text}"
    );
    let out = gatewatch(&["config", "diff", "v1", "current"], &site.config_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("~ client acme") && text.contains("secret: (secret changed)"),
        "{text}"
    );
    assert!(
        !text.contains("api orders") && !text.contains("hmac"),
        "{text}"
    );
    let out = gatewatch(&["config", "diff", "v1", "nope"], &site.config_path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    // CLI: a release, a change, a dry run, a rollback without --yes refused (no terminal),
    // then with --yes.
    let out = gatewatch(
        &["config", "release", "v2", "--comment", "after"],
        &site.config_path(),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    put_entities(
        &store,
        &[change(Api, "orders", api(up, "/orders-v3", true))],
    )
    .await;
    let out = gatewatch(
        &["config", "rollback", "--to", "v2", "--dry-run"],
        &site.config_path(),
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("~ api orders") && text.contains("dry run"),
        "{text}"
    );
    let out = gatewatch(&["config", "rollback", "--to", "v2"], &site.config_path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gatewatch(
        &["config", "rollback", "--to", "v2", "--yes"],
        &site.config_path(),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    until(&orders, Some("gwk_acme"), 200, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_moves_entities_between_two_sites_resealing_channel_credentials() {
    let ch = gatewatch_migrations::testing::clickhouse_url();
    let a = Site::new(
        "releases_site_a",
        &ch,
        "[security]\npepper = \"site-a-pepper-0123456789abcdef\"\n",
    );
    let b = Site::new(
        "releases_site_b",
        &ch,
        "[security]\npepper = \"site-b-pepper-0123456789abcdef\"\n",
    );
    let store_a = a.migrate().await;
    let store_b = b.migrate().await;
    // Site A: a webhook channel with a credential (sealed under A's pepper by apply), a client
    // with a secret, an API.
    let file = a.dir.path().join("entities.toml");
    std::fs::write(
        &file,
        "[[channel]]\nid = \"hook\"\nname = \"Hook\"\nwebhook = { url = \"https://hooks.example.tw/x\", headers = { Authorization = \"Bearer s3cr3t-token\" } }\n\n[[api]]\nid = \"orders\"\nname = \"訂單\"\nprefix = \"/orders\"\nupstreams = [\"http://10.0.0.5:9000\"]\n",
    )
    .unwrap();
    let out = gatewatch(
        &["config", "apply", file.to_str().unwrap()],
        &a.config_path(),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    put_entity(
        &store_a,
        EntityKind::Client,
        "acme",
        &json!({"name": "Acme", "secret_hash": hash_secret(b"site-a-pepper-0123456789abcdef", "s")}),
    )
    .await;
    let sealed_a = config_log::get(&store_a, EntityKind::Channel, "hook")
        .await
        .unwrap()
        .unwrap()
        .body;
    assert!(sealed_a.contains("sealed:v1:") && !sealed_a.contains("s3cr3t"));

    let promote = |extra: &[&str]| {
        let mut args = vec![
            "config",
            "promote",
            "--from-site",
            a.config_path().to_str().unwrap().to_string().leak(),
            "--to-site",
            b.config_path().to_str().unwrap().to_string().leak(),
        ];
        args.extend_from_slice(extra);
        gatewatch(&args, &b.config_path()).output().unwrap()
    };
    // Bad arguments exit 2 naming them.
    let out = promote(&["--kind", "user"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kind"));
    let out = promote(&["--id", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    // A dry run shows the diff, no secret, writes nothing.
    let out = promote(&["--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("+ channel hook")
            && text.contains("+ api orders")
            && text.contains("+ client acme"),
        "{text}"
    );
    assert!(
        !text.contains("s3cr3t") && !text.contains("hmac") && !text.contains("sealed:"),
        "{text}"
    );
    assert_eq!(config_log::revision(&store_b).await.unwrap().rows, 0);
    // Only the channel and the client.
    let out = promote(&["--kind", "channel", "--kind", "client"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(config_log::get(&store_b, EntityKind::Api, "orders")
        .await
        .unwrap()
        .is_none());
    let acme = config_log::get(&store_b, EntityKind::Client, "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(!acme.body.contains("secret_hash"), "{}", acme.body);
    let hook = config_log::get(&store_b, EntityKind::Channel, "hook")
        .await
        .unwrap()
        .unwrap();
    assert!(hook.body.contains("sealed:v1:") && !hook.body.contains("s3cr3t"));
    assert_ne!(hook.body, sealed_a);
    let spec: gatewatch_model::ChannelSpec = serde_json::from_str(&hook.body).unwrap();
    let w = spec.webhook.unwrap();
    let key_b = gatewatch_model::sealed::SealKey::from_pepper(b"site-b-pepper-0123456789abcdef");
    let key_a = gatewatch_model::sealed::SealKey::from_pepper(b"site-a-pepper-0123456789abcdef");
    assert_eq!(
        w.open_headers(Some(&key_b)).unwrap(),
        [(
            "Authorization".to_string(),
            "Bearer s3cr3t-token".to_string()
        )]
    );
    assert!(w.open_headers(Some(&key_a)).is_err());
    // Again: the channel is unchanged (its sealed text kept), only the API is new.
    let out = promote(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("+ api orders") && !text.contains("channel"),
        "{text}"
    );
    // A client certificate another client of B holds: refused naming the client, nothing
    // written.
    let fp = format!("sha256:{}", "ab".repeat(32));
    put_entity(
        &store_b,
        EntityKind::Client,
        "other",
        &json!({"name": "Other", "certificates": [fp]}),
    )
    .await;
    put_entity(
        &store_a,
        EntityKind::Client,
        "certy",
        &json!({"name": "Certy", "certificates": [fp]}),
    )
    .await;
    let rows = config_log::revision(&store_b).await.unwrap().rows;
    let out = promote(&["--kind", "client"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("client \"certy\"") && err.contains("\"other\""),
        "{err}"
    );
    assert_eq!(config_log::revision(&store_b).await.unwrap().rows, rows);
    let h = config_log::history(&store_b, EntityKind::Channel, "hook")
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert!(h[0].comment.starts_with("promote from"));
}
