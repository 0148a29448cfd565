//! API versions in the router: the APIs of one family (`family = "orders"`, each with its own
//! `version`) form one versioned route, a [`Family`], and a call picks one of them (see
//! `gatewatch_model::version` for the order; [`crate::phase::version`] runs it).
//!
//! Built with the router ([`super::Router::build`]): the versions of a family must share their
//! pattern (a version with another one is refused with a warning); the family takes one place
//! in the lookup index (its "head", the default version's route) and every version keeps its
//! own [`Route`] (upstreams, auth, policies, metrics). A family whose default version is
//! missing or retired still serves the versions a call names; calls naming none are refused
//! `404 unknown_version` (the gateway never guesses which version to give them), and the
//! build warns. A canary whose version is missing, retired, or does not take the same `auth`
//! as the default is dropped with a warning: the canary is decided after authentication, with
//! the default version's methods, so both must accept the same credentials.
//!
//! Selection here is pure (a family, the request's path, headers and query → a choice), so it
//! is tested without a gateway.

use std::borrow::Cow;
use std::sync::Arc;

use gatewatch_model::version::{check_version, ApiFamilySpec, Deprecation};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

use super::{clash, Api, Route};
use crate::error::Error;
use crate::mask::query::form_decode;
use crate::upstream::health::Probe;
use tracing::warn;

/// One family's versioned route.
#[derive(Debug)]
pub(crate) struct Family {
    pub id: String,
    pub spec: Arc<ApiFamilySpec>,
    /// The literal part of the shared pattern (`/orders`; empty for a pattern at `/`): the
    /// version segment follows it.
    pub prefix: String,
    /// The versions, by name.
    pub versions: Vec<(String, Arc<Route>)>,
    /// While the router is built: the versions' names and API ids, by name.
    names: Vec<(String, String)>,
    /// This family's place in the router's `families`.
    index: u32,
    /// Index in `versions` of the default version, when it exists and is not retired.
    pub default: Option<usize>,
    /// The canary's version (index) and share, when usable.
    pub canary: Option<(usize, f64)>,
}

/// How a call named its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Path,
    Header,
    Query,
    /// It named none: the default, unless the canary takes the client.
    Default,
}

/// A family's choice for one call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Choice {
    /// Index in the family's `versions`.
    pub version: usize,
    pub via: Via,
    /// The query to forward when the version's parameter was taken out of it (`Some("")`:
    /// none left).
    pub query: Option<String>,
}

/// Why a call's version cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The call names a version the family does not have (`404 unknown_version`).
    Unknown { name: String, via: Via },
    /// The call names its version in a way that cannot be read (`400 bad_version`): several
    /// values, a list, characters a version never has.
    Bad(Cow<'static, str>),
    /// The call names none and the family has no default in service (`404 unknown_version`).
    NoDefault,
}

/// Whether a path segment that is not one of the family's versions still names a version:
/// `v` and a digit (`v3`, `v2.1`), the usual spelling. Such a segment is refused
/// `unknown_version` rather than passed to the default version as a resource id.
pub(crate) fn looks_like_version(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.len() >= 2
        && matches!(b[0], b'v' | b'V')
        && b[1].is_ascii_digit()
        && check_version("", seg).is_ok()
}

