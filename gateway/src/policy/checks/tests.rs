use bytes::Bytes;
use gatewatch_model::policy::{Check, CheckMode};
use gatewatch_model::{ApiSpec, Outcome};
use http::request::Parts;
use http::{Request, StatusCode};

use super::values::{scan, BodyKind, JSON_DEPTH};
use super::{compile, run, Compiled, MAX_FINDINGS};
use crate::body::client::ClientBody;
use crate::phase::{Ctx, Stop};

fn checks(mode: CheckMode, headers: &[&str]) -> Compiled {
    let mut spec = ApiSpec::prefixed("api", "/", &["http://127.0.0.1:9"]);
    spec.checks = vec![Check::Sqli, Check::Xss];
    spec.check_mode = mode;
    spec.check_headers = headers.iter().map(|h| h.to_string()).collect();
    compile(&spec).expect("checks on")
}

fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Every finding of a call, `check:where`.
fn found(c: &Compiled, h: &Parts, body: Option<(&str, BodyKind)>) -> Vec<String> {
    scan(c, h, body.map(|(b, k)| (b.as_bytes(), Some(k))), false)
        .into_iter()
        .map(|f| format!("{}:{}", f.check.name(), f.place))
        .collect()
}

#[test]
fn off_when_no_check_is_listed() {
    let spec = ApiSpec::prefixed("api", "/", &["http://127.0.0.1:9"]);
    assert!(spec.checks.is_empty());
    assert!(compile(&spec).is_none());
}

#[test]
fn each_place_is_named() {
    let c = checks(CheckMode::Monitor, &["referer"]);
    let h = head(
        "GET",
        "/users/1%27%20or%20%271%27=%271/x?q=%3Cscript%3Ealert(1)%3C/script%3E&ok=fine&name=O%27Brien",
        &[("referer", "' union select password from users--"), ("user-agent", "<script>x</script>")],
    );
    assert_eq!(
        found(&c, &h, None),
        ["sqli:path[1]", "xss:query.q", "sqli:header.referer"],
        "user-agent is not in check_headers"
    );
}

#[test]
fn query_values_are_form_decoded() {
    let c = checks(CheckMode::Monitor, &[]);
    // `+` is a space: `1'+or+'1'='1` is `1' or '1'='1`.
    let h = head("GET", "/s?id=1'+or+'1'%3D'1", &[]);
    assert_eq!(found(&c, &h, None), ["sqli:query.id"]);
    // A part with no `=` is scanned whole; odd names are quoted.
    let h = head(
        "GET",
        "/s?1'+or+1=1--&a%20b=%3Csvg%20onload%3Dalert(1)%3E",
        &[],
    );
    assert_eq!(
        found(&c, &h, None),
        ["sqli:query[\"1' or 1\"]", "xss:query[\"a b\"]"]
    );
    // A bad escape is kept as it is, not an error.
    let h = head("GET", "/s?q=100%&r=%zz", &[]);
    assert!(found(&c, &h, None).is_empty());
}

