//! The five endpoints on the proxy's port, answered before routing (an API cannot take
//! their paths):
//!
//! | path | method | answer |
//! | --- | --- | --- |
//! | `/.well-known/oauth-authorization-server` | GET | RFC 8414 metadata |
//! | `/oauth2/jwks` | GET | the published keys (RFC 7517) |
//! | `/oauth2/token` | POST | `client_credentials` (RFC 6749 §4.4) |
//! | `/oauth2/introspect` | POST | RFC 7662, for the token's own client |
//! | `/oauth2/revoke` | POST | RFC 7009, for the token's own client |
//!
//! Every request makes one record: `route` is the path, `client_id` the client named (when
//! it exists, also with a wrong secret), `auth_method` how it authenticated, `token_jti` and
//! `scopes` the token issued (or introspected, or revoked). Refusals are RFC 6749 §5.2 JSON
//! `{"error","error_description"}` and the record's `error` starts with the same code.
//!
//! What one request may cost: a body of at most 16 KiB read within 10 s, one HMAC-SHA256 of
//! a secret of at most 512 bytes, one ECDSA signature or verification.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use gatewatch_model::client::ClientBar;
use gatewatch_model::Outcome;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tracing::warn;

use super::assertion;
use super::form::{self, Credentials, Form, Refused};
use super::{Check, OwnIssuer};
use crate::access::auth::AuthUse;
use crate::access::table::{AccessTable, ClientEntry};
use crate::access::{Access, CallerIds, TokenIds};
use crate::phase::filter::{LocalAnswer, LocalEndpoints};
use crate::phase::Ctx;

pub(crate) const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub(crate) const TOKEN_PATH: &str = "/oauth2/token";
pub(crate) const JWKS_PATH: &str = "/oauth2/jwks";
pub(crate) const INTROSPECT_PATH: &str = "/oauth2/introspect";
pub(crate) const REVOKE_PATH: &str = "/oauth2/revoke";

/// One of the server's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Metadata,
    Jwks,
    Token,
    Introspect,
    Revoke,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Metadata => METADATA_PATH,
            Endpoint::Jwks => JWKS_PATH,
            Endpoint::Token => TOKEN_PATH,
            Endpoint::Introspect => INTROSPECT_PATH,
            Endpoint::Revoke => REVOKE_PATH,
        }
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Metadata | Endpoint::Jwks => Method::GET,
            _ => Method::POST,
        }
    }
}

/// The endpoint at the (normalized) `path`, if it is one.
pub(crate) fn endpoint(path: &str) -> Option<Endpoint> {
    // One comparison for the paths of every other call.
    if !path.starts_with("/oauth2/") && !path.starts_with("/.well-known/") {
        return None;
    }
    [
        Endpoint::Metadata,
        Endpoint::Jwks,
        Endpoint::Token,
        Endpoint::Introspect,
        Endpoint::Revoke,
    ]
    .into_iter()
    .find(|e| e.path() == path)
}

/// The authorization server of one gateway.
pub(crate) struct Server {
    pub own: OwnIssuer,
    /// The issuer without a trailing `/`: the endpoints' URLs start with it.
    base: String,
    token_ttl_s: i64,
    pepper: Arc<[u8]>,
    site_tz: chrono_tz::Tz,
    /// Where revocations go (none: this gateway only).
    store: Option<gatewatch_store::Store>,
    /// The clients, keys and products (swapped with the configuration), and the caller's
    /// address as the access phase reads it.
    access: Arc<Access>,
    /// `private_key_jwt` assertions already used.
    replays: super::assertion::Replays,
}

impl Server {
    pub fn new(
        own: OwnIssuer,
        token_ttl_s: i64,
        pepper: Arc<[u8]>,
        site_tz: chrono_tz::Tz,
        store: Option<gatewatch_store::Store>,
        access: Arc<Access>,
    ) -> Server {
        Server {
            base: own.issuer().trim_end_matches('/').to_string(),
            own,
            token_ttl_s,
            pepper,
            site_tz,
            store,
            access,
            replays: Default::default(),
        }
    }

