//! Every role's `/metrics` and `/readyz` from the real binary: the text is parsed by a small
//! parser of the Prometheus text format written here (independent of the encoder) and held to
//! the format's rules (every sample in a typed family, no series twice, histogram buckets
//! cumulative up to `+Inf` = `_count`); the common series (`gatewatch_up`,
//! `gatewatch_build_info`, `process_*`) are on every role; calls through the gateway show up in
//! their API's series; the collector's ingest histograms count what it took. The alerter is
//! ready once its rules are loaded and says why not before; the reports role is ready while its
//! scheduler ticks.

use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One answer: status, Content-Type, body.
async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = hyper::Request::get(format!("http://{addr}{path}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8_lossy(&body).into_owned())
}

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: the families' types and the samples.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

/// Parses the Prometheus text format (0.0.4; `# EOF` of OpenMetrics is allowed as a comment),
/// panicking on a line it cannot read.
fn parse(text: &str) -> Exposition {
    let mut e = Exposition::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(
                e.types.insert(name.into(), kind.into()).is_none(),
                "{name} typed twice"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => (
                name.to_string(),
                parse_labels(rest.strip_suffix('}').expect(line), line),
            ),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        e.samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    e
}

/// `a="x",b="y\"z"` → map, with the format's escapes (`\\`, `\"`, `\n`).
fn parse_labels(s: &str, line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next().expect(line) {
                '\\' => match chars.next().expect(line) {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        assert!(
            out.insert(key.trim().to_string(), value).is_none(),
            "{line}"
        );
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => panic!("unexpected {c:?} in {line}"),
        }
    }
    out
}

impl Exposition {
    /// The type of the family a sample belongs to, by its name and the declared types.
    fn family_of(&self, name: &str) -> Option<&str> {
        if let Some(k) = self.types.get(name) {
            return Some(k);
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(k) = self.types.get(base) {
                    if k == "histogram" {
                        return Some(k);
                    }
                }
            }
        }
        None
    }

    /// The format's rules: every sample typed, no series twice, counters not negative,
    /// histograms' buckets cumulative with `+Inf` equal to `_count`.
    fn check(&self) {
        let mut seen = HashSet::new();
        for s in &self.samples {
            let kind = self
                .family_of(&s.name)
                .unwrap_or_else(|| panic!("{} has no # TYPE", s.name));
            assert!(
                seen.insert((s.name.clone(), s.labels.clone())),
                "{} {:?} twice",
                s.name,
                s.labels
            );
            if kind == "counter" {
                assert!(s.name.ends_with("_total"), "counter sample {}", s.name);
                assert!(s.value >= 0.0, "{} {}", s.name, s.value);
            }
        }
        for (name, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            // Each series of the histogram: its labels without `le`.
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{name}_bucket"))
            {
                let mut l = s.labels.clone();
                let le = l.remove("le").expect("bucket without le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                series.entry(l).or_default().push((le, s.value));
            }
            for (labels, buckets) in series {
                let mut last = (f64::NEG_INFINITY, 0.0);
                for b in &buckets {
                    assert!(
                        b.0 > last.0 && b.1 >= last.1,
                        "{name} {labels:?}: {buckets:?}"
                    );
                    last = *b;
                }
                assert_eq!(last.0, f64::INFINITY, "{name} {labels:?} has no +Inf");
                let count = self.value(&format!("{name}_count"), &labels);
                assert_eq!(Some(last.1), count, "{name} {labels:?}: +Inf vs _count");
                assert!(
                    self.value(&format!("{name}_sum"), &labels).is_some(),
                    "{name} {labels:?} has no _sum"
                );
            }
        }
    }

    fn value(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && &s.labels == labels)
            .map(|s| s.value)
    }

    /// The value of `name` with exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let l = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.value(name, &l)
    }
}

