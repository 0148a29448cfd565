//! The Nodes, Users and Audit log pages (issue 7) in a real browser, and the admin API they
//! rest on: ops sees a silent node marked first, switches the range and opens a node; admin
//! creates a user (a bad field first), the user logs in and sees their role's nav, admin
//! changes the role, and the audit log shows all of it with who did it, a row opened to its
//! diff, paged with the keyset cursor. The API refuses a user's own demotion, disabling and
//! deletion. Screenshots: `<role>-nodes*`, `admin-users*`, `admin-audit*` (laptop, phone,
//! zh-TW).

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use fantoccini::Locator;
use gatewatch_store::audit::{self, AuditEvent};
use gatewatch_store::Store;
use serde_json::{json, Value};
use std::time::Duration;

const PW: &str = "correct-horse-battery";

/// Back to the top of the page, for a screenshot.
async fn top(b: &Browser) {
    b.client
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
}

async fn log_out(b: &Browser) {
    b.click("#logout").await;
    b.find("#login-form").await;
}

/// A site with one route, migrated, started, its dashboards answering; users `u-<role>`.
async fn site(name: &str, roles: &[&str]) -> (Site, Store, Proc) {
    let up = upstream().await;
    let site = Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/demo\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );
    let store = site.migrate().await;
    for role in roles {
        add_user(&site, &format!("u-{role}"), role, PW);
    }
    let proc = site.start("up").await;
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (site, store, proc)
}

