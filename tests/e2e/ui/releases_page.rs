//! The Releases tab of the Gateway config page in a real browser: a bad name refused beside
//! its field, a release made, the configuration changed behind the page, the diff against
//! current showing the changed route (and a client's secret by name only), the rollback's
//! confirmation showing that diff, and the rollback writing one change. Screenshots:
//! `target/screenshots/admin-releases-*.png`.

use super::browser::Browser;
use crate::admin::add_user;
use crate::helpers::*;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log;
use serde_json::json;

const PW: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_makes_compares_and_rolls_back_a_release() {
    let site = Site::new(
        "ui_releases",
        &gatewatch_migrations::testing::clickhouse_url(),
        "[security]\npepper = \"ui-releases-pepper-0123456789\"\n",
    );
    let store = site.migrate().await;
    let api = |prefix: &str| json!({"name": "Orders", "prefix": prefix, "upstreams": ["http://127.0.0.1:9"]});
    put_entities(
        &store,
        &[
            change(EntityKind::Api, "orders", api("/orders")),
            change(
                EntityKind::Client,
                "acme",
                json!({"name": "Acme", "secret_hash": hash_secret(b"p", "one")}),
            ),
        ],
    )
    .await;
    add_user(&site, "u-admin", "admin", PW);
    let _dash = site.start("dashboards").await;
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;

    b.open("config?tab=releases").await;
    b.wait_text("#release-list", "No releases yet").await;
    // A name with a path trick: the API's message beside the field.
    b.fill("#f-release-name", "../v1").await;
    b.click("#release-make-ok").await;
    b.find(".field-error #f-release-name").await;
    b.fill("#f-release-name", "v1").await;
    b.fill("#f-release-comment", "before the launch").await;
    b.click("#release-make-ok").await;
    b.wait_text("#releases-table", "before the launch").await;
    b.screenshot("admin-releases-list").await;

    // Changed behind the page: the route moves, the client's secret is rotated.
    put_entities(
        &store,
        &[
            change(EntityKind::Api, "orders", api("/orders-v2")),
            change(
                EntityKind::Client,
                "acme",
                json!({"name": "Acme", "secret_hash": hash_secret(b"p", "two")}),
            ),
        ],
    )
    .await;
    b.click("#release-diff-v1").await;
    let text = b.wait_text("#release-diff-result", "/orders-v2").await;
    assert!(
        text.contains("api orders") && text.contains("client acme"),
        "{text}"
    );
    assert!(!text.contains("hmac-sha256"), "{text}");
    b.screenshot("admin-releases-diff").await;

    // Roll back: the confirmation shows what will change; confirming writes one change.
    b.click("#release-rollback-v1").await;
    let text = b.wait_text("#rollback-dialog", "/orders-v2").await;
    assert!(!text.contains("hmac-sha256"), "{text}");
    b.screenshot("admin-releases-rollback").await;
    b.click("#rollback-dialog-ok").await;
    b.wait_js(
        "the dialog closed",
        "!document.querySelector('#rollback-dialog')",
    )
    .await;
    let orders = config_log::get(&store, EntityKind::Api, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orders.comment, "rollback to v1");
    assert!(orders.body.contains("\"/orders\""), "{}", orders.body);
    let acme = config_log::get(&store, EntityKind::Client, "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(
        acme.body.contains(&hash_secret(b"p", "two")),
        "the rotated secret stays"
    );
    // Only the answers the test asked for (the login page's 401, the bad name's 422): no
    // script error.
    let errors = b.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("Failed to load resource")),
        "{errors:?}"
    );
    b.close().await;
}
