//! Attacker-shaped inputs never panic the detectors, and every input ends: all short strings
//! over SQL's and HTML's special bytes, random ones, and long ones.

use gatewatch_detect::{sqli, xss};

/// Bytes that steer the tokenizers (quotes, comments, operators, tags, entities, NUL, 0xA0,
/// 0xFF, letters that open special strings).
const ALPHABET: &[u8] = b"'\"`-#/*!<>=&|;(){}[]\\@$.:?%0119eEnNqQuUxXbB \t\n\x00\xa0\xffaonS";

#[test]
fn every_short_string_is_handled() {
    // Each position: a byte of the alphabet, or nothing (for the 2nd and 3rd).
    let with_none: Vec<Option<u8>> = ALPHABET
        .iter()
        .map(|b| Some(*b))
        .chain(std::iter::once(None))
        .collect();
    let mut buf = Vec::with_capacity(3);
    for &a in ALPHABET {
        for b in &with_none {
            for c in &with_none {
                buf.clear();
                buf.push(a);
                buf.extend(b.iter().chain(c.iter()));
                let _ = sqli(&buf);
                let _ = xss(&buf);
            }
        }
    }
}

#[test]
fn random_strings_are_handled() {
    // xorshift: reproducible without a dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..50_000 {
        let len = (next() % 80) as usize;
        let s: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                }
            })
            .collect();
        let _ = sqli(&s);
        let _ = xss(&s);
    }
}

#[test]
fn long_values_are_handled() {
    for unit in [
        &b"'"[..],
        b"/*",
        b"<",
        b"<a ",
        b"<!--",
        b"&#",
        b"1 or ",
        b"$$",
        b"q'[",
        b"\\",
        b"((",
    ] {
        let s: Vec<u8> = unit.iter().copied().cycle().take(1 << 20).collect();
        let _ = sqli(&s);
        let _ = xss(&s);
    }
}
