//! Auth bypass by path, judged by a real nginx: a public API `/public` and a keyed API `/admin`
//! on one nginx upstream whose locations answer which of them served the call. Every spelling
//! of "go from /public to /admin" must be refused (400 `bad_path`), or be routed — and served
//! by nginx — under the same API; none may reach nginx's `/admin` location without the key.

use crate::helpers::*;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PEPPER: &str = "e2e-path-pepper-0123456789";
const KEY: &str = "gwk_path_admin";

/// nginx in the foreground on a loopback port, with its own prefix, config and logs.
pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `locations` (the `server` block's body) and waits for its port.
    pub async fn start(locations: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             default_type text/plain;\n  server {{\n    listen 127.0.0.1:{port};\n    \
             {locations}\n  }}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx is installed (ops/test.sh installs it)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Nginx {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// An answer read off the wire.
#[derive(Debug)]
struct Wire {
    status: u16,
    body: String,
}

impl Wire {
    fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Sends `target` as written (no client library in between to tidy it) and reads the answer.
async fn raw_get(gw: SocketAddr, method: &str, target: &[u8], key: Option<&str>) -> Wire {
    let mut req = Vec::new();
    req.extend_from_slice(method.as_bytes());
    req.push(b' ');
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nhost: gw.test\r\nconnection: close\r\n");
    if let Some(k) = key {
        req.extend_from_slice(format!("x-api-key: {k}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let mut s = tokio::net::TcpStream::connect(gw).await.unwrap();
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Wire { status, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// What a spelling must come to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// 400 `bad_path` from the gateway.
    BadPath,
    /// 400 from the HTTP parser, before the gateway sees a request.
    Unparsable,
    /// Routed to the keyed API: 401 without the key.
    Keyed,
    /// No API has the path: 404.
    NoRoute,
    /// Routed to `/public`; nginx's answer, exactly.
    Public(&'static str),
}

fn table() -> Vec<(&'static [u8], Want)> {
    use Want::*;
    vec![
        (b"/public/x", Public("public /public/x")),
        (b"/public/../admin/x", Keyed),
        (b"/public/%2e%2e/admin/x", Keyed),
        (b"/public/%2E%2e/admin/x", Keyed),
        (b"/public/.%2e/admin/x", Keyed),
        (b"/public/%2e./admin/x", Keyed),
        (b"/public/%2E%2E/admin/x", Keyed),
        (b"/%70ublic/%2e%2e/admin/x", Keyed),
        (b"/public/x/../../admin/x?y=../..", Keyed),
        (b"//admin/x", Keyed),
        (b"/public//../admin/x", Keyed),
        (b"/public/./../admin/x", Keyed),
        (b"/public;/../admin/x", Keyed),
        (b"/public/x;/../../admin/x", Keyed),
        (b"http://gw.test/public/../admin/x", Keyed),
        (
            b"/public/%252e%252e/admin/x",
            Public("public /public/%2e%2e/admin/x"),
        ),
        (
            b"/public/%25%32%65%25%32%65/admin/x",
            Public("public /public/%2e%2e/admin/x"),
        ),
        (b"/public/..%2fadmin/x", BadPath),
        (b"/public/..%2Fadmin/x", BadPath),
        (b"/public%2f..%2fadmin/x", BadPath),
        (b"/public/%2e%2e%2fadmin/x", BadPath),
        (b"/public/%2E%2E%2Fadmin", BadPath),
        (b"/public/x/%2e%2e%2f%2e%2e%2fadmin", BadPath),
        (b"/public/..%5cadmin/x", BadPath),
        (b"/public/%2e%2e%5c%2e%2e%5cadmin", BadPath),
        (b"/public/..\\admin/x", BadPath),
        (b"/public\\..\\admin", BadPath),
        (b"/public/%2f/admin", BadPath),
        (b"/public/..;/admin/x", BadPath),
        (b"/public/.;/admin/x", BadPath),
        (b"/public/..;jsessionid=1/admin/x", BadPath),
        (b"/public/%2e%2e;/admin/x", BadPath),
        (b"/public/..%3b/admin/x", BadPath),
        (b"/public/x/.%2e;/admin", BadPath),
        (b"/public/%00/../admin", BadPath),
        (b"/public/x%00", BadPath),
        (b"/public/..%00/admin", BadPath),
        (b"/public/../..", BadPath),
        (b"/public/../../admin/x", BadPath),
        (b"/public/.%2E/.%2E/admin/x", BadPath),
        (b"/public/%u002e%u002e/admin", BadPath),
        (b"/public/%%32%65%%32%65/admin", BadPath),
        (b"/public/%2", BadPath),
        (b"*", BadPath),
        (b"/public/\x00/../admin", Unparsable),
        (b"/public/admin/..", Public("public /public/")),
        (b"/public/admin/.", Public("public /public/admin/")),
        (b"/public/...", Public("public /public/...")),
        (b"/public/admin.", Public("public /public/admin.")),
        (
            b"/public/x/..%2e/..%2e/admin",
            Public("public /public/x/.../.../admin"),
        ),
        (b"/public/x?../../admin", Public("public /public/x")),
        (b"/%70ublic/x", Public("public /public/x")),
        (b"/public/%61dmin", Public("public /public/admin")),
        (b"/public/..", NoRoute),
        (b"/admin./x", NoRoute),
        (b"/admin;/x", NoRoute),
        (b"/Admin/x", NoRoute),
        (b"/ADMIN/x", NoRoute),
        (b"/admin%2e/x", NoRoute),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_path_reaches_the_keyed_api_without_its_key() {
    // `location /admin` (no slash) takes anything nginx reads as starting with `/admin`:
    // the broadest judge of "reached the keyed API".
    let nginx = Nginx::start(
        "location /public { return 200 \"public $uri\"; }\n    \
         location /admin { return 200 \"admin $uri\"; }\n    \
         location / { return 200 \"other $uri\"; }",
    )
    .await;
    let up = nginx.addr;
    let tail = format!(
        "[security]\npepper = \"{PEPPER}\"\n\n[[routes]]\nprefix = \"/public\"\nupstreams = [\"http://{up}\"]\n"
    );
    let site = Site::new(
        "path_attacks",
        &gatewatch_migrations::testing::clickhouse_url(),
        &tail,
    );
    let store = site.migrate().await;
    let _gateway = site.start("gateway").await;
    put_entities(
        &store,
        &[
            change(
                EntityKind::Api,
                "admin",
                serde_json::json!({"name": "admin", "prefix": "/admin",
                    "upstreams": [format!("http://{up}")], "auth": ["api_key"]}),
            ),
            change(
                EntityKind::Group,
                "ops",
                serde_json::json!({"name": "Ops", "apis": ["admin"]}),
            ),
            change(
                EntityKind::Client,
                "root",
                serde_json::json!({"name": "Root", "groups": ["ops"]}),
            ),
            change(
                EntityKind::ApiKey,
                "k-root",
                serde_json::json!({"client_id": "root", "hash": hash_secret(PEPPER.as_bytes(), KEY)}),
            ),
        ],
    )
    .await;
    // The keyed API is live once its key opens it.
    let t0 = Instant::now();
    loop {
        let a = raw_get(site.gateway, "GET", b"/admin/x", Some(KEY)).await;
        if a.status == 200 {
            assert_eq!(a.body, "admin /admin/x");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{a:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let cases = table();
    assert!(cases.len() >= 30);
    // The judge sees through the spellings: sent to nginx directly, the classic three (and
    // more) are served by its keyed location — so it is the gateway that stops them.
    let mut direct_admin = Vec::new();
    for (target, _) in &cases {
        if *target == b"*" {
            continue;
        }
        let a = raw_get(nginx.addr, "GET", target, None).await;
        if a.body.starts_with("admin") {
            direct_admin.push(String::from_utf8_lossy(target).into_owned());
        }
    }
    for classic in [
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/public/..%2fadmin/x",
    ] {
        assert!(
            direct_admin.iter().any(|t| t == classic),
            "{direct_admin:?}"
        );
    }
    assert!(direct_admin.len() >= 15, "{direct_admin:?}");
    let mut wrong = Vec::new();
    for (target, want) in &cases {
        let method = if *target == b"*" { "OPTIONS" } else { "GET" };
        let a = raw_get(site.gateway, method, target, None).await;
        let shown = String::from_utf8_lossy(target);
        // Whatever else: nginx's keyed location never answers a call without the key.
        assert!(
            !a.body.starts_with("admin"),
            "{shown} reached the keyed API without a key: {a:?}"
        );
        let ok = match want {
            Want::BadPath => a.status == 400 && a.code() == "bad_path",
            Want::Unparsable => a.status == 400 && a.code().is_empty(),
            Want::Keyed => a.status == 401 && a.code() == "auth_required",
            Want::NoRoute => a.status == 404 && a.code() == "no_route",
            Want::Public(body) => a.status == 200 && a.body == *body,
        };
        if !ok {
            wrong.push(format!(
                "{shown}: want {want:?}, got {} {:?}",
                a.status, a.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // With the key, the spellings that normalize to the keyed API reach it, as nginx reads
    // them too; and a keyed caller climbing back to /public lands there.
    for (target, body) in [
        (&b"/public/%2e%2e/admin/x"[..], "admin /admin/x"),
        (b"//admin//x/./y/..", "admin /admin/x/"),
        (b"/admin/%78", "admin /admin/x"),
        (b"/admin/../public/y", "public /public/y"),
    ] {
        let a = raw_get(site.gateway, "GET", target, Some(KEY)).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, body),
            "{}",
            String::from_utf8_lossy(target)
        );
    }
}
