//! `GET /api/v1/nodes` over the node registry (issue 19): heartbeats written with
//! `store::registry::heartbeat` (as every role writes them) next to a gateway's samples, read
//! by each role. A node known only from heartbeats (collector, alerter) is listed without
//! figures; a process whose heartbeats stopped, or that said `stopping`, is `stopped` and
//! comes first; groups are the union of the node's processes' groups; the `role` and `group`
//! filters are checked (422 naming the field); hostile names and long lists come back as
//! plain JSON strings, whole.

use crate::admin::{add_user, Answer, Api};
use crate::helpers::*;
use gatewatch_model::{NodeSample, Role};
use gatewatch_store::registry::{self, NodeEntry};
use gatewatch_store::Store;
use serde_json::{json, Value};

const PW: &str = "correct-horse-battery";
const S: i64 = 1_000_000;
pub const HOSTILE: &str =
    "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>";

async fn get(api: &Api, path: &str) -> Answer {
    api.call("GET", path, None, &[]).await
}

pub fn entry(node: &str, role: &str, instance: &str, groups: &[&str], age_secs: i64) -> NodeEntry {
    let now = chrono::Utc::now().timestamp_micros();
    NodeEntry {
        node: node.into(),
        role: role.into(),
        instance: instance.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        version: "0.1.0".into(),
        listen: vec![instance.into()],
        started_us: now - 3600 * S,
        heartbeat_us: now - age_secs * S,
        apis: vec![],
        stopping: false,
    }
}

/// The live processes: an edge node (a gateway serving two APIs, a collector) and a node with
/// a hostile name whose gateway reports 5000 APIs; heartbeats `age_secs` old.
fn live_entries() -> Vec<NodeEntry> {
    let mut gw = entry("edge-1", "gateway", "10.0.0.1:8080", &["edge", "public"], 1);
    gw.apis = vec!["orders".into(), "pay".into()];
    gw.listen.push("https://0.0.0.0:8443".into());
    let mut evil = entry(HOSTILE, "gateway", "[::1]:8080", &["edge"], 1);
    evil.apis = (0..5000).map(|i| format!("api-{i:04}")).collect();
    evil.version = HOSTILE.into();
    vec![
        gw,
        entry("edge-1", "collector", "10.0.0.1:8091", &[], 1),
        evil,
    ]
}

/// The registry of a small site: the live processes, beating every 2 s as real ones do
/// (until the returned task is aborted), and a core node whose alerter went quiet two
/// minutes ago and whose reports process stopped cleanly (both written once). The edge
/// gateway also samples.
pub async fn write_registry(store: &Store) -> tokio::task::JoinHandle<()> {
    let mut bye = entry("core-1", "reports", "10.0.0.2:8093", &[], 1);
    bye.stopping = true;
    for e in [entry("core-1", "alerter", "10.0.0.2:8092", &[], 120), bye]
        .into_iter()
        .chain(live_entries())
    {
        registry::heartbeat(store, &e).await.unwrap();
    }
    let s = NodeSample {
        ts_us: chrono::Utc::now().timestamp_micros() - 3 * S,
        node: "edge-1".into(),
        role: "gateway".into(),
        cpu_pct: 20.0,
        mem_used_bytes: 1 << 30,
        mem_total_bytes: 4 << 30,
        rss_bytes: 50 << 20,
        disks: vec![],
        backlog: Default::default(),
    };
    insert_node_sample(store, &s).await;
    let store = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            for e in live_entries() {
                let _ = registry::heartbeat(&store, &e).await;
            }
        }
    })
}

/// The listed nodes, but this site's own processes (`e2e-…`, which heartbeat once every
/// role registers itself).
fn names(a: &Answer) -> Vec<String> {
    a.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", a.text))
        .iter()
        .filter_map(|i| i["node"].as_str())
        .filter(|n| !n.starts_with("e2e-"))
        .map(str::to_string)
        .collect()
}

