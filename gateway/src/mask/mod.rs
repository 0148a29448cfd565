//! Masking: what of a call may leave the process, with secrets hidden.
//!
//! A [`Masker`] applies one API's [`MaskRules`] (the defaults when no route matched) to the
//! pieces of a record:
//! - [`Masker::path`], [`Masker::text`]: the detectors ([`detectors`]) over the path, the
//!   user agent and the error message (which may quote the path);
//! - [`Masker::query`]: configured `query_params` masked whole, the detectors over every other
//!   value ([`query`]); always, whatever the capture policy;
//! - [`Masker::headers`]: default secret headers and the API's `headers` masked whole, the
//!   detectors over the rest ([`headers`]);
//! - [`Masker::body`]: a captured body prefix, by its kind:
//!   - JSON (`Content-Type` naming json, or text starting with `{`/`[`): `json_paths` masked
//!     whole and the detectors over strings and card-like numbers, in one streaming pass that
//!     also copes with a body cut at `max_bytes` ([`json`]); text that turns out not to be
//!     JSON gets the detectors and a tolerant `"key":` scan for the `json_paths` keys;
//!   - `application/x-www-form-urlencoded`: like a query string (`query_params` whole);
//!   - other text: the detectors;
//!   - `Content-Encoding: gzip` or `deflate`: the captured prefix is inflated (at most
//!     `max_bytes` out, so a zip bomb costs nothing) and masked as above; a prefix cut short
//!     inflates as far as it goes;
//!   - binary (a binary content type, bytes that are not UTF-8, a control byte) or another
//!     encoding (br, zstd…): the bytes are not kept, only a line saying what and how big,
//!     e.g. `[binary body not captured: 5120 bytes, image/png]`;
//!   - cut at `max_bytes`: the trailing partial word (letters, digits and `@._%+-()`, at most
//!     48 bytes) is dropped first, so that a secret cut in half — too short for its detector
//!     — is not kept, and a marker ends the text: `…[truncated: first 4096 of 10240 bytes]`.
//!
//! Whole masking writes [`WHOLE`]; detectors keep the length (see [`detectors`]).
//!
//! Where it runs: on the shipper's side, in `CallEvent::masked` inside the batch
//! encoder's blocking task — before the record is serialised for the collector or the spool,
//! and never on the proxy's tasks (the proxy only copies up to `max_bytes` of each body as it
//! streams). Nothing unmasked is written or sent anywhere.

pub(crate) mod detectors;
pub(crate) mod headers;
pub(crate) mod json;
pub(crate) mod query;

use std::borrow::Cow;
use std::sync::LazyLock;

use gatewatch_model::mask::{parse_json_path, MaskRules, PathStep, DEFAULT_MASKED_JSON_KEYS};
use gatewatch_model::Header;
use http::HeaderMap;

use detectors::Detectors;

/// What a value masked whole reads as.
pub(crate) const WHOLE: &str = "****";

/// The rules of calls that matched no API: the default detectors and headers.
static DEFAULT_RULES: LazyLock<MaskRules> = LazyLock::new(MaskRules::default);

/// One API's masking, ready to apply.
pub(crate) struct Masker<'a> {
    rules: &'a MaskRules,
    det: Detectors,
}

/// A captured body prefix and what is known about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyIn<'b> {
    /// The first `max_bytes` (or fewer) bytes.
    pub bytes: &'b [u8],
    /// Bytes of the whole body seen (more than `bytes.len()` when cut).
    pub total: u64,
    pub content_type: &'b str,
    pub content_encoding: &'b str,
    /// The policy's `max_bytes`: the most an encoded body may inflate to.
    pub limit: usize,
    /// The copy stopped early: the process's capture budget was in use.
    pub over_budget: bool,
}

