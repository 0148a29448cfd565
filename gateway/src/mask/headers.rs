//! Headers: the default secret headers, every header whose name is secret by itself
//! (`X-Auth-Token`, `X-Client-Secret`, `X-User-PIN`; see
//! [`gatewatch_model::mask::is_secret_name`]) and an API's own list (compared without case
//! or separators: `X_Partner_Token` names `x-partner-token`) are masked whole, the detectors
//! run over every other value.
//!
//! "Whole" keeps what is not secret and helps reading:
//! - `Authorization` / `Proxy-Authorization`: the scheme word (`Bearer ****`, `Basic ****`);
//! - `Cookie`: each cookie's name (`sid=****; theme=****`);
//! - `Set-Cookie`: the cookie's name and its attributes (`sid=****; Path=/; HttpOnly`);
//! - anything else: `****`.

use gatewatch_model::mask::{is_secret_name, same_name, DEFAULT_MASKED_HEADERS};
use gatewatch_model::Header;
use http::HeaderMap;

use super::detectors::Detectors;
use super::WHOLE;

/// Is `name` (lower case, as `http` keeps it) masked whole under `extra`?
fn masked_whole(name: &str, extra: &[String]) -> bool {
    DEFAULT_MASKED_HEADERS.contains(&name)
        || is_secret_name(name)
        || extra.iter().any(|h| same_name(h, name))
}

/// Every header of `map`, in order, masked.
pub(crate) fn mask_headers(map: &HeaderMap, extra: &[String], det: &Detectors) -> Vec<Header> {
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        let name = name.as_str();
        let text = String::from_utf8_lossy(value.as_bytes());
        let masked = if masked_whole(name, extra) {
            mask_whole(name, &text)
        } else {
            det.mask(&text).into_owned()
        };
        out.push(Header(name.to_string(), masked));
    }
    out
}

/// One value masked whole, keeping its non-secret shape (see the module doc).
pub(crate) fn mask_whole(name: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    match name {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme.len() <= 32
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                format!("{scheme} {WHOLE}")
            }
            _ => WHOLE.to_string(),
        },
        "cookie" => value
            .split(';')
            .map(|c| match c.split_once('=') {
                Some((n, _)) => format!("{}={WHOLE}", n.trim()),
                None => WHOLE.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        "set-cookie" => {
            let mut parts = value.split(';');
            let first = match parts.next().and_then(|c| c.split_once('=')) {
                Some((n, _)) => format!("{}={WHOLE}", n.trim()),
                None => WHOLE.to_string(),
            };
            let mut s = first;
            for attr in parts {
                s.push(';');
                s.push_str(attr);
            }
            s
        }
        _ => WHOLE.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::mask::Detector;
    use http::HeaderValue;

    #[test]
    fn secret_headers_are_masked_whole_keeping_their_shape() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer eyJhbGciOi.x.y"),
        );
        h.insert(
            "proxy-authorization",
            HeaderValue::from_static("opaque-secret"),
        );
        h.insert("cookie", HeaderValue::from_static("sid=abc123; theme=dark"));
        h.append(
            "set-cookie",
            HeaderValue::from_static("sid=abc; Path=/; HttpOnly"),
        );
        h.insert("x-api-key", HeaderValue::from_static("k-123"));
        h.insert("x-partner-token", HeaderValue::from_static("tok"));
        h.insert("x-note", HeaderValue::from_static("card 4111111111111111"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        h.insert("x-auth-token", HeaderValue::from_static("t0k"));
        h.insert("x-client-secret", HeaderValue::from_static("s3c"));
        h.insert("x-user-pin", HeaderValue::from_static("1234"));
        h.insert("x-spinner", HeaderValue::from_static("on"));
        h.insert("x-partner-ref", HeaderValue::from_static("r1"));
        let got = mask_headers(
            &h,
            &["X_Partner_Token".to_string(), "xPartnerRef".to_string()],
            &Detectors::new(&Detector::defaults()),
        );
        let want = [
            ("authorization", "Bearer ****"),
            ("proxy-authorization", "****"),
            ("cookie", "sid=****; theme=****"),
            ("set-cookie", "sid=****; Path=/; HttpOnly"),
            ("x-api-key", "****"),
            ("x-partner-token", "****"),
            ("x-note", "card ************1111"),
            ("accept", "*/*"),
            ("x-auth-token", "****"),
            ("x-client-secret", "****"),
            ("x-user-pin", "****"),
            ("x-spinner", "on"),
            ("x-partner-ref", "****"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|h| (h.0.as_str(), h.1.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_authorization_without_a_scheme_is_all_stars() {
        assert_eq!(mask_whole("authorization", "abc"), "****");
        assert_eq!(
            mask_whole("authorization", "Basic dXNlcjpwYXNz"),
            "Basic ****"
        );
        assert_eq!(mask_whole("authorization", ""), "");
    }
}
