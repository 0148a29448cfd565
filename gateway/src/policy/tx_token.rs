//! One-time transaction tokens (`tx_token`, the seeds' TxToken): `POST
//! /.gatewatch/tx-token?api=<api id>`, authenticated as the API asks ([`endpoint`]), issues a
//! token bound to the client and the API ([`token`]); one later call of the API's `methods`
//! must carry it in the `Tx-Token` header, and it serves once.
//!
//! | the call's token | status | `error.code` |
//! | --- | --- | --- |
//! | none | 403 | `tx_token_required` |
//! | malformed, altered, another site's, expired, another API's or client's | 403 | `tx_token_invalid` (the message says which) |
//! | already used | 403 | `tx_token_used` |
//!
//! Any gateway of the site verifies any token (the MAC key derives from the pepper). "Once"
//! is exact on one gateway; gateways do not share the ids used, so a token can serve at most
//! once per gateway within its TTL (`ttl_secs`, 300 s by default, a day at most). The ids used
//! are kept until their token expires, at most [`MAX_USED`]; past that (all unexpired) a
//! token call is refused 503 `refused_busy` rather than let a token serve twice.
//!
//! With idempotency on the same API, a repeat of the call that used a token (same
//! `Idempotency-Key`) passes with the same token, so idempotency can replay the first answer.

pub(crate) mod endpoint;
pub(crate) mod token;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use gatewatch_model::{ApiSpec, Outcome};
use http::header::HeaderName;
use http::request::Parts;
use http::{Method, StatusCode};

use super::idempotency;
use crate::phase::{Answer, Ctx, Stop};
use token::{Invalid, Minter, TokenId};

pub(crate) static HEADER: HeaderName = HeaderName::from_static("tx-token");

/// Most token ids remembered as used per gateway (~64 bytes each).
pub(crate) const MAX_USED: usize = 1_000_000;

/// The site's minter, and the ids of tokens used on this gateway.
pub(crate) struct State {
    pub minter: Minter,
    used: Mutex<Used>,
    max_used: usize,
}

#[derive(Default)]
struct Used {
    /// Token id → its expiry (Unix s) and the idempotency scope of the call that used it.
    ids: HashMap<TokenId, (u64, Option<idempotency::kept::KeyHash>)>,
}

/// A random key: tokens valid on this process only (the gateway builds it from the pepper,
/// [`State::from_pepper`]).
impl Default for State {
    fn default() -> State {
        State::new(Minter::random(), MAX_USED)
    }
}

impl State {
    pub fn new(minter: Minter, max_used: usize) -> State {
        State {
            minter,
            used: Mutex::default(),
            max_used,
        }
    }

    pub fn from_pepper(pepper: &[u8]) -> State {
        State::new(Minter::from_pepper(pepper), MAX_USED)
    }

    /// Marks `id` used by a call with idempotency scope `scope`; `Err(true)` when it was
    /// used before (by another call), `Err(false)` when no room is left.
    fn use_once(
        &self,
        id: TokenId,
        expires: u64,
        scope: Option<idempotency::kept::KeyHash>,
        now: u64,
    ) -> Result<(), bool> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, by)) = used.ids.get(&id) {
            // The same keyed call again: idempotency answers it (replay, 409 or 422).
            return match (by, scope) {
                (Some(a), Some(b)) if *a == b => Ok(()),
                _ => Err(true),
            };
        }
        if used.ids.len() >= self.max_used {
            used.ids.retain(|_, (exp, _)| *exp > now);
            if used.ids.len() >= self.max_used {
                return Err(false);
            }
        }
        used.ids.insert(id, (expires, scope));
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct Compiled {
    methods: Vec<Method>,
    pub ttl_secs: u32,
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.tx_token.as_ref().map(|p| Compiled {
        methods: p
            .methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect(),
        ttl_secs: p.ttl_secs,
    })
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn refuse(code: &'static str, told: impl Into<std::borrow::Cow<'static, str>>) -> Stop {
    Stop::Refuse(Answer::new(
        StatusCode::FORBIDDEN,
        Outcome::RefusedNotAllowed,
        code,
        told,
    ))
}

/// Takes the call's token (used once).
pub(crate) fn take(state: &State, tx: &Compiled, head: &Parts, ctx: &mut Ctx) -> Result<(), Stop> {
    take_at(state, tx, head, ctx, unix_now())
}

fn take_at(
    state: &State,
    tx: &Compiled,
    head: &Parts,
    ctx: &mut Ctx,
    now: u64,
) -> Result<(), Stop> {
    if !tx.methods.contains(&head.method) {
        return Ok(());
    }
    let mut values = head.headers.get_all(&HEADER).iter();
    let Some(value) = values.next() else {
        return Err(refuse(
            "tx_token_required",
            "this call needs a transaction token (Tx-Token header) from POST /.gatewatch/tx-token",
        ));
    };
    if values.next().is_some() {
        return Err(refuse("tx_token_invalid", "more than one Tx-Token header"));
    }
    let route = ctx.route.as_ref();
    let api = route.map_or("", |r| r.api_id.as_str());
    let client = ctx.caller.client_id.as_deref().unwrap_or("");
    let claims = match state.minter.verify(value.as_bytes(), api, client, now) {
        Ok(c) => c,
        Err(e) => return Err(refuse("tx_token_invalid", invalid_told(e))),
    };
    let scope = route
        .and_then(|r| r.policies.idempotency.as_ref())
        .and_then(|i| idempotency::call_scope(i, head, ctx));
    match state.use_once(claims.id, claims.expires, scope, now) {
        Ok(()) => {
            ctx.policies.push("tx_token:used".into());
            Ok(())
        }
        Err(true) => Err(refuse(
            "tx_token_used",
            "this transaction token has been used already",
        )),
        Err(false) => Err(Stop::Refuse(Answer::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::RefusedBusy,
            "refused_busy",
            "too many transaction tokens in use on this gateway; try again later",
        ))),
    }
}