/// Makes one family of its versions' compiled routes (in the order of their APIs): those
/// with another pattern or a version already taken are refused, the family's head is checked
/// for clashes with `routes` (a clash refuses the whole family), and the kept versions join
/// `routes` (the head alone in the lookup index). Returns the family (its routes are attached
/// by [`Family::with_routes`] once they are shared) and the health checks of its versions in
/// service.
pub(super) fn assemble(
    id: String,
    index: u32,
    list: Vec<(Api, Route, Vec<Probe>)>,
    routes: &mut Vec<Route>,
    refused: &mut Vec<(Api, Error)>,
) -> Option<(Family, Vec<Probe>)> {
    let spec = list.first().and_then(|(a, _, _)| a.family.clone())?;
    let pattern_field = |api: &Api| {
        api.field(if api.spec.path.is_some() {
            "path"
        } else {
            "prefix"
        })
    };
    // The pattern every version must have: the default version's, else the first's.
    let pattern = list
        .iter()
        .find(|(a, _, _)| a.spec.version == spec.default_version)
        .or(list.first())
        .map(|(_, r, _)| r.pattern.clone())?;
    let mut kept: Vec<(Api, Route, Vec<Probe>)> = Vec::with_capacity(list.len());
    for (api, route, p) in list {
        if route.pattern != pattern {
            let e = Error::config(
                pattern_field(&api),
                format!(
                    "'{}' is not '{pattern}', the pattern of family '{id}' (the versions of a family share their pattern)",
                    route.pattern
                ),
            );
            refused.push((api, e));
        } else if let Some((other, _, _)) = kept
            .iter()
            .find(|(a, _, _)| a.spec.version == api.spec.version)
        {
            let e = Error::config(
                api.field("version"),
                format!(
                    "'{}' of family '{id}' is already API '{}'",
                    api.spec.version, other.id
                ),
            );
            refused.push((api, e));
        } else {
            kept.push((api, route, p));
        }
    }
    kept.sort_by(|a, b| a.0.spec.version.cmp(&b.0.spec.version));
    let in_service = |i: usize| !kept[i].0.spec.retired;
    let default = kept
        .iter()
        .position(|(a, _, _)| a.spec.version == spec.default_version)
        .filter(|&i| in_service(i));
    if default.is_none() {
        warn!(family = %id, default_version = %spec.default_version, "the family's default version is missing or retired: calls naming no version are refused (404 unknown_version)");
    }
    let canary = spec.canary.as_ref().and_then(|c| {
        let at = kept.iter().position(|(a, _, _)| a.spec.version == c.version);
        let why = match (at, default) {
            (None, _) => "its version is missing",
            (Some(i), _) if !in_service(i) => "its version is retired",
            (_, None) => "the family has no default version in service",
            (Some(i), Some(d)) if kept[i].0.spec.auth != kept[d].0.spec.auth => {
                "its version does not take the same `auth` as the default (the canary is decided after authentication)"
            }
            (Some(i), Some(_)) => return Some((i, c.percent)),
        };
        warn!(family = %id, canary_version = %c.version, reason = why, "the family's canary is off");
        None
    });
    // The head stands for the family in the index: the default, else a version in service.
    let head = default
        .or_else(|| (0..kept.len()).find(|&i| in_service(i)))
        .unwrap_or(0);
    for (i, (_, r, _)) in kept.iter_mut().enumerate() {
        r.family = Some(index);
        r.indexed = i == head;
    }
    if let Some(other) = kept
        .get(head)
        .and_then(|(_, h, _)| routes.iter().find(|r| clash(r, h)))
    {
        let message = format!(
            "'{pattern}' of family '{id}' is as specific as '{}' of API '{}' and can match the same calls",
            other.pattern, other.api_id
        );
        for (api, _, _) in kept {
            let e = Error::config(pattern_field(&api), message.clone());
            refused.push((api, e));
        }
        return None;
    }
    let prefix = kept.get(head).map(|(_, r, _)| r.matcher.literal_prefix())?;
    let mut probes = Vec::new();
    let mut names = Vec::with_capacity(kept.len());
    for (api, route, p) in kept {
        // A retired version never reaches its upstream: nothing to check.
        if !api.spec.retired {
            probes.extend(p);
        }
        names.push((api.spec.version.clone(), api.id.clone()));
        routes.push(route);
    }
    let family = Family {
        id,
        spec,
        prefix,
        versions: Vec::new(),
        names,
        index,
        default,
        canary,
    };
    Some((family, probes))
}

/// The valid `api_family` entities of the log (`id`, `version`, JSON body), by id; a bad one
/// is skipped with a warning naming it (its versions are then refused: no such family).
pub(crate) fn families<'a>(
    entities: impl Iterator<Item = (&'a str, u64, &'a str)>,
) -> std::collections::HashMap<String, Arc<ApiFamilySpec>> {
    let mut out = std::collections::HashMap::new();
    for (id, version, body) in entities {
        match serde_json::from_str::<ApiFamilySpec>(body) {
            Ok(f) => match f.validate() {
                Ok(()) => {
                    out.insert(id.to_string(), Arc::new(f));
                }
                Err(e) => {
                    warn!(family = %id, version, field = %e.field, error = %e.message, "API family skipped")
                }
            },
            Err(e) => {
                warn!(family = %id, version, error = %e, "API family entity is not valid JSON; skipped")
            }
        }
    }
    out
}

