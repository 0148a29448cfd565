//! The alerts page in a real browser (issue 7), against `gatewatch up` (its alerter running,
//! sending to a real SMTP server, aiosmtpd): ops builds a node CPU rule in the editor (a bad
//! threshold and a bad window first, each message beside its field; a preview of the notices),
//! saves it, test-sends it (the mail arrives, the answer is shown), inserts CPU samples and
//! sees the rule ACTIVE and its firing and notice in the timeline; makes an e-mail channel and
//! test-sends it; sets a silence and ends it. Screenshots of every tab at laptop and phone size
//! and in zh-TW. A support user cannot open the page and the API refuses its writes.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

const PW: &str = "correct-horse-battery";

/// Whether the field `css` shows an error (its `.field` is marked) saying `want`.
async fn error_beside(b: &Browser, css: &str, want: &str) {
    let script = format!(
        "(() => {{ const f = document.querySelector({css:?}); const box = f && f.closest('.field'); \
         return box && box.classList.contains('field-error') && \
         box.querySelector('.field-message').textContent.includes({want:?}); }})()"
    );
    b.wait_js(&format!("the error {want:?} beside {css}"), &script)
        .await;
}

async fn wait_mails(smtp: &SmtpSink, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let m = smtp.mails();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} mail(s) did not arrive; got {:?}", smtp.mails());
}

