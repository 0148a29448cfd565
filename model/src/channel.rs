//! Notification channels (kind `channel`): *where* an alert goes.
//!
//! A channel is a destination and nothing else: a list of e-mail addresses and/or roles, a list
//! of LINE targets, or one webhook endpoint. *When* and *what* to send belongs to the alert
//! rule, which names the channels it notifies by id. Exactly one of `email`, `line`, `webhook`
//! is set:
//!
//! ```toml
//! [[channel]]
//! id = "ops-mail"
//! name = "值班信箱"
//! lang = "zh-TW"
//! email = { to = ["oncall@example.tw"], roles = ["ops"] }
//!
//! [[channel]]
//! id = "ops-line"
//! line = { to = ["Cb2f4e7a9c1d3e5f7a9b1c3d5e7f9a1b2"] }
//!
//! [[channel]]
//! id = "chatops"
//! webhook = { url = "https://hooks.slack.com/services/T0/B0/x", preset = "slack" }
//! ```
//!
//! Credentials are never part of a channel (channels live in ClickHouse): the SMTP login and
//! the LINE channel access token are site settings (`[alerter.smtp]`, `[alerter.line]`), and a
//! webhook names its HMAC key (`secret = "chatops"`), whose bytes are in `[alerter.secrets]`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::field::{bad, check_id, FieldError};
use crate::user::{looks_like_email, Role};

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// Shown in lists; any language.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A disabled channel is skipped (and says so in the alert's events).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Language of the default message texts: `en` or `zh-TW`.
    #[serde(default = "ChannelSpec::default_lang")]
    pub lang: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<LineTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
}

fn yes() -> bool {
    true
}

/// The destination of a channel, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Destination<'a> {
    Email(&'a EmailTarget),
    Line(&'a LineTarget),
    Webhook(&'a WebhookTarget),
}

/// E-mail to fixed addresses and to every enabled user of the listed roles who has an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTarget {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

/// LINE Messaging API push targets: user (`U…`), group (`C…`) or room (`R…`) ids. One push per
/// target, through the site's LINE channel (`[alerter.line]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineTarget {
    pub to: Vec<String>,
}

/// An HTTP endpoint that receives a JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// `http://` or `https://` URL.
    pub url: String,
    #[serde(default)]
    pub method: WebhookMethod,
    /// Extra request headers (e.g. an `Authorization` the receiver wants).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body's shape when `body` is not given.
    #[serde(default)]
    pub preset: WebhookPreset,
    /// A JSON template: every string in it may hold the message placeholders (`{{rule}}`,
    /// `{{value}}`, …), replaced inside the string so the result stays valid JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Name of a key in `[alerter.secrets]`: when set, the body is signed
    /// (`X-Gatewatch-Signature: sha256=<hex HMAC-SHA256 of the body>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Per attempt, in milliseconds (1–60000).
    #[serde(default = "WebhookTarget::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Further attempts after a timeout, a connection failure, a 429 or a 5xx (0–10).
    #[serde(default = "WebhookTarget::default_retries")]
    pub retries: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    #[default]
    Post,
    Put,
    Patch,
}

/// Ready-made body shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookPreset {
    /// `{"subject", "text", "status", …every placeholder}`.
    #[default]
    Generic,
    /// Slack incoming webhook: `{"text": …}`.
    Slack,
    /// Microsoft Teams incoming webhook: a MessageCard.
    Teams,
}

/// LINE's limits: one push carries one text here; a channel lists a handful of targets.
pub const MAX_LINE_TARGETS: usize = 20;
pub const MAX_EMAIL_TARGETS: usize = 100;

impl ChannelSpec {
    fn default_lang() -> String {
        "en".into()
    }

    /// The one destination set. Only meaningful on a validated spec.
    pub fn destination(&self) -> Option<Destination<'_>> {
        match (&self.email, &self.line, &self.webhook) {
            (Some(e), None, None) => Some(Destination::Email(e)),
            (None, Some(l), None) => Some(Destination::Line(l)),
            (None, None, Some(w)) => Some(Destination::Webhook(w)),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if !["en", "zh-TW"].contains(&self.lang.as_str()) {
            return bad(
                "lang",
                format!("{:?} is not a language (en, zh-TW)", self.lang),
            );
        }
        let set = [
            self.email.is_some(),
            self.line.is_some(),
            self.webhook.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set != 1 {
            return bad("", "exactly one of email, line, webhook must be set");
        }
        if let Some(e) = &self.email {
            e.validate().map_err(|e| e.under("email"))?;
        }
        if let Some(l) = &self.line {
            l.validate().map_err(|e| e.under("line"))?;
        }
        if let Some(w) = &self.webhook {
            w.validate().map_err(|e| e.under("webhook"))?;
        }
        Ok(())
    }
}

impl EmailTarget {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.to.is_empty() && self.roles.is_empty() {
            return bad("to", "list at least one address, or a role in 'roles'");
        }
        if self.to.len() > MAX_EMAIL_TARGETS {
            return bad("to", format!("at most {MAX_EMAIL_TARGETS} addresses"));
        }
        for (i, a) in self.to.iter().enumerate() {
            if !looks_like_email(a) {
                return bad(
                    format!("to[{i}]"),
                    format!("{a:?} is not an e-mail address"),
                );
            }
        }
        Ok(())
    }
}

