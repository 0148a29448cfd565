//! The collector: ingest API, write-ahead log, ClickHouse inserter.
//!
//! ```text
//! POST /v1/records ─┐  ingest token; type, encoding; a decode slot (≤ 4 at once);
//! POST /v1/node-samples ─┤  streamed decode per line under size, line and time bounds
//!                   ▼
//!             write-ahead log (fsync, group commit)  ──▶ 200 / 207 to the sender
//!                   │
//!                   ▼
//!             inserter: rounds of ≤ max_rows or period; two stored at once, acked in order
//!                   │   (check what is stored for resends and replays)
//!                   ▼
//!     api_calls, node_metrics, then ingest_batches ──▶ acknowledge the log
//!                   │   a round ClickHouse refuses for good is split until the batch at
//!                   ▼   fault is found
//!     wal/quarantine/ (its records and the error) + ingest_quarantine row ──▶ acknowledge
//! ```
//!
//! - [`wal`]: the log and its invariants.
//! - [`decode`]: what a body must look like, and the error for each way it can be wrong.
//! - [`bounds`]: what one record may be (time window, size caps).
//! - [`inserter`]: "inserted once", and the split that isolates a poison batch.
//! - [`quarantine`]: where such a batch goes.
//! - [`registered`]: `[collector] registered_nodes_only` — a batch naming a node the node
//!   registry does not know is refused whole (403 `node_not_registered`).
//!
//! The same routes are served over TLS on `[collector.tls] listen` when it is set
//! ([`TlsListen`]): same token check and limits, certificates reloaded from their files.
//!
//! Try it: `gatewatch collector`, then
//! `curl -H "authorization: Bearer $TOKEN" -H 'content-type: application/x-ndjson' --data-binary @calls.ndjson http://127.0.0.1:8091/v1/records`.

pub mod bounds;
pub mod cluster;
pub mod decode;
mod ingest;
pub mod inserter;
pub mod metrics;
pub mod quarantine;
pub mod registered;
pub mod wal;

use gatewatch_model::{CallRecord, NodeSample};
use gatewatch_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use inserter::InserterConfig;
use metrics::Metrics;
use wal::{Wal, WalConfig};

/// The decoded values of one ingest batch, as kept in the log's cache.
#[derive(Debug)]
pub enum Batch {
    Calls(Vec<CallRecord>),
    Samples(Vec<NodeSample>),
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Calls(v) => v.len(),
            Batch::Samples(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Errors starting the collector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("collector server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the collector has no ingest token: anyone could feed it ([security] ingest_token, or the one derived from the site pepper)")]
    NoToken,
}

/// Everything the collector needs.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub listen: SocketAddr,
    pub wal: WalConfig,
    /// Largest request body accepted, as sent (compressed).
    pub max_body_bytes: usize,
    /// Largest request body accepted once decompressed.
    pub max_decoded_bytes: usize,
    pub inserter: InserterConfig,
    /// Connection cap and read-header timeout of the ingest port (`[collector]
    /// max_connections`, `header_read_timeout_ms`; see `gatewatch_listen`).
    pub limits: gatewatch_listen::Limits,
    /// The bearer token every ingest request must carry (`[security] ingest_token`, or derived
    /// from the site pepper). Empty: [`bind`] refuses to start.
    pub ingest_token: String,
    /// Records older than this are refused, except in replays (`[collector] max_record_age`).
    pub max_record_age: Duration,
    /// The same ingest API over TLS on its own address (`[collector.tls]`), if any.
    pub tls: Option<TlsListen>,
    /// Refuse batches and samples from nodes the node registry does not know
    /// (`[collector] registered_nodes_only`).
    pub registered_nodes_only: bool,
}

/// The collector's TLS listener (`[collector.tls]`): the same routes, token check and limits
/// as the plain one.
pub use gatewatch_listen::tls::Listen as TlsListen;

impl CollectorConfig {
    /// Defaults: 32 MiB bodies (256 MiB decompressed), rounds of up to 500 000 rows or 1 s,
    /// records up to 7 days old. No ingest token: set one.
    pub fn new(listen: SocketAddr, wal_dir: impl Into<PathBuf>, name: &str) -> CollectorConfig {
        CollectorConfig {
            listen,
            wal: WalConfig::new(wal_dir),
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 256 << 20,
            limits: gatewatch_listen::Limits::default(),
            inserter: InserterConfig {
                max_rows: 500_000,
                period: Duration::from_secs(1),
                name: name.to_string(),
                cluster: None,
            },
            ingest_token: String::new(),
            max_record_age: bounds::DEFAULT_MAX_RECORD_AGE,
            tls: None,
            registered_nodes_only: false,
        }
    }
}

