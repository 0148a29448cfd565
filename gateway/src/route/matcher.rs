//! Path patterns against request paths, and which pattern wins when several match.
//!
//! A request path is split on `/` after its leading slash (`/` is no segment at all, `/a/` is
//! `a` and an empty segment); nothing is decoded. A pattern's segments match as:
//!
//! - `lit` — exactly that segment;
//! - `{name}` and `*` — any one non-empty segment;
//! - `**` (last only) — whatever is left, nothing included.
//!
//! **Precedence** — the most specific pattern wins, compared by [`Specificity`]: more literal
//! segments first; then more one-segment wildcards (`{name}`, `*`); then a pattern without
//! `**` before one with it; then, at equal counts, the first segment from the left where the
//! two differ in kind decides, a literal before a wildcard (`/x/{id}` before `/{a}/y`). So
//! `/orders/{id}/items` beats `/orders/**` beats `/**`, and a prefix route is `{prefix}/**`,
//! which keeps "longest prefix wins". Only patterns alike in every segment's kind can tie
//! (`/x/{id}` and `/x/*`); two such APIs that can match the same path with a common method
//! are ambiguous, and the router refuses the later one (see [`overlap`]).

use gatewatch_model::api::{PathPattern, Segment};

/// How specific a pattern is; the greater wins (field order is the comparison order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Specificity {
    literals: usize,
    singles: usize,
    /// No `**` at the end.
    exact: bool,
    /// Each segment's kind, left to right: 2 literal, 1 one-segment wildcard, 0 `**`.
    shape: Vec<u8>,
}

pub(crate) fn specificity(p: &PathPattern) -> Specificity {
    let mut s = Specificity {
        literals: 0,
        singles: 0,
        exact: true,
        shape: Vec::with_capacity(p.segments.len()),
    };
    for seg in &p.segments {
        let kind = match seg {
            Segment::Literal(_) => {
                s.literals += 1;
                2
            }
            Segment::Param(_) | Segment::Any => {
                s.singles += 1;
                1
            }
            Segment::Rest => {
                s.exact = false;
                0
            }
        };
        s.shape.push(kind);
    }
    s
}

/// The segments of a request path (see the module doc).
pub(crate) fn split(path: &str) -> impl Iterator<Item = &str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    // `"".split('/')` yields one empty segment; the root has none.
    (!rest.is_empty())
        .then(|| rest.split('/'))
        .into_iter()
        .flatten()
}

/// Does `path` match `pattern`?
pub(crate) fn matches(pattern: &PathPattern, path: &str) -> bool {
    let mut segs = split(path);
    for p in &pattern.segments {
        match p {
            Segment::Rest => return true,
            Segment::Literal(l) => {
                if segs.next() != Some(l.as_str()) {
                    return false;
                }
            }
            Segment::Param(_) | Segment::Any => match segs.next() {
                Some(s) if !s.is_empty() => {}
                _ => return false,
            },
        }
    }
    segs.next().is_none()
}

/// Can some path match both patterns?
pub(crate) fn overlap(a: &[Segment], b: &[Segment]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        // `**` takes any remainder; whatever the other pattern still wants exists.
        (Some((Segment::Rest, _)), _) | (_, Some((Segment::Rest, _))) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((x, xs)), Some((y, ys))) => {
            let compatible = match (x, y) {
                (Segment::Literal(l), Segment::Literal(m)) => l == m,
                _ => true,
            };
            compatible && overlap(xs, ys)
        }
    }
}

/// The pattern as text, as records carry it in `route`: `/orders/{id}`, `/demo/**`.
pub(crate) fn render(p: &PathPattern) -> String {
    if p.segments.is_empty() {
        return "/".into();
    }
    let mut out = String::new();
    for s in &p.segments {
        out.push('/');
        match s {
            Segment::Literal(l) => out.push_str(l),
            Segment::Param(n) => {
                out.push('{');
                out.push_str(n);
                out.push('}');
            }
            Segment::Any => out.push('*'),
            Segment::Rest => out.push_str("**"),
        }
    }
    out
}

