//! The collector's ingest API attacked on the running binary: a request without the ingest
//! token stores nothing, and a small body of garbage that decompresses to 16 MiB (1.4 KB of
//! zstd, the attack that made the process grow by 600 MB) costs a bounded answer and at most
//! 32 MB of memory, measured as the growth of the process's RSS high-water mark (`VmHWM`).

use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The RSS high-water mark of process `pid`, in bytes.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

async fn post(url: &str, token: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::post(url)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "zstd");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_costs_a_bounded_answer_and_no_token_stores_nothing() {
    let site = Site::new(
        "ingest_guard",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let collector = site.start("collector").await;
    let url = format!("http://{}/v1/records", site.collector);
    // Roles started from one file share the pepper, and the token derived from it.
    let pepper = std::fs::read(site.dir.path().join("data/secret/pepper")).unwrap();
    let token = gatewatch_model::secret::ingest_token(&pepper);

    // Without the token, or with another, nothing is stored.
    let one = {
        let mut r = gatewatch_model::CallRecord::new(
            uuid::Uuid::now_v7(),
            chrono::Utc::now().timestamp_micros(),
            "e2e",
            "GET",
            "/forged",
        );
        r.client_id = "victim".into();
        zstd::encode_all(serde_json::to_string(&r).unwrap().as_bytes(), 3).unwrap()
    };
    for t in [
        None,
        Some("forged-token-0123456789abcdef"),
        Some(&token[1..]),
    ] {
        let (status, body) = post(&url, t, one.clone()).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, _) = post(&url, Some(&token), one).await;
    assert_eq!(status, 200);

    // 16 MiB of `x\n` in about 1.4 KB of zstd.
    let garbage = zstd::encode_all("x\n".repeat(8 << 20).as_bytes(), 19).unwrap();
    assert!(garbage.len() < 2048, "{}", garbage.len());
    let pid = collector.pid();
    let before = vm_hwm(pid);
    let (status, body) = post(&url, Some(&token), garbage.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["rejected"], 8 << 20);
    assert_eq!(body["error"]["errors"].as_array().unwrap().len(), 100);
    let one_request = vm_hwm(pid).saturating_sub(before);
    println!(
        "VmHWM grew by {} KiB for one 16 MiB garbage request",
        one_request >> 10
    );
    assert!(one_request <= 32 << 20, "grew by {one_request} bytes");

    // A flood of them at once: each gets its answer (400, or 503 when every decode slot
    // stays busy for 2 s), and memory stays bounded by the slots, not by the flood.
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let (url, token, body) = (url.clone(), token.clone(), garbage.clone());
            tokio::spawn(async move { post(&url, Some(&token), body).await })
        })
        .collect();
    for f in flood {
        let (status, body) = f.await.unwrap();
        assert!(status == 400 || status == 503, "{status} {body}");
    }
    let flood_growth = vm_hwm(pid).saturating_sub(before);
    println!("VmHWM grew by {} KiB for 8 at once", flood_growth >> 10);
    assert!(
        flood_growth <= 4 * (32 << 20),
        "grew by {flood_growth} bytes"
    );

    // Only the one authenticated record is stored.
    eventually(&store, "SELECT count() FROM api_calls", 1, 20).await;
    drop(collector);
}
