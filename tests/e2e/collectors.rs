//! Several collectors (`[gateway] collector_urls`): one gateway, two collectors on one
//! ClickHouse database, each with its own data directory and port. The collector the gateway
//! is using is killed under load, one answers 503 with `Retry-After`, all are down; every
//! time the rows are counted: rows = distinct call ids = calls answered.

use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

const COUNT: &str = "SELECT count() FROM api_calls";
const DISTINCT: &str = "SELECT uniqExact(call_id) FROM api_calls";

/// A gateway site named `name` whose `/api` goes to an in-process upstream, and a second
/// site of the same name (so the same database) whose only use is its collector: another
/// port, another `data_dir` (WAL), the same configuration otherwise. The gateway lists
/// `collectors` (`{a}` and `{b}` stand for the two collectors' addresses) with
/// `collector_order = order`.
async fn two_collector_sites(name: &str, collectors: &[&str], order: &str) -> (Site, Site) {
    let up = upstream().await;
    let routes = format!(
        "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
    );
    let ch = gatewatch_migrations::testing::clickhouse_url();
    let a = Site::new(name, &ch, &routes);
    let b = Site::new(name, &ch, "");
    assert_eq!(a.database, b.database);
    let list: Vec<String> = collectors
        .iter()
        .map(|c| {
            let url = c
                .replace("{a}", &format!("http://{}", a.collector))
                .replace("{b}", &format!("http://{}", b.collector));
            format!("\"{url}\"")
        })
        .collect();
    let cfg = std::fs::read_to_string(a.config_path()).unwrap();
    let single = format!("collector_url = \"http://{}\"\n", a.collector);
    assert!(cfg.contains(&single));
    let cfg = cfg.replace(
        &single,
        &format!(
            "collector_urls = [{}]\ncollector_order = \"{order}\"\n",
            list.join(", ")
        ),
    );
    std::fs::write(a.config_path(), cfg).unwrap();
    // One site, one pepper (the ingest token is derived from it): the second collector reads
    // the first site's file, as an operator copies it to every machine.
    let mut cfg = std::fs::read_to_string(b.config_path()).unwrap();
    cfg.push_str(&format!(
        "\n[security]\npepper_file = \"{}\"\n",
        a.dir.path().join("data/secret/pepper").display()
    ));
    std::fs::write(b.config_path(), cfg).unwrap();
    (a, b)
}

/// Calls on `/api/ok` from 6 client loops until `stop`; the answers by status.
fn client_loop(
    site: &Site,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<std::collections::HashMap<u16, usize>> {
    let uri: hyper::Uri = site.url("/api/ok").parse().unwrap();
    tokio::spawn(async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut workers = Vec::new();
        for _ in 0..6 {
            let (client, uri, stop, answered) =
                (client.clone(), uri.clone(), stop.clone(), answered.clone());
            workers.push(tokio::spawn(async move {
                let mut statuses = std::collections::HashMap::new();
                while !stop.load(Relaxed) {
                    let status = match client.get(uri.clone()).await {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            let _ = r.into_body().collect().await;
                            s
                        }
                        Err(_) => 0,
                    };
                    if status == 200 {
                        answered.fetch_add(1, Relaxed);
                    }
                    *statuses.entry(status).or_insert(0) += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                statuses
            }));
        }
        let mut all = std::collections::HashMap::new();
        for w in workers {
            for (s, n) in w.await.unwrap() {
                *all.entry(s).or_insert(0) += n;
            }
        }
        all
    })
}

