//! libinjection's tokenizer, folding and detection cases, run against this port.

use super::fold::fold;
use super::tokens::tokenize;
use super::{flag, kind, sqli, State, Token};
use crate::cases::{cases, rtrim, Case};

/// Up to the first NUL, as C's `%s` prints.
fn c_str(v: &[u8]) -> &[u8] {
    &v[..v.iter().position(|c| *c == 0).unwrap_or(v.len())]
}

/// A token as libinjection's test driver prints it.
fn print(out: &mut Vec<u8>, t: &Token) {
    out.push(t.kind);
    out.push(b' ');
    let quoted = |out: &mut Vec<u8>| {
        if t.str_open != 0 {
            out.push(t.str_open);
        }
        out.extend_from_slice(c_str(t.val()));
        if t.str_close != 0 {
            out.push(t.str_close);
        }
    };
    match t.kind {
        kind::STRING => quoted(out),
        kind::VARIABLE => {
            for _ in 0..t.count.min(2) {
                out.push(b'@');
            }
            quoted(out)
        }
        _ => out.extend_from_slice(c_str(t.val())),
    }
    out.push(b'\n');
}

fn run(case: &Case, what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut st = State::new(case.input, flag::QUOTE_NONE | flag::SQL_ANSI);
    match what {
        "tokens" => {
            while tokenize(&mut st) {
                let t = st.tokens[st.current];
                print(&mut out, &t);
            }
        }
        "folding" => {
            let n = fold(&mut st);
            for i in 0..n {
                let t = st.tokens[i];
                print(&mut out, &t);
            }
        }
        _ => {
            if let Some(fp) = sqli(case.input) {
                out.extend_from_slice(fp.as_str().as_bytes());
            }
        }
    }
    rtrim(&out).to_vec()
}

fn check(prefix: &str, what: &str) {
    let all = cases(prefix);
    assert!(!all.is_empty(), "no cases {prefix}");
    let failed: Vec<String> = all
        .iter()
        .filter_map(|c| {
            let got = run(c, what);
            (got != c.expected).then(|| {
                format!(
                    "{}: input {:?}\n  expected {:?}\n  got      {:?}",
                    c.name,
                    String::from_utf8_lossy(c.input),
                    String::from_utf8_lossy(c.expected),
                    String::from_utf8_lossy(&got)
                )
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
}

#[test]
fn libinjection_tokens() {
    check("test-tokens-", "tokens");
}

#[test]
fn libinjection_folding() {
    check("test-folding-", "folding");
}

#[test]
fn libinjection_sqli() {
    check("test-sqli-", "sqli");
}

#[test]
fn known_injections_and_text() {
    for attack in [
        "1' OR '1'='1",
        "' or 1=1--",
        "1 UNION SELECT username, password FROM users",
        "1; DROP TABLE users",
        "admin'--",
        "1' AND SLEEP(5)#",
    ] {
        assert!(sqli(attack.as_bytes()).is_some(), "{attack}");
    }
    for text in [
        "O'Brien",
        "select a seat",
        "1 union",
        "hello world",
        "3 < 4",
    ] {
        assert_eq!(sqli(text.as_bytes()), None, "{text}");
    }
}

#[test]
fn payloads_that_continue_a_statement() {
    // Read as if after a number: `1 or 1=1`.
    for attack in [
        "or 1=1--",
        " OR 1=1",
        ") and 0=benchmark(3000000,MD5(1)) --",
        ";waitfor delay '0:0:5'--",
        "ORDER BY SLEEP(5)",
        "AND (SELECT * FROM (SELECT(SLEEP(5)))nQIP)",
    ] {
        assert!(sqli(attack.as_bytes()).is_some(), "{attack}");
    }
    // Text that starts the same way stays text.
    for text in [
        "group by color",
        "order by date, newest first",
        "or else!",
        "and/or",
        "and so on",
    ] {
        assert_eq!(sqli(text.as_bytes()), None, "{text}");
    }
}

#[test]
fn a_hash_comment_counts_only_as_the_login_bypass() {
    assert!(sqli(b"admin' #").is_some());
    assert!(sqli(b"admin\"#").is_some());
    for text in [
        "7\" #2 CIRCULAR NEEDLE",
        "\"#2 MOM",
        "BAMBOO CHARCOAL SOAP 1 '#",
        "item #3",
    ] {
        assert_eq!(sqli(text.as_bytes()), None, "{text}");
    }
}
