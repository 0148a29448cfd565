//! The web UI's static files, embedded in the binary: a small single-page app of plain ES
//! modules (Preact + htm vendored as one file, no build step) served at `/` (index.html) and
//! `/ui/<file>`. Pages are hash routes (`/#/overview`), so the server has no page routes; every
//! figure on a page comes from the admin and report APIs, which check roles and CSRF themselves.
//! The one other page is the API reference at `/api/docs` (`docs.html`, public like the
//! `/api/openapi.json` it renders).
//!
//! Every answer here carries the security headers ([`SECURITY_HEADERS`]): a strict CSP (no
//! inline scripts or styles, nothing from other origins, no framing), `nosniff` and a
//! same-origin referrer. Files carry an ETag (a hash of their bytes, computed once) and
//! `Cache-Control: no-cache`, so a browser revalidates and gets a 304 until the binary changes.

use crate::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

use crate::error::ApiError;

/// One embedded file.
pub struct Asset {
    /// Path under `dashboards/ui/` (and under `/ui/` in URLs).
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
            content_type: $ct,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// Every file the UI serves. A test checks that each file under `dashboards/ui/` (but the
/// README) is listed, so a new page cannot be forgotten here.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("i18n.js", JS),
    asset!("nav.js", JS),
    asset!("components.js", JS),
    asset!("pages/login.js", JS),
    asset!("pages/password.js", JS),
    asset!("pages/overview.js", JS),
    asset!("pages/placeholder.js", JS),
    // the nodes page (its modules go under this line)
    asset!("pages/nodes.js", JS),
    // the alerts page (its modules go under this line)
    asset!("pages/alerts/shared.js", JS),
    asset!("pages/alerts/active.js", JS),
    asset!("pages/alerts/rules.js", JS),
    asset!("pages/alerts/rule_editor.js", JS),
    asset!("pages/alerts/send_results.js", JS),
    asset!("pages/alerts/channels.js", JS),
    asset!("pages/alerts/silences.js", JS),
    asset!("pages/alerts/ack.js", JS),
    asset!("pages/alerts/policies.js", JS),
    asset!("pages/alerts/inhibit.js", JS),
    asset!("pages/alerts/window_preview.js", JS),
    asset!("pages/alerts.js", JS),
    // the reports page (its modules go under this line)
    asset!("pages/reports/params.js", JS),
    asset!("pages/reports/viewer.js", JS),
    asset!("pages/reports/subscriptions.js", JS),
    asset!("pages/reports/cron.js", JS),
    asset!("pages/reports.js", JS),
    // the calls page (its modules go under this line)
    asset!("pages/calls/body.js", JS),
    asset!("pages/calls/detail.js", JS),
    asset!("pages/calls/query.js", JS),
    asset!("pages/calls/search.js", JS),
    asset!("pages/calls/words.js", JS),
    asset!("pages/calls.js", JS),
    // the config page (its modules go under this line)
    asset!("pages/config/common.js", JS),
    asset!("pages/config/apis.js", JS),
    asset!("pages/config/clients.js", JS),
    asset!("pages/config/client_signing.js", JS),
    asset!("pages/config/policies.js", JS),
    asset!("pages/config/sets.js", JS),
    asset!("pages/config/signing_keys.js", JS),
    asset!("pages/config/releases.js", JS),
    asset!("pages/config/families.js", JS),
    asset!("pages/config.js", JS),
    // the users page (its modules go under this line)
    asset!("pages/users.js", JS),
    // the audit page (its modules go under this line)
    asset!("pages/audit.js", JS),
    // the API reference at /api/docs (its modules go under this line)
    asset!("docs.html", "text/html; charset=utf-8"),
    asset!("docs/spec.js", JS),
    asset!("docs/schema.js", JS),
    asset!("docs/operation.js", JS),
    asset!("docs.js", JS),
    asset!("i18n/en.json", JSON),
    asset!("i18n/zh-TW.json", JSON),
    asset!("vendor/preact-htm.module.js", JS),
];

/// The headers on every UI answer, including 304s and 404s.
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// The ETag of each asset, in the order of [`ASSETS`]: the first 16 bytes of its SHA-256.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let d = Sha256::digest(a.bytes);
            let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in SECURITY_HEADERS {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    r
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return secure(ApiError::not_found(format!("no UI file {path:?}")).into_response());
    };
    let asset = &ASSETS[i];
    let etag = ETAGS[i].as_str();
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let status = if cached {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let common = [
        (header::ETAG, etag),
        // Revalidate every time: the ETag makes that a 304, and a new binary is seen at once.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    let r = if cached {
        (status, common).into_response()
    } else {
        (
            status,
            common,
            [(header::CONTENT_TYPE, asset.content_type)],
            asset.bytes,
        )
            .into_response()
    };
    secure(r)
}

