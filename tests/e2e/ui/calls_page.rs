//! The calls page in a real browser (issue 7): an API and a client made through the admin API,
//! calls through the gateway with a JSON body holding a password and a card number that the
//! API's masking rules mask, then, as support: a search by client paged past its first page,
//! one call opened with its masked body pretty-printed (and never the secret in the page), a
//! call opened by id from the search box, a refused call with its reason in words, bad filters
//! answered beside their fields, and a manager kept out by the UI and by the API. Screenshots:
//! `support-calls*` at laptop and phone size, in English and zh-TW.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use bytes::Bytes;
use fantoccini::Locator;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::time::Duration;

const PW: &str = "a long test password";
const PASSWORD: &str = "pw-Hunter22";
const CARD: &str = "4111 1111 1111 1111";
/// POSTs of the client `acme`: more than the page's 50 rows.
const POSTS: usize = 56;
/// GETs of `acme` that the upstream answers 404.
const MISSING: usize = 4;

/// One call through the gateway; the answer's status.
async fn send(site: &Site, method: &str, path: &str, key: Option<&str>, body: &str) -> u16 {
    send_as(site, method, path, key, body, None).await
}

/// One call with its own `X-Request-Id` when `request_id` is given.
async fn send_as(
    site: &Site,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
    request_id: Option<&str>,
) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(site.url(path))
        .header("content-type", "application/json")
        .header("user-agent", "calls-page-e2e/1.0");
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// The number of result rows shown.
async fn rows(b: &Browser) -> usize {
    b.client
        .find_all(Locator::Css("#calls-table tbody tr"))
        .await
        .unwrap()
        .len()
}

