//! The one request path a call is routed by and forwarded with.
//!
//! A gateway that routes one spelling of a path and forwards another lets a client pick the
//! API that checks it (a public one) and the API that answers (a keyed one):
//! `/public/../admin/x` routed raw goes to `/public`, and the upstream, which normalizes,
//! serves `/admin/x`. So every path is normalized once, before routing, and the normalized
//! path is both routed and forwarded (the query string is left as it is):
//!
//! 1. the target must be in origin form (`/…`; a proxy-style absolute URI's path counts, as
//!    RFC 9112 §3.2.2 asks servers to accept it); `*` and `host:port` are refused;
//! 2. percent-escapes of unreserved characters (`A–Z a–z 0–9 - . _ ~`) are decoded and the hex
//!    digits of every other escape are written in upper case (RFC 3986 §6.2.2.1–2); a `%`
//!    not followed by two hex digits is refused;
//! 3. empty segments are dropped (`//` is one `/`, as Envoy's `merge_slashes` and nginx's
//!    default `merge_slashes on` do) — before dot segments are removed, so `/a//../b` is
//!    `/b`, as nginx reads it, not `/a/b`;
//! 4. dot segments are removed (RFC 3986 §5.2.4, `%2e` spellings included, since they were
//!    decoded in step 2); a `..` that would climb above the root is refused;
//! 5. refused as well: an encoded `/` or `\` (`%2F`, `%5C`: an upstream that decodes them
//!    sees other segments than the router did — Envoy's `path_with_escaped_slashes_action`
//!    set to reject), an encoded NUL (`%00`), a raw `\` (Windows and some frameworks read it
//!    as `/`), and a segment that is `.` or `..` followed by `;` (`..;`, `.%3B`): `;` is an
//!    ordinary character here and for nginx, but Tomcat-style servers drop `;parameters`
//!    and would then climb.
//!
//! `;` is otherwise an ordinary character, routed and forwarded as written. Encoded bytes
//! other than those above (`%20`, `%25`, UTF-8) stay encoded: a double-encoded `%252e` stays
//! `%252e`, which an upstream decoding once reads as the literal segment `%2e`, never as a
//! dot segment.
//!
//! Cost: a path without `%`, `\`, `//` and without a segment starting with `.` is returned
//! unchanged after one scan of its bytes, with no allocation.

use std::fmt;

/// Why a path is refused (answered 400 `bad_path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not `/…`: `*`, `host:port` or empty.
    NotOriginForm,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// `%2F`: an upstream that decodes it would see other segments.
    EncodedSlash,
    /// `%5C`.
    EncodedBackslash,
    /// `%00`.
    Nul,
    /// A raw `\`.
    Backslash,
    /// `..` above the root.
    AboveRoot,
    /// `..;` or `.;`: a dot segment to servers that drop path parameters.
    DotWithParameters,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotOriginForm => "the request target must be a path starting with '/'",
            PathError::BadEscape => "'%' must be followed by two hex digits",
            PathError::EncodedSlash => "an encoded '/' (%2F) is not allowed in the path",
            PathError::EncodedBackslash => "an encoded '\\' (%5C) is not allowed in the path",
            PathError::Nul => "an encoded NUL (%00) is not allowed in the path",
            PathError::Backslash => "'\\' is not allowed in the path",
            PathError::AboveRoot => "the path climbs above the root with '..'",
            PathError::DotWithParameters => "a '.' or '..' segment may not carry ';' parameters",
        })
    }
}

/// The normalized form of `path` (see the module doc): `Ok(None)` when it is already normal
/// (the common case, no allocation), `Ok(Some(normal))` when it changed.
pub(crate) fn normalize(path: &str) -> Result<Option<String>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    if is_normal(bytes) {
        return Ok(None);
    }
    let out = slow(path)?;
    Ok((out != path).then_some(out))
}

/// One scan: nothing here can change or be refused.
#[inline]
fn is_normal(bytes: &[u8]) -> bool {
    let mut prev_slash = false;
    for &b in bytes {
        match b {
            b'%' | b'\\' => return false,
            b'/' | b'.' if prev_slash => return false,
            _ => {}
        }
        prev_slash = b == b'/';
    }
    true
}

