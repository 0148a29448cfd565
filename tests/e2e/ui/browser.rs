//! A real browser for the UI tests: Debian's chromium, driven through chromedriver (WebDriver)
//! with fantoccini. `ops/test.sh` installs both. Each [`Browser`] has its own chromedriver on
//! a free port and a fresh profile directory; both go when it is dropped. Every wait is
//! bounded ([`WAIT`]) and fails with what the page showed.

use crate::helpers::free_port;
use bytes::Bytes;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The longest any one wait for the page lasts.
pub const WAIT: Duration = Duration::from_secs(20);

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A laptop screen.
pub const LAPTOP: (u32, u32) = (1366, 900);
/// A phone (CSS pixels of a common handset).
pub const PHONE: (u32, u32) = (390, 844);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// `http://127.0.0.1:<dashboards port>` (or the `https://` one of [`Browser::start_with`])
    pub base: String,
    /// chromedriver's own URL (`http://127.0.0.1:<port>`), for its browser log.
    pub driver_url: String,
}

impl Browser {
    /// Starts chromedriver and a headless chromium session for the site at `dashboards`.
    pub async fn start(dashboards: SocketAddr) -> Browser {
        Browser::start_with(format!("http://{dashboards}"), &[]).await
    }

    /// [`Browser::start`] for the site at `base` (`https://localhost:<port>`), with more
    /// chromium flags (which certificate to trust).
    pub async fn start_with(base: String, extra_args: &[String]) -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: ops/test.sh installs Debian's chromium and chromium-driver"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        // The flags the machine's notes ask for: no sandbox (root), and nothing that phones
        // home (this machine's network is closed; those connections fail by the dozen).
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            "--lang=en-US".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={},{}", LAPTOP.0, LAPTOP.1),
        ];
        let args: Vec<String> = args.into_iter().chain(extra_args.iter().cloned()).collect();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        // The console (errors, failed loads, CSP refusals) for `console_errors`.
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        // chromedriver takes a moment to listen; retry the session until it does.
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no chromium session through chromedriver at {url}: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            base,
            driver_url: url,
        }
    }

    /// Opens `/#/<route>` (or `/` for an empty route).
    pub async fn open(&self, route: &str) {
        let url = if route.is_empty() {
            format!("{}/", self.base)
        } else {
            format!("{}/#/{route}", self.base)
        };
        self.client.goto(&url).await.unwrap();
    }

    /// The first element matching `css`, waiting for it.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no {css} within {WAIT:?}: {e}\npage: {}",
                self.body_text().await
            ),
        }
    }

    /// Waits until the text of the first `css` element contains `want`; returns the text.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if t.contains(want) {
                        return t;
                    }
                    last = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{css} did not come to say {want:?} within {WAIT:?}; it says {last:?}\npage: {}",
            self.body_text().await
        );
    }

    /// Waits until `script` (a JS expression) is truthy.
    pub async fn wait_js(&self, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            let v = self
                .client
                .execute(&format!("return !!({script});"), vec![])
                .await
                .unwrap_or(Value::Bool(false));
            if v == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{what}: ({script}) not true within {WAIT:?}\npage: {}",
            self.body_text().await
        );
    }

    pub async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Sets an input's value as typing would (the app's inputs are controlled by Preact,
    /// which listens for `input` events).
    pub async fn fill(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
                 e.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// `fetch(path)` from the page, with the session's cookie and its CSRF token (read from
    /// `GET /api/v1/me`, as the app does): the status and the body's text.
    pub async fn fetch(&self, method: &str, path: &str) -> (u16, String) {
        let v = self
            .client
            .execute_async(
                r#"const [method, path, done] = arguments;
                   fetch('/api/v1/me', {credentials: 'same-origin'})
                     .then(r => r.ok ? r.json() : {})
                     .then(me => fetch(path, {method, credentials: 'same-origin',
                        headers: {'Content-Type': 'application/json',
                                  'X-CSRF-Token': me.csrf_token || ''},
                        body: method === 'GET' ? undefined : '{}'}))
                     .then(r => r.text().then(t => done([r.status, t])))
                     .catch(e => done([0, String(e)]));"#,
                vec![json!(method), json!(path)],
            )
            .await
            .unwrap();
        (
            v[0].as_u64().unwrap_or(0) as u16,
            v[1].as_str().unwrap_or("").to_string(),
        )
    }

    pub async fn resize(&self, (w, h): (u32, u32)) {
        self.client.set_window_size(w, h).await.unwrap();
    }

    /// Saves the window to `target/screenshots/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver ends its chromium with it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Scrolls the first `css` element to the top of the window (for a screenshot of what lies
    /// below the fold).
    pub async fn scroll_to(&self, css: &str) {
        self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});",
                vec![json!(css)],
            )
            .await
            .unwrap();
    }

    /// Chooses `value` in a `<select>` as a user would (Preact listens for `change`).
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
                 e.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap();
    }

    /// `fetch(path)` from the page like [`Browser::fetch`], with `body` as the JSON sent.
    pub async fn fetch_json(&self, method: &str, path: &str, body: &Value) -> (u16, String) {
        let v = self
            .client
            .execute_async(
                r#"const [method, path, body, done] = arguments;
                   fetch('/api/v1/me', {credentials: 'same-origin'})
                     .then(r => r.ok ? r.json() : {})
                     .then(me => fetch(path, {method, credentials: 'same-origin',
                        headers: {'Content-Type': 'application/json',
                                  'X-CSRF-Token': me.csrf_token || ''},
                        body: JSON.stringify(body)}))
                     .then(r => r.text().then(t => done([r.status, t])))
                     .catch(e => done([0, String(e)]));"#,
                vec![json!(method), json!(path), body.clone()],
            )
            .await
            .unwrap();
        (
            v[0].as_u64().unwrap_or(0) as u16,
            v[1].as_str().unwrap_or("").to_string(),
        )
    }

    /// The `value` of an input (a secret shown once in a read-only field).
    pub async fn value(&self, css: &str) -> String {
        self.find(css).await;
        self.client
            .execute(
                "return document.querySelector(arguments[0]).value;",
                vec![json!(css)],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Browser {
    /// Like [`Browser::screenshot`], of the whole page: the window is made as tall as the page
    /// (at most 5000 px) for the picture, then set back to `size`.
    pub async fn screenshot_full(&self, name: &str, size: (u32, u32)) -> PathBuf {
        // The page's height plus the window's own frame (set_window_size sets the outer size).
        let h = self
            .client
            .execute(
                "window.scrollTo(0, 0); return document.documentElement.scrollHeight \
                 + Math.max(0, window.outerHeight - window.innerHeight);",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::from(size.1));
        let tall = (h.ceil() as u32).clamp(size.1, 5000);
        self.resize((size.0, tall)).await;
        // Let the layout settle at the new size before the picture.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let path = self.screenshot(name).await;
        self.resize(size).await;
        path
    }

    /// Clicks through the DOM (`element.click()`), for a button a toast may be covering
    /// for a moment on a phone.
    pub async fn press(&self, css: &str) {
        self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).click();",
                vec![json!(css)],
            )
            .await
            .unwrap();
    }
}