fn invalid_told(e: Invalid) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn head(method: &str, token: Option<&str>) -> Parts {
        let mut b = http::Request::builder().method(method).uri("/pay");
        if let Some(t) = token {
            b = b.header("tx-token", t);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn ctx(client: Option<&str>) -> Ctx {
        let mut c = Ctx::for_tests("127.0.0.1");
        c.caller.client_id = client.map(Arc::from);
        c
    }

    fn code(r: Result<(), Stop>) -> Option<(u16, &'static str)> {
        match r {
            Err(Stop::Refuse(a)) => Some((a.status.as_u16(), a.code)),
            Err(Stop::Reply(_)) => Some((0, "reply")),
            Ok(()) => None,
        }
    }

    #[test]
    fn a_token_serves_once_for_its_client_and_methods_only() {
        let state = State::new(Minter::from_pepper(b"p"), 10);
        let tx = Compiled {
            methods: vec![Method::POST],
            ttl_secs: 300,
        };
        // Without a route the API id is empty (phase tests): tokens are for "".
        let t = state.minter.issue("", "acme", 1000).unwrap();
        // One call: its method, token, client and clock; what it is answered.
        let take = |method: &str, token: Option<&str>, client: &str, now: u64| {
            code(take_at(
                &state,
                &tx,
                &head(method, token),
                &mut ctx(Some(client)),
                now,
            ))
        };
        assert_eq!(
            take("POST", None, "acme", 0),
            Some((403, "tx_token_required"))
        );
        assert_eq!(take("GET", None, "acme", 0), None);
        assert_eq!(
            take("POST", Some(&t), "evil", 0),
            Some((403, "tx_token_invalid"))
        );
        let mut c = ctx(Some("acme"));
        assert_eq!(
            code(take_at(&state, &tx, &head("POST", Some(&t)), &mut c, 0)),
            None
        );
        assert_eq!(c.policies, ["tx_token:used"]);
        assert_eq!(
            take("POST", Some(&t), "acme", 0),
            Some((403, "tx_token_used"))
        );
        assert_eq!(
            take("POST", Some(&t), "acme", 1000),
            Some((403, "tx_token_invalid")),
            "expired"
        );
    }

    #[test]
    fn past_the_bound_expired_ids_go_and_unexpired_ones_refuse_new_tokens() {
        let state = State::new(Minter::from_pepper(b"p"), 2);
        assert_eq!(state.use_once([1; 16], 10, None, 0), Ok(()));
        assert_eq!(state.use_once([2; 16], 100, None, 0), Ok(()));
        assert_eq!(state.use_once([3; 16], 100, None, 0), Err(false));
        // Token 1 expired at 10: its room is taken again (it could not verify anyway).
        assert_eq!(state.use_once([3; 16], 100, None, 50), Ok(()));
        assert_eq!(state.use_once([2; 16], 100, None, 50), Err(true));
        // A repeat with the same idempotency scope passes; another scope does not.
        let state = State::new(Minter::from_pepper(b"p"), 2);
        assert_eq!(state.use_once([1; 16], 10, Some([7; 32]), 0), Ok(()));
        assert_eq!(state.use_once([1; 16], 10, Some([7; 32]), 0), Ok(()));
        assert_eq!(state.use_once([1; 16], 10, Some([8; 32]), 0), Err(true));
        assert_eq!(state.use_once([1; 16], 10, None, 0), Err(true));
    }
}
