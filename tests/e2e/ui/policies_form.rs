//! Issue 17's policy editors in a real browser. The API form's "Policies" card: every policy
//! set in the form, each refused field's message beside it (a body limit that is no number,
//! a header name in upper case, an unknown signature component, an origin with a path, a
//! CIDR that is none; a list's entry named by its place), the stored body exactly what was
//! set, shown again on edit (not in the JSON box) and turned off again. The client form's deny
//! list and signing keys (a bad PEM beside its row) and its signing secret, shown once; a
//! save keeps the fields the form does not edit (`jwks`). A call's findings and policies on
//! its detail page, and the call search's `finding` filter (a check, or one finding; hostile
//! and malformed values; refused by aggregate reports), in the API and the form. Screenshots: `target/screenshots/admin-policies-*.png`, laptop and
//! phone, en and zh-TW.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use crate::policy_ui::{ED25519_PEM, P256_PEM};
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::{json, Value};
use uuid::Uuid;

const PW: &str = "correct-horse-battery-policies";
const TALL: (u32, u32) = (1366, 4200);

async fn stored(api: &Api, path: &str) -> Value {
    let a = api.call("GET", path, None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
}

/// The entity at `path` once it reaches `version` (a save from the page lands).
async fn until_version(api: &Api, path: &str, version: u64) -> Value {
    for _ in 0..200 {
        let e = stored(api, path).await;
        if e["version"] == json!(version) {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{path} never reached version {version}: {}",
        stored(api, path).await
    );
}

async fn checked(b: &Browser, css: &str) -> bool {
    b.find(css).await;
    b.client
        .execute(
            "return document.querySelector(arguments[0]).checked;",
            vec![json!(css)],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// Saves the form and waits for `css`'s error to hold `want`.
async fn refused(b: &Browser, css: &str, want: &str) -> String {
    b.press("#api-save").await;
    let msg = b.wait_text(&format!(".field-error {css}"), want).await;
    println!("{css}: {msg}");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_every_api_policy_in_the_form_with_errors_beside_their_fields() {
    let site = Site::new(
        "ui_policies",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-admin", PW).await;
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;

    b.open("config").await;
    b.click("#api-new").await;
    b.find("#api-form").await;
    b.fill("#f-api-id", "payments").await;
    b.fill("#f-api-name", "Payments").await;
    b.fill("#f-api-match", "/pay").await;
    b.fill("#f-up-url-0", "http://127.0.0.1:9").await;
    // Every policy is off on a new API: no switch on, no policy field sent.
    for sw in [
        "#f-api-sig-on",
        "#f-api-idem-on",
        "#f-api-tx-on",
        "#f-api-cors-on",
    ] {
        assert!(!checked(&b, sw).await, "{sw}");
    }

    // Each policy set, with a mistake in several.
    b.scroll_to("#api-policies").await;
    b.press("#f-api-checks .chip[data-value=\"sqli\"]").await;
    b.press("#f-api-checks .chip[data-value=\"xss\"]").await;
    b.select("#f-api-check-mode", "monitor").await;
    b.fill("#f-api-check-headers", "referer\nUser-Agent").await;
    b.press("#f-api-sig-on").await;
    b.fill("#f-api-sig-components", "@method\n@path\n@body")
        .await;
    b.fill("#f-api-sig-max-age", "120").await;
    b.press("#f-api-sig-nonce").await;
    b.press("#f-api-idem-on").await;
    b.press("#f-api-idem-methods .chip[data-value=\"PUT\"]")
        .await;
    b.fill("#f-api-idem-ttl", "3600").await;
    b.press("#f-api-idem-required").await;
    b.press("#f-api-tx-on").await;
    b.fill("#f-api-tx-ttl", "60").await;
    b.press("#f-api-cors-on").await;
    b.fill(
        "#f-api-cors-origins",
        "https://shop.example.com\nhttps://admin.example.com/app",
    )
    .await;
    b.press("#f-api-cors-methods .chip[data-value=\"GET\"]")
        .await;
    b.press("#f-api-cors-methods .chip[data-value=\"POST\"]")
        .await;
    b.fill("#f-api-cors-expose", "x-request-id").await;
    b.fill("#f-api-cors-max-age", "600").await;
    b.press("#f-api-cors-credentials").await;
    b.fill("#f-api-max-body", "1MB").await;
    b.fill("#f-api-rate", "50").await;
    b.fill("#f-api-rate-burst", "100").await;
    b.fill(
        "#f-api-ip-deny",
        "203.0.113.0/24\n2001:db8::/32\n198.51.100.0/33",
    )
    .await;

    // The API reads the body first (a limit that is no number), then checks each policy in
    // turn: each message beside its own field, a list's entry by its place.
    refused(&b, "#f-api-max-body-error", "invalid type").await;
    b.fill("#f-api-max-body", "1048576").await;
    refused(&b, "#f-api-check-headers-error", "Entry 2").await;
    b.fill("#f-api-check-headers", "referer\nuser-agent").await;
    let msg = refused(&b, "#f-api-sig-components-error", "Entry 3").await;
    assert!(msg.contains("@body"), "{msg}");
    b.fill("#f-api-sig-components", "@method\n@path\ncontent-digest")
        .await;
    refused(&b, "#f-api-cors-origins-error", "Entry 2").await;
    b.resize(TALL).await;
    b.scroll_to("#api-policies").await;
    b.screenshot("admin-policies-api-error").await;
    b.resize(LAPTOP).await;
    b.fill(
        "#f-api-cors-origins",
        "https://shop.example.com\nhttps://admin.example.com",
    )
    .await;
    refused(&b, "#f-api-ip-deny-error", "Entry 3").await;
    b.fill("#f-api-ip-deny", "203.0.113.0/24\n2001:db8::/32")
        .await;
    b.resize(TALL).await;
    b.scroll_to("#api-policies").await;
    b.screenshot("admin-policies-api").await;
    b.resize(LAPTOP).await;
    b.press("#api-save").await;
    b.wait_text("#api-table", "Payments").await;
    // The list says which policies are on.
    let row = b.wait_text("#api-table", "sqli+xss (monitor)").await;
    for on in [
        "signed",
        "idempotency",
        "tx token",
        "CORS",
        "50/s",
        "2 denied",
    ] {
        assert!(row.contains(on), "{on} not in {row}");
    }
    b.screenshot("admin-policies-api-list").await;

    // Stored exactly as set, defaults left to the API.
    let e = stored(&api, "/api/v1/apis/payments").await;
    let want = json!({
        "checks": ["sqli", "xss"], "check_mode": "monitor", "check_headers": ["referer", "user-agent"],
        "signature": {"required": true, "components": ["@method", "@path", "content-digest"],
                      "max_age_secs": 120, "nonce_required": false},
        "idempotency": {"methods": ["POST", "PUT"], "ttl_secs": 3600, "required": true,
                        "max_answer_bytes": 65536},
        "tx_token": {"methods": ["POST"], "ttl_secs": 60},
        "max_body_bytes": 1048576,
        "cors": {"origins": ["https://shop.example.com", "https://admin.example.com"],
                 "methods": ["GET", "POST"], "expose_headers": ["x-request-id"], "max_age": 600,
                 "credentials": true},
        "ip_deny": ["203.0.113.0/24", "2001:db8::/32"],
        "rate": {"per_second": 50, "burst": 100}
    });
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&e["body"][k], v, "{k}: {e}");
    }
    assert_eq!(e["version"], json!(1));

    // Shown again on edit, in the card and not in the JSON box.
    b.open("config?tab=apis&id=payments&view=edit").await;
    b.find("#api-form").await;
    assert_eq!(
        b.value("#f-api-cors-origins").await,
        "https://shop.example.com\nhttps://admin.example.com"
    );
    assert_eq!(b.value("#f-api-check-mode").await, "monitor");
    assert_eq!(b.value("#f-api-rate").await, "50");
    assert!(checked(&b, "#f-api-sig-on").await);
    assert!(!checked(&b, "#f-api-sig-nonce").await);
    assert!(checked(&b, "#f-api-idem-required").await);
    let rest = b.value("#f-api-rest").await;
    for f in ["cors", "signature", "checks", "rate", "ip_deny"] {
        assert!(!rest.contains(f), "{f} in the JSON box: {rest}");
    }
    // On a phone: one column, nothing wider than the screen.
    b.resize(PHONE).await;
    b.scroll_to("#policy-cors").await;
    b.screenshot("admin-policies-api-phone").await;
    b.wait_js(
        "the policies card fits the phone's width",
        "document.querySelector('#api-policies').scrollWidth <= document.querySelector('#api-policies').clientWidth + 1",
    )
    .await;
    b.press("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#api-policies", "請求政策").await;
    b.screenshot("admin-policies-api-phone-zh-TW").await;
    b.press("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("#api-policies", "Policies").await;
    b.resize(LAPTOP).await;

    // CORS and the rate turned off, the rest kept.
    b.press("#f-api-cors-on").await;
    b.fill("#f-api-rate", "").await;
    b.fill("#f-api-rate-burst", "").await;
    b.press("#api-save").await;
    b.wait_js(
        "back on the list",
        "document.querySelector('#api-table') && !document.querySelector('#api-form')",
    )
    .await;
    let e2 = stored(&api, "/api/v1/apis/payments").await;
    assert_eq!(e2["version"], json!(2));
    assert!(e2["body"].get("cors").is_none(), "{e2}");
    assert!(e2["body"].get("rate").is_none(), "{e2}");
    for k in [
        "checks",
        "signature",
        "idempotency",
        "tx_token",
        "ip_deny",
        "max_body_bytes",
    ] {
        assert_eq!(e2["body"][k], want[k], "{k}: {e2}");
    }
    // The history names what the form changed.
    b.open("config?tab=apis&id=payments&view=history").await;
    let diff = b.wait_text("#history-diff", "cors").await;
    assert!(diff.contains("rate"), "{diff}");

    b.assert_no_csp_violations().await;
    // The refused saves are logged by the browser as failed loads; anything else is a fault.
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("Failed to load resource"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_a_clients_deny_list_signing_keys_and_signing_secret() {
    let site = Site::new(
        "ui_client_signing",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-admin", PW).await;
    // A client with a JWK Set (private_key_jwt), which the form does not edit.
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "jwt-1",
        "x": "WFQ7a_wwYQXk5r1nWr321HvyVMUlDloTrmAsoiWQrIc",
        "y": "xDtiegPV01hPAks6xs3A0P8lR5QoTOSS_HTkxjplX1c"}]});
    let a = api
        .post(
            "/api/v1/clients",
            json!({"id": "acme", "name": "Acme", "jwks": jwks}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;
    b.open("config?tab=clients&id=acme&view=edit").await;
    b.find("#client-form").await;
    b.wait_text("#client-signing", "No public key").await;
    b.fill(
        "#f-client-ip-deny",
        "198.51.100.7\n2001:db8:1::/48\nnot-an-address",
    )
    .await;
    b.press("#sk-add").await;
    b.fill("#f-sk-id-0", "acme-ed").await;
    b.fill("#f-sk-pem-0", ED25519_PEM).await;
    b.press("#sk-add").await;
    b.fill("#f-sk-id-1", "acme-ec").await;
    b.fill(
        "#f-sk-pem-1",
        "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----",
    )
    .await;
    b.press("#client-save").await;
    let msg = b
        .wait_text(".field-error #f-client-ip-deny-error", "Entry 3")
        .await;
    println!("beside the deny list: {msg}");
    b.fill("#f-client-ip-deny", "198.51.100.7\n2001:db8:1::/48")
        .await;
    b.press("#client-save").await;
    b.wait_text(".field-error #f-sk-pem-1-error", "base64")
        .await;
    // The P-256 key under the default algorithm: its size says it is no Ed25519 key.
    b.fill("#f-sk-pem-1", P256_PEM).await;
    b.press("#client-save").await;
    b.wait_text(".field-error #f-sk-pem-1-error", "ed25519")
        .await;
    b.select("#f-sk-alg-1", "ecdsa-p256-sha256").await;
    b.scroll_to("#client-signing").await;
    b.screenshot("admin-policies-client-error").await;
    b.press("#client-save").await;
    let e = until_version(&api, "/api/v1/clients/acme", 2).await;
    assert_eq!(
        e["body"]["ip_deny"],
        json!(["198.51.100.7", "2001:db8:1::/48"])
    );
    assert_eq!(
        e["body"]["signing_keys"],
        json!([
            {"id": "acme-ed", "alg": "ed25519", "public_key": ED25519_PEM},
            {"id": "acme-ec", "alg": "ecdsa-p256-sha256", "public_key": P256_PEM}
        ])
    );
    // What the form does not edit went back as it came.
    assert_eq!(e["body"]["jwks"], jwks, "{e}");

    // A row removed.
    b.press("#sk-remove-0").await;
    b.wait_text("#client-form .card-head", "Version 2").await;
    b.press("#client-save").await;
    let e = until_version(&api, "/api/v1/clients/acme", 3).await;
    b.wait_text("#client-form .card-head", "Version 3").await;
    assert_eq!(e["body"]["signing_keys"][0]["id"], "acme-ec", "{e}");
    assert_eq!(e["body"]["signing_keys"].as_array().unwrap().len(), 1);

    // The signing secret: behind a confirm, shown once. The route is the signature slice's;
    // until it is served, the dialog shows the API's refusal and nothing is written.
    let openapi = stored(&api, "/api/openapi.json").await;
    let served = openapi["paths"]
        .get("/api/v1/clients/{id}/signing-secret")
        .is_some();
    b.scroll_to("#client-signing").await;
    b.wait_text("#client-signing-secret", "None").await;
    b.press("#signing-secret-new").await;
    b.wait_text("#confirm-dialog", "shown once").await;
    b.press("#confirm-dialog-ok").await;
    if served {
        b.find("#secret-dialog").await;
        let secret = b.value("#secret-value").await;
        assert!(secret.len() >= 20, "{secret}");
        b.screenshot("admin-policies-signing-secret").await;
        b.press("#secret-done").await;
        b.wait_text("#client-signing-secret", "Set").await;
        let e = stored(&api, "/api/v1/clients/acme").await;
        assert!(!e.to_string().contains(&secret), "the secret answered: {e}");
        let rows = store
            .fetch_u64("SELECT count() FROM config_log WHERE position(body, 'sealed:v1:') > 0")
            .await
            .unwrap();
        assert!(rows >= 1);
    } else {
        let msg = b.wait_text("#confirm-dialog .alert", "").await;
        println!("signing-secret route not served yet: {msg}");
        let e = stored(&api, "/api/v1/clients/acme").await;
        assert_eq!(e["version"], json!(3), "{e}");
        b.press("#confirm-dialog .modal-close").await;
    }

    b.resize(PHONE).await;
    b.scroll_to("#client-signing").await;
    b.screenshot("admin-policies-client-phone").await;
    b.resize(LAPTOP).await;
    b.assert_no_csp_violations().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_findings_and_policies_show_on_its_detail_page_and_find_it() {
    let site = Site::new(
        "ui_call_findings",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "u-support", "support", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-support", PW).await;
    // A call blocked by a check, one the checks only monitored, one without findings.
    let now_us = chrono::Utc::now().timestamp_micros();
    let call = |n: i64, outcome: Outcome, status: u16, findings: &[&str], policies: &[&str]| {
        let mut r = CallRecord::new(
            Uuid::now_v7(),
            now_us - n * 1_000_000,
            "n1",
            "POST",
            "/pay/orders",
        );
        r.api_id = "payments".into();
        r.client_id = "acme".into();
        r.status = status;
        r.outcome = outcome;
        r.findings = findings.iter().map(|s| s.to_string()).collect();
        r.policies = policies.iter().map(|s| s.to_string()).collect();
        r
    };
    let blocked = call(
        1,
        Outcome::RefusedBlocked,
        403,
        &["sqli:query.q", "xss:body.items[2].note"],
        &["signature:acme-ed", "idempotency:replayed"],
    );
    let monitored = call(2, Outcome::Ok, 200, &["xss:header.referer"], &[]);
    let plain = call(3, Outcome::Ok, 200, &[], &["cors:preflight"]);
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for r in [&blocked, &monitored, &plain] {
        ins.write(&ApiCallRow::new(r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();

    // The call search's `finding`: a check's findings, or exactly one; hostile values bound.
    let ids = |a: &crate::admin::Answer| -> Vec<String> {
        a.body["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", a.text))
            .iter()
            .map(|r| r["call_id"].as_str().unwrap().to_string())
            .collect()
    };
    for (q, want) in [
        ("finding=xss", vec![&blocked, &monitored]),
        ("finding=sqli", vec![&blocked]),
        ("finding=xss:header.referer", vec![&monitored]),
        ("finding=sqli:query", vec![]),
        ("finding=sqli:query.q')%20OR%201%3D1%20--", vec![]),
        ("finding=xss&outcome=ok", vec![&monitored]),
    ] {
        let a = api
            .call(
                "GET",
                &format!("/api/v1/reports/calls?range=1h&{q}"),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "{q}: {}", a.text);
        let want: Vec<String> = want.iter().map(|r| r.call_id.to_string()).collect();
        assert_eq!(ids(&a), want, "{q}");
    }
    for q in [
        "/api/v1/reports/calls?range=1h&finding=rce",
        "/api/v1/reports/calls?range=1h&finding=sqli:",
        "/api/v1/reports/calls?range=1h&finding=xss:%0A",
        "/api/v1/reports/traffic?range=1h&finding=sqli",
    ] {
        let a = api.call("GET", q, None, &[]).await;
        assert_eq!(a.status, 422, "{q}: {}", a.text);
        assert_eq!(a.body["error"]["field"], "finding", "{q}: {}", a.text);
    }

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-support", PW).await;
    b.open(&format!("calls/{}", blocked.call_id)).await;
    let findings = b.wait_text("#call-findings", "sqli:query.q").await;
    assert!(findings.contains("xss:body.items[2].note"), "{findings}");
    let policies = b.wait_text("#call-policies", "idempotency:replayed").await;
    assert!(policies.contains("signature:acme-ed"), "{policies}");
    b.screenshot("support-policies-call-detail").await;
    // A finding links to the calls with it.
    b.press("#call-findings a:last-child").await;
    b.wait_js(
        "the search by the finding: the blocked call alone",
        "document.querySelectorAll('#calls-table tbody tr').length === 1 && location.hash.includes('finding=')",
    )
    .await;
    assert_eq!(b.value("#f-finding").await, "xss:body.items[2].note");
    // Typed in the form: a check's name finds both calls; a wrong one is named beside the field.
    b.fill("#f-finding", "xss").await;
    b.press("#calls-submit").await;
    b.wait_js(
        "two calls with an xss finding",
        "document.querySelectorAll('#calls-table tbody tr').length === 2",
    )
    .await;
    b.fill("#f-finding", "rce").await;
    b.press("#calls-submit").await;
    b.wait_text(".field-error #f-finding-error", "rce").await;
    b.screenshot("support-policies-finding-search").await;
    b.assert_no_csp_violations().await;
    b.close().await;
}
