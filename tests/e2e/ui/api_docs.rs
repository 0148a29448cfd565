//! The API reference at `/api/docs` (issue 14): served to anyone (no login) with the UI's CSP,
//! and in a real headless Chromium: every operation of `/api/openapi.json` listed, one opened
//! with its request body fields and response statuses, the filter, an operation opened by its
//! anchor, the language switch, a phone; and the UI's help menu reaching it. No console
//! errors anywhere (chromedriver's browser log: failed loads, CSP refusals, exceptions).
//! Screenshots: `docs-*`.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use fantoccini::Locator;
use gatewatch_dashboards::ui::SECURITY_HEADERS;
use serde_json::{json, Value};

const PW: &str = "correct-horse-battery";

async fn site(name: &str) -> (Site, Proc) {
    let site = Site::new(name, &gatewatch_migrations::testing::clickhouse_url(), "");
    site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let dash = site.start("dashboards").await;
    (site, dash)
}

/// `(method, path)` of every operation the document describes.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(m).is_some() {
                out.push((m.to_string(), path.clone()));
            }
        }
    }
    out
}

impl Browser {
    /// Runs `script` (a JS expression) and returns its value.
    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(&format!("return ({script});"), vec![])
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_docs_is_served_to_anyone_with_the_csp() {
    let (site, _dash) = site("ui_api_docs_serving").await;
    let anon = Api::anonymous(site.dashboards);

    for method in ["GET", "HEAD"] {
        let r = anon.call(method, "/api/docs", None, &[]).await;
        assert_eq!(r.status, 200, "{method} /api/docs: {}", r.text);
        assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
        for (k, v) in SECURITY_HEADERS {
            assert_eq!(r.headers[k], v, "{method} /api/docs: {k}");
        }
        if method == "GET" {
            assert!(
                r.text
                    .contains(r#"<script type="module" src="/ui/docs.js">"#),
                "{}",
                r.text
            );
        }
    }
    // A query (a bookmarked link with one) is the same page.
    let q = anon.call("GET", "/api/docs?x=%3F", None, &[]).await;
    assert_eq!(q.status, 200);

    // The page and the document it renders are both public and both in the document.
    let doc = anon.call("GET", "/api/openapi.json", None, &[]).await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["paths"]["/api/docs"]["get"].is_object(),
        "/api/docs is an operation of the document"
    );

    // Other methods and paths under it are refused with a JSON error, never a 500 or the page.
    for (method, path) in [
        ("POST", "/api/docs"),
        ("PUT", "/api/docs"),
        ("DELETE", "/api/docs"),
        ("GET", "/api/docs/"),
        ("GET", "/api/docs/x"),
        ("GET", "/api/docs/../v1/me"),
        ("GET", "/api/docs%2F..%2Fv1%2Fme"),
    ] {
        let r = anon.call(method, path, Some("{}"), &[]).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        assert!(
            r.body["error"]["code"].is_string(),
            "{method} {path}: {}",
            r.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_page_renders_filters_and_opens_anchors_in_a_real_browser() {
    let (site, _dash) = site("ui_api_docs_page").await;
    let doc = Api::anonymous(site.dashboards)
        .call("GET", "/api/openapi.json", None, &[])
        .await
        .body;
    let ops = operations(&doc);
    assert!(ops.len() > 50, "{} operations", ops.len());
    let b = Browser::start(site.dashboards).await;

    // Nobody is logged in: the page shows every operation of the document, closed.
    b.client
        .goto(&format!("{}/api/docs", b.base))
        .await
        .unwrap();
    b.find("#op-post-api-v1-me-tokens").await;
    let shown = b.js("document.querySelectorAll('section.op').length").await;
    assert_eq!(shown, json!(ops.len()), "one section per operation");
    for (m, p) in &ops {
        let css = format!(
            "section.op[data-method=\"{}\"][data-path=\"{}\"]",
            m.to_uppercase(),
            p
        );
        b.find(&css).await;
    }
    let count = b.find("#filter-count").await.text().await.unwrap();
    assert!(count.contains(&format!("{0} of {0}", ops.len())), "{count}");
    assert_eq!(b.attr("#download", "href").await, "/api/openapi.json");
    let (status, ct, _) = b.fetch_head("/api/openapi.json").await;
    assert!(
        status == 200 && ct.starts_with("application/json"),
        "{status} {ct}"
    );
    // The security schemes, with how to get a bearer token.
    let auth = b.find("#authentication").await.text().await.unwrap();
    assert!(
        auth.contains("POST") && auth.contains("/api/v1/me/tokens"),
        "{auth}"
    );
    b.screenshot("docs-laptop").await;

    // Open POST /api/v1/me/tokens: who may call it, its request body's fields, its statuses.
    b.click("#op-post-api-v1-me-tokens > details > summary")
        .await;
    let op = "#op-post-api-v1-me-tokens .op-body";
    b.find(&format!("{op} [data-part=\"security\"]")).await;
    let sec = b
        .find(&format!("{op} [data-part=\"security\"]"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        sec.contains("bearer") && sec.contains("X-CSRF-Token"),
        "{sec}"
    );
    for field in ["name", "expires_at"] {
        b.find(&format!(
            "{op} [data-part=\"request\"] [data-type=\"application/json\"] [data-prop=\"{field}\"]"
        ))
        .await;
    }
    let req = b
        .find(&format!("{op} [data-part=\"request\"]"))
        .await
        .text()
        .await
        .unwrap();
    assert!(req.contains("TokenRequest"), "the $ref by its name: {req}");
    b.wait_text(&format!("{op} [data-status=\"201\"]"), "201")
        .await;
    let statuses = b
        .js("[...document.querySelectorAll('#op-post-api-v1-me-tokens .resp')].map(r => r.dataset.status)")
        .await;
    let want: Vec<&str> = doc["paths"]["/api/v1/me/tokens"]["post"]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for s in &want {
        assert!(
            statuses.as_array().unwrap().contains(&json!(s)),
            "status {s} missing: {statuses}"
        );
    }
    // An error answer's body opens to the error object.
    let err = format!("{op} .resp:not([data-status^=\"2\"])");
    b.click(&format!("{err} details.sch-node > summary")).await;
    b.find(&format!("{err} [data-prop=\"error\"]")).await;
    b.scroll_to("#op-post-api-v1-me-tokens").await;
    b.screenshot("docs-laptop-operation").await;

    // The filter: every word must match; the rest go; nothing matching says so.
    b.fill("#filter", "post tokens").await;
    b.wait_text("#filter-count", &format!(" of {}", ops.len()))
        .await;
    b.wait_js(
        "only matching operations",
        "!document.querySelector('#op-get-api-v1-me-tokens') && !!document.querySelector('#op-post-api-v1-me-tokens')",
    )
    .await;
    let left = b
        .js("[...document.querySelectorAll('section.op')].map(s => s.dataset.method + ' ' + s.dataset.path + ' ' + s.textContent.toLowerCase())")
        .await;
    for o in left.as_array().unwrap() {
        let o = o.as_str().unwrap();
        assert!(o.starts_with("POST ") && o.contains("token"), "{o}");
    }
    b.screenshot("docs-filtered").await;
    b.fill("#filter", "zzz-no-such-operation").await;
    b.wait_js(
        "no operation left",
        "document.querySelectorAll('section.op').length === 0 && !!document.querySelector('.empty')",
    )
    .await;
    b.fill("#filter", "").await;
    b.wait_js(
        "all back",
        &format!(
            "document.querySelectorAll('section.op').length === {}",
            ops.len()
        ),
    )
    .await;
    b.assert_console_clean("on the page").await;

    // A link to an operation opens the page at it, opened; a new anchor opens that one.
    b.client.goto("about:blank").await.unwrap();
    b.client
        .goto(&format!("{}/api/docs#op-get-api-v1-audit", b.base))
        .await
        .unwrap();
    b.find("#op-get-api-v1-audit details[open] .op-body").await;
    b.wait_js(
        "the linked operation in view",
        "(() => { const r = document.getElementById('op-get-api-v1-audit').getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight / 2; })()",
    )
    .await;
    b.screenshot("docs-anchor").await;
    b.js("(location.hash = '#op-delete-api-v1-me-tokens-token-id', 1)")
        .await;
    b.find("#op-delete-api-v1-me-tokens-token-id details[open] [data-part=\"parameters\"] [data-param=\"token_id\"]")
        .await;
    // The permalink of an open operation is its anchor.
    assert_eq!(
        b.attr("#op-get-api-v1-audit .op-link", "href").await,
        "#op-get-api-v1-audit"
    );

    // zh-TW, and back.
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("h1", "API 參考文件").await;
    b.wait_text("#filter-count", "個操作").await;
    b.screenshot("docs-zh-TW").await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("h1", "API reference").await;

    // A phone: one column, an operation readable without sideways scrolling.
    b.resize(PHONE).await;
    b.js("(location.hash = '#op-put-api-v1-apis-id', 1)").await;
    b.find("#op-put-api-v1-apis-id details[open] .op-body")
        .await;
    b.scroll_to("#op-put-api-v1-apis-id").await;
    let wide = b
        .js("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(
        wide.as_f64().unwrap_or(99.0) <= 1.0,
        "sideways scroll on a phone: {wide}"
    );
    b.screenshot("docs-phone").await;
    b.resize(LAPTOP).await;
    b.assert_console_clean("after anchors, languages and a phone")
        .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_help_menu_of_the_ui_opens_the_reference_in_a_new_tab() {
    let (site, _dash) = site("ui_api_docs_help").await;
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;
    // Before logging in the app asks who is logged in and gets a 401: expected, not an error
    // of the page; the log is read (and so emptied) here.
    // (That it is there shows the log is read at all.)
    let before = b.console_errors().await;
    assert!(
        !before.is_empty()
            && before
                .iter()
                .all(|e| e.contains("/api/v1/me") && e.contains("401")),
        "{before:#?}"
    );

    b.click("#help-toggle").await;
    assert_eq!(b.attr("#help-toggle", "aria-expanded").await, "true");
    assert_eq!(b.attr("#help-api", "href").await, "/api/docs");
    assert_eq!(b.attr("#help-api", "target").await, "_blank");
    assert_eq!(b.attr("#help-api", "rel").await, "noopener");
    b.screenshot("docs-help-menu").await;
    // Escape closes the menu.
    b.js("(document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})), 1)")
        .await;
    b.wait_js("the menu closed", "!document.querySelector('#help-menu')")
        .await;

    let app = b.client.window().await.unwrap();
    b.click("#help-toggle").await;
    b.click("#help-api").await;
    let mut tab = None;
    for _ in 0..100 {
        let all = b.client.windows().await.unwrap();
        if let Some(w) = all.into_iter().find(|w| *w != app) {
            tab = Some(w);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let tab = tab.expect("a new tab");
    b.client.switch_to_window(tab).await.unwrap();
    b.find("#op-post-api-v1-me-tokens").await;
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/api/docs");
    b.assert_console_clean("in the reference opened from the menu")
        .await;
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(app).await.unwrap();

    // On a phone the "?" sits in the top bar beside the menu button.
    b.resize(PHONE).await;
    b.click("#help-toggle").await;
    b.find("#help-api").await;
    let visible = b
        .client
        .find(Locator::Css("#help-api"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(visible);
    b.screenshot("docs-help-menu-phone").await;
    b.resize(LAPTOP).await;
    b.assert_no_csp_violations().await;
    b.assert_console_clean("in the app").await;
    b.close().await;
}

/// A document richer than today's: tags, `$ref` parameters and responses, oneOf with a
/// discriminator over allOf, anyOf with null, const, prefixItems, additionalProperties,
/// recursion, an unresolved `$ref`, a status range, a response link, a public operation,
/// non-JSON content.
fn rich_document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "rich", "version": "9",
                 "description": "Intro with `code`.\n\n- first point\n- second point\n\nSee [the guide](/api/docs#authentication), not [this](javascript:alert(1)) nor [that](//elsewhere.example/x)."},
        "tags": [{"name": "entities", "description": "Configuration entities"}, {"name": "reports"}],
        "security": [{"session": []}, {"bearer": []}],
        "paths": {
            "/api/v1/ping": {"get": {"summary": "Untagged", "responses": {"204": {"description": "pong"}}}},
            "/api/v1/things/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "put": {
                    "tags": ["entities"], "summary": "Replace a thing", "operationId": "replaceThing",
                    "description": "Needs permission `write_gateway_config`.",
                    "parameters": [{"name": "If-Match", "in": "header", "required": true,
                                    "schema": {"type": "string", "pattern": "^\"[0-9]+\"$"}}],
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Thing"},
                        "example": {"kind": "api", "id": "a"}}}},
                    "responses": {
                        "default": {"$ref": "#/components/responses/Err"},
                        "4XX": {"$ref": "#/components/responses/Err"},
                        "412": {"$ref": "#/components/responses/Err"},
                        "204": {"description": "unchanged"},
                        "200": {"description": "replaced",
                                "headers": {"ETag": {"description": "the new version", "schema": {"type": "string"}}},
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                                "links": {"Report": {"operationId": "getReport", "parameters": {"kind": "$response.body#/kind"}}}}
                    }
                }
            },
            "/api/v1/reports/{kind}": {"get": {
                "tags": ["reports"], "summary": "A report, as JSON or CSV", "security": [], "operationId": "getReport",
                "parameters": [
                    {"name": "kind", "in": "path", "required": true, "schema": {"type": "string", "enum": ["latency", "errors"]}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "filter", "in": "query", "content": {"application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}
                ],
                "responses": {"200": {"description": "the report", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Tree"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                    "image/svg+xml": {}
                }}}
            }}
        },
        "components": {
            "parameters": {"Id": {"name": "id", "in": "path", "required": true, "description": "The id",
                                   "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9-]+$"}}},
            "responses": {"Err": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "gw_session"},
                "bearer": {"type": "http", "scheme": "bearer"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string", "enum": ["invalid", "stale"]}, "field": {"type": ["string", "null"]}}}}},
                "Thing": {"oneOf": [{"$ref": "#/components/schemas/ApiThing"}, {"$ref": "#/components/schemas/ClientThing"}],
                          "discriminator": {"propertyName": "kind"}},
                "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "readOnly": true}}},
                "ApiThing": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"type": "object", "properties": {
                    "kind": {"const": "api"},
                    "upstreams": {"type": "array", "items": {"$ref": "#/components/schemas/Upstream"}, "minItems": 1},
                    "timeout_ms": {"type": "integer", "exclusiveMaximum": 600000, "deprecated": true},
                    "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]}}}]},
                "ClientThing": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"type": "object", "additionalProperties": false, "properties": {
                    "kind": {"const": "client"},
                    "auth": {"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/Upstream"}]}}}]},
                "Upstream": {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}, "weight": {"type": ["integer", "null"], "default": 1}}},
                "Tree": {"type": "object", "properties": {
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                    "weird": {"$ref": "#/components/schemas/Nope"}}},
                "a/b~c": {"type": "string"}
            }
        }
    })
}

