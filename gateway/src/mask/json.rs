//! JSON bodies, masked in one streaming pass over the text — no tree is built, so key order,
//! spacing and numbers stay exactly as sent, and a body cut at `max_bytes` (which no parser
//! accepts) is handled the same way up to the cut.
//!
//! - A value at one of the API's `json_paths` (`card.number`, `items[*].token`, `**.pin`), or
//!   under a key that is secret by its name (`password`, `accessToken`, `card_pin`, … at any
//!   depth; see [`gatewatch_model::mask::is_secret_name`]), is masked whole: a string becomes
//!   `"****"`, a number or boolean the string `"****"` (`null` stays); an object or array
//!   there has every value inside masked whole. Keys are compared normalized (case and
//!   separators ignored: `accessToken` = `ACCESS_TOKEN`, see
//!   [`gatewatch_model::mask::same_name`]); a key spelt with `\u` escapes is not recognised.
//! - Every other string, keys included, goes through the detectors; a number that is a card
//!   number becomes a masked string (`"************1111"`).
//! - Text that is not JSON after all (a syntax error before the end) is masked as text by
//!   [`mask_text_with_keys`]: the detectors, plus a tolerant scan that masks the value after
//!   each `"key":` whose key ends one of the `json_paths` or is secret by its name.

use std::borrow::Cow;

use gatewatch_model::mask::{is_secret_name, same_name, PathStep};

use super::detectors::Detectors;
use super::WHOLE;

#[derive(Debug)]
enum Kind {
    /// `key` is the byte range of the current key's text (without quotes).
    Obj {
        key: (usize, usize),
        expect_key: bool,
    },
    Arr,
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    /// This container sits at (or under) a masked path.
    whole: bool,
}

/// The body masked as JSON, or `None` when it is not JSON (the caller masks it as text).
/// `names`: also mask the value of every key that is secret by its name.
pub(crate) fn mask_json(
    text: &str,
    paths: &[Vec<PathStep>],
    names: bool,
    det: &Detectors,
) -> Option<String> {
    let b = text.as_bytes();
    let n = b.len();
    let mut out = String::with_capacity(n + 16);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    // Bytes before `copied` are in `out`.
    let mut copied = 0;
    while i < n {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | b':' => i += 1,
            b',' => {
                if let Some(Frame {
                    kind: Kind::Obj { expect_key, .. },
                    ..
                }) = stack.last_mut()
                {
                    *expect_key = true;
                }
                i += 1;
            }
            b'{' | b'[' => {
                if !value_ok(&stack) {
                    return None;
                }
                let whole = at_masked_path(text, &stack, paths, names);
                let kind = if c == b'{' {
                    Kind::Obj {
                        key: (0, 0),
                        expect_key: true,
                    }
                } else {
                    Kind::Arr
                };
                stack.push(Frame { kind, whole });
                i += 1;
            }
            b'}' | b']' => {
                let f = stack.pop()?;
                if matches!((&f.kind, c), (Kind::Obj { .. }, b']') | (Kind::Arr, b'}')) {
                    return None;
                }
                i += 1;
            }
            b'"' => {
                let end = string_end(b, i);
                let closed = end < n;
                let stop = if closed { end + 1 } else { n };
                let is_key = matches!(
                    stack.last(),
                    Some(Frame {
                        kind: Kind::Obj {
                            expect_key: true,
                            ..
                        },
                        ..
                    })
                );
                if stack.is_empty() {
                    return None;
                }
                if is_key {
                    if let Some(Frame {
                        kind: Kind::Obj { key, expect_key },
                        ..
                    }) = stack.last_mut()
                    {
                        *key = (i + 1, end.min(n));
                        *expect_key = false;
                    }
                } else if at_masked_path(text, &stack, paths, names) {
                    out.push_str(&text[copied..i]);
                    out.push('"');
                    out.push_str(WHOLE);
                    if closed {
                        out.push('"');
                    }
                    copied = stop;
                    i = stop;
                    continue;
                }
                if let Some(masked) = mask_string(&text[i..stop], closed, det) {
                    out.push_str(&text[copied..i]);
                    out.push_str(&masked);
                    copied = stop;
                }
                i = stop;
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                let mut j = i + 1;
                while j < n && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'+' | b'-'))
                {
                    j += 1;
                }
                let token = &text[i..j];
                if c.is_ascii_alphabetic()
                    && !["true", "false", "null"]
                        .iter()
                        .any(|l| *l == token || (j == n && l.starts_with(token)))
                {
                    return None;
                }
                // A bare scalar at the top level is not a JSON body worth the name.
                if stack.is_empty() || !value_ok(&stack) {
                    return None;
                }
                let replacement = if token == "null" {
                    None
                } else if at_masked_path(text, &stack, paths, names) {
                    Some(format!("\"{WHOLE}\""))
                } else if c.is_ascii_digit() {
                    match det.mask(token) {
                        Cow::Owned(m) => Some(format!("\"{m}\"")),
                        Cow::Borrowed(_) => None,
                    }
                } else {
                    None
                };
                if let Some(r) = replacement {
                    out.push_str(&text[copied..i]);
                    out.push_str(&r);
                    copied = j;
                }
                i = j;
            }
            _ => return None,
        }
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// May a value stand here (not where an object wants a key)?
fn value_ok(stack: &[Frame]) -> bool {
    !matches!(
        stack.last(),
        Some(Frame {
            kind: Kind::Obj {
                expect_key: true,
                ..
            },
            ..
        })
    )
}

