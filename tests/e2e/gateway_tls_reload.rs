//! Certificate reload under load (issue 15): client tasks call the gateway over TLS without a
//! pause — some on connections kept alive from before any change, some on a new connection
//! (a full handshake) per call — while the test replaces the certificate files. Broken
//! replacements first (a key of another certificate, then a certificate file cut in half as a
//! crashed writer leaves it): the old certificate keeps serving. Then a certificate of another
//! CA, written atomically (a temporary file renamed over the old): new connections come to
//! see it, the connections opened before keep working. No call fails, and ClickHouse holds
//! exactly one record per call, each marked TLS 1.3.

use crate::gateway_tls::{ca, connect, get, http1, self_signed, tls_site, Sender};
use crate::helpers::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Client tasks of each kind.
const KEPT: usize = 2;
const FRESH: usize = 2;
/// Upper bound of calls per task (the test stops them long before, when all went well).
const MAX_CALLS: u64 = 20_000;
/// Bound of every poll below, in rounds of 50 ms.
const POLL_ROUNDS: usize = 1_200;

/// Replaces `path` as a careful deployer does: a temporary file beside it, renamed over it.
fn replace_atomically(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("pem.tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn leaf(pem_file: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(pem_file)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

/// What the client tasks share with the test.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    calls: AtomicU64,
    /// Calls made on new connections, and how many of them got the new certificate.
    fresh_calls: AtomicU64,
    fresh_new_cert: AtomicU64,
    kept_calls: AtomicU64,
    /// The new leaf certificate, once the test has written it.
    new_leaf: Mutex<Option<CertificateDer<'static>>>,
    /// The old leaf: a new connection that gets neither is a failure.
    old_leaf: Mutex<Option<CertificateDer<'static>>>,
    failures: Mutex<Vec<String>>,
}

impl Load {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

/// Calls `/api/ok` on one connection opened before any change, until told to stop.
async fn kept_alive(load: Arc<Load>, mut sender: Sender, task: usize) {
    for i in 0..MAX_CALLS {
        if load.stop.load(Ordering::SeqCst) {
            return;
        }
        load.calls.fetch_add(1, Ordering::SeqCst);
        match get(&mut sender, "/api/ok").await {
            Ok(200) => {
                load.kept_calls.fetch_add(1, Ordering::SeqCst);
            }
            other => {
                load.fail(format!("kept-alive task {task}, call {i}: {other:?}"));
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A new TLS connection (trusting both CAs) and one call on it, until told to stop.
async fn fresh_connections(
    load: Arc<Load>,
    tls: SocketAddr,
    roots: Vec<CertificateDer<'static>>,
    task: usize,
) {
    for i in 0..MAX_CALLS {
        if load.stop.load(Ordering::SeqCst) {
            return;
        }
        let name = if i % 2 == 0 { "localhost" } else { "127.0.0.1" };
        let s = match connect(tls, &roots, name, &[b"http/1.1"]).await {
            Ok(s) => s,
            Err(e) => {
                load.fail(format!("fresh task {task}, connect {i}: {e}"));
                continue;
            }
        };
        let got = s.get_ref().1.peer_certificates().unwrap()[0].clone();
        let is_new = load.new_leaf.lock().unwrap().as_ref() == Some(&got);
        if !is_new && load.old_leaf.lock().unwrap().as_ref() != Some(&got) {
            load.fail(format!(
                "fresh task {task}, call {i}: neither the old nor the new certificate"
            ));
        }
        load.calls.fetch_add(1, Ordering::SeqCst);
        match get(&mut http1(s).await, "/api/ok").await {
            Ok(200) => {
                load.fresh_calls.fetch_add(1, Ordering::SeqCst);
                if is_new {
                    load.fresh_new_cert.fetch_add(1, Ordering::SeqCst);
                }
            }
            other => load.fail(format!("fresh task {task}, call {i}: {other:?}")),
        }
    }
}

/// Polls `done` every 50 ms, at most [`POLL_ROUNDS`] times; fails with `what` and the log.
async fn until(what: &str, log: impl Fn() -> String, done: impl Fn() -> bool) {
    for _ in 0..POLL_ROUNDS {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within {POLL_ROUNDS} polls\n{}", log());
}

/// Whether a new connection trusting only `roots` gets its call answered 200.
async fn served_by(tls: SocketAddr, roots: &[CertificateDer<'static>]) -> bool {
    match connect(tls, roots, "localhost", &[]).await {
        Ok(s) => get(&mut http1(s).await, "/api/ok").await == Ok(200),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_replaced_under_load_fail_no_call_and_broken_ones_keep_the_old() {
    let (site, tls, certs) = tls_site("gateway_tls_reload_load", "reload_interval_ms = 100").await;
    // The idle connections below must outlive the whole test on a slow machine: the idle
    // keep-alive limit (10 s by default) well past it.
    site.tune("gateway", "header_read_timeout_ms = 300000");
    let store = site.migrate().await;
    let _col = site.start("collector").await;
    let gw = site.start("gateway").await;
    let log = || gw.log_text();
    let count = |needle: &str| gw.log_text().matches(needle).count();

    // The next certificate from another CA, and a third pair whose key is the wrong one.
    let next = site.dir.path().join("next");
    self_signed(&next, &["localhost", "127.0.0.1"], false);
    let wrong = site.dir.path().join("wrong");
    self_signed(&wrong, &["localhost"], false);
    let (old_ca, new_ca) = (ca(&certs), ca(&next));
    let roots = vec![old_ca.clone(), new_ca.clone()];
    let old_leaf = leaf(&certs.join("cert.pem"));
    let new_leaf = leaf(&next.join("cert.pem"));
    assert_ne!(old_leaf, new_leaf);
    let (old_cert, old_key) = (
        std::fs::read(certs.join("cert.pem")).unwrap(),
        std::fs::read(certs.join("key.pem")).unwrap(),
    );

    let load = Arc::new(Load::default());
    *load.old_leaf.lock().unwrap() = Some(old_leaf.clone());
    // Connections opened before any change: the kept-alive tasks', and two idle ones used
    // again at the end.
    let mut tasks = Vec::new();
    for task in 0..KEPT {
        let s = connect(tls, &roots, "localhost", &[]).await.unwrap();
        assert_eq!(s.get_ref().1.peer_certificates().unwrap()[0], old_leaf);
        tasks.push(tokio::spawn(kept_alive(load.clone(), http1(s).await, task)));
    }
    for task in 0..FRESH {
        tasks.push(tokio::spawn(fresh_connections(
            load.clone(),
            tls,
            roots.clone(),
            task,
        )));
    }
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut s = http1(connect(tls, &roots, "127.0.0.1", &[]).await.unwrap()).await;
        assert_eq!(get(&mut s, "/api/ok").await, Ok(200));
        idle.push(s);
    }
    let mut extra_calls = 2u64;
    until("the load got going", log, || {
        load.kept_calls.load(Ordering::SeqCst) >= 20
            && load.fresh_calls.load(Ordering::SeqCst) >= 20
    })
    .await;

    // 1. A key of another certificate: refused at the next look, the old pair serves on.
    let refused = count("TLS certificate not reloaded");
    replace_atomically(
        &certs.join("key.pem"),
        &std::fs::read(wrong.join("key.pem")).unwrap(),
    );
    until("the mismatched key was looked at", log, || {
        count("TLS certificate not reloaded") > refused
    })
    .await;
    assert!(
        log().contains("does not belong to this certificate"),
        "{}",
        log()
    );
    let before = load.fresh_calls.load(Ordering::SeqCst);
    until("calls after the bad key", log, || {
        load.fresh_calls.load(Ordering::SeqCst) >= before + 20
    })
    .await;
    assert!(
        served_by(tls, std::slice::from_ref(&old_ca)).await,
        "the old certificate still serves"
    );
    extra_calls += 1;

    // 2. The old key back (unchanged from what is in use: nothing to do), then a certificate
    //    file cut in half in place, as a writer that crashed leaves it.
    replace_atomically(&certs.join("key.pem"), &old_key);
    let refused = count("TLS certificate not reloaded");
    let new_cert = std::fs::read(next.join("cert.pem")).unwrap();
    std::fs::write(certs.join("cert.pem"), &new_cert[..new_cert.len() / 2]).unwrap();
    until("the half-written certificate was looked at", log, || {
        count("TLS certificate not reloaded") > refused
    })
    .await;
    let before = load.fresh_calls.load(Ordering::SeqCst);
    until("calls after the half-written file", log, || {
        load.fresh_calls.load(Ordering::SeqCst) >= before + 20
    })
    .await;
    assert!(
        served_by(tls, std::slice::from_ref(&old_ca)).await,
        "the old certificate still serves"
    );
    extra_calls += 1;
    assert_eq!(
        load.fresh_new_cert.load(Ordering::SeqCst),
        0,
        "no new connection got a certificate before a good pair was written"
    );
    // (The old certificate file back, so that only the good replacement below is new.)
    replace_atomically(&certs.join("cert.pem"), &old_cert);

    // 3. The new pair, each file written atomically, the key first (for a moment the pair
    //    does not match; the gateway keeps the old one until both are there).
    *load.new_leaf.lock().unwrap() = Some(new_leaf.clone());
    let reloaded = count("TLS certificate reloaded");
    replace_atomically(
        &certs.join("key.pem"),
        &std::fs::read(next.join("key.pem")).unwrap(),
    );
    replace_atomically(&certs.join("cert.pem"), &new_cert);
    until("the new certificate was loaded", log, || {
        count("TLS certificate reloaded") > reloaded
    })
    .await;
    until("new connections see the new certificate", log, || {
        load.fresh_new_cert.load(Ordering::SeqCst) >= 20
    })
    .await;
    // The kept-alive connections from before go on after it.
    let kept = load.kept_calls.load(Ordering::SeqCst);
    until("kept-alive calls after the reload", log, || {
        load.kept_calls.load(Ordering::SeqCst) >= kept + 20
    })
    .await;

    load.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    // The idle connections from the start still serve, on the old certificate.
    for s in &mut idle {
        assert_eq!(get(s, "/api/ok").await, Ok(200));
        extra_calls += 1;
    }
    // Only the new CA is needed now; the old one is no longer enough.
    assert!(
        served_by(tls, &[new_ca]).await,
        "the new certificate serves"
    );
    extra_calls += 1;
    assert!(connect(tls, &[old_ca], "localhost", &[]).await.is_err());

    let failures = load.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    let calls = load.calls.load(Ordering::SeqCst) + extra_calls;
    println!(
        "calls: {calls} ({} kept-alive, {} on new connections, {} of them with the new certificate)",
        load.kept_calls.load(Ordering::SeqCst),
        load.fresh_calls.load(Ordering::SeqCst),
        load.fresh_new_cert.load(Ordering::SeqCst)
    );
    eventually(&store, "SELECT count() FROM api_calls", calls, 60).await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = '/api' AND status = 200 AND outcome = 'ok' \
         AND tls_version = 'TLSv1.3' AND http_version = 'HTTP/1.1'",
        calls,
        30,
    )
    .await;
}
