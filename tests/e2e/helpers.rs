//! Processes, ports, an in-process upstream and a load driver.

use bytes::Bytes;
use gatewatch_store::Store;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A free loopback port (bound, read, released), never one this test process was given
/// before: the kernel may hand a released port out again at once, and two roles of one site
/// given the same port fail to start (seen in CI: the gateway and the alerter on one port).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// One site: a database, a data directory, a config file and the ports of its roles.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub gateway: SocketAddr,
    /// The gateway's admin port: its own `/healthz`, `/readyz`, `/metrics`.
    pub gateway_admin: SocketAddr,
    pub collector: SocketAddr,
    pub dashboards: SocketAddr,
    /// The alerter's port (health, metrics, test-send); the dashboards forward to it.
    pub alerter: SocketAddr,
    /// The reports role's port (health, metrics).
    pub reports: SocketAddr,
    /// The developer portal's port (its site, health, metrics).
    pub portal: SocketAddr,
    pub clickhouse_url: String,
    pub database: String,
}

impl Site {
    /// A site whose ClickHouse is at `clickhouse_url`, with `routes` (TOML `[[routes]]` blocks).
    pub fn new(name: &str, clickhouse_url: &str, routes: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let site = Site {
            gateway: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            gateway_admin: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            collector: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            dashboards: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            alerter: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            reports: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            portal: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            clickhouse_url: clickhouse_url.to_string(),
            database: gatewatch_migrations::testing::test_database(name),
            dir,
        };
        let toml = format!(
            r#"
data_dir = "{data}"
node = "e2e-{name}"
[clickhouse]
url = "{ch}"
database = "{db}"
[gateway]
listen = "{gw}"
admin_listen = "{gwa}"
collector_url = "http://{col}"
flush_interval_ms = 200
upstream_connect_timeout_ms = 500
upstream_timeout_ms = 1000
[collector]
listen = "{col}"
insert_period_ms = 200
[dashboards]
listen = "{dash}"
alerter_url = "http://{alerter}"
[alerter]
listen = "{alerter}"
[reports]
listen = "{reports}"
poll_ms = 500
lease_ttl_ms = 5000
retry_backoff_secs = 1
[portal]
listen = "{portal}"
{routes}
"#,
            data = site.dir.path().join("data").display(),
            ch = clickhouse_url,
            db = site.database,
            gw = site.gateway,
            gwa = site.gateway_admin,
            col = site.collector,
            dash = site.dashboards,
            alerter = site.alerter,
            reports = site.reports,
            portal = site.portal,
        );
        std::fs::write(site.config_path(), toml).unwrap();
        site
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gatewatch.toml")
    }

    pub fn store(&self) -> Store {
        Store::new(gatewatch_store::StoreConfig {
            url: self.clickhouse_url.clone(),
            database: self.database.clone(),
            ..Default::default()
        })
    }

    /// Drops the database and runs `gatewatch migrate`.
    pub async fn migrate(&self) -> Store {
        let store = self.store();
        gatewatch_migrations::testing::server_client(&store)
            .query(&format!("DROP DATABASE IF EXISTS {}", self.database))
            .execute()
            .await
            .unwrap();
        let out = gatewatch(&["migrate"], &self.config_path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        store
    }

    /// Starts one role and waits for its port to answer `/healthz`.
    pub async fn start(&self, role: &str) -> Proc {
        self.start_args(&[role]).await
    }

    /// Starts `gatewatch ARGS` (a role and its flags: `up --demo`) and waits for the role's
    /// port (the gateway's admin port for `gateway` and `up`) to answer `/healthz`.
    pub async fn start_args(&self, args: &[&str]) -> Proc {
        let role = args[0];
        let log = self.dir.path().join(format!("{role}.log"));
        let mut cmd = gatewatch(args, &self.config_path());
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        cmd.stderr(f.try_clone().unwrap()).stdout(f);
        let child = cmd.spawn().unwrap();
        let addr = match role {
            "gateway" | "up" => self.gateway_admin,
            "collector" => self.collector,
            "dashboards" => self.dashboards,
            "alerter" => self.alerter,
            "reports" => self.reports,
            "portal" => self.portal,
            _ => panic!("no port known for {role}"),
        };
        let p = Proc {
            child: Some(child),
            log,
        };
        wait_healthy(addr, &p).await;
        p
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.gateway, path)
    }

