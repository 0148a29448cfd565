//! Query strings, form bodies and paths.
//!
//! Detection runs on the percent-decoded text (`%40` is an `@`), with `+` kept as `+` so that
//! `?tel=+886912345678` is still a phone number. A part with nothing to mask is kept exactly as
//! received; a masked part is written back decoded, with only the characters that would change
//! its meaning (`%`, `&`, `=`, `#`, `?`, spaces and controls) encoded, so it stays readable:
//! `card=************1111`, `email=a****@example.com`.

use std::borrow::Cow;

use gatewatch_model::mask::{is_secret_name, same_name, DEFAULT_MASKED_QUERY_PARAMS};

use super::detectors::Detectors;
use super::WHOLE;
use crate::path::hex;

/// `%XX` decoded (invalid escapes kept as they are; `+` kept); borrowed when there is no `%`.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    match percent_decode_bytes(s.as_bytes(), false) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(out) => match String::from_utf8(out) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// `%XX` decoded (a bad escape kept as is), and `+` as a space when `plus_is_space` (form
/// encoding); borrowed when there is nothing to decode.
pub(crate) fn percent_decode_bytes(s: &[u8], plus_is_space: bool) -> Cow<'_, [u8]> {
    let plus = plus_is_space && s.contains(&b'+');
    if !plus && !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let digit = |at: usize| s.get(at).copied().and_then(hex);
                match (digit(i + 1), digit(i + 2)) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// `application/x-www-form-urlencoded` decoding of one name or value, strictly: `+` is a space,
/// `%XX` a byte, and the result must be UTF-8; `None` for a `%` without two hex digits or bytes
/// that are not UTF-8 (a request we refuse rather than guess at: OAuth forms, a version named
/// in the query). Borrowed when there is nothing to decode.
pub(crate) fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(hex)?;
                let lo = b.get(i + 2).copied().and_then(hex)?;
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// `s` with `%`, the bytes in `reserved`, spaces and controls percent-encoded; the rest (UTF-8
/// included) as is, for reading.
fn encode_into(out: &mut String, s: &str, reserved: &[u8]) {
    for ch in s.chars() {
        let c = u32::from(ch);
        if c < 0x80 {
            let b = c as u8;
            if b == b'%' || b <= b' ' || b == 0x7f || reserved.contains(&b) {
                out.push_str(&format!("%{b:02X}"));
                continue;
            }
        }
        out.push(ch);
    }
}

/// One component (a path, a query value): masked by the detectors, or borrowed unchanged.
fn component<'a>(raw: &'a str, det: &Detectors, reserved: &[u8]) -> Cow<'a, str> {
    let decoded = percent_decode(raw);
    match det.mask(&decoded) {
        Cow::Borrowed(_) => Cow::Borrowed(raw),
        Cow::Owned(masked) => {
            let mut out = String::with_capacity(masked.len());
            encode_into(&mut out, &masked, reserved);
            Cow::Owned(out)
        }
    }
}

/// The path with the detectors run over it (card numbers do turn up in paths).
pub(crate) fn mask_path<'a>(path: &'a str, det: &Detectors) -> Cow<'a, str> {
    component(path, det, b"?#")
}

/// A query string (or an `application/x-www-form-urlencoded` body): the values of `params`, of
/// [`DEFAULT_MASKED_QUERY_PARAMS`] (compared without case or separators, after decoding) and
/// of every name secret by itself ([`is_secret_name`]: `accessToken`, `otp`, `card_pin`) are
/// masked whole, the detectors run over every other value and over parts without `=`.
pub(crate) fn mask_query(query: &str, params: &[String], det: &Detectors) -> String {
    let mut out = String::with_capacity(query.len());
    for (k, part) in query.split('&').enumerate() {
        if k > 0 {
            out.push('&');
        }
        match part.split_once('=') {
            Some((name, value)) => {
                let decoded = percent_decode(name);
                let name_plain = decoded.replace('+', " ");
                out.push_str(&component(name, det, b"&=#"));
                out.push('=');
                let name = name_plain.trim();
                if params.iter().any(|p| same_name(p, name))
                    || DEFAULT_MASKED_QUERY_PARAMS
                        .iter()
                        .any(|p| same_name(p, name))
                    || is_secret_name(name)
                {
                    if !value.is_empty() {
                        out.push_str(WHOLE);
                    }
                } else {
                    out.push_str(&component(value, det, b"&#"));
                }
            }
            None => out.push_str(&component(part, det, b"&=#")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::mask::Detector;

    fn det() -> Detectors {
        Detectors::new(&Detector::defaults())
    }

    fn q(query: &str, params: &[&str]) -> String {
        let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
        mask_query(query, &params, &det())
    }

    #[test]
    fn configured_params_are_masked_whole() {
        assert_eq!(q("token=abc&x=1", &["token"]), "token=****&x=1");
        assert_eq!(q("TOKEN=abc&token=&t", &["token"]), "TOKEN=****&token=&t");
        assert_eq!(q("to%6Ben=abc", &["token"]), "to%6Ben=****");
        assert_eq!(q("a=1&b=2", &[]), "a=1&b=2");
        assert_eq!(q("", &["x"]), "");
        assert_eq!(
            q("Card-No=1&card_no=2", &["cardNo"]),
            "Card-No=****&card_no=****"
        );
    }

    #[test]
    fn secret_names_are_masked_in_any_spelling() {
        assert_eq!(
            q(
                "accessToken=a&access-token=b&ACCESS_TOKEN=c&access_token=d&spinner=on&otp=123456&cardPin=1234&Api-Key=k&page=2",
                &[]
            ),
            "accessToken=****&access-token=****&ACCESS_TOKEN=****&access_token=****&spinner=on&otp=****&cardPin=****&Api-Key=****&page=2"
        );
        assert_eq!(
            q("user%5Fpassword=x&Sig=y", &[]),
            "user%5Fpassword=****&Sig=****"
        );
    }

    #[test]
    fn detectors_run_over_decoded_values_and_stay_readable() {
        assert_eq!(q("card=4111111111111111", &[]), "card=************1111");
        assert_eq!(
            q("card=4111%201111%201111%201111&n=2", &[]),
            "card=****%20****%20****%201111&n=2"
        );
        assert_eq!(q("e=alice%40example.com", &[]), "e=a****@example.com");
        assert_eq!(q("tel=%2B886912345678", &[]), "tel=+*********678");
        assert_eq!(q("tel=+886912345678", &[]), "tel=+*********678");
        assert_eq!(
            q("id=A123456789&q=%E4%B8%AD", &[]),
            "id=A******789&q=%E4%B8%AD"
        );
        assert_eq!(q("4111111111111111", &[]), "************1111");
        assert_eq!(q("bad=%zz%4", &[]), "bad=%zz%4");
    }

    #[test]
    fn paths_are_run_through_the_detectors() {
        assert_eq!(
            mask_path("/cards/4111111111111111/charge", &det()),
            "/cards/************1111/charge"
        );
        assert_eq!(mask_path("/u/a%40b.com%3F", &det()), "/u/*@b.com%3F");
        assert!(matches!(
            mask_path("/orders/1234", &det()),
            Cow::Borrowed(_)
        ));
    }
}
