//! Upstream handling through the real proxy: passive ejection, least connections, and the
//! upstream series on `/metrics`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gatewatch_gateway::RouteConfig;
use gatewatch_model::api::{LbPolicy, PassiveEjection};
use gatewatch_model::ApiSpec;

use crate::support::*;

/// A file route carrying a whole API entity.
fn route(prefix: &str, upstreams: &[String], tune: impl FnOnce(&mut ApiSpec)) -> RouteConfig {
    let ups: Vec<&str> = upstreams.iter().map(String::as_str).collect();
    let mut spec = ApiSpec::prefixed(prefix, prefix, &ups);
    tune(&mut spec);
    let mut r = RouteConfig::new(prefix, upstreams.to_vec());
    r.spec = Some(Arc::new(spec));
    r
}

/// Accepts connections, counts them and closes them at once (a failure before any head).
async fn closer() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (addr, n)
}

#[tokio::test]
async fn failures_in_a_row_eject_an_upstream_and_retried_gets_land_on_the_other() {
    let a = upstream("a", Arc::default()).await;
    let (bad, accepted) = closer().await;
    let (col, _state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    let ups = [format!("http://{bad}"), format!("http://{}", a.addr)];
    c.routes = vec![route("/p", &ups, |s| {
        s.retries = 1;
        s.passive = Some(PassiveEjection {
            failures: 2,
            eject_ms: 60_000,
        });
    })];
    let gw = Gateway::start(c).await;
    for _ in 0..10 {
        let r = gw.get("/p/x").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["name"], "a");
    }
    // Round robin sent the 1st and the 3rd call to the closing upstream; the 2nd failure in
    // a row ejected it, and no call went there after.
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    let labels = format!("api=\"/p\",upstream=\"http://{bad}\"");
    assert_eq!(
        gw.metric(&format!(
            "gatewatch_gateway_upstream_ejections_total{{{labels},kind=\"passive\"}}"
        ))
        .await,
        1
    );
    assert_eq!(
        gw.metric(&format!("gatewatch_gateway_upstream_healthy{{{labels}}}"))
            .await,
        0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn least_connections_sends_calls_away_from_a_busy_upstream() {
    let a = upstream("a", Arc::default()).await;
    let b = upstream("b", Arc::default()).await;
    let (col, _state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    let ups = [format!("http://{}", a.addr), format!("http://{}", b.addr)];
    c.routes = vec![route("/lc", &ups, |s| s.lb = LbPolicy::LeastConnections)];
    let gw = Arc::new(Gateway::start(c).await);
    // One call held at an upstream (2 s), counted in flight until its body ends.
    let slow = {
        let gw = gw.clone();
        tokio::spawn(async move { gw.get("/lc/slow").await })
    };
    let series = |addr: std::net::SocketAddr| {
        format!("gatewatch_gateway_upstream_in_flight{{api=\"/lc\",upstream=\"http://{addr}\"}}")
    };
    let (sa, sb) = (series(a.addr), series(b.addr));
    eventually_async(5, "the slow call is in flight", || {
        let gw = gw.clone();
        let (sa, sb) = (sa.clone(), sb.clone());
        async move { gw.metric(&sa).await + gw.metric(&sb).await == 1 }
    })
    .await;
    let busy = if gw.metric(&sa).await == 1 { "a" } else { "b" };
    for _ in 0..6 {
        let r = gw.get("/lc/x").await;
        assert_ne!(r.json()["name"], busy, "a call went to the busy upstream");
    }
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(gw.metric(&sa).await + gw.metric(&sb).await, 0);
    // Idle again: both take calls.
    let names: std::collections::HashSet<String> = names_answering(&gw, 6).await;
    assert_eq!(names.len(), 2, "{names:?}");
}

async fn names_answering(gw: &Gateway, n: usize) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    for _ in 0..n {
        names.insert(
            gw.get("/lc/x").await.json()["name"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    names
}

#[tokio::test]
async fn metrics_list_every_upstream_of_every_route() {
    let (col, _state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![RouteConfig::new(
        "/m",
        ["http://127.0.0.1:1", "http://127.0.0.1:2"],
    )];
    let gw = Gateway::start(c).await;
    for port in [1, 2] {
        let labels = format!("api=\"/m\",upstream=\"http://127.0.0.1:{port}\"");
        assert_eq!(
            gw.metric(&format!("gatewatch_gateway_upstream_healthy{{{labels}}}"))
                .await,
            1
        );
        assert_eq!(
            gw.metric(&format!("gatewatch_gateway_upstream_in_flight{{{labels}}}"))
                .await,
            0
        );
        assert_eq!(
            gw.metric(&format!(
                "gatewatch_gateway_upstream_ejections_total{{{labels},kind=\"active\"}}"
            ))
            .await,
            0
        );
    }
    gw.shutdown().await;
}
