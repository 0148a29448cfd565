//! Each role in a real browser: logs in, sees exactly the pages its permissions allow (the nav
//! table of dashboards/ui/nav.js, mirrored in [`PAGES`]), is refused by the API on the routes
//! of each page it does not see, switches to zh-TW and back, and logs out. Along the way: a
//! wrong password, the lockout's message, a password change with the API's field errors, and a
//! session ended elsewhere sending the browser back to the login page. Screenshots of every
//! page seen go to `target/screenshots/<role>-<page>.png`.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use fantoccini::Locator;
use gatewatch_dashboards::access::{self, Access};
use gatewatch_model::{Permission, Role};
use http::Method;
use std::time::Duration;

const PW: &str = "correct-horse-battery";

/// The navigation table of dashboards/ui/nav.js: page and the permission that shows it.
const PAGES: [(&str, Option<Permission>); 8] = [
    ("overview", None),
    ("nodes", Some(Permission::ReadNodes)),
    ("alerts", Some(Permission::WriteAlertRules)),
    ("reports", Some(Permission::WriteReportSubscriptions)),
    ("calls", Some(Permission::ReadCallDetail)),
    ("config", Some(Permission::WriteGatewayConfig)),
    ("users", Some(Permission::ManageUsers)),
    ("audit", Some(Permission::ReadAuditLog)),
];

/// What issue 7 says each role uses; the matrix must agree with it.
fn issue_pages(role: Role) -> Vec<&'static str> {
    match role {
        Role::Admin => PAGES.iter().map(|p| p.0).collect(),
        Role::Ops => vec!["overview", "nodes", "alerts"],
        Role::Manager => vec!["overview", "reports"],
        Role::Support => vec!["overview", "calls"],
    }
}

/// The routes (admin API and report API) that need `p`, with their parameters filled: a
/// page's reads and writes. Read from the route tables, so routes added later are probed too.
fn routes_needing(p: Permission) -> Vec<(Method, String)> {
    let mut rows: Vec<(Method, String)> = access::rules()
        .into_iter()
        .filter(|r| r.access == Access::Perm(p))
        .map(|r| (r.method, r.path))
        .collect();
    rows.extend(
        gatewatch_reports::http::access()
            .into_iter()
            .filter(|r| r.permission == p)
            .map(|r| (r.method, r.path.to_string())),
    );
    rows.into_iter()
        .map(|(m, path)| {
            let path = path
                .replace("{id}", "probe")
                .replace("{product}", "probe")
                .replace("{call_id}", "0193a5e2-0000-7000-8000-000000000000")
                .replace("{kind}", "usage");
            (m, path)
        })
        .collect()
}

