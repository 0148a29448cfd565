//! Every report gives the same answer on the cluster as on one server for the same data.
//!
//! The same records (3 000 calls over four days: four APIs, five clients, three nodes, two API
//! versions, every outcome class; node samples with disks; configuration and audit rows of a
//! client) go through the store's own inserts into a cluster database (the Distributed
//! `api_calls`, whose shards' views fill the rollups) and into a database on the single server
//! the other tests use (8123). Then every report kind of the report API
//! ([`ReportKind::ALL`]: usage, traffic, latency, errors, clients, client × API, nodes, top by
//! each ranking, client events, the call search and a call's detail) is asked the same
//! questions on both: ranges that pick each source (raw calls, minute, hour and client-hour
//! rollups), every filter and grouping, minute buckets, a zone off the hour; the answers
//! (the report API's JSON, refusals included) must be equal.
//!
//! Tolerance: only the t-digest quantiles of the rollups (`quantilesTDigestMerge`) may differ:
//! a shard merges its own states and the initiator merges the shards', so centroids meet in
//! another order than on one server. Those cells (columns `p50`, `p95`, `p99` and the summary's
//! quantiles) may differ by at most 5% of the larger value plus 1 ms; every other cell, every
//! count, sum, maximum, name, row order and cursor must be equal. How many quantile cells
//! differed, and by how much at most, is printed.

use crate::harness::ClusterDb;
use chrono::{DateTime, TimeZone, Utc};
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::{CallRecord, DiskUsage, NodeSample, Outcome};
use gatewatch_store::rows::{ApiCallRow, NodeMetricRow};
use gatewatch_store::{ingest, Store};
use serde_json::Value;
use uuid::Uuid;

/// 2026-11-20T00:00:00Z, a Friday in the past of any run.
const T0: i64 = 1_763_596_800;
const CALLS: u64 = 3_000;
const SPAN_SECS: i64 = 4 * 86_400;

/// A small deterministic generator (the same data on both sides, every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
}

fn calls() -> Vec<CallRecord> {
    let mut g = Lcg(20);
    let apis = [
        ("orders", "訂單查詢", "shop", "v1"),
        ("orders", "訂單查詢", "shop", "v2"),
        ("pay", "付款", "shop", "v1"),
        ("users", "Users", "accounts", ""),
        ("search", "Search", "catalog", "2024-01"),
    ];
    let clients = ["c1", "c2", "c3", "c4", "c5"];
    let nodes = ["gw-1", "gw-2", "gw-3"];
    let outcomes = [
        (Outcome::Ok, 200),
        (Outcome::Ok, 200),
        (Outcome::Ok, 200),
        (Outcome::Ok, 201),
        (Outcome::Ok, 200),
        (Outcome::Ok, 200),
        (Outcome::ClientError, 404),
        (Outcome::UpstreamError, 500),
        (Outcome::Timeout, 504),
        (Outcome::RefusedQuota, 429),
        (Outcome::RefusedAuth, 401),
        (Outcome::UpstreamUnreachable, 502),
    ];
    (0..CALLS)
        .map(|i| {
            let us = T0 * 1_000_000
                + (i as i64) * (SPAN_SECS * 1_000_000 / CALLS as i64)
                + (g.next() % 1_000_000) as i64;
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                (us / 1_000_000) as u64,
                ((us % 1_000_000) * 1_000) as u32,
            ));
            let (api, name, module, version) = *g.pick(&apis);
            let method = *g.pick(&["GET", "GET", "POST", "DELETE"]);
            let path = format!("/{api}/{}", g.next() % 40);
            let node = *g.pick(&nodes);
            let mut r = CallRecord::new(id, us, node, method, &path);
            r.request_id = format!("req-{i}");
            r.api_id = api.into();
            r.api_name = name.into();
            r.module = module.into();
            r.route = format!("/{api}/{{id}}");
            r.api_version = version.into();
            r.client_id = g.pick(&clients).to_string();
            r.app_id = format!("app-{}", r.client_id);
            r.api_key_id = format!("key-{}", r.client_id);
            r.client_ip = format!("10.0.0.{}", g.next() % 20);
            r.upstream = format!("http://{api}-{}.internal:8080", g.next() % 2);
            (r.outcome, r.status) = *g.pick(&outcomes);
            r.latency_us = 500
                + g.next() % 400_000
                + if g.next().is_multiple_of(50) {
                    2_000_000
                } else {
                    0
                };
            r.upstream_latency_us = r.latency_us * 9 / 10;
            r.overhead_us = r.latency_us - r.upstream_latency_us;
            r.request_bytes = g.next() % 5_000;
            r.response_bytes = g.next() % 50_000;
            if r.status >= 500 {
                r.error = format!("upstream said {}", r.status);
            }
            if g.next().is_multiple_of(17) {
                r.findings = vec![format!("sqli:query.q{}", g.next() % 2)];
            }
            r.trace_id = format!("{:032x}", g.next() as u128 * 7_919 + i as u128);
            r.auth_method = "api_key".into();
            r
        })
        .collect()
}

