//! Upstream hosts: their health, the calls in flight to each, and the connections that reach
//! them.
//!
//! - [`UpstreamState`] is what the gateway knows about one upstream of one API: calls in
//!   flight (for least connections), the verdict of active checks ([`health`]) and passive
//!   ejection from real traffic. It outlives a router generation when the upstream and its
//!   health settings are unchanged by a reload, so a hot reload neither forgets that a host is
//!   down nor loses the in-flight counts.
//! - [`lb::Balancer`] picks among the healthy upstreams of a route.
//! - [`pool::Pool`] keeps each upstream's idle HTTP/1.1 connections for proxied calls (LIFO,
//!   returned when a response body ends, idle expiry); it connects with the API's own
//!   `connect_timeout_ms` or the gateway's ([`Clients`]), and outlives a router generation
//!   with its upstream when the connect timeout is unchanged, so a hot reload keeps the
//!   connections.
//! - [`tls`]: `https://` upstreams; each API's TLS settings are loaded with the configuration
//!   and its pools wrap their connections in TLS (kept alive and pooled like plain ones).
//! - [`Clients`] holds the gateway's default connect timeout, the site's trusted CAs and the
//!   health checks' client.
//!
//! **All unhealthy fails open**: when every upstream of an API is out (checks failing or
//! ejected), calls are sent to them anyway, chosen by the same policy. A health check that
//! is wrong (a bad path, a probe blocked by a firewall) then costs nothing, and the client gets
//! the upstream's real answer (or a 502 naming the failure) rather than a blanket refusal.

pub(crate) mod health;
pub(crate) mod lb;
pub(crate) mod pool;
pub(crate) mod tls;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gatewatch_model::api::PassiveEjection;
use http::{HeaderValue, Uri};

use pool::Pool;

/// One upstream host of a route.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// As written into records and metrics: `http[s]://host:port`.
    pub label: String,
    /// The `Host` header sent to it (nginx `proxy_pass` default: the upstream's host:port).
    pub host_header: HeaderValue,
    /// Share under the weighted policy (1 elsewhere).
    pub weight: u32,
    pub state: Arc<UpstreamState>,
    /// Its idle connections (kept across reloads, see the module doc).
    pub pool: Arc<Pool>,
}

/// Parses `http[s]://host:port` (no path, query or credentials); the error says what is
/// wrong. Connections to it are made within `connect_timeout`; an `https://` one needs `tls`
/// (its API's TLS settings, loaded once per configuration).
pub(crate) fn parse(
    u: &str,
    weight: u32,
    connect_timeout: Duration,
    tls: Option<&tls::ApiTls>,
) -> Result<Upstream, String> {
    let uri: Uri = u.parse().map_err(|e| format!("'{u}' is not a URL: {e}"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(format!("'{u}' must start with http:// or https://")),
    };
    let Some(authority) = uri.authority().cloned() else {
        return Err(format!("'{u}' has no host"));
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "'{u}' must not have a path or query (use the route's prefix)"
        ));
    }
    if authority.as_str().contains('@') {
        return Err(format!("'{u}' must not carry credentials"));
    }
    let host_header = HeaderValue::from_str(authority.as_str())
        .map_err(|e| format!("'{u}' cannot be a Host header: {e}"))?;
    let mut pool = Pool::new(&authority, connect_timeout);
    if scheme == "https" {
        let Some(tls) = tls else {
            return Err(format!("'{u}' needs TLS settings"));
        };
        pool = pool.with_tls(&authority, tls.target(authority.host())?);
    }
    Ok(Upstream {
        label: format!("{scheme}://{authority}"),
        pool: Arc::new(pool),
        host_header,
        weight: weight.max(1),
        state: Arc::default(),
    })
}

