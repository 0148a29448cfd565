//! The receiver presets through the running `gatewatch dashboards` and `gatewatch alerter`
//! (issue 18): a PagerDuty channel's `routing_key` is refused when malformed (422 naming
//! it), stored sealed (no table holds it in clear, `config export` prints it sealed and takes
//! it back unchanged), answered `****` (sent back as it is, kept; moved to another host,
//! dropped and asked for again), and opened by the alerter for the receiver, which gets an
//! Events API v2 body; Alertmanager and Teams (Workflows) test-sends arrive in their shapes.

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
const KEY: &str = "Pd0123456789abcdefPd0123456789ab";

/// Bodies a receiver got.
type Seen = Arc<Mutex<Vec<Value>>>;

/// A receiver on loopback answering as PagerDuty does (202 and a JSON status).
async fn receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let s = s.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        s.lock().unwrap().push(v);
                        let mut r = Response::new(Full::new(Bytes::from_static(
                            br#"{"status":"success","message":"Event processed"}"#,
                        )));
                        *r.status_mut() = hyper::StatusCode::ACCEPTED;
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

/// Every table of the site's database as text.
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
async fn pagerduty_routing_keys_stay_sealed_and_presets_arrive_in_their_shapes() {
    let (hook, seen) = receiver().await;
    let site = Site::new(
        "receivers_presets",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.tune(
        "alerter",
        "allowed_networks = [\"127.0.0.0/8\", \"::1/128\"]\nlink_base = \"https://dash.example.tw\"",
    );
    site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    let _alerter = site.start("alerter").await;
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;
    let url = format!("http://{hook}/v2/enqueue");

    // Refused, each naming the field: no key, a malformed one, "****" with none stored, a key
    // on another preset, a template body with the preset.
    for (webhook, field) in [
        (
            json!({"url": url, "preset": "pagerduty"}),
            "webhook.routing_key",
        ),
        (
            json!({"url": url, "preset": "pagerduty", "routing_key": "short\"key"}),
            "webhook.routing_key",
        ),
        (
            json!({"url": url, "preset": "pagerduty", "routing_key": "****"}),
            "webhook.routing_key",
        ),
        (
            json!({"url": url, "preset": "slack", "routing_key": KEY}),
            "webhook.routing_key",
        ),
        (
            json!({"url": url, "preset": "pagerduty", "routing_key": KEY, "body": {"a": 1}}),
            "webhook.body",
        ),
    ] {
        let r = admin
            .post("/api/v1/channels", json!({"id": "bad", "webhook": webhook}))
            .await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{webhook}: {}",
            r.text
        );
        assert!(!r.text.contains(KEY), "{}", r.text);
    }

    let r = admin
        .post(
            "/api/v1/channels",
            json!({"id": "pd", "name": "PagerDuty", "webhook": {"url": url, "preset": "pagerduty", "routing_key": KEY}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains(KEY), "{}", r.text);
    assert_eq!(
        r.body["body"]["webhook"]["routing_key"], "****",
        "{}",
        r.text
    );

    let r = admin.post("/api/v1/channels/pd/test", json!({})).await;
    let res = &r.body["results"][0];
    assert_eq!(
        (&res["sent"], &res["status"]),
        (&json!(true), &json!(202)),
        "{}",
        r.text
    );
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0]["routing_key"], KEY);
        assert_eq!(s[0]["event_action"], "trigger");
        assert_eq!(s[0]["payload"]["severity"], "info");
        assert!(s[0]["dedup_key"]
            .as_str()
            .unwrap()
            .starts_with("gatewatch-"));
        assert!(!s[0]["payload"]["summary"].as_str().unwrap().is_empty());
    }

    // Sent back as answered: the key stays (same host).
    let r = admin.call("GET", "/api/v1/channels/pd", None, &[]).await;
    let mut body: Value = r.body["body"].clone();
    assert_eq!(body["webhook"]["routing_key"], "****");
    body["name"] = json!("PagerDuty ops");
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/pd",
            Some(&body.to_string()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.post("/api/v1/channels/pd/test", json!({})).await;
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    assert_eq!(seen.lock().unwrap()[1]["routing_key"], KEY);

    // `config export` prints it sealed; applied back, nothing changes.
    let out = gatewatch(&["config", "export"], &site.config_path())
        .output()
        .unwrap();
    let exported = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{exported}");
    assert!(
        !exported.contains(KEY) && exported.contains("routing_key"),
        "{exported}"
    );
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

    // Pointed at another host, the kept key is dropped: the channel asks for it again.
    body["webhook"]["url"] = json!(format!("http://localhost:{}/v2/enqueue", hook.port()));
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/pd",
            Some(&body.to_string()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("webhook.routing_key")),
        "{}",
        r.text
    );

    // Alertmanager and Teams (Workflows) test-sends, in their shapes.
    for (id, preset) in [("am", "alertmanager"), ("teams", "teams")] {
        let r = admin
            .post(
                "/api/v1/channels",
                json!({"id": id, "lang": "zh-TW", "webhook": {"url": format!("http://{hook}/{id}"), "preset": preset}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = admin
            .post(&format!("/api/v1/channels/{id}/test"), json!({}))
            .await;
        assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    }
    {
        let s = seen.lock().unwrap();
        let am = &s[2];
        assert_eq!(am["version"], "4", "{am}");
        assert_eq!(am["status"], "firing");
        assert_eq!(am["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(am["alerts"][0]["labels"]["channel"], "am");
        assert_eq!(am["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
        let teams = &s[3];
        assert_eq!(teams["type"], "message", "{teams}");
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["version"], "1.4");
        assert!(
            card["content"]["body"][0]["text"]
                .as_str()
                .unwrap()
                .contains("測試"),
            "{teams}"
        );
    }

    // No table holds the key in clear; the log holds it sealed.
    let tables = every_table(&site).await;
    for (t, text) in &tables {
        assert!(!text.contains(KEY), "{t} holds the routing key:\n{text}");
    }
    let config_log = &tables.iter().find(|(t, _)| t == "config_log").unwrap().1;
    assert!(config_log.contains("sealed:v1:"), "{config_log}");
}
