//! A call's NDJSON line, written straight from its [`CallEvent`].
//!
//! The bytes are exactly those `serde_json` makes of the [`gatewatch_model::CallRecord`] the
//! event stands for (same fields, order, escaping; the tests hold the two together), so the wire
//! format to the collector is unchanged. What it saves, per call, on the shipper's thread: the
//! record's ~15 owned strings (values are borrowed from the event or its masked copies), the
//! text of the client address, serde's escaping of every field name (names are constants
//! here), and byte-at-a-time escaping of values (clean runs are found 8 bytes at a time and
//! copied whole).

use std::net::IpAddr;
use std::sync::Arc;

use gatewatch_model::Header;

use crate::recorder::{CallEvent, Masked};

/// Appends the event's record, masked, as one JSON object and a newline.
pub(crate) fn write_line(ev: &CallEvent, node: &str, out: &mut Vec<u8>) {
    let m = ev.masked();
    write_record(&m, node, out);
    out.push(b'\n');
}

fn write_record(m: &Masked<'_>, node: &str, out: &mut Vec<u8>) {
    let ev = m.ev;
    let (api_id, api_name, route, upstream) = ev.route_fields();
    let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let upstream_latency = ev.upstream_latency();

    // Field order and presence follow `CallRecord`'s declaration and serde attributes.
    out.extend_from_slice(b"{\"call_id\":\"");
    if ev.request_id_generated {
        // The same text, already made for the header.
        out.extend_from_slice(ev.request_id.as_bytes());
    } else {
        out.extend_from_slice(ev.call_id.hyphenated().encode_lower(&mut uuid).as_bytes());
    }
    out.extend_from_slice(b"\",\"request_id\":");
    string(out, &m.request_id);
    out.extend_from_slice(b",\"ts_us\":");
    int(out, ev.ts_us);
    out.extend_from_slice(b",\"node\":");
    string(out, node);
    out.extend_from_slice(b",\"api_id\":");
    string(out, api_id);
    out.extend_from_slice(b",\"api_name\":");
    string(out, api_name);
    // `module` is not known to the gateway.
    out.extend_from_slice(b",\"module\":\"\",\"route\":");
    string(out, route);
    out.extend_from_slice(b",\"method\":");
    string(out, ev.method.as_str());
    out.extend_from_slice(b",\"path\":");
    string(out, &m.path);
    out.extend_from_slice(b",\"query\":");
    string(out, &m.query);
    out.extend_from_slice(b",\"client_id\":");
    string(out, id(&ev.caller.client_id));
    out.extend_from_slice(b",\"app_id\":");
    string(out, id(&ev.caller.app_id));
    out.extend_from_slice(b",\"api_key_id\":");
    string(out, id(&ev.caller.api_key_id));
    out.extend_from_slice(b",\"client_ip\":\"");
    ip(out, ev.client_ip);
    out.extend_from_slice(b"\",\"user_agent\":");
    string(out, &m.user_agent);
    out.extend_from_slice(b",\"upstream\":");
    string(out, upstream);
    out.extend_from_slice(b",\"status\":");
    int(out, ev.status);
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(ev.outcome.as_str().as_bytes());
    out.extend_from_slice(b"\",\"latency_us\":");
    int(out, ev.latency_us);
    out.extend_from_slice(b",\"upstream_latency_us\":");
    int(out, upstream_latency);
    out.extend_from_slice(b",\"overhead_us\":");
    int(out, ev.latency_us - upstream_latency);
    out.extend_from_slice(b",\"request_bytes\":");
    int(out, ev.request_bytes);
    out.extend_from_slice(b",\"response_bytes\":");
    int(out, ev.response_bytes);
    let c = &m.captured;
    if !c.request_headers.is_empty() {
        out.extend_from_slice(b",\"request_headers\":");
        headers(out, &c.request_headers);
    }
    if !c.response_headers.is_empty() {
        out.extend_from_slice(b",\"response_headers\":");
        headers(out, &c.response_headers);
    }
    if !c.request_body.is_empty() {
        out.extend_from_slice(b",\"request_body\":");
        string(out, &c.request_body);
    }
    if !c.response_body.is_empty() {
        out.extend_from_slice(b",\"response_body\":");
        string(out, &c.response_body);
    }
    if !m.error.is_empty() {
        out.extend_from_slice(b",\"error\":");
        string(out, &m.error);
    }
    strings(out, b",\"truncated\":[", &m.truncated);
    let http_version = crate::recorder::http_version(ev.http_version);
    if !http_version.is_empty() {
        out.extend_from_slice(b",\"http_version\":");
        string(out, http_version);
    }
    if let Some(tls) = &ev.tls {
        if !tls.version.is_empty() {
            out.extend_from_slice(b",\"tls_version\":");
            string(out, tls.version);
        }
        if !tls.cipher.is_empty() {
            out.extend_from_slice(b",\"tls_cipher\":");
            string(out, tls.cipher);
        }
    }
    if let Some(cert) = ev.client_cert.as_deref().filter(|c| !c.is_empty()) {
        out.extend_from_slice(b",\"client_cert\":");
        string(out, cert);
    }
    if let Some(auth) = ev.caller.auth_method {
        out.extend_from_slice(b",\"auth_method\":");
        string(out, auth.name());
    }
    if let Some(token) = &ev.caller.token {
        if !token.jti.is_empty() {
            out.extend_from_slice(b",\"token_jti\":");
            string(out, &token.jti);
        }
        if !token.scopes.is_empty() {
            out.extend_from_slice(b",\"scopes\":");
            string(out, &token.scopes);
        }
    }
    strings(out, b",\"findings\":[", &ev.findings);
    strings(out, b",\"policies\":[", &ev.policies);
    if let Some(t) = &ev.trace {
        trace_ids(out, t);
    }
    let api_version = ev.api_version();
    if !api_version.is_empty() {
        out.extend_from_slice(b",\"api_version\":");
        string(out, api_version);
    }
    out.push(b'}');
}

