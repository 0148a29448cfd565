//! Cookies on the TLS listener (`[dashboards.tls]`): every `Set-Cookie` the site answers there
//! carries `Secure`, whatever `[dashboards] secure_cookies` says, so a browser never sends the
//! session back over plain HTTP. The plain listener answers as configured.
//!
//! A layer on the TLS listener's router, not a flag in each handler: a cookie added later by any
//! route is covered too.

use axum::http::{header, HeaderValue};
use axum::response::Response;

/// Adds `; Secure` to each `Set-Cookie` of `r` that lacks it.
pub async fn mark_secure(mut r: Response) -> Response {
    let headers = r.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return r;
    }
    headers.remove(header::SET_COOKIE);
    for c in cookies {
        let secured = match c.to_str() {
            Ok(text) if !has_secure(text) => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(c)
            }
            _ => c,
        };
        headers.append(header::SET_COOKIE, secured);
    }
    r
}

/// Whether a `Set-Cookie` value already has the `Secure` attribute (not a cookie value or
/// another attribute that merely contains the word).
fn has_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .skip(1)
        .any(|a| a.trim().eq_ignore_ascii_case("secure"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_cookie_gets_secure_once() {
        let mut r = Response::new(axum::body::Body::empty());
        for c in [
            "gw_session=abc; HttpOnly; Path=/",
            "other=Secure; Path=/",
            "done=1; Path=/; Secure",
        ] {
            r.headers_mut()
                .append(header::SET_COOKIE, HeaderValue::from_static(c));
        }
        let r = mark_secure(r).await;
        let got: Vec<&str> = r
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "gw_session=abc; HttpOnly; Path=/; Secure",
                "other=Secure; Path=/; Secure",
                "done=1; Path=/; Secure",
            ]
        );
        let plain = mark_secure(Response::new(axum::body::Body::empty())).await;
        assert!(plain.headers().get(header::SET_COOKIE).is_none());
    }
}
