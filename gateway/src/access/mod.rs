//! The access phase: who is calling, may they call this API now, and in what order calls are
//! let through to the upstreams when the gateway is saturated. It runs right after routing;
//! see the crate doc for the order of checks and the table of refusals.
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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::api::AuthMethod;
use gatewatch_model::client::ClientBar;
use http::{HeaderMap, HeaderValue};

use crate::recorder::Call;
use crate::route::Route;
use auth::JwtVerifier;
use priority::{Gate, GateConfig, Permit};
use refusal::{Refusal, Refused};
use table::{AccessTable, Grant};
use usage::Usage;

/// The time source of the access phase, replaceable in tests.
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

/// What the access phase holds for one call until its response ends.
#[derive(Debug)]
pub(crate) struct Admission {
    _permit: Permit,
}

/// Everything the access phase needs, one per gateway.
pub(crate) struct Access {
    /// Swapped whole when the configuration log changes.
    pub table: ArcSwap<AccessTable>,
    pub usage: Usage,
    pepper: Arc<[u8]>,
    jwt: JwtVerifier,
    site_tz: Tz,
    trusted_proxies: Vec<ipnet::IpNet>,
    gate: Arc<Gate>,
    clock: Arc<dyn Clock>,
    /// The `oauth2` method's verifiers (bearer).
    pub bearer: bearer::Bearer,
}