/// Is the value about to be read at a masked path (or inside a masked container)?
fn at_masked_path(text: &str, stack: &[Frame], paths: &[Vec<PathStep>], names: bool) -> bool {
    match stack.last() {
        Some(f) if f.whole => return true,
        Some(Frame {
            kind: Kind::Obj { key, .. },
            ..
        }) if names && text.get(key.0..key.1).is_some_and(is_secret_name) => return true,
        _ => {}
    }
    let step_matches = |step: &PathStep, f: &Frame| match (step, &f.kind) {
        (PathStep::Key(k), Kind::Obj { key, .. }) => {
            text.get(key.0..key.1).is_some_and(|t| same_name(t, k))
        }
        (PathStep::Each, Kind::Arr) => true,
        _ => false,
    };
    paths.iter().any(|p| match p.split_first() {
        // `**.a.b`: the rest matches the innermost frames.
        Some((PathStep::AnyDepth, rest)) => {
            rest.len() <= stack.len()
                && rest
                    .iter()
                    .zip(&stack[stack.len() - rest.len()..])
                    .all(|(step, f)| step_matches(step, f))
        }
        _ => p.len() == stack.len() && p.iter().zip(stack).all(|(s, f)| step_matches(s, f)),
    })
}

/// Index of the closing quote of the string opening at `i`, or `b.len()` if it is cut off.
fn string_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

/// A string token (with its quotes) through the detectors; `None` when unchanged.
fn mask_string(token: &str, closed: bool, det: &Detectors) -> Option<String> {
    let inner = &token[1..token.len() - usize::from(closed)];
    if !inner.contains('\\') || !closed {
        // No escapes: the raw text is the value. (A cut-off string is masked raw: the detectors
        // only ever replace letters and digits, which keeps any escape before them intact.)
        return match det.mask(inner) {
            Cow::Owned(m) => Some(format!("\"{m}{}", if closed { "\"" } else { "" })),
            Cow::Borrowed(_) => None,
        };
    }
    let decoded: String = serde_json::from_str(token).ok()?;
    match det.mask(&decoded) {
        Cow::Owned(m) => serde_json::to_string(&m).ok(),
        Cow::Borrowed(_) => None,
    }
}

