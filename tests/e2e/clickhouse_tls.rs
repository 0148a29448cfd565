//! ClickHouse over `https://` (`[clickhouse] ca_file`): a private clickhouse-server (18.16) with
//! `https_port` and a certificate signed by a CA made by the test. `gatewatch migrate`, the
//! collector and the gateway work against it through the CA; the same server is refused with a
//! clear certificate error when the CA is not trusted; a bad `ca_file` is a configuration
//! error naming the key.

use crate::helpers::*;
use crate::hop_certs::{config_check, toml_path, TestCa};
use std::time::Duration;

/// The site's `[clickhouse]` section pointed at `url` with `ca_file = ca` (or none).
fn point_at(site: &Site, url: &str, ca: Option<&std::path::Path>) {
    let cfg = std::fs::read_to_string(site.config_path()).unwrap();
    let from = format!("url = \"{}\"\n", site.clickhouse_url);
    assert!(cfg.contains(&from));
    let mut to = format!("url = \"{url}\"\n");
    if let Some(ca) = ca {
        to.push_str(&format!("ca_file = \"{}\"\n", toml_path(ca)));
    }
    std::fs::write(site.config_path(), cfg.replacen(&from, &to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_over_https_with_a_private_ca_and_refused_without_it() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new(certs.path(), "ch");
    let other = TestCa::new(certs.path(), "other");
    let https = free_port();
    let ch = PrivateClickHouse::start_with(vec![
        format!("--https_port={https}"),
        format!("--openSSL.server.certificateFile={}", ca.cert.display()),
        format!("--openSSL.server.privateKeyFile={}", ca.key.display()),
        // No Diffie-Hellman parameters file: ECDHE only.
        "--openSSL.server.dhParamsFile=".into(),
    ]);
    let url = format!("https://localhost:{https}");
    // The https port opens with the http one; wait until it takes connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", https)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let up = upstream().await;
    let site = Site::new(
        "clickhouse_tls",
        &ch.url(),
        &format!(
            "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );

    // Not trusted: the system's roots do not know the test CA, nor does another CA.
    for trust in [None, Some(other.ca.as_path())] {
        point_at(&site, &url, trust);
        let out = gatewatch(&["migrate"], &site.config_path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "migrate worked untrusted: {err}");
        assert!(
            err.contains("certificate") && err.contains("UnknownIssuer"),
            "the error should name the certificate: {err}"
        );
        // Back to the plain URL for the next round.
        let cfg = std::fs::read_to_string(site.config_path()).unwrap();
        let mut plain = cfg.replacen(
            &format!("url = \"{url}\"\n"),
            &format!("url = \"{}\"\n", site.clickhouse_url),
            1,
        );
        if let Some(t) = trust {
            plain = plain.replacen(&format!("ca_file = \"{}\"\n", toml_path(t)), "", 1);
        }
        std::fs::write(site.config_path(), plain).unwrap();
    }

    // A ca_file that is missing, not PEM, or given for a plain URL: exit 2 naming the key.
    let garbage = certs.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (u, file) in [
        (url.as_str(), certs.path().join("missing.pem")),
        (url.as_str(), garbage.clone()),
        (site.clickhouse_url.as_str(), ca.ca.clone()),
    ] {
        let cfg = std::fs::read_to_string(site.config_path()).unwrap();
        point_at(&site, u, Some(&file));
        let (code, err) = config_check(&site.config_path());
        assert_eq!(code, 2, "{u} {file:?}: {err}");
        assert!(err.contains("clickhouse.ca_file"), "{err}");
        std::fs::write(site.config_path(), cfg).unwrap();
    }

    // Trusted through ca_file: the schema is applied over https, and N calls through the
    // gateway reach ClickHouse through the collector, counted over https too.
    point_at(&site, &url, Some(&ca.ca));
    let out = gatewatch(&["migrate"], &site.config_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate over https: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = gatewatch_store::Store::new(gatewatch_store::StoreConfig {
        url: url.clone(),
        database: site.database.clone(),
        ca: Some(gatewatch_store::tls::CaPem::parse(std::fs::read(&ca.ca).unwrap()).unwrap()),
        ..Default::default()
    });
    assert_eq!(store.version().await.unwrap().major, 18);
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let n = 25;
    let got = drive(&site.url(""), &["/api/ok"], n, 4, Duration::ZERO).await;
    assert_eq!(got.get(&200), Some(&n), "{got:?}");
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = '/api' AND status = 200",
        n as u64,
        60,
    )
    .await;

    // The store's own error names the certificate too (what the roles log).
    let untrusted = gatewatch_store::Store::new(gatewatch_store::StoreConfig {
        url,
        database: site.database.clone(),
        ..Default::default()
    });
    let e = untrusted.version().await.unwrap_err().to_string();
    assert!(e.contains("invalid peer certificate"), "{e}");
}
