//! What the access phases (`phase::authenticate`, `phase::authorize`, `phase::limits`) work
//! with: who is calling, may they call this API now, and in what order calls are let through
//! to the upstreams when the gateway is saturated. The phases hold the order of the checks
//! (see the crate doc for it and the table of refusals); this module holds their data and
//! the checks themselves, and knows nothing of calls or records:
//!
//! - [`table`]: clients, keys, groups and products from the configuration log (swapped whole);
//! - [`auth`]: API keys, HTTP Basic, JWT, client certificates;
//! - [`bearer`]: OAuth 2.0 access tokens (`oauth2`) and scopes; [`jwks`]: trusted issuers' keys;
//!   [`token_cache`]: their verified tokens until `exp`;
//! - [`limits`]: the TPS token bucket; [`quota`]: calendar-window quotas; [`usage`]: the
//!   per-client state of both; [`sync`]: the shared-quota counts from ClickHouse;
//! - [`priority`]: the VIP admission gate; [`refusal`]: status, outcome and code of each "no".

pub(crate) mod auth;
pub(crate) mod bearer;
pub(crate) mod jwks;
pub(crate) mod limits;
pub(crate) mod priority;
pub(crate) mod quota;
pub(crate) mod refusal;
pub(crate) mod sync;
pub(crate) mod table;
pub(crate) mod token_cache;
pub(crate) mod usage;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use http::HeaderMap;

use auth::JwtVerifier;
use priority::{Gate, GateConfig, Permit};
use table::AccessTable;
use usage::Usage;

/// The time source of the access phases, replaceable in tests.
pub(crate) trait Clock: Send + Sync {
    /// Wall-clock time (validity dates, service hours, quota windows, JWT and key expiry).
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic nanoseconds (token buckets).
    fn mono_ns(&self) -> u64;
}

/// The real clocks.
pub(crate) struct SystemClock(Instant);

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn mono_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Who a call was made by, as recorded (ids only, never a credential).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallerIds {
    pub client_id: Option<Arc<str>>,
    /// The key entity's id.
    pub api_key_id: Option<Arc<str>>,
    /// The product the call was allowed through.
    pub app_id: Option<Arc<str>>,
    /// The client certificate's fingerprint, when an `mtls` API matched it to a client.
    pub client_cert: Option<Arc<str>>,
    /// How the caller was authenticated; `None` when no credential was found.
    pub auth_method: Option<auth::AuthUse>,
    /// The OAuth 2.0 token that authenticated the call (boxed: most calls have none, and
    /// refusals carry these ids by value).
    pub token: Option<Box<TokenIds>>,
}

/// The record's view of an access token: its `jti` and scopes, never the token.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenIds {
    pub jti: Arc<str>,
    /// Space-separated, as in the token's `scope` claim.
    pub scopes: Arc<str>,
}

/// What the limits phase holds for one call until its response ends.
#[derive(Debug)]
pub(crate) struct Admission {
    _permit: Permit,
}

impl Admission {
    pub fn new(permit: Permit) -> Admission {
        Admission { _permit: permit }
    }
}

/// Everything the access phases need, one per gateway.
pub(crate) struct Access {
    /// Swapped whole when the configuration log changes.
    pub table: ArcSwap<AccessTable>,
    pub usage: Usage,
    pub pepper: Arc<[u8]>,
    pub jwt: JwtVerifier,
    pub site_tz: Tz,
    trusted_proxies: Vec<ipnet::IpNet>,
    pub gate: Arc<Gate>,
    pub clock: Arc<dyn Clock>,
    /// The `oauth2` method's verifiers (own issuer and trusted issuers' JWKS).
    pub bearer: bearer::Bearer,
}

/// How the access phases are set up (from [`crate::GatewayConfig`]).
pub(crate) struct Settings {
    pub pepper: Arc<[u8]>,
    pub jwt: JwtVerifier,
    pub site_tz: Tz,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub gate: GateConfig,
    /// The gateway's own token issuer (set at bind, once the listen address is known).
    pub own_issuer: Option<Arc<crate::oauth::OwnIssuer>>,
    /// `[[gateway.oauth.trusted_issuers]]`' keys.
    pub trusted_issuers: Vec<Arc<jwks::IssuerKeys>>,
}

impl Access {
    pub fn new(settings: Settings, table: AccessTable, clock: Arc<dyn Clock>) -> Access {
        Access {
            table: ArcSwap::from_pointee(table),
            usage: Usage::default(),
            pepper: settings.pepper,
            jwt: settings.jwt,
            site_tz: settings.site_tz,
            trusted_proxies: settings.trusted_proxies,
            gate: Gate::new(settings.gate),
            clock,
            bearer: bearer::Bearer::new(settings.own_issuer, settings.trusted_issuers),
        }
    }

    /// Gives back the counts a refused call took (the gate refused it).
    pub fn refund(&self, r: Refund) {
        let product = r.product.as_ref().map(|(k, p, q)| (k, p, q));
        self.usage.refund(&r.client, product);
    }

    /// The caller's address: the TCP peer, or — when the peer is a trusted proxy — the last
    /// address in `X-Forwarded-For` that is not one (read as the dashboards read it).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        caller_ip(peer, &self.trusted_proxies, headers)
    }
}

/// The caller's address given the trusted proxies (see [`Access::client_ip`]); the deny
/// lists read it the same way.
pub(crate) fn caller_ip(
    peer: IpAddr,
    trusted_proxies: &[ipnet::IpNet],
    headers: &HeaderMap,
) -> IpAddr {
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok());
    gatewatch_model::forwarded::client_ip(peer, trusted_proxies, forwarded)
}

/// Quota counts to give back if the gate refuses the call.
pub(crate) struct Refund {
    pub client: Arc<table::ClientEntry>,
    /// The key, the product and its quota, when a product quota was counted.
    pub product: Option<(Arc<str>, Arc<str>, gatewatch_model::client::Quota)>,
}

#[cfg(test)]
pub(crate) mod tests;