/// Text that looked like JSON but is not: the detectors, then the value after every `"key":`
/// whose key is the last key of one of `paths` (or, with `names`, is secret by its name)
/// masked whole.
pub(crate) fn mask_text_with_keys(
    text: &str,
    paths: &[Vec<PathStep>],
    names: bool,
    det: &Detectors,
) -> String {
    let keys: Vec<&str> = paths
        .iter()
        .filter_map(
            |p| match p.iter().rev().find(|s| matches!(s, PathStep::Key(_))) {
                Some(PathStep::Key(k)) => Some(k.as_str()),
                _ => None,
            },
        )
        .collect();
    let masked_key = |k: &str| (names && is_secret_name(k)) || keys.iter().any(|w| same_name(k, w));
    let mut s = det.mask(text).into_owned();
    let mut from = 0;
    while let Some(pos) = s[from..].find('"') {
        let open = from + pos;
        let close = string_end(s.as_bytes(), open);
        if close >= s.len() {
            break;
        }
        from = close + 1;
        let b = s.as_bytes();
        let mut j = close + 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b':') || !masked_key(&s[open + 1..close]) {
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let (start, end, quoted) = if b.get(j) == Some(&b'"') {
            let e = string_end(b, j);
            (j + 1, e.min(b.len()), true)
        } else {
            let mut e = j;
            while e < b.len() && !matches!(b[e], b',' | b'}' | b']') && !b[e].is_ascii_whitespace()
            {
                e += 1;
            }
            (j, e, false)
        };
        if start == end && !quoted {
            continue;
        }
        let replacement = if quoted {
            WHOLE.to_string()
        } else {
            format!("\"{WHOLE}\"")
        };
        s.replace_range(start..end, &replacement);
        // Past the masked value (and its closing quote).
        from = start + replacement.len() + usize::from(quoted);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::mask::{parse_json_path, Detector};

    #[test]
    fn any_depth_paths_mask_a_key_wherever_it_is() {
        let out = run(
            r#"{"pin":"1","a":{"pin":2,"b":[{"pin":"3"}]},"pinned":"keep"}"#,
            &["**.pin"],
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"pin":"****","a":{"pin":"****","b":[{"pin":"****"}]},"pinned":"keep"}"#
        );
        let out = run(
            r#"{"x":{"card":{"cvv":"123"}},"cvv":"9"}"#,
            &["**.card.cvv"],
        )
        .unwrap();
        assert_eq!(out, r#"{"x":{"card":{"cvv":"****"}},"cvv":"9"}"#);
    }

    fn run(text: &str, paths: &[&str]) -> Option<String> {
        let paths: Vec<Vec<PathStep>> = paths.iter().map(|p| parse_json_path(p).unwrap()).collect();
        mask_json(text, &paths, false, &Detectors::new(&Detector::defaults()))
    }

    #[test]
    fn secret_names_are_masked_in_any_spelling_at_any_depth() {
        let det = Detectors::new(&Detector::defaults());
        let body = r#"{"accessToken":"a1","access-token":"a2","ACCESS_TOKEN":"a3","access_token":"a4",
"user":{"apiKey":"k","cardPin":1234,"spinner":"keep","otp":"999111","cvv2":"123","name":"Li"},
"tokens":3,"token_type":"bearer","list":[{"Password":"p"}]}"#;
        let got = mask_json(body, &[], true, &det).unwrap();
        assert_eq!(
            got,
            r#"{"accessToken":"****","access-token":"****","ACCESS_TOKEN":"****","access_token":"****",
"user":{"apiKey":"****","cardPin":"****","spinner":"keep","otp":"****","cvv2":"****","name":"Li"},
"tokens":3,"token_type":"bearer","list":[{"Password":"****"}]}"#
        );
        // Off: only the detectors (and the API's paths) apply.
        assert_eq!(
            mask_json(r#"{"accessToken":"a1"}"#, &[], false, &det).as_deref(),
            Some(r#"{"accessToken":"a1"}"#)
        );
    }

    #[test]
    fn api_paths_match_keys_in_any_spelling() {
        let got = run(
            r#"{"Card":{"Number":"x","card_number":"y"},"card-holder":{"nick":"z"}}"#,
            &["card.number", "cardHolder.nick"],
        )
        .unwrap();
        assert_eq!(
            got,
            r#"{"Card":{"Number":"****","card_number":"y"},"card-holder":{"nick":"****"}}"#
        );
    }

    #[test]
    fn paths_are_masked_whole_and_the_rest_kept_as_written() {
        let body = r#"{ "user": {"password": "hunter2", "name": "Li"},
  "items": [{"token": "t1", "n": 1}, {"token": 42}], "token": "top", "ok": true }"#;
        let got = run(body, &["user.password", "items[*].token"]).unwrap();
        assert_eq!(
            got,
            r#"{ "user": {"password": "****", "name": "Li"},
  "items": [{"token": "****", "n": 1}, {"token": "****"}], "token": "top", "ok": true }"#
        );
        // A container at a path: everything inside.
        let got = run(
            r#"{"card":{"no":"x","cvv":123,"ok":null},"a":[1]}"#,
            &["card"],
        )
        .unwrap();
        assert_eq!(
            got,
            r#"{"card":{"no":"****","cvv":"****","ok":null},"a":[1]}"#
        );
        let got = run(r#"[{"a":"1"},{"a":"2"}]"#, &["[*].a"]);
        assert_eq!(got.as_deref(), Some(r#"[{"a":"****"},{"a":"****"}]"#));
    }

    #[test]
    fn detectors_run_over_strings_keys_and_card_numbers() {
        let got = run(
            r#"{"c":"4111 1111 1111 1111","n":4111111111111111,"amt":1234.5,"ts":1764000000123,"a@b.co":"x\nA123456789"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(
            got,
            r#"{"c":"**** **** **** 1111","n":"************1111","amt":1234.5,"ts":1764000000123,"*@b.co":"x\nA******789"}"#
        );
        // An escape inside the match: decoded, masked, encoded again.
        let got = run(r#"{"e":"\u0061lice@example.com"}"#, &[]).unwrap();
        assert_eq!(got, r#"{"e":"a****@example.com"}"#);
    }

    #[test]
    fn a_body_cut_short_is_masked_up_to_the_cut() {
        let got = run(
            r#"{"items":[{"token":"abcdef","mail":"bob@ex.com"},{"token":"ab"#,
            &["items[*].token"],
        );
        assert_eq!(
            got.as_deref(),
            Some(r#"{"items":[{"token":"****","mail":"b**@ex.com"},{"token":"****"#)
        );
        assert_eq!(run(r#"{"a":tr"#, &[]).as_deref(), Some(r#"{"a":tr"#));
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for s in [
            "hello",
            "{\"a\" 1 x}",
            "{]",
            "[1}",
            "\"top\"",
            "{\"a\":truth}",
        ] {
            assert_eq!(run(s, &[]), None, "{s}");
        }
    }

    #[test]
    fn the_tolerant_key_scan_masks_values_after_known_keys() {
        let paths = vec![parse_json_path("user.password").unwrap()];
        let det = Detectors::new(&Detector::defaults());
        assert_eq!(
            mask_text_with_keys(
                r#"oops {"password" : "p@ss", "x": 1, "password":12 ] mail bob@ex.com"#,
                &paths,
                false,
                &det
            ),
            r#"oops {"password" : "****", "x": 1, "password":"****" ] mail b**@ex.com"#
        );
        assert_eq!(
            mask_text_with_keys(
                r#"x {"Pass-Word": "a", "refreshToken":"b", "pin" :7, "spinner": "c", "note":"d" oops"#,
                &paths,
                true,
                &det
            ),
            r#"x {"Pass-Word": "****", "refreshToken":"****", "pin" :"****", "spinner": "c", "note":"d" oops"#
        );
    }
}