/// Waits until `GET /api/v1/me` says the user's language is `want`.
async fn stored_lang(b: &Browser, role: Role, want: &str) {
    let deadline = tokio::time::Instant::now() + super::browser::WAIT;
    loop {
        let (status, text) = b.fetch("GET", "/api/v1/me").await;
        let me: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status == 200 && me["lang"] == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{role}: the stored language is not {want}: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_its_pages_and_the_api_refuses_the_rest() {
    let up = upstream().await;
    let site = Site::new(
        "ui_roles",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/demo\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );
    let store = site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    add_user(&site, "u-locked", "support", PW);
    let _up = site.start("up").await;
    // `up` answers on the gateway's port first; wait for the dashboards too.
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Some traffic, so the overview has figures and a chart: mostly 200s, some 404s and 500s.
    let sent = drive(
        &site.url("/demo"),
        &[
            "/ok", "/ok", "/ok", "/ok", "/ok", "/ok", "/missing", "/fail",
        ],
        400,
        4,
        Duration::ZERO,
    )
    .await;
    println!("traffic sent: {sent:?}");
    eventually(&store, "SELECT count() FROM api_calls", 400, 60).await;

    let b = Browser::start(site.dashboards).await;

    // Nobody logged in: the login page, in English.
    b.open("").await;
    b.find("#login-form").await;
    b.wait_text("#login-form h1", "Sign in").await;
    b.screenshot("anonymous-login").await;

    // A wrong password: the API's refusal, shown above the form.
    b.submit_login("u-admin", "not the password").await;
    b.wait_text("#login-error", "Wrong user name or password")
        .await;
    b.screenshot("anonymous-login-error").await;

    // Five wrong passwords lock the user; the sixth try says how long to wait.
    for _ in 0..5 {
        b.submit_login("u-locked", "not the password").await;
        b.wait_text("#login-error", "Wrong user name or password")
            .await;
    }
    b.submit_login("u-locked", PW).await;
    let locked = b.wait_text("#login-error", "Too many failed").await;
    assert!(locked.contains("15 min"), "{locked}");
    b.screenshot("anonymous-login-locked").await;

    for role in Role::ALL {
        let user = format!("u-{role}");
        b.submit_login(&user, PW).await;
        b.find("nav#nav").await;
        b.wait_text("#user-name", &user).await;
        // The overview's figures and its chart (the report's SVG) have loaded.
        b.find("#stat-calls").await;
        b.wait_js(
            "the traffic chart",
            "document.querySelector('#traffic-chart') && document.querySelector('#traffic-chart').complete && document.querySelector('#traffic-chart').naturalWidth > 0",
        )
        .await;
        let calls = b.wait_text("#stat-calls .stat-value", "4").await;
        assert_eq!(calls.trim(), "400", "{role}: calls on the overview");
        let rate = b
            .find("#stat-error-rate .stat-value")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            rate.trim(),
            "12.5 %",
            "{role}: 50 of 400 calls failed upstream"
        );
        // Node health (ops, admin) lists this site's gateway; active alerts (all but support)
        // has none.
        if role.may(Permission::ReadNodes) {
            b.wait_text("#card-nodes #node-list", "e2e-ui_roles").await;
        } else {
            assert!(b.client.find(Locator::Css("#card-nodes")).await.is_err());
        }
        if role.may(Permission::ReadAlerts) {
            b.wait_text("#card-alerts", "No active alerts").await;
        } else {
            assert!(b.client.find(Locator::Css("#card-alerts")).await.is_err());
        }
        // The busiest APIs: the one route of this site, with its 400 calls.
        let apis = b.wait_text("#api-table tbody", "400").await;
        assert!(apis.contains("50"), "{role}: server errors per API: {apis}");
        b.wait_js("the title", "document.title === 'Overview · gatewatch'")
            .await;
        b.screenshot(&format!("{role}-overview")).await;

        // The nav shows exactly what the role may use.
        let mut shown = Vec::new();
        for a in b
            .client
            .find_all(Locator::Css("nav#nav a[data-page]"))
            .await
            .unwrap()
        {
            shown.push(a.attr("data-page").await.unwrap().unwrap());
        }
        let allowed: Vec<&str> = PAGES
            .iter()
            .filter(|(_, p)| p.is_none_or(|p| role.may(p)))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(shown, allowed, "{role}: the nav");
        assert_eq!(
            allowed,
            issue_pages(role),
            "{role}: the role matrix vs issue 7"
        );

        // A page the role does not see: the UI says so, and the API refuses its routes.
        for (page, perm) in PAGES {
            let Some(perm) = perm.filter(|p| !role.may(*p)) else {
                continue;
            };
            b.open(page).await;
            b.wait_text("#main", "Your role cannot open this page")
                .await;
            let routes = routes_needing(perm);
            for (method, path) in &routes {
                let (status, text) = b.fetch(method.as_str(), path).await;
                assert_eq!(status, 403, "{role} {method} {path} ({page}): {text}");
                assert!(
                    text.contains("\"forbidden\""),
                    "{role} {method} {path}: {text}"
                );
            }
            println!("{role}: {page} hidden; {} routes refused", routes.len());
        }
        // The pages it does see open (those still to come show their header).
        for page in &allowed {
            b.open(page).await;
            b.find(&format!("#main [data-page=\"{page}\"]")).await;
            b.find(&format!("nav#nav a.on[data-page=\"{page}\"]")).await;
            if *page != "overview" {
                b.screenshot(&format!("{role}-{page}")).await;
            }
        }

        // Chinese: the switch changes the texts at once, and the choice stays.
        b.open("overview").await;
        b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
        b.wait_text("nav#nav a[data-page=\"overview\"]", "總覽")
            .await;
        b.wait_text("#main h1", "總覽").await;
        b.wait_text("#stat-calls .stat-label", "呼叫數").await;
        b.wait_text("#logout", "登出").await;
        b.wait_js(
            "lang attribute",
            "document.documentElement.lang === 'zh-TW'",
        )
        .await;
        b.screenshot(&format!("{role}-overview-zh-TW")).await;
        // Stored for the user by the API (not only in this browser), so it holds after a reload.
        stored_lang(&b, role, "zh-TW").await;
        b.client.refresh().await.unwrap();
        b.wait_text("nav#nav a[data-page=\"overview\"]", "總覽")
            .await;
        b.click("#lang-switch button[data-value=\"en\"]").await;
        b.wait_text("nav#nav a[data-page=\"overview\"]", "Overview")
            .await;
        stored_lang(&b, role, "en").await;

        b.assert_no_csp_violations().await;

        // Log out: back at the login page, and the session is gone for the API too.
        b.click("#logout").await;
        b.find("#login-form").await;
        let (status, _) = b.fetch("GET", "/api/v1/me").await;
        assert_eq!(status, 401, "{role}: the session outlived logout");
    }

    // On a phone the nav is a top bar behind a menu button.
    b.submit_login("u-admin", PW).await;
    b.find("#stat-calls").await;
    b.resize(PHONE).await;
    b.wait_js(
        "the nav folded away",
        "getComputedStyle(document.querySelector('nav#nav')).display === 'none'",
    )
    .await;
    b.screenshot("admin-overview-phone").await;
    b.click(".menu-toggle").await;
    b.wait_js(
        "the nav opened",
        "getComputedStyle(document.querySelector('nav#nav')).display !== 'none'",
    )
    .await;
    b.screenshot("admin-nav-phone").await;
    b.resize(LAPTOP).await;

    // Change password: the API's errors beside their fields, then a change that works.
    b.open("password").await;
    b.find("#password-form").await;
    b.screenshot("admin-password").await;
    b.fill("#f-current", "not the password").await;
    b.fill("#f-new", "a-new-password-1").await;
    b.fill("#f-confirm", "a-new-password-1").await;
    b.click("#password-form button[type=submit]").await;
    b.wait_text(".field-error .field-message", "is not the current password")
        .await;
    b.fill("#f-current", PW).await;
    b.fill("#f-new", "short").await;
    b.fill("#f-confirm", "short").await;
    b.click("#password-form button[type=submit]").await;
    b.wait_text(".field-error .field-message", "at least 10 characters")
        .await;
    b.screenshot("admin-password-error").await;
    b.fill("#f-new", "a-new-password-1").await;
    b.fill("#f-confirm", "a-new-password-2").await;
    b.click("#password-form button[type=submit]").await;
    b.wait_text(".field-error .field-message", "differ").await;
    b.fill("#f-confirm", "a-new-password-1").await;
    b.click("#password-form button[type=submit]").await;
    b.wait_text(".toasts", "Your password has been changed")
        .await;
    // The new session works for unsafe requests (its new CSRF token is in use).
    let (status, text) = b.fetch("GET", "/api/v1/me").await;
    assert_eq!(status, 200, "{text}");

    // A session ended elsewhere (logout everywhere from another client): the next request
    // of the page finds it gone and the login page says so.
    let other = Api::login(site.dashboards, "u-admin", "a-new-password-1").await;
    let r = other
        .post("/api/v1/logout?everywhere=true", serde_json::json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    b.open("overview").await;
    b.wait_text("#login-notice", "Your session has ended").await;
    b.screenshot("admin-session-ended").await;
    b.resize(PHONE).await;
    b.screenshot("anonymous-login-phone").await;

    b.close().await;
}
