//! `gatewatch up --demo`: the demo API that wants a key works with the printed key, refuses
//! without it, its calls are recorded with the demo client, and a restart prints the same key.

use crate::helpers::*;
use std::time::Duration;

/// The key from the demo's announcement (`X-API-Key: gwk_…`), once it is printed.
async fn printed_key(p: &Proc) -> String {
    for _ in 0..150 {
        let log = p.log_text();
        if let Some(i) = log.find("X-API-Key: gwk_") {
            let rest = &log[i + "X-API-Key: ".len()..];
            return rest.split('\'').next().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no key printed: {}", p.log_text());
}

async fn status(url: &str, key: Option<&str>) -> u16 {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = hyper::Request::get(url);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// Calls with `key` until 200 (the gateway sees a new API within a poll or two); the last status.
async fn until_ok(url: &str, key: &str) -> u16 {
    let mut got = 0;
    for _ in 0..50 {
        got = status(url, Some(key)).await;
        if got == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_key_opens_the_demo_shop_and_survives_a_restart() {
    let site = Site::new(
        "demo_up",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let mut up = site.start_args(&["up", "--demo"]).await;
    let key = printed_key(&up).await;

    let url = site.url("/shop/orders/42");
    assert_eq!(until_ok(&url, &key).await, 200, "{}", up.log_text());
    assert_eq!(status(&url, None).await, 401);
    assert_eq!(status(&url, Some("gwk_wrong")).await, 401);

    // The trickle's calls and ours are recorded with both demo clients; some were refused;
    // orders were POSTed and their card numbers masked in the gateway.
    for sql in [
        "SELECT toUInt64(count() > 0) FROM api_calls WHERE client_id = 'demo-client' AND outcome = 'ok'",
        "SELECT toUInt64(count() > 0) FROM api_calls WHERE client_id = 'demo-partner' AND outcome = 'ok'",
        "SELECT toUInt64(count() > 0) FROM api_calls WHERE api_id = 'demo-shop' AND outcome = 'refused_auth'",
        "SELECT toUInt64(count() > 0) FROM api_calls WHERE method = 'POST' AND status = 201 \
         AND position(request_body, '王小明') > 0",
    ] {
        eventually(&store, sql, 1, 60).await;
    }
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE position(request_body, '4111') > 0 \
         OR position(request_body, '\"123\"') > 0",
        0,
        5,
    )
    .await;
    // The demo's alert rules and report subscription are there for the pages to show.
    let current = gatewatch_store::config_log::current(&store).await.unwrap();
    for (kind, id) in [
        (gatewatch_model::EntityKind::AlertRule, "demo-shop-errors"),
        (gatewatch_model::EntityKind::AlertRule, "node-cpu-high"),
        (
            gatewatch_model::EntityKind::ReportSubscription,
            "demo-weekly-usage",
        ),
        (gatewatch_model::EntityKind::Client, "demo-partner"),
    ] {
        assert!(
            current
                .iter()
                .any(|e| e.kind == kind && e.id == id && !e.deleted),
            "{kind} {id} missing"
        );
    }
    // The developer portal shows the demo shop, with its operations.
    let shop = crate::portal::raw_get(site.portal, "/portal-api/apis/demo-shop").await;
    assert_eq!(shop.status, 200, "{}", shop.body);
    let ops = shop.json()["reference"]["operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ops.len(), 2, "{}", shop.body);

    up.terminate();
    let up = site.start_args(&["up", "--demo"]).await;
    let again = {
        // The second start appends to the same log: the key printed last is the new one.
        let mut k = String::new();
        for _ in 0..150 {
            let log = up.log_text();
            if log.matches("X-API-Key: gwk_").count() >= 2 {
                let i = log.rfind("X-API-Key: gwk_").unwrap();
                k = log[i + "X-API-Key: ".len()..]
                    .split('\'')
                    .next()
                    .unwrap()
                    .to_string();
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        k
    };
    assert_eq!(again, key, "a restart keeps the demo key");
    assert_eq!(until_ok(&url, &key).await, 200, "{}", up.log_text());
}
