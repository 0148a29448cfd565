//! The Grafana dashboards of `deploy/grafana/dashboards/` against the real ClickHouse (18.16 in
//! CI): every panel's SQL and every template variable's query is expanded as the Grafana
//! ClickHouse plugin (grafana-clickhouse-datasource) expands it, run on a migrated database
//! holding a few calls and node samples, and must answer the columns its panel is drawn from,
//! with the types expected, and rows.
//!
//! Expansion, as the plugin does it:
//! - in the browser, `$__conditionalAll(<condition>, $var)` becomes `1=1` when `All` is chosen
//!   and the condition otherwise; then Grafana's template variables (`${api:singlequote}` is
//!   each value quoted, joined by commas; `$api` the value);
//! - on the plugin's backend (its `pkg/macros`): `$__timeFilter(col)` is `col >= toDateTime(from)
//!   AND col <= toDateTime(to)`, `$__fromTime`/`$__toTime` are `toDateTime(<unix seconds>)`,
//!   `$__interval_s` the interval in whole seconds (at least 1). `$__timeInterval` expands to
//!   `toStartOfInterval`, which ClickHouse 18.16 lacks: panels must not use it (checked).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use gatewatch_migrations::testing::{clickhouse_url, migrated_store};
use serde_json::Value;

/// Columns (name, ClickHouse type) each panel must answer, by dashboard uid and panel title.
/// A panel added to a dashboard without a line here fails the test.
fn expected() -> BTreeMap<(&'static str, &'static str), Vec<(&'static str, &'static str)>> {
    let time_series = |cols: &[(&'static str, &'static str)]| {
        let mut v = vec![("time", "DateTime")];
        v.extend_from_slice(cols);
        v
    };
    let mut m = BTreeMap::new();
    let t = "gatewatch-traffic";
    m.insert((t, "Calls"), vec![("calls", "UInt64")]);
    m.insert((t, "Traffic"), vec![("bytes", "UInt64")]);
    m.insert((t, "Error rate (5xx)"), vec![("error_ratio", "Float64")]);
    m.insert((t, "Active APIs"), vec![("apis", "UInt64")]);
    m.insert(
        (t, "Calls per second"),
        time_series(&[("calls_per_s", "Float64")]),
    );
    m.insert(
        (t, "Calls per second by API"),
        time_series(&[("api_id", "String"), ("calls_per_s", "Float64")]),
    );
    m.insert(
        (t, "Bytes per second"),
        time_series(&[
            ("request_bytes_per_s", "Float64"),
            ("response_bytes_per_s", "Float64"),
        ]),
    );
    m.insert(
        (t, "Calls by node"),
        time_series(&[("node", "String"), ("calls_per_s", "Float64")]),
    );
    m.insert(
        (t, "Busiest APIs"),
        vec![
            ("api_id", "String"),
            ("api_name", "String"),
            ("calls_total", "UInt64"),
            ("errors_5xx", "UInt64"),
            ("avg_latency_ms", "Float64"),
        ],
    );
    let e = "gatewatch-errors";
    m.insert(
        (e, "Calls by status class"),
        time_series(&[("status", "String"), ("calls_per_s", "Float64")]),
    );
    m.insert(
        (e, "Error ratio (4xx, 5xx)"),
        time_series(&[("ratio_4xx", "Float64"), ("ratio_5xx", "Float64")]),
    );
    m.insert(
        (e, "Calls by outcome"),
        time_series(&[("outcome", "String"), ("calls_per_s", "Float64")]),
    );
    m.insert(
        (e, "Failing APIs"),
        vec![
            ("api_id", "String"),
            ("api_name", "String"),
            ("calls_total", "UInt64"),
            ("errors_4xx", "UInt64"),
            ("errors_5xx", "UInt64"),
            ("ratio_5xx", "Float64"),
        ],
    );
    m.insert(
        (e, "Latest failures"),
        vec![
            ("time", "DateTime"),
            ("api_id", "String"),
            ("client_id", "String"),
            ("node", "String"),
            ("method", "String"),
            ("path", "String"),
            ("status", "UInt16"),
            ("outcome", "String"),
            ("error", "String"),
            ("trace_id", "String"),
            ("call_id", "String"),
        ],
    );
    let l = "gatewatch-latency";
    m.insert(
        (l, "Latency percentiles"),
        time_series(&[
            ("q", "Array(Float32)"),
            ("p50_ms", "Float64"),
            ("p95_ms", "Float64"),
            ("p99_ms", "Float64"),
        ]),
    );
    m.insert(
        (l, "p99 by API"),
        time_series(&[("api_id", "String"), ("p99_ms", "Float64")]),
    );
    m.insert(
        (l, "Average latency: upstream and gateway"),
        time_series(&[("upstream_ms", "Float64"), ("gateway_ms", "Float64")]),
    );
    m.insert(
        (l, "Gateway overhead percentiles"),
        time_series(&[
            ("q", "Array(Float32)"),
            ("overhead_p50_us", "Float32"),
            ("overhead_p99_us", "Float32"),
        ]),
    );
    m.insert(
        (l, "Latency by API"),
        vec![
            ("api_id", "String"),
            ("api_name", "String"),
            ("calls", "UInt64"),
            ("q", "Array(Float32)"),
            ("p50_ms", "Float64"),
            ("p95_ms", "Float64"),
            ("p99_ms", "Float64"),
            ("max_ms", "Float64"),
        ],
    );
    let n = "gatewatch-nodes";
    m.insert(
        (n, "Last sample"),
        vec![
            ("node", "String"),
            ("role", "String"),
            ("last_seen", "DateTime"),
            ("cpu_pct", "Float32"),
            ("mem_used_ratio", "Float64"),
            ("queue_depth", "UInt64"),
            ("spool_bytes", "UInt64"),
        ],
    );
    m.insert(
        (n, "CPU"),
        time_series(&[("node", "String"), ("cpu_pct", "Float64")]),
    );
    m.insert(
        (n, "Memory used"),
        time_series(&[("node", "String"), ("mem_used_ratio", "Float64")]),
    );
    m.insert(
        (n, "Disk used"),
        time_series(&[("disk", "String"), ("disk_used_ratio", "Float64")]),
    );
    m.insert(
        (n, "Process memory (RSS)"),
        time_series(&[("process", "String"), ("rss_bytes", "UInt64")]),
    );
    m.insert(
        (n, "Record queue and spool"),
        time_series(&[
            ("node", "String"),
            ("queue_depth", "UInt64"),
            ("spool_batches", "UInt64"),
        ]),
    );
    m.insert(
        (n, "Records dropped"),
        time_series(&[("node", "String"), ("records_dropped", "UInt64")]),
    );
    m
}

