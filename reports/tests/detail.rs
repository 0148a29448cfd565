//! Reports 7–9 against a real ClickHouse: top-N, client events, call search and one call's
//! detail. Every expected figure is computed here in Rust from the seeded rows, not with SQL.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::{ApiKeySpec, CallRecord, EntityKind, Header, Outcome};
use gatewatch_reports::catalog::Report;
use gatewatch_reports::table::Cell;
use gatewatch_reports::{ReportError, Result};
use gatewatch_store::audit::{self, AuditEvent};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::rows::ApiCallRow;
use gatewatch_store::Store;
use uuid::Uuid;

/// 2025-11-25T00:00:00Z.
const T0: i64 = 1_764_028_800;
const N: usize = 300;
const APIS: [(&str, &str); 3] = [("orders", "訂單"), ("pay", "付款"), ("balance", "查詢餘額")];
const CLIENTS: [&str; 4] = ["c1", "c2", "c3", "c4"];

fn v7(ts_us: i64) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        ts_us.div_euclid(1_000_000) as u64,
        (ts_us.rem_euclid(1_000_000) * 1_000) as u32,
    );
    Uuid::new_v7(ts)
}

/// Call `i` of the seeded set: three calls share each start time (to test the keyset's tie
/// break), spread over about 28 hours (two daily partitions).
fn call(i: usize) -> CallRecord {
    let ts_us = T0 * 1_000_000 + (i / 3) as i64 * 1_000_123_457;
    let (api, name) = APIS[i % 3];
    let mut r = CallRecord::new(
        v7(ts_us),
        ts_us,
        ["n1", "n2"][i % 2],
        "POST",
        &format!("/v1/{api}/items/{i}"),
    );
    r.request_id = format!("req-{i}");
    r.api_id = api.into();
    r.api_name = name.into();
    r.client_id = CLIENTS[(i * 7) % 4].into();
    let (status, outcome) = match i % 10 {
        6 => (404, Outcome::ClientError),
        7 => (502, Outcome::UpstreamUnreachable),
        8 => (429, Outcome::RefusedRate),
        9 => (401, Outcome::RefusedAuth),
        _ => (200, Outcome::Ok),
    };
    r.status = status;
    r.outcome = outcome;
    r.latency_us = 1_000 + (i as u64 * 7_919) % 100_000;
    r.upstream_latency_us = r.latency_us / 2;
    r.overhead_us = r.latency_us - r.upstream_latency_us;
    r.request_bytes = (i as u64 * 131) % 5_000;
    r.response_bytes = (i as u64 * 977) % 20_000;
    r.upstream = "127.0.0.1:9000".into();
    r.request_headers = vec![
        Header("accept".into(), "application/json".into()),
        Header("x-tag".into(), "a".into()),
        Header("x-tag".into(), "b".into()),
    ];
    r.response_headers = vec![Header("content-type".into(), "application/json".into())];
    r.request_body = r#"{"q":"查詢","card":"****1234"}"#.into();
    r.response_body = "plain text".into();
    r
}

fn seeded() -> Vec<CallRecord> {
    (0..N).map(call).collect()
}

async fn insert(store: &Store, rows: &[CallRecord]) {
    let batch = Uuid::now_v7();
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<ApiCallRow>("api_calls")
        .await
        .unwrap();
    for r in rows {
        ins.write(&ApiCallRow::new(r, batch)).await.unwrap();
    }
    ins.end().await.unwrap();
}

/// The whole seeded span.
fn all_time() -> Vec<(String, String)> {
    vec![
        ("from".into(), T0.to_string()),
        ("to".into(), (T0 + 2 * 86_400).to_string()),
    ]
}

async fn run(store: &Store, kind: ReportKind, pairs: &[(String, String)]) -> Result<Report> {
    let p = ReportParams::from_pairs(pairs)?;
    gatewatch_reports::run(store, kind, &p, Utc::now(), chrono_tz::UTC).await
}

