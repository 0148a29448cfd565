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
//! Site credentials are never part of a channel (channels live in ClickHouse): the SMTP login
//! and the LINE channel access token are site settings (`[alerter.smtp]`, `[alerter.line]`),
//! and a webhook names its HMAC key (`secret = "chatops"`), whose bytes are in
//! `[alerter.secrets]`. A credential the receiver wants in a header (`Authorization`, any
//! header whose name says it is one: [`is_secret_header`]) is stored sealed
//! ([`crate::sealed`]: encrypted under a key derived from the site pepper, bound to the header
//! and to the URL's host and port) and opened only by the alerter as it sends.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::field::{bad, check_id, FieldError};
use crate::user::{looks_like_email, Role};

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[schema(pattern = "^(en|zh-TW)$")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTarget {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::email_targets)]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

/// LINE Messaging API push targets: user (`U…`), group (`C…`) or room (`R…`) ids. One push per
/// target, through the site's LINE channel (`[alerter.line]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineTarget {
    #[schema(schema_with = crate::schema::line_targets)]
    pub to: Vec<String>,
}

/// An HTTP endpoint that receives a JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// `http://` or `https://` URL.
    #[schema(pattern = "^https?://[^\\u0000-\\u0020\\u007f]+$")]
    pub url: String,
    #[serde(default)]
    pub method: WebhookMethod,
    /// Extra request headers (e.g. an `Authorization` the receiver wants).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::schema::webhook_headers)]
    pub headers: BTreeMap<String, String>,
    /// The body's shape when `body` is not given.
    #[serde(default)]
    pub preset: WebhookPreset,
    /// A JSON template: every string in it may hold the message placeholders (`{{rule}}`,
    /// `{{value}}`, …), replaced inside the string so the result stays valid JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::webhook_body)]
    pub body: Option<serde_json::Value>,
    /// The PagerDuty Events API v2 integration key (32 characters), for the `pagerduty`
    /// preset only (and required there). Stored sealed like credential headers, answered as
    /// `****`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Name of a key in `[alerter.secrets]`: when set, the body is signed
    /// (`X-Gatewatch-Signature: sha256=<hex HMAC-SHA256 of the body>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub secret: Option<String>,
    /// Per attempt, in milliseconds (1–60000).
    #[serde(default = "WebhookTarget::default_timeout_ms")]
    #[schema(minimum = 1, maximum = 60_000)]
    pub timeout_ms: u64,
    /// Further attempts after a timeout, a connection failure, a 429 or a 5xx (0–10).
    #[serde(default = "WebhookTarget::default_retries")]
    #[schema(maximum = 10)]
    pub retries: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    #[default]
    Post,
    Put,
    Patch,
}

/// Ready-made body shapes (the alerter's `notify::preset` builds them; its README shows each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookPreset {
    /// `{"subject", "text", "status", …every placeholder}`.
    #[default]
    Generic,
    /// Alertmanager's webhook payload, version 4 (`groupKey`, `alerts[]`, …): for receivers
    /// written for Alertmanager.
    Alertmanager,
    /// PagerDuty Events API v2 (`trigger` / `resolve` with a stable `dedup_key`); needs
    /// `routing_key`. URL: `https://events.pagerduty.com/v2/enqueue`.
    Pagerduty,
    /// Slack incoming webhook: `text` and Block Kit `blocks`.
    Slack,
    /// Microsoft Teams **Workflows** ("post to a channel when a webhook request is received"):
    /// an Adaptive Card. (Until issue 18 this sent an Office 365 connector MessageCard, which
    /// Microsoft retired; stored `teams` channels now send the card.)
    Teams,
}

