//! The caps on what one record carries, so that no request can make its record (and the
//! batch around it) too large to ship: a value over its cap is cut — never dropped — at a
//! character boundary, ends with [`MARK`], and the record names the field in `truncated`.
//!
//! | field | cap |
//! | --- | --- |
//! | `path` | [`PATH_MAX`] (2 KiB) |
//! | `query` | [`QUERY_MAX`] (4 KiB) |
//! | `user_agent` | [`USER_AGENT_MAX`] (512 B) |
//! | `error` | [`ERROR_MAX`] (4 KiB) |
//! | each captured header | name [`HEADER_NAME_MAX`] (256 B), value [`HEADER_VALUE_MAX`] (1 KiB) |
//! | captured headers | [`HEADERS_MAX`] (64) each way; the rest are left out |
//!
//! Caps apply after masking (a secret is masked whole before any cut, so no half of one is
//! kept), to the text as it goes into the record. Bodies have their own cut, the API's
//! capture `max_bytes`, with its own marker (see `mask`). With these, a record is at most
//! about 150 KiB plus its two captured bodies.

use std::borrow::Cow;

use gatewatch_model::Header;

pub(crate) const PATH_MAX: usize = 2 * 1024;
pub(crate) const QUERY_MAX: usize = 4 * 1024;
pub(crate) const USER_AGENT_MAX: usize = 512;
pub(crate) const ERROR_MAX: usize = 4 * 1024;
pub(crate) const HEADER_NAME_MAX: usize = 256;
pub(crate) const HEADER_VALUE_MAX: usize = 1024;
pub(crate) const HEADERS_MAX: usize = 64;

/// Ends every cut value (3 bytes, counted in the cap).
pub(crate) const MARK: &str = "\u{2026}";

/// `s` cut to at most `max` bytes (with [`MARK`]) when longer; `cut` is set when it was.
pub(crate) fn cap_str(s: &str, max: usize) -> Option<String> {
    if s.len() <= max {
        return None;
    }
    let mut end = max.saturating_sub(MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + MARK.len());
    out.push_str(&s[..end]);
    out.push_str(MARK);
    Some(out)
}

/// [`cap_str`] on a `Cow`, naming `field` in `truncated` when cut.
pub(crate) fn cap<'a>(
    s: Cow<'a, str>,
    max: usize,
    field: &'static str,
    truncated: &mut Vec<&'static str>,
) -> Cow<'a, str> {
    match cap_str(&s, max) {
        Some(cut) => {
            truncated.push(field);
            Cow::Owned(cut)
        }
        None => s,
    }
}

/// Captured headers cut to [`HEADERS_MAX`], each name and value to its cap; `field` is named
/// in `truncated` when anything was cut.
pub(crate) fn cap_headers(
    headers: &mut Vec<Header>,
    field: &'static str,
    truncated: &mut Vec<&'static str>,
) {
    let mut cut = headers.len() > HEADERS_MAX;
    headers.truncate(HEADERS_MAX);
    for Header(name, value) in headers.iter_mut() {
        if let Some(c) = cap_str(name, HEADER_NAME_MAX) {
            *name = c;
            cut = true;
        }
        if let Some(c) = cap_str(value, HEADER_VALUE_MAX) {
            *value = c;
            cut = true;
        }
    }
    if cut {
        truncated.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_at_a_char_boundary_with_a_mark() {
        assert_eq!(cap_str("short", 10), None);
        assert_eq!(cap_str("exactly10!", 10), None);
        assert_eq!(
            cap_str("abcdefghijk", 10).as_deref(),
            Some("abcdefg\u{2026}")
        );
        // "中" is 3 bytes: never split.
        let cut = cap_str("中中中中", 10).unwrap();
        assert_eq!(cut, "中中\u{2026}");
        assert!(cut.len() <= 10);
        for max in 3..40 {
            let s = "aé中🙂".repeat(10);
            let c = cap_str(&s, max).unwrap();
            assert!(c.len() <= max, "{max}: {c}");
            assert!(c.ends_with(MARK));
        }
    }

    #[test]
    fn fields_are_named_once_when_cut() {
        let mut t = Vec::new();
        let long = "x".repeat(PATH_MAX + 1);
        let p = cap(Cow::Borrowed(long.as_str()), PATH_MAX, "path", &mut t);
        assert_eq!(p.len(), PATH_MAX);
        let q = cap(Cow::Borrowed("a=1"), QUERY_MAX, "query", &mut t);
        assert_eq!(q, "a=1");
        let mut h: Vec<Header> = (0..70)
            .map(|i| Header(format!("x-h{i}"), "v".repeat(if i == 3 { 5000 } else { 3 })))
            .collect();
        cap_headers(&mut h, "request_headers", &mut t);
        assert_eq!(h.len(), HEADERS_MAX);
        assert_eq!(h[3].1.len(), HEADER_VALUE_MAX);
        let mut few = vec![Header("a".into(), "b".into())];
        cap_headers(&mut few, "response_headers", &mut t);
        assert_eq!(t, ["path", "request_headers"]);
    }
}