/// What the dashboard's variables are set to for one run.
#[derive(Clone, Copy)]
enum Choice {
    /// `All`: `$__conditionalAll(...)` is `1=1`.
    All,
    /// One value picked (the first API or node of the seeded rows).
    One,
}

/// The time range and interval Grafana would send.
struct Range {
    from: i64,
    to: i64,
    interval_s: u64,
}

/// `sql` expanded as Grafana and the ClickHouse plugin expand it (see the module doc).
fn expand(sql: &str, vars: &BTreeMap<String, Vec<String>>, choice: Choice, r: &Range) -> String {
    assert!(
        !sql.contains("$__timeInterval"),
        "$__timeInterval becomes toStartOfInterval, which ClickHouse 18.16 lacks: {sql}"
    );
    // 1. $__conditionalAll (the plugin's frontend, before variables are replaced)
    let mut out = sql.to_string();
    while let Some(at) = out.find("$__conditionalAll(") {
        let open = at + "$__conditionalAll".len();
        let close = matching_paren(&out, open);
        let args = &out[open + 1..close];
        let comma = top_level_comma(args).expect("$__conditionalAll takes two arguments");
        let (cond, var) = (args[..comma].trim(), args[comma + 1..].trim());
        let name = var
            .trim_start_matches('$')
            .trim_matches(|c| c == '{' || c == '}');
        assert!(vars.contains_key(name), "unknown variable {var} in {sql}");
        let with = match choice {
            Choice::All => "1=1".to_string(),
            Choice::One => cond.to_string(),
        };
        out.replace_range(at..=close, &with);
    }
    // 2. template variables (Grafana)
    for (name, values) in vars {
        let picked: Vec<&String> = match choice {
            Choice::All => values.iter().collect(),
            Choice::One => values.iter().take(1).collect(),
        };
        let quoted = picked
            .iter()
            .map(|v| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(",");
        out = out.replace(&format!("${{{name}:singlequote}}"), &quoted);
        let plain = picked
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        out = out.replace(&format!("${{{name}}}"), &plain);
        out = out.replace(&format!("${name}"), &plain);
    }
    // 3. the plugin's backend macros
    while let Some(at) = out.find("$__timeFilter(") {
        let open = at + "$__timeFilter".len();
        let close = matching_paren(&out, open);
        let col = out[open + 1..close].trim().to_string();
        let with = format!(
            "{col} >= toDateTime({}) AND {col} <= toDateTime({})",
            r.from, r.to
        );
        out.replace_range(at..=close, &with);
    }
    out = out
        .replace("$__fromTime", &format!("toDateTime({})", r.from))
        .replace("$__toTime", &format!("toDateTime({})", r.to))
        .replace("$__interval_s", &r.interval_s.max(1).to_string());
    assert!(!out.contains('$'), "left unexpanded: {out}");
    out
}

fn matching_paren(s: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses: {s}");
}

fn top_level_comma(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => depth -= 1,
            ',' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Columns (name, type) and row count of `sql` run with `FORMAT JSON` on `database`.
async fn run(
    http: &reqwest::Client,
    database: &str,
    sql: &str,
) -> Result<(Vec<(String, String)>, u64), String> {
    let resp = http
        .post(clickhouse_url())
        .query(&[("database", database)])
        .body(format!("{sql}\nFORMAT JSON"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(text);
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let meta = v["meta"]
        .as_array()
        .ok_or("no meta")?
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok((meta, v["rows"].as_u64().unwrap_or(0)))
}

async fn exec(http: &reqwest::Client, database: &str, sql: &str) {
    let resp = http
        .post(clickhouse_url())
        .query(&[("database", database)])
        .body(sql.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(status.is_success(), "{sql}: {}", resp.text().await.unwrap());
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A few calls (two APIs, two nodes, successes, a 404 refusal, a 502) and node samples (two
/// nodes, a gateway and a collector, with two mounts), in the last 20 minutes.
async fn seed(http: &reqwest::Client, db: &str, now: i64) {
    let mut values = Vec::new();
    let calls = [
        ("orders", "Orders", "gw-1", 200, "ok", 12_000, 10_000),
        ("orders", "Orders", "gw-2", 200, "ok", 30_000, 28_000),
        (
            "orders",
            "Orders",
            "gw-1",
            502,
            "upstream_error",
            3_000,
            2_500,
        ),
        ("payments", "Payments", "gw-2", 200, "ok", 80_000, 79_000),
        ("payments", "Payments", "gw-1", 401, "refused_auth", 500, 0),
        (
            "payments", "Payments", "gw-2", 504, "timeout", 30_000_000, 30_000_000,
        ),
    ];
    for (i, (api, name, node, status, outcome, latency, upstream)) in calls.iter().enumerate() {
        let ts = now - 60 * (i as i64 + 1) * 3;
        values.push(format!(
            "('{id}', 'req-{i}', toDateTime({ts}), {ts_us}, '{node}', '{api}', '{name}', \
             'GET', '/{api}/{i}', 'client-a', {status}, '{outcome}', {latency}, {upstream}, {overhead}, \
             120, 2048, '4bf92f3577b34da6a3ce929d0e0e47{i:02}', '00f067aa0ba902b{i}')",
            id = uuid::Uuid::new_v4(),
            ts_us = ts * 1_000_000,
            overhead = latency - upstream,
        ));
    }
    exec(
        http,
        db,
        &format!(
            "INSERT INTO api_calls (call_id, request_id, ts, ts_us, node, api_id, api_name, method, \
             path, client_id, status, outcome, latency_us, upstream_latency_us, overhead_us, \
             request_bytes, response_bytes, trace_id, span_id) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    let mut samples = Vec::new();
    for (node, role) in [
        ("gw-1", "gateway"),
        ("gw-2", "gateway"),
        ("col-1", "collector"),
    ] {
        for k in 0..3 {
            let ts = now - 300 * (k + 1);
            samples.push(format!(
                "(toDateTime({ts}), {ts_us}, '{node}', '{role}', {cpu}, 4000000000, 8000000000, \
                 300000000, ['/', '/var'], [10000000000, 2000000000], [50000000000, 40000000000], \
                 '{id}', {k}, 0, {k}, 0)",
                id = uuid::Uuid::new_v4(),
                ts_us = ts * 1_000_000,
                cpu = 10 + k * 7,
            ));
        }
    }
    exec(
        http,
        db,
        &format!(
            "INSERT INTO node_metrics (ts, ts_us, node, role, cpu_pct, mem_used_bytes, \
             mem_total_bytes, rss_bytes, mount, disk_used_bytes, disk_total_bytes, batch_id, \
             queue_depth, spool_bytes, spool_batches, records_dropped) VALUES {}",
            samples.join(", ")
        ),
    )
    .await;
}

#[tokio::test]
async fn every_panel_query_runs_on_clickhouse_and_answers_its_columns() {
    let store = migrated_store("grafana_panels").await;
    let db = store.database().to_string();
    let http = reqwest::Client::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    seed(&http, &db, now).await;

    let expected = expected();
    let mut seen = Vec::new();
    let mut ran = 0;
    for (path, dash) in dashboards() {
        let uid = dash["uid"].as_str().expect("a dashboard has a uid");
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        // The variables' values come from their own queries, as Grafana gets them.
        let range = Range {
            from: now - 6 * 3600,
            to: now,
            interval_s: 30,
        };
        let mut vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let empty = BTreeMap::new();
        for v in dash["templating"]["list"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap().to_string();
            let sql = v["query"]["rawSql"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: variable {name} has no rawSql"));
            assert_eq!(
                v["datasource"]["type"], "grafana-clickhouse-datasource",
                "{file}: variable {name}"
            );
            let q = expand(sql, &empty, Choice::All, &range);
            let (cols, rows) = run(&http, &db, &q)
                .await
                .unwrap_or_else(|e| panic!("{file}: variable {name}: {e}\n{q}"));
            assert_eq!(cols.len(), 1, "{file}: variable {name} answers one column");
            assert_eq!(cols[0].1, "String", "{file}: variable {name}");
            assert!(rows > 0, "{file}: variable {name} found no values");
            let q = format!("SELECT groupArray({}) AS v FROM ({q})", cols[0].0);
            let resp = http
                .post(clickhouse_url())
                .query(&[("database", db.as_str())])
                .body(format!("{q} FORMAT JSON"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let got: Value = serde_json::from_str(&resp).unwrap();
            let values: Vec<String> = got["data"][0]["v"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            vars.insert(name, values);
        }
        for p in dash["panels"].as_array().expect("panels") {
            let title = p["title"].as_str().unwrap();
            assert_eq!(
                p["datasource"]["type"], "grafana-clickhouse-datasource",
                "{file}: {title}"
            );
            let want = expected
                .get(&(uid, title))
                .unwrap_or_else(|| panic!("{file}: panel {title:?} has no expected columns here"));
            seen.push((uid.to_string(), title.to_string()));
            for t in p["targets"].as_array().expect("targets") {
                let sql = t["rawSql"].as_str().expect("rawSql");
                assert_eq!(t["editorType"], "sql", "{file}: {title}");
                for choice in [Choice::All, Choice::One] {
                    for interval_s in [1, 30, 300, 3600] {
                        let range = Range {
                            from: now - 6 * 3600,
                            to: now,
                            interval_s,
                        };
                        let q = expand(sql, &vars, choice, &range);
                        let (cols, rows) = run(&http, &db, &q)
                            .await
                            .unwrap_or_else(|e| panic!("{file}: {title}: {e}\n{q}"));
                        let cols: Vec<(&str, &str)> =
                            cols.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
                        assert_eq!(&cols, want, "{file}: {title}\n{q}");
                        assert!(rows > 0, "{file}: {title} answered no rows\n{q}");
                        ran += 1;
                    }
                }
                // A time series needs its time first, for the plugin to draw it.
                if t["queryType"] == "timeseries" {
                    assert_eq!(want[0], ("time", "DateTime"), "{file}: {title}");
                }
            }
        }
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|(u, t)| !seen.iter().any(|(su, st)| su == u && st == t))
        .collect();
    assert!(
        missing.is_empty(),
        "panels expected but not found: {missing:?}"
    );
    println!("grafana: {} panels, {ran} queries ran", seen.len());
}

#[test]
fn the_datasource_is_provisioned_in_the_plugins_format() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/provisioning");
    let ds = std::fs::read_to_string(dir.join("datasources/gatewatch-clickhouse.yaml")).unwrap();
    for needle in [
        "apiVersion: 1",
        "type: grafana-clickhouse-datasource",
        "uid: gatewatch-clickhouse",
        "protocol: http",
        "port: 8123",
        "username:",
        "defaultDatabase: gatewatch",
        "secureJsonData:",
        "password:",
    ] {
        assert!(ds.contains(needle), "datasource file lacks {needle:?}");
    }
    let provider = std::fs::read_to_string(dir.join("dashboards/gatewatch.yaml")).unwrap();
    for needle in ["apiVersion: 1", "type: file", "path:"] {
        assert!(
            provider.contains(needle),
            "dashboard provider lacks {needle:?}"
        );
    }
    // Every panel points at the provisioned data source.
    for (path, dash) in dashboards() {
        for p in dash["panels"].as_array().unwrap() {
            assert_eq!(
                p["datasource"]["uid"],
                "gatewatch-clickhouse",
                "{}",
                path.display()
            );
        }
    }
}
