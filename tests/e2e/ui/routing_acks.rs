//! Issue 18 in a real browser against the `dashboards` role: ops creates a notification
//! policy and an inhibit rule through the alerts page (a bad matcher first, the API's message
//! beside the box as "Entry 2: …"), edits and deletes; sees when a rule's windows (an
//! Alertmanager time interval pasted as JSON) are open next; acknowledges a firing alert from
//! the active list and takes it back; opens the acknowledge link of a message (the page acks
//! nothing until its button is pressed). Screenshots of the new tabs.

use super::browser::{Browser, LAPTOP};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::alert::{AlertState, Phase};
use gatewatch_store::alerts::{self, SavedState};
use serde_json::{json, Value};

const PW: &str = "correct-horse-battery";

async fn error_beside(b: &Browser, css: &str, want: &str) {
    let script = format!(
        "(() => {{ const f = document.querySelector({css:?}); const box = f && f.closest('.field'); \
         return box && box.classList.contains('field-error') && \
         box.querySelector('.field-message').textContent.includes({want:?}); }})()"
    );
    b.wait_js(&format!("the error {want:?} beside {css}"), &script)
        .await;
}

async fn tab(b: &Browser, id: &str) {
    b.click(&format!("#alerts-tabs [data-tab=\"{id}\"]")).await;
    b.find(&format!(".alerts-body[data-tab=\"{id}\"]")).await;
}

fn firing(rule: &str, key: &str, since: chrono::DateTime<chrono::Utc>) -> SavedState {
    SavedState {
        rule_id: rule.into(),
        scope_key: key.into(),
        ts_us: since.timestamp_micros(),
        state: serde_json::to_string(&AlertState {
            phase: Phase::Firing {
                since,
                fired_at: since,
                last_sent: Some(since),
                last_held: None,
            },
            owed_resolved: None,
        })
        .unwrap(),
    }
}