impl Family {
    /// The family with its versions' shared routes (found in the router's `routes`).
    pub(super) fn with_routes(mut self, routes: &[Arc<Route>]) -> Family {
        let index = Some(self.index);
        self.versions = std::mem::take(&mut self.names)
            .into_iter()
            .filter_map(|(name, api_id)| {
                routes
                    .iter()
                    .find(|r| r.family == index && r.api_id == api_id)
                    .map(|r| (name, r.clone()))
            })
            .collect();
        self
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.versions.iter().position(|(n, _)| n == name)
    }

    /// The version segment of `path` (right after the pattern's literal part) when it is one
    /// of this family's versions or looks like one, with the path without it. `None`: the
    /// path names no version.
    pub fn path_version<'p>(&self, path: &'p str) -> Option<(&'p str, String)> {
        if !self.spec.select.path {
            return None;
        }
        let rest = path.strip_prefix(self.prefix.as_str())?;
        let rest = rest.strip_prefix('/')?;
        let (seg, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if self.index(seg).is_none() && !looks_like_version(seg) {
            return None;
        }
        let mut without = String::with_capacity(self.prefix.len() + tail.len() + 1);
        without.push_str(&self.prefix);
        without.push_str(tail);
        if without.is_empty() {
            without.push('/');
        }
        Some((seg, without))
    }

    /// The version named by the path segment `seg` (see [`Family::path_version`]).
    pub fn by_path(&self, seg: &str) -> Result<Choice, Refused> {
        self.named(seg, Via::Path, None)
    }

    fn named(&self, name: &str, via: Via, query: Option<String>) -> Result<Choice, Refused> {
        match self.index(name) {
            Some(version) => Ok(Choice {
                version,
                via,
                query,
            }),
            None => Err(Refused::Unknown {
                name: name.to_string(),
                via,
            }),
        }
    }

    /// The version of a call whose path named none: the header, the query parameter, else
    /// the default (`Via::Default`; the canary is decided later, see [`Family::canary_for`]).
    pub fn by_request(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Choice, Refused> {
        let select = &self.spec.select;
        if !select.header.is_empty() {
            if let Some(name) = header_version(headers, &select.header)? {
                return self.named(name, Via::Header, None);
            }
        }
        if let (false, Some(q)) = (select.query.is_empty(), query) {
            if let Some((name, rest)) = query_version(q, &select.query)? {
                return self.named(&name, Via::Query, Some(rest));
            }
        }
        match self.default {
            Some(version) => Ok(Choice {
                version,
                via: Via::Default,
                query: None,
            }),
            None => Err(Refused::NoDefault),
        }
    }

    /// The canary's route and share, for a call that named no version.
    pub fn canary_route(&self) -> Option<(&Arc<Route>, f64)> {
        self.canary
            .and_then(|(i, p)| self.versions.get(i).map(|(_, r)| (r, p)))
    }
}

/// Whether the client whose sticky key is `key` (its client id, or its address) goes to the
/// canary at `percent`.
pub(crate) fn takes_canary(key: &str, percent: f64) -> bool {
    use gatewatch_model::version;
    version::takes_canary(version::canary_bucket(key), percent)
}

/// The version named by header `name`: one field with one value of version characters.
fn header_version<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refused> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refused::Bad(
            format!("the {name} header must be sent once").into(),
        ));
    }
    let v = first.to_str().map(str::trim).unwrap_or("\u{0}");
    if check_version("", v).is_err() {
        return Err(Refused::Bad(
            format!("the {name} header must name one version (1 to 32 of A-Z a-z 0-9 . _ -)")
                .into(),
        ));
    }
    Ok(Some(v))
}

