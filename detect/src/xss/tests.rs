//! libinjection's HTML5 tokenizer cases, run against this port, and XSS basics.

use super::html5::{Context, Kind, Tokenizer};
use super::xss;
use crate::cases::{cases, rtrim};

fn name(k: Kind) -> &'static str {
    match k {
        Kind::DataText => "DATA_TEXT",
        Kind::TagNameOpen => "TAG_NAME_OPEN",
        Kind::TagNameClose => "TAG_NAME_CLOSE",
        Kind::TagNameSelfClose => "TAG_NAME_SELFCLOSE",
        Kind::TagClose => "TAG_CLOSE",
        Kind::AttrName => "ATTR_NAME",
        Kind::AttrValue => "ATTR_VALUE",
        Kind::TagComment => "TAG_COMMENT",
        Kind::Doctype => "DOCTYPE",
    }
}

#[test]
fn libinjection_html5() {
    let all = cases("test-html5-");
    assert!(!all.is_empty());
    let mut failed = Vec::new();
    for c in &all {
        let mut h5 = Tokenizer::new(c.input, Context::Data);
        let mut out = Vec::new();
        while h5.next_token() {
            out.extend_from_slice(format!("{},{},", name(h5.kind), h5.len).as_bytes());
            // The driver prints the token with C's `%s`: up to a NUL.
            let t = h5.token();
            out.extend_from_slice(&t[..t.iter().position(|b| *b == 0).unwrap_or(t.len())]);
            out.push(b'\n');
        }
        if rtrim(&out) != c.expected {
            failed.push(format!(
                "{}: input {:?}\n  expected {:?}\n  got      {:?}",
                c.name,
                String::from_utf8_lossy(c.input),
                String::from_utf8_lossy(c.expected),
                String::from_utf8_lossy(rtrim(&out))
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
}

#[test]
fn known_xss_and_text() {
    for attack in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "\"><svg onload=alert(1)>",
        "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
        "<iframe src=javascript:alert(1)>",
        "' onmouseover='alert(1)",
        "<!DOCTYPE html>",
    ] {
        assert!(xss(attack.as_bytes()), "{attack}");
    }
    for text in [
        "3 < 4 and 5 > 2",
        "x<y",
        "O'Brien",
        "select a seat",
        "<b>bold</b>",
        "a -> b",
        "臺北市信義區市府路1號",
    ] {
        assert!(!xss(text.as_bytes()), "{text}");
    }
}

#[test]
fn additions_beyond_libinjection() {
    for attack in [
        "<x onnewevent=alert(1)>",
        "<body onhelp=alert(1)>",
        "javascript:alert(1)",
        "  JaVaScRiPt:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html;base64,PHN2Zy9vbmxvYWQ9YWxlcnQoMik+",
        "'-alert(1)-'",
        "\";alert('XSS');//",
        "}alert(1);{",
        "<scr<script>ipt>alert(1)</scr<script>ipt>",
        "<LAYER SRC=\"http://example.com/x.html\"></LAYER>",
        "<IMG SRC=\"mocha:[code]\">",
    ] {
        assert!(xss(attack.as_bytes()), "{attack}");
    }
    for text in [
        "JavaScript: The Good Parts",
        "Data: see attached",
        "online=yes",
        "once upon a time",
        "set an alert (daily)",
        "it's-alerting",
        "<x one two>",
    ] {
        assert!(!xss(text.as_bytes()), "{text}");
    }
}