impl<'a> Masker<'a> {
    pub fn new(rules: Option<&'a MaskRules>) -> Masker<'a> {
        let rules = rules.unwrap_or(&DEFAULT_RULES);
        Masker {
            rules,
            det: Detectors::new(&rules.detectors),
        }
    }

    /// Free text through the detectors.
    pub fn text<'t>(&self, s: &'t str) -> Cow<'t, str> {
        self.det.mask(s)
    }

    pub fn path<'t>(&self, p: &'t str) -> Cow<'t, str> {
        query::mask_path(p, &self.det)
    }

    pub fn query(&self, q: &str) -> String {
        query::mask_query(q, &self.rules.query_params, &self.det)
    }

    pub fn headers(&self, map: &HeaderMap) -> Vec<Header> {
        headers::mask_headers(map, &self.rules.headers, &self.det)
    }

    /// A captured body as it goes into the record (see the module doc).
    pub fn body(&self, body: BodyIn<'_>) -> String {
        if body.bytes.is_empty() {
            return if body.over_budget {
                format!(
                    "[body not captured: the capture budget is in use; {} bytes]",
                    body.total
                )
            } else {
                String::new()
            };
        }
        let ct = body.content_type.trim();
        let encoding = body.content_encoding.trim();
        let inflated;
        let (bytes, truncated) = match inflate(encoding, body.bytes, body.limit) {
            Inflated::Identity => (body.bytes, body.total > body.bytes.len() as u64),
            Inflated::Done { out, complete } => {
                inflated = out;
                let cut = !complete || body.total > body.bytes.len() as u64;
                (&inflated[..], cut)
            }
            Inflated::Unknown => (&[][..], false),
        };
        let text = if bytes.is_empty() || binary_type(ct) {
            None
        } else {
            utf8_prefix(bytes)
        };
        let Some(mut text) = text else {
            let encoded = !matches!(inflate_kind(encoding), Some(Codec::Identity));
            let what = if encoded {
                format!("{}-encoded", body.content_encoding)
            } else {
                "binary".to_string()
            };
            let ct = if ct.is_empty() { "no content type" } else { ct };
            return format!("[{what} body not captured: {} bytes, {ct}]", body.total);
        };
        if truncated {
            text = drop_partial_word(text);
        }
        let lower_ct = ct.to_ascii_lowercase();
        let mut out = if lower_ct.contains("json") || looks_like_json(text) {
            let paths = self.json_paths();
            json::mask_json(text, &paths, true, &self.det)
                .unwrap_or_else(|| json::mask_text_with_keys(text, &paths, true, &self.det))
        } else if lower_ct.starts_with("application/x-www-form-urlencoded") {
            self.query(text)
        } else {
            self.det.mask(text).into_owned()
        };
        if truncated {
            out.push_str(&if std::ptr::eq(bytes, body.bytes) {
                format!(
                    "\u{2026}[truncated: first {} of {} bytes]",
                    bytes.len(),
                    body.total
                )
            } else {
                format!(
                    "\u{2026}[truncated: first {} bytes of the inflated body; {} {encoding} bytes on the wire]",
                    bytes.len(),
                    body.total
                )
            });
        }
        out
    }

    /// The API's JSON paths (validated when the API was saved; a bad one is skipped), then the
    /// default keys at any depth (every key secret by its name is masked besides, see
    /// [`json`]).
    fn json_paths(&self) -> Vec<Vec<PathStep>> {
        self.rules
            .json_paths
            .iter()
            .filter_map(|p| parse_json_path(p).ok())
            .chain(
                DEFAULT_MASKED_JSON_KEYS
                    .iter()
                    .map(|k| vec![PathStep::AnyDepth, PathStep::Key((*k).to_string())]),
            )
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Identity,
    Gzip,
    Deflate,
}

fn inflate_kind(encoding: &str) -> Option<Codec> {
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        Some(Codec::Identity)
    } else if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") {
        Some(Codec::Gzip)
    } else if encoding.eq_ignore_ascii_case("deflate") {
        Some(Codec::Deflate)
    } else {
        None
    }
}

enum Inflated {
    Identity,
    /// What came out (at most `limit` bytes); `complete` when the stream ended within it.
    Done {
        out: Vec<u8>,
        complete: bool,
    },
    /// An encoding we do not inflate, or bytes that are not what the header says.
    Unknown,
}

fn inflate(encoding: &str, bytes: &[u8], limit: usize) -> Inflated {
    use std::io::Read;
    let mut out = Vec::new();
    let reader: Box<dyn Read + '_> = match inflate_kind(encoding) {
        Some(Codec::Identity) => return Inflated::Identity,
        Some(Codec::Gzip) => Box::new(flate2::read::GzDecoder::new(bytes)),
        Some(Codec::Deflate) => Box::new(flate2::read::ZlibDecoder::new(bytes)),
        None => return Inflated::Unknown,
    };
    // One byte past the limit tells a body that is longer from one that fits exactly. A
    // prefix cut short ends in an error: what came out before it is kept.
    let res = reader.take(limit as u64 + 1).read_to_end(&mut out);
    if out.is_empty() && res.is_err() {
        return Inflated::Unknown;
    }
    let complete = res.is_ok() && out.len() <= limit;
    out.truncate(limit);
    Inflated::Done { out, complete }
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// Content types whose bytes are not text.
fn binary_type(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    let main = ct.split(';').next().unwrap_or("").trim();
    ["image/", "audio/", "video/", "font/", "multipart/"]
        .iter()
        .any(|p| main.starts_with(p))
        || matches!(
            main,
            "application/octet-stream"
                | "application/pdf"
                | "application/zip"
                | "application/gzip"
                | "application/x-protobuf"
                | "application/protobuf"
                | "application/grpc"
                | "application/msgpack"
                | "application/cbor"
        )
}