fn with(mut pairs: Vec<(String, String)>, more: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

fn int(c: &Cell) -> i64 {
    match c {
        Cell::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

fn column(r: &Report, key: &str) -> Vec<Cell> {
    let i = r
        .table
        .col(key)
        .unwrap_or_else(|| panic!("no column {key}"));
    r.table.rows.iter().map(|row| row[i].clone()).collect()
}

fn call_ids(r: &Report) -> Vec<String> {
    column(r, "call_id").iter().map(text).collect()
}

/// Seeded calls newest first, by the keyset order (start time, then call id as text).
fn newest_first(mut calls: Vec<CallRecord>) -> Vec<String> {
    calls.sort_by_key(|c| std::cmp::Reverse((c.ts_us, c.call_id.to_string())));
    calls.into_iter().map(|c| c.call_id.to_string()).collect()
}

#[tokio::test]
async fn search_pages_walk_every_call_once_even_as_new_calls_arrive() {
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_pages").await;
    let calls = seeded();
    insert(&store, &calls).await;
    // A call that arrives late (the collector was away) with a start time older than every
    // page read so far: the walk reaches it once, in its place.
    let mut straggler = call(2);
    straggler.ts_us = T0 * 1_000_000 + 1_000_000;
    straggler.call_id = v7(straggler.ts_us);
    let want = newest_first([calls.clone(), vec![straggler.clone()]].concat());

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut pairs = with(all_time(), &[("limit", "37")]);
        if let Some(c) = &cursor {
            pairs.push(("cursor".into(), c.clone()));
        }
        let r = run(&store, ReportKind::Calls, &pairs).await.unwrap();
        pages += 1;
        assert!(r.table.rows.len() <= 37);
        seen.extend(call_ids(&r));
        if pages == 1 {
            // Calls arriving between pages, inside the window and newer than the walk's
            // position (one shares the newest start time): none may show up later, none may
            // push an older call off a page.
            let top = calls.iter().map(|c| c.ts_us).max().unwrap();
            let mut late = vec![call(0), call(1)];
            late[0].ts_us = top;
            late[0].call_id = v7(top);
            late[1].ts_us = top + 5_000_000;
            late[1].call_id = v7(top + 5_000_000);
            late.push(straggler.clone());
            insert(&store, &late).await;
        }
        match r.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 100, "the walk does not end");
    }
    assert_eq!(
        seen.len(),
        N + 1,
        "every seeded call and the straggler once"
    );
    assert_eq!(seen, want, "newest first, each once, in keyset order");
    assert_eq!(pages, (N + 1).div_ceil(37));
}

#[tokio::test]
async fn search_filters_find_exactly_the_matching_calls() {
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_filters").await;
    let calls = seeded();
    insert(&store, &calls).await;
    let pick = |f: &dyn Fn(&CallRecord) -> bool| -> Vec<String> {
        newest_first(calls.iter().filter(|c| f(c)).cloned().collect())
    };
    let id123 = calls[123].call_id.to_string();
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<String>);
    let cases: Vec<Case> = vec![
        (vec![("client", "c2")], pick(&|c| c.client_id == "c2")),
        (
            vec![("api", "balance"), ("node", "n1")],
            pick(&|c| c.api_id == "balance" && c.node == "n1"),
        ),
        (vec![("status", "502")], pick(&|c| c.status == 502)),
        (
            vec![("status_class", "4xx")],
            pick(&|c| c.status / 100 == 4),
        ),
        (
            vec![("outcome", "refused_rate,refused_auth")],
            pick(&|c| c.outcome.is_refusal()),
        ),
        (
            vec![("path_contains", "items/1")],
            pick(&|c| c.path.contains("items/1")),
        ),
        (
            vec![("request_id", "req-42")],
            pick(&|c| c.request_id == "req-42"),
        ),
        (vec![("call_id", id123.as_str())], vec![id123.clone()]),
    ];
    for (filters, want) in cases {
        let r = run(
            &store,
            ReportKind::Calls,
            &with(all_time(), &[&filters[..], &[("limit", "1000")]].concat()),
        )
        .await
        .unwrap();
        assert!(!want.is_empty(), "{filters:?}");
        assert_eq!(call_ids(&r), want, "{filters:?}");
    }
    // A call id alone (no range) finds the call from its own time, days ago.
    let id = calls[5].call_id.to_string();
    let r = run(&store, ReportKind::Calls, &[("call_id".into(), id.clone())])
        .await
        .unwrap();
    assert_eq!(call_ids(&r), [id]);
    // The row shows timings, outcome, status and sizes of the call.
    let c = &calls[5];
    let row = &r.table.rows[0];
    let get = |k: &str| row[r.table.col(k).unwrap()].clone();
    assert_eq!(get("latency_ms"), Cell::Float(c.latency_us as f64 / 1000.0));
    assert_eq!(
        get("upstream_ms"),
        Cell::Float(c.upstream_latency_us as f64 / 1000.0)
    );
    assert_eq!(get("outcome"), Cell::Text(c.outcome.as_str().into()));
    assert_eq!(get("status"), Cell::Int(i64::from(c.status)));
    assert_eq!(get("request_bytes"), Cell::Int(c.request_bytes as i64));
    assert_eq!(get("response_bytes"), Cell::Int(c.response_bytes as i64));
    assert_eq!(get("api_name"), Cell::Text(c.api_name.clone()));

    // CSV export: every matching call across pages, one heading row.
    let p = ReportParams::from_pairs(&with(all_time(), &[("client", "c1")])).unwrap();
    let r = gatewatch_reports::queries::calls::export(&store, &p, Utc::now(), chrono_tz::UTC)
        .await
        .unwrap();
    let want = pick(&|c| c.client_id == "c1");
    assert_eq!(call_ids(&r), want);
    let csv = r.table.to_csv();
    let mut rd = csv::Reader::from_reader(&csv[3..]);
    assert_eq!(rd.records().count(), want.len());
    assert_eq!(r.summary["truncated"], false);
}

