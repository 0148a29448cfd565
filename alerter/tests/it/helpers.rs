//! What the notifier tests share: an SMTP server (aiosmtpd), a tiny HTTP server, polling.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Python that has aiosmtpd: `GATEWATCH_TEST_PYTHON`, else Debian's (`python3-aiosmtpd`
/// lives there, not in a pyenv or venv Python that may come first on PATH), else `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("GATEWATCH_TEST_PYTHON") {
        return p;
    }
    if Path::new("/usr/bin/python3").exists() {
        return "/usr/bin/python3".into();
    }
    "python3".into()
}

/// A free loopback port (bound, then released for the server to take).
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
    /// Starts the sink; `tls` = (cert PEM path, key PEM path) for STARTTLS, `auth` = (user,
    /// password) to require a login.
    pub fn start(tls: Option<(&Path, &Path)>, auth: Option<(&str, &str)>) -> SmtpSink {
        SmtpSink::start_with(tls, auth, false)
    }

    /// As [`SmtpSink::start`]; `implicit`: TLS from the first byte instead of STARTTLS.
    pub fn start_with(
        tls: Option<(&Path, &Path)>,
        auth: Option<(&str, &str)>,
        implicit: bool,
    ) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(port.to_string()).arg(dir.path());
        if let Some((cert, key)) = tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
            if implicit {
                cmd.arg("--implicit");
            }
        }
        if let Some((u, p)) = auth {
            cmd.args(["--user", u, "--password", p]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", python(), script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start (install python3-aiosmtpd: ops/test.sh does)"
        );
        SmtpSink { child, port, dir }
    }

    /// The mails received so far, as the sink's JSON summaries, oldest first.
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

    /// Waits (up to 10 s) for `n` mails.
    pub async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let m = self.mails();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} mail(s) did not arrive; got {:?}", self.mails());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `app` on a free loopback port for the rest of the test.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// Short waits between attempts, so retry tests are quick.
pub fn quick_backoff() -> gatewatch_alerter::notify::Backoff {
    gatewatch_alerter::notify::Backoff {
        first: Duration::from_millis(20),
        max: Duration::from_millis(100),
    }
}