/// Scrapes `addr`'s `/metrics`, checks the text and the series every role has.
async fn scrape(addr: SocketAddr, role: &str) -> Exposition {
    let (status, ctype, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200, "{role}: {body}");
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8", "{role}");
    let e = parse(&body);
    e.check();
    assert_eq!(
        e.get("gatewatch_up", &[("role", role)]),
        Some(1.0),
        "{role}"
    );
    let build = e
        .samples
        .iter()
        .find(|s| s.name == "gatewatch_build_info")
        .unwrap_or_else(|| panic!("{role}: no gatewatch_build_info"));
    assert_eq!(build.value, 1.0);
    assert_eq!(build.labels["role"], role);
    assert!(!build.labels["version"].is_empty());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let one = |n: &str| e.get(n, &[]).unwrap_or_else(|| panic!("{role}: no {n}"));
    assert!(one("process_resident_memory_bytes") > 1e6, "{role}");
    assert!(one("process_virtual_memory_bytes") > 1e6, "{role}");
    assert!(one("process_open_fds") >= 3.0, "{role}");
    assert!(one("process_max_fds") >= one("process_open_fds"), "{role}");
    assert!(one("process_threads") >= 1.0, "{role}");
    assert!(one("process_cpu_seconds_total") >= 0.0, "{role}");
    let start = one("process_start_time_seconds");
    assert!(
        start > now - 3600.0 && start <= now + 1.0,
        "{role}: {start}"
    );
    e
}

