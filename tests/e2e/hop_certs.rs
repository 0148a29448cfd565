//! Certificates for the TLS hops' tests (collector, dashboards, ClickHouse): a CA made by rcgen
//! and a server certificate it signs, written as PEM files.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// A CA and one server certificate it signed, as files in a directory.
pub struct TestCa {
    /// The CA's certificate (what clients trust).
    pub ca: PathBuf,
    /// The server's certificate (the leaf alone: the CA is the root).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// The server key's SubjectPublicKeyInfo, DER (Chromium's
    /// `--ignore-certificate-errors-spki-list` names a certificate by its SHA-256).
    pub spki_der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `stem` in `dir`, and a certificate for `localhost` and `127.0.0.1`.
    pub fn new(dir: &Path, stem: &str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("gatewatch test CA {stem}"),
        );
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let files = TestCa {
            ca: dir.join(format!("{stem}-ca.pem")),
            cert: dir.join(format!("{stem}-cert.pem")),
            key: dir.join(format!("{stem}-key.pem")),
            spki_der: rcgen::PublicKeyData::subject_public_key_info(&key),
        };
        std::fs::write(&files.ca, ca.pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// A reqwest client trusting this CA only (no system roots), keeping no cookies.
    pub fn reqwest(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .no_proxy()
            .build()
            .unwrap()
    }
}

/// `s` with backslashes and quotes escaped, for a TOML basic string.
pub fn toml_path(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// `gatewatch config check FILE`: its exit code and what it printed.
pub fn config_check(file: &Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "check"])
        .arg(file)
        .env_remove("GATEWATCH_CLICKHOUSE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Sends `request` in plain HTTP to the TLS listener at `addr` and checks that no HTTP answer
/// comes back and that the connection is closed (within 20 s).
pub async fn plain_http_gets_no_answer(addr: std::net::SocketAddr, request: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        raw.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the TLS port kept a plain connection open");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}