async fn metrics(site: &Site) -> String {
    reqwest::get(site.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample `name{collector="url"}` (0 when absent).
fn sample(text: &str, name: &str, url: &str) -> u64 {
    let head = format!("{name}{{collector=\"{url}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the gateway reports one collector in use; its URL.
async fn in_use(site: &Site, urls: &[String]) -> String {
    for _ in 0..300 {
        let text = metrics(site).await;
        if let Some(u) = urls
            .iter()
            .find(|u| sample(&text, "gatewatch_gateway_collector_in_use", u) == 1)
        {
            return u.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no collector in use:\n{}", metrics(site).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_in_use_killed_under_load_loses_and_doubles_nothing() {
    let (a, b) = two_collector_sites("collectors_kill", &["{a}", "{b}"], "spread").await;
    let store = a.migrate().await;
    let urls = [
        format!("http://{}", a.collector),
        format!("http://{}", b.collector),
    ];
    let mut col_a = a.start("collector").await;
    let mut col_b = b.start("collector").await;
    let gateway = a.start("gateway").await;
    // Two collectors of one node name on one host share no registry row: each is its own
    // instance (its listen address).
    let q = format!(
        "SELECT uniqExact(instance) FROM node_registry WHERE role = 'collector' AND instance IN ('{}', '{}')",
        a.collector, b.collector
    );
    eventually(&store, &q, 2, 30).await;

    let (stop, answered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let calls = client_loop(&a, stop.clone(), answered.clone());
    // Mid-load: some batches delivered, more coming.
    let used = in_use(&a, &urls).await;
    while answered.load(Relaxed) < 1000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (killed, other) = if used == urls[0] {
        (&mut col_a, &urls[1])
    } else {
        (&mut col_b, &urls[0])
    };
    killed.kill();
    let at_kill = answered.load(Relaxed);
    // Load goes on until the other collector has taken batches sent after the kill.
    for _ in 0..600 {
        let text = metrics(&a).await;
        if sample(&text, "gatewatch_gateway_collector_in_use", other) == 1
            && answered.load(Relaxed) > at_kill + 1500
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Relaxed);
    let statuses = calls.await.unwrap();
    let n = answered.load(Relaxed);
    assert_eq!(statuses.get(&200), Some(&n), "{statuses:?}");
    assert!(n > at_kill, "no call after the kill");

    let text = metrics(&a).await;
    assert_eq!(
        sample(&text, "gatewatch_gateway_collector_in_use", other),
        1,
        "{text}"
    );
    assert!(
        sample(&text, "gatewatch_gateway_collector_failovers_total", &used) >= 1,
        "{text}"
    );
    assert_eq!(
        sample(&text, "gatewatch_gateway_collector_up", &used),
        0,
        "{text}"
    );
    eprintln!(
        "answered {n} calls, {at_kill} before the kill of {used}; failovers {}",
        sample(&text, "gatewatch_gateway_collector_failovers_total", &used)
    );
    let log = gateway.log_text();
    assert!(
        log.contains("failing over to the next collector") && log.contains(&used),
        "{log}"
    );

    // The killed one comes back later: what its WAL held is inserted now, checked against
    // the markers of what the other collector stored.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _back = if used == urls[0] {
        a.start("collector").await
    } else {
        b.start("collector").await
    };
    eventually(&store, COUNT, n as u64, 90).await;
    assert_eq!(store.fetch_u64(DISTINCT).await.unwrap(), n as u64);
    drop(col_a);
    drop(col_b);
}

/// A collector that answers every batch 503 with `Retry-After: 60`, counting them.
async fn busy_collector() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let hits = counted.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let hits = hits.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        hits.fetch_add(1, Relaxed);
                        let mut r = Response::new(Full::new(Bytes::from_static(b"busy\n")));
                        *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        r.headers_mut()
                            .insert("retry-after", hyper::header::HeaderValue::from_static("60"));
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_answering_503_retry_after_sends_the_gateway_to_the_other() {
    let (busy, hits) = busy_collector().await;
    let busy_url = format!("http://{busy}");
    // Listed: the busy one is the primary.
    let (a, b) = two_collector_sites("collectors_busy", &[&busy_url, "{b}"], "listed").await;
    let store = a.migrate().await;
    let _col_b = b.start("collector").await;
    let _gateway = a.start("gateway").await;

    let n = 600;
    let statuses = drive(&a.url(""), &["/api/ok"], n, 4, Duration::from_millis(2)).await;
    assert_eq!(statuses.get(&200), Some(&n), "{statuses:?}");
    eventually(&store, COUNT, n as u64, 60).await;
    assert_eq!(store.fetch_u64(DISTINCT).await.unwrap(), n as u64);
    assert!(
        hits.load(Relaxed) >= 1,
        "the busy collector was never tried"
    );
    let text = metrics(&a).await;
    let other = format!("http://{}", b.collector);
    assert_eq!(
        sample(&text, "gatewatch_gateway_collector_in_use", &other),
        1,
        "{text}"
    );
    assert_eq!(
        sample(&text, "gatewatch_gateway_collector_up", &busy_url),
        0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gatewatch_gateway_collector_failovers_total",
            &busy_url
        ) >= 1,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_collector_down_batches_are_spooled_then_arrive_once() {
    let (a, b) = two_collector_sites("collectors_down", &["{a}", "{b}"], "listed").await;
    let store = a.migrate().await;
    // No collector yet.
    let _gateway = a.start("gateway").await;
    let n = 500;
    let statuses = drive(&a.url(""), &["/api/ok"], n, 4, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&n), "{statuses:?}");
    let urls = [
        format!("http://{}", a.collector),
        format!("http://{}", b.collector),
    ];
    let spooled = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("gatewatch_gateway_spool_batches "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut text = String::new();
    for _ in 0..150 {
        text = metrics(&a).await;
        if spooled(&text) > 0
            && urls
                .iter()
                .all(|u| sample(&text, "gatewatch_gateway_collector_up", u) == 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(spooled(&text) > 0, "{text}");
    // Only the second collector comes back: the spool drains into it, once.
    let _col_b = b.start("collector").await;
    eventually(&store, COUNT, n as u64, 60).await;
    assert_eq!(store.fetch_u64(DISTINCT).await.unwrap(), n as u64);
    let text = metrics(&a).await;
    assert_eq!(
        sample(&text, "gatewatch_gateway_collector_in_use", &urls[1]),
        1,
        "{text}"
    );
    assert_eq!(spooled(&text), 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_collector_urls_stop_the_gateway_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let hundred: Vec<String> = (0..100)
        .map(|i| format!("\"http://127.0.0.1:{}\"", 20000 + i))
        .collect();
    let cases = [
        (
            "collector_urls = [\"http://127.0.0.1:8091\", \"ftp://127.0.0.1:8092\"]".to_string(),
            "gateway.collector_urls[1]",
        ),
        (
            "collector_urls = [\"http://ops:secret@127.0.0.1:8091\"]".to_string(),
            "gateway.collector_urls[0]",
        ),
        (
            "collector_urls = [\"http://127.0.0.1:8091\", \"http://127.0.0.1:8091/\"]".to_string(),
            "gateway.collector_urls[1]",
        ),
        ("collector_urls = []".to_string(), "gateway.collector_urls"),
        (
            format!("collector_urls = [{}]", hundred.join(", ")),
            "gateway.collector_urls",
        ),
        (
            "collector_url = \"http://127.0.0.1:8091\"\ncollector_urls = [\"http://127.0.0.1:8092\"]"
                .to_string(),
            "gateway.collector_urls",
        ),
    ];
    for (i, (lines, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(
            &path,
            format!(
                "data_dir = \"{}\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{lines}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let out = gatewatch(&["gateway"], &path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lines}: {err}");
        assert!(err.contains(want), "{lines}: {err}");
        // A URL's password is not echoed.
        assert!(!err.contains("secret"), "{err}");
    }
}

/// A collector alive but frozen: the one in use is paused (SIGSTOP) under load, not killed.
/// The gateway's send times out, the batch goes to the other collector with the replay mark
/// and is stored there; the paused one, resumed, may still read that request from its socket
/// (or hold it in its log, or in a round already checked): its round reads the markers of every
/// batch, and a round frozen between its check and its insert is checked again, so the copy is
/// skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_in_use_paused_under_load_doubles_nothing() {
    let (a, b) = two_collector_sites("collectors_pause", &["{a}", "{b}"], "spread").await;
    let store = a.migrate().await;
    let urls = [
        format!("http://{}", a.collector),
        format!("http://{}", b.collector),
    ];
    let col_a = a.start("collector").await;
    let col_b = b.start("collector").await;
    let _gateway = a.start("gateway").await;
    let (stop, answered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let calls = client_loop(&a, stop.clone(), answered.clone());
    let used = in_use(&a, &urls).await;
    while answered.load(Relaxed) < 1000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused = if used == urls[0] { &col_a } else { &col_b };
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .arg(sig)
            .arg(paused.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    // Past the gateway's collector_timeout (10 s): the batch in flight fails over.
    for _ in 0..600 {
        if sample(
            &metrics(&a).await,
            "gatewatch_gateway_collector_failovers_total",
            &used,
        ) >= 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal("-CONT");
    stop.store(true, Relaxed);
    let statuses = calls.await.unwrap();
    let n = answered.load(Relaxed);
    assert_eq!(statuses.get(&200), Some(&n), "{statuses:?}");
    eventually(&store, DISTINCT, n as u64, 90).await;
    assert_eq!(store.fetch_u64(COUNT).await.unwrap(), n as u64);
}
