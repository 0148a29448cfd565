//! Routing: which API answers a request (path pattern and method), the choice of its upstream,
//! and the rewrite of the request target.
//!
//! A [`Router`] is built whole from API entities ([`Api`]: the file's `[[routes]]` as
//! `{prefix}/**` patterns, then the configuration log's APIs) and never changed after; a new
//! configuration builds a new router, and swapping it in drops the old one and stops its
//! health checks. Precedence between patterns is the matcher's (see [`matcher`]); among
//! routes of equal specificity, one that can match the same path with a common method as an
//! earlier one is refused (file routes come first, so they win), and the rest are ordered by
//! their pattern text, so the order never depends on the order of the log.
//!
//! Lookup: routes are indexed by their first literal segment (plus a list of those starting
//! with a wildcard), so a request compares against the few routes that share its first
//! segment, in precedence order. The first route whose pattern and methods match answers;
//! when some route matches the path but none the method, the answer is 405 with `Allow`.

mod matcher;
pub(crate) mod version;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use gatewatch_model::api::{PassiveEjection, PathPattern};
use gatewatch_model::ApiSpec;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Uri};
use tracing::warn;

use crate::error::{Error, Result};
use crate::upstream::health::{Checks, Probe};
use crate::upstream::lb::Balancer;
use crate::upstream::tls::ApiTls;
use crate::upstream::{self, now_ms, Clients, Upstream};
use serde::Deserialize;

/// One API to route, with where it came from for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    /// The API id written into records (the entity id, or the file route's `api_id`).
    pub id: String,
    pub spec: Arc<ApiSpec>,
    /// Prefix of the field names in errors: `routes[2]` for the file's, empty for the log's.
    pub origin: String,
    /// The `api_family` entity named by `spec.family`, when it exists (see [`version`]).
    pub family: Option<Arc<gatewatch_model::version::ApiFamilySpec>>,
}

impl Api {
    fn field(&self, f: &str) -> String {
        if self.origin.is_empty() {
            f.to_string()
        } else {
            format!("{}.{f}", self.origin)
        }
    }
}

/// One routed API.
#[derive(Debug)]
pub(crate) struct Route {
    pub api_id: String,
    pub api_name: String,
    /// The record's `route` field: the pattern as text, e.g. `/orders/{id}` or `/demo/**`.
    pub pattern: String,
    /// The API entity this route serves (defaults for file routes): auth, capture, masking.
    pub spec: Arc<ApiSpec>,
    matcher: PathPattern,
    rank: matcher::Specificity,
    /// What `strip_prefix` removes (the pattern's literal prefix), when set.
    strip: Option<String>,
    /// Methods answered; empty: all.
    methods: Vec<Method>,
    pub upstreams: Vec<Upstream>,
    balancer: Balancer,
    /// Time allowed for the response head per attempt (`None`: the gateway's).
    pub timeout: Option<Duration>,
    /// Extra attempts for idempotent methods failing before a response head.
    pub retries: u8,
    passive: Option<PassiveEjection>,
    /// The API's request policies, compiled (see [`crate::policy`]).
    pub policies: crate::policy::RoutePolicies,
    /// The API's calls and latencies on `/metrics`, handed on to the route of the same API in
    /// the next configuration (so a reload does not reset them).
    pub series: Arc<crate::metrics::ApiSeries>,
    /// Index in the router's `families` of the family this route is a version of.
    pub family: Option<u32>,
    /// In the lookup index: every route but the versions a family's head stands for.
    indexed: bool,
    /// Headers every answer carries when the API is a deprecated version, made once here
    /// (see [`version::deprecation_headers`]).
    pub deprecation: Vec<(http::HeaderName, HeaderValue)>,
}

impl Route {
    /// The upstream for the next attempt: by the API's policy among healthy upstreams this call
    /// has not `tried`; failing that among the untried, then the healthy, then all (fail open,
    /// see [`crate::upstream`]).
    pub fn pick(&self, tried: &[usize]) -> usize {
        let now = now_ms();
        let untried = |i: usize| !tried.contains(&i);
        let healthy = |i: usize| self.upstreams[i].state.healthy(now);
        let n = self.upstreams.len();
        // Settle the tier first: each pick moves the balancer's state, so pick once.
        let both = |i: usize| untried(i) && healthy(i);
        let tiers: [&dyn Fn(usize) -> bool; 3] = [&both, &untried, &healthy];
        let tier = tiers.into_iter().find(|t| (0..n).any(t));
        match tier {
            Some(t) => self.balancer.pick(&self.upstreams, t),
            None => self.balancer.pick(&self.upstreams, |_| true),
        }
        .unwrap_or(0)
    }

    /// The outcome of one attempt at upstream `index`, for passive ejection.
    pub fn report(&self, index: usize, failed: bool) {
        let Some(u) = self.upstreams.get(index) else {
            return;
        };
        if u.state.report(failed, self.passive.as_ref(), now_ms()) {
            warn!(api = %self.api_id, upstream = %u.label, "upstream ejected after failures in a row");
        }
    }

    pub(crate) fn allows(&self, m: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(m)
    }

    /// `Allow` for this route alone (its methods; all when it lists none).
    pub(crate) fn allow_header(&self) -> HeaderValue {
        let list: Vec<&str> = if self.methods.is_empty() {
            ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].to_vec()
        } else {
            self.methods.iter().map(Method::as_str).collect()
        };
        HeaderValue::from_str(&list.join(", ")).unwrap_or(HeaderValue::from_static("GET"))
    }

    /// The request's target at the upstream, in origin form (`/path?query`, as HTTP/1.1 sends
    /// it; the upstream's address is its pool's): the path that was routed — `normalized`
    /// when [`crate::path::normalize`] changed the received one, or an API family's version
    /// segment was taken out — and the query as received, or `query` when set (an API
    /// family's version parameter taken out; empty: none).
    pub fn upstream_uri(
        &self,
        normalized: Option<&str>,
        query: Option<&str>,
        original: &Uri,
    ) -> Result<Uri, http::Error> {
        let path = normalized.unwrap_or(original.path());
        let q = match query {
            Some(q) => Some(q).filter(|q| !q.is_empty()),
            None => original.query(),
        };
        Ok(Uri::from(match (&self.strip, normalized, query) {
            (Some(prefix), _, _) => rebuild(path.get(prefix.len()..).unwrap_or(""), q)?,
            (None, Some(_), _) | (None, None, Some(_)) => rebuild(path, q)?,
            // Cheap: a reference-counted clone of the received target.
            (None, None, None) => original
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        }))
    }
}