    /// A URL on the gateway's admin port (`/healthz`, `/readyz`, `/metrics`).
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.gateway_admin, path)
    }
}

/// `gatewatch ARGS --config FILE` with logs kept quiet enough to read.
pub fn gatewatch(args: &[&str], config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatewatch"));
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env("GATEWATCH_LOG", "info")
        .env_remove("GATEWATCH_CLICKHOUSE_URL")
        .stdin(Stdio::null());
    cmd
}

/// A child process, killed when dropped.
pub struct Proc {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// The process id (0 once it is killed or stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            for _ in 0..300 {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(status.success(), "exit {status}: {}", self.log_text());
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            panic!(
                "did not stop within 30 s after SIGTERM: {}",
                self.log_text()
            );
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_healthy(addr: SocketAddr, p: &Proc) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = format!("http://{addr}/healthz").parse().unwrap();
    for _ in 0..300 {
        if let Ok(r) = client.get(uri.clone()).await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr} did not become healthy: {}", p.log_text());
}

/// An upstream in the test process: `/ok` 200, `/missing` 404, `/fail` 500, `/slow` answers
/// after 3 s (past the gateway's 1 s timeout), `/echo` returns the request body.
pub async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_string();
                        let (status, body) = match path.as_str() {
                            "/ok" => (200, Bytes::from_static(b"{\"ok\":true}")),
                            "/missing" => (404, Bytes::from_static(b"{}")),
                            "/fail" => (500, Bytes::from_static(b"{}")),
                            "/slow" => {
                                tokio::time::sleep(Duration::from_secs(3)).await;
                                (200, Bytes::new())
                            }
                            "/echo" => (
                                200,
                                req.into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default(),
                            ),
                            _ => (404, Bytes::new()),
                        };
                        let mut r = Response::new(Full::new(body));
                        *r.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(r)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Sends `paths` (cycled) `n` times through the gateway, `concurrency` at a time, pausing
/// `pause` between requests of one worker. Returns the count of each answer status.
pub async fn drive(
    base: &str,
    paths: &[&str],
    n: usize,
    concurrency: usize,
    pause: Duration,
) -> HashMap<u16, usize> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let statuses = Arc::new(Mutex::new(HashMap::new()));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, next, statuses) = (client.clone(), next.clone(), statuses.clone());
        let paths: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let uri: hyper::Uri = paths[i % paths.len()].parse().unwrap();
                let status = match client.get(uri).await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.into_body().collect().await;
                        s
                    }
                    Err(_) => 0,
                };
                *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let m = statuses.lock().unwrap().clone();
    m
}

