//! The access phases (`phase::authenticate`, `phase::authorize`, `phase::limits::take`) on
//! a table and an injected clock, as the proxy runs them: each refusal, grants, service hours
//! across midnight in Asia/Taipei, client certificates, and the gate's refund.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gatewatch_model::api::AuthMethod;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::{ApiSpec, EntityKind};
use http::HeaderMap;

use super::auth::{JwtKey, JwtVerifier};
use super::priority::GateConfig;
use super::refusal::{Refusal, Refused};
use super::table::{AccessTable, Raw};
use super::{Access, CallerIds, Clock, Settings};
use crate::phase::{authenticate, authorize, limits, Ctx};
use crate::route::RouteConfig;
use crate::route::{Route, Router};

const PEPPER: &[u8] = b"test-pepper";
const JWT_SECRET: &[u8] = b"a-shared-secret-of-32-bytes-long";

pub(crate) struct FakeClock {
    now: Mutex<DateTime<Utc>>,
    ns: AtomicU64,
}

impl FakeClock {
    fn at(t: DateTime<Utc>) -> Arc<FakeClock> {
        Arc::new(FakeClock {
            now: Mutex::new(t),
            ns: AtomicU64::new(1_000_000_000),
        })
    }
    fn set(&self, t: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap();
        let step = (t - *now).num_nanoseconds().unwrap_or(0).max(0) as u64;
        *now = t;
        self.ns.fetch_add(step, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
    fn mono_ns(&self) -> u64 {
        self.ns.load(Ordering::SeqCst)
    }
}

fn settings() -> Settings {
    Settings {
        pepper: Arc::from(PEPPER),
        jwt: JwtVerifier::new(
            &[JwtKey::Hs256 {
                secret: JWT_SECRET.to_vec(),
            }],
            "sub",
            Duration::from_secs(5),
        )
        .unwrap(),
        site_tz: chrono_tz::Asia::Taipei,
        trusted_proxies: vec!["192.0.2.0/24".parse().unwrap()],
        gate: GateConfig::default(),
        own_issuer: None,
        trusted_issuers: Vec::new(),
    }
}

/// The access data of a gateway with an empty table (for tests elsewhere in the crate).
pub(crate) fn access_for_tests() -> Access {
    Access::new(
        settings(),
        AccessTable::default(),
        Arc::new(super::SystemClock::new()),
    )
}

fn table(entities: &[(EntityKind, &str, serde_json::Value)]) -> AccessTable {
    let bodies: Vec<(EntityKind, &str, String)> = entities
        .iter()
        .map(|(k, id, v)| (*k, *id, v.to_string()))
        .collect();
    AccessTable::build(
        bodies.iter().map(|(kind, id, body)| Raw {
            kind: *kind,
            id,
            version: 1,
            body,
        }),
        chrono_tz::Asia::Taipei,
    )
}

fn route(api_id: &str, auth: &[AuthMethod]) -> Arc<Route> {
    let mut spec: ApiSpec = serde_json::from_value(serde_json::json!({
        "name": api_id, "prefix": format!("/{api_id}"), "upstreams": ["http://127.0.0.1:1"]
    }))
    .unwrap();
    spec.auth = auth.to_vec();
    let mut rc = RouteConfig::new(format!("/{api_id}"), ["http://127.0.0.1:1"]);
    rc.api_id = api_id.into();
    rc.spec = Some(Arc::new(spec));
    let router = Router::new(&[rc]).unwrap();
    router.find(&format!("/{api_id}/x")).unwrap().clone()
}

fn key_header(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-api-key", key.parse().unwrap());
    h
}

fn key_entity(client: &str, key: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({"client_id": client, "hash": hash_secret(PEPPER, key)});
    if let serde_json::Value::Object(m) = extra {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

struct Fixture {
    access: Access,
    clock: Arc<FakeClock>,
}

impl Fixture {
    fn new(entities: &[(EntityKind, &str, serde_json::Value)], now: DateTime<Utc>) -> Fixture {
        let clock = FakeClock::at(now);
        Fixture {
            access: Access::new(settings(), table(entities), clock.clone()),
            clock,
        }
    }

    fn check(&self, route: &Arc<Route>, h: &HeaderMap, ip: &str) -> Result<CallerIds, Refusal> {
        checks(&self.access, route, h, ip, None)
            .map(|c| c.caller)
            .map_err(|(r, _)| r.refusal)
    }
}

/// Phases 2–4 but the gate, as `proxy::access` runs them, on a fresh context for a call
/// from `ip` (with the client certificate `cert`) routed to `route`: the context, or the
/// refusal and the context as the refusal left it.
fn checks(
    access: &Access,
    route: &Arc<Route>,
    h: &HeaderMap,
    ip: &str,
    cert: Option<Arc<str>>,
) -> Result<Box<Ctx>, (Refused, Box<Ctx>)> {
    let mut ctx = Box::new(Ctx::for_tests(ip));
    ctx.peer.client_cert = cert;
    ctx.set_route(route.clone());
    let methods = &route.spec.auth;
    if methods.is_empty() {
        return Ok(ctx);
    }
    let table = access.table.load_full();
    let now = access.clock.now();
    let authenticated = now_or_never(authenticate::authenticate(
        access, &table, now, methods, h, &mut ctx,
    ));
    let r = authenticated
        .and_then(|()| authorize::authorize(access, &table, now, h, &mut ctx))
        .and_then(|()| limits::take(access, &table, now, access.clock.mono_ns(), &mut ctx));
    match r {
        Ok(()) => Ok(ctx),
        Err(r) => Err((r, ctx)),
    }
}

/// The output of a future that needs no wake-up (the built-in methods never wait).
fn now_or_never<F: std::future::Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the phase waited"),
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn service_hours_across_midnight_in_taipei() {
    // Open 22:00–06:00 Taipei time, opening on Fridays only (2026-11-27 is a Friday).
    let f = Fixture::new(
        &[
            (
                EntityKind::Client,
                "night",
                serde_json::json!({"name": "Night shift", "groups": ["all"],
                    "service_hours": {"days": ["fri"], "from": "22:00", "until": "06:00"}}),
            ),
            (
                EntityKind::Group,
                "all",
                serde_json::json!({"name": "All", "apis": ["*"]}),
            ),
            (
                EntityKind::ApiKey,
                "k",
                key_entity("night", "gwk_night", serde_json::json!({})),
            ),
        ],
        utc(2026, 11, 27, 13, 59), // Friday 21:59 in Taipei
    );
    let r = route("orders", &[AuthMethod::ApiKey]);
    let h = key_header("gwk_night");
    let at = |f: &Fixture, t| {
        f.clock.set(t);
        f.check(&r, &h, "127.0.0.1").map(|_| ())
    };
    assert_eq!(
        at(&f, utc(2026, 11, 27, 13, 59)),
        Err(Refusal::OutsideServiceHours)
    );
    assert_eq!(at(&f, utc(2026, 11, 27, 14, 0)), Ok(())); // Fri 22:00
    assert_eq!(at(&f, utc(2026, 11, 27, 16, 0)), Ok(())); // Sat 00:00
    assert_eq!(at(&f, utc(2026, 11, 27, 21, 59)), Ok(())); // Sat 05:59
    assert_eq!(
        at(&f, utc(2026, 11, 27, 22, 0)),
        Err(Refusal::OutsideServiceHours)
    ); // Sat 06:00
    assert_eq!(
        at(&f, utc(2026, 11, 28, 14, 0)),
        Err(Refusal::OutsideServiceHours)
    ); // Sat 22:00
}

#[test]
fn each_refusal_of_the_checks() {
    let now = utc(2026, 11, 25, 4, 0);
    let f = Fixture::new(
        &[
            (
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "groups": ["std"],
                "secret_hash": hash_secret(PEPPER, "s3cret")}),
            ),
            (
                EntityKind::Client,
                "gone",
                serde_json::json!({"name": "Gone", "groups": ["std"], "valid_until": "2026-11-24"}),
            ),
            (
                EntityKind::Client,
                "soon",
                serde_json::json!({"name": "Soon", "groups": ["std"], "valid_from": "2026-12-01"}),
            ),
            (
                EntityKind::Client,
                "off",
                serde_json::json!({"name": "Off", "groups": ["std"], "status": "suspended"}),
            ),
            (
                EntityKind::Client,
                "lan",
                serde_json::json!({"name": "Lan", "groups": ["std"], "ip_allow": ["10.0.0.0/8"]}),
            ),
            (
                EntityKind::Client,
                "solo",
                serde_json::json!({"name": "Solo"}),
            ),
            (
                EntityKind::Group,
                "std",
                serde_json::json!({"name": "Std", "apis": ["orders"]}),
            ),
            (
                EntityKind::Product,
                "pay",
                serde_json::json!({"name": "Pay", "apis": ["pay"], "approval": "manual"}),
            ),
            (
                EntityKind::ApiKey,
                "k-acme",
                key_entity("acme", "gwk_acme", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-revoked",
                key_entity("acme", "gwk_revoked", serde_json::json!({"revoked": true})),
            ),
            (
                EntityKind::ApiKey,
                "k-old",
                key_entity(
                    "acme",
                    "gwk_old",
                    serde_json::json!({"expires_at": "2026-11-01T00:00:00Z"}),
                ),
            ),
            (
                EntityKind::ApiKey,
                "k-gone",
                key_entity("gone", "gwk_gone", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-soon",
                key_entity("soon", "gwk_soon", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-off",
                key_entity("off", "gwk_off", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-lan",
                key_entity("lan", "gwk_lan", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-solo",
                key_entity(
                    "solo",
                    "gwk_solo",
                    serde_json::json!({"products": [{"product": "pay", "status": "pending"}]}),
                ),
            ),
        ],
        now,
    );
    let orders = route(
        "orders",
        &[AuthMethod::ApiKey, AuthMethod::Basic, AuthMethod::Jwt],
    );
    let pay = route("pay", &[AuthMethod::ApiKey]);
    let k = key_header;
    let ok = f.check(&orders, &k("gwk_acme"), "127.0.0.1").unwrap();
    assert_eq!(ok.client_id.as_deref(), Some("acme"));
    assert_eq!(ok.api_key_id.as_deref(), Some("k-acme"));
    let cases: [(&Arc<Route>, HeaderMap, &str, Refusal); 10] = [
        (
            &orders,
            HeaderMap::new(),
            "127.0.0.1",
            Refusal::AuthRequired,
        ),
        (
            &orders,
            k("gwk_nope"),
            "127.0.0.1",
            Refusal::InvalidCredentials,
        ),
        (&orders, k("gwk_revoked"), "127.0.0.1", Refusal::KeyRevoked),
        (&orders, k("gwk_old"), "127.0.0.1", Refusal::KeyExpired),
        (&orders, k("gwk_gone"), "127.0.0.1", Refusal::ClientExpired),
        (
            &orders,
            k("gwk_soon"),
            "127.0.0.1",
            Refusal::ClientNotYetValid,
        ),
        (&orders, k("gwk_off"), "127.0.0.1", Refusal::ClientSuspended),
        (&orders, k("gwk_lan"), "127.0.0.1", Refusal::IpNotAllowed),
        (
            &pay,
            k("gwk_solo"),
            "127.0.0.1",
            Refusal::ProductNotApproved,
        ),
        (&pay, k("gwk_acme"), "127.0.0.1", Refusal::ApiNotGranted),
    ];
    for (r, h, ip, want) in cases {
        assert_eq!(f.check(r, &h, ip).map(|_| ()), Err(want), "{h:?}");
    }
    // The allowlist uses the TCP peer; X-Forwarded-For only counts from a trusted proxy.
    assert!(f.check(&orders, &k("gwk_lan"), "10.1.2.3").is_ok());
    let mut via = k("gwk_lan");
    via.insert("x-forwarded-for", "10.9.9.9".parse().unwrap());
    assert_eq!(
        f.check(&orders, &via, "127.0.0.1").map(|_| ()),
        Err(Refusal::IpNotAllowed)
    );
    assert!(f.check(&orders, &via, "192.0.2.10").is_ok());

    // HTTP Basic with the client secret.
    let basic = |user_pass: &str| {
        use base64::Engine as _;
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        );
        h.insert("authorization", v.parse().unwrap());
        h
    };
    assert!(f.check(&orders, &basic("acme:s3cret"), "127.0.0.1").is_ok());
    assert_eq!(
        f.check(&orders, &basic("acme:wrong"), "127.0.0.1")
            .map(|_| ()),
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        f.check(&orders, &basic("solo:s3cret"), "127.0.0.1")
            .map(|_| ()),
        Err(Refusal::InvalidCredentials)
    );

    // A JWT naming the client in `sub`, checked against the injected clock.
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "acme", "exp": now.timestamp() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap();
    let mut bearer = HeaderMap::new();
    bearer.insert("authorization", format!("Bearer {jwt}").parse().unwrap());
    assert_eq!(
        f.check(&orders, &bearer, "127.0.0.1")
            .unwrap()
            .client_id
            .as_deref(),
        Some("acme")
    );
    f.clock.set(now + chrono::Duration::seconds(120));
    assert_eq!(
        f.check(&orders, &bearer, "127.0.0.1").map(|_| ()),
        Err(Refusal::InvalidCredentials)
    );

    // A public API asks nothing.
    assert!(f
        .check(&route("open", &[]), &HeaderMap::new(), "127.0.0.1")
        .unwrap()
        .client_id
        .is_none());
}

#[test]
fn tps_and_quotas_refuse_with_retry_after_and_product_quotas_count_per_key() {
    let now = utc(2026, 11, 25, 4, 0);
    let f = Fixture::new(
        &[
            (
                EntityKind::Client,
                "fast",
                serde_json::json!({"name": "Fast", "groups": ["std"],
                "tps": {"per_second": 1, "burst": 3}}),
            ),
            (
                EntityKind::Client,
                "small",
                serde_json::json!({"name": "Small",
                "quota": {"per_minute": 100}}),
            ),
            (
                EntityKind::Group,
                "std",
                serde_json::json!({"name": "Std", "apis": ["orders"]}),
            ),
            (
                EntityKind::Product,
                "pay",
                serde_json::json!({"name": "Pay", "apis": ["pay"],
                "quota": {"per_hour": 2}}),
            ),
            (
                EntityKind::ApiKey,
                "k-fast",
                key_entity("fast", "gwk_fast", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-small",
                key_entity(
                    "small",
                    "gwk_small",
                    serde_json::json!({"products": [{"product": "pay", "status": "approved"}]}),
                ),
            ),
        ],
        now,
    );
    let orders = route("orders", &[AuthMethod::ApiKey]);
    let pay = route("pay", &[AuthMethod::ApiKey]);
    for _ in 0..3 {
        assert!(f
            .check(&orders, &key_header("gwk_fast"), "127.0.0.1")
            .is_ok());
    }
    assert_eq!(
        f.check(&orders, &key_header("gwk_fast"), "127.0.0.1")
            .map(|_| ()),
        Err(Refusal::RateLimited { retry_after: 1 })
    );
    f.clock.set(now + chrono::Duration::seconds(1));
    assert!(f
        .check(&orders, &key_header("gwk_fast"), "127.0.0.1")
        .is_ok());

    let ids = f
        .check(&pay, &key_header("gwk_small"), "127.0.0.1")
        .unwrap();
    assert_eq!(ids.app_id.as_deref(), Some("pay"));
    assert!(f.check(&pay, &key_header("gwk_small"), "127.0.0.1").is_ok());
    // The product's hour is used up: 59 min left.
    assert_eq!(
        f.check(&pay, &key_header("gwk_small"), "127.0.0.1")
            .map(|_| ()),
        Err(Refusal::QuotaExceeded { retry_after: 3599 })
    );
}

#[tokio::test]
async fn a_busy_refusal_gives_the_quota_back() {
    let now = utc(2026, 11, 25, 4, 0);
    let clock = FakeClock::at(now);
    let mut s = settings();
    s.gate = GateConfig {
        max_inflight: 1,
        queue_max: 0,
        max_wait: Duration::from_millis(1),
    };
    let t = table(&[
        (
            EntityKind::Client,
            "c",
            serde_json::json!({"name": "C", "groups": ["std"], "quota": {"per_minute": 1}}),
        ),
        (
            EntityKind::Group,
            "std",
            serde_json::json!({"name": "Std", "apis": ["orders"]}),
        ),
        (
            EntityKind::ApiKey,
            "k",
            key_entity("c", "gwk_c", serde_json::json!({})),
        ),
    ]);
    let access = Access::new(s, t, clock);
    let held = access.gate.admit(0).await.unwrap();
    let r = route("orders", &[AuthMethod::ApiKey]);
    let Ok(mut ctx) = checks(&access, &r, &key_header("gwk_c"), "127.0.0.1", None) else {
        panic!("the first call is within the quota");
    };
    // The gate is full: refused busy, and the minute's count is given back.
    let refused = limits::admit(&access, &mut ctx).await.unwrap_err();
    assert_eq!(refused.refusal, Refusal::Busy);
    assert!(ctx.refund.is_none() && ctx.admission.is_none());
    drop(held);
    let Ok(mut ctx) = checks(&access, &r, &key_header("gwk_c"), "127.0.0.1", None) else {
        panic!("the refused call's count was given back");
    };
    limits::admit(&access, &mut ctx).await.unwrap();
    assert!(ctx.admission.is_some());
    let Err((r, _)) = checks(&access, &r, &key_header("gwk_c"), "127.0.0.1", None) else {
        panic!("the minute's quota is used up");
    };
    assert_eq!(r.refusal, Refusal::QuotaExceeded { retry_after: 60 });
}

/// Cost of the checks on the hot path (API key: one HMAC, table look-ups, a token bucket and
/// a minute quota). Prints; asserts nothing about time. Run with `--release --ignored`.
#[test]
#[ignore = "a measurement, not a test"]
fn measure_the_check_of_an_api_key_call() {
    let f = Fixture::new(
        &[
            (
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "groups": ["std"],
                "tps": {"per_second": 1_000_000_000u64, "burst": 1_000_000_000u64},
                "quota": {"per_minute": 1_000_000_000u64}}),
            ),
            (
                EntityKind::Group,
                "std",
                serde_json::json!({"name": "Std", "apis": ["orders"]}),
            ),
            (
                EntityKind::ApiKey,
                "k",
                key_entity(
                    "acme",
                    "gwk_acme_0123456789abcdef0123456789",
                    serde_json::json!({}),
                ),
            ),
        ],
        Utc::now(),
    );
    let r = route("orders", &[AuthMethod::ApiKey]);
    let h = key_header("gwk_acme_0123456789abcdef0123456789");
    let n = 200_000;
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        assert!(f.check(&r, &h, "127.0.0.1").is_ok());
    }
    let per = t0.elapsed() / n;
    println!("access check, API key + TPS + quota: {per:?} per call");
}

#[test]
fn client_certificates_alone_and_with_a_key() {
    let fp = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let f = Fixture::new(
        &[
            (
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "groups": ["all"], "certificates": [fp('a')]}),
            ),
            (
                EntityKind::Client,
                "beta",
                serde_json::json!({"name": "Beta", "groups": ["all"], "certificates": [fp('B')]}),
            ),
            (
                EntityKind::Client,
                "lone",
                serde_json::json!({"name": "Lone", "certificates": [fp('c')]}),
            ),
            (
                EntityKind::Group,
                "all",
                serde_json::json!({"name": "All", "apis": ["*"]}),
            ),
            (
                EntityKind::ApiKey,
                "k-acme",
                key_entity("acme", "gwk_acme", serde_json::json!({})),
            ),
            (
                EntityKind::ApiKey,
                "k-beta",
                key_entity("beta", "gwk_beta", serde_json::json!({})),
            ),
        ],
        utc(2026, 11, 27, 3, 0),
    );
    let check = |r: &Arc<Route>, h: &HeaderMap, cert: Option<String>| {
        checks(&f.access, r, h, "127.0.0.1", cert.map(Arc::from))
            .map(|c| c.caller)
            .map_err(|(r, c)| (r, Box::new(c.caller)))
    };
    let none = HeaderMap::new();
    let certs = route("certs", &[AuthMethod::Mtls]);
    let ok = check(&certs, &none, Some(fp('a'))).unwrap();
    assert_eq!(ok.client_id.as_deref(), Some("acme"));
    assert_eq!(ok.client_cert.as_deref(), Some(fp('a').as_str()));
    assert_eq!(ok.api_key_id, None);
    // Listed in upper case, matched in lower case.
    let ok = check(&certs, &none, Some(fp('b'))).unwrap();
    assert_eq!(ok.client_id.as_deref(), Some("beta"));
    let refusal = |r: Result<CallerIds, (Refused, Box<CallerIds>)>| r.err().map(|(r, _)| r.refusal);
    assert_eq!(
        refusal(check(&certs, &none, None)),
        Some(Refusal::ClientCertificateRequired)
    );
    // A key does not stand in for the certificate.
    assert_eq!(
        refusal(check(&certs, &key_header("gwk_acme"), None)),
        Some(Refusal::ClientCertificateRequired)
    );
    let (r, ids) = check(&certs, &none, Some(fp('d'))).unwrap_err();
    assert_eq!(r.refusal, Refusal::UnknownCertificate);
    assert!(r.detail.unwrap().contains(&fp('d')));
    assert_eq!((ids.client_id, ids.client_cert), (None, None));
    assert_eq!(
        refusal(check(&certs, &none, Some(fp('c')))),
        Some(Refusal::ApiNotGranted)
    );
    // A certificate means nothing to an API without mtls.
    let keyed = route("keyed", &[AuthMethod::ApiKey]);
    let ok = check(&keyed, &key_header("gwk_beta"), Some(fp('a'))).unwrap();
    assert_eq!(
        (ok.client_id.as_deref(), ok.client_cert),
        (Some("beta"), None)
    );

    // Both: the certificate and the key, of one client.
    let both = route("both", &[AuthMethod::Mtls, AuthMethod::ApiKey]);
    let ok = check(&both, &key_header("gwk_acme"), Some(fp('a'))).unwrap();
    assert_eq!(ok.client_id.as_deref(), Some("acme"));
    assert_eq!(ok.api_key_id.as_deref(), Some("k-acme"));
    assert_eq!(ok.client_cert.as_deref(), Some(fp('a').as_str()));
    let (r, ids) = check(&both, &none, Some(fp('a'))).unwrap_err();
    assert_eq!(r.refusal, Refusal::AuthRequired);
    assert_eq!(ids.client_id.as_deref(), Some("acme"));
    let (r, ids) = check(&both, &key_header("gwk_beta"), Some(fp('a'))).unwrap_err();
    assert_eq!(r.refusal, Refusal::CertificateMismatch);
    let detail = r.detail.unwrap();
    assert!(
        detail.contains("acme") && detail.contains("beta"),
        "{detail}"
    );
    assert_eq!(ids.client_id.as_deref(), Some("acme"));
    assert_eq!(ids.api_key_id.as_deref(), Some("k-beta"));
    assert_eq!(
        refusal(check(&both, &key_header("gwk_acme"), None)),
        Some(Refusal::ClientCertificateRequired)
    );
    assert_eq!(
        refusal(check(&both, &key_header("gwk_nope"), Some(fp('a')))),
        Some(Refusal::InvalidCredentials)
    );
}

/// The authorize phase is a decision from the table, the time and the context alone: asked
/// again it answers the same, moves no counter, and only the time changes its answer; the
/// limits phase's `take` depends on the clocks it is given, nothing else.
#[test]
fn authorize_is_pure_and_limits_follow_the_clocks_given() {
    let now = utc(2026, 11, 27, 3, 0);
    let f = Fixture::new(
        &[
            (
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "valid_until": "2026-11-28",
                    "tps": {"per_second": 1, "burst": 1}}),
            ),
            (
                EntityKind::Product,
                "pay",
                serde_json::json!({"name": "Pay", "apis": ["pay"]}),
            ),
            (
                EntityKind::ApiKey,
                "k",
                key_entity(
                    "acme",
                    "gwk_acme",
                    serde_json::json!({"products": [{"product": "pay", "status": "approved"}]}),
                ),
            ),
        ],
        now,
    );
    let pay = route("pay", &[AuthMethod::ApiKey]);
    let h = key_header("gwk_acme");
    let table = f.access.table.load_full();
    let mut ctx = Ctx::for_tests("127.0.0.1");
    ctx.set_route(pay.clone());
    now_or_never(authenticate::authenticate(
        &f.access,
        &table,
        now,
        &pay.spec.auth,
        &h,
        &mut ctx,
    ))
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            authorize::authorize(&f.access, &table, now, &h, &mut ctx),
            Ok(())
        );
    }
    assert_eq!(ctx.caller.app_id.as_deref(), Some("pay"));
    assert_eq!(
        ctx.grant,
        Some(super::table::Grant::Product(Arc::from("pay")))
    );
    let later = utc(2026, 11, 29, 1, 0); // `valid_until` holds the whole day, in Taipei
    assert_eq!(
        authorize::authorize(&f.access, &table, later, &h, &mut ctx).map_err(|r| r.refusal),
        Err(Refusal::ClientExpired)
    );
    // One call a second: the monotonic time given decides, not the wall clock.
    let mono = 5_000_000_000;
    assert!(limits::take(&f.access, &table, now, mono, &mut ctx).is_ok());
    assert!(ctx.refund.is_some());
    assert_eq!(
        limits::take(&f.access, &table, now, mono, &mut ctx).map_err(|r| r.refusal),
        Err(Refusal::RateLimited { retry_after: 1 })
    );
    assert!(limits::take(&f.access, &table, later, mono + 1_000_000_000, &mut ctx).is_ok());
    // A public API's call has no client: nothing to authorize or count.
    let mut anon = Ctx::for_tests("127.0.0.1");
    anon.set_route(route("open", &[]));
    assert_eq!(
        authorize::authorize(&f.access, &table, now, &h, &mut anon),
        Ok(())
    );
    assert_eq!(
        limits::take(&f.access, &table, now, mono, &mut anon),
        Ok(())
    );
    assert!(anon.refund.is_none() && anon.grant.is_none());
}

