//! Bad input gets a clear error naming what is wrong, and good lines are kept.

use crate::helpers::*;
use gatewatch_migrations::testing::migrated_store;
use std::io::Write;

#[tokio::test]
async fn each_bad_request_gets_a_clear_4xx_and_good_lines_are_kept() {
    let store = migrated_store("collector_bad_input").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let url = c.url("/v1/records");
    let good = ndjson(&calls(3));

    // wrong content type
    let (status, body) = post(&url, &[("content-type", "text/html")], good.clone()).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"]["code"], "unsupported_content_type");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("content-type"));

    // unknown encoding
    let (status, body) = post(&url, &[NDJSON, ("content-encoding", "br")], good.clone()).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"]["code"], "unsupported_content_encoding");

    // truncated gzip
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&good).unwrap();
    let gz = gz.finish().unwrap();
    let (status, body) = post(
        &url,
        &[NDJSON, ("content-encoding", "gzip")],
        gz[..gz.len() - 10].to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "corrupt_body");

    // oversized body (limit 1 MiB in the test collector)
    let (status, body) = post(&url, &[NDJSON], vec![b' '; 2 << 20]).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "body_too_large");

    // bad batch id header
    let (status, body) = post(
        &url,
        &[NDJSON, ("x-gatewatch-batch-id", "nope")],
        good.clone(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-gatewatch-batch-id"));

    // every line bad: 400, each named
    let (status, body) = post(&url, &[NDJSON], "{\"x\":1}\nnot json\n").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "no_valid_line");
    assert_eq!(body["error"]["errors"][0]["line"], 1);
    assert_eq!(body["error"]["errors"][1]["line"], 2);

    // some lines bad: 207, good ones kept
    let mut mixed = ndjson(&calls(2));
    mixed.extend_from_slice(b"{\"broken\n");
    let bad_status = String::from_utf8(ndjson(&calls(1)))
        .unwrap()
        .replace("\"status\":200", "\"status\":7");
    mixed.extend_from_slice(bad_status.as_bytes());
    mixed.extend_from_slice(&ndjson(&calls(2)));
    let (status, body) = post(&url, &[NDJSON, ("content-encoding", "identity")], mixed).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["accepted"], 4);
    assert_eq!(body["rejected"], 2);
    assert_eq!(body["errors"][0]["line"], 3);
    assert_eq!(body["errors"][1]["line"], 4);
    assert_eq!(body["errors"][1]["field"], "status");

    // zstd works
    let z = zstd::encode_all(&good[..], 1).unwrap();
    let (status, _) = post(&url, &[NDJSON, ("content-encoding", "zstd")], z).await;
    assert_eq!(status, 200);

    eventually_count(&store, "SELECT count() FROM api_calls", 7).await;
    c.stop().await;
}

/// A newer gateway's records (fields this collector does not know) are stored, not refused:
/// refusing would make the gateway drop them (a 400 is never resent) during an upgrade.
#[tokio::test]
async fn records_from_a_newer_sender_are_stored_and_their_new_fields_named() {
    let store = migrated_store("collector_newer_sender").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let newer = String::from_utf8(ndjson(&calls(5))).unwrap().replace(
        "\"status\":200",
        "\"status\":200,\"quic_version\":\"1\",\"geo\":{\"country\":\"TW\"}",
    );
    let (status, body) = post(&c.url("/v1/records"), &[NDJSON], newer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 5);
    assert_eq!(
        body["ignored_fields"],
        serde_json::json!(["quic_version", "geo"])
    );
    // Same-version records are answered as before.
    let (status, body) = post(&c.url("/v1/records"), &[NDJSON], ndjson(&calls(2))).await;
    assert_eq!(status, 200);
    assert!(body.get("ignored_fields").is_none(), "{body}");
    eventually_count(&store, "SELECT count() FROM api_calls", 7).await;
    let metrics = get_text(&c.url("/metrics")).await;
    assert!(
        metrics.contains("gatewatch_collector_requests_with_unknown_fields_total 1"),
        "{metrics}"
    );
    c.stop().await;
}
