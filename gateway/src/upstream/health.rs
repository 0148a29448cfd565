//! Active health checks: `GET {upstream}{path}` every `interval_ms`; a 2xx or 3xx answer
//! (head and body) within `timeout_ms` is a success. `unhealthy_threshold` failures in a row
//! take the upstream out, `healthy_threshold` successes in a row bring it back. A new
//! upstream starts healthy, and the first check runs at once.
//!
//! The checks of a router generation run as tasks that the [`Checks`] handle owns: the router
//! holds it, so swapping a router out on a hot reload (the old one dropped) aborts its checks.
//! The next generation's checks go on from the kept [`UpstreamState`] of an unchanged upstream.
//! Each check opens a fresh connection (no pooling): it is the reachability of the host that
//! is tested, not a kept-alive socket.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatewatch_model::api::HealthCheck;
use http::{header, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::task::AbortHandle;
use tracing::{info, warn};

use super::UpstreamState;

pub(crate) type HealthClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) fn client() -> HealthClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(http)
}

/// What one check task needs.
#[derive(Debug)]
pub(crate) struct Probe {
    pub api_id: String,
    pub label: String,
    pub uri: Uri,
    pub host_header: HeaderValue,
    pub check: HealthCheck,
    pub state: Arc<UpstreamState>,
    /// For an https upstream: its pool, which opens the check's (unpooled) TLS connection
    /// with the API's TLS settings.
    pub tls_pool: Option<Arc<super::pool::Pool>>,
}

/// The running checks of one router generation; dropping it stops them.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    tasks: Vec<AbortHandle>,
}

impl Checks {
    /// Starts one task per probe (needs a tokio runtime).
    pub fn start(probes: Vec<Probe>, client: &HealthClient) -> Checks {
        let tasks = probes
            .into_iter()
            .map(|p| tokio::spawn(run(p, client.clone())).abort_handle())
            .collect();
        Checks { tasks }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.tasks.len()
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The verdict so far: successes or failures in a row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Streak {
    ok: u32,
    failed: u32,
}

impl Streak {
    /// Adds one check's result; returns the new verdict (`Some(down)`) when a threshold is
    /// reached, else `None`.
    pub fn add(&mut self, ok: bool, check: &HealthCheck) -> Option<bool> {
        if ok {
            self.ok = self.ok.saturating_add(1);
            self.failed = 0;
            (self.ok >= check.healthy_threshold).then_some(false)
        } else {
            self.failed = self.failed.saturating_add(1);
            self.ok = 0;
            (self.failed >= check.unhealthy_threshold).then_some(true)
        }
    }
}

async fn run(p: Probe, client: HealthClient) {
    let mut tick = tokio::time::interval(Duration::from_millis(p.check.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = Duration::from_millis(p.check.timeout_ms);
    let mut streak = Streak::default();
    loop {
        tick.tick().await;
        let result = tokio::time::timeout(timeout, probe(&client, &p)).await;
        let (ok, why) = match result {
            Ok(Ok(())) => (true, String::new()),
            Ok(Err(e)) => (false, e),
            Err(_) => (false, format!("no answer within {} ms", p.check.timeout_ms)),
        };
        let Some(down) = streak.add(ok, &p.check) else {
            continue;
        };
        if p.state.set_down(down) {
            if down {
                warn!(api = %p.api_id, upstream = %p.label, reason = %why, "upstream failed its health checks; taken out");
            } else {
                info!(api = %p.api_id, upstream = %p.label, "upstream passed its health checks; back in");
            }
        }
    }
}

async fn probe(client: &HealthClient, p: &Probe) -> Result<(), String> {
    let mut req = Request::new(Empty::new());
    *req.uri_mut() = p.uri.clone();
    req.headers_mut()
        .insert(header::HOST, p.host_header.clone());
    req.headers_mut().insert(
        header::USER_AGENT,
        HeaderValue::from_static("gatewatch-health-check"),
    );
    let resp = match &p.tls_pool {
        None => client
            .request(req)
            .await
            .map_err(|e| gatewatch_listen::chain(&e))?,
        Some(pool) => {
            let io = pool
                .open_tls()
                .await
                .map_err(|e| gatewatch_listen::chain(&e))?;
            let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|e| gatewatch_listen::chain(&e))?;
            // The connection ends with the check (the sender dropped after the body is read).
            tokio::spawn(conn);
            // Origin form on a connection of its own.
            if let Some(pq) = p.uri.path_and_query() {
                *req.uri_mut() = pq.as_str().parse().map_err(|e| format!("{e}"))?;
            }
            tx.send_request(req)
                .await
                .map_err(|e| gatewatch_listen::chain(&e))?
        }
    };
    let status = resp.status();
    // Read the (small) body so a check that hangs mid-body counts as a failure.
    resp.into_body()
        .collect()
        .await
        .map_err(|e| gatewatch_listen::chain(&e))?;
    if status.is_success() || status.is_redirection() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_need_results_in_a_row() {
        let check = HealthCheck {
            path: "/h".into(),
            interval_ms: 100,
            timeout_ms: 50,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        let mut s = Streak::default();
        assert_eq!(s.add(false, &check), None);
        assert_eq!(s.add(false, &check), None);
        assert_eq!(s.add(true, &check), None, "a success breaks the run");
        assert_eq!(s.add(false, &check), None);
        assert_eq!(s.add(false, &check), None);
        assert_eq!(s.add(false, &check), Some(true));
        assert_eq!(s.add(false, &check), Some(true));
        assert_eq!(s.add(true, &check), None);
        assert_eq!(s.add(true, &check), Some(false));
    }
}
