//! Node groups (issue 19): two gateways of one site in different groups (`edge`, `core`). An
//! API bound to `edge` answers only on the edge gateway (404 `no_route` on core, as if
//! absent), an unbound API and the file's routes on both; moving the API to `core` takes
//! effect at the next poll while calls to the other API on both gateways never fail; each
//! gateway's snapshot holds only its APIs; the node registry shows every role's process with
//! its groups and a gateway's served APIs, and a stopped gateway's last row says `stopping`.

use crate::helpers::*;
use gatewatch_model::EntityKind;
use gatewatch_store::registry::{self, NodeEntry};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `site`'s file with `[gateway] node_groups`, and, when given, another node name and
/// collector.
fn set_groups(site: &Site, groups: &str, node: Option<&str>, collector: Option<&Site>) {
    let path = site.config_path();
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml = toml.replace(
        &format!("admin_listen = \"{}\"\n", site.gateway_admin),
        &format!(
            "admin_listen = \"{}\"\nnode_groups = {groups}\n",
            site.gateway_admin
        ),
    );
    if let Some(node) = node {
        let line = toml.lines().find(|l| l.starts_with("node = ")).unwrap();
        toml = toml.replace(line, &format!("node = \"{node}\""));
    }
    if let Some(other) = collector {
        toml = toml.replace(
            &format!("collector_url = \"http://{}\"", site.collector),
            &format!("collector_url = \"http://{}\"", other.collector),
        );
    }
    assert!(toml.contains("node_groups = "), "{toml}");
    std::fs::write(path, toml).unwrap();
}

fn api(prefix: &str, up: std::net::SocketAddr, groups: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "name": prefix.trim_start_matches('/'),
        "prefix": prefix,
        "upstreams": [format!("http://{up}")],
        "strip_prefix": true,
        "node_groups": groups,
    })
}