/// `GET /`: the app's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /api/docs`: the API reference, a page of its own (no login: the document is public).
pub async fn docs(headers: HeaderMap) -> Response {
    serve("docs.html", &headers)
}

/// `GET /ui/{*file}`: one of the app's files.
pub async fn file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn ui_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui")
    }

    fn files_under(dir: &std::path::Path, base: &std::path::Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files_under(&p, base, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel);
            }
        }
    }

    #[test]
    fn every_file_under_ui_is_embedded() {
        let mut on_disk = BTreeSet::new();
        files_under(&ui_dir(), &ui_dir(), &mut on_disk);
        on_disk.remove("README.md");
        let listed: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(on_disk, listed);
    }

    fn keys(lang: &str) -> BTreeSet<String> {
        let text = std::fs::read_to_string(ui_dir().join(format!("i18n/{lang}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let m = v.as_object().unwrap();
        for (k, x) in m {
            assert!(
                x.as_str().is_some_and(|s| !s.trim().is_empty()),
                "{lang}: {k} is not a text"
            );
        }
        m.keys().cloned().collect()
    }

    /// The keys of every call of `t` with a quoted key in the JS: keys are always literals, so a
    /// scan finds them all.
    fn used_keys() -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for a in ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js") && !a.path.starts_with("vendor/"))
        {
            let src = std::str::from_utf8(a.bytes).unwrap();
            let b = src.as_bytes();
            let mut i = 0;
            while let Some(off) = src[i..].find("t(") {
                let at = i + off;
                i = at + 2;
                // `t(` as a whole word, not `set(` or `fmt(`.
                if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
                    continue;
                }
                let rest = &src[at + 2..];
                let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                    continue;
                };
                if let Some(end) = rest[1..].find(q) {
                    used.insert(rest[1..1 + end].to_string());
                }
            }
        }
        used
    }

    #[test]
    fn catalogues_have_the_same_keys_which_are_the_keys_used() {
        let en = keys("en");
        let zh = keys("zh-TW");
        let only_en: Vec<_> = en.difference(&zh).collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in zh-TW.json: {only_en:?}");
        assert!(only_zh.is_empty(), "missing in en.json: {only_zh:?}");
        let used = used_keys();
        assert!(used.len() > 20, "the scan found only {used:?}");
        let missing: Vec<_> = used.difference(&en).collect();
        assert!(
            missing.is_empty(),
            "used in the JS but in no catalogue: {missing:?}"
        );
    }

    #[test]
    fn no_inline_script_or_style_in_the_pages() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let page = std::str::from_utf8(a.bytes).unwrap();
            assert!(
                !page.contains("<style"),
                "{}: inline <style> breaks the CSP",
                a.path
            );
            assert!(
                !page.contains(" style="),
                "{}: inline style breaks the CSP",
                a.path
            );
            // An `on…=` attribute is an inline script too.
            let handler = page.match_indices(" on").any(|(i, _)| {
                let rest = &page[i + 3..];
                let word = rest.len()
                    - rest
                        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                        .len();
                word > 0 && rest[word..].starts_with('=')
            });
            assert!(!handler, "{}: inline on…= handler", a.path);
            for part in page.split("<script").skip(1) {
                assert!(
                    part.contains("src=\"/ui/"),
                    "{}: inline script: {part}",
                    a.path
                );
            }
        }
    }

    /// `/api/docs` is the reference page for anyone: a public row of the route table, served
    /// as HTML with the UI's security headers.
    #[tokio::test]
    async fn api_docs_is_a_public_page_with_the_csp() {
        let rules = crate::access::rules();
        let rule = crate::access::find(&rules, &axum::http::Method::GET, "/api/docs")
            .expect("/api/docs in the route table");
        assert_eq!(rule.access, crate::access::Access::Public);
        let r = docs(HeaderMap::new()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        for (k, v) in SECURITY_HEADERS {
            assert_eq!(h[k], v, "{k}");
        }
        let page = ASSETS.iter().find(|a| a.path == "docs.html").unwrap();
        let html = std::str::from_utf8(page.bytes).unwrap();
        assert!(html.contains(r#"<script type="module" src="/ui/docs.js">"#));
    }

    #[test]
    fn etags_differ_per_file() {
        let set: BTreeSet<&String> = ETAGS.iter().collect();
        assert_eq!(set.len(), ASSETS.len());
    }
}
