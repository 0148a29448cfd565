//! Requests axum itself cannot read — a path segment that is not UTF-8 once percent-decoded, a
//! query key given twice, a body over the limit — through every kind of route of the running
//! binary (found by schemathesis and by hand): each is refused with our JSON error body naming
//! the parameter (400 `malformed`; 413 `too_large`), never axum's plain text, and never a 500.

use crate::admin::{add_user, Api};
use crate::helpers::*;

const PW: &str = "a long test password";

/// A site of its own with the dashboards role running and an admin logged in.
async fn dashboards_with_admin(name: &str) -> (Site, Proc, Api) {
    let site = Site::new(name, &gatewatch_migrations::testing::clickhouse_url(), "");
    site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", PW).await;
    (site, dash, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_path_and_query_parameters_answer_json_naming_them() {
    let (_site, _dash, admin) = dashboards_with_admin("malformed_params").await;

    // (method, path, the parameter the answer must name)
    let cases = [
        ("GET", "/api/v1/apis/%FF", "id"),
        ("GET", "/api/v1/products/%C3%28/history", "id"),
        ("PUT", "/api/v1/clients/%FF", "id"),
        ("DELETE", "/api/v1/users/%FF", "id"),
        ("POST", "/api/v1/api-keys/%FF/revoke", "id"),
        ("POST", "/api/v1/api-keys/k/products/%FF/approve", "product"),
        ("POST", "/api/v1/clients/%FE/keys", "id"),
        ("DELETE", "/api/v1/me/tokens/%FF", "token_id"),
        ("GET", "/api/v1/report-subscriptions/%FF/runs", "id"),
        ("POST", "/api/v1/report-subscriptions/%FF/run", "id"),
        ("POST", "/api/v1/channels/%FF/test", "id"),
        ("GET", "/api/v1/reports/%FF", "kind"),
        ("GET", "/api/v1/reports/%FF/chart.svg", "kind"),
        ("GET", "/api/v1/reports/calls/%FF", "call_id"),
        ("GET", "/api/v1/apis?limit=1&limit=2", "limit"),
        ("GET", "/api/v1/audit?user=a&user=b", "user"),
        ("GET", "/api/v1/alerts/events?cursor=&cursor=", "cursor"),
        ("GET", "/api/v1/nodes?hours=1&hours=2", "hours"),
        (
            "GET",
            "/api/v1/upstreams/health?minutes=1&minutes=1",
            "minutes",
        ),
        (
            "GET",
            "/api/v1/report-subscriptions/x/runs?limit=1&limit=1",
            "limit",
        ),
        (
            "POST",
            "/api/v1/alert-rules/preview?lang=en&lang=en",
            "lang",
        ),
    ];
    for (method, path, field) in cases {
        let a = admin.call(method, path, Some("{}"), &[]).await;
        let ct = a
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(
            (a.status, ct),
            (400, "application/json"),
            "{method} {path}: {}",
            a.text
        );
        assert_eq!(
            a.body["error"]["code"], "malformed",
            "{method} {path}: {}",
            a.text
        );
        assert_eq!(
            a.body["error"]["field"], field,
            "{method} {path}: {}",
            a.text
        );
    }

    // A body over the limit (2 MiB) on each kind of body-taking route: 413, JSON.
    let big = format!("{{\"name\":\"{}\"}}", "a".repeat(3 << 20));
    for (method, path) in [
        ("POST", "/api/v1/apis"),
        ("PUT", "/api/v1/clients/c1"),
        ("POST", "/api/v1/clients/c1/keys"),
        ("POST", "/api/v1/me/tokens"),
        ("POST", "/api/v1/alert-rules/preview"),
    ] {
        let a = admin
            .call(method, path, Some(&big), &[("if-match", "\"1\"")])
            .await;
        assert_eq!(a.status, 413, "{method} {path}: {}", a.text);
        assert_eq!(
            a.body["error"]["code"], "too_large",
            "{method} {path}: {}",
            a.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_not_served_on_a_path_is_405_with_allow_for_anyone() {
    let (site, _dash, admin) = dashboards_with_admin("method_not_allowed").await;
    let anon = Api::anonymous(site.dashboards);
    for (method, path, allow) in [
        ("PATCH", "/api/v1/apis/orders", "GET, HEAD, PUT, DELETE"),
        ("GET", "/api/v1/login", "POST"),
        ("DELETE", "/api/v1/audit", "GET, HEAD"),
        ("TRACE", "/api/openapi.json", "GET, HEAD"),
        ("POST", "/api/v1/reports/usage", "GET, HEAD"),
    ] {
        for who in [&admin, &anon] {
            let a = who.call(method, path, None, &[]).await;
            assert_eq!(a.status, 405, "{method} {path}: {}", a.text);
            assert_eq!(a.body["error"]["code"], "method_not_allowed", "{}", a.text);
            assert_eq!(
                a.headers.get("allow").and_then(|v| v.to_str().ok()),
                Some(allow),
                "{method} {path}"
            );
        }
    }
}
