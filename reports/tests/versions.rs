//! Reports and call search by API version against a real ClickHouse: the `version` filter, the
//! usage and latency reports with `group=version`, the recorded `api_version` in search rows
//! and in one call's detail, and the refusals (a report that has no grouping, a range the raw
//! calls do not cover). Every expected figure is counted here in Rust from the seeded rows.

use std::collections::BTreeMap;

use chrono::Utc;
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_reports::catalog::Report;
use gatewatch_reports::table::Cell;
use gatewatch_reports::{ReportError, Result};
use gatewatch_store::rows::ApiCallRow;
use gatewatch_store::Store;
use uuid::Uuid;

/// 2025-11-25T00:00:00Z.
const T0: i64 = 1_764_028_800;
const N: usize = 240;

/// (api id, version as recorded): two families and a plain API without a version; `v2` is
/// the label of two APIs, so grouping by version adds them up.
const APIS: [(&str, &str); 5] = [
    ("orders-v1", "v1"),
    ("orders-v2", "v2"),
    ("pay-v2", "v2"),
    ("pay-2024", "2024-01, beta 版"),
    ("health", ""),
];

/// A UUIDv7 of the call's own start time (the detail reads the day its id says).
fn v7(ts_us: i64) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        ts_us.div_euclid(1_000_000) as u64,
        (ts_us.rem_euclid(1_000_000) * 1_000) as u32,
    );
    Uuid::new_v7(ts)
}

fn call(i: usize) -> CallRecord {
    let ts_us = (T0 + 60 + i as i64 * 97) * 1_000_000;
    let (api, version) = APIS[(i * 7) % APIS.len()];
    let mut r = CallRecord::new(v7(ts_us), ts_us, "n1", "GET", &format!("/{api}/{i}"));
    r.api_id = api.into();
    r.api_name = api.into();
    r.api_version = version.into();
    r.client_id = ["c1", "c2"][i % 2].into();
    (r.status, r.outcome) = match i % 5 {
        3 => (502, Outcome::UpstreamUnreachable),
        4 => (429, Outcome::RefusedRate),
        _ => (200, Outcome::Ok),
    };
    r.latency_us = 1_000 + (i as u64 * 7_919) % 90_000;
    r.upstream_latency_us = r.latency_us / 2;
    r
}

async fn seed(store: &Store) -> Vec<CallRecord> {
    let calls: Vec<CallRecord> = (0..N).map(call).collect();
    let batch = Uuid::now_v7();
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<ApiCallRow>("api_calls")
        .await
        .unwrap();
    for r in &calls {
        ins.write(&ApiCallRow::new(r, batch)).await.unwrap();
    }
    ins.end().await.unwrap();
    calls
}

fn pairs(more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = vec![
        ("from".to_string(), T0.to_string()),
        ("to".to_string(), (T0 + 86_400).to_string()),
    ];
    p.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

async fn run(store: &Store, kind: ReportKind, more: &[(&str, &str)]) -> Result<Report> {
    let p = ReportParams::from_pairs(&pairs(more))?;
    gatewatch_reports::run(store, kind, &p, Utc::now(), chrono_tz::UTC).await
}

fn field(e: ReportError) -> String {
    match e {
        ReportError::Invalid(e) => e.field,
        ReportError::TooLarge { field, .. } => field,
        other => panic!("not a refusal naming a field: {other:?}"),
    }
}

fn column(r: &Report, key: &str) -> Vec<Cell> {
    let i = r
        .table
        .col(key)
        .unwrap_or_else(|| panic!("no column {key}"));
    r.table.rows.iter().map(|row| row[i].clone()).collect()
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    }
}