    /// RFC 8414 §2; `scopes_supported` is every scope a client or product lists.
    fn metadata(&self, table: &AccessTable) -> serde_json::Value {
        let mut scopes: Vec<&str> = table
            .clients
            .values()
            .flat_map(|c| c.spec.scopes.iter())
            .chain(table.products.values().flat_map(|(_, p)| p.scopes.iter()))
            .map(String::as_str)
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        let auth = [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ];
        json!({
            "issuer": self.own.issuer(),
            "token_endpoint": format!("{}{TOKEN_PATH}", self.base),
            "jwks_uri": format!("{}{JWKS_PATH}", self.base),
            "introspection_endpoint": format!("{}{INTROSPECT_PATH}", self.base),
            "revocation_endpoint": format!("{}{REVOKE_PATH}", self.base),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": auth,
            "introspection_endpoint_auth_methods_supported": auth,
            "revocation_endpoint_auth_methods_supported": auth,
            "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "introspection_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "revocation_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "scopes_supported": scopes,
        })
    }
}

/// What the endpoint answers: status, JSON body (or none) and the record's outcome and error.
struct Answer {
    status: StatusCode,
    body: Option<serde_json::Value>,
    outcome: Outcome,
    /// `code: detail` for the record; empty on success.
    error: String,
    /// `WWW-Authenticate: Basic` (a 401).
    challenge: bool,
    /// `Cache-Control`: `no-store` for tokens and answers about them, a short max-age for
    /// metadata and keys.
    cache: &'static str,
    allow: Option<&'static str>,
}

impl Answer {
    fn ok(body: serde_json::Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: Some(body),
            outcome: Outcome::Ok,
            error: String::new(),
            challenge: false,
            cache: "no-store",
            allow: None,
        }
    }

    /// An RFC 6749 §5.2 error: the client is told `description`, the record gets `detail`.
    fn error(status: u16, code: &'static str, description: &str, detail: &str) -> Answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let outcome = match status.as_u16() {
            401 => Outcome::RefusedAuth,
            503 | 500 => Outcome::GatewayError,
            _ => Outcome::RefusedBadRequest,
        };
        Answer {
            status,
            body: Some(json!({ "error": code, "error_description": description })),
            outcome,
            error: format!("{code}: {detail}"),
            challenge: status == StatusCode::UNAUTHORIZED,
            cache: "no-store",
            allow: None,
        }
    }

    fn refused(r: &Refused) -> Answer {
        Answer::error(r.status, r.code, &r.description, &r.description)
    }
}

/// The proxy's hook (the early filter's local endpoints): the five paths, answered here.
impl LocalEndpoints for Server {
    fn serves(&self, path: &str) -> Option<&'static str> {
        endpoint(path).map(Endpoint::path)
    }

    fn answer<'a>(
        &'a self,
        req: Request<Incoming>,
        ctx: &'a mut Ctx,
    ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>> {
        Box::pin(async move {
            let ep = ctx.local.and_then(endpoint).unwrap_or(Endpoint::Metadata);
            let peer = ctx.peer.addr;
            Server::answer(self, ep, req, peer, &mut ctx.caller).await
        })
    }
}

