//! The signature base (RFC 9421 §2.5): one line per covered component, then
//! `"@signature-params"`. Shared by the gateway's verifier and the signer of `gatewatch sign`,
//! so both build the same bytes from the same request.

use http::{HeaderMap, Method, Uri};

use super::sfv::{self, Item, Params};

/// What a signature base is built from: the request as the gateway received it.
pub struct Target<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// `http` or `https`: how the request reached the gateway.
    pub scheme: &'a str,
}

/// A component a signature may cover: a derived one or a header field, without parameters
/// (`;sf`, `;key`, `;bs`, `;req` are not supported and are refused).
pub(crate) fn check_component(name: &str) -> Result<(), String> {
    if name.starts_with('@') {
        if gatewatch_model::policy::DERIVED_COMPONENTS.contains(&name) {
            return Ok(());
        }
        return Err(format!("component {name:?} is not supported"));
    }
    let token =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!(
            "component {name:?} is not a lower-case header name"
        ));
    }
    Ok(())
}

impl Target<'_> {
    /// `@authority`: the host (lower case) and port, the scheme's default port left out.
    fn authority(&self) -> Option<String> {
        let raw = match self.uri.authority() {
            Some(a) => a.as_str().to_string(),
            None => self
                .headers
                .get(http::header::HOST)?
                .to_str()
                .ok()?
                .to_string(),
        };
        let lower = raw.to_ascii_lowercase();
        let default = if self.scheme == "https" {
            ":443"
        } else {
            ":80"
        };
        Some(match lower.strip_suffix(default) {
            Some(h) => h.to_string(),
            None => lower,
        })
    }

    fn path(&self) -> &str {
        match self.uri.path() {
            "" => "/",
            p => p,
        }
    }

    /// The value of one component, or why it has none.
    pub fn value(&self, name: &str) -> Result<String, String> {
        Ok(match name {
            "@method" => self.method.as_str().to_string(),
            "@scheme" => self.scheme.to_string(),
            "@authority" => self
                .authority()
                .ok_or("the request has no authority (Host)")?,
            "@path" => self.path().to_string(),
            "@query" => format!("?{}", self.uri.query().unwrap_or("")),
            "@request-target" => match self.uri.query() {
                Some(q) => format!("{}?{q}", self.path()),
                None => self.path().to_string(),
            },
            "@target-uri" => {
                let authority = self
                    .authority()
                    .ok_or("the request has no authority (Host)")?;
                let q = self
                    .uri
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                format!("{}://{authority}{}{q}", self.scheme, self.path())
            }
            header => {
                // RFC 9421 §2.1: every instance, trimmed, joined by ", ".
                let mut out = String::new();
                let mut any = false;
                for v in self.headers.get_all(header) {
                    let text = v
                        .to_str()
                        .map_err(|_| format!("header {header:?} is not visible ASCII"))?;
                    if any {
                        out.push_str(", ");
                    }
                    out.push_str(text.trim_matches([' ', '\t']));
                    any = true;
                }
                if !any {
                    return Err(format!(
                        "covers {header:?}, which the request does not have"
                    ));
                }
                out
            }
        })
    }

    /// The signature base for `covered` (checked component names) and the signature's
    /// parameters.
    pub fn base(&self, covered: &[String], params: &Params) -> Result<String, String> {
        let mut out = String::with_capacity(256);
        for name in covered {
            out.push('"');
            out.push_str(name);
            out.push_str("\": ");
            out.push_str(&self.value(name)?);
            out.push('\n');
        }
        out.push_str("\"@signature-params\": ");
        out.push_str(&signature_params(covered, params));
        Ok(out)
    }
}

/// The `Signature-Input` member's value (and the base's last line): the covered components
/// as strings and the parameters.
pub fn signature_params(covered: &[String], params: &Params) -> String {
    let items: Vec<(Item, Params)> = covered
        .iter()
        .map(|c| (Item::String(c.clone()), Vec::new()))
        .collect();
    let mut out = String::new();
    sfv::write_inner(&mut out, &items, params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn builds_the_base_of_rfc_9421_appendix_b_2_6() {
        // RFC 9421 B.2.6's request and covered components (ed25519 test vector's base).
        let p = parts(
            "POST",
            "/foo?param=Value&Pet=dog",
            &[
                ("host", "example.com"),
                ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
                ("content-type", "application/json"),
                ("content-length", "18"),
            ],
        );
        let t = Target {
            method: &p.method,
            uri: &p.uri,
            headers: &p.headers,
            scheme: "https",
        };
        let covered: Vec<String> = [
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ]
        .map(String::from)
        .to_vec();
        let params = vec![
            ("created".into(), Item::Integer(1618884473)),
            ("keyid".into(), Item::String("test-key-ed25519".into())),
        ];
        assert_eq!(
            t.base(&covered, &params).unwrap(),
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        );
    }

    #[test]
    fn derived_components_of_rfc_9421_section_2_2() {
        let p = parts(
            "get",
            "/path?param=value",
            &[("host", "www.example.com:443")],
        );
        let t = Target {
            method: &p.method,
            uri: &p.uri,
            headers: &p.headers,
            scheme: "https",
        };
        assert_eq!(t.value("@method").unwrap(), "get");
        assert_eq!(t.value("@authority").unwrap(), "www.example.com");
        assert_eq!(
            t.value("@target-uri").unwrap(),
            "https://www.example.com/path?param=value"
        );
        assert_eq!(t.value("@request-target").unwrap(), "/path?param=value");
        assert_eq!(t.value("@query").unwrap(), "?param=value");
        let p = parts(
            "GET",
            "/",
            &[("x-a", " one "), ("x-a", "two"), ("host", "H:8080")],
        );
        let t = Target {
            method: &p.method,
            uri: &p.uri,
            headers: &p.headers,
            scheme: "http",
        };
        assert_eq!(t.value("@query").unwrap(), "?");
        assert_eq!(t.value("@authority").unwrap(), "h:8080");
        assert_eq!(t.value("x-a").unwrap(), "one, two");
        assert!(t.value("x-missing").is_err());
    }

    #[test]
    fn only_plain_components_are_accepted() {
        assert!(check_component("@method").is_ok());
        assert!(check_component("content-digest").is_ok());
        for bad in ["@status", "@query-param", "Content-Digest", "", "a b", "@"] {
            assert!(check_component(bad).is_err(), "{bad}");
        }
    }
}
