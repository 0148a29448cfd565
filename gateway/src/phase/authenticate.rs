//! Phase 2, authenticate: who is calling, by the methods the API accepts (`auth`).
//!
//! - `mtls` listed: the connection's client certificate (its fingerprint, taken once per
//!   connection) must be in a client's `certificates` (none: `client_certificate_required`;
//!   listed by no client: `unknown_certificate`); alone, it names the client;
//! - any other method listed: one credential of the forms the API accepts, found and checked
//!   by [`crate::access::auth`] (API key, HTTP Basic, JWT) or, for `oauth2`, an access token
//!   of the gateway's own or a trusted issuer ([`crate::access::bearer`], which may wait for
//!   the issuer's JWKS); with `mtls` too, both must name the same client
//!   (`certificate_mismatch`).
//!
//! Writes `ctx.client`, `ctx.key` and the record's `ctx.caller` (also on a refusal, with
//! what is known). Async, so that a method may wait (a JWKS refresh): a new method is one
//! more arm in [`by_credential`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatewatch_model::api::AuthMethod;
use http::HeaderMap;

use super::Ctx;
use crate::access::auth::{self, AuthUse, Caller};
use crate::access::bearer;
use crate::access::refusal::{Refusal, Refused};
use crate::access::table::AccessTable;
use crate::access::{Access, CallerIds, TokenIds};

/// The authenticate phase (see the module doc); the API is `ctx.route`'s.
pub(crate) async fn authenticate(
    access: &Access,
    table: &AccessTable,
    now: DateTime<Utc>,
    methods: &[AuthMethod],
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Result<(), Refused> {
    let (caller, token) = match identify(
        access,
        table,
        now,
        methods,
        headers,
        ctx.peer.client_cert.as_ref(),
    )
    .await
    {
        Ok(c) => c,
        Err((refused, ids)) => {
            ctx.caller = ids;
            return Err(refused);
        }
    };
    ctx.caller = CallerIds {
        client_id: Some(caller.client.id.clone()),
        api_key_id: caller.key.as_ref().map(|k| k.id.clone()),
        app_id: None,
        client_cert: caller.cert.clone(),
        auth_method: Some(AuthUse::new(caller.method, caller.cert.is_some())),
        token,
    };
    ctx.client = Some(caller.client);
    ctx.key = caller.key;
    Ok(())
}

/// The certificate when `mtls` is listed, then the other methods' credential; both must name
/// the same client.
async fn identify(
    access: &Access,
    table: &AccessTable,
    now: DateTime<Utc>,
    methods: &[AuthMethod],
    headers: &HeaderMap,
    cert: Option<&Arc<str>>,
) -> Result<(Caller, Option<Box<TokenIds>>), (Refused, CallerIds)> {
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
            return Ok((
                Caller {
                    client,
                    key: None,
                    cert: Some(fp),
                    method: AuthMethod::Mtls,
                },
                None,
            ))
        }
        (by_cert, _) => by_cert.unzip(),
    };
    let (mut caller, token) = by_credential(access, table, now, methods, headers)
        .await
        .map_err(|(r, mut ids)| {
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
                auth_method: Some(AuthUse::new(caller.method, true)),
                token,
            };
            return Err((Refused::with(Refusal::CertificateMismatch, detail), ids));
        }
        caller.cert = fp;
    }
    Ok((caller, token))
}

/// The caller named by a credential of the forms the API accepts (all but `mtls`). One arm
/// per kind of verification: a new method (e.g. `oauth2`, which may await its issuer's
/// keys) adds its own here.
async fn by_credential(
    access: &Access,
    table: &AccessTable,
    now: DateTime<Utc>,
    methods: &[AuthMethod],
    headers: &HeaderMap,
) -> Result<(Caller, Option<Box<TokenIds>>), (Refused, CallerIds)> {
    if methods.contains(&AuthMethod::Oauth2) {
        match access
            .bearer
            .authenticate(methods, headers, table, now.timestamp())
            .await
        {
            Some(Ok(found)) => {
                let caller = Caller {
                    client: found.client,
                    key: None,
                    cert: None,
                    method: AuthMethod::Oauth2,
                };
                return Ok((caller, Some(Box::new(found.token))));
            }
            Some(Err(refused)) => return Err(refused),
            // Not a token of the own or a trusted issuer: the other methods may take it.
            None => {}
        }
    }
    auth::authenticate(methods, headers, table, &access.pepper, &access.jwt, now)
        .map(|caller| (caller, None))
        .map_err(|(r, ids)| match r {
            // RFC 6750 §3: an API that takes only tokens challenges for one.
            Refusal::AuthRequired if bearer::only_bearer(methods) => (
                Refused::from(r).header(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                ),
                ids,
            ),
            r => (Refused::from(r), ids),
        })
}