fn node_samples() -> Vec<NodeSample> {
    let mut g = Lcg(7);
    let mut out = Vec::new();
    for step in 0..(SPAN_SECS / 900) {
        for node in ["gw-1", "gw-2", "gw-3"] {
            let used = 10_000_000 + g.next() % 1_000_000;
            out.push(NodeSample {
                ts_us: (T0 + step * 900 + 7) * 1_000_000,
                node: node.into(),
                role: "gateway".into(),
                cpu_pct: (g.next() % 1000) as f32 / 10.0,
                mem_used_bytes: 1_000_000 + g.next() % 100_000,
                mem_total_bytes: 8_000_000,
                rss_bytes: 500_000 + g.next() % 1000,
                disks: vec![
                    DiskUsage {
                        mount: "/".into(),
                        used_bytes: used,
                        total_bytes: 100_000_000,
                    },
                    DiskUsage {
                        mount: "/var/lib/gatewatch".into(),
                        used_bytes: used / 2,
                        total_bytes: 50_000_000,
                    },
                ],
                backlog: Default::default(),
            });
        }
    }
    out
}

/// Configuration and audit rows of client `c1` (fixed ids and times, so both sides agree).
fn config_and_audit_sql() -> Vec<String> {
    let mut out = Vec::new();
    for (v, hour) in [(1, 2), (2, 30)] {
        let ts = T0 + hour * 3_600;
        out.push(format!(
            "INSERT INTO config_log (entity, id, version, change_id, ts, ts_us, author, comment, deleted, body) \
             VALUES ('client', 'c1', {v}, toUUID('00000000-0000-4000-8000-00000000000{v}'), {ts}, {}, 'mia', 'quota', 0, \
             '{{\"name\":\"c1\",\"quota\":{}}}')",
            ts * 1_000_000,
            v * 1000
        ));
        out.push(format!(
            "INSERT INTO audit_log (ts, ts_us, actor, action, entity, id, change_id, client_ip, detail) \
             VALUES ({ts}, {}, 'mia', 'update', 'client', 'c1', toUUID('00000000-0000-4000-8000-00000000000{v}'), '10.1.1.1', '{{}}')",
            ts * 1_000_000
        ));
    }
    out
}

async fn load(store: &Store, calls: &[CallRecord], samples: &[NodeSample]) {
    for chunk in calls.chunks(700) {
        let batch = Uuid::now_v7();
        let rows: Vec<ApiCallRow<'_>> = chunk.iter().map(|c| ApiCallRow::new(c, batch)).collect();
        ingest::insert_calls(store, &rows)
            .await
            .expect("insert calls");
    }
    let batch = Uuid::now_v7();
    let rows: Vec<NodeMetricRow<'_>> = samples
        .iter()
        .map(|s| NodeMetricRow::new(s, batch))
        .collect();
    ingest::insert_node_samples(store, &rows)
        .await
        .expect("insert samples");
    for sql in config_and_audit_sql() {
        store.execute(&sql).await.expect("config and audit rows");
    }
}

/// The questions: each a query string of the report API.
fn questions() -> Vec<(ReportKind, String)> {
    let day = |d: i64| {
        Utc.timestamp_opt(T0 + d * 86_400, 0)
            .single()
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    let one_day = format!("from={}&to={}", day(1), day(2));
    let four_days = format!("from={}&to={}", day(0), day(4));
    let six_hours = format!(
        "from={}&to={}",
        day(2),
        Utc.timestamp_opt(T0 + 2 * 86_400 + 6 * 3_600, 0)
            .single()
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    );
    let ranges = [
        // minute rollup
        one_day.clone(),
        // hour rollup
        format!("{four_days}&granularity=hour"),
        format!("{four_days}&granularity=day&tz=Asia/Taipei"),
        // raw, minute buckets
        format!("{six_hours}&granularity=minute"),
        // a zone off the hour: minute rollup over four days
        format!("{four_days}&tz=Asia/Kolkata"),
    ];
    let filters = [
        "",
        "&client=c1",
        "&client=c2,c3&granularity=hour",
        "&node=gw-2",
        "&module=shop",
        "&api=orders&status_class=5",
        "&outcome=timeout",
        "&version=v2",
        "&group=version",
    ];
    let mut out = Vec::new();
    for kind in ReportKind::ALL {
        match kind {
            ReportKind::Calls => {
                for q in [
                    format!("{one_day}&limit=100"),
                    format!("{four_days}&limit=50&client=c4&method=POST"),
                    format!("{four_days}&limit=50&status=504"),
                    format!("{four_days}&limit=20&min_latency_ms=1000"),
                    format!("{four_days}&limit=20&finding=sqli"),
                    format!("{four_days}&limit=20&path_contains=orders/1"),
                    format!("{four_days}&request_id=req-1234"),
                ] {
                    out.push((kind, q));
                }
            }
            ReportKind::Top => {
                for by in ["slowest", "largest", "clients"] {
                    out.push((kind, format!("{one_day}&by={by}&limit=15")));
                    out.push((kind, format!("{four_days}&by={by}&limit=15&api=pay")));
                }
            }
            ReportKind::ClientEvents => {
                out.push((kind, format!("{four_days}&client=c1")));
                out.push((kind, format!("{one_day}&client=c1,c2")));
                out.push((kind, four_days.clone()));
            }
            ReportKind::Nodes => {
                for r in &ranges {
                    out.push((kind, r.clone()));
                    out.push((kind, format!("{r}&node=gw-3")));
                }
            }
            _ => {
                for r in &ranges {
                    for f in filters {
                        out.push((kind, format!("{r}{f}")));
                    }
                }
            }
        }
    }
    out
}

fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2B", "+")))
        .collect()
}