/// A collector bound to its port, not yet serving.
pub struct Running {
    listener: tokio::net::TcpListener,
    /// `[collector.tls]`: its bound port and certificates.
    tls: Option<(tokio::net::TcpListener, TlsListen)>,
    limits: gatewatch_listen::Limits,
    app: axum::Router,
    inserter: inserter::Inserter,
    local_addr: SocketAddr,
    /// `registered_nodes_only`: the set to keep fresh, and where to read it.
    refresh: Option<(Arc<registered::Registered>, Store)>,
}

/// Opens the log (recovering it), binds the port.
pub async fn bind(config: CollectorConfig, store: Store) -> Result<Running, Error> {
    if config.ingest_token.is_empty() {
        return Err(Error::NoToken);
    }
    let (wal, reader, recovery) = Wal::<Batch>::open(&config.wal)?;
    if recovery.pending_entries > 0 || recovery.truncated_bytes > 0 {
        tracing::info!(
            pending = recovery.pending_entries,
            truncated_bytes = recovery.truncated_bytes,
            corrupt = recovery.corrupt_entries,
            "write-ahead log recovered; pending batches will be checked against ClickHouse"
        );
    }
    let metrics = Arc::new(Metrics::default());
    let registered = config
        .registered_nodes_only
        .then(|| Arc::new(registered::Registered::default()));
    if let Some(r) = &registered {
        // Read once before the port opens, so a collector started beside a live ClickHouse
        // does not answer its first batches with 503; a failure is retried by the refresh.
        if let Err(e) = r.refresh(&store).await {
            tracing::warn!(error = %e, "registered_nodes_only: cannot read the node registry yet; batches get 503 until it is read");
        }
    }
    let mut registry = gatewatch_listen::metrics::registry("collector");
    registry.register_collector(Box::new(metrics::Figures {
        metrics: metrics.clone(),
        wal: wal.clone(),
    }));
    let state = Arc::new(ingest::AppState {
        registry: Arc::new(registry),
        wal: wal.clone(),
        metrics: metrics.clone(),
        max_body_bytes: config.max_body_bytes,
        max_decoded_bytes: config.max_decoded_bytes,
        token: config.ingest_token.clone(),
        decode_slots: Arc::new(tokio::sync::Semaphore::new(ingest::DECODE_SLOTS)),
        max_record_age: config.max_record_age,
        registered: registered.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(Error::Serve)?;
    let tls = match &config.tls {
        None => None,
        Some(t) => Some((
            tokio::net::TcpListener::bind(t.listen)
                .await
                .map_err(|source| Error::Listen {
                    addr: t.listen,
                    source,
                })?,
            t.clone(),
        )),
    };
    let refresh = registered.map(|r| (r, store.clone()));
    let inserter = inserter::Inserter {
        store,
        wal,
        reader,
        config: config.inserter.clone(),
        metrics,
        recovered_up_to: recovery.last_seq,
        quarantine: quarantine::Quarantine::new(config.wal.dir.join(quarantine::DIR)),
    };
    Ok(Running {
        listener,
        tls,
        limits: config.limits,
        app: ingest::router(state),
        inserter,
        local_addr,
        refresh,
    })
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TLS listener's address (`[collector.tls]`), if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves (both listeners, when there is a TLS one), then stops
    /// accepting and stops the inserter. What is in the log stays there for the next start.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let (inserter_tx, inserter_rx) = tokio::sync::watch::channel(false);
        let refresh = self
            .refresh
            .map(|(r, store)| tokio::spawn(r.run(store, inserter_rx.clone())));
        let inserter = tokio::spawn(self.inserter.run(inserter_rx));
        let limits = self.limits;
        // The same routes, token check and limits over TLS: only the transport differs.
        let tls = async {
            let Some((listener, t)) = self.tls else {
                return;
            };
            tracing::info!(listen = %listener.local_addr().unwrap_or(t.listen), "collector TLS listening");
            let reload = tokio::spawn(t.tls.clone().watch(t.reload_interval, stopped()));
            gatewatch_listen::serve_axum_tls(
                "collector tls",
                listener,
                limits,
                Arc::default(),
                t.tls,
                self.app.clone(),
                stopped(),
                Duration::from_secs(10),
            )
            .await;
            let _ = reload.await;
        };
        // Open requests get up to 10 s to finish once `shutdown` resolves.
        let plain = gatewatch_listen::serve_axum(
            "collector",
            self.listener,
            limits,
            Arc::default(),
            self.app.clone(),
            stopped(),
            Duration::from_secs(10),
        );
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(signal, plain, tls);
        let _ = inserter_tx.send(true);
        let _ = inserter.await;
        if let Some(r) = refresh {
            let _ = r.await;
        }
        Ok(())
    }
}

/// Binds and serves until `shutdown`.
pub async fn run(
    config: CollectorConfig,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    bind(config, store).await?.serve(shutdown).await
}