fn slow(path: &str) -> Result<String, PathError> {
    // Kept segments, as ranges into `buf` (decoded text, escapes re-spelled).
    let mut buf = String::with_capacity(path.len());
    let mut kept: Vec<(usize, usize)> = Vec::new();
    let raw_segments = path[1..].split('/');
    let mut trailing_slash = false;
    for raw in raw_segments {
        let start = buf.len();
        decode_segment(raw, &mut buf)?;
        let seg = &buf[start..];
        match seg {
            "" => {
                // `//` merges; an empty last segment is the trailing slash.
                trailing_slash = true;
            }
            "." => {
                buf.truncate(start);
                trailing_slash = true;
            }
            ".." => {
                buf.truncate(start);
                match kept.pop() {
                    Some((s, _)) => buf.truncate(s),
                    None => return Err(PathError::AboveRoot),
                }
                trailing_slash = true;
            }
            _ => {
                if dot_with_parameters(seg) {
                    return Err(PathError::DotWithParameters);
                }
                kept.push((start, buf.len()));
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(buf.len() + kept.len() + 1);
    for (s, e) in &kept {
        out.push('/');
        out.push_str(&buf[*s..*e]);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// `.;x`, `..;x`, `.%3Bx`, `..%3Bx` (escapes are already upper case).
fn dot_with_parameters(seg: &str) -> bool {
    let rest = seg
        .strip_prefix("..")
        .or_else(|| seg.strip_prefix('.'))
        .unwrap_or(seg);
    rest.len() < seg.len() && (rest.starts_with(';') || rest.starts_with("%3B"))
}

/// Appends `raw` to `out` with unreserved escapes decoded and the others in upper case.
fn decode_segment(raw: &str, out: &mut String) -> Result<(), PathError> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(PathError::Backslash),
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) else {
                    return Err(PathError::BadEscape);
                };
                out.push_str(&raw[copied..i]);
                let byte = h << 4 | l;
                match byte {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::EncodedBackslash),
                    0 => return Err(PathError::Nul),
                    b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                        out.push(char::from(b));
                    }
                    _ => {
                        out.push('%');
                        out.push(char::from(HEX[usize::from(h)]));
                        out.push(char::from(HEX[usize::from(l)]));
                    }
                }
                i += 3;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&raw[copied..]);
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The value of one hex digit (either case).
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize(p).map(|o| o.unwrap_or_else(|| p.to_string()))
    }

    #[test]
    fn normal_paths_come_back_unchanged_without_a_copy() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/orders/7/items",
            "/a;b=c/d",
            "/a.b/c..d/e.",
            "/v1.0/x",
            "/café",
            "/a-b_c~d",
        ] {
            assert_eq!(normalize(p), Ok(None), "{p}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        let cases = [
            ("/%41%62%7e%2D%5f%2e1", "/Ab~-_.1"),
            ("/a%20b", "/a%20b"),
            ("/a%3bb", "/a%3Bb"),
            ("/%c3%a9", "/%C3%A9"),
            ("/%252e%252e/x", "/%252e%252e/x"),
            ("/%25", "/%25"),
            ("/%3F%23", "/%3F%23"),
        ];
        for (p, want) in cases {
            assert_eq!(n(p).as_deref(), Ok(want), "{p}");
        }
    }

    #[test]
    fn dot_segments_and_double_slashes_go() {
        let cases = [
            ("/public/../admin/x", "/admin/x"),
            ("/public/%2e%2e/admin/x", "/admin/x"),
            ("/public/%2E%2e/admin/x", "/admin/x"),
            ("/public/.%2e/admin/x", "/admin/x"),
            ("/public/./x", "/public/x"),
            ("/public/.", "/public/"),
            ("/public/..", "/"),
            ("/a/b/..", "/a/"),
            ("//admin", "/admin"),
            ("/public//../admin", "/admin"),
            ("/public/./../admin", "/admin"),
            ("/a//b///c//", "/a/b/c/"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..x/b", "/a/..x/b"),
            ("/a/x../b", "/a/x../b"),
            ("/admin.", "/admin."),
            ("/a/b;c/../d", "/a/d"),
            ("/..a", "/..a"),
            ("//", "/"),
            ("/./", "/"),
            ("/.", "/"),
        ];
        for (p, want) in cases {
            assert_eq!(n(p).as_deref(), Ok(want), "{p}");
        }
    }

    #[test]
    fn what_cannot_be_made_safe_is_refused() {
        use PathError::*;
        let cases = [
            ("", NotOriginForm),
            ("*", NotOriginForm),
            ("example.com:443", NotOriginForm),
            ("/..", AboveRoot),
            ("/../admin", AboveRoot),
            ("/public/../../admin", AboveRoot),
            ("/%2e%2e/admin", AboveRoot),
            ("//..//admin", AboveRoot),
            ("/public/..%2fadmin", EncodedSlash),
            ("/public/..%2Fadmin", EncodedSlash),
            ("/public%2f..%2fadmin", EncodedSlash),
            ("/public/..%5cadmin", EncodedBackslash),
            ("/public/..%5Cadmin", EncodedBackslash),
            ("/public/..\\admin", Backslash),
            ("/public\\x", Backslash),
            ("/public/%00/x", Nul),
            ("/public/%", BadEscape),
            ("/public/%2", BadEscape),
            ("/public/%zz", BadEscape),
            ("/public/%%32%65", BadEscape),
            ("/public/..;/admin", DotWithParameters),
            ("/public/.;/admin", DotWithParameters),
            ("/public/..;x=1/admin", DotWithParameters),
            ("/public/%2e%2e;/admin", DotWithParameters),
            ("/public/..%3b/admin", DotWithParameters),
            ("/public/.%2E%3B/admin", DotWithParameters),
        ];
        for (p, want) in cases {
            assert_eq!(normalize(p), Err(want), "{p:?}");
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for p in [
            "/public/%2e%2e/admin/%41x",
            "/a//b/./c/../d/",
            "/%c3%a9/%7E",
            "/x/%252e",
        ] {
            let once = n(p).unwrap();
            assert_eq!(normalize(&once), Ok(None), "{p} → {once}");
        }
    }

    /// Not a test of behaviour: the cost of the fast and the slow path (run with
    /// `--ignored --nocapture`; build with `--release` for real figures).
    #[test]
    #[ignore = "micro benchmark"]
    fn normalize_cost() {
        let paths = ["/orders/12345/items?x", "/api/v2/customers/abc-def/profile"];
        let t = std::time::Instant::now();
        let mut changed = 0;
        for _ in 0..1_000_000 {
            for p in paths {
                changed += usize::from(normalize(std::hint::black_box(p)).unwrap().is_some());
            }
        }
        println!("fast path: {:?} per path", t.elapsed() / 2_000_000);
        let t = std::time::Instant::now();
        for _ in 0..1_000_000 {
            changed += usize::from(
                normalize(std::hint::black_box("/public/%2e%2e/admin/x"))
                    .unwrap()
                    .is_some(),
            );
        }
        println!(
            "slow path: {:?} per path ({changed})",
            t.elapsed() / 1_000_000
        );
    }
}