/// bearer: `oauth2` calls through the access checks, with a trusted issuer whose keys are held.
mod oauth2 {
    use super::*;
    use crate::access::jwks::{IssuerKeys, KeySet};
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    const ISS: &str = "https://idp.example";
    const AUD: &str = "orders-api";
    const RSA_KEY: &str = include_str!("testdata/rs256-test-only.key.pem");

    struct Keys {
        rsa: EncodingKey,
        ec: EncodingKey,
    }

    fn fixture(now: DateTime<Utc>) -> (Fixture, Keys) {
        let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ec = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let jwk = |k: &EncodingKey, alg, kid: &str| {
            let mut j = Jwk::from_encoding_key(k, alg).unwrap();
            j.common.key_id = Some(kid.into());
            serde_json::to_value(j).unwrap()
        };
        let doc = serde_json::json!({"keys": [jwk(&rsa, Algorithm::RS256, "r"), jwk(&ec, Algorithm::ES256, "e")]});
        let tls = crate::upstream::tls::SiteTrust::default()
            .client_config()
            .unwrap();
        // Nothing listens on port 9: a refresh fails at once and keeps the keys.
        let issuer = IssuerKeys::new(ISS, AUD, "http://127.0.0.1:9/jwks".parse().unwrap(), tls);
        issuer.set_keys(KeySet::parse(doc.to_string().as_bytes()).unwrap());
        let mut s = settings();
        s.trusted_issuers = vec![Arc::new(issuer)];
        let clock = FakeClock::at(now);
        let entities = [
            (
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "groups": ["std"],
                "tps": {"per_second": 1_000_000_000u64, "burst": 1_000_000_000u64},
                "quota": {"per_minute": 1_000_000_000u64}}),
            ),
            (
                EntityKind::Client,
                "off",
                serde_json::json!({"name": "Off", "status": "suspended"}),
            ),
            (
                EntityKind::Client,
                "certified",
                serde_json::json!({"name": "Certified", "certificates": [format!("sha256:{}", "c".repeat(64))]}),
            ),
            (
                EntityKind::Group,
                "std",
                serde_json::json!({"name": "Std", "apis": ["plain"]}),
            ),
            (
                EntityKind::ApiKey,
                "k",
                key_entity(
                    "acme",
                    "gwk_acme_0123456789abcdef0123456789",
                    serde_json::json!({}),
                ),
            ),
        ];
        let f = Fixture {
            access: Access::new(s, table(&entities), clock.clone()),
            clock,
        };
        (f, Keys { rsa, ec })
    }

    fn token(key: &EncodingKey, alg: Algorithm, kid: &str, client: &str, scope: &str) -> HeaderMap {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        let claims = serde_json::json!({"iss": ISS, "aud": AUD, "exp": 4_000_000_000i64,
            "client_id": client, "jti": "j-1", "scope": scope});
        let t = jsonwebtoken::encode(&h, &claims, key).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
        headers
    }

    fn scoped(api_id: &str, auth: &[AuthMethod], scopes: &[&str]) -> Arc<Route> {
        let r = route(api_id, auth);
        let mut spec = (*r.spec).clone();
        spec.scopes = scopes.iter().map(|s| s.to_string()).collect();
        let mut rc = RouteConfig::new(format!("/{api_id}"), ["http://127.0.0.1:1"]);
        rc.api_id = api_id.into();
        rc.spec = Some(Arc::new(spec));
        Router::new(&[rc])
            .unwrap()
            .find(&format!("/{api_id}/x"))
            .unwrap()
            .clone()
    }

    /// The access phases in order (authenticate, which may wait for a JWKS, then authorize
    /// and take), as the proxy runs them.
    fn run(f: &Fixture, r: &Arc<Route>, h: &HeaderMap) -> Result<CallerIds, (Refusal, CallerIds)> {
        run_with(f, r, h, None)
    }

    fn run_with(
        f: &Fixture,
        r: &Arc<Route>,
        h: &HeaderMap,
        cert: Option<&str>,
    ) -> Result<CallerIds, (Refusal, CallerIds)> {
        checks(&f.access, r, h, "127.0.0.1", cert.map(Arc::from))
            .map(|ctx| ctx.caller.clone())
            .map_err(|(r, ctx)| (r.refusal, ctx.caller.clone()))
    }

    #[test]
    fn a_token_with_a_client_certificate_must_name_the_same_client() {
        let (f, k) = fixture(utc(2026, 12, 7, 12, 0));
        let both = scoped(
            "orders",
            &[AuthMethod::Mtls, AuthMethod::Oauth2],
            &["orders.read"],
        );
        let fp = format!("sha256:{}", "c".repeat(64));
        let theirs = token(&k.ec, Algorithm::ES256, "e", "certified", "orders.read");
        let ok = run_with(&f, &both, &theirs, Some(&fp)).unwrap();
        assert_eq!(ok.auth_method.unwrap().name(), "mtls+oauth2");
        assert_eq!(ok.client_cert.as_deref(), Some(fp.as_str()));
        assert!(ok.token.is_some());
        // Another client's token with this certificate; a token without a certificate.
        let acme = token(&k.ec, Algorithm::ES256, "e", "acme", "orders.read");
        let (r, _) = run_with(&f, &both, &acme, Some(&fp)).unwrap_err();
        assert_eq!(r, Refusal::CertificateMismatch);
        let (r, _) = run_with(&f, &both, &theirs, None).unwrap_err();
        assert_eq!(r, Refusal::ClientCertificateRequired);
    }

    #[test]
    fn scopes_grant_and_refusals_keep_the_token_ids() {
        let (f, k) = fixture(utc(2026, 12, 7, 12, 0));
        let orders = scoped("orders", &[AuthMethod::Oauth2], &["orders.read"]);
        let plain = scoped("plain", &[AuthMethod::Oauth2], &[]);
        let ok = run(
            &f,
            &orders,
            &token(&k.ec, Algorithm::ES256, "e", "acme", "orders.read"),
        )
        .unwrap();
        assert_eq!(ok.auth_method.unwrap().name(), "oauth2");
        assert_eq!(ok.client_id.as_deref(), Some("acme"));
        let t = ok.token.unwrap();
        assert_eq!((&*t.jti, &*t.scopes), ("j-1", "orders.read"));
        // Lacking the scope: refused, with the ids of the verified token.
        let (r, ids) = run(
            &f,
            &orders,
            &token(&k.rsa, Algorithm::RS256, "r", "acme", "x"),
        )
        .unwrap_err();
        assert_eq!(r, Refusal::InsufficientScope);
        assert_eq!(ids.client_id.as_deref(), Some("acme"));
        assert_eq!(&*ids.token.unwrap().scopes, "x");
        // A suspended client's token: its bar, with the token's ids.
        let (r, ids) = run(
            &f,
            &orders,
            &token(&k.ec, Algorithm::ES256, "e", "off", "orders.read"),
        )
        .unwrap_err();
        assert_eq!(r, Refusal::ClientSuspended);
        assert!(ids.token.is_some());
        // No scopes on the API: the group grants it.
        assert!(run(&f, &plain, &token(&k.ec, Algorithm::ES256, "e", "acme", "")).is_ok());
        // A token is not an API key; an API key is not a token.
        let (r, _) = run(
            &f,
            &orders,
            &key_header("gwk_acme_0123456789abcdef0123456789"),
        )
        .unwrap_err();
        assert_eq!(r, Refusal::AuthRequired);
        let keyed = route("keyed", &[AuthMethod::ApiKey]);
        let (r, _) = run(&f, &keyed, &token(&k.ec, Algorithm::ES256, "e", "acme", "")).unwrap_err();
        assert_eq!(r, Refusal::AuthRequired);
        // Unknown client: invalid_token, the method and the token's ids recorded, no client.
        let (r, ids) = run(
            &f,
            &orders,
            &token(&k.ec, Algorithm::ES256, "e", "ghost", "orders.read"),
        )
        .unwrap_err();
        assert_eq!(r, Refusal::InvalidToken);
        assert_eq!(ids.client_id, None);
        assert_eq!(ids.auth_method.unwrap().name(), "oauth2");
    }

    #[inline(never)]
    fn loop_checks(f: &Fixture, r: &Arc<Route>, h: &HeaderMap, n: u32, cached: bool) {
        for _ in 0..n {
            if !cached {
                f.access.bearer.forget_verified();
            }
            assert!(checks(&f.access, r, h, "127.0.0.1", None).is_ok());
        }
    }

    /// Cost of an `oauth2` call's checks (verify RS256 or ES256 + the rest; and with the token
    /// verified before, from the cache) against an API key call's. Prints; asserts nothing
    /// about time. `--release --ignored`; under callgrind with `BEARER_MEASURE=<case>` and
    /// `--toggle-collect='*loop_checks*'` (see `ops/bench/RESULTS.md`).
    #[test]
    #[ignore = "a measurement, not a test"]
    fn measure_the_check_of_an_oauth2_call() {
        let (f, k) = fixture(Utc::now());
        let orders = scoped("orders", &[AuthMethod::Oauth2], &["orders.read"]);
        let keyed = route("plain", &[AuthMethod::ApiKey]);
        let key = key_header("gwk_acme_0123456789abcdef0123456789");
        let rs = token(&k.rsa, Algorithm::RS256, "r", "acme", "orders.read");
        let es = token(&k.ec, Algorithm::ES256, "e", "acme", "orders.read");
        let cases = [
            ("api_key", &keyed, &key, true),
            ("rs256", &orders, &rs, false),
            ("es256", &orders, &es, false),
            ("rs256_cached", &orders, &rs, true),
            ("es256_cached", &orders, &es, true),
        ];
        let only = std::env::var("BEARER_MEASURE").ok();
        let n: u32 = std::env::var("BEARER_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000);
        for (name, r, h, cached) in cases {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let t0 = std::time::Instant::now();
            loop_checks(&f, r, h, n, cached);
            println!(
                "access check, {name}: {:?} per call ({n} calls)",
                t0.elapsed() / n
            );
        }
    }
}
