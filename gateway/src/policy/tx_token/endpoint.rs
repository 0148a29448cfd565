//! `POST /.gatewatch/tx-token?api=<api id>`: a transaction token for the caller, who
//! authenticates as the API asks and must be allowed to call it (the authenticate and
//! authorize phases, not the limits: a token is not a call of the API). Answered on the proxy
//! port before routing, like the OAuth 2.0 endpoints, and recorded with `route` =
//! `/.gatewatch/tx-token`.
//!
//! `200 {"tx_token": "...", "expires_in": <ttl_secs>, "api_id": "..."}` (`Cache-Control:
//! no-store`); `405` for another method, `400 bad_request` without `api`, `404 unknown_api`
//! for an API that does not exist or takes no tokens, the access phases' refusals (401, 403)
//! as on the API.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use gatewatch_model::Outcome;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::token::Minter;
use crate::access::Access;
use crate::oauth::form::Form;
use crate::phase::filter::{LocalAnswer, LocalEndpoints};
use crate::phase::{authenticate, authorize, Answer, Ctx};
use crate::route::Router;

pub(crate) const PATH: &str = "/.gatewatch/tx-token";

/// The endpoint; holds what the access phases need and the router (swapped whole on
/// configuration changes, read per call).
pub(crate) struct Endpoint {
    minter: Minter,
    access: Arc<Access>,
    router: Arc<arc_swap::ArcSwap<Router>>,
}

impl Endpoint {
    pub fn new(
        minter: Minter,
        access: Arc<Access>,
        router: Arc<arc_swap::ArcSwap<Router>>,
    ) -> Endpoint {
        Endpoint {
            minter,
            access,
            router,
        }
    }

    async fn issue(
        &self,
        req: &Request<Incoming>,
        ctx: &mut Ctx,
    ) -> Result<Response<Bytes>, Answer> {
        if req.method() != Method::POST {
            return Err(Answer::new(
                StatusCode::METHOD_NOT_ALLOWED,
                Outcome::NoRoute,
                "method_not_allowed",
                "use POST",
            )
            .header(header::ALLOW, HeaderValue::from_static("POST")));
        }
        let bad = |told: String| {
            Answer::new(
                StatusCode::BAD_REQUEST,
                Outcome::RefusedBadRequest,
                "bad_request",
                told,
            )
        };
        let form = Form::parse(req.uri().query().unwrap_or("").as_bytes())
            .map_err(|e| bad(e.description))?;
        let Some(api) = form.get("api") else {
            return Err(bad("the query needs api=<api id>".into()));
        };
        let route = {
            let router = self.router.load();
            router
                .routes()
                .iter()
                .find(|r| r.api_id == api && r.policies.tx_token.is_some())
                .cloned()
        };
        let Some(route) = route else {
            return Err(Answer::new(
                StatusCode::NOT_FOUND,
                Outcome::NoRoute,
                "unknown_api",
                "no API with this id takes transaction tokens",
            ));
        };
        let ttl = route.policies.tx_token.as_ref().map_or(0, |t| t.ttl_secs);
        // The access phases read the API from the context; the record names the endpoint
        // (the route is taken out again below).
        ctx.route = Some(route.clone());
        let checked = self.check(req, ctx).await;
        ctx.route = None;
        checked?;
        let client = ctx.caller.client_id.as_deref().unwrap_or("");
        let expires = super::unix_now() + u64::from(ttl);
        let Some(token) = self.minter.issue(&route.api_id, client, expires) else {
            return Err(Answer::failure(
                crate::phase::Failure::Gateway,
                "a transaction token could not be made".into(),
            ));
        };
        let body = serde_json::json!({
            "tx_token": token,
            "expires_in": ttl,
            "api_id": route.api_id,
        });
        let mut response =
            Response::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    /// Authenticate and authorize as on the API (validation gives every API with `tx_token` an
    /// `auth`; one without would have nothing to check).
    async fn check(&self, req: &Request<Incoming>, ctx: &mut Ctx) -> Result<(), Answer> {
        let Some(route) = ctx.route.clone() else {
            return Ok(());
        };
        if route.spec.auth.is_empty() {
            return Ok(());
        }
        let access = &*self.access;
        let table = access.table.load_full();
        let now = access.clock.now();
        authenticate::authenticate(access, &table, now, &route.spec.auth, req.headers(), ctx)
            .await?;
        authorize::authorize(access, &table, now, req.headers(), ctx)?;
        Ok(())
    }
}

impl LocalEndpoints for Endpoint {
    fn serves(&self, path: &str) -> Option<&'static str> {
        (path == PATH).then_some(PATH)
    }

    fn answer<'a>(
        &'a self,
        req: Request<Incoming>,
        ctx: &'a mut Ctx,
    ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>> {
        Box::pin(async move {
            match self.issue(&req, ctx).await {
                Ok(response) => LocalAnswer {
                    response,
                    outcome: Outcome::Ok,
                    error: String::new(),
                },
                Err(a) => refused(a),
            }
        })
    }
}

/// The gateway's JSON error, as [`crate::phase::response::answer`] makes it.
fn refused(a: Answer) -> LocalAnswer {
    let told = serde_json::json!({ "error": { "code": a.code, "message": &a.told } });
    let mut response = Response::new(Bytes::from(serde_json::to_vec(&told).unwrap_or_default()));
    *response.status_mut() = a.status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in a.headers {
        h.append(name, value);
    }
    let detail = a.detail.as_deref().unwrap_or(&a.told);
    LocalAnswer {
        response,
        outcome: a.outcome,
        error: format!("{}: {detail}", a.code),
    }
}
