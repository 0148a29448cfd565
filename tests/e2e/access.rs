//! The gateway's access phase end to end: entities registered in the configuration log, each
//! refusal answered with its status and code and recorded in `api_calls` with the client, hot
//! revocation and approval, and a shared quota across two gateway processes.

use crate::helpers::*;
use bytes::Bytes;
use chrono::Timelike;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind;
use gatewatch_store::Store;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const PEPPER: &str = "e2e-access-pepper-0123456789";

fn key(client: &str, key: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v =
        serde_json::json!({"client_id": client, "hash": hash_secret(PEPPER.as_bytes(), key)});
    if let serde_json::Value::Object(m) = extra {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

async fn write(store: &Store, changes: Vec<gatewatch_store::config_log::Change>) {
    put_entities(store, &changes).await;
}

/// Status, headers and JSON body (or null) of one GET with an optional API key.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: serde_json::Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

async fn get(url: &str, api_key: Option<&str>) -> Answer {
    match api_key {
        Some(k) => get_with(url, "x-api-key", k).await,
        None => get_with(url, "x-none", "").await,
    }
}

async fn get_with(url: &str, header: &str, value: &str) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = hyper::Request::get(url).header(header, value);
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

/// Calls until the answer has `status`; returns how long that took.
async fn until(url: &str, api_key: Option<&str>, status: u16, secs: u64) -> Duration {
    let t0 = Instant::now();
    loop {
        let a = get(url, api_key).await;
        if a.status == status {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{url} still answers {} {} after {secs} s, not {status}",
            a.status,
            a.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const JWT_SECRET: &str = "e2e-jwt-secret-0123456789abcdef";

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// An HS256 JWT (the signature is the HMAC-SHA256 that `model::secret` computes).
fn jwt(claims: serde_json::Value) -> String {
    let head = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{head}.{}", b64url(claims.to_string().as_bytes()));
    let hex = hash_secret(JWT_SECRET.as_bytes(), &input);
    let hex = hex.trim_start_matches("hmac-sha256:");
    let sig: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    format!("{input}.{}", b64url(&sig))
}

fn site_with(name: &str, up: std::net::SocketAddr) -> Site {
    let tail = format!(
        "[security]\npepper = \"{PEPPER}\"\n\n[gateway.jwt]\nhs256_secrets = [\"{JWT_SECRET}\"]\n\n[[routes]]\nprefix = \"/public\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
    );
    Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &tail,
    )
}

fn api(up: std::net::SocketAddr, prefix: &str) -> serde_json::Value {
    serde_json::json!({"name": prefix, "prefix": prefix, "upstreams": [format!("http://{up}")],
        "strip_prefix": true, "auth": ["api_key", "basic", "jwt"]})
}

/// Sleeps past the end of the current minute when fewer than `margin` seconds are left, so a
/// per-minute count is not cut by a rollover mid-test.
async fn clear_of_minute_end(margin: u32) {
    let s = chrono::Utc::now().second();
    if s + margin >= 60 {
        tokio::time::sleep(Duration::from_secs((61 - s) as u64)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_is_answered_and_recorded_with_the_client() {
    let up = upstream().await;
    let site = site_with("access_refusals", up);
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    // Service hours that cross midnight in Taipei and leave out the present: closed from an
    // hour ago until two hours from now.
    let taipei = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Taipei);
    let minute = taipei.hour() * 60 + taipei.minute();
    let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    let (closes, opens) = if minute + 2 <= 23 * 60 + 59 {
        (minute.saturating_sub(60), (minute + 120).min(23 * 60 + 59))
    } else {
        // At 23:58–23:59 no window opening later today exists: use 00:01–22:58 instead.
        (minute - 60, 1)
    };
    let hours = gatewatch_model::client::ServiceHours {
        days: vec![],
        from: hm(opens).parse().unwrap(),
        until: hm(closes).parse().unwrap(),
    };
    assert!(
        !hours.contains(taipei.naive_local()),
        "the test's window must exclude now"
    );
    let yesterday = (taipei.date_naive() - chrono::Days::new(1)).to_string();

    use EntityKind::*;
    write(
        &store,
        vec![
            change(Api, "orders", api(up, "/orders")),
            change(Api, "pay", api(up, "/pay")),
            change(Group, "std", json!({"name": "Standard", "apis": ["orders"]})),
            change(Product, "payp", json!({"name": "Payments", "apis": ["pay"], "approval": "manual"})),
            change(Client, "acme", json!({"name": "Acme", "groups": ["std"],
                "secret_hash": hash_secret(PEPPER.as_bytes(), "acme-secret")})),
            change(Client, "fast", json!({"name": "Fast", "groups": ["std"], "tps": {"per_second": 1, "burst": 5}})),
            change(Client, "small", json!({"name": "Small", "groups": ["std"], "quota": {"per_minute": 3}})),
            change(Client, "lan", json!({"name": "LAN only", "groups": ["std"], "ip_allow": ["10.0.0.0/8"]})),
            change(Client, "night", json!({"name": "Night", "groups": ["std"], "timezone": "Asia/Taipei", "service_hours": hours})),
            change(Client, "gone", json!({"name": "Gone", "groups": ["std"], "valid_until": yesterday})),
            change(Client, "off", json!({"name": "Off", "groups": ["std"], "status": "suspended"})),
            change(Client, "shop", json!({"name": "Shop"})),
            change(ApiKey, "k-acme", key("acme", "gwk_acme", json!({}))),
            change(ApiKey, "k-fast", key("fast", "gwk_fast", json!({}))),
            change(ApiKey, "k-small", key("small", "gwk_small", json!({}))),
            change(ApiKey, "k-lan", key("lan", "gwk_lan", json!({}))),
            change(ApiKey, "k-night", key("night", "gwk_night", json!({}))),
            change(ApiKey, "k-gone", key("gone", "gwk_gone", json!({}))),
            change(ApiKey, "k-off", key("off", "gwk_off", json!({}))),
            change(ApiKey, "k-old", key("acme", "gwk_old", json!({"expires_at": "2020-01-01T00:00:00Z"}))),
            change(ApiKey, "k-shop", key("shop", "gwk_shop", json!({"products": [{"product": "payp", "status": "pending"}]}))),
        ],
    )
    .await;
    let orders = site.url("/orders/ok");
    let pay = site.url("/pay/ok");
    until(&orders, Some("gwk_acme"), 200, 20).await;
    // Calls per (client, outcome) on `orders`, to find in ClickHouse.
    let mut expect: HashMap<(&str, &str), u64> = HashMap::new();

    // HTTP Basic with the client secret, and a JWT naming the client.
    let basic = |cred: &str| {
        let b64 = b64url(cred.as_bytes()).replace('-', "+").replace('_', "/");
        let pad = "=".repeat((4 - b64.len() % 4) % 4);
        format!("Basic {b64}{pad}")
    };
    let a = get_with(&orders, "authorization", &basic("acme:acme-secret")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = get_with(&orders, "authorization", &basic("acme:wrong")).await;
    assert_eq!((a.status, a.code()), (401, "invalid_credentials"));
    let exp = chrono::Utc::now().timestamp() + 300;
    let token = jwt(json!({"sub": "acme", "exp": exp}));
    let a = get_with(&orders, "authorization", &format!("Bearer {token}")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let stale = jwt(json!({"sub": "acme", "exp": exp - 3600}));
    let a = get_with(&orders, "authorization", &format!("Bearer {stale}")).await;
    assert_eq!((a.status, a.code()), (401, "invalid_credentials"));
    *expect.entry(("", "refused_auth")).or_default() += 2;

    // Public APIs ask nothing.
    assert_eq!(get(&site.url("/public/ok"), None).await.status, 200);

    for (k, status, code, outcome, client) in [
        (None, 401, "auth_required", "refused_auth", ""),
        (
            Some("gwk_wrong"),
            401,
            "invalid_credentials",
            "refused_auth",
            "",
        ),
        (
            Some("gwk_old"),
            403,
            "key_expired",
            "refused_expired",
            "acme",
        ),
        (Some("gwk_lan"), 403, "ip_not_allowed", "refused_ip", "lan"),
        (
            Some("gwk_night"),
            403,
            "outside_service_hours",
            "refused_hours",
            "night",
        ),
        (
            Some("gwk_gone"),
            403,
            "client_expired",
            "refused_expired",
            "gone",
        ),
        (
            Some("gwk_off"),
            403,
            "client_suspended",
            "refused_not_allowed",
            "off",
        ),
    ] {
        let a = get(&orders, k).await;
        assert_eq!((a.status, a.code()), (status, code), "{k:?}: {}", a.body);
        assert!(a.headers.contains_key("x-request-id"));
        *expect.entry((client, outcome)).or_default() += 1;
    }

    // TPS 1/s with a burst of 5: the burst passes, the excess is refused with Retry-After.
    let mut fast: HashMap<u16, u64> = HashMap::new();
    for _ in 0..8 {
        let a = get(&orders, Some("gwk_fast")).await;
        if a.status == 429 {
            assert_eq!(a.code(), "rate_limited");
            assert!(a.headers.contains_key("retry-after"));
        }
        *fast.entry(a.status).or_default() += 1;
    }
    let passed = fast.get(&200).copied().unwrap_or(0);
    // The burst, and at most a token or two more on a slow machine.
    assert!((5..=7).contains(&passed), "{fast:?}");
    assert_eq!(passed + fast.get(&429).copied().unwrap_or(0), 8, "{fast:?}");
    expect.insert(("fast", "ok"), passed);
    expect.insert(("fast", "refused_rate"), 8 - passed);

    // A per-minute quota of 3: the fourth call is refused until the minute ends.
    clear_of_minute_end(10).await;
    for _ in 0..3 {
        assert_eq!(get(&orders, Some("gwk_small")).await.status, 200);
    }
    let a = get(&orders, Some("gwk_small")).await;
    assert_eq!((a.status, a.code()), (429, "quota_exceeded"), "{}", a.body);
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    expect.insert(("small", "ok"), 3);
    expect.insert(("small", "refused_quota"), 1);

    // A product waiting for approval, then approved: allowed without a restart.
    let a = get(&pay, Some("gwk_shop")).await;
    assert_eq!((a.status, a.code()), (403, "product_not_approved"));
    let a = get(&pay, Some("gwk_acme")).await;
    assert_eq!((a.status, a.code()), (403, "api_not_granted"));
    write(
        &store,
        vec![change(
            ApiKey,
            "k-shop",
            key(
                "shop",
                "gwk_shop",
                json!({"products": [{"product": "payp", "status": "approved"}]}),
            ),
        )],
    )
    .await;
    let took = until(&pay, Some("gwk_shop"), 200, 20).await;
    println!("approval reached the gateway in {} ms", took.as_millis());

    // Revoking a key while the gateway runs.
    write(
        &store,
        vec![change(
            ApiKey,
            "k-acme",
            key("acme", "gwk_acme", json!({"revoked": true})),
        )],
    )
    .await;
    let took = until(&orders, Some("gwk_acme"), 401, 20).await;
    println!("revocation reached the gateway in {} ms", took.as_millis());
    assert!(took < Duration::from_secs(5), "revocation took {took:?}");
    assert_eq!(get(&orders, Some("gwk_acme")).await.code(), "key_revoked");

    // Refused calls are in ClickHouse with their outcome and client.
    for ((client, outcome), n) in expect {
        eventually(
            &store,
            &format!("SELECT count() FROM api_calls WHERE client_id = '{client}' AND outcome = '{outcome}' AND api_id = 'orders'"),
            n,
            30,
        )
        .await;
    }
    eventually(
        &store,
        "SELECT toUInt64(count() > 0) FROM api_calls WHERE client_id = 'shop' AND api_key_id = 'k-shop' AND outcome = 'refused_not_allowed' AND status = 403",
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT toUInt64(count() > 0) FROM api_calls WHERE client_id = 'shop' AND app_id = 'payp' AND outcome = 'ok'",
        1,
        30,
    )
    .await;
    // Never the key itself.
    assert_eq!(
        store
            .fetch_u64("SELECT count() FROM api_calls WHERE position(api_key_id, 'gwk_') > 0 OR position(error, 'gwk_') > 0")
            .await
            .unwrap(),
        0
    );
}

/// A second gateway of the same site (same database and collector), its own port, node name
/// and data directory.
pub(crate) fn second_gateway(site: &Site) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let gateway: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gateway_admin: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    let old_data = site.dir.path().join("data").display().to_string();
    let text = text
        .replace(&old_data, &dir.path().join("data").display().to_string())
        .replace(
            &format!("admin_listen = \"{}\"", site.gateway_admin),
            &format!("admin_listen = \"{gateway_admin}\""),
        )
        .replace(
            &format!("listen = \"{}\"", site.gateway),
            &format!("listen = \"{gateway}\""),
        )
        .replace("node = \"e2e-", "node = \"e2e-b-");
    std::fs::write(dir.path().join("gatewatch.toml"), text).unwrap();
    Site {
        dir,
        gateway,
        gateway_admin,
        collector: site.collector,
        dashboards: site.dashboards,
        alerter: site.alerter,
        reports: site.reports,
        portal: site.portal,
        clickhouse_url: site.clickhouse_url.clone(),
        database: site.database.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_quota_holds_across_two_gateways() {
    let up = upstream().await;
    let a = site_with("access_shared", up);
    let store = a.migrate().await;
    let b = second_gateway(&a);
    let _collector = a.start("collector").await;
    let _ga = a.start("gateway").await;
    let _gb = b.start("gateway").await;

    let limit = 20u64;
    write(
        &store,
        vec![
            change(EntityKind::Api, "orders", api(up, "/orders")),
            change(
                EntityKind::Group,
                "std",
                json!({"name": "Std", "apis": ["orders"]}),
            ),
            change(
                EntityKind::Client,
                "team",
                json!({"name": "Team", "groups": ["std"],
                "quota": {"per_hour": limit, "scope": "shared"}}),
            ),
            change(
                EntityKind::ApiKey,
                "k-team",
                key("team", "gwk_team", json!({})),
            ),
            change(
                EntityKind::Client,
                "probe",
                json!({"name": "Probe", "groups": ["std"]}),
            ),
            change(
                EntityKind::ApiKey,
                "k-probe",
                key("probe", "gwk_probe", json!({})),
            ),
        ],
    )
    .await;
    until(&a.url("/orders/ok"), Some("gwk_probe"), 200, 20).await;
    until(&b.url("/orders/ok"), Some("gwk_probe"), 200, 20).await;
    // Keep clear of an hour's end (the window would start again from zero).
    let now = chrono::Utc::now();
    if now.minute() == 59 {
        tokio::time::sleep(Duration::from_secs(61 - now.second() as u64)).await;
    }

    // Alternate between the gateways, 10 calls a second in all.
    let pause = Duration::from_millis(100);
    let mut allowed = 0u64;
    let mut calls = 0u64;
    for i in 0..60 {
        let site = if i % 2 == 0 { &a } else { &b };
        let r = get(&site.url("/orders/ok"), Some("gwk_team")).await;
        calls += 1;
        match r.status {
            200 => allowed += 1,
            429 => assert_eq!(r.code(), "quota_exceeded"),
            s => panic!("unexpected {s}: {}", r.body),
        }
        tokio::time::sleep(pause).await;
    }
    // The stated bound: calls the other gateway admitted during shipping + insert lag
    // (flush 200 ms + insert period 200 ms here) and the 1 s sync, at 5 calls/s each: about
    // 10; allow for a slow machine.
    println!("shared quota {limit}: {allowed} of {calls} calls allowed across two gateways");
    assert!(allowed >= limit, "allowed {allowed} < limit {limit}");
    assert!(
        allowed <= limit + 12,
        "allowed {allowed}: over limit + bound"
    );

    // Once the counts are synced, both gateways refuse.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for site in [&a, &b] {
        let r = get(&site.url("/orders/ok"), Some("gwk_team")).await;
        assert_eq!((r.status, r.code()), (429, "quota_exceeded"));
    }
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE client_id = 'team' AND outcome = 'ok'",
        allowed,
        30,
    )
    .await;
    assert_eq!(
        store
            .fetch_u64(
                "SELECT uniqExact(node) FROM api_calls WHERE client_id = 'team' AND outcome = 'ok'"
            )
            .await
            .unwrap(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_while_clickhouse_is_down_enforces_the_same_access() {
    let mut ch = PrivateClickHouse::start();
    let up = upstream().await;
    let tail = format!("[security]\npepper = \"{PEPPER}\"\n");
    let site = Site::new("access_snapshot", &ch.url(), &tail);
    let store = site.migrate().await;
    write(
        &store,
        vec![
            change(EntityKind::Api, "orders", api(up, "/orders")),
            change(
                EntityKind::Group,
                "std",
                json!({"name": "Std", "apis": ["orders"]}),
            ),
            change(
                EntityKind::Client,
                "acme",
                json!({"name": "Acme", "groups": ["std"]}),
            ),
            change(
                EntityKind::ApiKey,
                "k-acme",
                key("acme", "gwk_acme", json!({})),
            ),
            change(
                EntityKind::ApiKey,
                "k-rev",
                key("acme", "gwk_rev", json!({"revoked": true})),
            ),
        ],
    )
    .await;
    let orders = site.url("/orders/ok");
    let mut gateway = site.start("gateway").await;
    until(&orders, Some("gwk_acme"), 200, 20).await;
    gateway.kill();
    ch.stop();

    let _gateway = site.start("gateway").await;
    assert_eq!(get(&orders, Some("gwk_acme")).await.status, 200);
    assert_eq!(get(&orders, None).await.code(), "auth_required");
    assert_eq!(
        get(&orders, Some("gwk_other")).await.code(),
        "invalid_credentials"
    );
    assert_eq!(get(&orders, Some("gwk_rev")).await.code(), "key_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_gateway_refuses_with_503_refused_busy() {
    let up = upstream().await;
    let site = site_with("access_busy", up);
    // One call at a time; a second waits at most 200 ms.
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    let text = text.replacen(
        "[gateway]\n",
        "[gateway]\nmax_inflight = 1\nqueue_wait_ms = 200\n",
        1,
    );
    std::fs::write(site.config_path(), text).unwrap();
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    // `/slow` holds the only place until the gateway's 1 s upstream timeout.
    let slow = tokio::spawn({
        let url = site.url("/public/slow");
        async move { get(&url, None).await.status }
    });
    // Probe until a probe finds the place taken (the slow call may only get it after the
    // first probe, on a busy machine).
    let a = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let a = get(&site.url("/public/ok"), None).await;
        if a.status != 200 || slow.is_finished() {
            break a;
        }
    };
    assert_eq!((a.status, a.code()), (503, "refused_busy"), "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(slow.await.unwrap(), 504);
    // The place is free again.
    assert_eq!(get(&site.url("/public/ok"), None).await.status, 200);
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE outcome = 'refused_busy' AND status = 503",
        1,
        30,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_from_another_issuer_or_for_another_audience_is_refused() {
    let up = upstream().await;
    let site = site_with("access_jwt_iss_aud", up);
    site.tune(
        "gateway.jwt",
        "issuer = \"https://idp.example\"\naudience = \"orders-api\"",
    );
    let store = site.migrate().await;
    let _gateway = site.start("gateway").await;
    use EntityKind::*;
    write(
        &store,
        vec![
            change(Api, "orders", api(up, "/orders")),
            change(
                Group,
                "std",
                json!({"name": "Standard", "apis": ["orders"]}),
            ),
            change(Client, "acme", json!({"name": "Acme", "groups": ["std"]})),
        ],
    )
    .await;
    let orders = site.url("/orders/ok");
    let exp = chrono::Utc::now().timestamp() + 300;
    let bearer = |claims: serde_json::Value| format!("Bearer {}", jwt(claims));
    let good = bearer(
        json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": "orders-api"}),
    );
    // The API reaches the gateway through the configuration log.
    let t0 = Instant::now();
    loop {
        let a = get_with(&orders, "authorization", &good).await;
        if a.status == 200 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{} {}",
            a.status,
            a.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_list = bearer(
        json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": ["billing", "orders-api"]}),
    );
    assert_eq!(
        get_with(&orders, "authorization", &in_list).await.status,
        200
    );
    for claims in [
        json!({"sub": "acme", "exp": exp, "iss": "https://evil.example", "aud": "orders-api"}),
        json!({"sub": "acme", "exp": exp, "aud": "orders-api"}),
        json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": "billing"}),
        json!({"sub": "acme", "exp": exp, "iss": "https://idp.example"}),
        json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": ["billing"]}),
    ] {
        let a = get_with(&orders, "authorization", &bearer(claims.clone())).await;
        assert_eq!(
            (a.status, a.code()),
            (401, "invalid_credentials"),
            "{claims}"
        );
    }
}