/// Scrapes until `f` holds (up to `secs`).
async fn scrape_until(
    addr: SocketAddr,
    role: &str,
    secs: u64,
    mut f: impl FnMut(&Exposition) -> bool,
) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let e = scrape(addr, role).await;
        if f(&e) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{role}: not within {secs} s: {:?}",
            e.samples
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for `/readyz` of `addr` to answer `want`; the last answer.
async fn readyz_until(addr: SocketAddr, want: u16, secs: u64) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, _, body) = get(addr, "/readyz", None).await;
        if status == want || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_serves_valid_metrics_and_the_gateways_calls_show_per_api() {
    let up = upstream().await;
    let site = Site::new(
        "metrics_roles",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/orders\"\nstrip_prefix = true\napi_id = \"orders\"\nupstreams = [\"http://{up}\"]\n"
        ),
    );
    site.tune("alerter", "eval_interval_ms = 300");
    site.migrate().await;
    let proc = site.start_args(&["up"]).await;

    // 5 ok, 2 answered 404 by the upstream, 1 answered 500, 2 matching no API.
    let calls = drive(
        &site.url(""),
        &[
            "/orders/ok",
            "/orders/ok",
            "/orders/missing",
            "/orders/ok",
            "/orders/fail",
            "/nothing/here",
            "/orders/ok",
            "/orders/missing",
            "/orders/ok",
            "/nothing/else",
        ],
        10,
        1,
        Duration::ZERO,
    )
    .await;
    assert_eq!(calls[&200], 5, "{calls:?}");

    let gw = scrape(site.gateway_admin, "gateway").await;
    let api = |outcome, class| {
        gw.get(
            "gatewatch_gateway_api_requests_total",
            &[("api", "orders"), ("outcome", outcome), ("class", class)],
        )
    };
    assert_eq!(api("ok", "2xx"), Some(5.0));
    assert_eq!(api("client_error", "4xx"), Some(2.0));
    assert_eq!(api("upstream_error", "5xx"), Some(1.0));
    assert_eq!(
        api("timeout", "5xx"),
        None,
        "pairs never seen are not shown"
    );
    assert_eq!(
        gw.get(
            "gatewatch_gateway_api_requests_total",
            &[("api", "(none)"), ("outcome", "no_route"), ("class", "4xx")]
        ),
        Some(2.0)
    );
    for (h, api, n) in [
        (
            "gatewatch_gateway_api_request_duration_seconds",
            "orders",
            8.0,
        ),
        (
            "gatewatch_gateway_api_upstream_duration_seconds",
            "orders",
            8.0,
        ),
        ("gatewatch_gateway_api_overhead_seconds", "orders", 8.0),
        (
            "gatewatch_gateway_api_request_duration_seconds",
            "(none)",
            2.0,
        ),
        (
            "gatewatch_gateway_api_upstream_duration_seconds",
            "(none)",
            0.0,
        ),
    ] {
        assert_eq!(gw.types.get(h).map(String::as_str), Some("histogram"));
        assert_eq!(
            gw.get(&format!("{h}_count"), &[("api", api)]),
            Some(n),
            "{h} {api}"
        );
    }
    let upstream_s = gw
        .get(
            "gatewatch_gateway_api_upstream_duration_seconds_sum",
            &[("api", "orders")],
        )
        .unwrap();
    let overhead_s = gw
        .get(
            "gatewatch_gateway_api_overhead_seconds_sum",
            &[("api", "orders")],
        )
        .unwrap();
    let total_s = gw
        .get(
            "gatewatch_gateway_api_request_duration_seconds_sum",
            &[("api", "orders")],
        )
        .unwrap();
    assert!(
        upstream_s > 0.0 && overhead_s > 0.0,
        "{upstream_s} {overhead_s}"
    );
    assert!(
        (upstream_s + overhead_s - total_s).abs() < 1e-3,
        "{upstream_s} + {overhead_s} vs {total_s}"
    );
    println!(
        "8 calls of /orders: {:.2} ms upstream, {:.3} ms gateway overhead on average (printed, not asserted)",
        upstream_s / 8.0 * 1e3,
        overhead_s / 8.0 * 1e3
    );
    // The names scraped before prometheus-client stay.
    assert_eq!(
        gw.get("gatewatch_gateway_requests_total", &[("outcome", "ok")]),
        Some(5.0)
    );
    assert_eq!(gw.types["gatewatch_gateway_requests_total"], "counter");
    assert!(gw.get("gatewatch_gateway_queue_capacity", &[]).unwrap() > 0.0);

    // The collector: the 10 records arrive in batches, are inserted, and the histograms say so.
    let col = scrape_until(site.collector, "collector", 20, |e| {
        e.get(
            "gatewatch_collector_batch_records_sum",
            &[("kind", "calls")],
        ) == Some(10.0)
            && e.get("gatewatch_collector_rows_inserted_total", &[])
                .unwrap_or(0.0)
                >= 10.0
    })
    .await;
    assert!(
        col.get(
            "gatewatch_collector_batch_records_count",
            &[("kind", "calls")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        col.get("gatewatch_collector_batch_bytes_sum", &[("kind", "calls")])
            .unwrap()
            > 1000.0
    );
    assert!(
        col.get("gatewatch_collector_insert_duration_seconds_count", &[])
            .unwrap()
            >= 1.0
    );
    assert!(col.get("gatewatch_collector_insert_rows_sum", &[]).unwrap() >= 10.0);
    assert_eq!(
        col.get(
            "gatewatch_collector_requests_total",
            &[("result", "unauthorized")]
        ),
        Some(0.0)
    );

    // The alerter holds the lease, its (no) rules loaded from ClickHouse: ready.
    let (status, body) = readyz_until(site.alerter, 200, 20).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let al = scrape(site.alerter, "alerter").await;
    assert_eq!(al.get("gatewatch_alerter_rules_loaded", &[]), Some(1.0));
    assert_eq!(al.get("gatewatch_alerter_ready", &[]), Some(1.0));
    assert!(al
        .get(
            "gatewatch_alerter_notifications_total",
            &[("result", "sent")]
        )
        .is_some());
    // OpenMetrics for a scraper that asks for it.
    let (status, ctype, body) = get(
        site.alerter,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ctype,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        body.contains("# TYPE gatewatch_alerter_evaluations counter\n"),
        "{body}"
    );

    // The reports scheduler ticks (every 500 ms here): ready.
    let (status, _) = readyz_until(site.reports, 200, 20).await;
    assert_eq!(status, 200);
    let first = scrape(site.reports, "reports")
        .await
        .get("gatewatch_reports_scheduler_ticks_total", &[])
        .unwrap();
    scrape_until(site.reports, "reports", 10, |e| {
        e.get("gatewatch_reports_scheduler_ticks_total", &[])
            .unwrap()
            > first
    })
    .await;

    let dash = scrape(site.dashboards, "dashboards").await;
    assert!(dash.get("gatewatch_dashboards_config_rows", &[]).is_some());
    assert_eq!(
        dash.get("gatewatch_dashboards_password_checks_refused_total", &[]),
        Some(0.0)
    );
    drop(proc);
}

/// A TCP gate in front of the real ClickHouse: closed, it drops every connection (and cuts the
/// open ones), as a server that went away; open, it relays.
struct Gate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Gate {
    async fn start(to: SocketAddr) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (o, c) = (open.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let mut cut = c.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Gate { addr, open, cut }
    }

    fn set(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
        if !open {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerter_is_ready_once_its_rules_are_loaded_and_says_why_not_before() {
    let ch: SocketAddr = gatewatch_migrations::testing::clickhouse_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let gate = Gate::start(ch).await;
    let site = Site::new("metrics_ready", &format!("http://{}", gate.addr), "");
    site.tune("alerter", "eval_interval_ms = 300\nlease_ttl_ms = 3000");
    let store = site.migrate().await;
    let rule = serde_json::json!({"name": "CPU", "severity": "warning",
        "kind": {"type": "node_cpu"}, "threshold": 90, "for_secs": 60,
        "recipients": {"emails": ["ops@example.tw"]}});
    put_entity(&store, gatewatch_model::EntityKind::AlertRule, "cpu", &rule).await;

    // ClickHouse away and no snapshot yet: alive, not ready, and the answer says why.
    gate.set(false);
    let mut alerter = site.start("alerter").await;
    let (status, body) = readyz_until(site.alerter, 503, 10).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = readyz_until(site.alerter, 200, 2).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ClickHouse does not answer"), "{body}");
    let e = scrape(site.alerter, "alerter").await;
    assert_eq!(e.get("gatewatch_alerter_ready", &[]), Some(0.0));
    assert_eq!(e.get("gatewatch_alerter_rules_loaded", &[]), Some(0.0));
    assert_eq!(e.get("gatewatch_alerter_clickhouse_up", &[]), Some(0.0));

    // ClickHouse answers: the lease is taken, the rule loaded (and written to the snapshot).
    gate.set(true);
    let (status, body) = readyz_until(site.alerter, 200, 20).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ok"),
        "{}",
        alerter.log_text()
    );
    let e = scrape(site.alerter, "alerter").await;
    assert_eq!(e.get("gatewatch_alerter_rules", &[]), Some(1.0));
    assert_eq!(e.get("gatewatch_alerter_rules_loaded", &[]), Some(1.0));
    assert_eq!(e.get("gatewatch_alerter_lease_held", &[]), Some(1.0));

    // ClickHouse away again: the holder keeps evaluating from its snapshot, still ready.
    gate.set(false);
    scrape_until(site.alerter, "alerter", 10, |e| {
        e.get("gatewatch_alerter_clickhouse_up", &[]) == Some(0.0)
    })
    .await;
    let (status, _, body) = get(site.alerter, "/readyz", None).await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    // Restarted while ClickHouse is away: the rules come from the snapshot, but a process
    // that cannot take the lease does not evaluate, and says so.
    alerter.kill();
    let _alerter = site.start("alerter").await;
    let (status, body) = readyz_until(site.alerter, 503, 10).await;
    assert_eq!(status, 503, "{body}");
    let e = scrape_until(site.alerter, "alerter", 10, |e| {
        e.get("gatewatch_alerter_rules", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(e.get("gatewatch_alerter_rules_loaded", &[]), Some(1.0));
    assert!(body.contains("standby"), "{body}");
}
