//! The alerter's own look at ClickHouse: a fresh connection and `SELECT 1`, timed, with a
//! timeout. A fresh client each time, so the time includes connecting (a pooled connection
//! would hide a server that no longer accepts new ones).

use gatewatch_model::alert::Observation;
use gatewatch_store::{Store, StoreConfig};
use std::time::{Duration, Instant};

/// What one probe saw: the time to connect and answer, or why it failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeResult {
    Ok { connect_ms: f64 },
    Failed(String),
}

impl ProbeResult {
    /// The observation of a `database` rule checking `connect_ms` (`failure` = false) or
    /// `failure` (1 when failed, 0 otherwise; a failure is an error, which breaches).
    pub fn observation(&self, failure: bool) -> Observation {
        match (self, failure) {
            (ProbeResult::Ok { .. }, true) => Observation::Value(0.0),
            (ProbeResult::Ok { connect_ms }, false) => Observation::Value(*connect_ms),
            (ProbeResult::Failed(why), _) => Observation::Error(why.clone()),
        }
    }
}

/// Connects to `config`'s server and runs `SELECT 1` within `timeout`.
pub async fn probe(config: &StoreConfig, timeout: Duration) -> ProbeResult {
    let store = Store::new(config.clone());
    let start = Instant::now();
    let q = store.select_one();
    match tokio::time::timeout(timeout, q).await {
        Ok(Ok(_)) => ProbeResult::Ok {
            connect_ms: start.elapsed().as_secs_f64() * 1000.0,
        },
        Ok(Err(e)) => ProbeResult::Failed(format!("{}: {e}", config.url)),
        Err(_) => ProbeResult::Failed(format!(
            "{}: no answer within {} ms",
            config.url,
            timeout.as_millis()
        )),
    }
}

/// A probe with when it began and how long it took (a failure that took the whole timeout
/// means the server did not answer for that long).
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub result: ProbeResult,
    pub started: chrono::DateTime<chrono::Utc>,
    pub took: Duration,
}

impl Probed {
    pub fn ended(&self) -> chrono::DateTime<chrono::Utc> {
        self.started + chrono::Duration::from_std(self.took).unwrap_or_default()
    }
}

/// [`probe`], timed.
pub async fn probe_timed(config: &StoreConfig, timeout: Duration) -> Probed {
    let started = chrono::Utc::now();
    let at = Instant::now();
    let result = probe(config, timeout).await;
    Probed {
        result,
        started,
        took: at.elapsed(),
    }
}