/// A sample of `node` taken `age_secs` ago, with a disk, written to `node_metrics`.
async fn insert_sample(store: &Store, node: &str, age_secs: i64, cpu_pct: f32) {
    let s = gatewatch_model::NodeSample {
        ts_us: chrono::Utc::now().timestamp_micros() - age_secs * 1_000_000,
        node: node.into(),
        role: "gateway".into(),
        cpu_pct,
        mem_used_bytes: 6 << 30,
        mem_total_bytes: 16 << 30,
        rss_bytes: 90 << 20,
        disks: vec![gatewatch_model::node::DiskUsage {
            mount: "/var/lib/gatewatch".into(),
            used_bytes: 410 << 30,
            total_bytes: 500 << 30,
        }],
        backlog: Default::default(),
    };
    insert_node_sample(store, &s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_sees_a_silent_node_first_switches_the_range_and_opens_a_node() {
    let (site, store, _up) = site("ui_nodes", &["ops"]).await;
    // A node that stopped reporting ten minutes ago (samples over the half hour before).
    for age in [600, 900, 1200, 1500, 1800] {
        insert_sample(&store, "edge-quiet", age, 35.0).await;
    }
    let me = "e2e-ui_nodes";
    // This site's own gateway reports too.
    eventually(
        &store,
        &format!("SELECT count() FROM node_metrics WHERE node = '{me}'"),
        1,
        60,
    )
    .await;

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-ops", PW).await;
    b.open("nodes").await;
    let banner = b.wait_text("#nodes-silent", "edge-quiet").await;
    assert!(banner.contains("Silent for 10 min"), "{banner}");
    // The silent node comes first in the table, with its red badge.
    let first = b.wait_text("#node-table tbody tr", "edge-quiet").await;
    assert!(first.contains("Silent for 10 min"), "{first}");
    let rows = b.wait_text("#node-table tbody", me).await;
    assert!(rows.contains("Reporting"), "{rows}");
    b.wait_text("#stat-silent .stat-value", "1").await;
    b.wait_js(
        "the CPU chart",
        "(() => { const i = document.querySelector('#nodes-chart'); return i && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    b.screenshot("ops-nodes").await;

    // Another range: the switch turns on and the chart is drawn again for it.
    b.click("#nodes-range button[data-value=\"6h\"]").await;
    b.find("#nodes-range button.on[data-value=\"6h\"]").await;
    b.wait_js(
        "the 6 h chart",
        "(() => { const i = document.querySelector('#nodes-chart'); return i && i.src.includes('range=6h') && i.complete && i.naturalWidth > 0; })()",
    )
    .await;

    // One node: its figures, its own chart and the report's buckets.
    b.click(&format!("a.node-link[data-node=\"{me}\"]")).await;
    b.wait_text("#node-detail h2", me).await;
    b.wait_js(
        "the hash names the node",
        &format!("location.hash === '#/nodes?node={me}'"),
    )
    .await;
    b.wait_js(
        "the node's chart",
        "(() => { const i = document.querySelector('#node-chart'); return i && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    b.find("#node-buckets tbody tr").await;
    b.wait_text("#card-processes", "gateway").await;
    b.screenshot("ops-nodes-detail").await;
    // The silent one's detail says so.
    b.open("nodes?node=edge-quiet").await;
    b.wait_text("#node-detail .node-title", "Silent for 10 min")
        .await;
    b.wait_text("#card-disks", "/var/lib/gatewatch").await;
    // Memory, RSS and disk over the range: lines from the report's buckets.
    b.find("#trend-disk .trend-line").await;
    b.wait_text("#trend-disk .trend-value", "82 %").await;
    b.wait_js(
        "the silent node's chart",
        "(() => { const i = document.querySelector('#node-chart'); \
           return i && i.src.includes('node=edge-quiet') && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    b.screenshot("ops-nodes-detail-silent").await;
    b.client
        .execute(
            "document.querySelector('#card-trends').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot("ops-nodes-detail-trends").await;
    b.click("#node-back").await;
    b.find("#nodes-list #node-table").await;

    b.resize(PHONE).await;
    b.find("#nodes-silent").await;
    top(&b).await;
    b.screenshot("ops-nodes-phone").await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#main h1", "節點").await;
    b.wait_text("#nodes-silent", "已 10 分鐘未回報").await;
    b.screenshot("ops-nodes-zh-TW").await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("#main h1", "Nodes").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_users_and_the_audit_log_shows_who_did_it() {
    let (site, store, _up) = site("ui_users", &["admin"]).await;
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;
    b.open("users").await;
    b.wait_text("#users-table", "u-admin").await;
    // One's own user: no delete, and neither role nor disabled can be changed in the UI.
    b.click("#edit-u-admin").await;
    b.find("#user-edit-form").await;
    assert!(b
        .client
        .find(Locator::Css("#delete-u-admin"))
        .await
        .is_err());
    let locked = b
        .client
        .execute(
            "return document.querySelector('#f-role').disabled \
               && document.querySelector('#f-disabled').disabled;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(locked, Value::Bool(true));
    b.screenshot("admin-users-edit-self").await;
    b.click("#user-edit .modal-close").await;
    b.screenshot("admin-users-self").await;

    // Create: a bad name first, the API's message beside the field.
    b.click("#user-add").await;
    b.find("#user-create-form").await;
    b.fill("#f-id", "olga smith").await;
    b.fill("#f-display_name", "Olga Smith").await;
    b.select("#f-role", "ops").await;
    b.fill("#f-password", "olga-first-password").await;
    b.fill("#f-email", "olga@example.com").await;
    b.click("#user-create-submit").await;
    let msg = b.wait_text("#f-id-error", "may only hold").await;
    assert!(msg.contains("olga smith"), "{msg}");
    b.screenshot("admin-users-create-error").await;
    // A short password is the API's too.
    b.fill("#f-id", "olga").await;
    b.fill("#f-password", "short").await;
    b.click("#user-create-submit").await;
    b.wait_text("#f-password-error", "at least 10 characters")
        .await;
    b.fill("#f-password", "olga-first-password").await;
    b.click("#user-create-submit").await;
    b.wait_text(".toasts", "User olga added").await;
    let row = b.wait_text("#users-table tbody", "Olga Smith").await;
    assert!(row.contains("Operations"), "{row}");

    // The new user logs in with that password and sees the ops nav.
    log_out(&b).await;
    b.log_in("olga", "olga-first-password").await;
    let mut nav = Vec::new();
    for a in b
        .client
        .find_all(Locator::Css("nav#nav a[data-page]"))
        .await
        .unwrap()
    {
        nav.push(a.attr("data-page").await.unwrap().unwrap());
    }
    assert_eq!(nav, ["overview", "nodes", "alerts"]);
    log_out(&b).await;

    // Admin changes her role; her row and her history say so.
    b.log_in("u-admin", PW).await;
    b.open("users").await;
    b.wait_text("#users-table", "olga").await;
    b.click("#edit-olga").await;
    b.find("#user-edit-form").await;
    b.select("#f-role", "manager").await;
    b.click("#user-edit-submit").await;
    b.wait_text(".toasts", "User olga saved").await;
    b.wait_text("#users-table tbody", "Manager").await;
    // Her last login is known (the audit log's `login` row).
    let olga = b
        .wait_text("#users-table tbody tr:nth-child(1)", "olga")
        .await;
    assert!(!olga.contains("Not in 90 days"), "{olga}");
    b.click("#history-olga").await;
    let h = b.wait_text("#user-history", "manager").await;
    assert!(h.contains("ops") && h.contains("role"), "{h}");
    assert!(h.contains("u-admin"), "{h}");
    b.screenshot("admin-users-history").await;
    b.click("#user-history .modal-close").await;
    // A password set by the admin; then a disable and enable.
    b.click("#pw-olga").await;
    b.fill("#f-new_password", "olga-second-password").await;
    b.fill("#f-confirm_password", "olga-second-passwordX").await;
    b.click("#user-password-submit").await;
    b.wait_text("#f-confirm_password-error", "differ").await;
    b.fill("#f-confirm_password", "olga-second-password").await;
    b.click("#user-password-submit").await;
    b.wait_text(".toasts", "New password set for olga").await;
    // Disable and enable again (the edit dialog's checkbox).
    b.click("#edit-olga").await;
    b.click("#f-disabled").await;
    b.click("#user-edit-submit").await;
    b.wait_text("#users-table tbody", "Disabled").await;
    b.screenshot("admin-users").await;
    b.click("#edit-olga").await;
    b.click("#f-disabled").await;
    b.click("#user-edit-submit").await;
    b.wait_js(
        "olga enabled again",
        "!document.querySelector('#users-table tbody').innerText.includes('Disabled')",
    )
    .await;
    // Delete (from her edit dialog) asks first.
    b.click("#edit-olga").await;
    b.click("#delete-olga").await;
    b.wait_text("#user-delete", "olga").await;
    b.screenshot("admin-users-delete-confirm").await;
    b.click("#user-delete-ok").await;
    b.wait_text(".toasts", "User olga deleted").await;
    b.wait_js(
        "olga gone",
        "!document.querySelector('#users-table tbody').innerText.includes('olga')",
    )
    .await;
    b.resize(PHONE).await;
    top(&b).await;
    b.screenshot("admin-users-phone").await;
    b.resize(LAPTOP).await;

    // The audit log: every change, by whom; a row opens to its diff.
    b.open("audit").await;
    let t = b.wait_text("#audit-table tbody", "olga").await;
    for want in ["Created", "Changed", "Deleted", "Signed in", "u-admin"] {
        assert!(t.contains(want), "{want} in {t}");
    }
    // The newest first: the delete.
    let first = b.find("#audit-table tbody tr.audit-row").await;
    assert_eq!(
        first.attr("data-action").await.unwrap().as_deref(),
        Some("delete")
    );
    b.screenshot("admin-audit").await;
    // The role change's row (the first update of olga by u-admin, oldest of them).
    b.client
        .execute(
            "const rows = [...document.querySelectorAll('#audit-table tr.audit-row')]\
               .filter(r => r.dataset.action === 'update' && r.innerText.includes('olga')\
                 && r.innerText.includes('role'));\
             rows[rows.length - 1].querySelector('.expander').click();",
            vec![],
        )
        .await
        .unwrap();
    let diff = b.wait_text(".audit-open .diff", "manager").await;
    assert!(diff.contains("ops"), "{diff}");
    b.screenshot("admin-audit-expanded").await;
    // Filter by user: only olga's own rows (her login).
    b.fill("#f-audit-user", "olga").await;
    b.wait_js(
        "only olga's rows",
        "(() => { const r = [...document.querySelectorAll('#audit-table tr.audit-row')]; \
           return r.length > 0 && r.every(x => x.dataset.actor === 'olga'); })()",
    )
    .await;
    b.fill("#f-audit-user", "").await;
    b.wait_text("#audit-table tbody", "u-admin").await;

    // Paging: 70 more rows, 50 a page, "Load older" follows the cursor.
    let now = chrono::Utc::now().timestamp_micros();
    let bulk: Vec<AuditEvent> = (0..70)
        .map(|i| AuditEvent {
            ts_us: now - 3_600_000_000 - i * 1_000_000,
            actor: "bulk".into(),
            action: "update".into(),
            entity: "api".into(),
            id: format!("api-{i}"),
            change_id: uuid::Uuid::now_v7(),
            client_ip: "127.0.0.1".into(),
            detail: json!({"version": 2, "fields": ["prefix"]}).to_string(),
        })
        .collect();
    audit::write(&store, &bulk).await.unwrap();
    b.select("#f-audit-action", "update").await;
    b.fill("#f-audit-user", "bulk").await;
    b.wait_js(
        "only bulk's updates",
        "(() => { const r = [...document.querySelectorAll('#audit-table tr.audit-row')]; \
           return r.length === 50 && r.every(x => x.dataset.actor === 'bulk'); })()",
    )
    .await;
    b.wait_text("#audit-count", "50 rows shown").await;
    b.click("#audit-more").await;
    b.wait_text("#audit-count", "70 rows").await;
    let n = b
        .client
        .find_all(Locator::Css("#audit-table tr.audit-row"))
        .await
        .unwrap()
        .len();
    assert_eq!(n, 70);
    b.select("#f-audit-action", "").await;
    b.fill("#f-audit-user", "").await;
    b.wait_text("#audit-table tbody", "u-admin").await;
    b.resize(PHONE).await;
    top(&b).await;
    b.screenshot("admin-audit-phone").await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#main h1", "稽核紀錄").await;
    b.screenshot("admin-audit-zh-TW").await;
    b.open("users").await;
    b.wait_text("#main h1", "使用者").await;
    b.find("#users-table").await;
    b.screenshot("admin-users-zh-TW").await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("#main h1", "Users").await;
    b.close().await;
}

/// The API under the Users page refuses what would lock an admin out: their own demotion,
/// disabling or deletion (another admin may do each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_ones_own_demotion_disabling_and_deletion() {
    let (site, _store, _up) = site("ui_users_self", &["admin"]).await;
    add_user(&site, "u-admin2", "admin", PW);
    let me = Api::login(site.dashboards, "u-admin", PW).await;
    let one = me.call("GET", "/api/v1/users/u-admin", None, &[]).await;
    assert_eq!(one.status, 200, "{}", one.text);
    let v = format!("\"{}\"", one.body["version"]);
    let mut body = one.body["body"].clone();

    body["role"] = json!("support");
    let r = me
        .call(
            "PUT",
            "/api/v1/users/u-admin",
            Some(&body.to_string()),
            &[("if-match", &v)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "role", "{}", r.text);

    body["role"] = json!("admin");
    body["disabled"] = json!(true);
    let r = me
        .call(
            "PUT",
            "/api/v1/users/u-admin",
            Some(&body.to_string()),
            &[("if-match", &v)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "disabled", "{}", r.text);

    let r = me
        .call("DELETE", "/api/v1/users/u-admin", None, &[("if-match", &v)])
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("your own user"), "{}", r.text);

    // Nothing was written: still version 1, still admin.
    let again = me.call("GET", "/api/v1/users/u-admin", None, &[]).await;
    assert_eq!(again.body["version"], one.body["version"]);
    assert_eq!(again.body["body"]["role"], "admin");

    // The same changes by another admin go through; the display name of one's own is fine.
    body["disabled"] = json!(false);
    body["display_name"] = json!("Ada");
    let r = me
        .call(
            "PUT",
            "/api/v1/users/u-admin",
            Some(&body.to_string()),
            &[("if-match", &v)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let other = Api::login(site.dashboards, "u-admin2", PW).await;
    let cur = other.call("GET", "/api/v1/users/u-admin", None, &[]).await;
    let v = format!("\"{}\"", cur.body["version"]);
    let mut body = cur.body["body"].clone();
    body["role"] = json!("ops");
    let r = other
        .call(
            "PUT",
            "/api/v1/users/u-admin",
            Some(&body.to_string()),
            &[("if-match", &v)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = format!("\"{}\"", r.body["version"]);
    let r = other
        .call("DELETE", "/api/v1/users/u-admin", None, &[("if-match", &v)])
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

/// `GET /api/v1/audit` pages keyset-wise and filters by action; bad parameters name their
/// field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_api_pages_with_a_cursor_and_filters_by_action() {
    let (site, store, _up) = site("ui_audit_api", &["admin", "ops"]).await;
    let admin = Api::login(site.dashboards, "u-admin", PW).await;
    let now = chrono::Utc::now().timestamp_micros();
    // 25 rows, five of them at one instant (one change of five entities).
    let rows: Vec<AuditEvent> = (0..25)
        .map(|i| AuditEvent {
            ts_us: now - 60_000_000 - (i / 5) * 1_000_000,
            actor: "pager".into(),
            action: if i % 2 == 0 { "update" } else { "create" }.into(),
            entity: "api".into(),
            id: format!("a{i}"),
            change_id: uuid::Uuid::now_v7(),
            client_ip: "127.0.0.1".into(),
            detail: "{}".into(),
        })
        .collect();
    audit::write(&store, &rows).await.unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    for page in 0.. {
        let r = admin
            .call(
                "GET",
                &format!("/api/v1/audit?user=pager&limit=10&cursor={cursor}"),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|x| x["id"].as_str().unwrap().to_string()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        assert!(page < 5, "too many pages");
    }
    assert_eq!(seen.len(), 25, "{seen:?}");
    let mut uniq = seen.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 25, "a row twice: {seen:?}");

    let r = admin
        .call("GET", "/api/v1/audit?user=pager&action=create", None, &[])
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 12, "{}", r.text);
    assert!(r.body["next_cursor"].is_null());

    for (q, field) in [
        ("cursor=nonsense", "cursor"),
        ("cursor=12.x", "cursor"),
        ("action=DROP%20TABLE", "action"),
        ("limit=0", "limit"),
    ] {
        let r = admin
            .call("GET", &format!("/api/v1/audit?{q}"), None, &[])
            .await;
        assert_eq!(r.status, 422, "{q}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{q}: {}", r.text);
    }
    // Ops may not read it.
    let ops = Api::login(site.dashboards, "u-ops", PW).await;
    let r = ops.call("GET", "/api/v1/audit", None, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

/// The node registry on the Nodes page (issue 19): roles and groups per node, each process's
/// version, addresses and APIs, a stopped node and a stopped process badged and first, the
/// role and group filters, API names (linked for admins), and a hostile node name shown as
/// text. Screenshots: `ops-nodes-registry*`, `admin-nodes-registry`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_sees_roles_groups_and_stopped_processes_of_the_registry() {
    use crate::nodes_registry::{write_registry, HOSTILE};
    let site = Site::new(
        "ui_nodes_registry",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    for role in ["ops", "admin"] {
        add_user(&site, &format!("u-{role}"), role, PW);
    }
    let _dash = site.start("dashboards").await;
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    put_entity(
        &store,
        gatewatch_model::EntityKind::Api,
        "orders",
        &json!({"name": "訂單 API", "prefix": "/orders", "upstreams": ["http://127.0.0.1:9"]}),
    )
    .await;
    let beats = write_registry(&store).await;

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-ops", PW).await;
    b.open("nodes").await;
    // core-1 stopped (its alerter went quiet, its reports process said goodbye): in the
    // banner and first in the table, badged.
    // (Stopped while its goodbye is fresh, silent for … after 15 s.)
    let banner = b.wait_text("#nodes-silent", "core-1").await;
    assert!(
        banner.contains("Stopped") || banner.contains("Silent for"),
        "{banner}"
    );
    let first = b.wait_text("#node-table tbody tr", "core-1").await;
    assert!(
        first.contains("Stopped") || first.contains("Silent for"),
        "{first}"
    );
    assert!(
        first.contains("alerter") && first.contains("reports"),
        "{first}"
    );
    let edge = b
        // (Not by position: this site's own dashboards process is listed too.)
        .wait_text(
            "#node-table tbody tr:has(a[data-node=\"edge-1\"])",
            "edge-1",
        )
        .await;
    for want in ["edge", "public", "collector", "gateway"] {
        assert!(edge.contains(want), "{want}: {edge}");
    }
    // Every process, stopped ones first: the quiet alerter with how long it has been quiet.
    let p1 = b.wait_text("#process-table tbody tr", "core-1").await;
    assert!(p1.contains("Silent for") || p1.contains("Stopped"), "{p1}");
    let procs = b.wait_text("#process-table tbody", "10.0.0.1:8080").await;
    assert!(procs.contains("https://0.0.0.0:8443"), "{procs}");
    // API ids resolved to names for a user who may read the configuration (no edit link for
    // ops); 5000 APIs are cut with a count.
    b.wait_text("#process-table span[data-api=\"orders\"]", "訂單 API")
        .await;
    b.wait_text("#process-table", "and 4,988 more").await;
    // The hostile node name is text: shown, never run.
    b.wait_text("#node-table tbody", "<script>").await;
    b.wait_js(
        "no injected markup ran",
        "window.__pwned === undefined && !document.querySelector('#node-table img[src=\"x\"]')",
    )
    .await;
    assert!(HOSTILE.contains("<script>"));
    top(&b).await;
    b.screenshot("ops-nodes-registry").await;

    // Filters: the group `public` leaves edge-1; the role `alerter`, core-1.
    let rows = "document.querySelectorAll('#node-table tbody tr')";
    b.select("#nodes-group", "public").await;
    b.wait_js(
        "only edge-1",
        &format!("{rows}.length === 1 && {rows}[0].textContent.includes('edge-1')"),
    )
    .await;
    b.select("#nodes-group", "").await;
    b.select("#nodes-role", "alerter").await;
    b.wait_js(
        "only core-1",
        &format!("{rows}.length === 1 && {rows}[0].textContent.includes('core-1')"),
    )
    .await;
    b.screenshot("ops-nodes-registry-filtered").await;

    // One node's processes: version, addresses, heartbeat.
    b.open("nodes?node=edge-1").await;
    let d = b
        .wait_text("#node-process-table tbody", "10.0.0.1:8091")
        .await;
    assert!(d.contains("0.1.0") && d.contains("10.0.0.1:8080"), "{d}");
    b.screenshot("ops-nodes-registry-detail").await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#card-node-registry", "節點群組").await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    // (Headers are upper-cased by the stylesheet: read the text, not what is drawn.)
    b.wait_js(
        "English headers again",
        "document.querySelector('#card-node-registry thead').textContent.includes('Node groups')",
    )
    .await;
    log_out(&b).await;

    // Admin: the API's name links to its editor.
    b.log_in("u-admin", PW).await;
    b.open("nodes").await;
    b.wait_text(
        "#process-table a[data-api=\"orders\"][href=\"#/config?tab=apis&id=orders&view=edit\"]",
        "訂單 API",
    )
    .await;
    b.screenshot("admin-nodes-registry").await;
    b.close().await;
    beats.abort();
}
