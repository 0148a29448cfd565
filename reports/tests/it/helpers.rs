//! What the scheduler tests share: the alerter's aiosmtpd sink (alerter/tests/smtp_sink.py,
//! which also reports every MIME part), a hand-made report with a hand-made PNG, writing
//! subscriptions and users into the configuration log, reading runs.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::EntityKind;
use gatewatch_reports::catalog::Report;
use gatewatch_reports::chart::{Chart, ChartKind, Series};
use gatewatch_reports::queries::Source;
use gatewatch_reports::schedule::mail::{SmtpConfig, SmtpTls};
use gatewatch_reports::schedule::{ReportSource, ScheduleConfig};
use gatewatch_reports::table::{Cell, Column, Table};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::report_runs::{self, ReportRun};
use gatewatch_store::Store;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Python that has aiosmtpd (as the alerter's tests pick it).
fn python() -> String {
    if let Ok(p) = std::env::var("GATEWATCH_TEST_PYTHON") {
        return p;
    }
    if Path::new("/usr/bin/python3").exists() {
        return "/usr/bin/python3".into();
    }
    "python3".into()
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running aiosmtpd; killed when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start(port: u16) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../alerter/tests/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start (python3-aiosmtpd)"
        );
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

pub fn smtp(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        user: String::new(),
        password: String::new(),
        from: "gatewatch 報表 <reports@example.tw>".into(),
        timeout: Duration::from_secs(5),
        ca_pem: None,
    }
}

/// A scheduler configuration for tests: fast polls, a short lease, quick retries, no
/// retention.
pub fn config(holder: &str, port: u16) -> ScheduleConfig {
    let mut c = ScheduleConfig::new(holder, "Asia/Taipei".parse().unwrap());
    c.poll = Duration::from_millis(300);
    c.lease_ttl = Duration::from_secs(5);
    c.lease_settle = Duration::from_millis(300);
    c.retries = 5;
    c.backoff_first = Duration::from_millis(500);
    c.backoff_max = Duration::from_secs(2);
    c.smtp = Some(smtp(port));
    c.retention = None;
    c
}

/// The smallest valid PNG (1×1, grey), standing in for the chart until the charts land.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b,
    0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x68, 0x00, 0x00, 0x00,
    0x82, 0x00, 0x81, 0x4c, 0x17, 0xd7, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A usage report made by hand, for whatever window the params resolve to.
pub struct HandMade;

impl ReportSource for HandMade {
    fn report<'a>(
        &'a self,
        _store: &'a Store,
        kind: ReportKind,
        params: &'a ReportParams,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Pin<Box<dyn Future<Output = gatewatch_reports::Result<Report>> + Send + 'a>> {
        Box::pin(async move {
            let window = params.resolve(now, tz)?;
            let mut table = Table::new(
                vec![Column::new("api", "API"), Column::new("calls", "Calls")],
                window.tz,
            );
            table.push(vec![Cell::from("訂單 orders"), Cell::Int(120)]);
            table.push(vec![Cell::from("=cmd, \"pay\""), Cell::Int(3)]);
            let mut summary = serde_json::Map::new();
            summary.insert("calls".into(), 123.into());
            Ok(Report {
                kind,
                title: "API 用量".into(),
                window,
                source: Source::Hour,
                summary,
                table,
                chart: Some(Chart {
                    kind: ChartKind::HorizontalBar,
                    title: "API 用量".into(),
                    x_labels: vec!["訂單 orders".into(), "pay".into()],
                    y_label: "calls".into(),
                    series: vec![Series {
                        name: "calls".into(),
                        values: vec![120.0, 3.0],
                    }],
                }),
                next_cursor: None,
            })
        })
    }

    fn png(&self, _chart: &Chart) -> gatewatch_reports::Result<Vec<u8>> {
        Ok(PNG.to_vec())
    }
}

/// Writes entities into the configuration log.
pub async fn put(store: &Store, kind: EntityKind, id: &str, body: serde_json::Value) {
    put_at(store, kind, id, body, Utc::now().timestamp_micros()).await
}

/// [`put`], as if written at `at_us`.
pub async fn put_at(
    store: &Store,
    kind: EntityKind,
    id: &str,
    body: serde_json::Value,
    at_us: i64,
) {
    config_log::write(
        store,
        "test",
        "",
        &[Change {
            kind,
            id: id.into(),
            body: body.to_string(),
            deleted: false,
            expected_version: None,
        }],
        at_us,
    )
    .await
    .unwrap();
}

/// A user of `role` with an address (bodies as stored: a password hash is required).
pub async fn user(store: &Store, id: &str, role: &str, email: &str, disabled: bool) {
    put(
        store,
        EntityKind::User,
        id,
        serde_json::json!({"role": role, "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "email": email, "disabled": disabled}),
    )
    .await;
}

/// Every attempt on record for `subscription`, oldest first.
pub async fn runs(store: &Store, subscription: &str) -> Vec<ReportRun> {
    let mut r = report_runs::list(store, subscription, 1000).await.unwrap();
    r.sort_by_key(|x| (x.scheduled_for, x.attempt));
    r
}

/// Polls `f` every 100 ms for up to `secs` seconds.
pub async fn eventually<T>(secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
