//! An API's request policies (issue 17), one module each; the request phase
//! ([`crate::phase::request`]) runs them in order. Each module has the same three parts:
//!
//! - a `Compiled` form of its field of the [`ApiSpec`], made once when the router is built
//!   (`compile`, `None` when the API leaves the policy off: an API without policies pays a
//!   branch per policy and nothing else);
//! - the function the request phase calls, which reads and writes the call's [`crate::phase::Ctx`]
//!   and may end the call ([`crate::phase::Stop`]);
//! - its share of the gateway-wide [`Policies`] state (nonces seen, first answers kept,
//!   buckets), which outlives router swaps.
//!
//! | policy | module | where in the phases |
//! | --- | --- | --- |
//! | deny list (site) | [`deny`] | first, before the path is read |
//! | deny list (API) | [`deny`] | screen, before authentication |
//! | CORS (preflights answered) | [`cors`] | screen, before authentication (browsers send no credentials with a preflight) |
//! | deny list (client) | [`deny`] | after the access phases |
//! | the API's rate | [`rate`] | after the access phases |
//! | body limit | [`body_limit`] | before the body is read or streamed |
//! | message checks | [`checks`] | on the body read whole |
//! | signatures | [`signature`] | on the body read whole (`content-digest`) |
//! | transaction tokens | [`tx_token`] | after the checks |
//! | idempotency | [`idempotency`] | last: a refused request is never kept as an answer |

pub(crate) mod body_limit;
pub(crate) mod checks;
pub(crate) mod cors;
pub(crate) mod deny;
pub(crate) mod idempotency;
pub(crate) mod rate;
pub(crate) mod signature;
pub(crate) mod tx_token;

use gatewatch_model::ApiSpec;
use http::request::Parts;

/// Largest body a policy reads whole when the API sets no `max_body_bytes` (1 MiB); a
/// longer one is refused 413 on such an API.
pub(crate) const POLICY_BODY_MAX: u64 = 1 << 20;

/// The gateway-wide state of the policies (one per gateway, shared by every call).
#[derive(Default)]
pub(crate) struct Policies {
    pub deny: deny::State,
    pub rate: rate::State,
    pub signature: signature::State,
    pub tx_token: tx_token::State,
    pub idempotency: idempotency::State,
}

/// One route's policies, compiled from its API when the router is built.
#[derive(Debug, Default)]
pub(crate) struct RoutePolicies {
    pub deny: Option<deny::Compiled>,
    pub cors: Option<cors::Compiled>,
    pub rate: Option<rate::Compiled>,
    pub body_limit: Option<body_limit::Compiled>,
    pub checks: Option<checks::Compiled>,
    pub signature: Option<signature::Compiled>,
    pub tx_token: Option<tx_token::Compiled>,
    pub idempotency: Option<idempotency::Compiled>,
}

impl RoutePolicies {
    pub fn compile(spec: &ApiSpec) -> RoutePolicies {
        RoutePolicies {
            deny: deny::compile(spec),
            cors: cors::compile(spec),
            rate: rate::compile(spec),
            body_limit: body_limit::compile(spec),
            checks: checks::compile(spec),
            signature: signature::compile(spec),
            tx_token: tx_token::compile(spec),
            idempotency: idempotency::compile(spec),
        }
    }

    /// Does a policy of this call need the body read whole before it goes upstream?
    pub fn needs_body(&self, head: &Parts) -> bool {
        self.checks.as_ref().is_some_and(|c| c.needs_body(head))
            || self.signature.as_ref().is_some_and(|s| s.needs_body(head))
            || self
                .idempotency
                .as_ref()
                .is_some_and(|i| i.needs_body(head))
    }

    /// The most bytes of body the API takes (`max_body_bytes`), if it says.
    pub fn max_body(&self) -> Option<u64> {
        self.body_limit.as_ref().map(|b| b.max)
    }
}
