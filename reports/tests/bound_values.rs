//! The store's typed reads with hostile values, against a real ClickHouse: every value is
//! bound, so a `?` (the clickhouse crate's placeholder), `??`, `?fields`, quotes, backslashes,
//! `{}`, `%`, `_`, NUL and Chinese each find exactly the rows holding them. Below the HTTP API
//! (which refuses control characters in search values), so NUL is tried here too.

use chrono::{TimeZone, Utc};
use gatewatch_model::report::{Bucket, ReportParams, Window};
use gatewatch_model::{CallRecord, EntityKind, Outcome};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::reports::calls::search_keys;
use gatewatch_store::rows::ApiCallRow;
use gatewatch_store::{alerts, quota};
use std::collections::BTreeSet;
use uuid::Uuid;

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
    "100%",
    "a_b",
    "nul\0byte",
    "tab\tnew\nline",
    "' OR 1=1 --",
    "查詢?訂單",
];

/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800;

#[tokio::test]
async fn hostile_values_are_bound_and_find_exactly_their_rows() {
    let store = gatewatch_migrations::testing::migrated_store("reports_bound_values").await;
    let mut calls = Vec::new();
    for (i, v) in HOSTILE.iter().chain(["plain"].iter()).enumerate() {
        let mut r = CallRecord::new(
            Uuid::now_v7(),
            (T0 + 60 + i as i64) * 1_000_000,
            if i % 2 == 0 { "n?a" } else { "n'b" },
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

    let w = Window {
        from: Utc.timestamp_opt(T0, 0).unwrap(),
        to: Utc.timestamp_opt(T0 + 3_600, 0).unwrap(),
        tz: chrono_tz::UTC,
        bucket: Bucket::Minute,
    };
    let found = |p: ReportParams| {
        let (store, w) = (store.clone(), w);
        async move {
            search_keys(&store, &p, &w, None, None, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.call_id)
                .collect::<BTreeSet<_>>()
        }
    };
    for v in HOSTILE {
        let one: BTreeSet<Uuid> = calls
            .iter()
            .filter(|c| c.request_id == *v)
            .map(|c| c.call_id)
            .collect();
        let p = ReportParams {
            request_id: Some(v.to_string()),
            ..ReportParams::default()
        };
        assert_eq!(found(p).await, one, "request_id {v:?}");
        let p = ReportParams {
            clients: vec![v.to_string()],
            apis: vec![v.to_string()],
            ..ReportParams::default()
        };
        assert_eq!(found(p).await, one, "client and api {v:?}");
        let holding: BTreeSet<Uuid> = calls
            .iter()
            .filter(|c| c.path.contains(v))
            .map(|c| c.call_id)
            .collect();
        let p = ReportParams {
            path_contains: Some(v.to_string()),
            ..ReportParams::default()
        };
        assert_eq!(found(p).await, holding, "path_contains {v:?}");
    }
    // `%` and `_` are characters, not LIKE wildcards.
    for (v, holder) in [("%", "100%"), ("_", "a_b"), ("\0", "nul\0byte")] {
        let p = ReportParams {
            path_contains: Some(v.to_string()),
            ..ReportParams::default()
        };
        let want: BTreeSet<Uuid> = calls
            .iter()
            .filter(|c| c.request_id == holder)
            .map(|c| c.call_id)
            .collect();
        assert_eq!(found(p).await, want, "path_contains {v:?}");
    }

    // The gateway's quota counts: a hostile client and node name count their own calls.
    for (i, v) in HOSTILE.iter().enumerate() {
        let rows = quota::client_calls(
            &store,
            "n?a",
            v,
            [(T0, T0 + 3_600), (0, 0), (T0, T0 + 60), (T0, T0 + 7_200)],
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), 1, "{v:?}");
        let r = &rows[0];
        assert_eq!(r.mine, u8::from(i % 2 == 0), "{v:?}");
        assert_eq!((r.c0, r.c1, r.c2, r.c3), (1, 0, 0, 1), "{v:?}");
    }

    // Configuration and alert reads by hostile ids: bound, so found or empty, never an error.
    let id = "k?1'\\{}";
    config_log::write(
        &store,
        "a?b",
        "c??",
        &[Change {
            kind: EntityKind::Client,
            id: id.into(),
            body: "{}".into(),
            deleted: false,
            expected_version: Some(0),
        }],
        T0 * 1_000_000,
    )
    .await
    .unwrap();
    let h = config_log::history(&store, EntityKind::Client, id)
        .await
        .unwrap();
    assert_eq!((h.len(), h[0].author.as_str()), (1, "a?b"));
    // A second write checks the current version of the same hostile id.
    let again = config_log::write(
        &store,
        "a",
        "",
        &[Change {
            kind: EntityKind::Client,
            id: id.into(),
            body: "{}".into(),
            deleted: false,
            expected_version: Some(0),
        }],
        T0 * 1_000_000 + 1,
    )
    .await;
    assert!(
        matches!(again, Err(config_log::ConfigLogError::Conflict { .. })),
        "{again:?}"
    );
    for v in HOSTILE {
        assert!(config_log::history(&store, EntityKind::Product, v)
            .await
            .unwrap()
            .is_empty());
    }
    let rules: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    assert!(alerts::last_values(&store, &rules, 0)
        .await
        .unwrap()
        .is_empty());
}