/// The report API's answer to `q`: the report's JSON, or its refusal's text.
async fn answer(store: &Store, kind: ReportKind, q: &str, now: DateTime<Utc>) -> Value {
    let params = match ReportParams::from_pairs(&pairs(q)) {
        Ok(p) => p,
        Err(e) => return Value::from(format!("bad question: {e}")),
    };
    match gatewatch_reports::run(store, kind, &params, now, chrono_tz::UTC).await {
        Ok(r) => r.to_json(),
        Err(e) => Value::from(format!("refused: {e}")),
    }
}

fn is_quantile(key: &str) -> bool {
    ["p50", "p95", "p99"].iter().any(|q| key.contains(q))
}

/// Differences between `a` (one server) and `b` (cluster) at `path`; quantile cells within
/// the tolerance are counted in `q` (how many, largest relative difference) instead.
fn diff(path: &str, a: &Value, b: &Value, q: &mut (u64, f64), out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff(&p, u, v, q, out),
                    _ => out.push(format!("{p}: only on one side")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: {} rows vs {}", x.len(), y.len()));
                return;
            }
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), u, v, q, out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x != y => {
            let key = path.rsplit('.').next().unwrap_or_default();
            let (u, v) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            let big = u.abs().max(v.abs());
            let rel = if big == 0.0 { 0.0 } else { (u - v).abs() / big };
            // 5% of the larger value, plus 1 ms (cells are milliseconds) for tiny values.
            if is_quantile(key) && (u - v).abs() <= 0.05 * big + 1.0 {
                q.0 += 1;
                q.1 = q.1.max(rel);
            } else {
                out.push(format!("{path}: {a} on one server, {b} on the cluster"));
            }
        }
        _ if a != b => out.push(format!("{path}: {a} on one server, {b} on the cluster")),
        _ => {}
    }
}

