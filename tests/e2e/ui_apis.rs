//! The admin API routes the web UI reads: active alerts and their timeline, nodes, one's own
//! preferences, and the per-version changes of an entity's history. Exact answers on seeded
//! `alert_state`, `alert_events` and `node_metrics` rows; bad parameters → 422 naming them;
//! each route per role.

use crate::admin::{add_user, Answer, Api};
use crate::helpers::*;
use gatewatch_model::alert::{AlertState, Phase};
use gatewatch_model::{Backlog, DiskUsage, NodeSample, Permission, Role};
use gatewatch_store::alerts::{self, AlertEvent, SavedState};
use gatewatch_store::rows::NodeMetricRow;
use gatewatch_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

const PW: &str = "a long test password";

fn rfc(ts_us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(ts_us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn at(ts_us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(ts_us).unwrap()
}

async fn get(api: &Api, path: &str) -> Answer {
    api.call("GET", path, None, &[]).await
}

fn assert_invalid(a: &Answer, field: &str, what: &str) {
    assert_eq!(a.status, 422, "{what}: {}", a.text);
    assert_eq!(a.body["error"]["field"], field, "{what}: {}", a.text);
}

fn state(rule: &str, key: &str, ts_us: i64, phase: Phase) -> SavedState {
    SavedState {
        rule_id: rule.into(),
        scope_key: key.into(),
        ts_us,
        state: serde_json::to_string(&AlertState {
            phase,
            owed_resolved: None,
        })
        .unwrap(),
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    ts_us: i64,
    rule: &str,
    key: &str,
    ev: &str,
    value: f64,
    channel: &str,
    recipient: &str,
    result: &str,
    detail: &str,
) -> AlertEvent {
    AlertEvent {
        ts_us,
        rule_id: rule.into(),
        rule_version: 1,
        scope_key: key.into(),
        event: ev.into(),
        phase: if ev == "notify" { "firing" } else { ev }.into(),
        severity: "warning".into(),
        value,
        threshold: 90.0,
        channel: channel.into(),
        recipient: recipient.into(),
        notification_id: if ev == "notify" {
            Uuid::from_u128(ts_us as u128)
        } else {
            Uuid::nil()
        },
        attempt: u16::from(ev == "notify"),
        result: result.into(),
        detail: detail.into(),
        alerter: "a1".into(),
    }
}

async fn write_samples(store: &Store, samples: &[NodeSample]) {
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<NodeMetricRow>("node_metrics")
        .await
        .unwrap();
    for s in samples {
        ins.write(&NodeMetricRow::new(s, Uuid::now_v7()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
}

fn sample(node: &str, ts_us: i64, cpu: f32, queue: u64) -> NodeSample {
    const GIB: u64 = 1 << 30;
    NodeSample {
        ts_us,
        node: node.into(),
        role: "gateway".into(),
        cpu_pct: cpu,
        mem_used_bytes: 4 * GIB,
        mem_total_bytes: 16 * GIB,
        rss_bytes: 100 << 20,
        disks: vec![
            DiskUsage {
                mount: "/".into(),
                used_bytes: 50,
                total_bytes: 100,
            },
            DiskUsage {
                mount: "/var".into(),
                used_bytes: 1,
                total_bytes: 3,
            },
        ],
        backlog: Backlog {
            queue_depth: queue,
            spool_bytes: 0,
            spool_batches: 0,
            records_dropped: 0,
        },
    }
}

/// The nodes answer without this site's own processes (`e2e-…`), which heartbeat into the
/// registry too and are not the subject.
fn others(mut a: Answer) -> Answer {
    if let Some(items) = a.body["items"].as_array_mut() {
        items.retain(|i| !i["node"].as_str().unwrap_or("").starts_with("e2e-"));
    }
    a
}

fn ids(a: &Answer, field: &str) -> Vec<String> {
    a.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", a.text))
        .iter()
        .map(|i| i[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_apis_answer_alerts_nodes_preferences_and_history_diffs() {
    let site = Site::new(
        "ui_apis",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    let admin = Api::login(base, "u-admin", PW).await;

    // --- Rules, states and events -------------------------------------------------------
    for (id, name, kind, threshold) in [
        ("cpu", "CPU 過高", json!({"type": "node_cpu"}), 90.0),
        ("errs", "Errors", json!({"type": "api_error_rate"}), 5.0),
    ] {
        let r = admin
            .post(
                "/api/v1/alert-rules",
                json!({"id": id, "name": name, "kind": kind, "threshold": threshold,
                       "recipients": {"roles": ["ops"]}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let now = chrono::Utc::now().timestamp() * 1_000_000;
    let s = 1_000_000;
    alerts::save_states(
        &store,
        "a1",
        &[
            state(
                "cpu",
                "node=gw1",
                now - 400 * s,
                Phase::Firing {
                    since: at(now - 600 * s),
                    fired_at: at(now - 420 * s),
                    last_sent: Some(at(now - 400 * s)),
                    last_held: None,
                },
            ),
            state(
                "cpu",
                "node=gw2",
                now - 60 * s,
                Phase::Pending {
                    since: at(now - 60 * s),
                },
            ),
            // Fired, then back to ok: the newer row counts.
            state(
                "cpu",
                "node=gw3",
                now - 1000 * s,
                Phase::Pending {
                    since: at(now - 1000 * s),
                },
            ),
            state("cpu", "node=gw3", now - 900 * s, Phase::Ok),
            state(
                "errs",
                "api=orders",
                now - 300 * s,
                Phase::Firing {
                    since: at(now - 300 * s),
                    fired_at: at(now - 300 * s),
                    last_sent: None,
                    last_held: None,
                },
            ),
            // A rule no longer in the configuration.
            state(
                "gone",
                "node=gw1",
                now - 300 * s,
                Phase::Firing {
                    since: at(now - 300 * s),
                    fired_at: at(now - 300 * s),
                    last_sent: None,
                    last_held: None,
                },
            ),
        ],
    )
    .await
    .unwrap();
    let e = |t: i64, rule, key, ev, v, ch, to, res, d| {
        event(now - t * s, rule, key, ev, v, ch, to, res, d)
    };
    alerts::write_events(
        &store,
        &[
            e(600, "cpu", "node=gw1", "pending", 91.0, "", "", "", ""),
            e(420, "cpu", "node=gw1", "firing", 95.5, "", "", "", ""),
            e(
                400,
                "cpu",
                "node=gw1",
                "notify",
                95.5,
                "email",
                "ops@example.tw",
                "sent",
                "250 ok",
            ),
            e(300, "errs", "api=orders", "firing", 12.5, "", "", "", ""),
            e(60, "cpu", "node=gw2", "pending", 92.0, "", "", "", ""),
            // The same moment as the one above: paging must not lose either.
            e(
                60,
                "errs",
                "api=orders",
                "notify",
                12.0,
                "line",
                "U123",
                "failed",
                "HTTP 500",
            ),
            e(
                8 * 86400,
                "cpu",
                "node=gw3",
                "resolved",
                10.0,
                "",
                "",
                "",
                "",
            ),
        ],
    )
    .await
    .unwrap();

    let a = get(&admin, "/api/v1/alerts").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"items": [
            {"rule_id": "cpu", "rule_name": "CPU 過高", "kind": "node_cpu", "severity": "warning",
             "state": "firing", "scope_key": "node=gw1", "scope": {"node": "gw1"},
             "value": 95.5, "value_at": rfc(now - 400 * s), "threshold": 90.0,
             "since": rfc(now - 600 * s), "fired_at": rfc(now - 420 * s),
             "last_notified": rfc(now - 400 * s), "episode_us": now - 600 * s, "ack": null},
            {"rule_id": "errs", "rule_name": "Errors", "kind": "api_error_rate",
             "severity": "warning", "state": "firing", "scope_key": "api=orders",
             "scope": {"api": "orders"}, "value": 12.0, "value_at": rfc(now - 60 * s),
             "threshold": 5.0, "since": rfc(now - 300 * s), "fired_at": rfc(now - 300 * s),
             "last_notified": null, "episode_us": now - 300 * s, "ack": null},
            {"rule_id": "cpu", "rule_name": "CPU 過高", "kind": "node_cpu", "severity": "warning",
             "state": "pending", "scope_key": "node=gw2", "scope": {"node": "gw2"},
             "value": 92.0, "value_at": rfc(now - 60 * s), "threshold": 90.0,
             "since": rfc(now - 60 * s), "fired_at": null, "last_notified": null,
             "episode_us": now - 60 * s, "ack": null},
        ]})
    );

    // The timeline: the last 7 days by default, newest first.
    let all = get(&admin, "/api/v1/alerts/events").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let when: Vec<String> = ids(&all, "ts");
    let want_when: Vec<String> = [60, 60, 300, 400, 420, 600]
        .iter()
        .map(|t| rfc(now - t * s))
        .collect();
    assert_eq!(when, want_when);
    assert!(all.body["next_cursor"].is_null());
    let notice = &all.body["items"][3];
    assert_eq!(
        (
            &notice["event"],
            &notice["channel"],
            &notice["recipient"],
            &notice["result"],
            &notice["detail"],
            &notice["attempt"],
            &notice["rule_name"],
            &notice["scope"]["node"],
        ),
        (
            &json!("notify"),
            &json!("email"),
            &json!("ops@example.tw"),
            &json!("sent"),
            &json!("250 ok"),
            &json!(1),
            &json!("CPU 過高"),
            &json!("gw1")
        )
    );
    let mut first_two = ids(&all, "rule_id")[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["cpu", "errs"]);
    // Pages of two walk the same rows in the same order, ties included.
    let full: Vec<Value> = all.body["items"].as_array().unwrap().clone();
    let mut walked = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let p = get(
            &admin,
            &format!("/api/v1/alerts/events?limit=2&cursor={cursor}"),
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.text);
        pages += 1;
        walked.extend(p.body["items"].as_array().unwrap().iter().cloned());
        match p.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!((pages, &walked), (3, &full));
    let cpu = get(&admin, "/api/v1/alerts/events?rule=cpu").await;
    assert_eq!(
        ids(&cpu, "event"),
        ["pending", "notify", "firing", "pending"]
    );
    let old = rfc(now - 9 * 86400 * s);
    let before = rfc(now - 350 * s);
    let w = get(
        &admin,
        &format!(
            "/api/v1/alerts/events?from={}&to={}",
            old.replace('+', "%2B"),
            before.replace('+', "%2B")
        ),
    )
    .await;
    assert_eq!(
        ids(&w, "event"),
        ["notify", "firing", "pending", "resolved"]
    );
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("from=yesterday", "from"),
        ("to=2020-01-01T00:00:00Z", "to"),
        ("cursor=zzz", "cursor"),
        ("rule=a%20b", "rule"),
    ] {
        assert_invalid(
            &get(&admin, &format!("/api/v1/alerts/events?{q}")).await,
            field,
            q,
        );
    }

    // --- Nodes ---------------------------------------------------------------------------
    let now_us = chrono::Utc::now().timestamp_micros();
    write_samples(
        &store,
        &[
            sample("gw1", now_us - 65 * s, 80.0, 9),
            sample("gw1", now_us - 5 * s, 12.5, 3),
            sample("gw2", now_us - 120 * s, 50.0, 0),
            sample("gw3", now_us - 30 * 3600 * s, 1.0, 0),
        ],
    )
    .await;
    let n = others(get(&admin, "/api/v1/nodes").await);
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(ids(&n, "node"), ["gw2", "gw1"]);
    assert_eq!(
        (&n.body["hours"], &n.body["silent_after_secs"]),
        (&json!(24), &json!(30))
    );
    let gw1 = &n.body["items"][1];
    let age = gw1["age_secs"].as_u64().unwrap();
    assert!((5..30).contains(&age), "{age}");
    let mut gw1 = gw1.clone();
    gw1.as_object_mut().unwrap().remove("age_secs");
    gw1["processes"][0]
        .as_object_mut()
        .unwrap()
        .remove("age_secs");
    // A gateway known only from its samples (no heartbeat): the registry's fields are empty.
    assert_eq!(
        gw1,
        json!({"node": "gw1", "groups": [], "roles": ["gateway"], "stopped": false,
               "last_seen": rfc(now_us - 5 * s), "silent": false,
               "cpu_pct": 12.5, "mem_used_bytes": 4u64 << 30, "mem_total_bytes": 16u64 << 30,
               "mem_pct": 25.0, "rss_bytes": 100u64 << 20,
               "disks": [{"mount": "/", "used_bytes": 50, "total_bytes": 100, "used_pct": 50.0},
                         {"mount": "/var", "used_bytes": 1, "total_bytes": 3, "used_pct": 33.33}],
               "backlog": {"queue_depth": 3, "spool_bytes": 0, "spool_batches": 0,
                           "records_dropped": 0},
               "processes": [{"role": "gateway", "instance": "", "groups": [],
                              "version": null, "listen": [], "started": null,
                              "last_heartbeat": null, "apis": [], "stopping": false,
                              "stopped": false, "registered": false,
                              "rss_bytes": 100u64 << 20,
                              "last_sample": rfc(now_us - 5 * s),
                              "last_seen": rfc(now_us - 5 * s)}]})
    );
    assert_eq!(n.body["items"][0]["silent"], true);
    let wide = others(get(&admin, "/api/v1/nodes?hours=48").await);
    assert_eq!(ids(&wide, "node"), ["gw2", "gw3", "gw1"]);
    let lax = others(get(&admin, "/api/v1/nodes?silent_after_secs=600").await);
    assert_eq!(ids(&lax, "node"), ["gw1", "gw2"]);
    assert_eq!(lax.body["items"][1]["silent"], false);
    for (q, field) in [
        ("hours=0", "hours"),
        ("hours=745", "hours"),
        ("hours=x", "hours"),
        ("silent_after_secs=-1", "silent_after_secs"),
    ] {
        assert_invalid(&get(&admin, &format!("/api/v1/nodes?{q}")).await, field, q);
    }

    // --- Preferences ---------------------------------------------------------------------
    let ops = Api::login(base, "u-ops", PW).await;
    let me = get(&ops, "/api/v1/me").await;
    assert_eq!(
        (
            &me.body["lang"],
            &me.body["timezone"],
            &me.body["site_timezone"]
        ),
        (&json!("en"), &Value::Null, &json!("Asia/Taipei"))
    );
    let before = get(&admin, "/api/v1/users/u-ops").await;
    let put = |body: &str| {
        let ops = ops.clone();
        let body = body.to_string();
        async move {
            ops.call("PUT", "/api/v1/me/preferences", Some(&body), &[])
                .await
        }
    };
    for (body, field) in [
        (r#"{"lang": "fr"}"#, "lang"),
        (
            r#"{"lang": "zh-TW", "timezone": "Mars/Olympus"}"#,
            "timezone",
        ),
        (r#"{"timezone": "Asia/Tokyo"}"#, "lang"),
        (r#"{"lang": "en", "role": "admin"}"#, "role"),
        (r#"{"lang": 7}"#, "lang"),
    ] {
        assert_invalid(&put(body).await, field, body);
    }
    assert_eq!(put("{nope").await.status, 400);
    // Nothing was written by the refusals.
    let unchanged = get(&admin, "/api/v1/users/u-ops").await;
    assert_eq!(unchanged.body["version"], before.body["version"]);
    let r = put(r#"{"lang": "zh-TW", "timezone": "Asia/Tokyo"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["lang"], &r.body["timezone"], &r.body["role"]),
        (&json!("zh-TW"), &json!("Asia/Tokyo"), &json!("ops"))
    );
    let me = get(&ops, "/api/v1/me").await;
    assert_eq!(
        (&me.body["lang"], &me.body["timezone"]),
        (&json!("zh-TW"), &json!("Asia/Tokyo"))
    );
    // The session goes on, the password and role are as they were.
    Api::login(base, "u-ops", PW).await;
    let h = get(&admin, "/api/v1/users/u-ops/history").await;
    let versions = h.body["versions"].as_array().unwrap();
    let last = versions.last().unwrap();
    assert_eq!(last["changed_by"], "u-ops");
    assert_eq!(
        last["changes"],
        json!([{"path": "lang", "old": "en", "new": "zh-TW"},
               {"path": "timezone", "new": "Asia/Tokyo"}])
    );
    let audit = get(&admin, "/api/v1/audit?user=u-ops").await;
    let actions: Vec<String> = ids(&audit, "action");
    assert!(
        actions.contains(&"preferences.change".to_string()),
        "{actions:?}"
    );
    let r = put(r#"{"lang": "en", "timezone": null}"#).await;
    assert_eq!(
        (&r.body["lang"], &r.body["timezone"]),
        (&json!("en"), &Value::Null)
    );

    // --- History with its changes --------------------------------------------------------
    let r = admin
        .post(
            "/api/v1/apis",
            json!({"id": "hx", "name": "訂單", "prefix": "/hx",
                   "upstreams": ["http://127.0.0.1:9"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin
        .call(
            "PUT",
            "/api/v1/apis/hx",
            Some(
                &json!({"name": "訂單", "prefix": "/hy",
                        "upstreams": ["http://127.0.0.1:9", "http://127.0.0.1:10"]})
                .to_string(),
            ),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let h = get(&admin, "/api/v1/apis/hx/history").await;
    let v = h.body["versions"].as_array().unwrap();
    assert!(v[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["path"] == "prefix" && c["new"] == "/hx" && c.get("old").is_none()));
    let second: Vec<Value> = v[1]["changes"].as_array().unwrap().clone();
    assert_eq!(
        second,
        [
            json!({"path": "prefix", "old": "/hx", "new": "/hy"}),
            json!({"path": "upstreams", "old": v[0]["body"]["upstreams"],
                   "new": v[1]["body"]["upstreams"]}),
        ]
    );
    let r = admin
        .post("/api/v1/clients", json!({"id": "cx", "name": "x"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for _ in 0..2 {
        let r = admin.post("/api/v1/clients/cx/secret", json!({})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let h = get(&admin, "/api/v1/clients/cx/history").await;
    assert!(!h.text.contains("hmac-sha256"), "{}", h.text);
    let v = h.body["versions"].as_array().unwrap();
    assert_eq!(
        v[1]["changes"],
        json!([{"path": "has_secret", "old": false, "new": true},
               {"path": "secret", "secret": true}])
    );
    assert_eq!(v[2]["changes"], json!([{"path": "secret", "secret": true}]));

    // --- Per role ------------------------------------------------------------------------
    let anon = Api::anonymous(base);
    for role in Role::ALL {
        let api = Api::login(base, &format!("u-{role}"), PW).await;
        for (path, perm) in [
            ("/api/v1/alerts", Some(Permission::ReadAlerts)),
            ("/api/v1/alerts/events", Some(Permission::ReadAlerts)),
            ("/api/v1/nodes", Some(Permission::ReadNodes)),
            ("/api/v1/users/u-ops/history", Some(Permission::ManageUsers)),
        ] {
            let r = get(&api, path).await;
            let want = if perm.is_none_or(|p| role.may(p)) {
                200
            } else {
                403
            };
            assert_eq!(r.status, want, "{role} {path}: {}", r.text);
            assert_eq!(get(&anon, path).await.status, 401, "anonymous {path}");
        }
        let r = api
            .call(
                "PUT",
                "/api/v1/me/preferences",
                Some(r#"{"lang": "zh-TW"}"#),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        assert_eq!(get(&api, "/api/v1/me").await.body["lang"], "zh-TW");
    }
    let r = anon
        .call(
            "PUT",
            "/api/v1/me/preferences",
            Some(r#"{"lang": "en"}"#),
            &[],
        )
        .await;
    assert_eq!(r.status, 401);
}
