//! The ingest API attacked: no token or a forged one, a decompression bomb, a body of garbage,
//! lines past the line cap, records past their bounds, more requests than decode slots.
//! Each refusal is a clear answer naming the problem; nothing bad is stored and nothing good is
//! lost.

use crate::helpers::*;
use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::REPLAY_HEADER;
use std::io::Write;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const COUNT: &str = "SELECT count() FROM api_calls";

#[tokio::test]
async fn without_the_token_nothing_is_read_or_stored() {
    let store = migrated_store("collector_no_token").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let body = ndjson(&calls(5));
    let forged = format!("Bearer {}x", TOKEN);
    let cut = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    for auth in [
        "",
        "Bearer",
        "Bearer ",
        forged.as_str(),
        cut.as_str(),
        basic.as_str(),
        "Bearer wrong-token-of-the-same-length-",
    ] {
        for path in ["/v1/records", "/v1/node-samples"] {
            let (status, headers, body) = post_full(
                &c.url(path),
                &[NDJSON, ("authorization", auth)],
                body.clone(),
            )
            .await;
            assert_eq!(status, 401, "{auth:?} {path}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized");
            assert!(headers.contains_key("www-authenticate"));
            assert!(
                !body.to_string().contains(TOKEN),
                "the answer must not echo the token: {body}"
            );
        }
    }
    // The scheme is case-insensitive, as HTTP says.
    let lower = format!("bearer {TOKEN}");
    let (status, _) = post(
        &c.url("/v1/records"),
        &[NDJSON, ("authorization", &lower)],
        body,
    )
    .await;
    assert_eq!(status, 200);
    eventually_count(&store, COUNT, 5).await;
    // Health and metrics stay open.
    assert_eq!(get_text(&c.url("/healthz")).await, "ok");
    let metrics = get_text(&c.url("/metrics")).await;
    assert!(
        metrics.contains("gatewatch_collector_requests_total{result=\"unauthorized\"} 14"),
        "{metrics}"
    );
    c.stop().await;
}

#[tokio::test]
async fn garbage_and_bombs_cost_a_bounded_answer() {
    let store = migrated_store("collector_garbage").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let url = c.url("/v1/records");

    // 3 MiB of `x\n` (the test collector's decoded limit is 4 MiB) in a few KB of zstd: one
    // error per line, 100 of them listed, the rest counted.
    let garbage = zstd::encode_all("x\n".repeat(3 << 19).as_bytes(), 19).unwrap();
    assert!(garbage.len() < 4096, "{}", garbage.len());
    let (status, body) = post(&url, &[NDJSON, ("content-encoding", "zstd")], garbage).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "no_valid_line");
    assert_eq!(body["error"]["rejected"], 3 << 19);
    assert_eq!(body["error"]["errors"].as_array().unwrap().len(), 100);
    assert_eq!(body["error"]["errors_not_listed"], (3 << 19) - 100);

    // The same garbage around good lines: 207, the good ones stored.
    let mut mixed = "x\n".repeat(500);
    mixed.push_str(std::str::from_utf8(&ndjson(&calls(3))).unwrap());
    let (status, body) = post(&url, &[NDJSON], mixed).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(3), Some(500))
    );
    assert_eq!(body["errors"].as_array().unwrap().len(), 100);
    assert_eq!(body["errors_not_listed"], 400);

    // A bomb: 64 MiB of zeros as zstd and as gzip, refused at the 4 MiB limit.
    let zeros = vec![0u8; 64 << 20];
    let z = zstd::encode_all(&zeros[..], 3).unwrap();
    let (status, body) = post(&url, &[NDJSON, ("content-encoding", "zstd")], z).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "body_too_large");
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    g.write_all(&zeros).unwrap();
    let (status, _) = post(
        &url,
        &[NDJSON, ("content-encoding", "gzip")],
        g.finish().unwrap(),
    )
    .await;
    assert_eq!(status, 413);

    // A line past the 1 MiB line cap, between good lines: a line error, the rest stored.
    let good = String::from_utf8(ndjson(&calls(1))).unwrap();
    let long = format!(
        "{good}{{\"path\":\"{}\"}}\n{}",
        "a".repeat(1 << 20),
        String::from_utf8(ndjson(&calls(1))).unwrap()
    );
    let z = zstd::encode_all(long.as_bytes(), 3).unwrap();
    let (status, body) = post(&url, &[NDJSON, ("content-encoding", "zstd")], z).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["errors"][0]["line"], 2);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 1048576 bytes"),
        "{body}"
    );
    eventually_count(&store, COUNT, 5).await;
    c.stop().await;
}

