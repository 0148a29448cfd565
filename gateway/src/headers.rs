//! Header rules of a proxy: hop-by-hop removal, `X-Forwarded-*`, `X-Request-Id`.

use std::net::IpAddr;

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};

/// `X-Request-Id`: kept when the client sends a valid one, else generated; sent upstream and
/// returned on every response.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Longest request id accepted from a client.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;

/// A client's request id is kept when it is 1–128 visible ASCII characters: anything else
/// could break log lines or the header on its way back.
pub(crate) fn valid_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= MAX_REQUEST_ID_LEN && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// `Proxy-*` family. `Transfer-Encoding` goes too: hyper re-frames each side's body.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str().starts_with("proxy-")
}

/// Removes hop-by-hop headers and every header that `Connection` names.
///
/// Allocates only when there is something to remove.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut doomed: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            // `close` and `keep-alive` are connection options, not header names worth a lookup.
            if token.is_empty()
                || token.eq_ignore_ascii_case(b"close")
                || token.eq_ignore_ascii_case(b"keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                doomed.push(name);
            }
        }
    }
    for name in headers.keys() {
        if is_hop_by_hop(name) {
            doomed.push(name.clone());
        }
    }
    for name in &doomed {
        headers.remove(name);
    }
}

/// The client's address as a header value, made once per connection.
pub(crate) fn ip_header(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Sets the headers that tell the upstream who asked: `X-Forwarded-For` gets the client's
/// address (`client_ip`, see [`ip_header`]) appended (as nginx's `$proxy_add_x_forwarded_for`),
/// `X-Forwarded-Proto` (`https` when the client came over TLS) and `X-Forwarded-Host` are
/// replaced by what this gateway saw (a client cannot forge them).
pub(crate) fn set_forwarded(
    headers: &mut HeaderMap,
    client_ip: &HeaderValue,
    host: Option<HeaderValue>,
    tls: bool,
) {
    let xff = {
        let mut prior = headers.get_all(&X_FORWARDED_FOR).iter().peekable();
        if prior.peek().is_none() {
            // The common case: a reference-counted copy, no allocation.
            Some(client_ip.clone())
        } else {
            let mut joined: Vec<u8> = Vec::with_capacity(64);
            for v in prior {
                joined.extend_from_slice(v.as_bytes());
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(client_ip.as_bytes());
            HeaderValue::from_bytes(&joined).ok()
        }
    };
    if let Some(xff) = xff {
        headers.insert(X_FORWARDED_FOR.clone(), xff);
    }
    let proto = if tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    match host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST.clone(), h);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(v: &HeaderValue) -> impl Iterator<Item = &[u8]> {
    v.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// The protocol of an upgrade the client asks for and the gateway passes through: `Upgrade`
/// set and `Connection` naming `upgrade`. `None` otherwise, and for `h2c` (or `h2`): a tunnel
/// to an HTTP/2 upstream would carry requests the gateway never routes nor checks ("h2c
/// smuggling"); such a request goes up as a plain call, its `Upgrade` removed.
pub(crate) fn upgrade_requested(headers: &HeaderMap) -> Option<HeaderValue> {
    let protocol = headers.get(header::UPGRADE)?;
    let named = headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case(b"upgrade")));
    let h2 = tokens(protocol).any(|t| {
        let name = t.split(|&b| b == b'/').next().unwrap_or_default();
        name.eq_ignore_ascii_case(b"h2c") || name.eq_ignore_ascii_case(b"h2")
    });
    (named && !h2 && !protocol.is_empty()).then(|| protocol.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "Upgrade"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-t"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("content-type", "text/plain"),
            ("x-keep", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-keep"]);
    }

    #[test]
    fn nothing_to_strip_leaves_headers_alone() {
        let mut h = map(&[("accept", "*/*"), ("host", "a")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn forwarded_for_is_appended_and_proto_host_are_replaced() {
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "5.6.7.8"),
            ("x-forwarded-proto", "https"),
        ]);
        set_forwarded(
            &mut h,
            &ip_header("10.0.0.1".parse().unwrap()),
            Some(HeaderValue::from_static("gw:8080")),
            false,
        );
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 5.6.7.8, 10.0.0.1");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "gw:8080");

        let mut h = HeaderMap::new();
        set_forwarded(&mut h, &ip_header("::1".parse().unwrap()), None, false);
        assert_eq!(h["x-forwarded-for"], "::1");
        assert!(h.get("x-forwarded-host").is_none());
        // Over the TLS listener.
        let mut h = map(&[("x-forwarded-proto", "http")]);
        set_forwarded(&mut h, &ip_header("::1".parse().unwrap()), None, true);
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn request_ids_must_be_short_visible_ascii() {
        assert!(valid_request_id(&HeaderValue::from_static("abc-123_XYZ")));
        assert!(!valid_request_id(&HeaderValue::from_static("")));
        assert!(!valid_request_id(&HeaderValue::from_static("has space")));
        assert!(!valid_request_id(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
        assert!(valid_request_id(
            &HeaderValue::from_str(&"a".repeat(128)).unwrap()
        ));
        assert!(!valid_request_id(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }

    #[test]
    fn upgrades_pass_when_connection_names_them_and_never_to_h2() {
        let ws = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert_eq!(upgrade_requested(&ws).unwrap(), "websocket");
        // Without `Connection: upgrade` it is only a header (removed as hop-by-hop).
        assert!(upgrade_requested(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_requested(&map(&[("connection", "upgrade")])).is_none());
        for h2 in ["h2c", "H2C", "websocket, h2c", "h2", "h2c/1"] {
            let h = map(&[("connection", "Upgrade, HTTP2-Settings"), ("upgrade", h2)]);
            assert!(upgrade_requested(&h).is_none(), "{h2}");
        }
        let other = map(&[("connection", "upgrade"), ("upgrade", "foo/2")]);
        assert_eq!(upgrade_requested(&other).unwrap(), "foo/2");
    }
}