/// The version named by the query parameter `param`, and the query without it. A parameter
/// given twice, or whose value is not a version, is refused.
fn query_version(query: &str, param: &str) -> Result<Option<(String, String)>, Refused> {
    let mut found: Option<String> = None;
    let mut rest = String::with_capacity(query.len());
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(k).as_deref() != Some(param) {
            if !pair.is_empty() {
                if !rest.is_empty() {
                    rest.push('&');
                }
                rest.push_str(pair);
            }
            continue;
        }
        if found.is_some() {
            return Err(Refused::Bad(
                format!("the query parameter {param} must be given once").into(),
            ));
        }
        match form_decode(v).filter(|v| check_version("", v).is_ok()) {
            Some(v) => found = Some(v.into_owned()),
            None => {
                return Err(Refused::Bad(
                    format!("the query parameter {param} must name one version (1 to 32 of A-Z a-z 0-9 . _ -)")
                        .into(),
                ))
            }
        }
    }
    Ok(found.map(|v| (v, rest)))
}

/// The headers every answer of a deprecated version carries, made once when the router is
/// built: `Deprecation: @<since, Unix seconds>` (RFC 9745), `Sunset: <IMF-fixdate>` (RFC
/// 8594) with a sunset, `Link: <link>; rel="deprecation"` (and `rel="sunset"`) with a link.
pub(crate) fn deprecation_headers(d: &Deprecation) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let Some(since) = d.since_at() else {
        return out; // validated before: cannot happen
    };
    let push = |out: &mut Vec<(HeaderName, HeaderValue)>, name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    push(&mut out, "deprecation", format!("@{}", since.timestamp()));
    let sunset = d.sunset_at();
    if let Some(s) = sunset {
        push(&mut out, "sunset", imf_fixdate(s));
    }
    if let Some(link) = &d.link {
        push(&mut out, "link", format!("<{link}>; rel=\"deprecation\""));
        if sunset.is_some() {
            push(&mut out, "link", format!("<{link}>; rel=\"sunset\""));
        }
    }
    out
}