impl Server {
    /// The answer to a request at `ep` from `peer`; the record's caller ids go in `caller`.
    pub async fn answer(
        &self,
        ep: Endpoint,
        req: Request<Incoming>,
        peer: SocketAddr,
        caller: &mut CallerIds,
    ) -> LocalAnswer {
        let answer = if req.method() != ep.method() {
            let mut a = Answer::error(
                405,
                "invalid_request",
                &format!("{} only", ep.method()),
                &format!("{} on {}", req.method(), ep.path()),
            );
            a.allow = Some(if ep.method() == Method::GET {
                "GET"
            } else {
                "POST"
            });
            a
        } else {
            match ep {
                Endpoint::Metadata => {
                    let mut a = Answer::ok(self.metadata(&self.access.table.load()));
                    a.cache = "public, max-age=60";
                    a
                }
                Endpoint::Jwks => {
                    let jwks = self.own.keys().jwks.clone();
                    let mut a =
                        Answer::ok(serde_json::from_slice(&jwks).unwrap_or(json!({"keys": []})));
                    a.cache = "public, max-age=60";
                    a
                }
                _ => self.post(ep, req, peer, caller).await,
            }
        };
        answer.into_local()
    }
}

impl Server {
    /// The token, introspection and revocation endpoints: read the form, authenticate the
    /// client, then the endpoint's own work.
    async fn post(
        &self,
        ep: Endpoint,
        req: Request<Incoming>,
        peer: SocketAddr,
        call: &mut CallerIds,
    ) -> Answer {
        let server = self;
        let (parts, body) = req.into_parts();
        let table = self.access.table.load();
        // A request refused before its credentials are checked is still the client's that
        // Basic names, when it exists.
        if let Some(id) = form::basic_client_id(&parts.headers) {
            if let Some(c) = table.clients.get(&id) {
                *call = caller(Some(c.id.clone()), form::Method::SecretBasic, None);
            }
        }
        if !form::is_form(&parts.headers) {
            let r = Refused::bad("Content-Type must be application/x-www-form-urlencoded");
            return Answer::refused(&r);
        }
        let form = match form::read_body(&parts.headers, body).await {
            Ok(b) => match Form::parse(&b) {
                Ok(f) => f,
                Err(r) => return Answer::refused(&r),
            },
            Err(r) => return Answer::refused(&r),
        };
        let creds = match form::credentials(&parts.headers, &form) {
            Ok(c) => c,
            Err((r, method)) => {
                if let Some(m) = method {
                    *call = caller(None, m, None);
                }
                return Answer::refused(&r);
            }
        };
        let now = Utc::now();
        let client = match authenticate(server, ep, &table, &creds) {
            Ok(c) => c,
            Err((known, why)) => {
                *call = caller(known, creds.method, None);
                return Answer::error(401, "invalid_client", "client authentication failed", &why);
            }
        };
        *call = caller(Some(client.id.clone()), creds.method, None);
        if let Some(bar) = client.spec.bar_at(now, server.site_tz) {
            let (outcome, what) = match bar {
                ClientBar::Suspended => (Outcome::RefusedNotAllowed, "the client is suspended"),
                ClientBar::NotYetValid => (Outcome::RefusedExpired, "the client is not valid yet"),
                ClientBar::Expired => (Outcome::RefusedExpired, "the client has expired"),
                ClientBar::OutsideHours => (
                    Outcome::RefusedHours,
                    "the client is outside its service hours",
                ),
            };
            let mut a = Answer::error(400, "unauthorized_client", what, what);
            a.outcome = outcome;
            return a;
        }
        let ip = self.access.client_ip(peer.ip(), &parts.headers);
        if !client.ip_allowed(ip) {
            let what = format!("the client may not call from {ip}");
            let mut a = Answer::error(400, "unauthorized_client", &what, &what);
            a.outcome = Outcome::RefusedIp;
            return a;
        }
        let now_s = now.timestamp();
        match ep {
            Endpoint::Token => token(server, &table, &client, &creds, &form, now_s, call),
            Endpoint::Introspect => introspect(server, &client, &creds, &form, now_s, call),
            _ => revoke(server, &client, &creds, &form, now_s, call).await,
        }
    }
}

/// The record's caller: the client (when known), how it authenticated, the token.
fn caller(
    client: Option<Arc<str>>,
    method: form::Method,
    token: Option<(&str, &str)>,
) -> CallerIds {
    CallerIds {
        client_id: client,
        auth_method: Some(AuthUse::client_auth(method)),
        token: token.map(|(jti, scopes)| {
            Box::new(TokenIds {
                jti: Arc::from(jti),
                scopes: Arc::from(scopes),
            })
        }),
        ..CallerIds::default()
    }
}