impl LineTarget {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.to.is_empty() {
            return bad("to", "list at least one user, group or room id");
        }
        if self.to.len() > MAX_LINE_TARGETS {
            return bad("to", format!("at most {MAX_LINE_TARGETS} targets"));
        }
        for (i, id) in self.to.iter().enumerate() {
            if !is_line_id(id) {
                return bad(
                    format!("to[{i}]"),
                    format!(
                        "{id:?} is not a LINE user, group or room id (U, C or R and 32 hex digits)"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// `U`, `C` or `R` followed by 32 lowercase hex digits, as LINE writes its ids.
pub fn is_line_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 33
        && matches!(b[0], b'U' | b'C' | b'R')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

impl WebhookTarget {
    fn default_timeout_ms() -> u64 {
        5_000
    }
    fn default_retries() -> u32 {
        3
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        check_url(&self.url).map_err(|m| FieldError::new("url", m))?;
        for (name, value) in &self.headers {
            let field = format!("headers.{name}");
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return bad(field, "is not a valid header name");
            }
            let lower = name.to_ascii_lowercase();
            if [
                "content-length",
                "host",
                "transfer-encoding",
                "x-gatewatch-signature",
            ]
            .contains(&lower.as_str())
            {
                return bad(field, "is set by gatewatch and may not be given");
            }
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return bad(field, "may not hold control characters (line breaks)");
            }
        }
        if let Some(b) = &self.body {
            if !(b.is_object() || b.is_array()) {
                return bad("body", "must be a JSON object or array");
            }
        }
        if let Some(s) = &self.secret {
            check_id("secret", s)?;
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return bad("timeout_ms", "must be 1 to 60000");
        }
        if self.retries > 10 {
            return bad("retries", "must be 0 to 10");
        }
        Ok(())
    }
}

/// RFC 9110 token characters, the ones a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An absolute `http://` or `https://` URL with a host and no spaces.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{url:?} has no host"));
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!("{url:?} may not hold spaces or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{Entity, EntityKind};

    fn parse(json: &str) -> Result<ChannelSpec, FieldError> {
        match Entity::parse(EntityKind::Channel, "c1", json)? {
            Entity::Channel(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    const LINE_ID: &str = "Ub2f4e7a9c1d3e5f7a9b1c3d5e7f9a1b2";

    #[test]
    fn each_destination_parses_and_round_trips() {
        let e =
            parse(r#"{"name":"值班","lang":"zh-TW","email":{"to":["a@b.tw"],"roles":["ops"]}}"#)
                .unwrap();
        assert!(matches!(e.destination(), Some(Destination::Email(t)) if t.roles == [Role::Ops]));
        assert!(e.enabled);
        let l = parse(&format!(r#"{{"line":{{"to":["{LINE_ID}"]}}}}"#)).unwrap();
        assert!(matches!(l.destination(), Some(Destination::Line(_))));
        assert_eq!(l.lang, "en");
        let w = parse(
            r#"{"webhook":{"url":"https://hooks.example/x","preset":"slack","secret":"hook1","headers":{"X-Token":"abc"},"method":"PUT"}}"#,
        )
        .unwrap();
        let Some(Destination::Webhook(t)) = w.destination() else {
            panic!()
        };
        assert_eq!(
            (t.preset, t.method, t.timeout_ms, t.retries),
            (WebhookPreset::Slack, WebhookMethod::Put, 5000, 3)
        );
        for c in [e, l, w] {
            let again = serde_json::to_string(&c).unwrap();
            assert_eq!(parse(&again).unwrap(), c);
        }
    }

    #[test]
    fn each_bad_value_is_named() {
        let cases = [
            (r#"{}"#.to_string(), ""),
            (
                format!(r#"{{"email":{{"to":["a@b.tw"]}},"line":{{"to":["{LINE_ID}"]}}}}"#),
                "",
            ),
            (r#"{"email":{}}"#.into(), "email.to"),
            (
                r#"{"email":{"to":["a@b.tw","nope"]}}"#.into(),
                "email.to[1]",
            ),
            (r#"{"email":{"roles":["boss"]}}"#.into(), "email.roles[0]"),
            (r#"{"lang":"fr","email":{"to":["a@b.tw"]}}"#.into(), "lang"),
            (r#"{"line":{"to":[]}}"#.into(), "line.to"),
            (r#"{"line":{"to":["U123"]}}"#.into(), "line.to[0]"),
            (r#"{"webhook":{"url":"ftp://x"}}"#.into(), "webhook.url"),
            (r#"{"webhook":{"url":"https://"}}"#.into(), "webhook.url"),
            (
                r#"{"webhook":{"url":"https://h/x","headers":{"Bad Name":"v"}}}"#.into(),
                "webhook.headers.Bad Name",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","headers":{"X-A":"v\r\nX-B: w"}}}"#.into(),
                "webhook.headers.X-A",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","headers":{"X-Gatewatch-Signature":"v"}}}"#
                    .into(),
                "webhook.headers.X-Gatewatch-Signature",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","body":"text"}}"#.into(),
                "webhook.body",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","secret":"a/b"}}"#.into(),
                "webhook.secret",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","timeout_ms":0}}"#.into(),
                "webhook.timeout_ms",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","retries":11}}"#.into(),
                "webhook.retries",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","preset":"discord"}}"#.into(),
                "webhook.preset",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","method":"GET"}}"#.into(),
                "webhook.method",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","timout_ms":5}}"#.into(),
                "webhook.timout_ms",
            ),
        ];
        for (json, field) in cases {
            let e = parse(&json).unwrap_err();
            assert_eq!(e.field, field, "{json} → {e}");
        }
    }

    #[test]
    fn line_ids_are_checked() {
        assert!(is_line_id(LINE_ID));
        assert!(is_line_id("C0123456789abcdef0123456789abcdef"));
        assert!(!is_line_id("X0123456789abcdef0123456789abcdef"));
        assert!(!is_line_id("U0123456789ABCDEF0123456789abcdef"));
        assert!(!is_line_id("U0123"));
    }
}