#[test]
fn json_strings_are_named_by_their_path() {
    let c = checks(CheckMode::Monitor, &[]);
    let h = head("POST", "/orders", &[("content-type", "application/json")]);
    let body = r#"{"customer":{"name":"O'Brien","city":"臺北市"},"items":[
        {"sku":"A-1","note":"select a seat"},{"sku":"B-2","note":"3 < 4"},
        {"sku":"C-3","note":"1' or '1'='1"}],"odd key":"<img src=x onerror=alert(1)>","n":1}"#;
    assert_eq!(
        found(&c, &h, Some((body, BodyKind::Json))),
        ["sqli:body.items[2].note", "xss:body[\"odd key\"]"]
    );
    // A top-level string is `body`.
    assert_eq!(
        found(
            &c,
            &h,
            Some((r#""<script>alert(1)</script>""#, BodyKind::Json))
        ),
        ["xss:body"]
    );
}

#[test]
fn deep_json_is_scanned_and_its_name_bounded() {
    let c = checks(CheckMode::Monitor, &[]);
    let h = head("POST", "/", &[("content-type", "application/json")]);
    let depth = JSON_DEPTH + 10;
    let body = format!("{}\"' or 1=1--\"{}", "[".repeat(depth), "]".repeat(depth));
    let got = found(&c, &h, Some((&body, BodyKind::Json)));
    assert_eq!(got, [format!("sqli:body{}…", "[0]".repeat(JSON_DEPTH))]);
}

#[test]
fn malformed_or_too_deep_json_is_scanned_as_text() {
    let c = checks(CheckMode::Monitor, &[]);
    let h = head("POST", "/", &[("content-type", "application/json")]);
    // Past serde_json's nesting limit (128): not parsed, still scanned.
    let body = format!(
        "{}\"<script>alert(1)</script>\"{}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let got = found(&c, &h, Some((&body, BodyKind::Json)));
    assert!(got.len() == 1 && got[0].ends_with(":body"), "{got:?}");
    let body = r#"{"q": "<svg onload=alert(1)>", "#;
    assert_eq!(found(&c, &h, Some((body, BodyKind::Json))), ["xss:body"]);
}

#[test]
fn form_fields_are_scanned() {
    let c = checks(CheckMode::Monitor, &[]);
    let h = head(
        "POST",
        "/login",
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
    );
    let body = "user=admin%27--&password=hunter2&name=O%27Brien&comment=select+a+seat";
    assert_eq!(
        found(&c, &h, Some((body, BodyKind::Form))),
        ["sqli:body.user"]
    );
}

#[test]
fn ordinary_values_pass() {
    let c = checks(CheckMode::Block, &["referer"]);
    let h = head(
        "GET",
        "/people/O'Brien/addresses/%E8%87%BA%E5%8C%97%E5%B8%82?q=select+a+seat&expr=3+%3C+4+%3E+2&name=%E7%8E%8B%E5%B0%8F%E6%98%8E",
        &[("referer", "https://example.com/search?q=a+b")],
    );
    let json = r#"{"name":"O'Brien","quote":"He said \"hi\"","math":"x < y > z"}"#;
    assert!(found(&c, &h, Some((json, BodyKind::Json))).is_empty());
}

#[test]
fn findings_are_bounded() {
    let c = checks(CheckMode::Monitor, &[]);
    let q: Vec<String> = (0..MAX_FINDINGS + 5)
        .map(|i| format!("a{i}=1%27%20or%201=1--"))
        .collect();
    let h = head("GET", &format!("/?{}", q.join("&")), &[]);
    assert_eq!(found(&c, &h, None).len(), MAX_FINDINGS);
    // A long name is cut.
    let name = "n".repeat(1000);
    let h = head("GET", &format!("/?{name}=%3Cscript%3Ex%3C/script%3E"), &[]);
    let got = found(&c, &h, None);
    assert!(got[0].len() < 300, "{}", got[0].len());
}

#[test]
fn body_is_read_only_for_json_and_forms() {
    let c = checks(CheckMode::Block, &[]);
    let with = |ct: &str, len: &str| {
        head(
            "POST",
            "/",
            &[("content-type", ct), ("content-length", len)],
        )
    };
    assert!(c.needs_body(&with("application/json", "10")));
    assert!(c.needs_body(&with("Application/JSON; charset=utf-8", "10")));
    assert!(c.needs_body(&with("application/vnd.api+json", "10")));
    assert!(c.needs_body(&with("application/x-www-form-urlencoded", "10")));
    assert!(!c.needs_body(&with("application/json", "0")));
    assert!(!c.needs_body(&with("image/png", "10")));
    assert!(!c.needs_body(&with("multipart/form-data; boundary=x", "10")));
    assert!(!c.needs_body(&head("GET", "/", &[])));
    assert!(c.needs_body(&head(
        "POST",
        "/",
        &[
            ("content-type", "application/json"),
            ("transfer-encoding", "chunked")
        ]
    )));
}

#[test]
fn block_refuses_with_the_first_finding() {
    let c = checks(CheckMode::Block, &[]);
    let h = head(
        "GET",
        "/?a=1%27%20or%201=1--&b=%3Cscript%3Ex%3C/script%3E",
        &[],
    );
    let mut ctx = Ctx::for_tests("192.0.2.1");
    let Err(Stop::Refuse(answer)) = run(&c, &h, &ClientBody::Buffered(Bytes::new()), &mut ctx)
    else {
        panic!("not blocked");
    };
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.outcome, Outcome::RefusedBlocked);
    assert_eq!(answer.code, "blocked");
    assert!(
        answer.told.contains("sqli found in query.a"),
        "{}",
        answer.told
    );
    assert_eq!(ctx.findings, ["sqli:query.a"]);
}

#[test]
fn monitor_records_every_finding_and_lets_through() {
    let c = checks(CheckMode::Monitor, &[]);
    let h = head(
        "POST",
        "/?a=1%27%20or%201=1--",
        &[("content-type", "application/json")],
    );
    let body = ClientBody::Buffered(Bytes::from_static(br#"{"b":"<script>x</script>"}"#));
    let mut ctx = Ctx::for_tests("192.0.2.1");
    assert!(run(&c, &h, &body, &mut ctx).is_ok());
    assert_eq!(ctx.findings, ["sqli:query.a", "xss:body.b"]);
}

#[test]
fn only_the_listed_checks_run() {
    let mut spec = ApiSpec::prefixed("api", "/", &["http://127.0.0.1:9"]);
    spec.checks = vec![Check::Xss];
    let c = compile(&spec).unwrap();
    let h = head(
        "GET",
        "/?a=1%27%20or%201=1--&b=%3Cscript%3Ex%3C/script%3E",
        &[],
    );
    assert_eq!(found(&c, &h, None), ["xss:query.b"]);
}
