//! Nothing vanishes at the gateway: an oversized call is recorded, cut at the documented caps
//! and flagged; a batch larger than the collector takes (413) is split and resent until every
//! record is stored — counted in ClickHouse.

use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A raw client of the site's database (tests keep their SQL to themselves).
fn ch(site: &Site) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&site.clickhouse_url)
        .with_database(&site.database)
        .with_validation(false)
}

async fn count(site: &Site, sql: &str) -> u64 {
    ch(site).query(sql).fetch_one::<u64>().await.unwrap_or(0)
}

/// Waits (at most `secs`) until `sql` counts `want`, then checks it stays there a moment.
async fn wait_count(site: &Site, sql: &str, want: u64, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut last = 0;
    while tokio::time::Instant::now() < deadline {
        last = count(site, sql).await;
        if last == want {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(count(site, sql).await, want, "{sql} moved past {want}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{sql}: wanted {want}, still {last} after {secs} s");
}

/// The site's configuration with `from` replaced by `to` (keys `Site::new` already wrote).
fn set(site: &Site, from: &str, to: &str) {
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(text.contains(from), "no {from:?} in the configuration");
    std::fs::write(site.config_path(), text.replacen(from, to, 1)).unwrap();
}

/// Hex that does not repeat (compresses to about half, no better).
fn noise(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 32);
    while s.len() < bytes {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(bytes);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_a_300_kb_head_is_recorded_cut_and_flagged() {
    let up = upstream().await;
    let site = Site::new(
        "bounds_cut",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );
    site.migrate().await;
    let _collector = site.start("collector").await;
    let _gw = site.start("gateway").await;

    // About 300 KB in one request head: a 60 KB query (a URI cannot pass 64 KiB), a 200 KB
    // user agent and 40 headers of 1 KB.
    let path = format!("/api/{}", "p".repeat(3000));
    let query = format!("q={}", "x".repeat(60 * 1024));
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::get(site.url(&format!("{path}?{query}")))
        .header("user-agent", "u".repeat(200 * 1024))
        .header("x-request-id", "bounds-cut-1");
    for i in 0..40 {
        req = req.header(format!("x-pad-{i}"), "h".repeat(1024));
    }
    let req = req.body(Empty::new()).unwrap();
    let resp = client.request(req).await.unwrap();
    // The upstream's answer (no such path there): the call went through and is recorded.
    assert_eq!(resp.status(), 404);
    let _ = resp.into_body().collect().await;

    wait_count(
        &site,
        "SELECT count() FROM api_calls WHERE request_id = 'bounds-cut-1'",
        1,
        30,
    )
    .await;
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Cut {
        path_len: u64,
        query_len: u64,
        ua_len: u64,
        truncated: Vec<String>,
    }
    let cut = ch(&site)
        .query(
            "SELECT length(path) AS path_len, length(query) AS query_len, \
             length(user_agent) AS ua_len, truncated \
             FROM api_calls WHERE request_id = 'bounds-cut-1'",
        )
        .fetch_one::<Cut>()
        .await
        .unwrap();
    assert_eq!(cut.truncated, ["path", "query", "user_agent"]);
    assert_eq!((cut.path_len, cut.query_len, cut.ua_len), (2048, 4096, 512));
    let (path, query) = ch(&site)
        .query("SELECT path, query FROM api_calls WHERE request_id = 'bounds-cut-1'")
        .fetch_one::<(String, String)>()
        .await
        .unwrap();
    assert!(path.starts_with("/api/ppp") && path.ends_with('\u{2026}'));
    assert!(query.starts_with("q=xxx") && query.ends_with('\u{2026}'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_collectors_limit_is_split_and_every_record_arrives() {
    const CALLS: usize = 600;
    let up = upstream().await;
    let site = Site::new(
        "bounds_split",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );
    // The collector takes 1 MiB bodies; the gateway gathers every call in one batch (flushed
    // when the 600th record is in), about 3.6 MB of NDJSON that zstd cannot shrink below
    // 1 MiB: the collector answers 413 and the gateway must split it.
    site.tune("collector", "max_body_mb = 1");
    set(
        &site,
        "flush_interval_ms = 200",
        "flush_interval_ms = 60000",
    );
    site.tune(
        "gateway",
        &format!("batch_max_records = {CALLS}\nsample_interval_secs = 3600"),
    );
    site.migrate().await;
    let _collector = site.start("collector").await;
    let _gw = site.start("gateway").await;

    let paths: Vec<String> = (0..CALLS)
        .map(|_| format!("/api/{}?q={}", noise(2000), noise(4000)))
        .collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let statuses = drive(&site.url(""), &paths, CALLS, 16, Duration::ZERO).await;
    assert_eq!(statuses.get(&404), Some(&CALLS), "{statuses:?}");

    // Every call's record arrives, once.
    wait_count(&site, "SELECT count() FROM api_calls", CALLS as u64, 90).await;
    assert_eq!(
        count(&site, "SELECT uniqExact(call_id) FROM api_calls").await,
        CALLS as u64
    );
    // Through the split, not by luck.
    let metrics = reqwest_like_get(&site.admin_url("/metrics")).await;
    let value = |series: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    assert!(
        value("gatewatch_gateway_batches_split_total") >= 1,
        "{metrics}"
    );
    assert_eq!(
        value("gatewatch_gateway_records_dropped_total{reason=\"too_large\"}"),
        0
    );
    assert_eq!(
        value("gatewatch_gateway_records_dropped_total{reason=\"rejected\"}"),
        0
    );
}

async fn reqwest_like_get(url: &str) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let r = client.get(url.parse().unwrap()).await.unwrap();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
