//! The portal's static files (`portal/ui/`), embedded in the binary: plain ES modules with
//! Preact + htm vendored as one file, no build step — the dashboards' stack. Files carry an
//! ETag (a hash of their bytes) and `Cache-Control: no-cache`, so browsers revalidate and get
//! 304 until the binary changes. Security headers are added to every answer by the router.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
pub struct Asset {
    /// Path under `portal/ui/` (and under `/ui/` in URLs).
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
pub const HTML: &str = "text/html; charset=utf-8";

/// Every file the portal serves; a test checks each file under `portal/ui/` (but the README)
/// is listed.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("i18n.js", JS),
    asset!("catalogue.js", JS),
    asset!("api_page.js", JS),
    asset!("i18n/en.json", JSON),
    asset!("i18n/zh-TW.json", JSON),
    asset!("vendor/preact-htm.module.js", JS),
];

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

/// An embedded file with `status` (the page shell answers 404 for an unknown API), or `None`
/// when there is no such file.
pub fn serve(path: &str, headers: &HeaderMap, status: StatusCode) -> Option<Response> {
    let i = ASSETS.iter().position(|a| a.path == path)?;
    let asset = &ASSETS[i];
    let etag = ETAGS[i].as_str();
    let cached = status == StatusCode::OK
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [(header::ETAG, etag), (header::CACHE_CONTROL, "no-cache")];
    Some(if cached {
        (StatusCode::NOT_MODIFIED, common).into_response()
    } else {
        (
            status,
            common,
            [(header::CONTENT_TYPE, asset.content_type)],
            asset.bytes,
        )
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn ui_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui")
    }

    fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files_under(&p, base, out);
            } else {
                out.insert(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
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

    /// Keys of `t('…')` calls in the JS (always literals).
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
        assert_eq!(
            en.symmetric_difference(&zh).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
        let used = used_keys();
        assert!(used.len() > 10, "the scan found only {used:?}");
        let missing: Vec<_> = used.difference(&en).collect();
        assert!(
            missing.is_empty(),
            "used in the JS but in no catalogue: {missing:?}"
        );
    }

    #[test]
    fn no_inline_script_or_style_in_the_page() {
        let page = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(!page.contains("<style") && !page.contains(" style="));
        for part in page.split("<script").skip(1) {
            assert!(part.contains("src=\"/ui/"), "inline script: {part}");
        }
    }
}