impl Browser {
    /// `GET path` from the page (its cookie): the status, the `Content-Type` and the body's
    /// first bytes as numbers (for binary answers such as PNG).
    pub async fn fetch_head(&self, path: &str) -> (u16, String, Vec<u8>) {
        let v = self
            .client
            .execute_async(
                r#"const [path, done] = arguments;
                   fetch(path, {credentials: 'same-origin'})
                     .then(r => r.arrayBuffer().then(b => done([r.status,
                        r.headers.get('Content-Type') || '', Array.from(new Uint8Array(b).slice(0, 16))])))
                     .catch(e => done([0, String(e), []]));"#,
                vec![json!(path)],
            )
            .await
            .unwrap();
        let bytes = v[2]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
            .unwrap_or_default();
        (
            v[0].as_u64().unwrap_or(0) as u16,
            v[1].as_str().unwrap_or("").to_string(),
            bytes,
        )
    }

    /// An attribute of the first `css` element (e.g. a link's `href`), waiting for it.
    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.find(css)
            .await
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }
}

impl Browser {
    /// Fills and sends the login form (no wait: a wrong password stays on it).
    pub async fn submit_login(&self, user: &str, password: &str) {
        self.open("").await;
        self.find("#login-form").await;
        self.fill("#f-user", user).await;
        self.fill("#f-password", password).await;
        self.click("#login-submit").await;
    }

    /// Logs in through the login page and waits for the logged-in navigation.
    pub async fn log_in(&self, user: &str, password: &str) {
        self.submit_login(user, password).await;
        self.find("nav#nav").await;
    }

    /// The console's errors since the last call (chromedriver's `browser` log, SEVERE level):
    /// what a person would see in red in the developer tools.
    pub async fn console_errors(&self) -> Vec<String> {
        let sid = self.client.session_id().await.unwrap().expect("a session");
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build_http::<Full<Bytes>>();
        let req = hyper::Request::post(format!("{}/session/{sid}/se/log", self.driver_url))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                json!({"type": "browser"}).to_string(),
            )))
            .unwrap();
        let r = client.request(req).await.unwrap();
        assert_eq!(r.status(), 200, "chromedriver's log");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["value"]
            .as_array()
            .expect("log entries")
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn assert_console_clean(&self, when: &str) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "console errors {when}: {errors:#?}");
    }

    /// Fails when the page's CSP blocked anything (an inline style, a foreign URL): the app
    /// lists what it saw in `window.gwCspViolations`.
    pub async fn assert_no_csp_violations(&self) {
        let blocked = self
            .client
            .execute("return window.gwCspViolations || [];", vec![])
            .await
            .unwrap();
        assert_eq!(blocked, json!([]), "the CSP blocked something");
    }
}