impl Browser {
    /// Opens every closed schema node under `css`, a few levels deep (recursive ones stay shut).
    async fn open_all(&self, css: &str) {
        for _ in 0..6 {
            self.js(&format!(
                "(document.querySelectorAll('{css} details.sch-node:not([open]) > summary').forEach((s) => s.click()), 1)"
            ))
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_renders_a_richer_openapi_31_document() {
    let (site, _dash) = site("ui_api_docs_rich").await;
    let b = Browser::start(site.dashboards).await;
    b.client
        .goto(&format!("{}/api/docs", b.base))
        .await
        .unwrap();
    b.find("section.op").await;
    // The page's own module renders the rich document in place of the server's.
    let done = b
        .client
        .execute_async(
            r#"const [doc, done] = arguments;
               Promise.all([import('/ui/vendor/preact-htm.module.js'), import('/ui/docs.js')])
                 .then(([p, d]) => {
                   const root = document.getElementById('docs');
                   p.render(null, root);
                   p.render(p.html`<${d.Reference} doc=${doc} onLang=${() => {}} />`, root);
                   done(true);
                 })
                 .catch((e) => done(String(e)));"#,
            vec![rich_document()],
        )
        .await
        .unwrap();
    assert_eq!(done, json!(true));
    b.wait_text("#filter-count", "3 of 3").await;

    // Groups: the tags in their order, with their descriptions, then the untagged by path.
    let groups = b
        .js("[...document.querySelectorAll('section.docs-group[data-group]')].map((g) => g.dataset.group)")
        .await;
    assert_eq!(groups, json!(["entities", "reports", "ping"]));
    assert!(b
        .text_of("section[data-group=\"entities\"]")
        .await
        .contains("Configuration entities"));
    // The info's text: a list, a link to this site, and no link for a javascript: URL or
    // another host.
    b.find(".docs-intro ul li + li").await;
    assert_eq!(
        b.attr(".docs-intro a", "href").await,
        "/api/docs#authentication"
    );
    assert_eq!(
        b.js("document.querySelectorAll('.docs-intro a').length")
            .await,
        json!(1)
    );

    // The PUT: its path-level $ref parameter, its header, who may call it.
    b.js("(location.hash = '#op-put-api-v1-things-id', 1)")
        .await;
    let op = "#op-put-api-v1-things-id";
    b.find(&format!("{op} details[open] .op-body")).await;
    let id = b
        .text_of(&format!("{op} [data-param=\"id\"][data-in=\"path\"]"))
        .await;
    for want in ["required", "^[a-z0-9-]+$", "maxLength", "64", "The id"] {
        assert!(id.contains(want), "{want} in {id}");
    }
    b.find(&format!(
        "{op} [data-param=\"If-Match\"][data-in=\"header\"]"
    ))
    .await;
    let sec = b.text_of(&format!("{op} [data-part=\"security\"]")).await;
    assert!(
        sec.contains("session") && sec.contains("X-CSRF-Token"),
        "{sec}"
    );

    // The body: oneOf by discriminator over allOf, opened all the way.
    b.open_all(&format!("{op} [data-part=\"request\"]")).await;
    let body = b.text_of(&format!("{op} [data-part=\"request\"]")).await;
    for want in [
        "Thing",
        "one of",
        "kind",
        "ApiThing",
        "ClientThing",
        "all of",
        "Base",
        "read only",
        "\"api\"",
        "upstreams",
        "array of Upstream",
        "minItems",
        "exclusiveMaximum",
        "deprecated",
        "other properties",
        "No other properties allowed.",
        "[0]",
        "[1]",
        "any of",
        "nullable",
        "format",
        "uri",
    ] {
        assert!(
            body.contains(want),
            "{want:?} missing from the body:\n{body}"
        );
    }
    // Statuses in reading order, a range after its codes, `default` last; a response header.
    let statuses = b
        .js(&format!(
            "[...document.querySelectorAll('{op} .resp')].map((r) => r.dataset.status)"
        ))
        .await;
    assert_eq!(statuses, json!(["200", "204", "412", "4XX", "default"]));
    let ok = b.text_of(&format!("{op} [data-status=\"200\"]")).await;
    assert!(
        ok.contains("ETag") && ok.contains("the new version"),
        "{ok}"
    );
    assert!(b
        .text_of(&format!("{op} [data-status=\"204\"]"))
        .await
        .contains("No body"));
    b.scroll_to(op).await;
    b.screenshot("docs-rich-operation").await;

    // A response's link leads to its operation: the public report, with every content type,
    // a recursive and an unresolved schema.
    let link = format!("{op} [data-status=\"200\"] [data-link=\"Report\"]");
    assert!(b.text_of(&link).await.contains("$response.body#/kind"));
    b.click(&format!("{link} a")).await;
    let rep = "#op-get-api-v1-reports-kind";
    b.find(&format!("{rep} details[open] .op-body")).await;
    assert!(b
        .text_of(&format!("{rep} [data-part=\"security\"]"))
        .await
        .contains("no login needed"));
    for ty in ["application/json", "text/csv", "image/png", "image/svg+xml"] {
        b.find(&format!("{rep} .media[data-type=\"{ty}\"]")).await;
    }
    assert!(b
        .text_of(&format!("{rep} .media[data-type=\"image/png\"]"))
        .await
        .contains("contentMediaType"));
    b.find(&format!("{rep} [data-param=\"filter\"] .media-type"))
        .await;
    b.open_all(&format!("{rep} .media[data-type=\"application/json\"]"))
        .await;
    let tree = b
        .text_of(&format!("{rep} .media[data-type=\"application/json\"]"))
        .await;
    assert!(
        tree.contains("recursive") && tree.contains("unresolved $ref"),
        "{tree}"
    );

    // The filter over these, and the component schemas (a name with `/` and `~`).
    b.fill("#filter", "csv").await;
    b.wait_text("#filter-count", "1 of 3").await;
    b.find(rep).await;
    b.fill("#filter", "").await;
    b.find("#schema-a-b-c").await;
    b.assert_console_clean("rendering a richer document").await;
    b.close().await;
}
