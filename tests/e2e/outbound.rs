//! Outbound requests that users aim (webhook channels and their test-sends), attacked against
//! the running `gatewatch alerter` and `gatewatch dashboards`:
//!
//! - a webhook at ClickHouse's port (`http://127.0.0.1:8123/?query=INSERT …`), in every
//!   spelling, is refused when saved (422 naming `webhook.url`), and a channel that got into
//!   the log anyway (written before this check, or by `config apply`) is refused at send time,
//!   names included (the alerter's resolver, at connect time): `"sent": false` with the
//!   reason, in the answer and in `alert_events`, and nothing reaches loopback;
//! - with `[alerter] allowed_networks = ["127.0.0.0/8"]` a local receiver works, and a
//!   redirect from it is not followed;
//! - a credential header is stored sealed: no table holds it, `config export` does not print
//!   it, the receiver still gets it; moved to another host, the kept `****` is dropped.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const PW: &str = "a long test password";

/// What a receiver was sent: (path, headers).
type Seen = Arc<Mutex<Vec<(String, hyper::HeaderMap)>>>;

/// A receiver on loopback that records every request and answers 200, or, with `redirect`,
/// 307 to that URL.
async fn receiver(redirect: Option<String>) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (s, redirect) = (s.clone(), redirect.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (s, redirect) = (s.clone(), redirect.clone());
                    async move {
                        let path = req.uri().to_string();
                        let headers = req.headers().clone();
                        let _ = req.into_body().collect().await;
                        s.lock().unwrap().push((path, headers));
                        let mut r = Response::new(Full::new(Bytes::from_static(b"{\"ok\":1}")));
                        if let Some(to) = redirect {
                            *r.status_mut() = hyper::StatusCode::TEMPORARY_REDIRECT;
                            r.headers_mut().insert("location", to.parse().unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// Every table of the site's database as text (TSV), with its name.
async fn every_table(site: &Site) -> Vec<(String, String)> {
    let ch = clickhouse::Client::default()
        .with_url(&site.clickhouse_url)
        .with_database(&site.database)
        .with_validation(false);
    let names: Vec<String> = ch
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(&site.database)
        .fetch_all()
        .await
        .unwrap();
    assert!(names.iter().any(|n| n == "config_log"), "{names:?}");
    let mut out = Vec::new();
    for t in names {
        let mut cursor = ch
            .query(&format!("SELECT * FROM `{t}`"))
            .fetch_bytes("TabSeparated")
            .unwrap();
        let mut text = Vec::new();
        while let Some(chunk) = cursor.next().await.unwrap() {
            text.extend_from_slice(&chunk);
        }
        out.push((t, String::from_utf8_lossy(&text).into_owned()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_webhooks_are_refused_on_save_and_at_send() {
    let (hook, seen) = receiver(None).await;
    let site = Site::new(
        "outbound_refused",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    add_user(&site, "olga", "ops", PW);
    let _alerter = site.start("alerter").await;
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;

    // Saved: every spelling of ClickHouse's port on loopback, and a name for it, is 422.
    let port = hook.port();
    for (i, url) in [
        "http://127.0.0.1:8123/?query=INSERT%20INTO%20config_log%20VALUES".to_string(),
        "http://127.1:8123/".into(),
        "http://2130706433:8123/".into(),
        "http://0x7f.1:8123/".into(),
        "http://0177.0.0.1:8123/".into(),
        "http://127.0.0.1.:8123/".into(),
        "http://[::1]:8123/".into(),
        "http://[::ffff:127.0.0.1]:8123/".into(),
        "http://[::ffff:7f00:1]:8123/".into(),
        "http://[64:ff9b::7f00:1]:8123/".into(),
        "http://localhost:8123/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.0.0.1/".into(),
        "http://100.64.0.1/".into(),
        "http://[fd00::1]/".into(),
        format!("http://localhost:{port}/hook"),
    ]
    .iter()
    .enumerate()
    {
        let r = admin
            .post(
                "/api/v1/channels",
                json!({"id": format!("bad-{i}"), "webhook": {"url": url}}),
            )
            .await;
        assert_eq!(r.status, 422, "{url}: {}", r.text);
        assert_eq!(r.body["error"]["field"], "webhook.url", "{url}: {}", r.text);
        let r = admin
            .call("GET", &format!("/api/v1/channels/bad-{i}"), None, &[])
            .await;
        assert_eq!(r.status, 404, "{url}: nothing written");
    }

    // Channels that reached the log without the check (written before it existed, or by an
    // operator's `config apply`): refused when sent, the name by the resolver at connect time.
    for (id, url) in [
        ("planted-ip", format!("http://127.0.0.1:{port}/hook")),
        (
            "planted-mapped",
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        ),
        ("planted-name", format!("http://localhost:{port}/hook")),
        ("planted-dot", format!("http://localhost.:{port}/hook")),
    ] {
        put_entity(
            &store,
            gatewatch_model::EntityKind::Channel,
            id,
            &json!({"webhook": {"url": url, "retries": 0}}),
        )
        .await;
    }
    // The role that can only test-send.
    let olga = Api::login(site.dashboards, "olga", PW).await;
    for id in [
        "planted-ip",
        "planted-mapped",
        "planted-name",
        "planted-dot",
    ] {
        let r = olga
            .post(&format!("/api/v1/channels/{id}/test"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{id}: {}", r.text);
        let res = &r.body["results"][0];
        assert_eq!(res["sent"], false, "{id}: {}", r.text);
        let answer = res["answer"].as_str().unwrap();
        if id == "planted-dot" {
            // `localhost.` resolves to loopback (refused) or, on resolvers that take no
            // trailing dot, to nothing: not sent either way.
            assert!(!answer.is_empty(), "{id}: {}", r.text);
        } else {
            assert!(answer.contains("webhook.url"), "{id}: {}", r.text);
            assert!(answer.contains("allowed_networks"), "{id}: {}", r.text);
        }
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing reached loopback");
    let ch = clickhouse::Client::default()
        .with_url(&site.clickhouse_url)
        .with_database(&site.database)
        .with_validation(false);
    let rows: Vec<(String, String, String)> = ch
        .query(
            "SELECT channel, result, detail FROM alert_events WHERE event = 'test' ORDER BY ts_us",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (channel, result, detail) in &rows[..3] {
        assert_eq!(result, "failed", "{channel}");
        assert!(detail.contains("webhook.url"), "{channel}: {detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_receivers_work_redirects_stay_unfollowed_and_credentials_stay_sealed() {
    let (hook, seen) = receiver(None).await;
    let (redirector, redirected) = receiver(Some(format!("http://{hook}/stolen"))).await;
    let site = Site::new(
        "outbound_allowed",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    // `::1` too: `localhost` may also resolve to it, and every answer must be allowed.
    site.tune(
        "alerter",
        "allowed_networks = [\"127.0.0.0/8\", \"::1/128\"]",
    );
    site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    let _alerter = site.start("alerter").await;
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;

    // Loopback is allowed here; other internal ranges are still not.
    let r = admin
        .post(
            "/api/v1/channels",
            json!({"id": "lan", "webhook": {"url": "http://10.0.0.1/"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("webhook.url")),
        "{}",
        r.text
    );

    // A redirect to an internal address: its 307 is the answer, nothing follows it.
    let r = admin
        .post(
            "/api/v1/channels",
            json!({"id": "moved", "webhook": {"url": format!("http://{redirector}/hook"), "retries": 0}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post("/api/v1/channels/moved/test", json!({})).await;
    let res = &r.body["results"][0];
    assert_eq!(
        (&res["sent"], &res["status"]),
        (&json!(false), &json!(307)),
        "{}",
        r.text
    );
    assert_eq!(redirected.lock().unwrap().len(), 1);
    assert!(seen.lock().unwrap().is_empty(), "the redirect was followed");

    // A credential header: sealed in the log, opened by the alerter for the receiver.
    let r = admin
        .post(
            "/api/v1/channels",
            json!({"id": "hook", "webhook": {"url": format!("http://{hook}/hook"),
                "headers": {"Authorization": "Bearer s3cr3t", "X-Team": "ops"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains("s3cr3t"), "{}", r.text);
    let r = admin.post("/api/v1/channels/hook/test", json!({})).await;
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1["authorization"], "Bearer s3cr3t");
        assert_eq!(s[0].1["x-team"], "ops");
    }
    let tables = every_table(&site).await;
    for (t, text) in &tables {
        assert!(
            !text.contains("s3cr3t"),
            "{t} holds the credential:\n{text}"
        );
    }
    let config_log = &tables.iter().find(|(t, _)| t == "config_log").unwrap().1;
    assert!(config_log.contains("sealed:v1:"), "{config_log}");
    assert!(config_log.contains("X-Team"), "{config_log}");

    // `config export` prints it sealed; applying the export back changes nothing.
    let out = gatewatch(&["config", "export"], &site.config_path())
        .output()
        .unwrap();
    let exported = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{exported}");
    assert!(!exported.contains("s3cr3t"), "{exported}");
    assert!(exported.contains("sealed:v1:"), "{exported}");
    let file = site.dir.path().join("exported.toml");
    std::fs::write(&file, &exported).unwrap();
    let out = gatewatch(
        &["config", "apply", file.to_str().unwrap()],
        &site.config_path(),
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("nothing to change"),
        "{text}"
    );

    // The same channel sent back as a GET answered it keeps the credential (same host)...
    let r = admin.call("GET", "/api/v1/channels/hook", None, &[]).await;
    let mut body: Value = r.body["body"].clone();
    assert_eq!(body["webhook"]["headers"]["Authorization"], "****");
    body["webhook"]["url"] = json!(format!("http://{hook}/other-path"));
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/hook",
            Some(&body.to_string()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.post("/api/v1/channels/hook/test", json!({})).await;
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    assert_eq!(seen.lock().unwrap()[1].1["authorization"], "Bearer s3cr3t");

    // ...but pointed at another host, the kept "****" is dropped, not carried along.
    body["webhook"]["url"] = json!(format!("http://localhost:{}/hook", hook.port()));
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/hook",
            Some(&body.to_string()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.call("GET", "/api/v1/channels/hook", None, &[]).await;
    let headers = &r.body["body"]["webhook"]["headers"];
    assert!(headers.get("Authorization").is_none(), "{}", r.text);
    assert_eq!(headers["X-Team"], "ops");
    let r = admin.post("/api/v1/channels/hook/test", json!({})).await;
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.len(), 3);
        assert!(s[2].1.get("authorization").is_none(), "{:?}", s[2].1);
    }

    // A channel stored before sealing existed, its credential in plain text: still sent, and
    // sealed by its next save (the answer's body sent back as it is).
    let store = site.store();
    put_entity(
        &store,
        gatewatch_model::EntityKind::Channel,
        "legacy",
        &json!({"webhook": {"url": format!("http://{hook}/legacy"),
            "headers": {"X-Api-Key": "legacy-t0ken"}}}),
    )
    .await;
    let r = admin.post("/api/v1/channels/legacy/test", json!({})).await;
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    assert_eq!(seen.lock().unwrap()[3].1["x-api-key"], "legacy-t0ken");
    // The dashboards see the log's new row within their refresh.
    let mut r = admin
        .call("GET", "/api/v1/channels/legacy", None, &[])
        .await;
    for _ in 0..100 {
        if r.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        r = admin
            .call("GET", "/api/v1/channels/legacy", None, &[])
            .await;
    }
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("legacy-t0ken"), "{}", r.text);
    let body = r.body["body"].clone();
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/legacy",
            Some(&body.to_string()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let now =
        gatewatch_store::config_log::get(&store, gatewatch_model::EntityKind::Channel, "legacy")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(now.version, 2);
    assert!(
        !now.body.contains("legacy-t0ken") && now.body.contains("sealed:v1:"),
        "{}",
        now.body
    );
    let r = admin.post("/api/v1/channels/legacy/test", json!({})).await;
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    assert_eq!(seen.lock().unwrap()[4].1["x-api-key"], "legacy-t0ken");
}

/// `[alerter] allowed_networks` is checked where the roles start (exit 2 naming the entry,
/// for the alerter and for the dashboards, which read it too) and shown by `config show`.
#[test]
fn a_bad_allowed_network_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gatewatch.toml");
    for role in ["alerter", "dashboards"] {
        std::fs::write(
            &p,
            "[alerter]\nallowed_networks = [\"10.1.0.0/16\", \"10.0.0.0/33\"]\n",
        )
        .unwrap();
        let out = gatewatch(&[role], &p).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{role}: {text}");
        assert!(
            text.contains("alerter.allowed_networks[1]"),
            "{role}: {text}"
        );
    }
    std::fs::write(&p, "").unwrap();
    let out = gatewatch(&["alerter"], &p)
        .env("GATEWATCH_ALERTER_ALLOWED_NETWORKS", "127.0.0.0/8,intranet")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("alerter.allowed_networks[1]"), "{text}");
    std::fs::write(&p, "[alerter]\nallowed_networks = [\"127.0.0.0/8\"]\n").unwrap();
    let out = gatewatch(&["config", "show"], &p).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("allowed_networks = [\"127.0.0.0/8\"]"),
        "{text}"
    );
    assert!(
        text.contains("GATEWATCH_ALERTER_ALLOWED_NETWORKS"),
        "{text}"
    );
}
