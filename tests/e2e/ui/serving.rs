//! The UI's static files as a browser gets them: every answer (200, 304, 404, HEAD) carries the
//! strict CSP, `nosniff` and a same-origin referrer; files revalidate by ETag.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_dashboards::ui::{ASSETS, SECURITY_HEADERS};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;

struct Got {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

async fn fetch(base: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Got {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{base}{path}"));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        body,
    }
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn assert_secure(g: &Got, what: &str) {
    for (k, v) in SECURITY_HEADERS {
        assert_eq!(header(g, k), v, "{what}: {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_files_are_served_with_security_headers_and_etags() {
    let site = Site::new(
        "ui_serving",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;

    // The page itself, at `/`.
    let page = fetch(base, "GET", "/", &[]).await;
    assert_eq!(page.status, 200);
    assert_secure(&page, "GET /");
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(
        html.contains(r#"<script type="module" src="/ui/app.js">"#),
        "{html}"
    );

    // Every embedded file, with its type and its bytes; a second GET with the ETag is a 304
    // without a body, and still carries the headers.
    for a in ASSETS {
        let path = format!("/ui/{}", a.path);
        let g = fetch(base, "GET", &path, &[]).await;
        assert_eq!(g.status, 200, "{path}");
        assert_secure(&g, &path);
        assert_eq!(header(&g, "content-type"), a.content_type, "{path}");
        assert_eq!(header(&g, "cache-control"), "no-cache", "{path}");
        assert_eq!(&g.body[..], a.bytes, "{path}");
        let etag = header(&g, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() == 34, "{path}: {etag}");

        let again = fetch(base, "GET", &path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}: a 304 has no body");
        assert_eq!(header(&again, "etag"), etag);
        assert_secure(&again, &format!("{path} (304)"));

        // An old ETag gets the file.
        let stale = fetch(base, "GET", &path, &[("if-none-match", "\"0123\"")]).await;
        assert_eq!(stale.status, 200, "{path}");
    }

    // HEAD: headers, no body.
    let head = fetch(base, "HEAD", "/ui/app.js", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_secure(&head, "HEAD /ui/app.js");

    // Unknown files and paths that try to climb out are 404s with the headers, JSON errors.
    for path in [
        "/ui/nope.js",
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/i18n/fr.json",
        "/ui/",
        "/ui/README.md",
    ] {
        let g = fetch(base, "GET", path, &[]).await;
        assert_eq!(
            g.status,
            404,
            "{path}: {}",
            String::from_utf8_lossy(&g.body)
        );
        if path.starts_with("/ui/") && path.len() > 4 && !path.contains("..") {
            assert_secure(&g, path);
            let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
            assert_eq!(v["error"]["code"], "not_found", "{path}");
        }
    }

    // The UI needs no login; the API behind it does.
    let me = fetch(base, "GET", "/api/v1/me", &[]).await;
    assert_eq!(me.status, 401);
    // Unsafe methods on UI files are not routes.
    let post = fetch(base, "POST", "/ui/app.js", &[]).await;
    assert!(
        matches!(post.status, 403 | 405),
        "POST /ui/app.js: {}",
        post.status
    );
}