/// Waits until `sql` returns `want`, then checks it stays there a moment (a late duplicate
/// would show). Fails after `secs` with the last value.
pub async fn eventually(store: &Store, sql: &str, want: u64, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut last = 0;
    while tokio::time::Instant::now() < deadline {
        last = store.fetch_u64(sql).await.unwrap_or(last);
        if last == want {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(
                store.fetch_u64(sql).await.unwrap(),
                want,
                "{sql} changed after reaching {want}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{sql}: wanted {want}, still {last} after {secs} s");
}

/// A ClickHouse of the test's own on other ports, so it can be stopped without harming others.
pub struct PrivateClickHouse {
    dir: tempfile::TempDir,
    http: u16,
    tcp: u16,
    inter: u16,
    child: Option<Child>,
    /// More `--key=value` overrides (an `https_port` and its certificate).
    extra: Vec<String>,
}

impl PrivateClickHouse {
    pub fn start() -> PrivateClickHouse {
        PrivateClickHouse::start_with(Vec::new())
    }

    /// [`PrivateClickHouse::start`] with more server overrides (`--https_port=…`).
    pub fn start_with(extra: Vec<String>) -> PrivateClickHouse {
        let mut ch = PrivateClickHouse {
            dir: tempfile::tempdir().unwrap(),
            http: free_port(),
            tcp: free_port(),
            inter: free_port(),
            child: None,
            extra,
        };
        ch.resume();
        ch
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    pub fn resume(&mut self) {
        let d = self.dir.path();
        let child = Command::new("clickhouse-server")
            .arg("--config-file=/etc/clickhouse-server/config.xml")
            .arg("--")
            .arg(format!("--http_port={}", self.http))
            .arg(format!("--tcp_port={}", self.tcp))
            .arg(format!("--interserver_http_port={}", self.inter))
            .arg(format!("--path={}/data/", d.display()))
            .arg(format!("--tmp_path={}/tmp/", d.display()))
            .arg(format!("--logger.log={}/log", d.display()))
            .arg(format!("--logger.errorlog={}/err", d.display()))
            .args(&self.extra)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server must be installed (ops/test.sh installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("private ClickHouse did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// aiosmtpd (alerter/tests/smtp_sink.py) writing each mail as JSON into its directory.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerter/tests/smtp_sink.py");
        let python = std::env::var("GATEWATCH_TEST_PYTHON").unwrap_or_else(|_| {
            if Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3".into()
            } else {
                "python3".into()
            }
        });
        let port = free_port();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpSink { child, port, dir }
    }

    pub fn mails(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// The `[alerter.smtp]` block that sends to this sink.
    pub fn alerter_toml(&self) -> String {
        format!(
            "[alerter.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"gatewatch@example.tw\"\n",
            self.port
        )
    }
}

/// Writes one entity (version 1 or a blind overwrite) straight into the configuration log, as
/// the admin API would.
pub async fn put_entity(
    store: &Store,
    kind: gatewatch_model::EntityKind,
    id: &str,
    body: &serde_json::Value,
) {
    put_entities(store, &[change(kind, id, body.clone())]).await;
}

/// One entity written (created or replaced) in a change of the configuration log.
pub fn change(
    kind: gatewatch_model::EntityKind,
    id: &str,
    body: serde_json::Value,
) -> gatewatch_store::config_log::Change {
    gatewatch_store::config_log::Change {
        kind,
        id: id.into(),
        body: body.to_string(),
        deleted: false,
        expected_version: None,
    }
}

/// `changes` written as one version of the configuration log, now, by "e2e".
pub async fn put_entities(store: &Store, changes: &[gatewatch_store::config_log::Change]) {
    gatewatch_store::config_log::write(
        store,
        "e2e",
        "",
        changes,
        chrono::Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();
}

/// One node sample of `node` at CPU `cpu_pct`, now, written to `node_metrics`.
pub async fn insert_cpu_sample(store: &Store, node: &str, cpu_pct: f32) {
    let s = gatewatch_model::NodeSample {
        ts_us: chrono::Utc::now().timestamp_micros(),
        node: node.into(),
        role: "gateway".into(),
        cpu_pct,
        mem_used_bytes: 1,
        mem_total_bytes: 2,
        rss_bytes: 1,
        disks: Vec::new(),
        backlog: Default::default(),
    };
    insert_node_sample(store, &s).await;
}

/// `s` written to `node_metrics`, as the collector would.
pub async fn insert_node_sample(store: &Store, s: &gatewatch_model::NodeSample) {
    use gatewatch_store::rows::NodeMetricRow;
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<NodeMetricRow<'_>>("node_metrics")
        .await
        .unwrap();
    ins.write(&NodeMetricRow::new(s, uuid::Uuid::new_v4()))
        .await
        .unwrap();
    ins.end().await.unwrap();
}

impl Site {
    /// Adds `lines` at the top of the configuration's `[section]` (which `Site::new` writes).
    pub fn tune(&self, section: &str, lines: &str) {
        let cfg = std::fs::read_to_string(self.config_path()).unwrap();
        let head = format!("[{section}]\n");
        assert!(
            cfg.contains(&head),
            "no [{section}] in the site's configuration"
        );
        let cfg = cfg.replacen(&head, &format!("{head}{lines}\n"), 1);
        std::fs::write(self.config_path(), cfg).unwrap();
    }
}
