//! `gatewatch cert self-signed`: a private CA and a server certificate it signs, for trying
//! the TLS listeners (clients are given `ca.pem` to trust). Not a replacement for a real CA.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Write a new CA (ca.pem, ca-key.pem) and a server certificate signed by it (cert.pem:
    /// the certificate then the CA; key.pem), for trying TLS.
    ///
    /// Each `--name` is in the server certificate (an IP address as an IP name). Keys are
    /// written 0600. Existing files are kept unless `--force`. Prints the `[gateway.tls]`
    /// lines to paste.
    SelfSigned(SelfSignedArgs),
}

#[derive(Args, Debug)]
pub struct SelfSignedArgs {
    /// Directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// A DNS name or IP address of the server (repeat for more).
    #[arg(long = "name", required = true)]
    pub names: Vec<String>,
    /// Days the server certificate is valid (the CA: ten times as long).
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Overwrite files already there.
    #[arg(long)]
    pub force: bool,
}

/// A bad command line: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CertUsageError(pub String);

pub const CA_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

pub fn run(cmd: &CertCommand) -> anyhow::Result<String> {
    match cmd {
        CertCommand::SelfSigned(args) => self_signed(args),
    }
}

/// The four PEM texts: CA certificate, CA key, server chain, server key.
struct Made {
    ca: String,
    ca_key: String,
    chain: String,
    key: String,
}

fn make(names: &[String], days: u32) -> Result<Made, CertUsageError> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    };
    let failed = |e: rcgen::Error| CertUsageError(format!("cannot make the certificate: {e}"));
    let now = time::OffsetDateTime::now_utc();
    // An hour back: clocks of clients trying it right away may be a little behind.
    let start = now - time::Duration::hours(1);

    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "gatewatch self-signed CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = start;
    ca.not_after = now + time::Duration::days(i64::from(days) * 10);
    let ca_key = KeyPair::generate().map_err(failed)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(failed)?;

    let mut leaf = CertificateParams::new(names.to_vec())
        .map_err(|e| CertUsageError(format!("--name: {e}")))?;
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = start;
    leaf.not_after = now + time::Duration::days(i64::from(days));
    let key = KeyPair::generate().map_err(failed)?;
    let cert = leaf.signed_by(&key, &ca).map_err(failed)?;
    Ok(Made {
        ca: ca.pem(),
        ca_key: ca_key_pem,
        chain: cert.pem() + &ca.pem(),
        key: key.serialize_pem(),
    })
}

fn check_names(names: &[String]) -> Result<(), CertUsageError> {
    for n in names {
        let n = n.trim();
        if n.is_empty() || n.len() > 253 || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CertUsageError(format!(
                "--name: '{n}' is not a DNS name or IP address"
            )));
        }
        if n.parse::<std::net::IpAddr>().is_err() && rustls_pki_types::DnsName::try_from(n).is_err()
        {
            return Err(CertUsageError(format!(
                "--name: '{n}' is not a DNS name or IP address"
            )));
        }
    }
    Ok(())
}