/// The `ack` of the active alert (rule, key), through the API.
async fn ack_of(api: &Api, rule: &str, key: &str) -> Value {
    let a = api.get("/api/v1/alerts").await;
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["rule_id"] == rule && i["scope_key"] == key)
        .unwrap_or_else(|| panic!("no alert {rule} {key}: {}", a.text))["ack"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_edits_policies_and_inhibit_rules_previews_windows_and_acknowledges() {
    let site = Site::new(
        "ui_routing",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "olive", "ops", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "olive", PW).await;
    let r = api
        .post(
            "/api/v1/alert-rules",
            json!({"id": "cpu", "name": "CPU high", "kind": {"type": "node_cpu"}, "threshold": 90,
                   "recipients": {"roles": ["ops"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let since = chrono::Utc::now() - chrono::Duration::minutes(30);
    alerts::save_states(
        &store,
        "a1",
        &[
            firing("cpu", "node=gw1", since),
            firing("cpu", "node=gw2", since),
        ],
    )
    .await
    .unwrap();

    let b = Browser::start(site.dashboards).await;
    b.resize(LAPTOP).await;
    b.log_in("olive", PW).await;

    // --- A notification policy -------------------------------------------------------------
    b.open("alerts").await;
    tab(&b, "policies").await;
    b.wait_text("#card-policies", "No notification policies")
        .await;
    b.click("#policy-new").await;
    b.find("#policy-form").await;
    b.fill("#f-pol-id", "critical-ops").await;
    b.fill("#f-pol-name", "Critical to ops").await;
    b.fill("#f-pol-matchers", "severity=critical\nkind=~\"node_(cpu\"")
        .await;
    b.fill("#f-pol-group-by", "alertname\nnode").await;
    b.click("#policy-save").await;
    error_beside(&b, "#f-pol-matchers", "Entry 2").await;
    b.screenshot("ops-alerts-policy-error").await;
    b.fill("#f-pol-matchers", "severity=critical\nkind=~\"node_.*\"")
        .await;
    b.click("#policy-save").await;
    b.wait_text("#card-policies", "Critical to ops").await;
    let p = api.get("/api/v1/notification-policies/critical-ops").await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        (&p.body["body"]["matchers"], &p.body["body"]["group_by"]),
        (
            &json!(["severity=\"critical\"", "kind=~\"node_.*\""]),
            &json!(["alertname", "node"])
        ),
        "{}",
        p.text
    );
    b.screenshot("ops-alerts-policies").await;
    // Edit: the stored values come back into the form; a change is saved with If-Match.
    b.click("[data-policy=\"critical-ops\"]").await;
    b.find("#policy-form").await;
    b.wait_js(
        "the stored matchers in the form",
        "document.querySelector('#f-pol-matchers').value.includes('node_.*')",
    )
    .await;
    b.fill("#f-pol-wait", "10").await;
    b.click("#policy-save").await;
    b.wait_text("#card-policies", "10 s").await;
    let p = api.get("/api/v1/notification-policies/critical-ops").await;
    assert_eq!(p.body["body"]["group_wait_secs"], 10, "{}", p.text);

    // --- An inhibit rule ---------------------------------------------------------------------
    tab(&b, "inhibit").await;
    b.wait_text("#card-inhibit", "No inhibit rules").await;
    b.click("#inhibit-new").await;
    b.find("#inhibit-form").await;
    b.fill("#f-inh-id", "silent-node").await;
    b.fill("#f-inh-name", "A silent node mutes its CPU").await;
    b.fill("#f-inh-source", "kind=node_silent").await;
    b.fill("#f-inh-target", "kind=node_cpu\nnot a matcher")
        .await;
    b.fill("#f-inh-equal", "node").await;
    b.click("#inhibit-save").await;
    error_beside(&b, "#f-inh-target", "Entry 2").await;
    b.fill("#f-inh-target", "kind=~\"node_(cpu|memory)|disk\"")
        .await;
    b.click("#inhibit-save").await;
    b.wait_text("#card-inhibit", "A silent node mutes its CPU")
        .await;
    b.screenshot("ops-alerts-inhibit").await;
    let i = api.get("/api/v1/inhibit-rules/silent-node").await;
    assert_eq!(i.body["body"]["equal"], json!(["node"]), "{}", i.text);
    // Delete it, after the question.
    b.click("[data-inhibit=\"silent-node\"]").await;
    b.click("#inhibit-delete").await;
    b.click("#inhibit-delete-confirm-ok").await;
    b.wait_text("#card-inhibit", "No inhibit rules").await;
    assert_eq!(
        api.get("/api/v1/inhibit-rules/silent-node").await.status,
        404
    );

    // --- When the windows are open next ---------------------------------------------------------
    b.open("alerts?tab=rules&id=cpu").await;
    b.find("#rule-form").await;
    b.click("#window-add").await;
    b.select("#f-win-0-type", "alertmanager").await;
    // Open every day of every year from 2020: open now, for all 14 days.
    b.fill("#f-win-0-json", r#"{"years": ["2020:2099"]}"#).await;
    b.wait_text("#window-preview-line", "whole of the next 14 days")
        .await;
    // The part a check refuses is named as a save would name it.
    b.fill(
        "#f-win-0-json",
        r#"{"times": [{"start_time": "09:00", "end_time": "09:00"}]}"#,
    )
    .await;
    b.wait_text("#window-preview-error", "windows[0].times[0].end_time")
        .await;
    b.fill("#f-win-0-json", r#"{"years": ["2020"]}"#).await;
    b.wait_text("#window-preview-line", "Not open").await;
    b.fill(
        "#f-win-0-json",
        r#"{"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Australia/Sydney"}"#,
    )
    .await;
    b.find("#window-preview .wcell.on").await;
    b.scroll_to("#window-preview").await;
    b.screenshot("ops-alerts-window-preview").await;

    // --- Acknowledge from the active list, take it back --------------------------------------
    b.open("alerts").await;
    b.click("[data-ack-for=\"cpu/node=gw1\"][data-acked=\"no\"] button")
        .await;
    b.find("#ack-dialog").await;
    b.fill("#f-ack-comment", "rebooting gw1").await;
    b.click("#ack-form-ok").await;
    b.wait_text("[data-ack-for=\"cpu/node=gw1\"]", "Acknowledged by olive")
        .await;
    let ack = ack_of(&api, "cpu", "node=gw1").await;
    assert_eq!(
        (&ack["by"], &ack["comment"], &ack["until"]),
        (&json!("olive"), &json!("rebooting gw1"), &Value::Null)
    );
    b.screenshot("ops-alerts-acknowledged").await;
    // The rule's timeline lists the ack.
    b.open("alerts?rule=cpu").await;
    b.wait_text("#card-timeline", "Acknowledged by olive").await;
    b.click("[data-ack-for=\"cpu/node=gw1\"][data-acked=\"yes\"] button")
        .await;
    b.find("[data-ack-for=\"cpu/node=gw1\"][data-acked=\"no\"]")
        .await;
    assert!(ack_of(&api, "cpu", "node=gw1").await.is_null());

    // --- The link in a message: shows the alert, acks only on the button -------------------------
    let link = format!(
        "alerts/ack?rule=cpu&key={}&episode={}",
        "node%3Dgw2",
        since.timestamp_micros()
    );
    b.open(&link).await;
    b.wait_text("#ack-alert", "CPU high").await;
    b.wait_text("#ack-alert", "gw2").await;
    assert!(
        ack_of(&api, "cpu", "node=gw2").await.is_null(),
        "opening the link acknowledged"
    );
    b.screenshot("ops-alerts-ack-page").await;
    b.click("#ack-page-form-ok").await;
    b.wait_text("#ack-held", "Acknowledged by olive").await;
    assert_eq!(ack_of(&api, "cpu", "node=gw2").await["by"], "olive");
    // An old episode's link says so and offers nothing.
    b.open(&format!(
        "alerts/ack?rule=cpu&key=node%3Dgw1&episode={}",
        since.timestamp_micros() - 1
    ))
    .await;
    b.wait_text("#ack-gone", "fired again").await;
    // In zh-TW.
    b.open("alerts").await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    for (t, text) in [
        ("policies", "通知政策"),
        ("inhibit", "尚無抑制規則"),
        ("active", "撤回確認"),
    ] {
        b.open(&format!("alerts?tab={t}")).await;
        b.wait_text("#main", text).await;
        b.screenshot_full(&format!("ops-alerts-{t}-zh-TW"), LAPTOP)
            .await;
    }
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("nav#nav a[data-page=\"alerts\"]", "Alerts")
        .await;
    // The refusals above are the API's answers the forms showed; nothing else went wrong.
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("Failed to load resource: the server responded with a status of 4"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.assert_no_csp_violations().await;
    b.close().await;
}