#[tokio::test]
async fn records_out_of_bounds_are_named_and_the_rest_stored() {
    let store = migrated_store("collector_bounds").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let url = c.url("/v1/records");
    let day = 86_400_000_000i64;
    let mut rs = calls(8);
    rs[1].ts_us = now_us() - 8 * day; // older than 7 days
    rs[2].ts_us = now_us() + 10 * 60_000_000; // 10 minutes ahead
    rs[3].path = "/".repeat(8193);
    rs[4].query = "q".repeat(9000);
    rs[5].user_agent = "u".repeat(9000);
    rs[6].response_body = "b".repeat(300 << 10);
    let (status, body) = post(&url, &[NDJSON], ndjson(&rs)).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["accepted"], 2);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "ts_us",
            "ts_us",
            "path",
            "query",
            "user_agent",
            "response_body"
        ]
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("max_record_age (7d)"),
        "{body}"
    );
    // A status out of range is refused by the record's own check.
    let bad_status = String::from_utf8(ndjson(&calls(1)))
        .unwrap()
        .replace("\"status\":200", "\"status\":600");
    let (status, body) = post(&url, &[NDJSON], bad_status).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["errors"][0]["field"], "status");

    // A batch replayed from a gateway's spool may be old: a collector outage longer than
    // max_record_age loses nothing. Too far in the future is refused even then.
    let mut old = calls(3);
    for r in &mut old {
        r.ts_us -= 30 * day;
    }
    old[2].ts_us = now_us() + 10 * 60_000_000;
    let (status, body) = post(&url, &[NDJSON, (REPLAY_HEADER, "1")], ndjson(&old)).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["errors"][0]["line"], 3);
    eventually_count(&store, COUNT, 4).await;

    // Node samples: the same window.
    let sample = |ts: i64| {
        format!(
            r#"{{"ts_us":{ts},"node":"n1","role":"gateway","cpu_pct":1.0,"mem_used_bytes":1,"mem_total_bytes":2,"rss_bytes":1}}"#
        )
    };
    let body = format!("{}\n{}\n", sample(now_us()), sample(now_us() - 8 * day));
    let (status, answer) = post(&c.url("/v1/node-samples"), &[NDJSON], body).await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "ts_us");
    eventually_count(&store, "SELECT count() FROM node_metrics", 1).await;
    c.stop().await;
}

#[tokio::test]
async fn more_requests_than_decode_slots_get_503_and_retry_after() {
    let store = migrated_store("collector_busy").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    // Four senders that never finish their bodies hold the four decode slots.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(c.addr).await.unwrap();
        let head = format!(
            "POST /v1/records HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/x-ndjson\r\ncontent-length: 100000\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A flood on top: each waits for a slot (at most 2 s), then 503 with Retry-After.
    let flood: Vec<_> = (0..20)
        .map(|_| {
            let url = c.url("/v1/records");
            tokio::spawn(async move { post_full(&url, &[NDJSON], ndjson(&calls(2))).await })
        })
        .collect();
    for f in flood {
        let (status, headers, body) = f.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "busy");
        assert_eq!(headers["retry-after"], "1");
    }
    // Slots come back when the slow senders go.
    drop(slow);
    let (status, body) = post(&c.url("/v1/records"), &[NDJSON], ndjson(&calls(2))).await;
    assert_eq!(status, 200, "{body}");
    eventually_count(&store, COUNT, 2).await;
    let metrics = get_text(&c.url("/metrics")).await;
    assert!(
        metrics.contains("gatewatch_collector_requests_total{result=\"busy\"} 20"),
        "{metrics}"
    );
    c.stop().await;
}
