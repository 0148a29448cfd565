//! Hostile search values through the running binary: a `?` (the clickhouse crate's bind
//! placeholder), `??`, `?fields`, quotes, backslashes, `{}`, `%` and `_` (LIKE wildcards),
//! SQL fragments and Chinese in call search filters, entity ids and audit filters. Every value
//! is bound by the store, so each one finds exactly the rows that hold it and nothing answers
//! 500. Calls are written straight into `api_calls` (what the collector would store); the
//! searches go through the dashboards' report and admin APIs.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

const PW: &str = "a long test password";

/// Values that broke, or could break, SQL pasted together as text.
const HOSTILE: &[&str] = &[
    "abc?1",
    "?",
    "??",
    "?fields",
    "a'b",
    "a\"b",
    "a\\b",
    "a\\'b",
    "{}",
    "{x}",
    "100%",
    "a_b",
    "' OR 1=1 --",
    "x'); DROP TABLE api_calls; --",
    "查詢?訂單",
];

/// Every byte but unreserved ones percent-encoded (a query value or a path segment).
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The call ids of a search answer.
fn ids(a: &crate::admin::Answer) -> BTreeSet<String> {
    a.body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {}", a.text))
        .iter()
        .map(|r| r["call_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_find_exactly_their_rows_and_never_answer_500() {
    let site = Site::new(
        "search_values",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;

    // One call per hostile value: it is the call's request id, client, API and a path
    // segment; plus a plain call that no hostile value should find.
    let now_us = chrono::Utc::now().timestamp_micros();
    let mut calls: Vec<CallRecord> = Vec::new();
    for (i, v) in HOSTILE.iter().chain(["plain"].iter()).enumerate() {
        let mut r = CallRecord::new(
            Uuid::now_v7(),
            now_us - 60_000_000 + i as i64,
            "e2e",
            "GET",
            &format!("/s/{v}/end"),
        );
        r.request_id = v.to_string();
        r.client_id = v.to_string();
        r.api_id = v.to_string();
        r.outcome = Outcome::Ok;
        calls.push(r);
    }
    let batch = Uuid::now_v7();
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow>("api_calls")
        .await
        .unwrap();
    for r in &calls {
        ins.write(&ApiCallRow::new(r, batch)).await.unwrap();
    }
    ins.end().await.unwrap();
    let id_of = |v: &str| -> String {
        calls
            .iter()
            .find(|c| c.request_id == v)
            .unwrap()
            .call_id
            .to_string()
    };

    let admin = Api::login(site.dashboards, "root", PW).await;
    let search = |q: String| {
        let admin = admin.clone();
        async move {
            admin
                .call(
                    "GET",
                    &format!("/api/v1/reports/calls?range=1h&limit=100&{q}"),
                    None,
                    &[],
                )
                .await
        }
    };

    for v in HOSTILE {
        // Exact filters: the one call holding the value.
        for field in ["request_id", "client", "api"] {
            // `client` and `api` take comma-separated lists; no hostile value has a comma.
            let a = search(format!("{field}={}", enc(v))).await;
            assert_eq!(a.status, 200, "{field}={v:?}: {}", a.text);
            assert_eq!(
                ids(&a),
                BTreeSet::from([id_of(v)]),
                "{field}={v:?}: {}",
                a.text
            );
        }
        // Path substring: every call whose path holds the value as written (`%` and `_` are
        // characters, not LIKE wildcards), and no other.
        let a = search(format!("path_contains={}", enc(v))).await;
        assert_eq!(a.status, 200, "path_contains={v:?}: {}", a.text);
        let want: BTreeSet<String> = calls
            .iter()
            .filter(|c| c.path.contains(v))
            .map(|c| c.call_id.to_string())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(ids(&a), want, "path_contains={v:?}: {}", a.text);

        // The other reports take the same filters without a 500.
        for report in ["usage", "traffic", "latency", "errors", "clients", "top"] {
            let a = admin
                .call(
                    "GET",
                    &format!(
                        "/api/v1/reports/{report}?range=1h&client={}&api={}",
                        enc(v),
                        enc(v)
                    ),
                    None,
                    &[],
                )
                .await;
            assert_eq!(a.status, 200, "{report} for {v:?}: {}", a.text);
        }
        let a = admin
            .call(
                "GET",
                &format!("/api/v1/reports/client-events?range=1h&client={}", enc(v)),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "client-events for {v:?}: {}", a.text);
    }
    // `%` and `_` alone find only the paths that hold them (as LIKE wildcards they would
    // match every path).
    for v in ["%", "_"] {
        let a = search(format!("path_contains={}", enc(v))).await;
        let want: BTreeSet<String> = calls
            .iter()
            .filter(|c| c.path.contains(v))
            .map(|c| c.call_id.to_string())
            .collect();
        assert!(want.len() < calls.len(), "{v}");
        assert_eq!(ids(&a), want, "{v}: {}", a.text);
    }
    // A value no call holds finds nothing; a NUL is refused naming the field (no header or
    // path can hold one), not a 500.
    let a = search(format!("request_id={}", enc("abc?2"))).await;
    assert_eq!((a.status, ids(&a).len()), (200, 0), "{}", a.text);
    for field in ["request_id", "path_contains", "client"] {
        let a = search(format!("{field}=a%00b")).await;
        assert_eq!(a.status, 422, "{field}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{}", a.text);
    }

    // Entity ids with a `?` (or quotes, braces, a backslash) in admin API paths: no such
    // entity (ids are letters, digits, `-`, `_`, `.`), never a 500.
    for id in ["?", "??", "a?b", "a'b", "{}", "a\\b", "%", "查詢"] {
        for (_, seg) in gatewatch_dashboards::access::KINDS {
            let a = admin
                .call(
                    "GET",
                    &format!("/api/v1/{seg}/{}/history", enc(id)),
                    None,
                    &[],
                )
                .await;
            assert_eq!(a.status, 404, "{seg} history of {id:?}: {}", a.text);
            let a = admin
                .call("GET", &format!("/api/v1/{seg}/{}", enc(id)), None, &[])
                .await;
            assert_eq!(a.status, 404, "{seg} {id:?}: {}", a.text);
        }
        for action in ["revoke", "rotate"] {
            let a = admin
                .post(&format!("/api/v1/api-keys/{}/{action}", enc(id)), json!({}))
                .await;
            assert_eq!(a.status, 404, "{action} key {id:?}: {}", a.text);
        }
    }

    // Audit filters: a failed login under a hostile name is found by that name, exactly.
    let names = ["q?1", "a'b\"c", "x\\y{}", "查詢?"];
    for n in names {
        let a = Api::anonymous(site.dashboards)
            .post("/api/v1/login", json!({"user": n, "password": "wrong"}))
            .await;
        assert_eq!(a.status, 401, "{n:?}: {}", a.text);
    }
    for n in names {
        let a = admin
            .call("GET", &format!("/api/v1/audit?user={}", enc(n)), None, &[])
            .await;
        assert_eq!(a.status, 200, "user={n:?}: {}", a.text);
        let items = a.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "user={n:?}: {}", a.text);
        assert_eq!(items[0]["actor"], n);
        assert_eq!(items[0]["action"], "login.failed");
    }
    let a = admin
        .call(
            "GET",
            &format!("/api/v1/audit?user={}", enc("q?2")),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (a.status, a.body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // An action is a dotted word: anything else is refused naming the field.
    let a = admin
        .call(
            "GET",
            &format!("/api/v1/audit?action={}", enc("login?")),
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["error"]["field"], "action");

    // Nothing was dropped or written by any of it.
    assert_eq!(
        store
            .fetch_u64("SELECT count() FROM api_calls")
            .await
            .unwrap(),
        calls.len() as u64
    );
}