/// `rest` (with a leading `/` added when missing) and `query`.
fn rebuild(rest: &str, query: Option<&str>) -> Result<PathAndQuery, http::Error> {
    let mut s = String::with_capacity(rest.len() + 2 + query.map_or(0, str::len));
    if !rest.starts_with('/') {
        s.push('/');
    }
    s.push_str(rest);
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    Ok(PathAndQuery::try_from(s)?)
}

/// The upstreams one call has tried, in order: at most 1 + 5 retries, kept inline so the hot
/// path does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Tried {
    list: [usize; 8],
    len: usize,
}

impl Tried {
    pub fn push(&mut self, i: usize) {
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = i;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[usize] {
        &self.list[..self.len]
    }
}

/// The result of a lookup.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    Found(&'a Arc<Route>),
    /// Some API has the path but not the method: 405 with `allow`; `route` is the most
    /// specific such API (for the record).
    WrongMethod {
        route: &'a Arc<Route>,
        allow: HeaderValue,
    },
    NotFound,
}

/// All routes of one configuration, most specific first.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Arc<Route>>,
    /// Positions in `routes` by first literal segment, ascending.
    by_first: HashMap<String, Vec<usize>>,
    /// Positions of the routes whose pattern starts with a wildcard or is `/`, ascending.
    other: Vec<usize>,
    /// The versioned routes (see [`version`]).
    pub(crate) families: Vec<version::Family>,
    /// The families that read the version from the path, longest literal prefix first.
    path_families: Vec<usize>,
    /// Health checks to start once this router is installed.
    probes: Vec<Probe>,
    checks: Checks,
}

impl Router {
    /// The file's routes alone, all or an error naming the field.
    #[cfg(test)]
    pub fn new(configs: &[RouteConfig]) -> Result<Router> {
        Router::with_clients(configs, &Clients::new(Duration::from_secs(3)))
    }

    /// Like [`Router::new`], with the gateway's clients.
    pub fn with_clients(configs: &[RouteConfig], clients: &Clients) -> Result<Router> {
        let (router, refused) = Router::build(file_apis(configs)?, clients, None);
        match refused.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(router),
        }
    }

    /// Builds a router from `apis`, earlier ones first in a clash; returns the APIs refused
    /// (with the error). State of upstreams unchanged since `previous` is kept.
    pub fn build(
        apis: Vec<Api>,
        clients: &Clients,
        previous: Option<&Router>,
    ) -> (Router, Vec<(Api, Error)>) {
        let mut routes: Vec<Route> = Vec::with_capacity(apis.len());
        let mut probes = Vec::new();
        let mut refused = Vec::new();
        // The versions of each family, gathered first: a family takes its place as a whole.
        let mut members: BTreeMap<String, Vec<(Api, Route, Vec<Probe>)>> = BTreeMap::new();
        for api in apis {
            if !api.spec.family.is_empty() {
                if api.family.is_none() {
                    let e = Error::config(
                        api.field("family"),
                        format!("there is no api_family '{}'", api.spec.family),
                    );
                    refused.push((api, e));
                    continue;
                }
                match compile(&api, clients, previous) {
                    Ok((route, p)) => members
                        .entry(api.spec.family.clone())
                        .or_default()
                        .push((api, route, p)),
                    Err(e) => refused.push((api, e)),
                }
                continue;
            }
            let built = compile(&api, clients, previous)
                .and_then(|(route, p)| no_clash(&api, &route, &routes).map(|()| (route, p)));
            match built {
                Ok((route, p)) => {
                    routes.push(route);
                    probes.extend(p);
                }
                Err(e) => refused.push((api, e)),
            }
        }
        let mut families = Vec::new();
        for (id, list) in members {
            let index = u32::try_from(families.len()).unwrap_or(u32::MAX);
            let family = version::assemble(id, index, list, &mut routes, &mut refused);
            if let Some((family, p)) = family {
                families.push(family);
                probes.extend(p);
            }
        }
        routes.sort_by(|a, b| {
            b.rank
                .cmp(&a.rank)
                .then_with(|| a.pattern.cmp(&b.pattern))
                .then_with(|| a.api_id.cmp(&b.api_id))
        });
        let mut by_first: HashMap<String, Vec<usize>> = HashMap::new();
        let mut other = Vec::new();
        for (i, r) in routes.iter().enumerate().filter(|(_, r)| r.indexed) {
            match matcher::first_literal(&r.matcher) {
                Some(l) => by_first.entry(l.to_string()).or_default().push(i),
                None => other.push(i),
            }
        }
        let routes: Vec<Arc<Route>> = routes.into_iter().map(Arc::new).collect();
        let families: Vec<version::Family> = families
            .into_iter()
            .map(|f| f.with_routes(&routes))
            .collect();
        let mut path_families: Vec<usize> = (0..families.len())
            .filter(|&i| families[i].spec.select.path)
            .collect();
        path_families.sort_by_key(|&i| std::cmp::Reverse(families[i].prefix.len()));
        let router = Router {
            routes,
            by_first,
            other,
            families,
            path_families,
            probes,
            checks: Checks::default(),
        };
        (router, refused)
    }

    /// The family whose versions `route` belongs to.
    pub fn family(&self, route: &Route) -> Option<&version::Family> {
        route.family.and_then(|i| self.families.get(i as usize))
    }

    /// The family whose version segment `path` carries (see [`version::Family::path_version`]),
    /// the segment and the path without it. Free when no family reads the path.
    pub fn path_version<'p>(&self, path: &'p str) -> Option<(&version::Family, &'p str, String)> {
        self.path_families.iter().find_map(|&i| {
            let f = &self.families[i];
            f.path_version(path).map(|(seg, rest)| (f, seg, rest))
        })
    }

    /// Starts the health checks of this generation (they stop when the router drops).
    pub fn start_checks(&mut self, clients: &Clients) {
        let probes = std::mem::take(&mut self.probes);
        if !probes.is_empty() {
            self.checks = Checks::start(probes, clients.health());
        }
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// The route for `method` and `path`; see the module doc.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let first = matcher::split(path).next().unwrap_or("");
        let indexed = self.by_first.get(first).map_or(&[][..], Vec::as_slice);
        let (mut a, mut b) = (indexed.iter().peekable(), self.other.iter().peekable());
        let mut path_only: Option<usize> = None;
        // Merge the two ascending lists: precedence order.
        loop {
            let i = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            let Some(&i) = i else { break };
            let r = &self.routes[i];
            if !matcher::matches(&r.matcher, path) {
                continue;
            }
            // A family's head stands for versions whose methods may differ: the version
            // chosen in the early filter answers 405 itself.
            if r.allows(method) || r.family.is_some() {
                return Lookup::Found(r);
            }
            path_only.get_or_insert(i);
        }
        match path_only {
            Some(i) => Lookup::WrongMethod {
                route: &self.routes[i],
                allow: self.allow(path),
            },
            None => Lookup::NotFound,
        }
    }

    /// `Allow` for a path: the methods of every route that matches it, in a fixed order.
    fn allow(&self, path: &str) -> HeaderValue {
        const ORDER: [Method; 9] = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
            Method::TRACE,
            Method::CONNECT,
        ];
        let matching: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.indexed && matcher::matches(&r.matcher, path))
            .map(|r| &**r)
            .collect();
        let list: Vec<&str> = ORDER
            .iter()
            .filter(|m| matching.iter().any(|r| r.methods.contains(m)))
            .map(Method::as_str)
            .collect();
        HeaderValue::from_str(&list.join(", ")).unwrap_or(HeaderValue::from_static(""))
    }

    /// The route for `path` with GET (tests).
    #[cfg(test)]
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        match self.lookup(&Method::GET, path) {
            Lookup::Found(r) => Some(r),
            _ => None,
        }
    }

    /// Health checks running for this generation.
    #[cfg(test)]
    pub fn checks_running(&self) -> usize {
        self.checks.len()
    }
}