fn int(c: &Cell) -> i64 {
    match c {
        Cell::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

fn float(c: &Cell) -> f64 {
    match c {
        Cell::Float(v) => *v,
        Cell::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test]
async fn version_filter_and_group_by_version_count_the_recorded_labels() {
    let store = gatewatch_migrations::testing::migrated_store("rep_versions").await;
    let calls = seed(&store).await;

    // Usage per version: every label once, with the calls each recorded.
    let mut want: BTreeMap<&str, (i64, i64, u64)> = BTreeMap::new();
    for c in &calls {
        let e = want.entry(c.api_version.as_str()).or_default();
        e.0 += 1;
        e.1 += i64::from(c.outcome == Outcome::Ok);
        e.2 += c.latency_us;
    }
    let r = run(&store, ReportKind::Usage, &[("group", "version")])
        .await
        .unwrap();
    assert_eq!(r.summary["group"], "version");
    assert_eq!(r.summary["calls"], N as u64);
    assert_eq!(r.summary["versions"], want.len() as u64);
    let got: BTreeMap<String, (i64, i64)> = column(&r, "version")
        .iter()
        .zip(column(&r, "calls"))
        .zip(column(&r, "success"))
        .map(|((v, c), s)| (text(v), (int(&c), int(&s))))
        .collect();
    let want_counts: BTreeMap<String, (i64, i64)> = want
        .iter()
        .map(|(v, (c, s, _))| (v.to_string(), (*c, *s)))
        .collect();
    assert_eq!(got, want_counts);
    assert_eq!(
        r.source,
        gatewatch_store::reports::Source::Raw,
        "versions are read as each call recorded them"
    );
    let chart = r.chart.as_ref().unwrap();
    assert!(chart.x_labels.contains(&"(no version)".to_string()));

    // The version filter with the API filter: the v2 calls of one API only.
    let r = run(
        &store,
        ReportKind::Usage,
        &[("version", "v2"), ("api", "pay-v2")],
    )
    .await
    .unwrap();
    let n = calls
        .iter()
        .filter(|c| c.api_version == "v2" && c.api_id == "pay-v2")
        .count();
    assert_eq!(r.summary["calls"], n as u64);
    assert_eq!(
        column(&r, "api_id").iter().map(text).collect::<Vec<_>>(),
        ["pay-v2"]
    );

    // A free-form label with a comma and Chinese is one exact value, not a list.
    let r = run(
        &store,
        ReportKind::Traffic,
        &[("version", "2024-01, beta 版")],
    )
    .await
    .unwrap();
    let n = calls
        .iter()
        .filter(|c| c.api_version == "2024-01, beta 版")
        .count();
    assert_eq!(r.summary["calls"], n as u64);
    let r = run(&store, ReportKind::Traffic, &[("version", "2024-01")])
        .await
        .unwrap();
    assert_eq!(r.summary["calls"], 0, "exact match, not a prefix");

    // Latency per version: calls and the exact average per label.
    let r = run(&store, ReportKind::Latency, &[("group", "version")])
        .await
        .unwrap();
    assert_eq!(r.summary["group"], "version");
    let groups = column(&r, "group");
    let versions = column(&r, "version");
    let counts = column(&r, "calls");
    let avgs = column(&r, "avg_ms");
    let mut seen = 0;
    for i in 0..groups.len() {
        if text(&groups[i]) != "version" {
            assert_eq!(versions[i], Cell::Null, "time rows carry no version");
            continue;
        }
        seen += 1;
        let v = text(&versions[i]);
        let (c, _, sum) = want[v.as_str()];
        assert_eq!(int(&counts[i]), c, "{v}");
        let avg = (sum as f64 / c as f64).round() / 1_000.0;
        assert!((float(&avgs[i]) - avg).abs() < 1e-9, "{v}: {avgs:?}");
    }
    assert_eq!(seen, want.len());

    // The call search: the filter, and the recorded version in each row and in the detail.
    let r = run(
        &store,
        ReportKind::Calls,
        &[("version", "v1"), ("limit", "1000")],
    )
    .await
    .unwrap();
    let n = calls.iter().filter(|c| c.api_version == "v1").count();
    assert_eq!(r.table.rows.len(), n);
    assert!(column(&r, "api_version").iter().all(|v| text(v) == "v1"));
    let two = run(
        &store,
        ReportKind::Calls,
        &[
            ("version", "v1"),
            ("version", ""),
            ("version", "v2"),
            ("limit", "1000"),
        ],
    )
    .await
    .unwrap();
    let n2 = calls
        .iter()
        .filter(|c| c.api_version == "v1" || c.api_version == "v2")
        .count();
    assert_eq!(
        two.table.rows.len(),
        n2,
        "repeated keys add versions; empty is none"
    );
    let one = calls.iter().find(|c| c.api_version == "v2").unwrap();
    let d =
        gatewatch_reports::queries::calls::detail(&store, &one.call_id.to_string(), chrono_tz::UTC)
            .await
            .unwrap();
    assert_eq!(d.api_version, "v2");

    // Top-N narrows by version like the search does.
    let r = run(
        &store,
        ReportKind::Top,
        &[("version", "v1"), ("limit", "1000")],
    )
    .await
    .unwrap();
    assert_eq!(r.table.rows.len(), n);

    // Hostile labels are bound values: they find nothing and break nothing.
    for v in ["v1') OR 1=1 --", "?", "v1\\", "{}"] {
        let r = run(&store, ReportKind::Calls, &[("version", v)])
            .await
            .unwrap();
        assert_eq!(r.table.rows.len(), 0, "{v:?}");
    }
}

#[tokio::test]
async fn version_parameters_are_refused_where_they_cannot_be_answered() {
    let store = gatewatch_migrations::testing::migrated_store("rep_versions_refused").await;
    for kind in [
        ReportKind::Traffic,
        ReportKind::Errors,
        ReportKind::Clients,
        ReportKind::ClientApis,
        ReportKind::Nodes,
        ReportKind::Top,
        ReportKind::Calls,
    ] {
        let e = run(&store, kind, &[("group", "version")])
            .await
            .unwrap_err();
        assert_eq!(field(e), "group", "{kind}");
    }
    let e = run(&store, ReportKind::Nodes, &[("version", "v1")])
        .await
        .unwrap_err();
    assert_eq!(field(e), "version");
    // Versions come from the raw calls: 7 days at most, refused naming the parameter.
    let long = |more: &[(&str, &str)]| {
        let mut p = vec![("range".to_string(), "30d".to_string())];
        p.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    };
    for (more, name) in [
        (&[("version", "v1")][..], "version"),
        (&[("group", "version")][..], "group"),
    ] {
        let p = ReportParams::from_pairs(&long(more)).unwrap();
        let e = gatewatch_reports::run(&store, ReportKind::Usage, &p, Utc::now(), chrono_tz::UTC)
            .await
            .unwrap_err();
        assert_eq!(field(e), name);
    }
    let big = "版".repeat(65);
    for (k, v) in [
        ("version", "v1\u{7}"),
        ("version", big.as_str()),
        ("group", "api"),
    ] {
        let e = ReportParams::from_pairs(&pairs(&[(k, v)])).unwrap_err();
        assert_eq!(e.field, k);
    }
}