/// How the access phase is set up (from [`crate::GatewayConfig`]).
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

    /// Runs every check for a call on `route` and waits for a place at the gate. `cert` is the
    /// fingerprint of the connection's client certificate, if any. The caller's ids go into
    /// the record either way; on success the call holds its place until it ends, and the
    /// answer is the client id as the client header's value (`None`: a public API).
    pub async fn admit(
        &self,
        route: &Route,
        headers: &HeaderMap,
        peer: SocketAddr,
        cert: Option<&Arc<str>>,
        call: &mut Call,
    ) -> Result<Option<HeaderValue>, Refused> {
        // bearer (oauth2): verified before the synchronous checks, since a token with an
        // unknown `kid` may wait for its issuer's JWKS.
        let found = if route.spec.auth.contains(&AuthMethod::Oauth2) {
            let table = self.table.load();
            let now_s = self.clock.now().timestamp();
            self.bearer
                .authenticate(&route.spec.auth, headers, &table, now_s)
                .await
        } else {
            None
        };
        let (priority, refund, client) = match self.check(route, headers, peer.ip(), cert, found) {
            Ok((ids, priority, refund)) => {
                call.set_caller(ids);
                let client = refund.as_ref().and_then(|r| r.client.header.clone());
                (priority, refund, client)
            }
            Err((refusal, ids)) => {
                call.set_caller(ids);
                return Err(refusal);
            }
        };
        match self.gate.admit(priority).await {
            Some(permit) => {
                call.hold_admission(Admission { _permit: permit });
                Ok(client)
            }
            None => {
                if let Some(r) = refund {
                    self.refund(r);
                }
                Err(Refusal::Busy.into())
            }
        }
    }

    fn refund(&self, r: Refund) {
        let product = r.product.as_ref().map(|(k, p, q)| (k, p, q));
        self.usage.refund(&r.client, product);
    }

    /// Everything but the gate: synchronous, no lock outlives it.
    // bearer: `Refused` carries its headers now (RFC 6750 challenges); a refusal is the rare
    // path, and the phases' rewrite replaces these tuples.
    #[allow(clippy::type_complexity, clippy::result_large_err)]
    fn check(
        &self,
        route: &Route,
        headers: &HeaderMap,
        peer: IpAddr,
        cert: Option<&Arc<str>>,
        found: bearer::BearerFound,
    ) -> Result<(CallerIds, u8, Option<Refund>), (Refused, CallerIds)> {
        let spec = &route.spec;
        if spec.auth.is_empty() {
            // A public API: no checks, the caller stays unknown.
            return Ok((CallerIds::default(), 0, None));
        }
        let table = self.table.load();
        let now = self.clock.now();
        // bearer: the token's ids, for the record of every outcome after it verified.
        let token = match &found {
            Some(Ok(t)) => Some(Box::new(t.token.clone())),
            _ => None,
        };
        let caller = self.identify(&spec.auth, headers, &table, cert, now, found)?;
        let mut ids = CallerIds {
            client_id: Some(caller.client.id.clone()),
            api_key_id: caller.key.as_ref().map(|k| k.id.clone()),
            app_id: None,
            client_cert: caller.cert.clone(),
            auth_method: Some(auth::AuthUse::new(caller.method, caller.cert.is_some())),
            token,
        };
        let refused = |r: Refusal, ids: CallerIds| Err((Refused::from(r), ids));
        let client = &caller.client;
        if let Some(bar) = client.spec.bar_at(now, self.site_tz) {
            let r = match bar {
                ClientBar::Suspended => Refusal::ClientSuspended,
                ClientBar::NotYetValid => Refusal::ClientNotYetValid,
                ClientBar::Expired => Refusal::ClientExpired,
                ClientBar::OutsideHours => Refusal::OutsideServiceHours,
            };
            return refused(r, ids);
        }
        let ip = self.client_ip(peer, headers);
        if !client.ip_allowed(ip) {
            return refused(Refusal::IpNotAllowed, ids);
        }
        // bearer: a token's scopes are its grant on an API that lists scopes.
        let grant = match (&ids.token, spec.scopes.is_empty()) {
            (Some(token), false) => match bearer::check_scopes(&spec.scopes, token) {
                Ok(()) => Grant::Scopes,
                Err(r) => return Err((r, ids)),
            },
            _ => match table.grant(client, caller.key.as_deref(), &route.api_id) {
                Ok(g) => g,
                Err(r) => return refused(r, ids),
            },
        };
        if let Err(r) = self.usage.take_client(client, now, self.clock.mono_ns()) {
            return refused(r, ids);
        }
        let mut refund = Refund {
            client: client.clone(),
            product: None,
        };
        if let (Grant::Product(product_id), Some(key)) = (&grant, &caller.key) {
            ids.app_id = Some(product_id.clone());
            let quota = table
                .products
                .get(&**product_id)
                .map(|(_, p)| p.quota.clone())
                .unwrap_or_default();
            if let Err(r) = self
                .usage
                .take_product(&key.id, product_id, &quota, client.tz, now)
            {
                self.refund(refund);
                return refused(r, ids);
            }
            refund.product = Some((key.id.clone(), product_id.clone(), quota));
        }
        Ok((ids, client.spec.priority, Some(refund)))
    }

    /// Who is calling, by the API's methods: the client certificate when `mtls` is listed
    /// (required: none is `client_certificate_required`, one no client lists
    /// `unknown_certificate`), and one of the other methods when any is listed; with both,
    /// they must name the same client (else `certificate_mismatch`).
    #[allow(clippy::result_large_err)] // bearer: see `check`
    fn identify(
        &self,
        methods: &[AuthMethod],
        headers: &HeaderMap,
        table: &AccessTable,
        cert: Option<&Arc<str>>,
        now: DateTime<Utc>,
        found: bearer::BearerFound,
    ) -> Result<auth::Caller, (Refused, CallerIds)> {
        let by_cert = if methods.contains(&AuthMethod::Mtls) {
            let Some(fp) = cert else {
                return Err((
                    Refusal::ClientCertificateRequired.into(),
                    CallerIds::default(),
                ));
            };
            let Some(client) = table.clients_by_cert.get(&**fp) else {
                let detail = format!("the client certificate {fp} is listed by no client");
                return Err((
                    Refused::with(Refusal::UnknownCertificate, detail),
                    CallerIds::default(),
                ));
            };
            Some((client.clone(), fp.clone()))
        } else {
            None
        };
        let others = methods.iter().any(|m| *m != AuthMethod::Mtls);
        let (client, fp) = match (by_cert, others) {
            (Some((client, fp)), false) => {
                return Ok(auth::Caller {
                    client,
                    key: None,
                    cert: Some(fp),
                    method: AuthMethod::Mtls,
                })
            }
            (by_cert, _) => by_cert.unzip(),
        };
        // bearer: a token found by the oauth2 step, else the other methods.
        let found = match found {
            Some(Ok(t)) => Ok(auth::Caller {
                client: t.client,
                key: None,
                cert: None,
                method: AuthMethod::Oauth2,
            }),
            Some(Err((r, ids))) => Err((r, ids)),
            None => auth::authenticate(methods, headers, table, &self.pepper, &self.jwt, now)
                .map_err(|(r, ids)| match r {
                    Refusal::AuthRequired if bearer::only_bearer(methods) => (
                        Refused::from(r).header(
                            http::header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Bearer"),
                        ),
                        ids,
                    ),
                    r => (Refused::from(r), ids),
                }),
        };
        let mut caller = found.map_err(|(r, mut ids)| {
            // The certificate's client, when the other credential names none.
            if ids.client_id.is_none() {
                ids.client_id = client.as_ref().map(|c| c.id.clone());
            }
            ids.client_cert = fp.clone();
            (r, ids)
        })?;
        if let Some(by_cert) = client {
            if by_cert.id != caller.client.id {
                let detail = format!(
                    "the client certificate is client {:?}'s, the credentials client {:?}'s",
                    by_cert.id, caller.client.id
                );
                let ids = CallerIds {
                    client_id: Some(by_cert.id.clone()),
                    api_key_id: caller.key.as_ref().map(|k| k.id.clone()),
                    app_id: None,
                    client_cert: fp,
                    auth_method: Some(auth::AuthUse::new(caller.method, true)),
                    ..CallerIds::default()
                };
                return Err((Refused::with(Refusal::CertificateMismatch, detail), ids));
            }
            caller.cert = fp;
        }
        Ok(caller)
    }

    /// The caller's address: the TCP peer, or — when the peer is a trusted proxy — the last
    /// address in `X-Forwarded-For` that is not one (read as the dashboards read it).
    fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok());
        gatewatch_model::forwarded::client_ip(peer, &self.trusted_proxies, forwarded)
    }
}

/// Quota counts to give back if the gate refuses the call.
struct Refund {
    client: Arc<table::ClientEntry>,
    product: Option<(Arc<str>, Arc<str>, gatewatch_model::client::Quota)>,
}

#[cfg(test)]
pub(crate) mod tests;
