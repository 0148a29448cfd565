//! Report subscriptions end to end: edited through the admin API (bad bodies refused naming
//! the field, the role matrix), mailed by `gatewatch reports` through a real SMTP server
//! (aiosmtpd), and their runs read back through the admin API.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

const PW: &str = "a long test password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_checked_mailed_by_the_reports_role_and_their_runs_shown() {
    let sink = SmtpSink::start();
    let extra = format!(
        "[reports.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"gatewatch <reports@example.tw>\"\n",
        sink.port
    );
    let site = Site::new(
        "report_mail",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    add_user(&site, "mgr", "manager", PW);
    add_user(&site, "sam", "support", PW);
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;
    let manager = Api::login(site.dashboards, "mgr", PW).await;
    let support = Api::login(site.dashboards, "sam", PW).await;

    let good = json!({
        "id": "each-minute", "name": "每分鐘流量", "report": "traffic",
        "params": {"range": "1h"}, "cron": "* * * * *", "timezone": "Asia/Taipei",
        "recipients": {"emails": ["ops@example.tw"]}, "language": "zh-TW"
    });
    for (change, field) in [
        (json!({"cron": "61 * * * *"}), "cron"),
        (json!({"cron": "*/5 * * * * *"}), "cron"),
        (json!({"params": {"range": "forever"}}), "params.range"),
        (
            json!({"params": {"api": "a,b", "colour": "red"}}),
            "params.colour",
        ),
        (json!({"timezone": "Asia/Taipe"}), "timezone"),
        (json!({"report": "calls"}), "report"),
        (
            json!({"recipients": {"emails": ["not-an-address"]}}),
            "recipients.emails[0]",
        ),
        (
            json!({"recipients": {"roles": ["boss"]}}),
            "recipients.roles[0]",
        ),
        (json!({"recipients": {}}), "recipients"),
        (json!({"formats": ["pdf"]}), "formats[0]"),
        (json!({"language": "fr"}), "language"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = admin.post("/api/v1/report-subscriptions", body).await;
        assert_eq!(r.status, 422, "{change}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{change}: {}", r.text);
    }
    // Support reads reports but does not subscribe people; managers do.
    let r = support
        .post("/api/v1/report-subscriptions", good.clone())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = manager
        .post("/api/v1/report-subscriptions", good.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = support
        .call(
            "GET",
            "/api/v1/report-subscriptions/each-minute/runs",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.body["items"].clone()),
        (200, json!([])),
        "{}",
        r.text
    );
    let r = admin
        .call("GET", "/api/v1/report-subscriptions/nope/runs", None, &[])
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    let reports = site.start("reports").await;
    // The next whole minute fires; the run shows up in the admin API.
    let mut run = Value::Null;
    for _ in 0..150 {
        let r = admin
            .call(
                "GET",
                "/api/v1/report-subscriptions/each-minute/runs",
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let first = &r.body["items"][0];
        if matches!(first["status"].as_str(), Some("ok" | "failed")) {
            run = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        run.is_object(),
        "no run within 75 s; log:\n{}",
        reports.log_text()
    );
    let slot = chrono::DateTime::parse_from_rfc3339(run["scheduled_for"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(slot % 60, 0);
    assert_eq!(run["run_id"], format!("each-minute@{slot}"));
    assert_eq!(run["recipients"], json!(["ops@example.tw"]));
    // The traffic report is built now: the run is sent.
    assert_eq!(run["status"], "ok", "{run}\n{}", reports.log_text());
    let id = format!("<report-each-minute-{slot}@gatewatch>");
    let mails: Vec<Value> = sink
        .mails()
        .into_iter()
        .filter(|m| m["message_id"] == id.as_str())
        .collect();
    assert_eq!(mails.len(), 1, "{:?}", sink.mails());
    let m = &mails[0];
    assert!(m["subject"].as_str().unwrap().contains("每分鐘流量"), "{m}");
    let parts = m["parts"].as_array().unwrap();
    let csv: Vec<&Value> = parts
        .iter()
        .filter(|p| p["content_type"] == "text/csv")
        .collect();
    assert_eq!(csv.len(), 1, "{m}");
    assert_eq!(csv[0]["disposition"], "attachment");
    assert!(csv[0]["filename"].as_str().unwrap().starts_with("traffic-"));
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(csv[0]["base64"].as_str().unwrap())
        .unwrap();
    // The same heading as the report API's CSV of the same report in the subscription's
    // language (zh-TW, the default).
    let api = admin
        .call(
            "GET",
            "/api/v1/reports/traffic?range=1h&format=csv&lang=zh-TW",
            None,
            &[],
        )
        .await;
    assert_eq!(api.status, 200, "{}", api.text);
    let heading = |t: &str| t.lines().next().unwrap_or_default().to_string();
    let mailed = String::from_utf8(bytes).unwrap();
    assert!(mailed.starts_with('\u{feff}'));
    assert_eq!(heading(&mailed), heading(&api.text));
    assert!(heading(&mailed).contains("呼叫數"), "{mailed}");
    // The traffic chart, inline by Content-ID.
    let pngs: Vec<&Value> = parts
        .iter()
        .filter(|p| p["content_type"] == "image/png")
        .collect();
    assert_eq!(pngs.len(), 1, "{m}");
    assert_eq!(pngs[0]["content_id"], "<chart@gatewatch>", "{m}");
    assert!(m["html"].as_str().unwrap().contains("cid:chart@gatewatch"));
    // "Run now" from the admin API: sent in the background, recorded like a scheduled run.
    let r = manager
        .post("/api/v1/report-subscriptions/each-minute/run", json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let run_id = r.body["run_id"].as_str().unwrap().to_string();
    assert!(run_id.starts_with("each-minute@"), "{run_id}");
    let r = admin
        .post("/api/v1/report-subscriptions/nope/run", json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = support
        .post("/api/v1/report-subscriptions/each-minute/run", json!({}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let mut found = Value::Null;
    for _ in 0..100 {
        let r = admin
            .call(
                "GET",
                "/api/v1/report-subscriptions/each-minute/runs",
                None,
                &[],
            )
            .await;
        if let Some(x) = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["run_id"] == run_id.as_str() && x["status"] != "retrying")
        {
            found = x.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(found["status"], run["status"], "{found}");
    // The role's metrics count the subscription.
    let m = reqwest_get(&format!("http://{}/metrics", site.reports)).await;
    assert!(m.contains("gatewatch_reports_subscriptions 1"), "{m}");
    assert!(m.contains("gatewatch_reports_lease_held 1"), "{m}");
}

async fn reqwest_get(url: &str) -> String {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let r = client.get(url.parse().unwrap()).await.unwrap();
    String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).to_string()
}