async fn hash(b: &Browser) -> String {
    b.client
        .execute("return location.hash;", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Submits the search form the way a user does.
async fn submit(b: &Browser) {
    b.click("#calls-submit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_searches_pages_and_opens_masked_calls_and_a_manager_may_not() {
    let up = upstream().await;
    let site = Site::new(
        "ui_calls",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    for (user, role) in [
        ("u-admin", "admin"),
        ("u-support", "support"),
        ("u-manager", "manager"),
    ] {
        add_user(&site, user, role, PW);
    }
    let _up = site.start("up").await;
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An API that captures bodies and masks `password`, a group granting it, a client in the
    // group and its key: all through the admin API.
    let admin = Api::login(site.dashboards, "u-admin", PW).await;
    for (path, body) in [
        (
            "/api/v1/apis",
            json!({"id": "pay", "name": "付款 API", "prefix": "/pay",
                "upstreams": [format!("http://{up}")], "strip_prefix": true, "auth": ["api_key"],
                "capture": {"mode": "bodies", "max_bytes": 4096},
                "masking": {"json_paths": ["password"]}}),
        ),
        (
            "/api/v1/groups",
            json!({"id": "g-pay", "name": "Payments", "apis": ["pay"]}),
        ),
        (
            "/api/v1/clients",
            json!({"id": "acme", "name": "Acme 商店", "groups": ["g-pay"]}),
        ),
    ] {
        let r = admin.post(path, body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
    }
    let r = admin.post("/api/v1/clients/acme/keys", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["secret"].as_str().unwrap().to_string();
    let key_id = r.body["id"].as_str().unwrap().to_string();

    // The gateway takes the new API without a restart.
    let body = format!(
        r#"{{"user":"amy","password":"{PASSWORD}","card":"{CARD}","amount":120,"paid":true,"note":null}}"#
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while send(&site, "POST", "/pay/echo", Some(&key), &body).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway never took the API"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One body past the API's 4096-byte capture limit, under a request id of its own (older
    // than the first page of POSTs).
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(6000));
    assert_eq!(
        send_as(
            &site,
            "POST",
            "/pay/echo",
            Some(&key),
            &big,
            Some("big-body-1")
        )
        .await,
        200
    );
    for _ in 1..POSTS {
        assert_eq!(
            send(&site, "POST", "/pay/echo", Some(&key), &body).await,
            200
        );
    }
    for _ in 0..MISSING {
        assert_eq!(
            send(&site, "GET", "/pay/missing", Some(&key), "").await,
            404
        );
    }
    // No key: refused before any upstream. (Calls of the wait above may have been refused too,
    // before the key reached the gateway: this one has its own request id.)
    assert_eq!(
        send_as(&site, "GET", "/pay/ok", None, "", Some("no-key-1")).await,
        401
    );
    let acme = (POSTS + MISSING + 1) as u64;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE client_id = 'acme'",
        acme,
        60,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE request_id = 'no-key-1' AND outcome = 'refused_auth'",
        1,
        60,
    )
    .await;

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-support", PW).await;

    // Search by client with the form: the picker lists the clients, the search becomes a link.
    b.open("calls").await;
    b.find("#calls-form").await;
    b.wait_js(
        "the client picker",
        "document.querySelector('select#f-client option[value=\"acme\"]')",
    )
    .await;
    b.fill("#f-client", "acme").await;
    submit(&b).await;
    b.wait_js(
        "the search in the hash",
        "location.hash === '#/calls?client=acme'",
    )
    .await;
    b.wait_text("#calls-count", "Calls shown: 50").await;
    assert_eq!(rows(&b).await, 50);
    let table = b.find("#calls-table").await.text().await.unwrap();
    assert!(table.contains("付款 API"), "{table}");
    assert!(
        table.contains("/echo") || table.contains("/pay/echo"),
        "{table}"
    );
    b.screenshot("support-calls-results").await;

    // The next keyset page: every call of acme once.
    b.click("#calls-more").await;
    b.wait_text("#calls-count", &format!("Calls shown: {acme} "))
        .await;
    assert_eq!(rows(&b).await, acme as usize);
    assert!(b.client.find(Locator::Css("#calls-more")).await.is_err());
    let mut ids = Vec::new();
    for a in b
        .client
        .find_all(Locator::Css("#calls-table a.call-link"))
        .await
        .unwrap()
    {
        ids.push(a.attr("data-call").await.unwrap().unwrap());
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), acme as usize, "a row repeats across pages");
    // The same search as CSV, every page of it.
    let href = b
        .find("#calls-csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.contains("client=acme") && href.contains("format=csv"),
        "{href}"
    );
    let (status, csv) = b.fetch("GET", &href).await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv.trim_end().lines().count(), acme as usize + 1, "{csv}");

    // A link is a search: status class and method from the hash.
    b.open("calls?client=acme&status=4xx").await;
    b.wait_text("#calls-count", &format!("Calls shown: {MISSING} "))
        .await;
    let t = b.find("#calls-table tbody").await.text().await.unwrap();
    assert!(t.contains("404") && !t.contains("200"), "{t}");
    b.open("calls?client=acme&method=POST&path=echo").await;
    b.wait_text("#calls-count", "Calls shown: 50").await;

    // Open one POST: the masked body pretty-printed and coloured, never the secrets.
    b.click("#calls-table a.call-link").await;
    b.find("#call-detail").await;
    let req = b
        .wait_text("#call-request-body", "\"password\": \"****\"")
        .await;
    assert!(req.contains("**** **** **** 1111"), "{req}");
    assert!(req.contains("\"amount\": 120"), "pretty-printed: {req}");
    b.find("#call-request-body .j-key").await;
    b.find("#call-request-body .j-masked").await;
    b.find("#call-request-body .j-num").await;
    b.wait_text("#call-response-body", "\"password\": \"****\"")
        .await;
    b.wait_text("#call-outcome-text", "OK").await;
    b.wait_text("#call-key", &key_id).await;
    b.wait_text("#call-request-headers", "content-type").await;
    b.wait_text("#call-summary", "acme").await;
    b.wait_text("#call-protocol", "HTTP/1.1").await;
    b.wait_text("#call-summary", "calls-page-e2e/1.0").await;
    let page = b.body_text().await;
    for secret in [PASSWORD, CARD, "4111111111111111", key.as_str()] {
        assert!(!page.contains(secret), "the page shows {secret:?}:\n{page}");
    }
    let html = b.client.source().await.unwrap();
    for secret in [PASSWORD, CARD, key.as_str()] {
        assert!(!html.contains(secret), "the page's HTML holds {secret:?}");
    }
    let id = b
        .find("#call-detail")
        .await
        .attr("data-call")
        .await
        .unwrap()
        .unwrap();
    b.screenshot("support-calls-detail").await;
    b.scroll_to("#call-request-card").await;
    b.screenshot("support-calls-detail-bodies").await;
    b.resize(PHONE).await;
    b.screenshot("support-calls-detail-phone").await;
    b.scroll_to("#call-request-card").await;
    b.screenshot("support-calls-detail-bodies-phone").await;
    b.resize(LAPTOP).await;

    // Copy the id (for a ticket).
    b.click("#call-copy").await;
    b.wait_text(".toasts", "Call id copied").await;
    // Back to the results, the search kept.
    b.click("#call-back").await;
    b.wait_js(
        "back at the search",
        "location.hash === '#/calls?client=acme&method=POST&path=echo'",
    )
    .await;
    b.wait_text("#calls-count", "Calls shown: 50").await;
    assert_eq!(
        b.find("#f-path").await.prop("value").await.unwrap(),
        Some("echo".into())
    );

    // The call's trace (issue 18): its ids on the page, and a link to every call of it.
    b.open(&format!("calls/{id}")).await;
    let trace = b.find("#call-trace-id").await.text().await.unwrap();
    assert!(
        trace.len() == 32 && trace.bytes().all(|c| c.is_ascii_hexdigit()),
        "{trace:?}"
    );
    b.find("#call-span-id").await;
    b.wait_text("#call-parent-span-id", "the gateway started this trace")
        .await;
    b.click("#call-trace-id").await;
    b.wait_text("#calls-count", "Calls shown: 1 ").await;
    assert_eq!(
        b.find("#f-trace_id").await.prop("value").await.unwrap(),
        Some(trace.clone())
    );
    b.open("calls?trace_id=abc").await;
    b.wait_text("#f-trace_id-error", "W3C trace id").await;

    // A call id typed into the search box goes straight to the call.
    b.open("calls").await;
    b.fill("#f-request_id", &id.to_uppercase()).await;
    submit(&b).await;
    b.find(&format!("#call-detail[data-call=\"{id}\"]")).await;
    assert_eq!(hash(&b).await, format!("#/calls/{id}"));

    // A request id typed into the search box finds its call; a cut body says so.
    b.open("calls").await;
    b.fill("#f-request_id", "big-body-1").await;
    submit(&b).await;
    b.wait_js(
        "the request id in the hash",
        "location.hash === '#/calls?request_id=big-body-1'",
    )
    .await;
    b.wait_text("#calls-count", "Calls shown: 1 ").await;
    b.click("#calls-table a.call-link").await;
    b.wait_text(
        "#call-request-body",
        "cut at the capture limit: first 4,096 of 6,011 bytes",
    )
    .await;

    // The refused call: its reason in words, no upstream.
    b.open("calls?request_id=no-key-1&outcome=refused_auth")
        .await;
    b.wait_text("#calls-count", "Calls shown: 1 ").await;
    b.click("#calls-table a.call-link").await;
    b.wait_text("#call-outcome-text", "credentials were missing or wrong")
        .await;
    b.wait_text("#call-route", "refused before any upstream")
        .await;
    b.screenshot("support-calls-refused").await;

    // An id no call has.
    b.open(&format!("calls/{}", uuid::Uuid::now_v7())).await;
    b.wait_text("#main", "No call has this id").await;

    // Bad filters: the API's message beside the field.
    b.open("calls").await;
    b.click("#calls-range button[data-value=\"custom\"]").await;
    b.fill("#f-from", "last tuesday").await;
    b.fill("#f-to", "2026-11-25 10:00").await;
    submit(&b).await;
    b.wait_text("#f-from-error", "is not a time").await;
    b.find(".field-error #f-from").await;
    b.screenshot("support-calls-bad-filter").await;
    b.open("calls?status=999").await;
    b.wait_text("#f-status-error", "is not an HTTP status")
        .await;
    b.open("calls?min_latency_ms=fast").await;
    b.wait_text("#f-min_latency_ms-error", "whole number of milliseconds")
        .await;
    // A good custom range in the user's zone finds the calls again.
    b.open("calls").await;
    b.click("#calls-range button[data-value=\"custom\"]").await;
    let (from, to) = {
        // The user has no zone of their own: the site's (Asia/Taipei by default).
        let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Taipei);
        let f = |t: chrono::DateTime<chrono_tz::Tz>| t.format("%Y-%m-%d %H:%M").to_string();
        (
            f(now - chrono::Duration::hours(1)),
            f(now + chrono::Duration::hours(1)),
        )
    };
    b.fill("#f-from", &from).await;
    b.fill("#f-to", &to).await;
    b.fill("#f-client", "acme").await;
    submit(&b).await;
    b.wait_text("#calls-count", "Calls shown: 50").await;
    assert!(
        hash(&b).await.contains("range=custom"),
        "{}",
        hash(&b).await
    );

    // Phone and Chinese.
    b.open("calls?client=acme").await;
    b.wait_text("#calls-count", "50").await;
    b.resize(PHONE).await;
    b.client.refresh().await.unwrap();
    b.wait_text("#calls-count", "50").await;
    b.screenshot("support-calls-phone").await;
    // The filters beyond the id box fold away on a phone; the button says how many are set.
    b.wait_text("#calls-toggle", "1 set").await;
    b.scroll_to("#calls-results").await;
    b.screenshot("support-calls-results-phone").await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#main h1", "呼叫查詢").await;
    b.wait_text("#calls-count", "已顯示").await;
    b.screenshot("support-calls-zh-TW").await;
    b.open(&format!("calls/{id}")).await;
    b.wait_text("#call-outcome-text", "成功").await;
    b.screenshot("support-calls-detail-zh-TW").await;
    b.scroll_to("#call-request-card").await;
    b.screenshot("support-calls-detail-bodies-zh-TW").await;
    b.resize(PHONE).await;
    b.screenshot("support-calls-detail-zh-TW-phone").await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("#call-outcome-text", "OK").await;

    b.assert_no_csp_violations().await;

    // A manager: no calls in the nav, the page refused, and the API refuses too.
    b.click("#logout").await;
    b.find("#login-form").await;
    b.log_in("u-manager", PW).await;
    assert!(b
        .client
        .find(Locator::Css("nav#nav a[data-page=\"calls\"]"))
        .await
        .is_err());
    b.open("calls?client=acme").await;
    b.wait_text("#main", "Your role cannot open this page")
        .await;
    for path in [
        "/api/v1/reports/calls?range=1h&client=acme".to_string(),
        format!("/api/v1/reports/calls/{id}"),
    ] {
        let (status, text) = b.fetch("GET", &path).await;
        assert_eq!(status, 403, "manager {path}: {text}");
        assert!(!text.contains("****"), "{text}");
    }
    b.close().await;
}