/// Milliseconds on a process-wide monotonic clock (never 0, so 0 can mean "not set").
pub(crate) fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// What this gateway knows about one upstream of one API. Relaxed atomics throughout: each
/// field is an independent figure; a pick that reads a stale value only spreads load a little
/// differently.
#[derive(Debug, Default)]
pub(crate) struct UpstreamState {
    in_flight: AtomicU64,
    /// Set by active checks (see [`health`]); a new upstream starts healthy.
    down: AtomicBool,
    /// Failed calls in a row (passive ejection).
    failures: AtomicU32,
    /// Ejected until this [`now_ms`]; 0 when not ejected.
    ejected_until: AtomicU64,
    /// Times taken out, by active checks and by passive ejection.
    pub active_ejections: AtomicU64,
    pub passive_ejections: AtomicU64,
}

impl UpstreamState {
    /// Neither failing its checks nor ejected at `now` (ms, [`now_ms`]).
    pub fn healthy(&self, now: u64) -> bool {
        !self.down.load(Relaxed) && self.ejected_until.load(Relaxed) <= now
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Counts a call in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    /// The active checks' verdict; returns whether it changed.
    pub fn set_down(&self, down: bool) -> bool {
        let was = self.down.swap(down, Relaxed);
        if down && !was {
            self.active_ejections.fetch_add(1, Relaxed);
        }
        was != down
    }

    /// The result of one call to this upstream (`failed`: no connection, no answer in time,
    /// or a 5xx); with `passive` set, the failures-in-a-row that reach its threshold eject the
    /// upstream until `now + eject_ms`. Returns true when this call ejected it.
    pub fn report(&self, failed: bool, passive: Option<&PassiveEjection>, now: u64) -> bool {
        let Some(p) = passive else {
            return false;
        };
        if !failed {
            // Most calls succeed: a load first spares the cache line a write.
            if self.failures.load(Relaxed) != 0 {
                self.failures.store(0, Relaxed);
            }
            return false;
        }
        let n = self.failures.fetch_add(1, Relaxed) + 1;
        if n < p.failures {
            return false;
        }
        self.failures.store(0, Relaxed);
        self.ejected_until
            .store(now.saturating_add(p.eject_ms), Relaxed);
        self.passive_ejections.fetch_add(1, Relaxed);
        true
    }
}

/// One call in flight to an upstream; dropping it ends the count.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<UpstreamState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The gateway's default connect timeout, the CAs trusted for every https upstream, and the
/// health checks' client. Cloning shares them.
#[derive(Clone)]
pub(crate) struct Clients {
    default_connect: Duration,
    trust: tls::SiteTrust,
    health: health::HealthClient,
}

impl Clients {
    pub fn new(default_connect: Duration) -> Clients {
        Clients {
            default_connect,
            trust: tls::SiteTrust::default(),
            health: health::client(),
        }
    }

    /// With the site's CAs for https upstreams (`[gateway] upstream_ca_files`).
    pub fn with_trust(mut self, trust: tls::SiteTrust) -> Clients {
        self.trust = trust;
        self
    }

    pub fn trust(&self) -> &tls::SiteTrust {
        &self.trust
    }

    /// An API's own connect timeout, else the gateway's.
    pub fn connect_timeout(&self, api: Option<Duration>) -> Duration {
        api.unwrap_or(self.default_connect)
    }