/// An HTTP date (RFC 9110's IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn imf_fixdate(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Api, Router};
    use crate::upstream::Clients;
    use gatewatch_model::ApiSpec;
    use std::time::Duration;

    pub(crate) fn version_api(
        id: &str,
        family: &str,
        version: &str,
        f: &Arc<ApiFamilySpec>,
    ) -> Api {
        let mut spec = ApiSpec::prefixed(id, "/orders", &["http://127.0.0.1:9000"]);
        spec.family = family.into();
        spec.version = version.into();
        Api {
            id: id.into(),
            spec: Arc::new(spec),
            origin: String::new(),
            family: Some(f.clone()),
        }
    }

    fn family(json: &str) -> Arc<ApiFamilySpec> {
        let f: ApiFamilySpec = serde_json::from_str(json).unwrap();
        f.validate().unwrap();
        Arc::new(f)
    }

    fn build(apis: Vec<Api>) -> (Router, Vec<String>) {
        let (r, refused) = Router::build(apis, &Clients::new(Duration::from_secs(1)), None);
        let refused = refused
            .into_iter()
            .map(|(a, e)| format!("{}: {e}", a.id))
            .collect();
        (r, refused)
    }

    fn orders(f: &Arc<ApiFamilySpec>) -> Router {
        let (r, refused) = build(vec![
            version_api("orders-v1", "orders", "v1", f),
            version_api("orders-v2", "orders", "v2", f),
        ]);
        assert!(refused.is_empty(), "{refused:?}");
        r
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in list {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        h
    }

    fn name(f: &Family, c: Result<Choice, Refused>) -> String {
        match c {
            Ok(c) => format!("{} {:?} {:?}", f.versions[c.version].0, c.via, c.query),
            Err(Refused::Unknown { name, via }) => format!("unknown {name} {via:?}"),
            Err(Refused::Bad(m)) => format!("bad {m}"),
            Err(Refused::NoDefault) => "no default".into(),
        }
    }

    #[test]
    fn the_path_then_the_header_then_the_query_then_the_default_pick_the_version() {
        let f = family(r#"{"name":"Orders","default_version":"v1","select":{"query":"version"}}"#);
        let r = orders(&f);
        let fam = &r.families[0];
        assert_eq!(fam.prefix, "/orders");
        // The path: the segment after `/orders`, removed.
        assert_eq!(
            fam.path_version("/orders/v2/items/7"),
            Some(("v2", "/orders/items/7".to_string()))
        );
        assert_eq!(
            fam.path_version("/orders/v2"),
            Some(("v2", "/orders".into()))
        );
        assert_eq!(name(fam, fam.by_path("v2")), "v2 Path None");
        // A segment shaped like a version the family lacks is named, and unknown.
        assert_eq!(fam.path_version("/orders/v9/x").map(|p| p.0), Some("v9"));
        assert_eq!(name(fam, fam.by_path("v9")), "unknown v9 Path");
        // Anything else is a resource of the default version.
        assert_eq!(fam.path_version("/orders/123"), None);
        assert_eq!(fam.path_version("/ordersv2/x"), None);
        assert_eq!(fam.path_version("/orders"), None);
        // The header, then the query (taken out of the forwarded query), then the default.
        let none = HeaderMap::new();
        let hv2 = headers(&[("accept-version", "v2")]);
        assert_eq!(
            name(fam, fam.by_request(&hv2, Some("version=v1"))),
            "v2 Header None"
        );
        assert_eq!(
            name(fam, fam.by_request(&none, Some("a=1&version=v2&b=2"))),
            "v2 Query Some(\"a=1&b=2\")"
        );
        assert_eq!(
            name(fam, fam.by_request(&none, Some("version=%76%32"))),
            "v2 Query Some(\"\")"
        );
        assert_eq!(
            name(fam, fam.by_request(&none, Some("a=1"))),
            "v1 Default None"
        );
        assert_eq!(name(fam, fam.by_request(&none, None)), "v1 Default None");
        assert_eq!(
            name(
                fam,
                fam.by_request(&headers(&[("accept-version", "v7")]), None)
            ),
            "unknown v7 Header"
        );
    }

    #[test]
    fn a_version_named_twice_or_oddly_is_refused() {
        let f = family(r#"{"name":"Orders","default_version":"v1","select":{"query":"version"}}"#);
        let r = orders(&f);
        let fam = &r.families[0];
        let none = HeaderMap::new();
        for h in [
            headers(&[("accept-version", "v1"), ("accept-version", "v2")]),
            headers(&[("accept-version", "v1, v2")]),
            headers(&[("accept-version", "v1\tv2")]),
            headers(&[("accept-version", "")]),
            headers(&[("accept-version", &"v".repeat(10_000))]),
            headers(&[("accept-version", "v\u{e9}1")]),
        ] {
            let got = name(fam, fam.by_request(&h, None));
            assert!(got.starts_with("bad the accept-version header"), "{got}");
        }
        for q in [
            "version=v1&version=v2",
            "version=",
            "version=%zz",
            "version=v%00",
        ] {
            let got = name(fam, fam.by_request(&none, Some(q)));
            assert!(
                got.starts_with("bad the query parameter version"),
                "{q}: {got}"
            );
        }
        // A header the family does not read is not looked at.
        let f =
            family(r#"{"name":"O","default_version":"v1","select":{"header":"","path":false}}"#);
        let r = orders(&f);
        let fam = &r.families[0];
        let h = headers(&[("accept-version", "v2"), ("accept-version", "v3")]);
        assert_eq!(
            name(fam, fam.by_request(&h, Some("version=v2"))),
            "v1 Default None"
        );
        assert_eq!(fam.path_version("/orders/v2/x"), None);
    }

    #[test]
    fn bad_families_are_refused_or_served_safely_never_a_panic() {
        let f = family(r#"{"name":"Orders","default_version":"v1"}"#);
        // A version with another pattern is refused; the family keeps the others.
        let mut other = version_api("orders-v3", "orders", "v3", &f);
        Arc::make_mut(&mut other.spec).prefix = Some("/purchases".into());
        let (r, refused) = build(vec![
            version_api("orders-v1", "orders", "v1", &f),
            version_api("orders-v2", "orders", "v2", &f),
            other,
        ]);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].starts_with("orders-v3: invalid gateway configuration: 'prefix'"),
            "{refused:?}"
        );
        assert_eq!(r.families[0].versions.len(), 2);
        // Two APIs claiming one version: the first (by order) keeps it.
        let (_, refused) = build(vec![
            version_api("orders-a", "orders", "v1", &f),
            version_api("orders-b", "orders", "v1", &f),
        ]);
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].contains("'version' 'v1' of family 'orders' is already API 'orders-a'"),
            "{refused:?}"
        );
        // An API of a family that does not exist is refused.
        let mut lone = version_api("lone", "nothing", "v1", &f);
        lone.family = None;
        let (_, refused) = build(vec![lone]);
        assert!(
            refused[0].contains("'family' there is no api_family 'nothing'"),
            "{refused:?}"
        );
        // The default missing: explicit versions still route, the rest get no default.
        let f = family(
            r#"{"name":"Orders","default_version":"v5","canary":{"version":"v2","percent":50}}"#,
        );
        let r = orders(&f);
        let fam = &r.families[0];
        assert_eq!((fam.default, fam.canary), (None, None));
        assert_eq!(
            name(fam, fam.by_request(&HeaderMap::new(), None)),
            "no default"
        );
        assert_eq!(name(fam, fam.by_path("v2")), "v2 Path None");
        // A retired default is no default; a retired or differently authenticated canary is
        // dropped.
        let mut v1 = version_api("orders-v1", "orders", "v1", &f);
        Arc::make_mut(&mut v1.spec).retired = true;
        let f2 = family(
            r#"{"name":"Orders","default_version":"v1","canary":{"version":"v2","percent":50}}"#,
        );
        v1.family = Some(f2.clone());
        let (r, _) = build(vec![v1, version_api("orders-v2", "orders", "v2", &f2)]);
        assert_eq!(r.families[0].default, None);
        let mut v2 = version_api("orders-v2", "orders", "v2", &f2);
        Arc::make_mut(&mut v2.spec).auth = vec![gatewatch_model::api::AuthMethod::ApiKey];
        let (r, _) = build(vec![version_api("orders-v1", "orders", "v1", &f2), v2]);
        assert_eq!(
            (r.families[0].default, r.families[0].canary),
            (Some(0), None)
        );
        let (r, _) = build(vec![
            version_api("orders-v1", "orders", "v1", &f2),
            version_api("orders-v2", "orders", "v2", &f2),
        ]);
        assert_eq!(r.families[0].canary, Some((1, 50.0)));
        // A family clashing with a plain API on the same pattern: the earlier one wins.
        let mut plain = version_api("plain", "", "", &f);
        Arc::make_mut(&mut plain.spec).family = String::new();
        plain.family = None;
        let (r, refused) = build(vec![
            plain,
            version_api("orders-v1", "orders", "v1", &f),
            version_api("orders-v2", "orders", "v2", &f),
        ]);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(r.families.is_empty());
        assert_eq!(r.find("/orders/x").unwrap().api_id, "plain");
    }

    #[test]
    fn deprecation_headers_are_rfc_9745_and_8594() {
        let d: Deprecation = serde_json::from_str(
            r#"{"since":"2026-07-01T08:00:00+08:00","sunset":"2027-01-02T03:04:05Z","link":"https://d.example/v1"}"#,
        )
        .unwrap();
        let h: Vec<String> = deprecation_headers(&d)
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect();
        assert_eq!(
            h,
            [
                "deprecation: @1782864000",
                "sunset: Sat, 02 Jan 2027 03:04:05 GMT",
                "link: <https://d.example/v1>; rel=\"deprecation\"",
                "link: <https://d.example/v1>; rel=\"sunset\"",
            ]
        );
        let d: Deprecation = serde_json::from_str(r#"{"since":"1970-01-01T00:00:00Z"}"#).unwrap();
        let h = deprecation_headers(&d);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].1, "@0");
        assert_eq!(
            imf_fixdate("1994-11-06T08:49:37Z".parse().unwrap()),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn the_canary_is_sticky_per_key() {
        let took: Vec<bool> = (0..1000)
            .map(|i| takes_canary(&format!("c{i}"), 20.0))
            .collect();
        let again: Vec<bool> = (0..1000)
            .map(|i| takes_canary(&format!("c{i}"), 20.0))
            .collect();
        assert_eq!(took, again);
        let n = took.iter().filter(|t| **t).count();
        // Binomial(1000, 0.2): sd ≈ 12.6; ±5 sd.
        assert!((137..=263).contains(&n), "{n}");
        assert!(!takes_canary("x", 0.0) && takes_canary("x", 100.0));
    }
}