/// Where PagerDuty's Events API v2 takes events.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Whether `key` reads as a PagerDuty integration key: 32 letters and digits.
pub fn is_routing_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_alphanumeric())
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
        match (&self.routing_key, self.preset) {
            (None, WebhookPreset::Pagerduty) => return bad(
                "routing_key",
                "the pagerduty preset needs the integration key of an Events API v2 integration",
            ),
            (Some(_), WebhookPreset::Pagerduty) if self.body.is_some() => return bad(
                "body",
                "the pagerduty preset builds its own body (with the routing key); leave body out",
            ),
            (Some(k), WebhookPreset::Pagerduty) => {
                // Stored channels hold it sealed; a value given in plain text must look right.
                if !crate::sealed::is_sealed(k) && !is_routing_key(k) {
                    return bad(
                        "routing_key",
                        "is not a PagerDuty integration key (32 letters and digits)",
                    );
                }
            }
            (Some(_), _) => {
                return bad(
                    "routing_key",
                    "only the pagerduty preset sends a routing key",
                )
            }
            (None, _) => {}
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

/// Whether a webhook header carries a credential, by its name: its value is stored sealed
/// and never shown.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "auth",
        "token",
        "key",
        "secret",
        "cookie",
        "password",
        "signature",
        "session",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Where a URL sends to, as `host:port` the way the HTTP client reads it; `None` for a URL it
/// cannot read. A credential kept for one destination is not sent to another.
pub fn destination_of(url: &str) -> Option<String> {
    let (host, port) = crate::outbound::url_host(url).ok()?;
    Some(match host {
        crate::outbound::Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        crate::outbound::Host::Ip(ip) => format!("{ip}:{port}"),
        crate::outbound::Host::Name(n) => format!("{n}:{port}"),
    })
}

/// What a sealed header is bound to: its name and where it is sent.
fn seal_context(name: &str, destination: &str) -> String {
    format!(
        "webhook header {} for {destination}",
        name.to_ascii_lowercase()
    )
}

/// What a sealed PagerDuty routing key is bound to: where it is sent.
fn routing_key_context(destination: &str) -> String {
    format!("webhook routing_key for {destination}")
}

impl WebhookTarget {
    /// How many values [`WebhookTarget::seal_headers`] may seal: give it that many nonces.
    pub fn sealable(&self) -> usize {
        self.headers.len() + usize::from(self.routing_key.is_some())
    }

    /// Seals every credential header given in plain text, and the routing key, and checks
    /// that those already sealed open with `key` for this destination (else: the field, to
    /// send the value again). `nonce` gives 24 fresh random bytes per call (at most
    /// [`WebhookTarget::sealable`] calls).
    pub fn seal_headers(
        &mut self,
        key: &crate::sealed::SealKey,
        mut nonce: impl FnMut() -> [u8; 24],
    ) -> Result<(), FieldError> {
        let Some(dest) = destination_of(&self.url) else {
            return bad("url", "cannot be read as a URL");
        };
        for (name, value) in self.headers.iter_mut() {
            if !is_secret_header(name) {
                continue;
            }
            let context = seal_context(name, &dest);
            if crate::sealed::is_sealed(value) {
                key.open(&context, value).map_err(|e| {
                    FieldError::new(
                        format!("headers.{name}"),
                        format!("{e}: send the value in plain text"),
                    )
                })?;
            } else {
                *value = key.seal(&context, value, nonce());
            }
        }
        if let Some(value) = &mut self.routing_key {
            let context = routing_key_context(&dest);
            if crate::sealed::is_sealed(value) {
                key.open(&context, value).map_err(|e| {
                    FieldError::new("routing_key", format!("{e}: send the key again"))
                })?;
            } else {
                *value = key.seal(&context, value, nonce());
            }
        }
        Ok(())
    }

    /// The PagerDuty routing key to send, opened with `key` when sealed (a plain one, stored
    /// before sealing, as it is). The error names the field, never the value.
    pub fn open_routing_key(
        &self,
        key: Option<&crate::sealed::SealKey>,
    ) -> Result<Option<String>, String> {
        let Some(value) = &self.routing_key else {
            return Ok(None);
        };
        if !crate::sealed::is_sealed(value) {
            return Ok(Some(value.clone()));
        }
        let key = key.ok_or("routing_key is sealed and this process has no key to open it")?;
        let dest = destination_of(&self.url).ok_or("routing_key: the URL cannot be read")?;
        key.open(&routing_key_context(&dest), value)
            .map(Some)
            .map_err(|e| format!("routing_key: {e}"))
    }

    /// The headers to send, sealed ones opened with `key`. Plain values (stored before
    /// sealing, or headers that are not credentials) are sent as they are.
    pub fn open_headers(
        &self,
        key: Option<&crate::sealed::SealKey>,
    ) -> Result<Vec<(String, String)>, String> {
        self.headers
            .iter()
            .map(|(name, value)| {
                if !crate::sealed::is_sealed(value) {
                    return Ok((name.clone(), value.clone()));
                }
                let key = key.ok_or_else(|| {
                    format!("header {name} is sealed and this process has no key to open it")
                })?;
                let dest = destination_of(&self.url)
                    .ok_or_else(|| format!("header {name}: the URL cannot be read"))?;
                let context = seal_context(name, &dest);
                key.open(&context, value)
                    .map(|plain| (name.clone(), plain))
                    .map_err(|e| format!("header {name}: {e}"))
            })
            .collect()
    }
}

/// RFC 9110 token characters, the ones a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An absolute `http://` or `https://` URL with a host and no spaces, that the HTTP client
/// reads as such (the `url` crate, which reqwest uses).
fn check_url(url: &str) -> Result<(), String> {
    check_url_text(url)?;
    crate::outbound::url_host(url).map(|_| ())
}

fn check_url_text(url: &str) -> Result<(), String> {
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
    const ROUTING_KEY: &str = "R0123456789abcdefR0123456789abcd";

    #[test]
    fn presets_parse_by_name() {
        for (name, preset) in [
            ("generic", WebhookPreset::Generic),
            ("alertmanager", WebhookPreset::Alertmanager),
            ("slack", WebhookPreset::Slack),
            ("teams", WebhookPreset::Teams),
        ] {
            let c = parse(&format!(
                r#"{{"webhook":{{"url":"https://h/x","preset":"{name}"}}}}"#
            ))
            .unwrap();
            assert_eq!(c.webhook.unwrap().preset, preset);
        }
        let c = parse(&format!(
            r#"{{"webhook":{{"url":"{PAGERDUTY_EVENTS_URL}","preset":"pagerduty","routing_key":"{ROUTING_KEY}"}}}}"#
        ))
        .unwrap();
        let w = c.webhook.unwrap();
        assert_eq!(w.preset, WebhookPreset::Pagerduty);
        assert_eq!(
            w.open_routing_key(None).unwrap().as_deref(),
            Some(ROUTING_KEY)
        );
    }

    #[test]
    fn routing_keys_are_sealed_for_their_destination() {
        use crate::sealed::{is_sealed, SealKey};
        let key = SealKey::from_pepper(b"pepper of the site 0123456789");
        let mut seen = std::collections::BTreeSet::new();
        let mut n = 0u8;
        let mut nonce = || {
            n += 1;
            [n; 24]
        };
        let mut w: WebhookTarget = serde_json::from_str(&format!(
            r#"{{"url":"{PAGERDUTY_EVENTS_URL}","preset":"pagerduty","routing_key":"{ROUTING_KEY}","headers":{{"X-Api-Key":"k1"}}}}"#
        ))
        .unwrap();
        assert_eq!(w.sealable(), 2);
        w.seal_headers(&key, &mut nonce).unwrap();
        let sealed = w.routing_key.clone().unwrap();
        assert!(is_sealed(&sealed));
        assert!(seen.insert(sealed.clone()) && seen.insert(w.headers["X-Api-Key"].clone()));
        w.validate().unwrap();
        assert!(!serde_json::to_string(&w).unwrap().contains(ROUTING_KEY));
        assert_eq!(
            w.open_routing_key(Some(&key)).unwrap().as_deref(),
            Some(ROUTING_KEY)
        );
        // Sealed again: kept; another host does not open it; no key: named, not shown.
        w.seal_headers(&key, &mut nonce).unwrap();
        assert_eq!(w.routing_key.as_deref(), Some(sealed.as_str()));
        let e = w.open_routing_key(None).unwrap_err();
        assert!(e.contains("routing_key") && !e.contains(ROUTING_KEY), "{e}");
        w.url = "https://evil.example/v2/enqueue".into();
        assert!(w.open_routing_key(Some(&key)).is_err());
        w.headers.clear();
        let e = w.clone().seal_headers(&key, &mut nonce).unwrap_err();
        assert_eq!(e.field, "routing_key");
        // A routing key sealed as a header does not open as the routing key.
        w.url = PAGERDUTY_EVENTS_URL.into();
        w.routing_key = Some(key.seal(
            &seal_context("routing_key", "events.pagerduty.com:443"),
            ROUTING_KEY,
            [9; 24],
        ));
        assert!(w.open_routing_key(Some(&key)).is_err());
    }

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
            (
                r#"{"webhook":{"url":"https://h/x","preset":"pagerduty"}}"#.into(),
                "webhook.routing_key",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","preset":"pagerduty","routing_key":"short"}}"#
                    .into(),
                "webhook.routing_key",
            ),
            (
                format!(
                    r#"{{"webhook":{{"url":"https://h/x","preset":"pagerduty","routing_key":"{}\"}}}}"#,
                    "a".repeat(31)
                ),
                "webhook.routing_key",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","preset":"pagerduty","routing_key":"****"}}"#
                    .into(),
                "webhook.routing_key",
            ),
            (
                format!(
                    r#"{{"webhook":{{"url":"https://h/x","preset":"pagerduty","routing_key":"{ROUTING_KEY}","body":{{"a":1}}}}}}"#
                ),
                "webhook.body",
            ),
            (
                format!(
                    r#"{{"webhook":{{"url":"https://h/x","preset":"slack","routing_key":"{ROUTING_KEY}"}}}}"#
                ),
                "webhook.routing_key",
            ),
            (
                r#"{"webhook":{"url":"https://h/x","routing_key":7}}"#.into(),
                "webhook.routing_key",
            ),
        ];
        for (json, field) in cases {
            let e = parse(&json).unwrap_err();
            assert_eq!(e.field, field, "{json} → {e}");
        }
    }

    #[test]
    fn credential_headers_are_sealed_for_their_destination() {
        use crate::sealed::{is_sealed, SealKey};
        let key = SealKey::from_pepper(b"pepper of the site 0123456789");
        let mut n = 0u8;
        let mut nonce = || {
            n += 1;
            [n; 24]
        };
        let mut w: WebhookTarget = serde_json::from_str(
            r#"{"url":"https://Hooks.Example.tw/x","headers":{"Authorization":"Bearer s3cr3t","X-Team":"ops","X-Api-Key":"k1"}}"#,
        )
        .unwrap();
        w.seal_headers(&key, &mut nonce).unwrap();
        assert!(is_sealed(&w.headers["Authorization"]));
        assert!(is_sealed(&w.headers["X-Api-Key"]));
        assert_eq!(w.headers["X-Team"], "ops");
        assert!(!serde_json::to_string(&w).unwrap().contains("s3cr3t"));
        let open: BTreeMap<String, String> =
            w.open_headers(Some(&key)).unwrap().into_iter().collect();
        assert_eq!(open["Authorization"], "Bearer s3cr3t");
        assert_eq!(open["X-Team"], "ops");
        // Sealing again keeps sealed values (they open) and seals nothing twice.
        let before = w.headers.clone();
        w.seal_headers(&key, &mut nonce).unwrap();
        assert_eq!(w.headers, before);
        // Another path on the same host keeps them; another host or port does not open them.
        w.url = "https://hooks.example.tw:443/other".into();
        assert!(w.open_headers(Some(&key)).is_ok());
        for elsewhere in [
            "https://evil.example/x",
            "https://hooks.example.tw:8443/x",
            "http://hooks.example.tw/x",
        ] {
            w.url = elsewhere.into();
            assert!(w.open_headers(Some(&key)).is_err(), "{elsewhere}");
            let e = w.clone().seal_headers(&key, &mut nonce).unwrap_err();
            assert!(e.field.starts_with("headers."), "{e}");
        }
        w.url = "https://hooks.example.tw/x".into();
        assert!(w.open_headers(None).is_err());
        let other = SealKey::from_pepper(b"another pepper 0123456789");
        assert!(w.open_headers(Some(&other)).is_err());
        // Plain values stored before sealing are still sent.
        let legacy: WebhookTarget = serde_json::from_str(
            r#"{"url":"https://h.tw/x","headers":{"Authorization":"Bearer old"}}"#,
        )
        .unwrap();
        assert_eq!(legacy.open_headers(None).unwrap()[0].1, "Bearer old");
    }

    #[test]
    fn destinations_are_host_and_port_as_the_client_reads_them() {
        assert_eq!(
            destination_of("https://H.tw/x").as_deref(),
            Some("h.tw:443")
        );
        assert_eq!(
            destination_of("http://h.tw:80/y").as_deref(),
            Some("h.tw:80")
        );
        assert_eq!(
            destination_of("http://127.1:8123/").as_deref(),
            Some("127.0.0.1:8123")
        );
        assert_eq!(destination_of("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(destination_of("nope"), None);
        assert!(is_secret_header("Authorization") && is_secret_header("X-API-KEY"));
        assert!(!is_secret_header("X-Team"));
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
