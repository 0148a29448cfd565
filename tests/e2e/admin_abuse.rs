//! The admin side under abuse, against the running binary: a login flood meets a bound on
//! argon2 work; lockout counts the real client (through `trusted_proxies` only), per address
//! and per account; bearer tokens end with a password change and "log out everywhere".

use crate::admin::{add_user, Answer, Api};
use crate::helpers::*;
use serde_json::{json, Value};
use std::net::SocketAddr;

const PW: &str = "a long test password";

async fn login_from(base: SocketAddr, user: &str, password: &str, from: Option<&str>) -> Answer {
    let extra: Vec<(&str, &str)> = from.map(|f| ("x-forwarded-for", f)).into_iter().collect();
    Api::anonymous(base)
        .call(
            "POST",
            "/api/v1/login",
            Some(&json!({"user": user, "password": password}).to_string()),
            &extra,
        )
        .await
}

/// A metric's value from the dashboards' `/metrics`.
async fn metric(base: SocketAddr, name: &str) -> u64 {
    let m = Api::anonymous(base)
        .call("GET", "/metrics", None, &[])
        .await;
    m.text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {}", m.text))
        .parse()
        .unwrap()
}

fn retry_after(a: &Answer) -> u64 {
    a.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

/// Audit rows of `action` (newest first), read through the API by `admin`.
async fn audit(admin: &Api, action: &str) -> Vec<Value> {
    let r = admin
        .call("GET", &format!("/api/v1/audit?action={action}"), None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_gets_429_busy_and_never_more_than_two_argon2_checks_at_once() {
    let site = Site::new(
        "admin_abuse_flood",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    // No wait for a place, so that the flood meets the bound; each login comes from an
    // address of its own (through the trusted loopback proxy), so no lockout interferes.
    site.tune(
        "dashboards",
        "max_password_checks = 2\npassword_check_wait_ms = 0\ntrusted_proxies = [\"127.0.0.1\"]",
    );
    site.migrate().await;
    add_user(&site, "flo", "support", PW);
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    let (mut unauthorized, mut busy) = (0u64, 0u64);
    // Rounds of 40 at once until some are refused (the first round nearly always is).
    for round in 0..5 {
        let answers = futures_join(round, base).await;
        for a in answers {
            match a.status {
                401 => unauthorized += 1,
                429 => {
                    assert_eq!(a.body["error"]["code"], "busy", "{}", a.text);
                    assert_eq!(retry_after(&a), 1);
                    busy += 1;
                }
                other => panic!("login flood: {other} {}", a.text),
            }
        }
        if busy > 0 {
            break;
        }
    }
    eprintln!("login flood: {unauthorized} answered 401, {busy} refused 429 busy");
    assert!(busy > 0, "no 429 in 200 concurrent logins");
    // Counted: each 401 cost one argon2 check, each 429 none; never more than 2 at once.
    assert!(metric(base, "gatewatch_dashboards_password_checks_in_flight_peak").await <= 2);
    assert_eq!(
        metric(base, "gatewatch_dashboards_password_checks_refused_total").await,
        busy
    );
    assert_eq!(
        metric(base, "gatewatch_dashboards_password_checks_total").await,
        unauthorized
    );
    assert_eq!(
        metric(base, "gatewatch_dashboards_password_checks_in_flight").await,
        0
    );
    // Afterwards the right password works at once.
    assert_eq!(login_from(base, "flo", PW, None).await.status, 200);
}

/// In `gatewatch up` the gateway shares the process with the dashboards: a login flood with
/// the default wait meets the bound, and every proxied call meanwhile is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_gatewatch_up_the_gateway_keeps_answering_during_a_login_flood() {
    let up = upstream().await;
    let routes = format!(
        "[[routes]]\nprefix = \"/flood\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
    );
    let site = Site::new(
        "admin_abuse_up",
        &gatewatch_migrations::testing::clickhouse_url(),
        &routes,
    );
    site.tune("dashboards", "trusted_proxies = [\"127.0.0.1\"]");
    site.migrate().await;
    add_user(&site, "flo", "support", PW);
    let _up = site.start_args(&["up"]).await;
    let base = site.dashboards;
    let flood = tokio::spawn(async move {
        let mut all = Vec::new();
        for round in 0..3 {
            all.extend(futures_join(round, base).await);
        }
        all
    });
    let calls = drive(&site.url(""), &["/flood/ok"], 40, 2, Default::default()).await;
    let answers = flood.await.unwrap();
    assert_eq!(
        calls.get(&200),
        Some(&40),
        "gateway answers during the flood: {calls:?}"
    );
    let busy = answers.iter().filter(|a| a.status == 429).count() as u64;
    let unauthorized = answers.iter().filter(|a| a.status == 401).count() as u64;
    assert_eq!(busy + unauthorized, 120, "only 401 and 429");
    eprintln!("login flood in up: {unauthorized} answered 401, {busy} refused 429 busy");
    assert!(metric(base, "gatewatch_dashboards_password_checks_in_flight_peak").await <= 2);
    assert_eq!(
        metric(base, "gatewatch_dashboards_password_checks_total").await,
        unauthorized
    );
    assert_eq!(login_from(base, "flo", PW, None).await.status, 200);
}

/// 40 wrong logins at once, each for its own name from its own address.
async fn futures_join(round: u32, base: SocketAddr) -> Vec<Answer> {
    let mut tasks = Vec::new();
    for i in 0..40 {
        tasks.push(tokio::spawn(async move {
            let from = format!("198.51.{round}.{i}");
            login_from(base, &format!("nobody{i}"), "wrong password", Some(&from)).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_is_ignored_without_trusted_proxies() {
    let site = Site::new(
        "admin_abuse_forged",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "lou", "support", PW);
    add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    // Each failure claims another address; all are the TCP peer's.
    for i in 0..5 {
        let r = login_from(
            base,
            "lou",
            "wrong password",
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = login_from(base, "lou", PW, Some("203.0.113.99")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "locked");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1"));
    // More tries while locked are refused without a row each: one when the lock was set,
    // one for its first refusal.
    for _ in 0..3 {
        let r = login_from(base, "lou", PW, Some("203.0.113.98")).await;
        assert_eq!(r.status, 429, "{}", r.text);
    }
    let root = Api::login(base, "root", PW).await;
    let failed = audit(&root, "login.failed").await;
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|r| r["client_ip"] == "127.0.0.1"));
    assert_eq!(audit(&root, "login.locked").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_client_is_locked_not_the_proxy() {
    let site = Site::new(
        "admin_abuse_proxy",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.tune("dashboards", "trusted_proxies = [\"127.0.0.0/8\"]");
    site.migrate().await;
    add_user(&site, "lou", "support", PW);
    add_user(&site, "other", "support", PW);
    add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;

    // Five failures for lou from one client behind the proxy lock that client at lou …
    for _ in 0..5 {
        let r = login_from(base, "lou", "wrong password", Some("203.0.113.7")).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = login_from(base, "lou", PW, Some("203.0.113.7")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("203.0.113.7"));
    let wait = retry_after(&r);
    assert!(wait > 0 && wait <= 900, "{wait}");
    // … even when it writes another address at the left of the header: only what the
    // trusted proxy appended counts.
    let r = login_from(base, "lou", PW, Some("192.0.2.1, 203.0.113.7")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    // Neither another client nor the proxy itself is locked.
    assert_eq!(
        login_from(base, "lou", PW, Some("203.0.113.8"))
            .await
            .status,
        200
    );
    assert_eq!(login_from(base, "lou", PW, None).await.status, 200);

    // A spray of names from one client locks that client for every name.
    for i in 0..20 {
        let r = login_from(
            base,
            &format!("guess{i}"),
            "wrong password",
            Some("203.0.113.50"),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = login_from(base, "other", PW, Some("203.0.113.50")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "locked");
    assert_eq!(
        login_from(base, "other", PW, Some("203.0.113.51"))
            .await
            .status,
        200
    );

    // The audit log names the client, not the proxy.
    let root = Api::login(base, "root", PW).await;
    let failed = audit(&root, "login.failed").await;
    assert_eq!(failed.len(), 25);
    assert_eq!(
        failed
            .iter()
            .filter(|r| r["client_ip"] == "203.0.113.7")
            .count(),
        5
    );
    assert!(failed.iter().all(|r| r["client_ip"] != "127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_one_account_from_many_addresses_locks_it_for_strangers_only() {
    let site = Site::new(
        "admin_abuse_account",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.tune("dashboards", "trusted_proxies = [\"127.0.0.1\"]");
    site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    add_user(&site, "other", "support", PW);
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    // The owner logged in from their usual address before the attack.
    assert_eq!(
        login_from(base, "boss", PW, Some("192.0.2.10"))
            .await
            .status,
        200
    );
    // Ten failures from ten addresses: none is locked alone, the account is.
    for i in 0..10 {
        let r = login_from(
            base,
            "boss",
            "wrong password",
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = login_from(base, "boss", PW, Some("198.51.100.1")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "locked");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("many addresses"),
        "{}",
        r.text
    );
    let wait = retry_after(&r);
    assert!(wait > 0 && wait <= 60, "{wait}");
    // Another account from the same stranger's address is not locked …
    assert_eq!(
        login_from(base, "other", PW, Some("198.51.100.1"))
            .await
            .status,
        200
    );
    // … and the owner, from the address they used before, gets in.
    let r = login_from(base, "boss", PW, Some("192.0.2.10")).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_end_with_a_password_change_and_log_out_everywhere() {
    let site = Site::new(
        "admin_abuse_tokens",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "root", "admin", PW);
    add_user(&site, "olive", "ops", PW);
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    let root = Api::login(base, "root", PW).await;
    let new_token = |s: Api| async move {
        let r = s.post("/api/v1/me/tokens", json!({"name": "ci"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["secret"].as_str().unwrap().to_string()
    };
    let with = |token: &str, method: &str, path: &str, body: Option<Value>| {
        let auth = format!("Bearer {token}");
        let body = body.map(|b| b.to_string());
        let path = path.to_string();
        let method = method.to_string();
        async move {
            Api::anonymous(base)
                .call(
                    &method,
                    &path,
                    body.as_deref(),
                    &[("authorization", auth.as_str())],
                )
                .await
        }
    };
    let status =
        |token: String| async move { with(&token, "GET", "/api/v1/me", None).await.status };
    let tokens_of = |s: Api| async move {
        let r = s.call("GET", "/api/v1/me/tokens", None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body.as_array().unwrap().len()
    };

    let t_root = new_token(root.clone()).await;

    // 1. One's own password change (in a browser session) ends every token.
    let mut pw = PW.to_string();
    let olive = Api::login(base, "olive", &pw).await;
    let t1 = new_token(olive.clone()).await;
    let t1b = new_token(olive.clone()).await;
    assert_eq!(status(t1.clone()).await, 200);
    let r = olive
        .post(
            "/api/v1/me/password",
            json!({"current": pw, "new": "second long password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    pw = "second long password".into();
    assert_eq!(status(t1).await, 401);
    assert_eq!(status(t1b).await, 401);
    let olive = Api::login(base, "olive", &pw).await;
    assert_eq!(tokens_of(olive.clone()).await, 0);

    // 2. An admin's reset of the password ends them too.
    let t2 = new_token(olive.clone()).await;
    assert_eq!(status(t2.clone()).await, 200);
    let u = root.call("GET", "/api/v1/users/olive", None, &[]).await;
    let mut body = u.body["body"].clone();
    body["password"] = json!("third long password");
    let etag = u.headers["etag"].to_str().unwrap().to_string();
    let r = root
        .call(
            "PUT",
            "/api/v1/users/olive",
            Some(&body.to_string()),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["body"].get("tokens").is_none(), "{}", r.text);
    pw = "third long password".into();
    assert_eq!(status(t2).await, 401);

    // 3. "Log out everywhere" from a browser ends every token.
    let olive = Api::login(base, "olive", &pw).await;
    let t3 = new_token(olive.clone()).await;
    assert_eq!(status(t3.clone()).await, 200);
    let r = olive
        .post("/api/v1/logout?everywhere=true", json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(status(t3).await, 401);

    // 4. … and from a script, through the token itself: that one ends as well.
    let olive = Api::login(base, "olive", &pw).await;
    let t4 = new_token(olive.clone()).await;
    let t5 = new_token(olive.clone()).await;
    let r = with(
        &t4,
        "POST",
        "/api/v1/logout?everywhere=true",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(status(t4).await, 401);
    assert_eq!(status(t5).await, 401);
    assert_eq!(olive.call("GET", "/api/v1/me", None, &[]).await.status, 401);

    // 5. A password change made with a token ends that token.
    let olive = Api::login(base, "olive", &pw).await;
    let t6 = new_token(olive.clone()).await;
    let r = with(
        &t6,
        "POST",
        "/api/v1/me/password",
        Some(json!({"current": pw, "new": "fourth long password"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(t6).await, 401);
    // Other users' tokens are untouched throughout.
    assert_eq!(status(t_root).await, 200);
    Api::login(base, "olive", "fourth long password").await;
}