/// The client whose secret the credentials carry, or why not (with the client's id when it
/// exists).
fn authenticate(
    server: &Server,
    ep: Endpoint,
    table: &AccessTable,
    creds: &Credentials,
) -> Result<Arc<ClientEntry>, (Option<Arc<str>>, String)> {
    let Some(client) = table.clients.get(&creds.client_id) else {
        return Err((None, format!("no client {:?}", creds.client_id)));
    };
    let known = Some(client.id.clone());
    if creds.method == form::Method::PrivateKeyJwt {
        let now_s = Utc::now().timestamp();
        let token_url = format!("{}{TOKEN_PATH}", server.base);
        let endpoint_url = format!("{}{}", server.base, ep.path());
        let auds = [server.own.issuer(), &token_url, &endpoint_url];
        let (jti, exp) = assertion::check(
            &creds.secret,
            &client.id,
            client.spec.jwks.as_ref(),
            &auds,
            now_s,
        )
        .map_err(|why| (known.clone(), format!("client_assertion: {why}")))?;
        server
            .replays
            .first_use(&client.id, &jti, exp, now_s)
            .map_err(|why| (known.clone(), format!("client_assertion: {why}")))?;
        return Ok(client.clone());
    }
    let Some(hash) = client.spec.secret_hash.as_deref() else {
        return Err((known, "the client has no secret".into()));
    };
    if !gatewatch_model::secret::verify_secret(&server.pepper, &creds.secret, hash) {
        return Err((known, "wrong client secret".into()));
    }
    Ok(client.clone())
}

/// The scopes `client` may get: its own plus those of every product approved on one of its
/// usable keys (not revoked, not expired).
pub(crate) fn allowed_scopes<'t>(
    table: &'t AccessTable,
    client: &'t ClientEntry,
    now: chrono::DateTime<Utc>,
) -> Vec<&'t str> {
    let keys = table
        .keys_by_hash
        .values()
        .map(|k| (k.id.as_ref(), &k.spec));
    let products = gatewatch_model::oauth::approved_products(&client.id, keys, now);
    let scopes = products.keys().filter_map(|p| {
        table
            .products
            .get(*p)
            .map(|(_, spec)| spec.scopes.as_slice())
    });
    gatewatch_model::oauth::effective_scopes(&client.spec.scopes, scopes)
}

/// The scopes granted for a request's `scope` (space-separated; absent: all allowed).
pub(crate) fn grant_scopes(requested: Option<&str>, allowed: &[&str]) -> Result<String, String> {
    let Some(req) = requested else {
        return Ok(allowed.join(" "));
    };
    let mut out: Vec<&str> = Vec::new();
    for s in req.split(' ') {
        gatewatch_model::oauth::check_scope(s)?;
        if !allowed.contains(&s) {
            return Err(format!("scope {s:?} is not allowed for this client"));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out.join(" "))
}

fn token(
    server: &Server,
    table: &AccessTable,
    client: &ClientEntry,
    creds: &Credentials,
    form: &Form,
    now_s: i64,
    call: &mut CallerIds,
) -> Answer {
    match form.get("grant_type") {
        None => {
            let r = Refused::bad("grant_type is required");
            return Answer::refused(&r);
        }
        Some("client_credentials") => {}
        Some(other) => {
            let d = format!("grant_type {other:?} is not supported: client_credentials only");
            return Answer::error(400, "unsupported_grant_type", &d, &d);
        }
    }
    let allowed = allowed_scopes(table, client, Utc::now());
    let scope = match grant_scopes(form.get("scope"), &allowed) {
        Ok(s) => s,
        Err(d) => return Answer::error(400, "invalid_scope", &d, &d),
    };
    let (token, claims) = match server
        .own
        .issue(&client.id, &scope, server.token_ttl_s, now_s)
    {
        Ok(t) => t,
        Err(why) => {
            return Answer::error(
                503,
                "temporarily_unavailable",
                "no signing key is available; try again shortly",
                &why,
            )
        }
    };
    *call = caller(
        Some(client.id.clone()),
        creds.method,
        Some((&claims.jti, &claims.scope)),
    );
    let mut body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": server.token_ttl_s,
    });
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    Answer::ok(body)
}