/// `route` of `api` clashes with none of `routes` (else the error, naming the field).
fn no_clash(api: &Api, route: &Route, routes: &[Route]) -> Result<()> {
    match routes.iter().find(|r| clash(r, route)) {
        Some(other) => Err(Error::config(
            api.field(if api.spec.path.is_some() {
                "path"
            } else {
                "prefix"
            }),
            format!(
                "'{}' is as specific as '{}' of API '{}' and can match the same calls",
                route.pattern, other.pattern, other.api_id
            ),
        )),
        None => Ok(()),
    }
}

/// Two routes of equal specificity that some call could match both. A family's head takes
/// every method (its versions may differ), so it clashes whatever the methods.
fn clash(a: &Route, b: &Route) -> bool {
    a.indexed
        && b.indexed
        && a.rank == b.rank
        && matcher::overlap(&a.matcher.segments, &b.matcher.segments)
        && (a.methods.is_empty()
            || b.methods.is_empty()
            || a.family.is_some()
            || b.family.is_some()
            || a.methods.iter().any(|m| b.methods.contains(m)))
}

/// Checks one API the way the gateway will run it; errors name the field.
fn compile(api: &Api, clients: &Clients, previous: Option<&Router>) -> Result<(Route, Vec<Probe>)> {
    let spec = &api.spec;
    let pattern = spec
        .pattern()
        .map_err(|e| Error::config(api.field(&e.field), e.message))?;
    normal_literals(&pattern).map_err(|m| {
        Error::config(
            api.field(if spec.path.is_some() {
                "path"
            } else {
                "prefix"
            }),
            m,
        )
    })?;
    let methods = spec
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Method::from_bytes(m.as_bytes()).map_err(|_| {
                Error::config(
                    api.field(&format!("methods[{i}]")),
                    format!("'{m}' is not a method"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if spec.upstreams.is_empty() {
        return Err(Error::config(api.field("upstreams"), "must not be empty"));
    }
    let before = previous
        .and_then(|p| p.routes.iter().find(|r| r.api_id == api.id))
        .filter(|r| r.spec.health_check == spec.health_check && r.spec.passive == spec.passive);
    let connect = clients.connect_timeout(spec.connect_timeout_ms.map(Duration::from_millis));
    let previous_route = previous.and_then(|p| p.routes.iter().find(|r| r.api_id == api.id));
    // TLS material is read here, once per configuration, for an API with https upstreams.
    let tls = if spec.upstreams.iter().any(|u| u.url.starts_with("https://")) {
        Some(
            ApiTls::load(&api.id, spec.upstream_tls.as_deref(), clients.trust()).map_err(
                |(field, m)| Error::config(api.field(&format!("upstream_tls.{field}")), m),
            )?,
        )
    } else {
        None
    };
    let mut upstreams = Vec::with_capacity(spec.upstreams.len());
    let mut probes = Vec::new();
    for (k, u) in spec.upstreams.iter().enumerate() {
        let mut up = upstream::parse(&u.url, u32::from(u.weight), connect, tls.as_ref())
            .map_err(|m| Error::config(api.field(&format!("upstreams[{k}]")), m))?;
        if let Some(kept) = before.and_then(|r| r.upstreams.iter().find(|o| o.label == up.label)) {
            up.state = kept.state.clone();
        }
        // Kept connections survive a reload that leaves the upstream, its connect timeout and
        // its TLS material.
        if let Some(kept) = previous_route.and_then(|r| {
            r.upstreams.iter().find(|o| {
                o.label == up.label
                    && o.pool.connect_timeout() == connect
                    && o.pool.tls_digest() == up.pool.tls_digest()
            })
        }) {
            up.pool = kept.pool.clone();
        }
        if let Some(check) = &spec.health_check {
            let uri = format!("{}{}", up.label, check.path)
                .parse()
                .map_err(|e| Error::config(api.field("health_check.path"), format!("{e}")))?;
            probes.push(Probe {
                api_id: api.id.clone(),
                label: up.label.clone(),
                uri,
                host_header: up.host_header.clone(),
                check: check.clone(),
                state: up.state.clone(),
                tls_pool: up.pool.tls_digest().map(|_| up.pool.clone()),
            });
        }
        upstreams.push(up);
    }
    let strip = spec.strip_prefix.then(|| pattern.literal_prefix());
    Ok((
        Route {
            api_id: api.id.clone(),
            api_name: spec.name.clone(),
            pattern: matcher::render(&pattern),
            rank: matcher::specificity(&pattern),
            matcher: pattern,
            strip,
            methods,
            balancer: Balancer::new(spec.lb, upstreams.len()),
            upstreams,
            timeout: spec.timeout_ms.map(Duration::from_millis),
            retries: spec.retries,
            passive: spec.passive.clone(),
            policies: crate::policy::RoutePolicies::compile(spec),
            series: previous_route.map_or_else(Arc::default, |r| r.series.clone()),
            family: None,
            indexed: true,
            deprecation: spec
                .deprecation
                .as_deref()
                .map(version::deprecation_headers)
                .unwrap_or_default(),
            spec: spec.clone(),
        },
        probes,
    ))
}

/// Requests are routed by their normalized path (see [`crate::path`]), so a literal segment
/// that is not in that form could never match: `%41`, `%2f`, `.`, `..` are refused, naming
/// the spelling that would.
fn normal_literals(pattern: &PathPattern) -> std::result::Result<(), String> {
    for seg in &pattern.segments {
        let gatewatch_model::api::Segment::Literal(l) = seg else {
            continue;
        };
        if l == "." || l == ".." {
            return Err(format!(
                "segment '{l}' is a dot segment; requests never hold one"
            ));
        }
        match crate::path::normalize(&format!("/{l}")) {
            Ok(None) => {}
            Ok(Some(n)) => {
                return Err(format!(
                    "segment '{l}' is not in normal form; requests are routed as '{}'",
                    n.trim_start_matches('/')
                ))
            }
            Err(e) => return Err(format!("segment '{l}': {e}")),
        }
    }
    Ok(())
}

/// The file's `[[routes]]` as APIs: `{prefix}/**`, named after `api_id`/`api_name` or the
/// prefix. Errors name the field (`routes[1].prefix`).
pub(crate) fn file_apis(configs: &[RouteConfig]) -> Result<Vec<Api>> {
    let mut apis = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let field = |f: &str| format!("routes[{i}].{f}");
        let prefix = normalise_prefix(&c.prefix).map_err(|m| Error::config(field("prefix"), m))?;
        if let Some(j) = configs[..i]
            .iter()
            .position(|o| normalise_prefix(&o.prefix).ok().as_deref() == Some(&prefix))
        {
            return Err(Error::config(
                field("prefix"),
                format!("'{prefix}' is already the prefix of routes[{j}]"),
            ));
        }
        if c.upstreams.is_empty() {
            return Err(Error::config(field("upstreams"), "must not be empty"));
        }
        let or_prefix = |s: &str| {
            if s.is_empty() {
                prefix.clone()
            } else {
                s.to_string()
            }
        };
        let spec = c.spec.clone().unwrap_or_else(|| {
            let mut s = ApiSpec::prefixed(&or_prefix(&c.api_name), &prefix, &[]);
            s.upstreams = c
                .upstreams
                .iter()
                .map(|u| gatewatch_model::Upstream::new(u.as_str()))
                .collect();
            s.strip_prefix = c.strip_prefix;
            Arc::new(s)
        });
        apis.push(Api {
            id: or_prefix(&c.api_id),
            spec,
            origin: format!("routes[{i}]"),
            family: None,
        });
    }
    Ok(apis)
}

pub(crate) fn normalise_prefix(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err(format!("'{p}' must start with '/'"));
    }
    if p.contains(['?', '#']) || p.chars().any(char::is_whitespace) {
        return Err(format!(
            "'{p}' must be a plain path (no query, fragment or spaces)"
        ));
    }
    let trimmed = p.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

/// One API: requests whose path starts with `prefix` (at a `/` boundary) go to `upstreams`.
///
/// Deserializes from a `[[routes]]` table of `gatewatch.toml`; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix, e.g. `/demo`; `/demo` matches `/demo` and `/demo/x`, not `/demox`.
    pub prefix: String,
    /// Upstream base URLs, `http://host:port`, used in turn (round robin), a failed connect
    /// tried once on the next.
    pub upstreams: Vec<String>,
    /// Remove the prefix before forwarding (`/demo/x` → `/x`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// API id written into records; empty means the prefix.
    #[serde(default)]
    pub api_id: String,
    /// API display name written into records; empty means the prefix.
    #[serde(default)]
    pub api_name: String,
    /// A whole API entity to serve instead of the defaults of a public, prefix-routed,
    /// round-robin API (load balancing, health checks, timeouts, auth, capture…); its own
    /// `prefix`/`path` and `upstreams` are then what is routed. `None` for the file's routes.
    #[serde(skip)]
    pub spec: Option<std::sync::Arc<gatewatch_model::ApiSpec>>,
}

impl RouteConfig {
    /// A route that keeps the prefix and is named after it.
    pub fn new(
        prefix: impl Into<String>,
        upstreams: impl IntoIterator<Item = impl Into<String>>,
    ) -> RouteConfig {
        let prefix = prefix.into();
        RouteConfig {
            api_id: prefix.clone(),
            api_name: prefix.clone(),
            prefix,
            upstreams: upstreams.into_iter().map(Into::into).collect(),
            strip_prefix: false,
            spec: None,
        }
    }

    /// The same route with `strip_prefix` set.
    pub fn strip_prefix(mut self, strip: bool) -> RouteConfig {
        self.strip_prefix = strip;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, bool)]) -> Router {
        let configs: Vec<RouteConfig> = routes
            .iter()
            .map(|(p, s)| RouteConfig::new(*p, ["http://127.0.0.1:9000"]).strip_prefix(*s))
            .collect();
        Router::new(&configs).unwrap()
    }

    /// An API of the log routed by `path`, answering `methods`.
    fn api(id: &str, path: &str, methods: &[&str]) -> Api {
        let mut spec = ApiSpec::prefixed(id, "/", &["http://127.0.0.1:9000"]);
        spec.prefix = None;
        spec.path = Some(path.into());
        spec.methods = methods.iter().map(|m| m.to_string()).collect();
        Api {
            id: id.into(),
            spec: Arc::new(spec),
            origin: String::new(),
            family: None,
        }
    }

    fn build(apis: Vec<Api>) -> (Router, Vec<String>) {
        let (r, refused) = Router::build(apis, &Clients::new(Duration::from_secs(1)), None);
        (
            r,
            refused
                .into_iter()
                .map(|(a, e)| format!("{}: {e}", a.id))
                .collect(),
        )
    }

    fn found(r: &Router, method: &str, path: &str) -> String {
        match r.lookup(&Method::from_bytes(method.as_bytes()).unwrap(), path) {
            Lookup::Found(r) => r.api_id.clone(),
            Lookup::WrongMethod { route, allow } => {
                format!("405 {} [{}]", route.api_id, allow.to_str().unwrap())
            }
            Lookup::NotFound => "404".into(),
        }
    }

    #[test]
    fn an_apis_metric_series_outlive_a_reload_and_a_new_api_starts_its_own() {
        let clients = Clients::new(Duration::from_secs(1));
        let (first, _) = Router::build(vec![api("orders", "/orders", &[])], &clients, None);
        let series = first.routes()[0].series.clone();
        series.observe(gatewatch_model::Outcome::Ok, 200, 1_000, Some(900));
        let (next, refused) = Router::build(
            vec![
                api("orders", "/orders/{id}", &[]),
                api("users", "/users", &[]),
            ],
            &clients,
            Some(&first),
        );
        assert!(refused.is_empty(), "{refused:?}");
        let of = |id: &str| {
            next.routes()
                .iter()
                .find(|r| r.api_id == id)
                .unwrap()
                .series
                .clone()
        };
        assert!(Arc::ptr_eq(&of("orders"), &series));
        assert_eq!(of("orders").calls(gatewatch_model::Outcome::Ok, 200), 1);
        assert_eq!(of("users").calls(gatewatch_model::Outcome::Ok, 200), 0);
    }

    #[test]
    fn longest_prefix_wins_at_segment_boundaries() {
        let r = router(&[("/", false), ("/api", false), ("/api/v2/", false)]);
        let found = |p: &str| r.find(p).map(|r| r.pattern.as_str());
        assert_eq!(found("/api/v2/x"), Some("/api/v2/**"));
        assert_eq!(found("/api/v2"), Some("/api/v2/**"));
        assert_eq!(found("/api/v20"), Some("/api/**"));
        assert_eq!(found("/apix"), Some("/**"));
        assert_eq!(found("/"), Some("/**"));
        let r = router(&[("/api", false)]);
        assert!(r.find("/apix").is_none());
        assert!(r.find("/").is_none());
    }

    #[test]
    fn the_most_specific_pattern_wins_whatever_the_order_of_the_apis() {
        let apis = || {
            vec![
                api("all", "/**", &[]),
                api("orders", "/orders/**", &[]),
                api("order", "/orders/{id}", &[]),
                api("items", "/orders/{id}/items", &[]),
                api("special", "/orders/special", &[]),
                api("any-x", "/*/x", &[]),
                api("v2", "/v2/{a}/{b}", &[]),
            ]
        };
        for reverse in [false, true] {
            let mut list = apis();
            if reverse {
                list.reverse();
            }
            let (r, refused) = build(list);
            assert!(refused.is_empty(), "{refused:?}");
            for (path, want) in [
                ("/orders/7", "order"),
                ("/orders/special", "special"),
                ("/orders/7/items", "items"),
                ("/orders/7/items/1", "orders"),
                ("/orders", "orders"),
                ("/orders/x", "order"),
                ("/a/x", "any-x"),
                ("/orders/x", "order"),
                ("/orders/x/x", "orders"),
                ("/v2/a/b", "v2"),
                ("/v2/a", "all"),
                ("/", "all"),
            ] {
                assert_eq!(found(&r, "GET", path), want, "{path} (reversed: {reverse})");
            }
        }
    }

    #[test]
    fn a_path_known_only_for_other_methods_gets_405_with_allow() {
        let (r, refused) = build(vec![
            api("read", "/orders/{id}", &["GET", "HEAD"]),
            api("write", "/orders/{id}", &["PUT", "DELETE"]),
            api("create", "/orders", &["POST"]),
            api("fallback", "/things/**", &[]),
            api("thing", "/things/{id}", &["GET"]),
        ]);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(found(&r, "GET", "/orders/7"), "read");
        assert_eq!(found(&r, "DELETE", "/orders/7"), "write");
        assert_eq!(
            found(&r, "POST", "/orders/7"),
            "405 read [GET, HEAD, PUT, DELETE]"
        );
        assert_eq!(found(&r, "GET", "/orders"), "405 create [POST]");
        assert_eq!(found(&r, "GET", "/orders/7/x"), "404");
        // A less specific API that takes the method answers before any 405.
        assert_eq!(found(&r, "GET", "/things/1"), "thing");
        assert_eq!(found(&r, "POST", "/things/1"), "fallback");
    }

    #[test]
    fn equally_specific_overlapping_apis_are_refused_but_disjoint_methods_are_not() {
        let (r, refused) = build(vec![
            api("a", "/x/{id}", &["GET"]),
            api("b", "/x/*", &["GET", "POST"]),
            api("c", "/x/{n}", &["DELETE"]),
            api("d", "/{a}/y", &[]),
            api("e", "/x/{b}", &[]),
            api("f", "/x/{b}", &["PATCH"]),
        ]);
        assert_eq!(
            refused,
            [
                "b: invalid gateway configuration: 'path' '/x/*' is as specific as '/x/{id}' of API 'a' and can match the same calls",
                "e: invalid gateway configuration: 'path' '/x/{b}' is as specific as '/x/{id}' of API 'a' and can match the same calls",
            ]
        );
        assert_eq!(found(&r, "DELETE", "/x/1"), "c");
        assert_eq!(found(&r, "PATCH", "/x/1"), "f");
        // Equal counts: the literal further left wins.
        assert_eq!(found(&r, "GET", "/x/y"), "a");
        assert_eq!(found(&r, "PUT", "/x/y"), "d");
        assert_eq!(found(&r, "GET", "/z/y"), "d");
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash_and_the_query() {
        let cases = [
            ("/demo", "/demo/a/b?x=1&y=2", "/a/b?x=1&y=2"),
            ("/demo", "/demo", "/"),
            ("/demo", "/demo?q", "/?q"),
            ("/", "/a?b", "/a?b"),
        ];
        for (prefix, target, want) in cases {
            let r = router(&[(prefix, true)]);
            let route = r.find(Uri::try_from(target).unwrap().path()).unwrap();
            let uri = route
                .upstream_uri(None, None, &target.parse().unwrap())
                .unwrap();
            assert_eq!(uri.to_string(), want, "{target}");
        }
        let r = router(&[("/demo", false)]);
        let route = r.find("/demo/a").unwrap();
        let uri = route
            .upstream_uri(None, None, &"/demo/a?z".parse().unwrap())
            .unwrap();
        assert_eq!(uri.to_string(), "/demo/a?z");
    }

    #[test]
    fn strip_prefix_of_a_path_pattern_removes_its_literal_part() {
        let mut a = api("o", "/shop/orders/{id}/**", &[]);
        Arc::make_mut(&mut a.spec).strip_prefix = true;
        let (r, _) = build(vec![a]);
        let route = r.find("/shop/orders/7/lines").unwrap();
        let uri = route
            .upstream_uri(None, None, &"/shop/orders/7/lines?x".parse().unwrap())
            .unwrap();
        assert_eq!(uri.to_string(), "/7/lines?x");
        assert_eq!(route.pattern, "/shop/orders/{id}/**");
    }

    #[test]
    fn the_normalized_path_is_forwarded_with_the_query_as_received() {
        let cases = [
            (
                false,
                "/demo/%2e%2e/demo/a?x=%2e%2e",
                "/demo/a",
                "/demo/a?x=%2e%2e",
            ),
            (
                true,
                "/demo/%2e%2e/demo/a?x=%2e%2e",
                "/demo/a",
                "/a?x=%2e%2e",
            ),
            (true, "/demo//a/./b", "/demo/a/b", "/a/b"),
            (true, "/demo/x/..", "/demo/", "/"),
        ];
        for (strip, target, normal, want) in cases {
            let r = router(&[("/demo", strip)]);
            let original: Uri = target.parse().unwrap();
            let n = crate::path::normalize(original.path()).unwrap();
            assert_eq!(n.as_deref(), Some(normal), "{target}");
            let route = r.find(normal).unwrap();
            let uri = route.upstream_uri(n.as_deref(), None, &original).unwrap();
            assert_eq!(uri.to_string(), want, "{target}");
        }
    }

    #[test]
    fn pattern_literals_must_be_in_normal_form() {
        let (_, refused) = build(vec![
            api("a", "/x/%41/{id}", &[]),
            api("b", "/x/./y", &[]),
            api("c", "/x/a%2fb", &[]),
            api("d", "/x/caf%c3%a9", &[]),
            api("e", "/x/caf%C3%A9/v1.0;v=2", &[]),
        ]);
        assert_eq!(
            refused,
            [
                "a: invalid gateway configuration: 'path' segment '%41' is not in normal form; requests are routed as 'A'",
                "b: invalid gateway configuration: 'path' segment '.' is a dot segment; requests never hold one",
                "c: invalid gateway configuration: 'path' segment 'a%2fb': an encoded '/' (%2F) is not allowed in the path",
                "d: invalid gateway configuration: 'path' segment 'caf%c3%a9' is not in normal form; requests are routed as 'caf%C3%A9'",
            ]
        );
    }

    /// nginx's reading of a path (`ngx_http_parse_complex_uri` with `merge_slashes on`): every
    /// escape decoded once (`%00` and bad escapes refused), then `//` merged and dot segments
    /// removed, `..` above the root refused. `None`: nginx answers 400.
    fn nginx_path(path: &str) -> Option<String> {
        let b = path.as_bytes();
        let mut decoded = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                let v = u8::from_str_radix(h, 16).ok()?;
                if v == 0 {
                    return None;
                }
                decoded.push(v);
                i += 3;
            } else {
                decoded.push(b[i]);
                i += 1;
            }
        }
        let text = String::from_utf8_lossy(&decoded).into_owned();
        let mut out: Vec<&str> = Vec::new();
        let mut trailing = false;
        for seg in text.split('/').skip(1) {
            trailing = true;
            match seg {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                s => {
                    out.push(s);
                    trailing = false;
                }
            }
        }
        let mut p = format!("/{}", out.join("/"));
        if trailing && !out.is_empty() {
            p.push('/');
        }
        Some(p)
    }

    #[test]
    fn the_nginx_reference_reads_paths_as_nginx_does() {
        for (p, want) in [
            ("/public/..%2fadmin/x", Some("/admin/x")),
            ("/public//../admin", Some("/admin")),
            ("/a/%2e%2e/b/", Some("/b/")),
            ("/a/..", Some("/")),
            ("/..", None),
            ("/a/%00", None),
            ("/a/%2", None),
            ("/public/%252e%252e/x", Some("/public/%2e%2e/x")),
            ("/public/..;/admin", Some("/public/..;/admin")),
        ] {
            assert_eq!(nginx_path(p).as_deref(), want, "{p}");
        }
    }

    /// Pieces of hostile paths: names, dot segments in every spelling, encoded separators,
    /// path parameters, double encoding.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "public", "admin", "users", "7", "..", ".", "%2e", "%2E", "%2e%2e", ".%2e", "%2E.",
            "%2f", "%2F", "%5c", "%5C", "\\", ";", "..;", ".;", "%3b", "%3B", "%25", "%252e",
            "%252f", "%41dmin", "%61dmin", "adm%69n", "a", "", "%00", "%c0%ae", "~", "%7e",
            "admin.", "x.", "%20", "%", "%z",
        ])
    }

    fn separator() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["/", "/", "/", "//", ""])
    }

    use proptest::prelude::*;

    /// A catch-all, a public and a keyed prefix, and path patterns under each.
    fn hostile_router() -> &'static Router {
        static R: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
        R.get_or_init(|| {
            let (r, refused) = build(vec![
                api("all", "/**", &[]),
                api("public", "/public/**", &[]),
                api("admin", "/admin/**", &[]),
                api("user", "/admin/users/{id}", &[]),
                api("pub-user", "/public/{x}/users", &[]),
            ]);
            assert!(refused.is_empty(), "{refused:?}");
            r
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The property behind item 1 of issue 13: whatever API the router gives a path to,
        /// the path it forwards, read the way nginx reads it, routes to that same API — so
        /// no spelling is checked as one API and served as another.
        #[test]
        fn a_routed_path_stays_under_its_api_as_nginx_reads_it(
            parts in prop::collection::vec((separator(), piece()), 1..9),
            query in prop::option::of("[a-z%2e./]{0,6}"),
        ) {
            let r = hostile_router();
            let mut raw = String::from("/");
            for (sep, p) in &parts {
                raw.push_str(sep);
                raw.push_str(p);
            }
            if let Some(q) = &query {
                raw.push('?');
                raw.push_str(q);
            }
            let Ok(original) = raw.parse::<Uri>() else {
                return Ok(());
            };
            let Ok(normalized) = crate::path::normalize(original.path()) else {
                return Ok(());
            };
            let path = normalized.as_deref().unwrap_or(original.path());
            let Some(route) = r.find(path) else {
                return Ok(());
            };
            let forwarded = route.upstream_uri(normalized.as_deref(), None, &original).unwrap();
            prop_assert_eq!(forwarded.query(), original.query());
            // Normal form is stable: normalizing again changes nothing.
            prop_assert_eq!(crate::path::normalize(forwarded.path()), Ok(None));
            if let Some(seen) = nginx_path(forwarded.path()) {
                let again = r.find(&seen).map(|x| x.api_id.as_str());
                prop_assert_eq!(
                    again,
                    Some(route.api_id.as_str()),
                    "{} routed to {} as {}, nginx reads {}",
                    raw, route.api_id, path, seen
                );
            }
        }

        #[test]
        fn normalizing_never_panics_and_is_stable(path in "/\\PC{0,40}") {
            if let Ok(n) = crate::path::normalize(&path) {
                let n = n.unwrap_or(path);
                prop_assert!(n.starts_with('/'));
                prop_assert_eq!(crate::path::normalize(&n), Ok(None));
            }
        }
    }

    #[test]
    fn round_robin_visits_each_upstream_in_turn() {
        let c = RouteConfig::new("/x", ["http://a:1", "http://b:2", "http://c:3"]);
        let r = Router::new(&[c]).unwrap();
        let route = r.find("/x").unwrap();
        let picks: Vec<usize> = (0..6).map(|_| route.pick(&[])).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        // A retry goes to one not tried yet.
        assert_eq!(route.pick(&[0]), 1);
        assert_eq!(route.pick(&[1, 2]), 0);
        assert_eq!(route.upstreams[1].label, "http://b:2");
        assert_eq!(route.upstreams[1].host_header, "b:2");
        assert_eq!(route.pattern, "/x/**");
        assert_eq!(route.api_id, "/x");
    }

    #[test]
    fn unhealthy_upstreams_are_skipped_and_all_unhealthy_fails_open() {
        let c = RouteConfig::new("/x", ["http://a:1", "http://b:2"]);
        let r = Router::new(&[c]).unwrap();
        let route = r.find("/x").unwrap();
        route.upstreams[0].state.set_down(true);
        assert!((0..4).all(|_| route.pick(&[]) == 1));
        route.upstreams[1].state.set_down(true);
        let mut picks: Vec<usize> = (0..4).map(|_| route.pick(&[])).collect();
        picks.sort_unstable();
        assert_eq!(picks, [0, 0, 1, 1]);
    }

    #[test]
    fn a_rebuild_keeps_the_state_of_unchanged_upstreams() {
        let clients = Clients::new(Duration::from_secs(1));
        let mk = |ups: &[&str]| {
            let mut s = ApiSpec::prefixed("x", "/x", ups);
            s.passive = Some(PassiveEjection {
                failures: 1,
                eject_ms: 60_000,
            });
            Api {
                id: "x".into(),
                spec: Arc::new(s),
                origin: String::new(),
                family: None,
            }
        };
        let (old, _) = Router::build(vec![mk(&["http://a:1", "http://b:2"])], &clients, None);
        old.routes[0].upstreams[0].state.set_down(true);
        let (new, _) = Router::build(
            vec![mk(&["http://b:2", "http://a:1"])],
            &clients,
            Some(&old),
        );
        let a = &new.routes[0].upstreams[1];
        assert_eq!(a.label, "http://a:1");
        assert!(Arc::ptr_eq(&a.state, &old.routes[0].upstreams[0].state));
        // Changed health settings start afresh.
        let mut changed = mk(&["http://a:1"]);
        Arc::make_mut(&mut changed.spec).passive = None;
        let (fresh, _) = Router::build(vec![changed], &clients, Some(&old));
        assert!(fresh.routes[0].upstreams[0].state.healthy(now_ms()));
        // Kept connections go with the upstream unless its connect timeout changes.
        let pool = |r: &Router, i: usize| r.routes[0].upstreams[i].pool.clone();
        assert!(Arc::ptr_eq(&pool(&new, 1), &pool(&old, 0)));
        assert!(Arc::ptr_eq(&pool(&fresh, 0), &pool(&old, 0)));
        let mut slower = mk(&["http://a:1"]);
        Arc::make_mut(&mut slower.spec).connect_timeout_ms = Some(250);
        let (slower, _) = Router::build(vec![slower], &clients, Some(&old));
        assert!(!Arc::ptr_eq(&pool(&slower, 0), &pool(&old, 0)));
        assert_eq!(
            pool(&slower, 0).connect_timeout(),
            Duration::from_millis(250)
        );
    }

    /// TLS material is read at each build; a pool is kept only while what it connects with
    /// is unchanged (the settings and the files' contents).
    #[test]
    fn a_rebuild_keeps_https_pools_only_while_their_tls_material_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        let new_ca = || {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.self_signed(&rcgen::KeyPair::generate().unwrap())
                .unwrap()
                .pem()
        };
        std::fs::write(&ca_file, new_ca()).unwrap();
        let clients = Clients::new(Duration::from_secs(1));
        let mk = |server_name: Option<&str>| {
            let mut s = ApiSpec::prefixed("x", "/x", &["https://a:8443"]);
            s.upstream_tls = Some(Box::new(gatewatch_model::api::UpstreamTls {
                ca_file: Some(ca_file.to_string_lossy().into_owned()),
                server_name: server_name.map(str::to_string),
                cert_file: None,
                key_file: None,
                verify: true,
            }));
            Api {
                id: "x".into(),
                spec: Arc::new(s),
                origin: String::new(),
                family: None,
            }
        };
        let pool = |r: &Router| r.routes[0].upstreams[0].pool.clone();
        let (old, refused) = Router::build(vec![mk(None)], &clients, None);
        assert!(refused.is_empty());
        assert_eq!(old.routes[0].upstreams[0].label, "https://a:8443");
        let (same, _) = Router::build(vec![mk(None)], &clients, Some(&old));
        assert!(Arc::ptr_eq(&pool(&same), &pool(&old)));
        let (renamed, _) = Router::build(vec![mk(Some("b.internal"))], &clients, Some(&same));
        assert!(!Arc::ptr_eq(&pool(&renamed), &pool(&same)));
        std::fs::write(&ca_file, new_ca()).unwrap();
        let (new_ca_pool, _) =
            Router::build(vec![mk(Some("b.internal"))], &clients, Some(&renamed));
        assert!(!Arc::ptr_eq(&pool(&new_ca_pool), &pool(&renamed)));
        // A file gone at a reload: that API is refused, naming the field.
        std::fs::remove_file(&ca_file).unwrap();
        let (_, refused) = Router::build(vec![mk(None)], &clients, Some(&new_ca_pool));
        let e = refused[0].1.to_string();
        assert!(e.contains("'upstream_tls.ca_file' cannot read"), "{e}");
    }

    #[test]
    fn bad_routes_are_named() {
        let err = |c: Vec<RouteConfig>| Router::new(&c).unwrap_err().to_string();
        assert_eq!(
            err(vec![RouteConfig::new("demo", ["http://a:1"])]),
            "invalid gateway configuration: 'routes[0].prefix' 'demo' must start with '/'"
        );
        assert_eq!(
            err(vec![
                RouteConfig::new("/a", ["http://a:1"]),
                RouteConfig::new("/b", Vec::<String>::new())
            ]),
            "invalid gateway configuration: 'routes[1].upstreams' must not be empty"
        );
        assert_eq!(
            err(vec![RouteConfig::new("/a", ["http://a:1", "ftp://b:2"])]),
            "invalid gateway configuration: 'routes[0].upstreams[1]' 'ftp://b:2' must start with http:// or https://"
        );
        assert_eq!(
            err(vec![RouteConfig::new("/a", ["http://a:1/base"])]),
            "invalid gateway configuration: 'routes[0].upstreams[0]' 'http://a:1/base' must not have a path or query (use the route's prefix)"
        );
        assert_eq!(
            err(vec![
                RouteConfig::new("/a/", ["http://a:1"]),
                RouteConfig::new("/a", ["http://a:1"])
            ]),
            "invalid gateway configuration: 'routes[1].prefix' '/a' is already the prefix of routes[0]"
        );
        assert_eq!(
            err(vec![RouteConfig::new("/a/{x}", ["http://a:1"])]),
            "invalid gateway configuration: 'routes[0].prefix' \"/a/{x}\" may not hold wildcards; use `path`"
        );
    }

    #[tokio::test]
    async fn health_checks_take_an_upstream_out_and_stop_with_their_router() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A health endpoint that counts probes and answers 503 once `fail` is set.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let probes = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, f) = (probes.clone(), fail.clone());
        let server = tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                p.fetch_add(1, Ordering::SeqCst);
                let status = if f.load(Ordering::SeqCst) {
                    "503 No"
                } else {
                    "200 OK"
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let mut spec = ApiSpec::prefixed("h", "/h", &[&format!("http://{addr}")]);
        spec.health_check = Some(gatewatch_model::api::HealthCheck {
            path: "/health".into(),
            interval_ms: 100,
            timeout_ms: 100,
            healthy_threshold: 1,
            unhealthy_threshold: 2,
        });
        let clients = Clients::new(Duration::from_secs(1));
        let apis = vec![Api {
            id: "h".into(),
            spec: Arc::new(spec),
            origin: String::new(),
            family: None,
        }];
        let (mut router, _) = Router::build(apis, &clients, None);
        router.start_checks(&clients);
        assert_eq!(router.checks_running(), 1);
        let state = router.routes[0].upstreams[0].state.clone();
        fail.store(true, Ordering::SeqCst);
        for _ in 0..100 {
            if !state.healthy(now_ms()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!state.healthy(now_ms()), "never taken out");
        fail.store(false, Ordering::SeqCst);
        for _ in 0..100 {
            if state.healthy(now_ms()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(state.healthy(now_ms()), "never back");
        drop(router);
        // Let an aborted probe in progress finish its connection, then no more come.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let after = probes.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            probes.load(Ordering::SeqCst),
            after,
            "checks outlived their router"
        );
        server.abort();
    }

    /// Not a test of behaviour: prints the cost of a lookup among many routes (run with
    /// `--ignored --nocapture`; build with `--release` for real figures).
    #[test]
    #[ignore = "micro benchmark"]
    fn lookup_cost() {
        let mut apis = Vec::new();
        for i in 0..500 {
            apis.push(api(
                &format!("a{i}"),
                &format!("/svc{i}/orders/{{id}}"),
                &[],
            ));
            apis.push(api(&format!("b{i}"), &format!("/svc{i}/**"), &[]));
        }
        apis.push(api("catch", "/{x}/y/z", &[]));
        let (r, refused) = build(apis);
        assert!(refused.is_empty());
        let paths: Vec<String> = (0..1000)
            .map(|i| format!("/svc{}/orders/{i}", i % 500))
            .collect();
        let t = std::time::Instant::now();
        let mut hits = 0;
        for _ in 0..100 {
            for p in &paths {
                if let Lookup::Found(_) = r.lookup(&Method::GET, p) {
                    hits += 1;
                }
            }
        }
        let per = t.elapsed() / 100_000;
        println!("1001 routes, indexed lookup: {per:?} per call ({hits} hits)");
        let t = std::time::Instant::now();
        for _ in 0..100 {
            for p in &paths {
                let _ = r.routes.iter().find(|x| matcher::matches(&x.matcher, p));
            }
        }
        println!("linear scan: {:?} per call", t.elapsed() / 100_000);
    }
}