/// The alerter's windows (per API from the minute rollup, per client and per upstream from the
/// raw calls), the node readings, and the gateway's shared-quota counts: counts and sums
/// equal, t-digest p95/p99 within the same tolerance as the reports.
async fn other_reads_alike(single: &Store, cluster: &Store) -> Vec<String> {
    use gatewatch_store::{observe, quota};
    let mut out = Vec::new();
    let (from, to) = ((T0 + 86_400) as u32, (T0 + 2 * 86_400) as u32);
    let close = |a: f64, b: f64| (a - b).abs() <= 0.05 * a.abs().max(b.abs()) + 1_000.0;
    let windows = |what: &str, a: Vec<observe::CallWindow>, b: Vec<observe::CallWindow>| {
        let mut d = Vec::new();
        if a.len() != b.len() {
            d.push(format!("{what}: {} rows vs {}", a.len(), b.len()));
        }
        for (x, y) in a.iter().zip(&b) {
            let exact = (&x.key, x.calls, x.failed, x.latency_sum_us)
                == (&y.key, y.calls, y.failed, y.latency_sum_us);
            if !exact || !close(x.p95_us, y.p95_us) || !close(x.p99_us, y.p99_us) {
                d.push(format!("{what}: {x:?} on one server, {y:?} on the cluster"));
            }
        }
        d
    };
    match (
        observe::api_windows(single, from, to).await,
        observe::api_windows(cluster, from, to).await,
    ) {
        (Ok(a), Ok(b)) => out.extend(windows("api_windows", a, b)),
        (a, b) => out.push(format!("api_windows: {a:?} vs {b:?}")),
    }
    match (
        observe::client_windows(single, from, to).await,
        observe::client_windows(cluster, from, to).await,
    ) {
        (Ok(a), Ok(b)) => out.extend(windows("client_windows", a, b)),
        (a, b) => out.push(format!("client_windows: {a:?} vs {b:?}")),
    }
    let pairs = [
        (
            "upstream_windows",
            format!("{:?}", observe::upstream_windows(single, T0 as u32).await),
            format!("{:?}", observe::upstream_windows(cluster, T0 as u32).await),
        ),
        (
            "latest_node_readings",
            format!(
                "{:?}",
                observe::latest_node_readings(single, T0 as u32).await
            ),
            format!(
                "{:?}",
                observe::latest_node_readings(cluster, T0 as u32).await
            ),
        ),
        (
            "node_last_seen",
            format!("{:?}", observe::node_last_seen(single, T0 as u32).await),
            format!("{:?}", observe::node_last_seen(cluster, T0 as u32).await),
        ),
    ];
    for (what, a, b) in pairs {
        if a != b || a.starts_with("Err") {
            out.push(format!("{what}: {a} on one server, {b} on the cluster"));
        }
    }
    let day = 86_400;
    let bounds = [
        (T0, T0 + day),
        (T0 + day, T0 + 2 * day),
        (T0 + 3_600, T0 + 7_200),
        (T0, T0 + 4 * day),
    ];
    for node in ["gw-1", "gw-3"] {
        let a = format!(
            "{:?}",
            quota::client_calls(single, node, "c2", bounds).await
        );
        let b = format!(
            "{:?}",
            quota::client_calls(cluster, node, "c2", bounds).await
        );
        if a != b || a.starts_with("Err") {
            out.push(format!(
                "quota::client_calls {node}: {a} on one server, {b} on the cluster"
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_answers_alike_on_the_cluster_and_on_one_server() {
    let cluster = ClusterDb::new("reports_parity").await;
    let single = gatewatch_migrations::testing::migrated_store("c_reports_parity").await;
    let (calls, samples) = (calls(), node_samples());
    load(&single, &calls, &samples).await;
    load(&cluster.store, &calls, &samples).await;
    // The Distributed table sends each shard its rows in the background; the shards' views
    // fill the rollups as the rows arrive.
    for t in ["api_calls", "api_calls_1m", "api_calls_1h", "client_api_1h"] {
        let sql = if t == "api_calls" {
            "SELECT count() FROM api_calls".to_string()
        } else {
            format!("SELECT toUInt64(countMerge(calls)) FROM {t}")
        };
        cluster.each_reaches(&sql, &[CALLS; 4], 120).await;
        assert_eq!(single.fetch_u64(&sql).await.unwrap(), CALLS, "{sql}");
    }
    cluster
        .each_reaches(
            "SELECT count() FROM node_metrics",
            &[samples.len() as u64; 4],
            60,
        )
        .await;
    cluster
        .each_reaches("SELECT count() FROM config_log", &[2; 4], 60)
        .await;

    let now = Utc
        .timestamp_opt(T0 + 10 * 86_400, 0)
        .single()
        .expect("a time");
    let mut failures = Vec::new();
    let mut quantiles = (0u64, 0f64);
    let mut answered = std::collections::BTreeMap::<&str, (u32, u32)>::new();
    let questions = questions();
    for (kind, q) in &questions {
        let a = answer(&single, *kind, q, now).await;
        let b = answer(&cluster.store, *kind, q, now).await;
        let counts = answered.entry(kind.slug()).or_default();
        if a.is_string() {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
        let mut d = Vec::new();
        diff("", &a, &b, &mut quantiles, &mut d);
        if !d.is_empty() {
            failures.push(format!("{} ?{q}:\n    {}", kind.slug(), d.join("\n    ")));
        }
    }
    // A call's detail, by the id of a call of each shard.
    for c in calls.iter().step_by(997) {
        let q = format!("call_id={}", c.call_id);
        let a = answer(&single, ReportKind::Calls, &q, now).await;
        let b = answer(&cluster.store, ReportKind::Calls, &q, now).await;
        let mut d = Vec::new();
        diff("", &a, &b, &mut quantiles, &mut d);
        if !d.is_empty() {
            failures.push(format!("calls ?{q}:\n    {}", d.join("\n    ")));
        }
    }
    eprintln!(
        "{} questions; answered/refused per report: {answered:?}; quantile cells within tolerance \
         but not equal: {}, largest relative difference {:.4}",
        questions.len(),
        quantiles.0,
        quantiles.1
    );
    // What the alerter, the gateway's shared quota and the config page read, on both.
    failures.extend(other_reads_alike(&single, &cluster.store).await);
    // Every report answered something real (not only refusals) on both.
    for kind in ReportKind::ALL {
        let (ok, _) = answered.get(kind.slug()).copied().unwrap_or_default();
        assert!(ok > 0, "{} was never answered", kind.slug());
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ:\n{}",
        failures.len(),
        questions.len(),
        failures.join("\n")
    );
}