async fn tab(b: &Browser, id: &str) {
    b.click(&format!("#alerts-tabs [data-tab=\"{id}\"]")).await;
    b.find(&format!(".alerts-body[data-tab=\"{id}\"]")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_builds_a_rule_sees_it_fire_test_sends_and_silences_it() {
    let smtp = SmtpSink::start();
    let site = Site::new(
        "ui_alerts",
        &gatewatch_migrations::testing::clickhouse_url(),
        &smtp.alerter_toml(),
    );
    site.tune("alerter", "eval_interval_ms = 300");
    let store = site.migrate().await;
    add_user(&site, "olive", "ops", PW);
    add_user(&site, "sam", "support", PW);
    let _up = site.start("up").await;
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let b = Browser::start(site.dashboards).await;
    b.log_in("olive", PW).await;
    b.open("alerts").await;
    b.wait_text("#card-active", "Nothing is firing").await;
    b.wait_text("#card-timeline", "No alert activity").await;

    // A new rule: a node CPU rule on node "hot", with a threshold no percentage can have.
    tab(&b, "rules").await;
    b.wait_text("#card-rules", "No alert rules yet").await;
    b.screenshot("ops-alerts-rules-empty").await;
    b.click("#rule-new").await;
    b.find("#rule-form").await;
    b.fill("#f-rule-name", "CPU high on hot").await;
    b.fill("#f-rule-id", "cpu-hot").await;
    b.select("#f-rule-scope", "nodes").await;
    b.fill("#f-rule-scope-nodes", "hot").await;
    b.fill("#f-rule-threshold", "150").await;
    b.fill("#f-rule-for", "0").await;
    b.fill("#f-rule-repeat", "3600").await;
    b.fill("#f-rule-emails", "oncall@example.tw").await;
    // Notices in English (the site's default is zh-TW).
    b.select("#f-rule-language", "en").await;
    b.click("#rule-save").await;
    error_beside(&b, "#f-rule-threshold", "is a percentage: 0 to 100").await;
    b.fill("#f-rule-threshold", "50").await;

    // An exception window with the weekday picker, its `from` without `until`: the API names
    // windows[0].until and the page shows it there.
    b.click("#window-add").await;
    b.click("[data-window=\"0\"] .chip[data-value=\"mon\"]")
        .await;
    b.wait_js(
        "Mon picked",
        "document.querySelector('[data-window=\"0\"] .chip[data-value=\"mon\"]').classList.contains('on')",
    )
    .await;
    b.fill("#f-win-0-from", "22:00").await;
    b.click("#rule-save").await;
    error_beside(&b, "#f-win-0-until", "is needed with `from`").await;
    b.screenshot_full("ops-alerts-rule-error", LAPTOP).await;
    // A window that cannot hold during the test: one night in 2030.
    b.select("#f-win-0-type", "dates").await;
    b.fill("#f-win-0-dates", "2030-12-25").await;
    b.fill("#f-win-0-until", "06:00").await;

    // The preview: the server renders the notices with the alerter's renderer.
    b.fill("#f-tpl-subject", "CPU {{value}} on {{node}}").await;
    b.click("#rule-preview-btn").await;
    let preview = b.wait_text("#rule-preview", "CPU 55% on hot").await;
    assert!(preview.contains("threshold 50%"), "{preview}");
    assert!(preview.contains("back to normal"), "{preview}");

    // The preview route refuses what a create would, naming the field, and a language it
    // does not know.
    let draft = json!({"name": "x", "kind": {"type": "node_cpu"}, "threshold": 50});
    for (path, body, field) in [
        ("/api/v1/alert-rules/preview?lang=fr", draft.clone(), "lang"),
        (
            "/api/v1/alert-rules/preview",
            json!({"name": "x", "kind": {"type": "node_cpu"}, "threshold": 50,
                   "windows": [{"type": "daily", "from": "25:00", "until": "06:00"}]}),
            // A window is read field by field (model::alert::window's RawWindow): the path
            // reaches the field.
            "windows[0].from",
        ),
        (
            "/api/v1/alert-rules/preview",
            json!({"name": "x", "kind": {"type": "node_cpu"}, "threshold": 50,
                   "templates": {"en": {"firing": {"subject": "{{nope}}"}}}}),
            "templates.en.firing.subject",
        ),
        ("/api/v1/alert-rules/preview", json!([1]), ""),
    ] {
        let (status, text) = b.fetch_json("POST", path, &body).await;
        assert_eq!(status, 422, "{path} {body}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["field"], field, "{path} {body}: {text}");
    }
    let (status, text) = b
        .fetch_json("POST", "/api/v1/alert-rules/preview?lang=zh-TW", &draft)
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("門檻 50%"), "{text}");

    b.click("#rule-save").await;
    b.wait_text(".toasts", "saved").await;
    b.wait_text(".editor-head", "Version 1").await;
    let stored = b.fetch("GET", "/api/v1/alert-rules/cpu-hot").await;
    assert_eq!(stored.0, 200, "{}", stored.1);
    let rule: serde_json::Value = serde_json::from_str(&stored.1).unwrap();
    assert_eq!(rule["body"]["scope"], json!({"nodes": ["hot"]}));
    assert_eq!(rule["body"]["threshold"], json!(50.0));
    assert_eq!(
        rule["body"]["windows"],
        json!([{"type": "dates", "dates": ["2030-12-25"], "from": "22:00", "until": "06:00"}])
    );
    assert_eq!(
        rule["body"]["templates"]["en"]["firing"]["subject"],
        "CPU {{value}} on {{node}}"
    );

    // Test send: through the alerter to aiosmtpd; the answer per recipient.
    b.click("#rule-test").await;
    let answer = b
        .wait_text("#card-rule-test #send-results", "oncall@example.tw")
        .await;
    assert!(answer.contains("Sent"), "{answer}");
    assert!(answer.contains("250"), "the SMTP server's code: {answer}");
    let mails = wait_mails(&smtp, 1).await;
    assert!(
        mails[0]["subject"].as_str().unwrap().contains("[TEST]"),
        "{:?}",
        mails[0]
    );
    b.click("#rule-preview-btn").await;
    b.wait_text("#rule-preview", "CPU 55% on hot").await;
    b.screenshot_full("ops-alerts-rule-editor", LAPTOP).await;

    // Trigger it for real: node "hot" reports 99 % CPU.
    for _ in 0..3 {
        insert_cpu_sample(&store, "hot", 99.0).await;
    }
    b.open("alerts").await;
    b.wait_text("#card-active", "CPU high on hot").await;
    let active = b.wait_text("#active-table", "Firing").await;
    assert!(active.contains("hot"), "{active}");
    assert!(
        active.contains("99 %") && active.contains("50 %"),
        "{active}"
    );
    // The transition and the notice attempt (not only the earlier test-send's row).
    b.wait_js(
        "the firing notice in the timeline",
        "[...document.querySelectorAll('#timeline-table tbody tr')].some(r => \
         r.querySelector('.ev-notify') && r.textContent.includes('oncall@example.tw') && \
         r.textContent.includes('Sent'))",
    )
    .await;
    b.wait_js(
        "the firing transition in the timeline",
        "[...document.querySelectorAll('#timeline-table tbody tr')].some(r => \
         r.querySelector('.ev-firing') && r.textContent.includes('hot'))",
    )
    .await;
    b.wait_text("#stat-firing .stat-value", "1").await;
    let mails = wait_mails(&smtp, 2).await;
    assert!(
        mails[1]["subject"]
            .as_str()
            .unwrap()
            .contains("CPU 99% on hot"),
        "the firing notice with the rule's own subject: {:?}",
        mails[1]
    );
    b.screenshot_full("ops-alerts-active", LAPTOP).await;

    // The rule list shows its state.
    tab(&b, "rules").await;
    let list = b.wait_text("#rules-table", "CPU high on hot").await;
    assert!(list.contains("Firing") && list.contains("> 50 %"), "{list}");
    b.screenshot("ops-alerts-rules").await;

    // A channel: a bad address first, then one that works, and its test.
    tab(&b, "channels").await;
    b.wait_text("#card-channels", "No channels yet").await;
    b.click("#channel-new").await;
    b.fill("#f-ch-name", "On-call mail").await;
    b.fill("#f-ch-id", "oncall-mail").await;
    b.fill("#f-ch-to", "not-an-address").await;
    b.click("#channel-save").await;
    error_beside(&b, "#f-ch-to", "is not an e-mail address").await;
    b.fill("#f-ch-to", "team@example.tw").await;
    b.click("#channel-save").await;
    b.find("#channel-test").await;
    b.click("#channel-test").await;
    let answer = b
        .wait_text("#card-channel-test #send-results", "team@example.tw")
        .await;
    assert!(answer.contains("Sent"), "{answer}");
    b.screenshot_full("ops-alerts-channel-editor", LAPTOP).await;
    tab(&b, "channels").await;
    b.wait_text("#channels-table", "On-call mail").await;
    b.screenshot("ops-alerts-channels").await;

    // A silence: the comment is required (beside its field), then it is active, then ended.
    tab(&b, "silences").await;
    b.wait_text("#card-silences", "No current silences").await;
    b.select("#f-sil-rule", "cpu-hot").await;
    b.fill("#f-sil-node", "hot").await;
    b.click("#silence-save").await;
    error_beside(&b, "#f-sil-why", "must not be empty").await;
    b.fill("#f-sil-why", "kernel upgrade").await;
    b.click("#silence-save").await;
    let row = b.wait_text("#silences-table", "kernel upgrade").await;
    assert!(
        row.contains("Active") && row.contains("CPU high on hot"),
        "{row}"
    );
    b.screenshot_full("ops-alerts-silences", LAPTOP).await;

    // Every tab on a phone and in Chinese.
    for (t, ready) in [
        ("active", "#active-table"),
        ("rules", "#rules-table"),
        ("channels", "#channels-table"),
        ("silences", "#silences-table"),
    ] {
        b.open(&format!("alerts?tab={t}")).await;
        b.find(ready).await;
        b.resize(PHONE).await;
        b.screenshot_full(&format!("ops-alerts-{t}-phone"), PHONE)
            .await;
        b.resize(LAPTOP).await;
    }
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    for (t, ready, text) in [
        ("active", "#active-table", "觸發中"),
        ("rules", "#rules-table", "告警規則"),
        ("channels", "#channels-table", "通知管道"),
        ("silences", "#silences-table", "生效中"),
    ] {
        b.open(&format!("alerts?tab={t}")).await;
        b.find(ready).await;
        b.wait_text("#main", text).await;
        b.screenshot_full(&format!("ops-alerts-{t}-zh-TW"), LAPTOP)
            .await;
    }
    b.open("alerts?tab=rules&id=cpu-hot").await;
    b.find("#rule-form").await;
    b.click("#rule-preview-btn").await;
    b.wait_text("#rule-preview", "門檻").await;
    b.screenshot_full("ops-alerts-rule-editor-zh-TW", LAPTOP)
        .await;
    b.resize(PHONE).await;
    b.screenshot_full("ops-alerts-rule-editor-phone", PHONE)
        .await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("nav#nav a[data-page=\"alerts\"]", "Alerts")
        .await;

    // End the silence: gone from the current list, kept under "All" as expired.
    b.open("alerts?tab=silences").await;
    b.find("#silences-table").await;
    b.click("#silences-table button").await;
    b.wait_text("#card-silences", "No current silences").await;
    b.click("#silence-show button[data-value=\"all\"]").await;
    b.wait_text("#silences-table", "Expired").await;

    b.assert_no_csp_violations().await;

    // Support: no alerts page, and the API refuses the page's reads and writes.
    b.click("#logout").await;
    b.find("#login-form").await;
    b.log_in("sam", PW).await;
    b.open("alerts").await;
    b.wait_text("#main", "Your role cannot open this page")
        .await;
    let rule_body = json!({"id": "x", "name": "x", "kind": {"type": "node_cpu"}, "threshold": 1});
    for (method, path, body) in [
        ("GET", "/api/v1/alerts", json!(null)),
        ("POST", "/api/v1/alert-rules", rule_body.clone()),
        ("POST", "/api/v1/alert-rules/preview", rule_body.clone()),
        ("PUT", "/api/v1/alert-rules/cpu-hot", rule_body.clone()),
        ("DELETE", "/api/v1/alert-rules/cpu-hot", json!(null)),
        ("POST", "/api/v1/alert-rules/cpu-hot/test", json!({})),
        ("POST", "/api/v1/channels/oncall-mail/test", json!({})),
        (
            "POST",
            "/api/v1/silences",
            json!({"id": "s", "rule": "*", "from": "2026-01-01T00:00:00Z",
                   "until": "2036-01-01T00:00:00Z", "who": "sam", "why": "x"}),
        ),
    ] {
        let (status, text) = if method == "GET" {
            b.fetch(method, path).await
        } else {
            b.fetch_json(method, path, &body).await
        };
        assert_eq!(status, 403, "support {method} {path}: {text}");
    }
    // Nothing support tried was stored, and no further mail went out for it.
    let (status, text) = {
        b.click("#logout").await;
        b.find("#login-form").await;
        b.log_in("olive", PW).await;
        b.fetch("GET", "/api/v1/alert-rules").await
    };
    assert_eq!(status, 200, "{text}");
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{text}");
    b.close().await;
}