/// `"trace_id"`, `"span_id"` and (when the caller sent one) `"parent_span_id"` as hex.
fn trace_ids(out: &mut Vec<u8>, t: &gatewatch_model::trace::TraceIds) {
    fn hex(out: &mut Vec<u8>, key: &[u8], bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        out.extend_from_slice(key);
        for b in bytes {
            out.push(DIGITS[usize::from(b >> 4)]);
            out.push(DIGITS[usize::from(b & 15)]);
        }
        out.push(b'"');
    }
    hex(out, b",\"trace_id\":\"", &t.trace_id);
    hex(out, b",\"span_id\":\"", &t.span_id);
    if let Some(p) = &t.parent_span_id {
        hex(out, b",\"parent_span_id\":\"", p);
    }
}

/// `key` (`,"name":[`) and the strings as a JSON array; nothing when there are none.
fn strings<S: AsRef<str>>(out: &mut Vec<u8>, key: &[u8], items: &[S]) {
    if items.is_empty() {
        return;
    }
    out.extend_from_slice(key);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, item.as_ref());
    }
    out.push(b']');
}

fn id(v: &Option<Arc<str>>) -> &str {
    v.as_deref().unwrap_or_default()
}

/// `[["name","value"],…]`, as serde writes a `Vec` of tuple structs.
fn headers(out: &mut Vec<u8>, list: &[Header]) {
    out.push(b'[');
    for (i, Header(name, value)) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        string(out, name);
        out.push(b',');
        string(out, value);
        out.push(b']');
    }
    out.push(b']');
}

fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The address as `IpAddr`'s `Display` writes it; IPv4 without the formatting machinery.
fn ip(out: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                int(out, octet);
            }
        }
        IpAddr::V6(_) => {
            use std::io::Write as _;
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{addr}");
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes needs escaping in JSON: below 0x20, `"` or `\`. (The classic
/// "has a byte less than n" / "has a zero byte" tests; exact as yes/no answers.)
fn word_needs_escape(w: u64) -> bool {
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q & HIGHS;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b & HIGHS;
    control | quote | backslash != 0
}

/// A JSON string, escaped as serde_json does: `\"`, `\\`, `\b \f \n \r \t`, other control
/// bytes as `\u00xx` (lower-case hex); everything else (DEL, non-ASCII) as is.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(chunk) = b.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !word_needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let c = b[i];
        if c >= 0x20 && c != b'"' && c != b'\\' {
            i += 1;
            continue;
        }
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        out.extend_from_slice(&b[clean_from..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        i += 1;
        clean_from = i;
    }
    out.extend_from_slice(&b[clean_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use gatewatch_model::{CallRecord, Outcome};
    use http::{HeaderMap, HeaderValue, Method};

    use super::*;
    use crate::capture::Captures;
    use crate::route::RouteConfig;
    use crate::route::Router;

    fn serde_string(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    fn ours(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn strings_are_escaped_byte_for_byte_as_serde_json_does() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        let mut cases = vec![
            String::new(),
            "plain".to_string(),
            "exactly8".to_string(),
            "sixteen-bytes-ok".to_string(),
            "quote \" in the middle of a longer text, and a backslash \\ too".to_string(),
            "\"\\\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}".to_string(),
            "ünïcödé — 漢字 and emoji 🦀 with \"quotes\"".to_string(),
            every_ascii.clone(),
            every_ascii.chars().rev().collect(),
        ];
        // Every control byte and escape at every offset around the 8-byte words.
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', ' '] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrst".chars().take(at).collect();
                s.push(special);
                s.push_str("tail-of-the-text");
                cases.push(s);
            }
        }
        // And random mixes of them.
        let alphabet: Vec<char> = "aZ09 /?=&%\"\\\n\t\u{0}\u{1b}\u{7f}é漢🦀".chars().collect();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let s: String = (0..len)
                .map(|k| alphabet[((x >> (k % 50)) as usize + k * 7) % alphabet.len()])
                .collect();
            cases.push(s);
        }
        for s in &cases {
            assert_eq!(ours(s), serde_string(s), "{s:?}");
        }
    }

    #[test]
    fn addresses_read_as_their_display() {
        for a in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.3.45",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            let mut out = Vec::new();
            ip(&mut out, addr);
            assert_eq!(out, addr.to_string().as_bytes());
        }
    }

    fn router() -> Router {
        let mut odd = RouteConfig::new("/odd", ["http://[::1]:9001"]);
        odd.api_id = "odd \"id\"\\".into();
        odd.api_name = "ünï 漢字\tname".into();
        // An API with a version (odd text too: the record line escapes it).
        let mut versioned = RouteConfig::new("/ver", ["http://10.0.0.6:9000"]);
        let mut spec = gatewatch_model::ApiSpec::prefixed("ver", "/ver", &["http://10.0.0.6:9000"]);
        spec.version = "v2 \"ödd\"".into();
        versioned.spec = Some(Arc::new(spec));
        Router::new(&[
            RouteConfig::new("/demo", ["http://10.0.0.5:9000"]).strip_prefix(true),
            odd,
            versioned,
        ])
        .unwrap()
    }

    /// Events over the record's variety: no route, a route, errors, odd text, captures.
    fn events(router: &Router) -> Vec<CallEvent> {
        let demo = router.find("/demo/a").unwrap().clone();
        let base = |uri: &str| CallEvent {
            call_id: uuid::Uuid::from_u128(0x019a_b697_e87b_79c4_bf52_b312_45bd_cc3f),
            ts_us: 1_764_000_000_123_456,
            request_id: HeaderValue::from_static("rid-1"),
            request_id_generated: false,
            method: Method::GET,
            uri: uri.parse().unwrap(),
            client_ip: "10.1.2.3".parse().unwrap(),
            user_agent: None,
            route: None,
            local: None,
            upstream: None,
            status: 200,
            outcome: Outcome::Ok,
            latency_us: 900,
            upstream_latency_us: 700,
            request_bytes: 0,
            response_bytes: 49,
            error: Cow::Borrowed(""),
            capture: None,
            caller: Default::default(),
            http_version: http::Version::HTTP_11,
            tls: None,
            client_cert: None,
            findings: Vec::new(),
            policies: Vec::new(),
            trace: None,
            line: None,
            journal_at: None,
        };
        let mut out = Vec::new();

        let mut e = base("/nowhere?x=1");
        e.status = 404;
        e.outcome = Outcome::NoRoute;
        e.error = Cow::Borrowed("no_route: no route for path '/nowhere'");
        out.push(e);

        let mut e = base("/demo/a/4111111111111111?token=abc&page=2&email=a%40b.example");
        e.route = Some(demo.clone());
        e.upstream = Some(0);
        e.method = Method::POST;
        e.user_agent = Some(HeaderValue::from_static("curl/8.5 \"quoted\" \\ back"));
        e.request_id = HeaderValue::from_bytes(b"id-\xe9\xff-obs-text").unwrap();
        e.client_ip = "2001:db8::1".parse().unwrap();
        e.request_bytes = 5;
        e.caller = crate::access::CallerIds {
            client_id: Some("client-1".into()),
            api_key_id: Some("key-\"1\"".into()),
            app_id: Some("app".into()),
            client_cert: None,
            auth_method: Some(crate::access::auth::AuthUse::new(
                gatewatch_model::api::AuthMethod::Oauth2,
                false,
            )),
            token: Some(Box::new(crate::access::TokenIds {
                jti: "0192f1c2-1a2b-7c3d-8e4f-5a6b7c8d9e0f".into(),
                scopes: "orders.read \"odd\"".into(),
            })),
        };
        e.findings = vec!["sqli:query.q".into(), "xss:body.a[\"x\"]".into()];
        e.policies = vec![Cow::Borrowed("idempotency:stored")];
        out.push(e);

        // Over TLS and HTTP/2, with a matched client certificate.
        let mut e = base("/demo/tls");
        e.route = Some(demo.clone());
        e.http_version = http::Version::HTTP_2;
        e.tls = Some(Arc::new(gatewatch_listen::TlsInfo {
            version: "TLSv1.3",
            cipher: "TLS13_AES_256_GCM_SHA384",
            alpn: Some(b"h2".to_vec()),
            client_cert: Some(vec![1, 2, 3]),
        }));
        e.client_cert = Some(format!("sha256:{}", "ab".repeat(32)).into());
        out.push(e);

        // The answering API's version.
        let mut e = base("/ver/x");
        e.route = Some(router.find("/ver/x").unwrap().clone());
        out.push(e);

        let mut e = base("/demo/generated-id");
        e.route = Some(demo.clone());
        e.request_id = crate::ids::header_value(&e.call_id);
        e.request_id_generated = true;
        out.push(e);

        let mut e = base("/demo/b");
        e.route = Some(demo.clone());
        e.upstream = Some(7); // not an index of the route: no upstream text
        e.upstream_latency_us = 5_000; // more than the whole call
        e.status = 502;
        e.outcome = Outcome::UpstreamError;
        e.error = Cow::Owned(
            "upstream response body failed: line\nbreak\tand\u{1} control, card 4111 1111 1111 1111"
                .to_string(),
        );
        out.push(e);

        let mut e = base("/demo/c?q=%22x%22");
        e.route = Some(router.find("/odd/x").unwrap().clone());
        e.upstream = Some(0);
        let mut caps =
            Captures::for_policy(&gatewatch_model::api::CapturePolicy::Bodies { max_bytes: 64 })
                .unwrap();
        let mut req = HeaderMap::new();
        req.insert("x-api-key", HeaderValue::from_static("gwk_secret"));
        req.insert("content-type", HeaderValue::from_static("application/json"));
        req.append("x-multi", HeaderValue::from_static("one \"1\""));
        req.append("x-multi", HeaderValue::from_static("two\t2"));
        caps.request_headers = Some(req);
        let mut resp = HeaderMap::new();
        resp.insert("content-type", HeaderValue::from_static("text/plain"));
        caps.response_headers = Some(resp);
        if let Some(t) = caps.response_body.as_mut() {
            t.push("answer with \"quotes\" and a newline\nand an e-mail a@b.example".as_bytes());
        }
        e.capture = Some(caps);
        out.push(e);

        // Over every cap (see `caps`): cut, and named in `truncated`.
        let long_path = format!("/demo/{}", "p".repeat(3000));
        let long_query = format!("token=abc&q={}", "é".repeat(3000));
        let mut e = base(&format!("{long_path}?{long_query}"));
        e.route = Some(demo.clone());
        e.user_agent = Some(HeaderValue::from_str(&"u".repeat(600)).unwrap());
        e.error = Cow::Owned("e".repeat(5000));
        let mut caps = Captures::for_policy(&gatewatch_model::api::CapturePolicy::Headers).unwrap();
        let mut req = HeaderMap::new();
        for i in 0..70 {
            req.insert(
                http::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        caps.request_headers = Some(req);
        let mut resp = HeaderMap::new();
        resp.insert("x-big", HeaderValue::from_str(&"b".repeat(2000)).unwrap());
        caps.response_headers = Some(resp);
        e.capture = Some(caps);
        out.push(e);
        out
    }

    #[test]
    fn a_record_over_its_caps_is_cut_and_flagged() {
        let router = router();
        let e = events(&router).pop().unwrap();
        let r = e.into_record("gw-1");
        assert_eq!(
            r.truncated,
            [
                "path",
                "query",
                "user_agent",
                "error",
                "request_headers",
                "response_headers"
            ]
        );
        assert_eq!(r.path.len(), crate::caps::PATH_MAX);
        assert!(r.path.starts_with("/demo/ppp") && r.path.ends_with(crate::caps::MARK));
        assert!(r.query.len() <= crate::caps::QUERY_MAX);
        assert!(r.query.starts_with("token=****&q=éé"), "{}", &r.query[..40]);
        assert_eq!(r.user_agent.len(), crate::caps::USER_AGENT_MAX);
        assert_eq!(r.error.len(), crate::caps::ERROR_MAX);
        assert_eq!(r.request_headers.len(), crate::caps::HEADERS_MAX);
        assert_eq!(r.response_headers[0].1.len(), crate::caps::HEADER_VALUE_MAX);
    }

    #[test]
    fn the_line_is_serde_json_of_the_record() {
        let router = router();
        let reference: Vec<Vec<u8>> = events(&router)
            .into_iter()
            .map(|e| {
                let mut line = serde_json::to_vec(&e.into_record("gw-1")).unwrap();
                line.push(b'\n');
                line
            })
            .collect();
        for (e, want) in events(&router).iter().zip(&reference) {
            let mut got = Vec::new();
            write_line(e, "gw-1", &mut got);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "{e:?}"
            );
            // And it decodes as the collector decodes it.
            let batch = gatewatch_model::ndjson::decode_lines::<CallRecord>(&got);
            assert!(batch.errors.is_empty(), "{:?}", batch.errors);
        }
        let tls = String::from_utf8(reference[2].clone()).unwrap();
        assert!(
            tls.trim_end().ends_with(&format!(
                r#","http_version":"HTTP/2","tls_version":"TLSv1.3","tls_cipher":"TLS13_AES_256_GCM_SHA384","client_cert":"sha256:{}"}}"#,
                "ab".repeat(32)
            )),
            "{tls}"
        );
        // The captures were exercised, masked (the event before the one over its caps).
        let last = String::from_utf8(reference[reference.len() - 2].clone()).unwrap();
        assert!(last.contains("\"request_headers\":[["), "{last}");
        assert!(last.contains("\"response_body\":"), "{last}");
        assert!(!last.contains("gwk_secret"), "{last}");
        let cut = String::from_utf8(reference.last().unwrap().clone()).unwrap();
        assert!(
            cut.trim_end().ends_with(
                r#","truncated":["path","query","user_agent","error","request_headers","response_headers"],"http_version":"HTTP/1.1"}"#
            ),
            "{}",
            &cut[cut.len() - 200..]
        );
    }
}
