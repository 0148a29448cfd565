//! libinjection's own test cases (`tests/libinjection/cases.txt`, its `tests/test-*.txt`
//! files one after the other): each has a name, an input and the expected output of its
//! test driver, compared after trimming trailing whitespace as the driver does.

pub(crate) struct Case<'a> {
    pub name: &'a str,
    pub input: &'a [u8],
    pub expected: &'a [u8],
}

pub(crate) const CASES: &[u8] = include_bytes!("../tests/libinjection/cases.txt");

pub(crate) fn rtrim(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\n' | b'\t' | b'\r'))
        .map_or(0, |i| i + 1);
    &s[..end]
}

/// The cases whose name starts with `prefix`.
pub(crate) fn cases(prefix: &str) -> Vec<Case<'static>> {
    let mut out = Vec::new();
    for chunk in split(CASES, b"#### ").into_iter().filter(|c| !c.is_empty()) {
        let nl = chunk
            .iter()
            .position(|c| *c == b'\n')
            .expect("case name line");
        let name = std::str::from_utf8(&chunk[..nl]).expect("case name");
        if !name.starts_with(prefix) {
            continue;
        }
        let body = &chunk[nl + 1..];
        let input_at = find(body, b"--INPUT--\n").expect("--INPUT--");
        let expected_at = find(body, b"--EXPECTED--\n").expect("--EXPECTED--");
        out.push(Case {
            name,
            input: rtrim(&body[input_at + 10..expected_at]),
            expected: rtrim(&body[expected_at + 13..]),
        });
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits on `sep` found at the start of a line.
fn split<'a>(text: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= text.len() {
        if (i == 0 || text[i - 1] == b'\n') && &text[i..i + sep.len()] == sep {
            parts.push(&text[start..i]);
            start = i + sep.len();
            i = start;
        } else {
            i += 1;
        }
    }
    parts.push(&text[start..]);
    parts
}
