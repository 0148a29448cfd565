//! The collector over TLS (`[collector.tls]`) and gateways trusting it (`[gateway]
//! collector_url = "https://…"`, `collector_ca_file`), in the running binary with a CA made by
//! the test: N calls through the gateway are exactly N rows; the ingest token is still required
//! on the TLS port; plain HTTP to the TLS port gets no HTTP answer while the plain port keeps
//! serving; a gateway that does not trust the collector's certificate keeps its records in the
//! spool, logs the TLS failure, and delivers them all once trust is fixed; a missing
//! `collector_ca_file` is a configuration error naming the key.

use crate::helpers::*;
use crate::hop_certs::{config_check, plain_http_gets_no_answer, toml_path, TestCa};
use std::time::Duration;

/// One series' value on the gateway's admin port (0 when absent).
async fn gateway_metric(site: &Site, series: &str) -> u64 {
    let text = reqwest::Client::new()
        .get(site.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The site's gateway shipping to `url`, trusting `ca` (none: the system's roots only).
fn ship_to(site: &Site, url: &str, ca: Option<&std::path::Path>) {
    let cfg = std::fs::read_to_string(site.config_path()).unwrap();
    let mut out = String::new();
    for line in cfg.lines() {
        if line.starts_with("collector_url = ") || line.starts_with("collector_ca_file = ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == "[gateway]" {
            out.push_str(&format!("collector_url = \"{url}\"\n"));
            if let Some(ca) = ca {
                out.push_str(&format!("collector_ca_file = \"{}\"\n", toml_path(ca)));
            }
        }
    }
    std::fs::write(site.config_path(), out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_ship_to_a_tls_collector_with_exact_counts_and_keep_records_when_untrusted() {
    let up = upstream().await;
    let site = Site::new(
        "collector_tls",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );
    let certs = site.dir.path().join("certs");
    let ca = TestCa::new(&certs, "collector");
    let other = TestCa::new(&certs, "other");
    let tls_port = free_port();
    let mut cfg = std::fs::read_to_string(site.config_path()).unwrap();
    cfg.push_str(&format!(
        "\n[collector.tls]\nlisten = \"127.0.0.1:{tls_port}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        toml_path(&ca.cert),
        toml_path(&ca.key)
    ));
    std::fs::write(site.config_path(), cfg).unwrap();
    let https = format!("https://localhost:{tls_port}");

    // A CA file that cannot be read: exit 2 naming the key, before anything starts.
    ship_to(&site, &https, Some(&certs.join("missing.pem")));
    let (code, text) = config_check(&site.config_path());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("gateway.collector_ca_file"), "{text}");
    let mut gw = gatewatch(&["gateway"], &site.config_path())
        .output()
        .unwrap();
    assert_eq!(gw.status.code(), Some(2));
    gw.stderr.extend_from_slice(&gw.stdout);
    assert!(
        String::from_utf8_lossy(&gw.stderr).contains("gateway.collector_ca_file"),
        "{}",
        String::from_utf8_lossy(&gw.stderr)
    );

    ship_to(&site, &https, Some(&ca.ca));
    let store = site.migrate().await;
    let mut collector = site.start("collector").await;
    let mut gateway = site.start("gateway").await;
    let rows = "SELECT count() FROM api_calls WHERE api_id = '/api'";

    // N calls: exactly N rows, shipped over TLS with the ingest token.
    let n = 40;
    let got = drive(&site.url(""), &["/api/ok"], n, 4, Duration::ZERO).await;
    assert_eq!(got.get(&200), Some(&n), "{got:?}");
    eventually(&store, rows, n as u64, 60).await;
    assert_eq!(
        gateway_metric(&site, "gatewatch_gateway_records_spooled_total").await,
        0
    );

    // The TLS port asks for the ingest token like the plain one.
    let client = ca.reqwest();
    for auth in [None, Some("Bearer not-the-token-at-all")] {
        let mut req = client
            .post(format!("{https}/v1/records"))
            .header("content-type", "application/x-ndjson")
            .body("{}\n");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
    }
    // Its health answers over TLS; an untrusting client is refused in the handshake.
    let r = client.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(other
        .reqwest()
        .get(format!("{https}/healthz"))
        .send()
        .await
        .is_err());

    // Plain HTTP to the TLS port: no HTTP answer, the connection is closed.
    plain_http_gets_no_answer(
        ([127, 0, 0, 1], tls_port).into(),
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    // The plain port keeps serving.
    let r = reqwest::Client::new()
        .get(format!("http://{}/healthz", site.collector))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A gateway that trusts another CA: its calls are answered, their records wait in the
    // spool, the TLS failure is in its log, and nothing reaches ClickHouse.
    gateway.terminate();
    ship_to(&site, &https, Some(&other.ca));
    let mut gateway = site.start("gateway").await;
    let m = 30;
    let got = drive(&site.url(""), &["/api/ok"], m, 4, Duration::ZERO).await;
    assert_eq!(got.get(&200), Some(&m), "{got:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while gateway_metric(&site, "gatewatch_gateway_records_spooled_total").await < m as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "records not spooled: {}",
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = gateway.log_text();
    assert!(
        log.contains("collector is away") && log.contains("invalid peer certificate"),
        "{log}"
    );
    assert_eq!(store.fetch_u64(rows).await.unwrap(), n as u64);

    // Trust fixed: the spooled records are delivered, each once.
    gateway.terminate();
    ship_to(&site, &https, Some(&ca.ca));
    let _gateway = site.start("gateway").await;
    eventually(&store, rows, (n + m) as u64, 60).await;
    // Both listeners stop on SIGTERM, and the process exits cleanly.
    collector.terminate();
}
