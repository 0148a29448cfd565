//! The authorization server's signing keys and token revocation in a real browser: the
//! config page's "Signing keys" tab rotated twice behind its confirm (two keys: one signing,
//! one retired), and a call made with an OAuth 2.0 token revoked from its detail page (the
//! row the gateways follow); support sees the token id but no Revoke. No console errors, no CSP refusals.
//! Screenshots: `target/screenshots/admin-keys-*.png`.

use super::browser::Browser;
use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use uuid::Uuid;

const PW: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_rotates_signing_keys_and_revokes_a_token() {
    let site = Site::new(
        "ui_keys",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    add_user(&site, "u-support", "support", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-admin", PW).await;
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;

    // No key yet; two rotations, each behind the confirm.
    b.open("config?tab=keys").await;
    b.wait_text("#signing-keys", "No signing key yet").await;
    for n in 1..=2 {
        b.click("#keys-rotate").await;
        b.wait_text("#confirm-dialog", "Rotate the signing key?")
            .await;
        b.click("#confirm-dialog-ok").await;
        b.wait_js(
            "the new key listed",
            &format!("document.querySelectorAll('#keys-table tbody tr').length === {n}"),
        )
        .await;
    }
    let table = b.wait_text("#keys-table", "Retired").await;
    assert!(
        table.contains("Signing") && table.contains("ES256"),
        "{table}"
    );
    let keys = api.call("GET", "/api/v1/oauth/keys", None, &[]).await;
    let newest = keys.body["items"][0]["kid"].as_str().unwrap().to_string();
    assert!(table.contains(&newest), "{table}");
    b.screenshot("admin-keys-rotated").await;

    // A call made with a token: revoked from its detail page.
    let call_id = Uuid::now_v7();
    let jti = Uuid::new_v4().to_string();
    let now_us = chrono::Utc::now().timestamp_micros();
    let mut r = CallRecord::new(call_id, now_us - 1_000_000, "n1", "GET", "/orders/1");
    r.api_id = "orders".into();
    r.client_id = "acme".into();
    r.auth_method = "oauth2".into();
    r.token_jti = jti.clone();
    r.scopes = "orders.read".into();
    r.status = 200;
    r.outcome = Outcome::Ok;
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    ins.write(&ApiCallRow::new(&r, Uuid::nil())).await.unwrap();
    ins.end().await.unwrap();
    b.open(&format!("calls/{call_id}")).await;
    b.wait_text("#call-token-jti", &jti).await;
    b.click("#call-revoke-token").await;
    b.wait_text("#confirm-dialog", "acme").await;
    b.click("#confirm-dialog-ok").await;
    b.wait_text("body", "Token revoked").await;
    let rows = gatewatch_store::oauth::revoked_since(&site.store(), 0, now_us, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].jti.as_str(), rows[0].client_id.as_str()),
        (jti.as_str(), "acme")
    );
    assert_eq!(rows[0].revoked_by, "user:u-admin");
    b.screenshot("admin-keys-revoked").await;

    // Support reads the call, token id and all, but is offered no revocation.
    b.click("#logout").await;
    b.find("#login-form").await;
    b.log_in("u-support", PW).await;
    b.open(&format!("calls/{call_id}")).await;
    b.wait_text("#call-token-jti", &jti).await;
    b.wait_js(
        "no revoke button for support",
        "!document.querySelector('#call-revoke-token')",
    )
    .await;

    b.assert_no_csp_violations().await;
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !(e.contains("/api/v1/me ") && e.contains("status of 401")))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