    pub fn health(&self) -> &health::HealthClient {
        &self.health
    }
}

/// The upstream families of `/metrics`: health (1 in, 0 out), calls in flight, and times
/// taken out by active checks and by passive ejection, per API and upstream. `apis`: each
/// API's id and upstreams (the router's routes; given so, this module needs no route type).
/// Label values are escaped by the encoder.
pub(crate) fn encode_metrics<'a, I>(
    apis: I,
    enc: &mut gatewatch_listen::metrics::DescriptorEncoder,
) -> std::fmt::Result
where
    I: Iterator<Item = (&'a str, &'a [Upstream])> + Clone,
{
    use gatewatch_listen::metrics::{ConstCounter, ConstGauge, EncodeMetric};
    use prometheus_client::metrics::MetricType::{Counter, Gauge};
    let now = now_ms();
    let series = [
        (
            "gatewatch_gateway_upstream_healthy",
            Gauge,
            "1 while the upstream is in (health checks passing, not ejected), else 0.",
        ),
        (
            "gatewatch_gateway_upstream_in_flight",
            Gauge,
            "Calls in flight to the upstream from this gateway.",
        ),
        (
            "gatewatch_gateway_upstream_ejections",
            Counter,
            "Times the upstream was taken out, by active health checks or passive ejection.",
        ),
        (
            "gatewatch_gateway_upstream_connections_opened",
            Counter,
            "Connections opened to the upstream for proxied calls (kept alive between calls).",
        ),
        (
            "gatewatch_gateway_upstream_requests_resent",
            Counter,
            "Requests sent again on a new connection: a kept one the upstream had closed cancelled them unwritten.",
        ),
    ];
    for (n, (name, kind, help)) in series.into_iter().enumerate() {
        let mut fam = enc.encode_descriptor(name, help, None, kind)?;
        for (api_id, upstreams) in apis.clone() {
            for u in upstreams {
                let labels = [("api", api_id), ("upstream", u.label.as_str())];
                let s = &u.state;
                match n {
                    0 => ConstGauge::new(u64::from(s.healthy(now)))
                        .encode(fam.encode_family(&labels)?)?,
                    1 => ConstGauge::new(s.in_flight()).encode(fam.encode_family(&labels)?)?,
                    3 => ConstCounter::new(u.pool.opened()).encode(fam.encode_family(&labels)?)?,
                    4 => ConstCounter::new(u.pool.resent()).encode(fam.encode_family(&labels)?)?,
                    _ => {
                        for (kind, v) in [
                            ("active", s.active_ejections.load(Relaxed)),
                            ("passive", s.passive_ejections.load(Relaxed)),
                        ] {
                            let labels = [labels[0], labels[1], ("kind", kind)];
                            ConstCounter::new(v).encode(fam.encode_family(&labels)?)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_ejection_after_failures_in_a_row_then_back_after_eject_ms() {
        let s = UpstreamState::default();
        let p = PassiveEjection {
            failures: 3,
            eject_ms: 1000,
        };
        assert!(!s.report(true, Some(&p), 10));
        assert!(!s.report(true, Some(&p), 10));
        assert!(!s.report(false, Some(&p), 10), "a success resets the run");
        assert!(!s.report(true, Some(&p), 10));
        assert!(!s.report(true, Some(&p), 10));
        assert!(s.healthy(10));
        assert!(s.report(true, Some(&p), 10));
        assert!(!s.healthy(500));
        assert!(s.healthy(1010));
        assert_eq!(s.passive_ejections.load(Relaxed), 1);
        assert!(!s.report(true, None, 10), "no ejection without settings");
    }

    #[test]
    fn in_flight_guard_counts_until_dropped() {
        let s = Arc::new(UpstreamState::default());
        let a = s.begin();
        let b = s.begin();
        assert_eq!(s.in_flight(), 2);
        drop(a);
        assert_eq!(s.in_flight(), 1);
        drop(b);
        assert_eq!(s.in_flight(), 0);
    }

    #[tokio::test]
    async fn an_apis_connect_timeout_else_the_gateways() {
        let c = Clients::new(Duration::from_secs(3));
        assert_eq!(c.connect_timeout(None), Duration::from_secs(3));
        let own = Duration::from_millis(200);
        assert_eq!(c.connect_timeout(Some(own)), own);
        let u = parse("http://127.0.0.1:9", 1, own, None).unwrap();
        assert_eq!(u.pool.connect_timeout(), own);
    }

    #[test]
    fn active_verdict_counts_transitions_to_down() {
        let s = UpstreamState::default();
        assert!(s.healthy(1));
        assert!(s.set_down(true));
        assert!(!s.set_down(true));
        assert!(!s.healthy(1));
        assert!(s.set_down(false));
        assert_eq!(s.active_ejections.load(Relaxed), 1);
    }
}
