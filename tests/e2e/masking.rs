//! Masking end to end: calls carrying card numbers, a Taiwan ID, e-mail addresses, phone
//! numbers, secret headers, configured JSON fields and query parameters go through a gateway
//! whose API captures bodies; none of the raw secrets may appear in the gateway's spool, the
//! collector's write-ahead log, any column of `api_calls` or the processes' logs, while the
//! masked forms do.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, Change};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;

/// Must never leave the gateway.
const SECRETS: &[&str] = &[
    "4111111111111111",
    "4111 1111 1111 1111",
    "5500000000000004",
    "A123456789",
    "alice.wang@example.com",
    "alice.wang%40example.com",
    "0912-345-678",
    "0912 345 678",
    "912345678",
    "tok-AbC123xyz",
    "ptok-999",
    "cookie-S3cret",
    "pw-Hunter22",
    "itok-777",
    "s3cr3tQ",
    // Secret by name in any spelling (issue 13): camelCase, kebab, upper snake, pin and otp.
    "camTok-4Q",
    "kebTok-5R",
    "upTok-6S",
    "apiK-7T",
    "pinV-8U",
    "otpV-9V",
    "hdrTok-1W",
    "qryTok-2X",
    "qryOtp-3Y",
];

/// Must be there, masked (and one look-alike that is no secret must be kept).
const MASKED: &[&str] = &[
    "Bearer ****",
    "sid=****",
    "secret=****",
    "card=************1111",
    "tel=+*********678",
    "\"password\":\"****\"",
    "\"token\":\"****\"",
    "A******789",
    "a****.****@example.com",
    "**** **** **** 1111",
    "****-***-678",
    "**** *** 678",
    "************0004",
    "/cards/************1111/charge",
    "/nowhere/************1111",
    "4111111111111112",
    "truncated: first 4096 of",
    "\"accessToken\":\"****\"",
    "\"access-token\":\"****\"",
    "\"ACCESS_TOKEN\":\"****\"",
    "\"apiKey\":\"****\"",
    "\"cardPin\":\"****\"",
    "\"otp\":\"****\"",
    "\"spinner\":\"keep-spin\"",
    "accessToken=****",
    "OTP=****",
    "spinner=keep-spin",
];

const CALLS: usize = 6;

/// Method, path and query, headers, body.
type Call<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, String);

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

