//! `POST /api/v1/alert-rules/windows/check` and the acks API (`POST /api/v1/alerts/ack`,
//! `/unack`) on the real binary and ClickHouse: exact answers, refusals naming the field
//! (bounds included), the ack shown on the active alert and in the rule's timeline, audit
//! rows, who may.

use crate::admin::{add_user, Answer, Api};
use crate::helpers::*;
use gatewatch_model::alert::{AlertState, Phase};
use gatewatch_model::Role;
use gatewatch_store::alerts::{self, SavedState};
use serde_json::{json, Value};

const PW: &str = "a long test password";

fn since_2026() -> chrono::DateTime<chrono::Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn firing(rule: &str, key: &str, since: chrono::DateTime<chrono::Utc>) -> SavedState {
    SavedState {
        rule_id: rule.into(),
        scope_key: key.into(),
        ts_us: since.timestamp_micros(),
        state: serde_json::to_string(&AlertState {
            phase: Phase::Firing {
                since,
                fired_at: since,
                last_sent: Some(since),
                last_held: None,
            },
            owed_resolved: None,
        })
        .unwrap(),
    }
}

fn assert_refused(a: &Answer, status: u16, field: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.text);
    assert_eq!(a.body["error"]["field"], field, "{what}: {}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_check_answers_per_instant_and_names_bad_fields() {
    let site = Site::new(
        "win_check",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-ops", PW).await;
    let check = |body: Value| {
        let api = api.clone();
        async move { api.post("/api/v1/alert-rules/windows/check", body).await }
    };
    // The paste (Sydney business hours) beside a tagged yearly date, in Taipei.
    let r = check(json!({
        "windows": [
            {"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}],
             "location": "Australia/Sydney"},
            {"type": "yearly", "dates": ["06-07"]}
        ],
        "timezone": "Asia/Taipei",
        "at": ["2026-12-06T23:00:00Z", "2026-12-07T06:00:00Z", "2027-06-06T16:00:00Z",
               "2027-06-07T15:59:59Z", "2027-06-07T16:00:00Z", "2026-12-07T10:00:00+08:00"]
    }))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"active": [true, false, true, true, false, true]})
    );
    // Without `timezone`, the site's (Asia/Taipei in the test site).
    let r = check(json!({"windows": [{"days_of_month": ["-3:-1"]}],
                         "at": ["2027-02-25T16:00:00Z", "2027-02-25T15:00:00Z"]}))
    .await;
    assert_eq!(r.body, json!({"active": [true, false]}), "{}", r.text);
    let r = check(json!({"windows": [], "at": []})).await;
    assert_eq!(r.body, json!({"active": []}), "{}", r.text);
    // The largest check: 64 windows (each with every field, none open) × 1000 instants.
    let full: Vec<Value> = (0..64)
        .map(|i| {
            json!({"times": [{"start_time": "22:00", "end_time": "06:00"}],
                   "weekdays": ["monday:friday"], "days_of_month": ["-3:-1"],
                   "months": ["january:march"], "years": [format!("{}", 2030 + i)],
                   "location": "Europe/London"})
        })
        .collect();
    let instants: Vec<Value> = (0..1000)
        .map(|h| json!((since_2026() + chrono::Duration::hours(h)).to_rfc3339()))
        .collect();
    let started = std::time::Instant::now();
    let r = check(json!({"windows": full, "at": instants})).await;
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"].as_array().unwrap().len(), 1000);
    assert!(r.body["active"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v == false));
    println!("windows/check: 64 windows x 1000 instants answered in {took:?}");

    let sixty_five: Vec<Value> = (0..65).map(|_| json!({"years": ["2027"]})).collect();
    let many_at: Vec<Value> = (0..1001).map(|_| json!("2027-01-01T00:00:00Z")).collect();
    let ok_at = json!(["2027-01-01T00:00:00Z"]);
    for (body, field) in [
        (
            json!({"windows": [{"years": ["2027"]},
                               {"times": [{"start_time": "09:00", "end_time": "09:00"}]}],
                   "at": ok_at}),
            "windows[1].times[0].end_time",
        ),
        (
            json!({"windows": [{"times": [{"start_time": "09:00", "end_time": "25:00"}]}],
                   "at": ok_at}),
            "windows[0].times[0].end_time",
        ),
        (
            json!({"windows": [{"times": [{"start_time": "09:00"}]}], "at": ok_at}),
            "windows[0].times[0].end_time",
        ),
        (
            json!({"windows": [{"days_of_month": ["1", "0"]}], "at": ok_at}),
            "windows[0].days_of_month[1]",
        ),
        (
            json!({"windows": [{"weekdays": ["friday:monday"]}], "at": ok_at}),
            "windows[0].weekdays[0]",
        ),
        (
            json!({"windows": [{"months": ["smarch"]}], "at": ok_at}),
            "windows[0].months[0]",
        ),
        (
            json!({"windows": [{"years": ["1969"]}], "at": ok_at}),
            "windows[0].years[0]",
        ),
        (
            json!({"windows": [{"location": "Mars/Olympus"}], "at": ok_at}),
            "windows[0].location",
        ),
        (
            json!({"windows": [{"type": "weekly", "days": ["mon"], "weekdays": ["monday"]}],
                   "at": ok_at}),
            "windows[0]",
        ),
        (
            json!({"windows": [{"type": "yearly", "dates": ["02-30"]}], "at": ok_at}),
            "windows[0].dates[0]",
        ),
        (
            json!({"windows": [{"wekdays": ["monday"]}], "at": ok_at}),
            "windows[0].wekdays",
        ),
        (
            json!({"windows": [], "at": ["2027-01-01T00:00:00Z", "x", "y", "yesterday"]}),
            "at[1]",
        ),
        (
            json!({"windows": [], "at": ["2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z",
                                         "2027-01-01T00:00:00Z", "2027-01-01 00:00"]}),
            "at[3]",
        ),
        (
            json!({"windows": [], "timezone": "Asia/Taipeh", "at": ok_at}),
            "timezone",
        ),
        (json!({"windows": sixty_five, "at": ok_at}), "windows"),
        (json!({"windows": [], "at": many_at}), "at"),
        (json!({"at": ok_at}), "windows"),
        (json!({"windows": []}), "at"),
        (json!({"windows": [], "at": ok_at, "now": 1}), "now"),
    ] {
        let what = body.to_string();
        assert_refused(&check(body).await, 422, field, &what[..what.len().min(200)]);
    }
    let r = api
        .call(
            "POST",
            "/api/v1/alert-rules/windows/check",
            Some("[1,2]"),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/api/v1/alert-rules/windows/check",
            Some("{\"windows\":"),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Whoever reads alerts may check windows.
    for role in Role::ALL {
        let a = Api::login(site.dashboards, &format!("u-{role}"), PW).await;
        let r = a
            .post(
                "/api/v1/alert-rules/windows/check",
                json!({"windows": [], "at": []}),
            )
            .await;
        let want = if role.may(gatewatch_model::Permission::ReadAlerts) {
            200
        } else {
            403
        };
        assert_eq!(r.status, want, "{role}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_holds_on_the_episode_shows_and_is_audited() {
    let site = Site::new(
        "alert_acks",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    let ops = Api::login(base, "u-ops", PW).await;
    let r = ops
        .post(
            "/api/v1/alert-rules",
            json!({"id": "cpu", "name": "CPU", "kind": {"type": "node_cpu"}, "threshold": 90,
                   "recipients": {"roles": ["ops"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let since = chrono::Utc::now() - chrono::Duration::minutes(20);
    let ep = since.timestamp_micros();
    alerts::save_states(
        &store,
        "a1",
        &[
            firing("cpu", "node=gw1", since),
            firing("cpu", "node=gw2", since),
            SavedState {
                state: serde_json::to_string(&AlertState {
                    phase: Phase::Pending { since },
                    owed_resolved: None,
                })
                .unwrap(),
                ..firing("cpu", "node=gw3", since)
            },
        ],
    )
    .await
    .unwrap();

    // Refusals, nothing written.
    let ack = |api: &Api, body: Value| {
        let api = api.clone();
        async move { api.post("/api/v1/alerts/ack", body).await }
    };
    for (body, status, field) in [
        (
            json!({"rule": "nope", "scope_key": "node=gw1", "episode_us": ep}),
            404,
            "rule",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw9", "episode_us": ep}),
            404,
            "scope_key",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep - 1}),
            409,
            "episode_us",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw3", "episode_us": ep}),
            409,
            "episode_us",
        ),
        (
            json!({"rule": "a b", "scope_key": "node=gw1", "episode_us": ep}),
            422,
            "rule",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": 0}),
            422,
            "episode_us",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": "x"}),
            422,
            "episode_us",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1"}),
            422,
            "episode_us",
        ),
        (
            json!({"rule": "cpu", "scope_key": "x\u{1}", "episode_us": ep}),
            422,
            "scope_key",
        ),
        (
            json!({"rule": "cpu", "scope_key": "k".repeat(513), "episode_us": ep}),
            422,
            "scope_key",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep, "for_secs": 10}),
            422,
            "for_secs",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep, "for_secs": 700000}),
            422,
            "for_secs",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep, "comment": "c".repeat(501)}),
            422,
            "comment",
        ),
        (
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep, "by": "someone-else"}),
            422,
            "by",
        ),
    ] {
        let what = body.to_string();
        assert_refused(
            &ack(&ops, body).await,
            status,
            field,
            &what[..what.len().min(120)],
        );
    }
    let r = ops
        .post(
            "/api/v1/alerts/unack",
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep}),
        )
        .await;
    assert_refused(&r, 409, "episode_us", "unack before any ack");
    assert!(gatewatch_store::acks::newest_since(&store, 0)
        .await
        .unwrap()
        .is_empty());

    // Support and managers may not; ops and admins may.
    for role in [Role::Support, Role::Manager] {
        let a = Api::login(base, &format!("u-{role}"), PW).await;
        let r = ack(
            &a,
            json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep}),
        )
        .await;
        assert_eq!(r.status, 403, "{role}: {}", r.text);
    }
    let r = ack(
        &ops,
        json!({"rule": "cpu", "scope_key": "node=gw1", "episode_us": ep, "for_secs": 3600,
               "comment": "在處理了 — rebooting gw1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            &r.body["by"],
            &r.body["action"],
            &r.body["episode_us"],
            &r.body["comment"]
        ),
        (
            &json!("u-ops"),
            &json!("ack"),
            &json!(ep),
            &json!("在處理了 — rebooting gw1")
        )
    );
    let at = chrono::DateTime::parse_from_rfc3339(r.body["at"].as_str().unwrap()).unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(r.body["until"].as_str().unwrap()).unwrap();
    assert_eq!((until - at).num_seconds(), 3600);
    let admin = Api::login(base, "u-admin", PW).await;
    let r = ack(
        &admin,
        json!({"rule": "cpu", "scope_key": "node=gw2", "episode_us": ep}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["until"].is_null(), "{}", r.text);

    // The active alerts show who holds which episode.
    let a = admin.get("/api/v1/alerts").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let items = a.body["items"].as_array().unwrap();
    let of = |key: &str| {
        items
            .iter()
            .find(|i| i["scope_key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(of("node=gw1")["ack"]["by"], "u-ops");
    assert_eq!(of("node=gw1")["ack"]["comment"], "在處理了 — rebooting gw1");
    assert_eq!(of("node=gw1")["episode_us"], ep);
    assert_eq!(of("node=gw2")["ack"]["by"], "u-admin");
    assert!(of("node=gw2")["ack"]["until"].is_null());
    assert!(of("node=gw3")["ack"].is_null());

    // Taken back: gone from the alert, both rows in the rule's timeline, newest first.
    let r = ops
        .post(
            "/api/v1/alerts/unack",
            json!({"rule": "cpu", "scope_key": "node=gw2", "episode_us": ep}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (&r.body["action"], &r.body["by"]),
        (&json!("unack"), &json!("u-ops"))
    );
    let a = admin.get("/api/v1/alerts").await;
    let gw2 = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["scope_key"] == "node=gw2")
        .unwrap()
        .clone();
    assert!(gw2["ack"].is_null(), "{gw2}");
    let t = admin.get("/api/v1/alerts/events?rule=cpu").await;
    assert_eq!(t.status, 200, "{}", t.text);
    let acks: Vec<(String, String, String)> = t.body["acks"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", t.text))
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["by"].as_str().unwrap().to_string(),
                a["scope_key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        acks,
        [
            ("unack".into(), "u-ops".into(), "node=gw2".into()),
            ("ack".into(), "u-admin".into(), "node=gw2".into()),
            ("ack".into(), "u-ops".into(), "node=gw1".into()),
        ]
    );
    // Without `rule`, the page has no acks.
    let t = admin.get("/api/v1/alerts/events").await;
    assert!(t.body.get("acks").is_none(), "{}", t.text);

    // Audited: who, what, which episode.
    let au = admin.get("/api/v1/audit?action=alert.ack").await;
    assert_eq!(au.status, 200, "{}", au.text);
    let rows = au.body["items"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", au.text);
    assert!(rows.iter().any(|r| r["actor"] == "u-ops"
        && r["id"] == "cpu"
        && r["detail"]["scope_key"] == "node=gw1"));
    let au = admin.get("/api/v1/audit?action=alert.unack").await;
    assert_eq!(au.body["items"].as_array().unwrap().len(), 1, "{}", au.text);
}