#[tokio::test]
async fn bad_cursors_hostile_filters_and_long_ranges_are_refused_or_harmless() {
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_hostile").await;
    let calls = seeded();
    insert(&store, &calls).await;
    let count = || async {
        store
            .fetch_u64("SELECT count() FROM api_calls")
            .await
            .unwrap()
    };

    for junk in ["abc", "YzEu", "' OR 1=1 --", "YzEuMS4yLjM"] {
        let e = run(
            &store,
            ReportKind::Calls,
            &with(all_time(), &[("cursor", junk)]),
        )
        .await
        .unwrap_err();
        match &e {
            ReportError::Invalid(f) => assert_eq!(f.field, "cursor", "{junk}"),
            other => panic!("{junk}: {other:?}"),
        }
        assert_eq!(e.status().as_u16(), 422);
    }

    let hostile = [
        "x' OR 1=1 --",
        "a\\' UNION SELECT * FROM system.tables --",
        "'); DROP TABLE api_calls; --",
        "%' OR ''='",
        "查詢' OR 'a'='a",
    ];
    for h in hostile {
        for key in [
            "api",
            "module",
            "client",
            "node",
            "request_id",
            "path_contains",
        ] {
            for kind in [ReportKind::Calls, ReportKind::Top, ReportKind::ClientEvents] {
                let mut pairs = with(all_time(), &[(key, h)]);
                if kind == ReportKind::ClientEvents && key != "client" {
                    pairs.push(("client".into(), "c1".into()));
                }
                let r = run(&store, kind, &pairs).await;
                if kind == ReportKind::ClientEvents && matches!(key, "request_id" | "path_contains")
                {
                    // Call-search filters are refused there, naming them.
                    assert!(matches!(r, Err(ReportError::Invalid(ref f)) if f.field == key));
                    continue;
                }
                let r = r.unwrap_or_else(|e| panic!("{kind} {key}={h:?}: {e}"));
                if kind != ReportKind::ClientEvents {
                    assert!(r.table.rows.is_empty(), "{kind} {key}={h:?} matched rows");
                }
            }
        }
        let e = run(
            &store,
            ReportKind::Calls,
            &with(all_time(), &[("call_id", h)]),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ReportError::Invalid(ref f) if f.field == "call_id"));
    }
    // Typed filters refuse what is not their type, naming the field.
    for key in [
        "status",
        "status_class",
        "outcome",
        "tz",
        "by",
        "limit",
        "granularity",
    ] {
        let e = run(
            &store,
            ReportKind::Calls,
            &with(all_time(), &[(key, "1' OR '1'='1")]),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, ReportError::Invalid(ref f) if f.field == key),
            "{key}: {e:?}"
        );
    }
    assert_eq!(count().await, N as u64, "the table is intact");
    let tables = store
        .fetch_u64(&format!(
            "SELECT count() FROM system.tables WHERE database = '{}' AND name = 'api_calls'",
            store.database()
        ))
        .await
        .unwrap();
    assert_eq!(tables, 1);

    // Raw reads over more than 7 days are refused, naming the range.
    for kind in [ReportKind::Calls, ReportKind::Top] {
        let pairs = vec![
            ("from".to_string(), T0.to_string()),
            ("to".to_string(), (T0 + 8 * 86_400).to_string()),
        ];
        let e = run(&store, kind, &pairs).await.unwrap_err();
        match &e {
            ReportError::TooLarge { field, message } => {
                assert_eq!(field, "range");
                assert!(message.contains("7 days"), "{message}");
            }
            other => panic!("{kind}: {other:?}"),
        }
        assert_eq!(e.status().as_u16(), 422);
        let e = run(&store, kind, &[("range".into(), "30d".into())])
            .await
            .unwrap_err();
        assert!(matches!(e, ReportError::TooLarge { .. }), "{kind} 30d");
    }
    // A page over the most a page may hold names `limit`.
    let e = run(
        &store,
        ReportKind::Calls,
        &with(all_time(), &[("limit", "5000")]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ReportError::Invalid(ref f) if f.field == "limit"));
    // Parameters of another report are refused, naming them, not ignored.
    for (kind, key, v) in [
        (ReportKind::Top, "cursor", "abc"),
        (ReportKind::Calls, "by", "clients"),
        (ReportKind::ClientEvents, "by", "largest"),
        (ReportKind::ClientEvents, "status", "500"),
        (ReportKind::ClientEvents, "path_contains", "/x"),
    ] {
        let pairs = with(all_time(), &[(key, v), ("client", "c1")]);
        let e = run(&store, kind, &pairs).await.unwrap_err();
        assert!(
            matches!(e, ReportError::Invalid(ref f) if f.field == key),
            "{kind} {key}: {e:?}"
        );
    }
    // Client events need a client.
    let e = run(&store, ReportKind::ClientEvents, &all_time())
        .await
        .unwrap_err();
    assert!(matches!(e, ReportError::Invalid(ref f) if f.field == "client"));
}

