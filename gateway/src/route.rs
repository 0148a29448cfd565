//! Routing: longest-prefix match on the path, round robin over a route's upstreams, and the
//! rewrite of the request target for the upstream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};

use crate::config::RouteConfig;
use crate::error::{Error, Result};

/// One upstream host of a route.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// As written into records: `http://host:port`.
    pub label: String,
    pub authority: Authority,
    /// The `Host` header sent to it (nginx `proxy_pass` default: the upstream's host:port).
    pub host_header: HeaderValue,
}

/// One validated route.
#[derive(Debug)]
pub(crate) struct Route {
    /// Normalised prefix: starts with `/`, no trailing `/` unless it is `/`.
    pub prefix: String,
    /// The record's `route` field, e.g. `/demo/**`.
    pub pattern: String,
    pub strip_prefix: bool,
    pub api_id: String,
    pub api_name: String,
    /// The API entity this route serves (defaults for file routes): auth, capture, masking.
    #[allow(dead_code)] // read by the access and masking phases, landing next
    pub spec: Arc<gatewatch_model::ApiSpec>,
    pub upstreams: Vec<Upstream>,
    next: AtomicUsize,
}

impl Route {
    /// The index of the upstream for the next call (round robin).
    pub fn pick(&self) -> usize {
        if self.upstreams.len() == 1 {
            return 0;
        }
        // Relaxed: the counter only spreads load; no other memory depends on it.
        self.next.fetch_add(1, Ordering::Relaxed) % self.upstreams.len()
    }

    /// Does `path` fall under this route? Matches at a segment boundary only.
    fn matches(&self, path: &str) -> bool {
        if self.prefix == "/" {
            return true;
        }
        match path.as_bytes().get(self.prefix.len()) {
            None => path == self.prefix,
            Some(b'/') => path.starts_with(&self.prefix),
            Some(_) => false,
        }
    }

    /// The absolute URI of the request at `upstream` (the pooled client wants absolute form;
    /// it sends origin form on the wire). The query string is kept as is.
    pub fn upstream_uri(&self, upstream: &Upstream, original: &Uri) -> Result<Uri, http::Error> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(upstream.authority.clone());
        parts.path_and_query = Some(if self.strip_prefix {
            strip(&self.prefix, original)?
        } else {
            // Cheap: a reference-counted clone of the received target.
            original
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"))
        });
        Ok(Uri::from_parts(parts)?)
    }
}

fn strip(prefix: &str, original: &Uri) -> Result<PathAndQuery, http::Error> {
    let path = original.path();
    let rest = if prefix == "/" {
        path
    } else {
        path.get(prefix.len()..).unwrap_or("")
    };
    let query = original.query();
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

/// All routes, longest prefix first.
#[derive(Debug)]
pub(crate) struct Router {
    routes: Vec<Arc<Route>>,
}

impl Router {
    /// A router with no routes.
    pub fn empty() -> Router {
        Router { routes: Vec::new() }
    }

    /// Validates the configured routes. Errors name the field, e.g. `routes[1].upstreams[0]`.
    pub fn new(configs: &[RouteConfig]) -> Result<Router> {
        let mut routes: Vec<Arc<Route>> = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let field = |f: &str| format!("routes[{i}].{f}");
            let prefix =
                normalise_prefix(&c.prefix).map_err(|m| Error::config(field("prefix"), m))?;
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
            let upstreams = c
                .upstreams
                .iter()
                .enumerate()
                .map(|(k, u)| {
                    parse_upstream(u)
                        .map_err(|m| Error::config(field(&format!("upstreams[{k}]")), m))
                })
                .collect::<Result<Vec<_>>>()?;
            let or_prefix = |s: &str| {
                if s.is_empty() {
                    prefix.clone()
                } else {
                    s.to_string()
                }
            };
            let spec = c.spec.clone().unwrap_or_else(|| {
                let mut s =
                    gatewatch_model::ApiSpec::prefixed(&or_prefix(&c.api_name), &prefix, &[]);
                s.upstreams = c
                    .upstreams
                    .iter()
                    .map(|u| gatewatch_model::Upstream::new(u.as_str()))
                    .collect();
                s.strip_prefix = c.strip_prefix;
                Arc::new(s)
            });
            routes.push(Arc::new(Route {
                spec,
                pattern: if prefix == "/" {
                    "/**".to_string()
                } else {
                    format!("{prefix}/**")
                },
                strip_prefix: c.strip_prefix,
                api_id: or_prefix(&c.api_id),
                api_name: or_prefix(&c.api_name),
                upstreams,
                next: AtomicUsize::new(0),
                prefix,
            }));
        }
        // Longest first, so the first match is the longest match.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Router { routes })
    }

    /// The route for `path`, if any. Linear in the number of routes: fine for the tens of
    /// APIs a gateway carries; a trie is the next step if that ever shows in a profile.
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.matches(path))
    }
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

fn parse_upstream(u: &str) -> Result<Upstream, String> {
    let uri: Uri = u.parse().map_err(|e| format!("'{u}' is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "'{u}' must start with http:// (TLS to upstreams is not supported yet)"
        ));
    }
    let Some(authority) = uri.authority().cloned() else {
        return Err(format!("'{u}' has no host"));
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "'{u}' must not have a path or query (use the route's prefix)"
        ));
    }
    if authority.as_str().contains('@') {
        return Err(format!("'{u}' must not carry credentials"));
    }
    let host_header = HeaderValue::from_str(authority.as_str())
        .map_err(|e| format!("'{u}' cannot be a Host header: {e}"))?;
    Ok(Upstream {
        label: format!("http://{authority}"),
        authority,
        host_header,
    })
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

    #[test]
    fn longest_prefix_wins_at_segment_boundaries() {
        let r = router(&[("/", false), ("/api", false), ("/api/v2/", false)]);
        let found = |p: &str| r.find(p).map(|r| r.prefix.as_str());
        assert_eq!(found("/api/v2/x"), Some("/api/v2"));
        assert_eq!(found("/api/v2"), Some("/api/v2"));
        assert_eq!(found("/api/v20"), Some("/api"));
        assert_eq!(found("/apix"), Some("/"));
        assert_eq!(found("/"), Some("/"));
        let r = router(&[("/api", false)]);
        assert!(r.find("/apix").is_none());
        assert!(r.find("/").is_none());
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
                .upstream_uri(&route.upstreams[0], &target.parse().unwrap())
                .unwrap();
            assert_eq!(
                uri.to_string(),
                format!("http://127.0.0.1:9000{want}"),
                "{target}"
            );
        }
        let r = router(&[("/demo", false)]);
        let route = r.find("/demo/a").unwrap();
        let uri = route
            .upstream_uri(&route.upstreams[0], &"/demo/a?z".parse().unwrap())
            .unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:9000/demo/a?z");
    }

    #[test]
    fn round_robin_visits_each_upstream_in_turn() {
        let c = RouteConfig::new("/x", ["http://a:1", "http://b:2", "http://c:3"]);
        let r = Router::new(&[c]).unwrap();
        let route = r.find("/x").unwrap();
        let picks: Vec<usize> = (0..6).map(|_| route.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        assert_eq!(route.upstreams[1].label, "http://b:2");
        assert_eq!(route.upstreams[1].host_header, "b:2");
        assert_eq!(route.pattern, "/x/**");
        assert_eq!(route.api_id, "/x");
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
            err(vec![RouteConfig::new("/a", ["http://a:1", "https://b:2"])]),
            "invalid gateway configuration: 'routes[0].upstreams[1]' 'https://b:2' must start with http:// (TLS to upstreams is not supported yet)"
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
    }
}