/// Status and body of a GET.
async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    match client.get(url).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `url` until it answers `want` (bounded); returns how long that took.
async fn until(client: &reqwest::Client, url: &str, want: u16) -> Duration {
    let t0 = Instant::now();
    loop {
        let (status, _) = get(client, url).await;
        if status == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{url} did not answer {want} within 20 s (last {status})"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The ids in a gateway's snapshot file that are APIs.
fn snapshot_apis(site: &Site) -> Vec<String> {
    let path = site.dir.path().join("data/snapshot/config.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let items: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut ids: Vec<String> = items
        .iter()
        .filter(|i| i["kind"] == "api")
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Polls the registry until `ok` holds for its entries (bounded).
async fn registry_until(
    store: &gatewatch_store::Store,
    what: &str,
    ok: impl Fn(&[NodeEntry]) -> bool,
) -> Vec<NodeEntry> {
    let t0 = Instant::now();
    loop {
        let since = chrono::Utc::now().timestamp_micros() - 120_000_000;
        let entries = registry::list(store, since).await.unwrap_or_default();
        if ok(&entries) {
            return entries;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "registry never showed {what}: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn process<'a>(entries: &'a [NodeEntry], role: &str, instance: &str) -> Option<&'a NodeEntry> {
    entries
        .iter()
        .find(|e| e.role == role && e.instance == instance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_bound_to_a_group_answers_only_there_and_moves_without_failing_other_calls() {
    let up = upstream().await;
    let routes = format!(
        "[[routes]]\nprefix = \"/file\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
    );
    let ch = gatewatch_migrations::testing::clickhouse_url();
    // One site (one database), two gateways: `edge` with every other role, `core` alone.
    let edge = Site::new("node_groups", &ch, &routes);
    let core = Site::new("node_groups", &ch, &routes);
    set_groups(&edge, r#"["edge"]"#, None, None);
    set_groups(
        &core,
        r#"["core"]"#,
        Some("e2e-node_groups-core"),
        Some(&edge),
    );
    let store = edge.migrate().await;
    put_entities(
        &store,
        &[
            change(EntityKind::Api, "bound", api("/bound", up, &["edge"])),
            change(EntityKind::Api, "shared", api("/shared", up, &[])),
        ],
    )
    .await;
    let _collector = edge.start("collector").await;
    let _dashboards = edge.start("dashboards").await;
    let _alerter = edge.start("alerter").await;
    let _reports = edge.start("reports").await;
    let _edge_gw = edge.start("gateway").await;
    let mut core_gw = core.start("gateway").await;

    let client = reqwest::Client::new();
    // Bound to edge: served there; on core it is absent.
    until(&client, &edge.url("/bound/ok"), 200).await;
    let (status, body) = get(&client, &core.url("/bound/ok")).await;
    assert_eq!(status, 404, "{body}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "no_route", "{body}");
    // Unbound, and the file's route: on both.
    for site in [&edge, &core] {
        for path in ["/shared/ok", "/file/ok"] {
            assert_eq!(get(&client, &site.url(path)).await.0, 200, "{path}");
        }
    }
    assert_eq!(snapshot_apis(&edge), ["bound", "shared"]);
    assert_eq!(snapshot_apis(&core), ["shared"]);

    // Calls to the other API on both gateways, all through the move.
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for url in [edge.url("/shared/ok"), core.url("/shared/ok")] {
        let (stop, calls, failed, client) =
            (stop.clone(), calls.clone(), failed.clone(), client.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = get(&client, &url).await;
                calls.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("{url}: {status} {body}");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Move `bound` to core (a PUT of the API, as the admin API writes it).
    put_entity(
        &store,
        EntityKind::Api,
        "bound",
        &api("/bound", up, &["core"]),
    )
    .await;
    let took = until(&client, &core.url("/bound/ok"), 200).await;
    until(&client, &edge.url("/bound/ok"), 404).await;
    println!(
        "moving an API between node groups took {} ms",
        took.as_millis()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let (calls, failed) = (
        calls.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert!(calls > 50, "only {calls} calls ran during the move");
    assert_eq!(
        failed, 0,
        "{failed} of {calls} calls to the other API failed"
    );

    // The snapshots follow (written right after the swap).
    let t0 = Instant::now();
    while snapshot_apis(&edge) != ["shared"] || snapshot_apis(&core) != ["bound", "shared"] {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "snapshots did not follow"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The registry: every role's process, the gateways with their groups and served APIs.
    let (edge_gw_at, core_gw_at) = (edge.gateway.to_string(), core.gateway.to_string());
    let entries = registry_until(&store, "every role, APIs after the move", |es| {
        let gw = |at: &str| process(es, "gateway", at);
        let others = [
            ("collector", edge.collector),
            ("dashboards", edge.dashboards),
            ("alerter", edge.alerter),
            ("reports", edge.reports),
        ]
        .iter()
        .all(|(role, at)| process(es, role, &at.to_string()).is_some());
        others
            && gw(&edge_gw_at).is_some_and(|e| {
                e.apis.contains(&"shared".to_string()) && !e.apis.contains(&"bound".to_string())
            })
            && gw(&core_gw_at).is_some_and(|e| e.apis.contains(&"bound".to_string()))
    })
    .await;
    let e = process(&entries, "gateway", &edge_gw_at).unwrap();
    assert_eq!(e.node, "e2e-node_groups");
    assert_eq!(e.groups, ["edge"]);
    assert_eq!(
        e.apis,
        ["/file", "shared"],
        "sorted ids, file routes included"
    );
    assert!(e.listen.contains(&edge.gateway_admin.to_string()), "{e:?}");
    assert_eq!(e.version, env!("CARGO_PKG_VERSION"));
    assert!(!e.stopping && e.started_us > 0 && e.heartbeat_us >= e.started_us);
    let c = process(&entries, "gateway", &core_gw_at).unwrap();
    assert_eq!(c.node, "e2e-node_groups-core");
    assert_eq!(c.groups, ["core"]);
    assert_eq!(c.apis, ["/file", "bound", "shared"]);
    for role in ["collector", "dashboards", "alerter", "reports"] {
        let p = entries.iter().find(|e| e.role == role).unwrap();
        assert!(p.groups.is_empty() && p.apis.is_empty(), "{p:?}");
        assert_eq!(p.node, "e2e-node_groups");
    }

    // A clean stop: the gateway's last row says so.
    core_gw.terminate();
    registry_until(&store, "the core gateway stopping", |es| {
        process(es, "gateway", &core_gw_at).is_some_and(|e| e.stopping)
    })
    .await;
    assert!(core_gw.log_text().contains("skipped_other_groups"));
}

/// `[collector] registered_nodes_only` with a real gateway: its first batches may reach the
/// collector before its first heartbeat is seen (403 `node_not_registered`); they wait in its
/// spool and are resent, so every call arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_registered_nodes_only_every_call_of_a_registered_gateway_arrives_once() {
    let up = upstream().await;
    let routes = format!(
        "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
    );
    let site = Site::new(
        "registered_only",
        &gatewatch_migrations::testing::clickhouse_url(),
        &routes,
    );
    let path = site.config_path();
    let toml = std::fs::read_to_string(&path).unwrap().replace(
        "insert_period_ms = 200\n",
        "insert_period_ms = 200\nregistered_nodes_only = true\n",
    );
    std::fs::write(&path, toml).unwrap();
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    const N: usize = 300;
    let statuses = drive(&site.url(""), &["/api/ok"], N, 4, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&N), "{statuses:?}");
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE node = 'e2e-registered_only'",
        N as u64,
        60,
    )
    .await;
    eventually(
        &store,
        "SELECT uniqExact(call_id) FROM api_calls",
        N as u64,
        10,
    )
    .await;
}