/// The first segment when it is a literal: the key of the router's index.
pub(crate) fn first_literal(p: &PathPattern) -> Option<&str> {
    match p.segments.first() {
        Some(Segment::Literal(l)) => Some(l),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    #[test]
    fn segments_match_as_documented() {
        let cases = [
            ("/orders/{id}", "/orders/7", true),
            ("/orders/{id}", "/orders/", false),
            ("/orders/{id}", "/orders", false),
            ("/orders/{id}", "/orders/7/x", false),
            ("/orders/*/items", "/orders/7/items", true),
            ("/orders/**", "/orders", true),
            ("/orders/**", "/orders/", true),
            ("/orders/**", "/orders/a/b/c", true),
            ("/orders/**", "/ordersx", false),
            ("/**", "/", true),
            ("/**", "/anything/at/all", true),
            ("/", "/", true),
            ("/", "/a", false),
            ("/a", "/a/", false),
            ("/a/b", "/a//b", false),
        ];
        for (p, path, want) in cases {
            assert_eq!(matches(&pat(p), path), want, "{p} vs {path}");
        }
    }

    #[test]
    fn more_literals_then_single_wildcards_then_no_rest_win() {
        let mut pats = vec![
            "/**",
            "/orders/**",
            "/orders/{id}",
            "/orders/{id}/**",
            "/orders/{id}/items",
            "/orders/special",
            "/{any}/special/x",
            "/orders/v2/**",
            "/{x}/special",
        ];
        pats.sort_by_key(|p| std::cmp::Reverse(specificity(&pat(p))));
        assert_eq!(
            pats,
            [
                "/orders/{id}/items",
                "/{any}/special/x",
                "/orders/special",
                "/orders/v2/**",
                "/orders/{id}",
                "/{x}/special",
                "/orders/{id}/**",
                "/orders/**",
                "/**",
            ]
        );
    }

    #[test]
    fn overlap_finds_a_common_path_or_none() {
        let o = |a: &str, b: &str| overlap(&pat(a).segments, &pat(b).segments);
        assert!(o("/a/{x}", "/a/*"));
        assert!(o("/a/{x}/c", "/a/b/{y}"));
        assert!(o("/a/**", "/a/b/c"));
        assert!(o("/a/**", "/a"));
        assert!(!o("/a/{x}", "/b/{x}"));
        assert!(!o("/a/{x}", "/a/{x}/c"));
        assert!(!o("/a", "/a/b/**"));
        assert_eq!(render(&pat("/a/{x}/*/**")), "/a/{x}/*/**");
        assert_eq!(render(&pat("/")), "/");
    }

    /// A non-empty path segment: no `/`, and never a pattern token itself.
    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._~-]{1,8}"
    }

    proptest! {
        #[test]
        fn a_pattern_made_of_the_paths_own_segments_matches_it(
            segs in prop::collection::vec(segment(), 0..6),
            kinds in prop::collection::vec(0u8..3, 6),
        ) {
            let path = format!("/{}", segs.join("/"));
            let pattern: Vec<String> = segs.iter().zip(&kinds).enumerate().map(|(i, (s, k))| match k {
                0 => s.clone(),
                1 => format!("{{p{i}}}"),
                _ => "*".into(),
            }).collect();
            let p = pat(&format!("/{}", pattern.join("/")));
            prop_assert!(matches(&p, &path), "{} vs {}", render(&p), path);
        }

        #[test]
        fn rest_matches_any_extension(
            base in prop::collection::vec(segment(), 0..4),
            tail in prop::collection::vec("[a-z0-9]{0,5}", 0..5),
        ) {
            let p = pat(&format!("/{}", base.iter().cloned().chain(["**".to_string()]).collect::<Vec<_>>().join("/")));
            let mut path = format!("/{}", base.join("/"));
            for t in &tail {
                if path != "/" {
                    path.push('/');
                }
                path.push_str(t);
            }
            prop_assert!(matches(&p, &path), "{} vs {}", render(&p), path);
        }

        #[test]
        fn a_literal_mismatch_never_matches(
            segs in prop::collection::vec(segment(), 1..6),
            at in 0usize..6,
            other in segment(),
        ) {
            let at = at % segs.len();
            prop_assume!(other != segs[at]);
            let mut pattern = segs.clone();
            pattern[at] = other;
            let p = pat(&format!("/{}/**", pattern.join("/")));
            let path = format!("/{}", segs.join("/"));
            prop_assert!(!matches(&p, &path));
        }

        #[test]
        fn matching_never_panics(
            pattern in prop_oneof!["(/[a-z*{}]{0,4}){0,5}", "\\PC{0,20}"],
            path in "\\PC{0,40}",
        ) {
            if let Ok(p) = PathPattern::parse(&pattern) {
                let _ = matches(&p, &path);
                let _ = specificity(&p);
                let _ = overlap(&p.segments, &p.segments);
            }
        }
    }
}