fn introspect(
    server: &Server,
    client: &ClientEntry,
    creds: &Credentials,
    form: &Form,
    now_s: i64,
    call: &mut CallerIds,
) -> Answer {
    let Some(token) = form.get("token") else {
        return Answer::refused(&Refused::bad("token is required"));
    };
    // Another client's token, or one that is not valid: inactive, and nothing more
    // (RFC 7662 §2.2).
    match server.own.claims(token, now_s, Check::Full) {
        Ok(c) if *c.client_id == *client.id => {
            *call = caller(
                Some(client.id.clone()),
                creds.method,
                Some((&c.jti, &c.scope)),
            );
            let mut body = json!({
                "active": true,
                "client_id": c.client_id,
                "token_type": "Bearer",
                "exp": c.exp,
                "iat": c.iat,
                "sub": c.sub,
                "aud": c.aud,
                "iss": c.iss,
                "jti": c.jti,
            });
            if !c.scope.is_empty() {
                body["scope"] = json!(c.scope);
            }
            Answer::ok(body)
        }
        _ => Answer::ok(json!({ "active": false })),
    }
}

async fn revoke(
    server: &Server,
    client: &ClientEntry,
    creds: &Credentials,
    form: &Form,
    now_s: i64,
    call: &mut CallerIds,
) -> Answer {
    let Some(token) = form.get("token") else {
        return Answer::refused(&Refused::bad("token is required"));
    };
    let mut done = Answer::ok(serde_json::Value::Null);
    done.body = None;
    // Not ours, not this client's, or already expired: nothing to do, and the answer is the
    // same 200 (RFC 7009 §2.2).
    let c = match server.own.claims(token, now_s, Check::Issued) {
        Ok(c) if *c.client_id == *client.id && c.exp + super::LEEWAY_S > now_s => c,
        _ => return done,
    };
    *call = caller(
        Some(client.id.clone()),
        creds.method,
        Some((&c.jti, &c.scope)),
    );
    let expires_us = c
        .exp
        .saturating_add(super::LEEWAY_S)
        .saturating_mul(1_000_000);
    if let Some(store) = &server.store {
        let row = gatewatch_store::oauth::RevocationRow {
            jti: c.jti.clone(),
            client_id: c.client_id.clone(),
            expires_us,
            revoked_us: now_us(),
            revoked_by: format!("client:{}", c.client_id),
        };
        if let Err(e) = gatewatch_store::oauth::revoke(store, &[row]).await {
            warn!(error = %e, "revocation not stored");
            return Answer::error(
                503,
                "temporarily_unavailable",
                "the revocation could not be stored; try again",
                &format!("store: {e}"),
            );
        }
    }
    server.own.revoke(&c.jti, expires_us);
    done
}

pub(crate) use gatewatch_model::call::now_us;

impl Answer {
    fn into_local(self) -> LocalAnswer {
        let a = self;
        let body = a
            .body
            .map(|b| serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_default();
        let json = !body.is_empty();
        let mut resp = Response::new(bytes::Bytes::from(body));
        *resp.status_mut() = a.status;
        let h = resp.headers_mut();
        if json {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(a.cache));
        if a.cache == "no-store" {
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        if a.challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatewatch\", charset=\"UTF-8\""),
            );
        }
        if let Some(allow) = a.allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        LocalAnswer {
            response: resp,
            outcome: a.outcome,
            error: a.error,
        }
    }
}