#[tokio::test]
async fn one_call_shows_every_column_and_unknown_or_bad_ids_are_told_apart() {
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_one").await;
    let calls = seeded();
    insert(&store, &calls).await;
    let c = &calls[77];
    let d = serde_json::to_value(
        gatewatch_reports::queries::calls::detail(
            &store,
            &c.call_id.to_string(),
            chrono_tz::Asia::Taipei,
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(d["call_id"], c.call_id.to_string());
    assert_eq!(d["request_id"], "req-77");
    assert_eq!(d["ts_us"], c.ts_us);
    let shown = DateTime::parse_from_rfc3339(d["time"].as_str().unwrap()).unwrap();
    assert_eq!(shown.timestamp_micros(), c.ts_us);
    assert_eq!(shown.offset().local_minus_utc(), 8 * 3600);
    assert_eq!(d["api_name"], c.api_name);
    assert_eq!(d["client_id"], c.client_id);
    assert_eq!(d["status"], c.status);
    assert_eq!(d["outcome"], c.outcome.as_str());
    assert_eq!(d["latency_us"], c.latency_us);
    assert_eq!(d["upstream_latency_us"], c.upstream_latency_us);
    assert_eq!(d["overhead_us"], c.overhead_us);
    assert_eq!(d["request_bytes"], c.request_bytes);
    assert_eq!(d["response_bytes"], c.response_bytes);
    assert_eq!(d["upstream"], "127.0.0.1:9000");
    assert_eq!(
        d["request_headers"],
        serde_json::json!({"accept": "application/json", "x-tag": ["a", "b"]})
    );
    assert_eq!(
        d["response_headers"],
        serde_json::json!({"content-type": "application/json"})
    );
    assert_eq!(
        d["request_body"],
        "{\n  \"q\": \"查詢\",\n  \"card\": \"****1234\"\n}"
    );
    assert_eq!(d["response_body"], "plain text");
    for key in [
        "node",
        "module",
        "route",
        "method",
        "path",
        "query",
        "app_id",
        "api_key_id",
        "client_ip",
        "user_agent",
        "error",
        "batch_id",
        "api_id",
    ] {
        assert!(d.get(key).is_some(), "{key} missing");
    }

    let unknown = v7(c.ts_us).to_string();
    let e = gatewatch_reports::queries::calls::detail(&store, &unknown, chrono_tz::UTC)
        .await
        .unwrap_err();
    assert_eq!(e.status().as_u16(), 404, "{e}");
    for bad in ["nope", "1234", "' OR 1=1 --"] {
        let e = gatewatch_reports::queries::calls::detail(&store, bad, chrono_tz::UTC)
            .await
            .unwrap_err();
        assert!(
            matches!(e, ReportError::Invalid(ref f) if f.field == "call_id"),
            "{bad}"
        );
        assert_eq!(e.status().as_u16(), 422);
    }
}

#[tokio::test]
async fn top_lists_are_exact() {
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_top").await;
    let calls = seeded();
    insert(&store, &calls).await;
    // The first day only: the window bounds the lists.
    let day: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| c.ts_us < (T0 + 86_400) * 1_000_000)
        .collect();
    let first_day = vec![
        ("from".to_string(), T0.to_string()),
        ("to".to_string(), (T0 + 86_400).to_string()),
    ];

    // Slowest: latency desc, then start time, then id.
    let mut slow = day.clone();
    slow.sort_by(|a, b| {
        (b.latency_us, a.ts_us, a.call_id.to_string()).cmp(&(
            a.latency_us,
            b.ts_us,
            b.call_id.to_string(),
        ))
    });
    let r = run(&store, ReportKind::Top, &first_day).await.unwrap();
    assert_eq!(r.table.rows.len(), 20, "the default limit");
    let want: Vec<String> = slow
        .iter()
        .take(20)
        .map(|c| c.call_id.to_string())
        .collect();
    assert_eq!(call_ids(&r), want);
    let lat: Vec<Cell> = column(&r, "latency_ms");
    assert_eq!(lat[0], Cell::Float(slow[0].latency_us as f64 / 1000.0));
    assert_eq!(r.chart.as_ref().unwrap().x_labels.len(), 20);

    // Largest: request + response bytes.
    let mut big = day.clone();
    let total = |c: &CallRecord| c.request_bytes + c.response_bytes;
    big.sort_by(|a, b| {
        (total(b), a.ts_us, a.call_id.to_string()).cmp(&(total(a), b.ts_us, b.call_id.to_string()))
    });
    let r = run(
        &store,
        ReportKind::Top,
        &with(first_day.clone(), &[("by", "largest"), ("limit", "7")]),
    )
    .await
    .unwrap();
    let want: Vec<String> = big.iter().take(7).map(|c| c.call_id.to_string()).collect();
    assert_eq!(call_ids(&r), want);
    let totals: Vec<i64> = column(&r, "total_bytes").iter().map(int).collect();
    assert_eq!(
        totals,
        big.iter()
            .take(7)
            .map(|c| total(c) as i64)
            .collect::<Vec<_>>()
    );

    // Busiest clients, with refusals, 5xx, bytes and latency figures.
    #[derive(Default)]
    struct Agg {
        calls: i64,
        refused: i64,
        e5: i64,
        bytes: i64,
        lat_sum: u64,
        lat_max: u64,
    }
    let mut by: BTreeMap<&str, Agg> = BTreeMap::new();
    for c in &day {
        let a = by.entry(c.client_id.as_str()).or_default();
        a.calls += 1;
        a.refused += i64::from(c.outcome.is_refusal());
        a.e5 += i64::from(c.status >= 500);
        a.bytes += total(c) as i64;
        a.lat_sum += c.latency_us;
        a.lat_max = a.lat_max.max(c.latency_us);
    }
    let mut want: Vec<(&str, Agg)> = by.into_iter().collect();
    want.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
    let r = run(
        &store,
        ReportKind::Top,
        &with(first_day, &[("by", "clients")]),
    )
    .await
    .unwrap();
    assert_eq!(r.table.rows.len(), want.len());
    for (row, (client, a)) in r.table.rows.iter().zip(&want) {
        let get = |k: &str| row[r.table.col(k).unwrap()].clone();
        assert_eq!(get("client_id"), Cell::Text(client.to_string()));
        assert_eq!(get("calls"), Cell::Int(a.calls));
        assert_eq!(get("refused"), Cell::Int(a.refused));
        assert_eq!(get("server_errors"), Cell::Int(a.e5));
        assert_eq!(get("bytes"), Cell::Int(a.bytes));
        assert_eq!(
            get("avg_latency_ms"),
            Cell::Float(a.lat_sum as f64 / a.calls as f64 / 1000.0)
        );
        assert_eq!(
            get("max_latency_ms"),
            Cell::Float(a.lat_max as f64 / 1000.0)
        );
    }
}

fn key(client: &str, replaces: Option<&str>, expires: Option<DateTime<Utc>>) -> String {
    serde_json::to_string(&ApiKeySpec {
        client_id: client.into(),
        hash: "hmac-sha256:00".into(),
        hint: "gwk_test".into(),
        expires_at: expires,
        revoked: false,
        replaces: replaces.map(str::to_string),
        products: Vec::new(),
    })
    .unwrap()
}

fn change(kind: EntityKind, id: &str, body: String) -> Change {
    Change {
        kind,
        id: id.into(),
        body,
        deleted: false,
        expected_version: None,
    }
}

fn refused(ts_us: i64, client: &str, api: &str, outcome: Outcome) -> CallRecord {
    let mut r = CallRecord::new(v7(ts_us), ts_us, "n1", "GET", "/x");
    r.client_id = client.into();
    r.api_id = api.into();
    r.status = 429;
    r.outcome = outcome;
    r
}

#[tokio::test]
async fn client_events_list_refusals_quota_keys_and_changes_in_time_order() {
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_events").await;
    let h = |hours: i64, mins: i64| (T0 + hours * 3_600 + mins * 60) * 1_000_000;
    // The window: 00:30 to 04:00 on the seeded day.
    let from = T0 + 1_800;
    let to = T0 + 4 * 3_600;
    let pairs = vec![
        ("from".to_string(), from.to_string()),
        ("to".to_string(), to.to_string()),
        ("client".to_string(), "c1".to_string()),
    ];

    // Configuration: c1 exists before the window (not listed), gets a key, the key is rotated
    // and the new one revoked, c1's priority changes; c2's key is not c1's business.
    let w = |store: &Store, at: i64, changes: Vec<Change>| {
        let store = store.clone();
        async move {
            config_log::write(&store, "alice", "", &changes, at)
                .await
                .unwrap()
        }
    };
    let client1 = r#"{"name":"Client one","quota":{"per_hour":5,"per_day":1000}}"#;
    w(
        &store,
        h(0, 5),
        vec![change(EntityKind::Client, "c1", client1.into())],
    )
    .await;
    w(
        &store,
        h(0, 40),
        // Written with spaces: the client is found whatever the JSON's layout.
        vec![change(
            EntityKind::ApiKey,
            "key-a",
            serde_json::to_string_pretty(
                &serde_json::from_str::<serde_json::Value>(&key("c1", None, None)).unwrap(),
            )
            .unwrap(),
        )],
    )
    .await;
    w(
        &store,
        h(0, 41),
        vec![change(EntityKind::ApiKey, "key-z", key("c2", None, None))],
    )
    .await;
    let until = Utc.timestamp_opt(T0 + 3 * 3_600, 0).unwrap();
    let rot = w(
        &store,
        h(1, 15),
        vec![
            change(EntityKind::ApiKey, "key-a", key("c1", None, Some(until))),
            change(EntityKind::ApiKey, "key-b", key("c1", Some("key-a"), None)),
        ],
    )
    .await;
    let mut revoked: ApiKeySpec = serde_json::from_str(&key("c1", Some("key-a"), None)).unwrap();
    revoked.revoked = true;
    w(
        &store,
        h(2, 0),
        vec![change(
            EntityKind::ApiKey,
            "key-b",
            serde_json::to_string(&revoked).unwrap(),
        )],
    )
    .await;
    let client1b = r#"{"name":"Client one","priority":7,"quota":{"per_hour":5,"per_day":1000}}"#;
    w(
        &store,
        h(2, 30),
        vec![change(EntityKind::Client, "c1", client1b.into())],
    )
    .await;
    // After the window: not listed.
    w(
        &store,
        h(5, 0),
        vec![change(EntityKind::Client, "c1", client1.into())],
    )
    .await;
    audit::write(
        &store,
        &[
            AuditEvent {
                ts_us: h(1, 15),
                actor: "alice".into(),
                action: "key.rotate".into(),
                entity: "api_key".into(),
                id: "key-b".into(),
                change_id: rot.change_id,
                client_ip: "10.0.0.9".into(),
                detail: "{}".into(),
            },
            AuditEvent {
                ts_us: h(3, 0),
                actor: "bob".into(),
                action: "key.show_denied".into(),
                entity: "api_key".into(),
                id: "key-a".into(),
                change_id: Uuid::nil(),
                client_ip: "10.0.0.7".into(),
                detail: "{}".into(),
            },
        ],
    )
    .await
    .unwrap();

    // Calls: refusals of c1 by reason; quota refusals in hour 0 (one before `from`, whose
    // window began before it), hour 1 (two) and hour 3; c2's refusals are not listed.
    use Outcome::*;
    let calls = vec![
        refused(h(0, 10), "c1", "orders", RefusedQuota),
        refused(h(0, 45), "c1", "orders", RefusedQuota),
        refused(h(1, 10), "c1", "pay", RefusedQuota),
        refused(h(1, 20), "c1", "orders", RefusedQuota),
        refused(h(3, 59), "c1", "orders", RefusedQuota),
        refused(h(1, 5), "c1", "orders", RefusedRate),
        refused(h(1, 6), "c1", "orders", RefusedRate),
        refused(h(1, 7), "c1", "pay", RefusedRate),
        refused(h(2, 50), "c1", "pay", RefusedIp),
        refused(h(4, 10), "c1", "pay", RefusedIp),
        refused(h(1, 0), "c2", "pay", RefusedAuth),
        {
            let mut ok = refused(h(1, 30), "c1", "pay", Ok);
            ok.status = 200;
            ok
        },
    ];
    insert(&store, &calls).await;

    let r = run(&store, ReportKind::ClientEvents, &pairs).await.unwrap();
    let got: Vec<(i64, String, String)> = r
        .table
        .rows
        .iter()
        .map(|row| {
            (
                int(&row[r.table.col("ts_us").unwrap()]),
                text(&row[r.table.col("event").unwrap()]),
                text(&row[r.table.col("detail").unwrap()]),
            )
        })
        .collect();
    let events: Vec<(i64, &str)> = got.iter().map(|(t, e, _)| (*t, e.as_str())).collect();
    // Expected, newest first. Refusals count per rollup hour (hour 0 starts before `from`).
    let want = vec![
        (h(3, 59), "quota_exhausted"),
        (h(3, 0), "key.show_denied"),
        (h(3, 0), "refused_quota"),
        (h(2, 30), "client_changed"),
        (h(2, 0), "key_revoked"),
        (h(2, 0), "refused_ip"),
        (h(1, 15), "key_rotated"),
        (h(1, 10), "quota_exhausted"),
        (h(1, 0), "refused_quota"),
        (h(1, 0), "refused_rate"),
        (h(0, 40), "key_created"),
        (h(0, 0), "refused_quota"),
    ];
    assert_eq!(events, want, "{got:#?}");
    let detail = |t: i64, e: &str| {
        got.iter()
            .find(|(ts, ev, _)| *ts == t && ev == e)
            .map(|(_, _, d)| d.clone())
            .unwrap()
    };
    assert!(detail(h(1, 0), "refused_rate")
        .starts_with("3 calls refused in the hour (over the TPS limit); by API: orders 2, pay 1"));
    assert!(detail(h(1, 0), "refused_quota").starts_with("2 calls refused"));
    assert!(detail(h(0, 0), "refused_quota").starts_with("2 calls refused"));
    assert_eq!(
        detail(h(1, 10), "quota_exhausted"),
        "per_hour quota (5) used up, first refused on pay; 2 calls refused in this window"
    );
    let rotated = detail(h(1, 15), "key_rotated");
    assert!(
        rotated.starts_with(
            "key key-b replaces key key-a, which stays valid until 2025-11-25T03:00:00+00:00"
        ),
        "{rotated}"
    );
    assert!(rotated.ends_with("[key.rotate]"), "{rotated}");
    assert!(detail(h(2, 30), "client_changed").starts_with("changed: priority"));
    let by = r.table.col("by").unwrap();
    let rot_row = r
        .table
        .rows
        .iter()
        .find(|row| text(&row[2]) == "key_rotated")
        .unwrap();
    assert_eq!(text(&rot_row[by]), "alice from 10.0.0.9");
    assert_eq!(r.summary["truncated"], false);
    assert!(!got.iter().any(|(_, _, d)| d.contains("key-z")));
    assert!(!got.iter().any(|(_, _, d)| d.contains("hmac")));
}

/// A record of the gateway's token endpoint (as agreed with it: `route` the endpoint's path,
/// `api_id` empty, the client named by the request): a token issued with `scopes`, or a
/// refusal whose `error` starts with the RFC 6749 code.
fn token_call(ts_us: i64, client: &str, outcome: Outcome, scopes: &str, error: &str) -> CallRecord {
    let mut r = CallRecord::new(v7(ts_us), ts_us, "n1", "POST", "/oauth2/token");
    r.route = "/oauth2/token".into();
    r.client_id = client.into();
    r.outcome = outcome;
    r.status = match outcome {
        Outcome::Ok => 200,
        Outcome::RefusedAuth => 401,
        Outcome::RefusedBusy => 503,
        _ => 400,
    };
    r.auth_method = "client_secret_basic".into();
    if outcome == Outcome::Ok {
        r.token_jti = Uuid::new_v4().to_string();
        r.scopes = scopes.into();
    }
    r.error = error.into();
    r
}

#[tokio::test]
async fn client_events_count_tokens_issued_and_refused_per_hour() {
    use Outcome::*;
    let store = gatewatch_migrations::testing::migrated_store("rep_detail_tokens").await;
    let h = |hours: i64, mins: i64| (T0 + hours * 3_600 + mins * 60) * 1_000_000;
    // The window: 00:30 to 04:00; raw records, so exact at both ends.
    let pairs = vec![
        ("from".to_string(), (T0 + 1_800).to_string()),
        ("to".to_string(), (T0 + 4 * 3_600).to_string()),
        ("client".to_string(), "c1".to_string()),
    ];
    let long = "x".repeat(100);
    let mut calls = vec![
        // Before and after the window: not counted.
        token_call(h(0, 10), "c1", Ok, "orders.read", ""),
        token_call(h(4, 10), "c1", Ok, "orders.read", ""),
        // Hour 1: three tokens in two sets of scopes, three refusals by two codes.
        token_call(h(1, 5), "c1", Ok, "orders.read orders.write", ""),
        token_call(h(1, 10), "c1", Ok, "orders.read orders.write", ""),
        token_call(h(1, 20), "c1", Ok, "orders.read", ""),
        token_call(
            h(1, 30),
            "c1",
            RefusedAuth,
            "",
            "invalid_client: wrong secret",
        ),
        token_call(
            h(1, 40),
            "c1",
            RefusedBadRequest,
            "",
            "invalid_scope: admin: not granted",
        ),
        token_call(h(1, 41), "c1", RefusedBadRequest, "", "invalid_scope: x"),
        // Hour 2: a token without scopes.
        token_call(h(2, 5), "c1", Ok, "", ""),
        // Hour 3: a code with no `:` after it, an overlong error (cut), none (the outcome).
        token_call(
            h(3, 0),
            "c1",
            RefusedBadRequest,
            "",
            "unsupported_grant_type",
        ),
        token_call(h(3, 5), "c1", RefusedBadRequest, "", &long),
        token_call(h(3, 10), "c1", RefusedBusy, "", ""),
        // Another client's tokens are not c1's business.
        token_call(h(1, 7), "c2", Ok, "orders.read", ""),
        token_call(h(1, 8), "c2", RefusedAuth, "", "invalid_client: unknown"),
        // An API call refused for c1 in hour 1: an API refusal, not a token one.
        refused(h(1, 50), "c1", "orders", RefusedAuth),
    ];
    // Introspection refused for c1: neither a token issued nor refused.
    let mut introspect = token_call(h(1, 55), "c1", RefusedAuth, "", "invalid_client: x");
    introspect.route = "/oauth2/introspect".into();
    introspect.path = "/oauth2/introspect".into();
    calls.push(introspect);
    insert(&store, &calls).await;

    let r = run(&store, ReportKind::ClientEvents, &pairs).await.unwrap();
    let got: Vec<(i64, String, String, String)> = r
        .table
        .rows
        .iter()
        .map(|row| {
            let get = |k: &str| text(&row[r.table.col(k).unwrap()]);
            (
                int(&row[r.table.col("ts_us").unwrap()]),
                get("event"),
                get("detail"),
                get("source"),
            )
        })
        .collect();
    let want: Vec<(i64, &str, String)> = vec![
        (
            h(3, 0),
            "tokens_refused",
            format!(
                "3 token requests refused in the hour; by error: refused_busy 1, \
                 unsupported_grant_type 1, {} 1",
                "x".repeat(64)
            ),
        ),
        (
            h(2, 0),
            "tokens_issued",
            "1 token issued in the hour; scopes granted: no scope 1".into(),
        ),
        (
            h(1, 0),
            "refused_auth",
            "1 calls refused in the hour (missing or wrong credentials); by API: orders 1".into(),
        ),
        (
            h(1, 0),
            "tokens_issued",
            "3 tokens issued in the hour; scopes granted: \"orders.read orders.write\" 2, \
             \"orders.read\" 1"
                .into(),
        ),
        (
            h(1, 0),
            "tokens_refused",
            "3 token requests refused in the hour; by error: invalid_scope 2, invalid_client 1"
                .into(),
        ),
    ];
    let shown: Vec<(i64, &str, String)> = got
        .iter()
        .map(|(t, e, d, _)| (*t, e.as_str(), d.clone()))
        .collect();
    assert_eq!(shown, want, "{got:#?}");
    assert!(got
        .iter()
        .filter(|(_, e, _, _)| e.starts_with("tokens_"))
        .all(|(_, _, _, s)| s == "api_calls"));
    assert_eq!(
        (&r.summary["tokens_issued"], &r.summary["tokens_refused"]),
        (&serde_json::json!(4), &serde_json::json!(6))
    );
    assert_eq!(r.summary["events"]["tokens_issued"], 2);
    assert_eq!(r.summary["events"]["tokens_refused"], 2);

    // The outcome filter applies; an API filter leaves the token endpoint (no API) out.
    let r = run(
        &store,
        ReportKind::ClientEvents,
        &with(pairs.clone(), &[("outcome", "refused_auth")]),
    )
    .await
    .unwrap();
    let events: Vec<String> = column(&r, "event").iter().map(text).collect();
    assert_eq!(events, ["refused_auth", "tokens_refused"]);
    assert!(text(&column(&r, "detail")[1]).ends_with("by error: invalid_client 1"));
    let r = run(
        &store,
        ReportKind::ClientEvents,
        &with(pairs, &[("api", "orders")]),
    )
    .await
    .unwrap();
    let events: Vec<String> = column(&r, "event").iter().map(text).collect();
    assert_eq!(events, ["refused_auth"]);
    assert_eq!(
        (&r.summary["tokens_issued"], &r.summary["tokens_refused"]),
        (&serde_json::json!(0), &serde_json::json!(0))
    );
}