fn self_signed(args: &SelfSignedArgs) -> anyhow::Result<String> {
    check_names(&args.names)?;
    if args.days == 0 || args.days > 3650 {
        return Err(CertUsageError("--days: from 1 to 3650".into()).into());
    }
    let names: Vec<String> = args.names.iter().map(|n| n.trim().to_string()).collect();
    let files = [
        (CA_FILE, false),
        (CA_KEY_FILE, true),
        (CERT_FILE, false),
        (KEY_FILE, true),
    ];
    // Every file is checked before any is written: no half-replaced set.
    if !args.force {
        let there: Vec<String> = files
            .iter()
            .map(|(f, _)| args.out.join(f))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !there.is_empty() {
            return Err(CertUsageError(format!(
                "not overwriting {} (use --force)",
                there.join(", ")
            ))
            .into());
        }
    }
    let made = make(&names, args.days)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let dir = args
        .out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.out.display()))?;
    let texts = [&made.ca, &made.ca_key, &made.chain, &made.key];
    for ((file, secret), text) in files.iter().zip(texts) {
        write(&dir.join(file), text, *secret, args.force)?;
    }
    let toml = |p: PathBuf| toml_string(&p.display().to_string());
    Ok(format!(
        "wrote {ca} (the CA: clients trust it, e.g. curl --cacert {ca})\n\
         wrote {ca_key} (the CA's key, 0600: keep it private, or delete it)\n\
         wrote {cert} (server certificate for {names}, then the CA)\n\
         wrote {key} (the server's key, 0600)\n\
         \n\
         Paste into the configuration file:\n\
         \n\
         [gateway.tls]\n\
         listen = \"127.0.0.1:8443\"\n\
         cert_file = {cert_toml}\n\
         key_file = {key_toml}",
        ca = dir.join(CA_FILE).display(),
        ca_key = dir.join(CA_KEY_FILE).display(),
        cert = dir.join(CERT_FILE).display(),
        key = dir.join(KEY_FILE).display(),
        names = names.join(", "),
        cert_toml = toml(dir.join(CERT_FILE)),
        key_toml = toml(dir.join(KEY_FILE)),
    ))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn write(path: &Path, text: &str, secret: bool, force: bool) -> anyhow::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).mode(if secret { 0o600 } else { 0o644 });
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut f = open
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if secret {
        // A file that existed keeps its mode on open: tighten it before the key goes in.
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
    }
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;

    fn args(out: &Path, names: &[&str], force: bool) -> SelfSignedArgs {
        SelfSignedArgs {
            out: out.to_path_buf(),
            names: names.iter().map(|n| n.to_string()).collect(),
            days: 30,
            force,
        }
    }

    /// A TLS handshake over an in-memory pipe: a client trusting `ca.pem` asks for `name`
    /// from a server with `cert.pem` and `key.pem`.
    async fn handshake(dir: &Path, name: &str) -> Result<(), String> {
        let tls = gatewatch_listen::tls::Tls::load(vec![gatewatch_listen::tls::CertFiles {
            server_names: Vec::new(),
            cert_file: dir.join(CERT_FILE),
            key_file: dir.join(KEY_FILE),
        }])
        .map_err(|e| e.to_string())?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join(CA_FILE)).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { tls.acceptor().accept(b).await.map(|_| ()) });
        let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
        let result = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(name, a)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let _ = server.await;
        result
    }

    use rustls_pki_types::pem::PemObject as _;

    #[tokio::test]
    async fn writes_a_ca_and_a_server_certificate_clients_trust_for_each_name() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("tls");
        let text = self_signed(&args(&out, &["localhost", "127.0.0.1", "::1"], false)).unwrap();
        for f in [CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE] {
            assert!(text.contains(&out.join(f).display().to_string()), "{text}");
        }
        assert!(text.contains("[gateway.tls]\n"), "{text}");
        let pasted: toml::Value =
            toml::from_str(&text[text.find("[gateway.tls]").unwrap()..]).unwrap();
        assert_eq!(
            pasted["gateway"]["tls"]["key_file"].as_str(),
            Some(out.join(KEY_FILE).to_str().unwrap())
        );
        for (f, mode) in [(CA_KEY_FILE, 0o600), (KEY_FILE, 0o600), (CA_FILE, 0o644)] {
            let m = std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{f}");
        }
        let chain: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(out.join(CERT_FILE))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let ca = rustls_pki_types::CertificateDer::from_pem_file(out.join(CA_FILE)).unwrap();
        assert_eq!(chain.len(), 2, "the certificate then the CA");
        assert_eq!(chain[1], ca);
        for name in ["localhost", "127.0.0.1", "::1"] {
            handshake(&out, name).await.unwrap();
        }
        let refused = handshake(&out, "example.com").await.unwrap_err();
        assert!(refused.contains("certificate"), "{refused}");
    }

    #[test]
    fn existing_files_are_kept_unless_force() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(KEY_FILE), "mine").unwrap();
        std::fs::set_permissions(
            d.path().join(KEY_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let e = self_signed(&args(d.path(), &["localhost"], false)).unwrap_err();
        assert!(
            e.to_string().contains("key.pem") && e.to_string().contains("--force"),
            "{e}"
        );
        assert!(e.is::<CertUsageError>());
        assert_eq!(
            std::fs::read_to_string(d.path().join(KEY_FILE)).unwrap(),
            "mine"
        );
        assert!(!d.path().join(CA_FILE).exists(), "nothing written");
        self_signed(&args(d.path(), &["localhost"], true)).unwrap();
        let key = std::fs::metadata(d.path().join(KEY_FILE)).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
        assert_ne!(
            std::fs::read_to_string(d.path().join(KEY_FILE)).unwrap(),
            "mine"
        );
    }

    #[test]
    fn bad_names_and_days_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["", "a b", "exa_mple..com", "-x.com.", "\u{7}"] {
            let e = self_signed(&args(d.path(), &[bad], false)).unwrap_err();
            assert!(e.to_string().starts_with("--name"), "{bad:?}: {e}");
        }
        let mut a = args(d.path(), &["localhost"], false);
        a.days = 0;
        assert!(self_signed(&a)
            .unwrap_err()
            .to_string()
            .starts_with("--days"));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
