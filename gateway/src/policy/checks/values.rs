//! The request's values, each named for the record: `path[1]` (segments from 0, decoded),
//! `query.q` (decoded, `+` a space), `header.referer`, `body.name` (form fields) and
//! `body.items[2].note` (JSON strings; `body` for a top-level string, `body["a b"]` for a
//! key that is not a plain name).

use std::fmt::Write as _;

use http::request::Parts;
use http::HeaderValue;
use serde_json::Value;

use super::{detect, Compiled, Finding, MAX_FINDINGS};
use crate::mask::query::percent_decode_bytes;

/// JSON nesting named in full; deeper values are still scanned, named by their first
/// [`JSON_DEPTH`] steps and `…`.
pub(crate) const JSON_DEPTH: usize = 32;
/// Longest name kept for a value (the record's notes take 512 bytes).
const PLACE_MAX: usize = 200;

/// Bodies the checks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Form,
}

impl BodyKind {
    /// From `Content-Type`: `application/json`, `application/*+json`,
    /// `application/x-www-form-urlencoded` (parameters and case ignored).
    pub fn of(content_type: Option<&HeaderValue>) -> Option<BodyKind> {
        let ct = content_type?.to_str().ok()?;
        let media = ct.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/json")
            || (media.len() > 17
                && media[..12].eq_ignore_ascii_case("application/")
                && media[media.len() - 5..].eq_ignore_ascii_case("+json"))
        {
            Some(BodyKind::Json)
        } else if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Some(BodyKind::Form)
        } else {
            None
        }
    }
}

struct Scan<'a> {
    checks: &'a Compiled,
    first_only: bool,
    found: Vec<Finding>,
}

impl Scan<'_> {
    fn done(&self) -> bool {
        (self.first_only && !self.found.is_empty()) || self.found.len() >= MAX_FINDINGS
    }

    /// Scans one value; `place` is made only when something is found.
    fn value(&mut self, value: &[u8], place: impl FnOnce() -> String) {
        if self.done() {
            return;
        }
        if let Some(check) = detect(self.checks, value) {
            let mut place = place();
            cap(&mut place);
            self.found.push(Finding { check, place });
        }
    }
}

/// Scans path, query, the chosen headers and the body; stops at the first finding when
/// `first_only` (blocking needs one).
pub(crate) fn scan(
    checks: &Compiled,
    head: &Parts,
    body: Option<(&[u8], Option<BodyKind>)>,
    first_only: bool,
) -> Vec<Finding> {
    let mut s = Scan {
        checks,
        first_only,
        found: Vec::new(),
    };
    let path = head.uri.path();
    for (i, seg) in path.split('/').skip(1).enumerate() {
        s.value(&percent_decode_bytes(seg.as_bytes(), false), || {
            format!("path[{i}]")
        });
    }
    if let Some(q) = head.uri.query() {
        pairs(&mut s, q.as_bytes(), "query");
    }
    for name in &checks.headers {
        for v in head.headers.get_all(name) {
            s.value(v.as_bytes(), || format!("header.{name}"));
        }
    }
    match body {
        Some((b, Some(BodyKind::Form))) => pairs(&mut s, b, "body"),
        Some((b, Some(BodyKind::Json))) => match serde_json::from_slice::<Value>(b) {
            Ok(v) => {
                let mut place = String::from("body");
                json(&mut s, &v, &mut place, 0);
            }
            // Malformed or nested past serde's limit: scanned as one text, so no value
            // the upstream may still read goes unscanned.
            Err(_) => s.value(b, || "body".to_string()),
        },
        _ => {}
    }
    s.found
}

/// `a=1&b=2` pairs (form encoding); a part without `=` is scanned whole.
fn pairs(s: &mut Scan, text: &[u8], prefix: &str) {
    for part in text.split(|c| *c == b'&') {
        if part.is_empty() {
            continue;
        }
        let (name, value) = match part.iter().position(|c| *c == b'=') {
            Some(eq) => (&part[..eq], &part[eq + 1..]),
            None => (part, part),
        };
        s.value(&percent_decode_bytes(value, true), || {
            let name = percent_decode_bytes(name, true);
            let name = String::from_utf8_lossy(&name);
            let mut place = String::from(prefix);
            key(&mut place, &name);
            place
        });
    }
}

fn json(s: &mut Scan, v: &Value, place: &mut String, depth: usize) {
    if s.done() {
        return;
    }
    let len = place.len();
    match v {
        Value::String(text) => s.value(text.as_bytes(), || place.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if depth < JSON_DEPTH {
                    let _ = write!(place, "[{i}]");
                } else if depth == JSON_DEPTH {
                    place.push('…');
                }
                json(s, item, place, depth + 1);
                place.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                if depth < JSON_DEPTH {
                    key(place, k);
                } else if depth == JSON_DEPTH {
                    place.push('…');
                }
                json(s, item, place, depth + 1);
                place.truncate(len);
            }
        }
        _ => {}
    }
}

/// `.name` for a plain name, `["any thing"]` (JSON-quoted) otherwise.
fn key(place: &mut String, k: &str) {
    let plain = !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if plain {
        place.push('.');
        place.push_str(k);
    } else {
        let short: String = k.chars().take(64).collect();
        place.push('[');
        place.push_str(&serde_json::Value::String(short).to_string());
        place.push(']');
    }
}

/// Cuts a name to [`PLACE_MAX`] bytes at a character boundary.
fn cap(place: &mut String) {
    if place.len() > PLACE_MAX {
        let mut end = PLACE_MAX;
        while !place.is_char_boundary(end) {
            end -= 1;
        }
        place.truncate(end);
        place.push('…');
    }
}