async fn send(
    site: &Site,
    i: usize,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(site.url(path))
        .header("x-request-id", format!("mask-e2e-{i}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// Every file under `dir`, zstd frames decoded, as one text.
fn files_text(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            text.push_str(&files_text(&p));
            continue;
        }
        let bytes = std::fs::read(&p).unwrap_or_default();
        let bytes = if p.extension().is_some_and(|x| x == "zst") {
            zstd::decode_all(&bytes[..]).unwrap_or(bytes)
        } else {
            bytes
        };
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    text
}

fn assert_masked(where_: &str, text: &str) {
    for s in SECRETS {
        assert!(
            !text.contains(s),
            "{where_} holds the raw secret {s:?}:\n{text}"
        );
    }
    for m in MASKED {
        assert!(
            text.contains(m),
            "{where_} lacks the masked form {m:?}:\n{text}"
        );
    }
}

/// Every column of our calls' rows, as ClickHouse returns them.
async fn rows_text(site: &Site) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let sql = format!(
        "SELECT * FROM {}.api_calls WHERE request_id LIKE 'mask-e2e-%' FORMAT TabSeparatedRaw",
        site.database
    );
    let req = Request::post(&site.clickhouse_url)
        .body(Full::new(Bytes::from(sql)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_raw_secret_reaches_the_spool_the_wal_or_clickhouse() {
    let up = upstream().await;
    let site = Site::new(
        "masking",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let api = serde_json::json!({
        "name": "付款",
        "prefix": "/pay",
        "upstreams": [format!("http://{up}")],
        "strip_prefix": true,
        "capture": {"mode": "bodies", "max_bytes": 4096},
        "masking": {
            "headers": ["x-partner-token"],
            "json_paths": ["payer.password", "items[*].token"],
            "query_params": ["secret"]
        }
    });
    config_log::write(
        &store,
        "e2e",
        "add pay",
        &[Change {
            kind: EntityKind::Api,
            id: "pay".into(),
            body: api.to_string(),
            deleted: false,
            expected_version: Some(0),
        }],
        now_us(),
    )
    .await
    .unwrap();

    // No collector yet: the records wait in the gateway's spool.
    let mut gateway = site.start("gateway").await;
    let json = r#"{"payer":{"password":"pw-Hunter22","email":"alice.wang@example.com","id":"A123456789"},"card":"4111 1111 1111 1111","phone":"0912-345-678","items":[{"token":"itok-777"},{"token":"itok-777"}],"order":"4111111111111112","amount":5500000000000004}"#;
    let calls: Vec<Call> = vec![
        (
            "POST",
            "/pay/echo?secret=s3cr3tQ&card=4111111111111111&tel=%2B886912345678&keep=plain".into(),
            vec![
                ("authorization", "Bearer tok-AbC123xyz"),
                ("x-partner-token", "ptok-999"),
                ("cookie", "sid=cookie-S3cret"),
                ("content-type", "application/json"),
            ],
            json.to_string(),
        ),
        (
            "GET",
            "/pay/cards/4111111111111111/charge?email=alice.wang%40example.com".into(),
            vec![],
            String::new(),
        ),
        (
            "POST",
            "/pay/echo".into(),
            vec![("content-type", "text/plain; charset=utf-8")],
            "請撥 0912 345 678 或寫信 alice.wang@example.com，身分證 A123456789".into(),
        ),
        (
            "POST",
            "/pay/echo".into(),
            vec![("content-type", "application/json")],
            format!(
                r#"{{"payer":{{"password":"pw-Hunter22"}},"pad":"{}","tail":"4111111111111111"}}"#,
                "x".repeat(8000)
            ),
        ),
        (
            "GET",
            "/nowhere/4111111111111111?card=4111111111111111".into(),
            vec![],
            String::new(),
        ),
        (
            "POST",
            "/pay/echo?accessToken=qryTok-2X&OTP=qryOtp-3Y&spinner=keep-spin".into(),
            vec![
                ("content-type", "application/json"),
                ("x-auth-token", "hdrTok-1W"),
            ],
            r#"{"accessToken":"camTok-4Q","access-token":"kebTok-5R","ACCESS_TOKEN":"upTok-6S","user":{"apiKey":"apiK-7T","cardPin":"pinV-8U","otp":"otpV-9V"},"spinner":"keep-spin"}"#
                .into(),
        ),
    ];
    assert_eq!(calls.len(), CALLS);
    // The API reaches the gateway through the configuration log: wait for it.
    let mut ready = false;
    for _ in 0..100 {
        if send(&site, 99, "GET", "/pay/ok", &[], String::new()).await == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "the API did not reach the gateway");
    for (i, (method, path, headers, body)) in calls.into_iter().enumerate() {
        let status = send(&site, i, method, &path, &headers, body).await;
        assert!(status < 500, "call {i} answered {status}");
    }

    let spool = site.dir.path().join("data/spool");
    let mut spooled = String::new();
    for _ in 0..100 {
        spooled = files_text(&spool);
        if (0..CALLS).all(|i| spooled.contains(&format!("mask-e2e-{i}\""))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The spool holds NDJSON: bodies and headers are JSON strings inside it.
    assert_masked("the gateway's spool", &spooled.replace("\\\"", "\""));
    gateway.terminate();

    // The collector takes the spool's batches into its WAL and ClickHouse.
    let collector = site.start("collector").await;
    let gateway = site.start("gateway").await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE request_id LIKE 'mask-e2e-%' AND request_id != 'mask-e2e-99'",
        CALLS as u64,
        60,
    )
    .await;
    assert_masked("api_calls", &rows_text(&site).await);
    let wal = files_text(&site.dir.path().join("data/wal"));
    // The segment being written stays on disk after its rows are stored.
    assert!(
        wal.contains("\"mask-e2e-0\""),
        "our records are not in the WAL"
    );
    for s in SECRETS {
        assert!(!wal.contains(s), "the collector's WAL holds {s:?}");
    }
    for (what, log) in [
        ("gateway log", gateway.log_text()),
        ("collector log", collector.log_text()),
    ] {
        for s in SECRETS {
            assert!(!log.contains(s), "the {what} holds {s:?}");
        }
    }
}