fn item<'a>(a: &'a Answer, node: &str) -> &'a Value {
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["node"] == node)
        .unwrap_or_else(|| panic!("{node} not listed: {}", a.text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_show_the_registry_with_groups_roles_and_stopped_processes() {
    let site = Site::new(
        "nodes_registry",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    let beats = write_registry(&store).await;

    // Who may read nodes: ops and admin; support and managers are refused.
    for role in ["support", "manager"] {
        let api = Api::login(base, &format!("u-{role}"), PW).await;
        let a = get(&api, "/api/v1/nodes").await;
        assert_eq!(a.status, 403, "{role}: {}", a.text);
    }
    let admin = Api::login(base, "u-admin", PW).await;
    for role in ["ops", "admin"] {
        let api = Api::login(base, &format!("u-{role}"), PW).await;
        let a = get(&api, "/api/v1/nodes").await;
        assert_eq!(a.status, 200, "{role}: {}", a.text);
        // core-1 stopped (alerter quiet, reports said goodbye) comes first; then by name.
        assert_eq!(names(&a), ["core-1", HOSTILE, "edge-1"], "{role}");
    }
    let a = get(&admin, "/api/v1/nodes").await;
    assert_eq!(a.body["heartbeat_silent_after_secs"], 15);
    assert!(a.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));

    let core = item(&a, "core-1");
    assert_eq!(core["stopped"], true);
    assert_eq!(core["roles"], json!(["alerter", "reports"]));
    assert_eq!(core["groups"], json!([]));
    // No process of core-1 samples: no figures, but it is listed.
    assert_eq!(core["cpu_pct"], Value::Null);
    assert_eq!(core["disks"], json!([]));
    let procs = core["processes"].as_array().unwrap();
    assert!(procs.iter().all(|p| p["stopped"] == true), "{core}");
    let reports = procs.iter().find(|p| p["role"] == "reports").unwrap();
    assert_eq!(reports["stopping"], true);
    let alerter = procs.iter().find(|p| p["role"] == "alerter").unwrap();
    assert_eq!(alerter["stopping"], false);
    assert!(alerter["age_secs"].as_u64().unwrap() >= 120);

    let edge = item(&a, "edge-1");
    assert_eq!(
        (&edge["stopped"], &edge["silent"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(edge["groups"], json!(["edge", "public"]));
    assert_eq!(edge["roles"], json!(["collector", "gateway"]));
    assert_eq!(edge["cpu_pct"], 20.0);
    let gw = edge["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "gateway")
        .unwrap();
    assert_eq!(gw["instance"], "10.0.0.1:8080");
    assert_eq!(gw["apis"], json!(["orders", "pay"]));
    assert_eq!(
        gw["listen"],
        json!(["10.0.0.1:8080", "https://0.0.0.0:8443"])
    );
    assert_eq!(gw["version"], "0.1.0");
    assert_eq!(gw["registered"], true);
    assert_eq!(gw["rss_bytes"], 50u64 << 20);
    assert!(gw["started"].is_string() && gw["last_heartbeat"].is_string());
    assert!(gw["last_sample"].is_string());
    let col = edge["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "collector")
        .unwrap();
    assert_eq!(col["rss_bytes"], Value::Null);
    assert_eq!(col["apis"], json!([]));

    // Hostile values come back whole, as strings.
    let evil = item(&a, HOSTILE);
    let p = &evil["processes"][0];
    assert_eq!(p["version"], HOSTILE);
    assert_eq!(p["apis"].as_array().unwrap().len(), 5000);
    assert_eq!(p["apis"][4999], "api-4999");

    // The OpenAPI document describes every field answered (schemathesis checks answers
    // against it in ops/test.sh), the sample figures as nullable.
    let doc = get(&admin, "/api/openapi.json").await;
    let schemas = &doc.body["components"]["schemas"];
    let props = |name: &str| -> Vec<String> {
        let p = schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"));
        p.keys().cloned().collect()
    };
    let (node_props, proc_props) = (props("Node"), props("NodeProcess"));
    for it in a.body["items"].as_array().unwrap() {
        for k in it.as_object().unwrap().keys() {
            assert!(node_props.contains(k), "Node.{k} is not in the document");
        }
        for p in it["processes"].as_array().unwrap() {
            for k in p.as_object().unwrap().keys() {
                assert!(
                    proc_props.contains(k),
                    "NodeProcess.{k} is not in the document"
                );
            }
        }
    }
    assert!(
        schemas["Node"]["properties"]["cpu_pct"]
            .to_string()
            .contains("null"),
        "{}",
        schemas["Node"]["properties"]["cpu_pct"]
    );
    assert!(
        schemas["NodesPage"]["properties"]["heartbeat_silent_after_secs"].is_object(),
        "{}",
        schemas["NodesPage"]
    );

    // Filters: by role and by group (a node stays when it runs the role and has the group).
    for (q, want) in [
        ("role=collector", vec!["edge-1"]),
        ("role=alerter", vec!["core-1"]),
        ("role=gateway", vec![HOSTILE, "edge-1"]),
        ("group=edge", vec![HOSTILE, "edge-1"]),
        ("group=public", vec!["edge-1"]),
        ("role=collector&group=public", vec!["edge-1"]),
        ("role=reports&group=edge", vec![]),
        ("group=nobody", vec![]),
        ("role=&group=", vec!["core-1", HOSTILE, "edge-1"]),
    ] {
        let a = get(&admin, &format!("/api/v1/nodes?{q}")).await;
        assert_eq!(a.status, 200, "{q}: {}", a.text);
        assert_eq!(names(&a), want, "{q}");
    }
    // A looser limit revives the quiet alerter (so core-1 is no longer stopped as a whole);
    // the reports process said it was stopping, whatever the limit.
    let lax = get(&admin, "/api/v1/nodes?silent_after_secs=600").await;
    let core = item(&lax, "core-1");
    assert_eq!(core["stopped"], false, "{core}");
    let procs = core["processes"].as_array().unwrap();
    assert!(procs
        .iter()
        .any(|p| p["role"] == "alerter" && p["stopped"] == false));
    assert!(procs
        .iter()
        .any(|p| p["role"] == "reports" && p["stopped"] == true));
    // core-1 still comes first: it has a stopped process, the others none.
    assert_eq!(names(&lax)[0], "core-1");
    assert_eq!(lax.body["heartbeat_silent_after_secs"], 600);

    // Refusals name the field: 422 for a bad value, 400 (malformed) for a repeated one.
    let long = format!("group={}", "g".repeat(65));
    for (q, field, status) in [
        ("role=gatway", "role", 422),
        ("role=Gateway", "role", 422),
        ("role=%3Cscript%3E", "role", 422),
        ("group=Edge", "group", 422),
        ("group=%3Cscript%3E", "group", 422),
        ("group=a%20b", "group", 422),
        (long.as_str(), "group", 422),
        ("silent_after_secs=0", "silent_after_secs", 422),
        ("role=gateway&role=collector", "role", 400),
        ("group=a&group=b", "group", 400),
    ] {
        let a = get(&admin, &format!("/api/v1/nodes?{q}")).await;
        assert_eq!(a.status, status, "{q}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{q}: {}", a.text);
    }
    beats.abort();
}