/// The bytes as text, allowing a character cut in half at the end; `None` for binary data
/// (invalid UTF-8 elsewhere, or control bytes other than whitespace).
fn utf8_prefix(bytes: &[u8]) -> Option<&str> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            // Only the last character is incomplete: the cut went through it.
            std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let binary = text
        .bytes()
        .any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f);
    (!binary).then_some(text)
}

/// `text` without its trailing partial word (see the module doc).
fn drop_partial_word(text: &str) -> &str {
    let b = text.as_bytes();
    let mut end = b.len();
    while end > 0
        && b.len() - end < 48
        && (b[end - 1].is_ascii_alphanumeric()
            || matches!(
                b[end - 1],
                b'@' | b'.' | b'_' | b'%' | b'+' | b'-' | b'(' | b')' | b' '
            ))
    {
        end -= 1;
    }
    // Only ASCII bytes were dropped, so `end` is a character boundary.
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::mask::Detector;

    fn rules() -> MaskRules {
        MaskRules {
            headers: vec!["x-secret".into()],
            json_paths: vec!["password".into(), "items[*].token".into()],
            query_params: vec!["pin".into()],
            detectors: Detector::defaults(),
        }
    }

    fn body(m: &Masker, bytes: &[u8], total: u64, ct: &str) -> String {
        m.body(BodyIn {
            bytes,
            total,
            content_type: ct,
            content_encoding: "",
            limit: 4096,
            over_budget: false,
        })
    }

    #[test]
    fn bodies_by_kind() {
        let r = rules();
        let m = Masker::new(Some(&r));
        let json = br#"{"password":"pw","mail":"bob@ex.com"}"#;
        assert_eq!(
            body(&m, json, json.len() as u64, "application/json"),
            r#"{"password":"****","mail":"b**@ex.com"}"#
        );
        // No content type, but it parses.
        assert_eq!(
            body(&m, json, json.len() as u64, ""),
            r#"{"password":"****","mail":"b**@ex.com"}"#
        );
        let form = b"pin=1234&card=4111111111111111";
        assert_eq!(
            body(
                &m,
                form,
                30,
                "application/x-www-form-urlencoded; charset=utf-8"
            ),
            "pin=****&card=************1111"
        );
        assert_eq!(
            body(&m, b"call me at 0912345678", 21, "text/plain"),
            "call me at *******678"
        );
        assert_eq!(
            body(&m, b"\x89PNG\r\n\x1a\n", 5120, "image/png"),
            "[binary body not captured: 5120 bytes, image/png]"
        );
        assert_eq!(
            body(&m, b"ab\x00cd", 5, ""),
            "[binary body not captured: 5 bytes, no content type]"
        );
        assert_eq!(
            m.body(BodyIn {
                bytes: b"\x28\xb5\x2f\xfd",
                total: 300,
                content_type: "application/json",
                content_encoding: "zstd",
                limit: 4096,
                over_budget: false,
            }),
            "[zstd-encoded body not captured: 300 bytes, application/json]"
        );
        // Malformed JSON: detectors and the key scan.
        assert_eq!(
            body(&m, br#"{"password": "pw", x}"#, 21, "application/json"),
            r#"{"password": "****", x}"#
        );
    }

    #[test]
    fn a_cut_body_drops_its_partial_word_and_says_so() {
        let r = rules();
        let m = Masker::new(Some(&r));
        // A card cut after 14 digits: no detector would know it; it goes.
        let text = b"{\"note\":\"pay with 4111 1111 1111 11";
        assert_eq!(
            body(&m, text, 100, "application/json"),
            "{\"note\":\"\u{2026}[truncated: first 35 of 100 bytes]"
        );
        // A multi-byte character cut in half.
        let zh = "中文".as_bytes();
        assert_eq!(
            body(&m, &zh[..4], 6, "text/plain"),
            "中\u{2026}[truncated: first 4 of 6 bytes]"
        );
        let cut = br#"{"items":[{"token":"abcdef"#;
        assert_eq!(
            body(&m, cut, 99, ""),
            "{\"items\":[{\"token\":\"****\u{2026}[truncated: first 26 of 99 bytes]"
        );
    }

    #[test]
    fn gzip_bodies_are_inflated_within_the_limit() {
        use std::io::Write;
        let r = rules();
        let m = Masker::new(Some(&r));
        let plain = br#"{"password":"pw","card":"4111111111111111"}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain).unwrap();
        let gz = gz.finish().unwrap();
        let input = |bytes, total, limit| BodyIn {
            bytes,
            total,
            content_type: "application/json",
            content_encoding: "gzip",
            limit,
            over_budget: false,
        };
        assert_eq!(
            m.body(input(&gz, gz.len() as u64, 4096)),
            r#"{"password":"****","card":"************1111"}"#
        );
        // Inflating stops at the limit, and says so.
        assert_eq!(
            m.body(input(&gz, gz.len() as u64, 20)),
            format!(
                "{{\"password\":\"****\",\"\u{2026}[truncated: first 20 bytes of the inflated body; {} gzip bytes on the wire]",
                gz.len()
            )
        );
        // Not gzip after all.
        assert_eq!(
            m.body(input(b"{}", 2, 4096)),
            "[gzip-encoded body not captured: 2 bytes, application/json]"
        );
    }

    #[test]
    fn no_route_uses_the_defaults() {
        let m = Masker::new(None);
        assert_eq!(
            body(
                &m,
                br#"{"data":{"access_token":"eyJhbGciOi.x.y","user":"amy"}}"#,
                50,
                "application/json"
            ),
            r#"{"data":{"access_token":"****","user":"amy"}}"#
        );
        assert_eq!(m.path("/a/4111111111111111"), "/a/************1111");
        // Secret by name (issue 13): `pin` and `spinner` are told apart.
        assert_eq!(m.query("pin=1234&spinner=1"), "pin=****&spinner=1");
        assert_eq!(
            m.query("page=2&Token=abc&api_key=x"),
            "page=2&Token=****&api_key=****"
        );
        assert_eq!(
            m.text("no route for path '/x/A123456789'"),
            "no route for path '/x/A******789'"
        );
    }

    /// Prints µs per KB for typical bodies. Not a pass/fail test: run by hand with
    /// `cargo test -p gatewatch-gateway --release --lib -- --ignored masking_speed --nocapture`.
    #[test]
    #[ignore = "a timing loop, run by hand"]
    fn masking_speed() {
        let r = rules();
        let m = Masker::new(Some(&r));
        let item = r#"{"id":1764000000123,"name":"王小明","note":"order 4111111111111112 shipped","amount":1234.50,"token":"abc","ts":"2025-11-25T09:12:34+08:00"},"#;
        let mut json = String::from(r#"{"password":"x","items":["#);
        while json.len() < 16 * 1024 {
            json.push_str(item);
        }
        json.push_str(
            r#"{"card":"4111 1111 1111 1111","mail":"alice@example.com","tel":"0912-345-678"}]}"#,
        );
        let text = json.replace(['{', '}', '[', ']', '"'], " ");
        let kb = json.len() as f64 / 1024.0;
        for (what, input, ct) in [
            ("json", &json, "application/json"),
            ("text", &text, "text/plain"),
        ] {
            let rounds = 200;
            let t = std::time::Instant::now();
            let mut out = 0;
            for _ in 0..rounds {
                out += body(&m, input.as_bytes(), input.len() as u64, ct).len();
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
            println!("{what}: {:.2} µs per KB ({out} bytes out)", us / kb);
        }
    }

    /// Pseudo-random text from pieces that trip detectors and parsers: nothing may panic, and
    /// valid JSON must stay valid JSON.
    #[test]
    fn random_inputs_never_panic_and_json_stays_json() {
        let pieces = [
            "4111",
            " ",
            "-",
            "1111",
            "0912",
            "345",
            "678",
            "+886",
            "+",
            "A123456789",
            "a",
            "@",
            "ex.com",
            ".",
            "\\",
            "\"",
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "中",
            "é",
            "%",
            "%4",
            "%40",
            "&",
            "=",
            "(",
            ")",
            "9",
            "0",
            "\\u00",
            "null",
            "tru",
            "\n",
            "x",
        ];
        let r = rules();
        let m = Masker::new(Some(&r));
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let _ = m.text(&s);
            let _ = m.path(&s);
            let _ = m.query(&s);
            for cut in [s.len(), s.len() / 2] {
                let _ = body(&m, &s.as_bytes()[..cut], s.len() as u64, "application/json");
                let _ = body(&m, &s.as_bytes()[..cut], s.len() as u64, "text/plain");
            }
            // The same pieces as JSON string values and card-like numbers.
            let v = serde_json::json!({"password": s, "items": [{"token": s, "n": 4111111111111111u64}], "s": s});
            let text = v.to_string();
            let out = body(&m, text.as_bytes(), text.len() as u64, "application/json");
            let back: serde_json::Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {text} -> {out}"));
            assert_eq!(back["password"], "****");
            assert_eq!(back["items"][0]["token"], "****");
        }
    }
}
