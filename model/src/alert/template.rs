//! Message templates: placeholders, the default texts (zh-TW and en) and rendering.
//!
//! Placeholders: `{{rule}}`, `{{node}}`, `{{scope}}`, `{{value}}`, `{{threshold}}`,
//! `{{duration}}`, `{{interval}}`, `{{started_at}}`, `{{link}}`, `{{state}}`, `{{severity}}`
//! (spaces inside the braces allowed), and TSMP's `$THRESHOLD`, `$DURATION`, `$INTERVAL`,
//! `$VALUE`, `$NODE`, so existing rule texts carry over. A `$` not followed by a capital
//! letter is plain text (`$5`); an unknown `{{x}}` or `$WORD` is a validation error naming it.
//! Rendering is one pass: substituted text is never scanned again.
//!
//! One tokenizer serves every channel: [`render`] fills a rule's texts (e-mail, LINE) from
//! [`Vars`]; [`render_map`] fills a webhook body's strings from the name → value map the
//! alerter sends with each notice ([`Vars::values`] gives the rule's placeholders as a map).
//! A message about a group of alerts adds the group's names to that map
//! ([`super::group::group_values`]: `alerts_count`, `firing_count`, `resolved_count`,
//! `group_key`, `group_labels`, `common_labels`, `group_status`, `group_kind`, `policy`,
//! `alerts_text`, `external_url`); the group's own mail and LINE texts are
//! [`super::group::render_group`]'s.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::rule::{AlertRuleSpec, Severity};
use crate::field::FieldError;

/// A message language.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Lang {
    /// Traditional Chinese (Taiwan).
    #[default]
    #[serde(rename = "zh-TW")]
    ZhTw,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::ZhTw => "zh-TW",
            Lang::En => "en",
        }
    }
}

/// Which notice a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The first notice of a firing alert.
    Firing,
    /// A reminder while it keeps firing (every `repeat_secs`).
    Repeat,
    Resolved,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Firing => "firing",
            NoticeKind::Repeat => "repeat",
            NoticeKind::Resolved => "resolved",
        }
    }
}

/// A subject and body override; what is left out comes from the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NoticeText)]
pub struct Text {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Overrides of one language. A missing `repeat` falls back to the `firing` override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeTemplates {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Text>,
}

impl NoticeTemplates {
    /// The overrides given, with their notice.
    pub fn texts(&self) -> impl Iterator<Item = (NoticeKind, &Text)> {
        [
            (NoticeKind::Firing, &self.firing),
            (NoticeKind::Repeat, &self.repeat),
            (NoticeKind::Resolved, &self.resolved),
        ]
        .into_iter()
        .filter_map(|(k, t)| t.as_ref().map(|t| (k, t)))
    }
}

/// A placeholder a template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Rule,
    Node,
    Scope,
    Value,
    Threshold,
    Duration,
    Interval,
    StartedAt,
    Link,
    State,
    Severity,
}

impl Placeholder {
    /// Every placeholder with its `{{name}}`.
    pub const ALL: [(&'static str, Placeholder); 11] = [
        ("rule", Placeholder::Rule),
        ("node", Placeholder::Node),
        ("scope", Placeholder::Scope),
        ("value", Placeholder::Value),
        ("threshold", Placeholder::Threshold),
        ("duration", Placeholder::Duration),
        ("interval", Placeholder::Interval),
        ("started_at", Placeholder::StartedAt),
        ("link", Placeholder::Link),
        ("state", Placeholder::State),
        ("severity", Placeholder::Severity),
    ];

    fn braced(name: &str) -> Option<Placeholder> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    fn dollar(name: &str) -> Option<Placeholder> {
        use Placeholder::*;
        Some(match name {
            "THRESHOLD" => Threshold,
            "DURATION" => Duration,
            "INTERVAL" => Interval,
            "VALUE" => Value,
            "NODE" => Node,
            _ => return None,
        })
    }
}

/// A piece of a template as written: the one tokenizer behind every renderer here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Text(&'a str),
    /// `{{ name }}`: the name trimmed, and the text as written.
    Braced {
        name: &'a str,
        raw: &'a str,
    },
    /// `$NAME` (a capital, then capitals and `_`), and the text as written.
    Dollar {
        name: &'a str,
        raw: &'a str,
    },
    /// `{{` without a closing `}}`: the rest of the template.
    Unclosed(&'a str),
}

/// Splits a template into text and placeholders. A lone `{` or `$` (`{x}`, `$5`) is text.
fn tokens(t: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find(['{', '$']) {
        let (before, at) = rest.split_at(i);
        if !before.is_empty() {
            out.push(Token::Text(before));
        }
        if let Some(inner) = at.strip_prefix("{{") {
            let Some(end) = inner.find("}}") else {
                out.push(Token::Unclosed(at));
                return out;
            };
            out.push(Token::Braced {
                name: inner[..end].trim(),
                raw: &at[..end + 4],
            });
            rest = &inner[end + 2..];
        } else if at.starts_with('$') && at[1..].starts_with(|c: char| c.is_ascii_uppercase()) {
            let word_len = at[1..]
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(at.len() - 1);
            out.push(Token::Dollar {
                name: &at[1..1 + word_len],
                raw: &at[..1 + word_len],
            });
            rest = &at[1 + word_len..];
        } else {
            out.push(Token::Text(&at[..1]));
            rest = &at[1..];
        }
    }
    if !rest.is_empty() {
        out.push(Token::Text(rest));
    }
    out
}

/// Checks a rule's template; the error names the first unknown placeholder.
fn check(t: &str) -> Result<(), String> {
    for tok in tokens(t) {
        match tok {
            Token::Text(_) => {}
            Token::Braced { name, .. } => {
                Placeholder::braced(name)
                    .ok_or_else(|| format!("unknown placeholder {{{{{name}}}}}"))?;
            }
            Token::Dollar { name, .. } => {
                Placeholder::dollar(name).ok_or_else(|| format!("unknown placeholder ${name}"))?;
            }
            Token::Unclosed(_) => return Err("`{{` without a closing `}}`".into()),
        }
    }
    Ok(())
}

/// Renders `template` in one pass with `lookup` giving a placeholder's value; a placeholder
/// it does not know, and an unclosed `{{`, stay as written.
fn render_tokens(template: &str, lookup: impl Fn(&Token<'_>) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    for tok in tokens(template) {
        match (tok, lookup(&tok)) {
            (_, Some(v)) => out.push_str(&v),
            (Token::Text(s) | Token::Unclosed(s), None) => out.push_str(s),
            (Token::Braced { raw, .. } | Token::Dollar { raw, .. }, None) => out.push_str(raw),
        }
    }
    out
}

/// Renders a template whose placeholders are the keys of `values`: `{{name}}` (spaces inside
/// allowed) and `$NAME` (read as `name`), in the same one pass as [`render`]. Unknown names
/// stay as written. This is how webhook bodies are rendered, one JSON string at a time (the
/// JSON encoder escapes the result, so values cannot break the document).
pub fn render_map<V: AsRef<str>>(
    template: &str,
    values: &std::collections::BTreeMap<String, V>,
) -> String {
    render_tokens(template, |tok| match tok {
        Token::Braced { name, .. } => values.get(*name).map(|v| v.as_ref().to_string()),
        Token::Dollar { name, .. } => values
            .get(&name.to_ascii_lowercase())
            .map(|v| v.as_ref().to_string()),
        _ => None,
    })
}

/// Checks a template's placeholders.
pub fn check_template(t: &str) -> Result<(), FieldError> {
    check(t).map_err(|m| FieldError::new("", m))
}

/// What the placeholders stand for in one message.
#[derive(Debug, Clone)]
pub struct Vars<'a> {
    pub rule: &'a str,
    /// The node of the scope key (empty for API scopes).
    pub node: &'a str,
    /// The scope key as shown (`gw1 /var`, `orders`, `acme`).
    pub scope: &'a str,
    /// The value measured; `None` when the measurement failed (a database probe).
    pub value: Option<f64>,
    /// Unit after the value and the threshold ([`super::RuleKind::unit`]).
    pub unit: &'a str,
    pub threshold: f64,
    pub duration_secs: u64,
    pub interval_secs: u64,
    /// When the condition began, shown in `tz`.
    pub started_at: DateTime<Utc>,
    pub tz: Tz,
    pub link: &'a str,
    pub state: NoticeKind,
    pub severity: Severity,
    pub lang: Lang,
}

/// `95`, `95.5`, `0.25`: at most two decimals, no trailing zeros.
pub fn format_number(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A value with its unit as messages show it: `95%`, `1200 ms`, `3`.
pub fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "" => format_number(v),
        "%" => format!("{}%", format_number(v)),
        u => format!("{} {u}", format_number(v)),
    }
}

/// `45 s`, `3 min`, `1 h 30 min` (en); `45 秒`, `3 分鐘`, `1 小時 30 分鐘` (zh-TW).
pub fn format_duration(secs: u64, lang: Lang) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let names = match lang {
        Lang::En => [" h", " min", " s"],
        Lang::ZhTw => [" 小時", " 分鐘", " 秒"],
    };
    let parts: Vec<String> = [h, m, s]
        .iter()
        .zip(names)
        .filter(|(n, _)| **n > 0)
        .map(|(n, name)| format!("{n}{name}"))
        .collect();
    if parts.is_empty() {
        format!("0{}", names[2])
    } else {
        parts.join(" ")
    }
}

impl<'a> Vars<'a> {
    /// The usual values for a notice of `rule` about `scope` (as shown) and `node`:
    /// `{{duration}}` is the rule's `for_secs`, `{{interval}}` its `repeat_secs`, both zone
    /// and language the rule's or else the site's.
    #[allow(clippy::too_many_arguments)]
    pub fn for_notice(
        rule: &'a AlertRuleSpec,
        scope: &'a str,
        node: &'a str,
        value: Option<f64>,
        state: NoticeKind,
        started_at: DateTime<Utc>,
        link: &'a str,
        site_tz: Tz,
        site_lang: Lang,
    ) -> Vars<'a> {
        Vars {
            rule: &rule.name,
            node,
            scope,
            value,
            unit: rule.kind.unit(),
            threshold: rule.threshold,
            duration_secs: rule.for_secs,
            interval_secs: rule.repeat_secs,
            started_at,
            tz: rule.zone(site_tz),
            link,
            state,
            severity: rule.severity,
            lang: rule.lang(site_lang),
        }
    }

    /// Every placeholder's text as a message shows it, by `{{name}}`.
    pub fn values(&self) -> std::collections::BTreeMap<String, String> {
        Placeholder::ALL
            .iter()
            .map(|(name, p)| (name.to_string(), self.get(*p)))
            .collect()
    }

    /// One placeholder's text as a message shows it.
    pub fn get(&self, p: Placeholder) -> String {
        let zh = self.lang == Lang::ZhTw;
        match p {
            Placeholder::Rule => self.rule.into(),
            Placeholder::Node => self.node.into(),
            Placeholder::Scope => self.scope.into(),
            Placeholder::Value => match self.value {
                Some(v) => with_unit(v, self.unit),
                None if zh => "無法量測".into(),
                None => "failed".into(),
            },
            Placeholder::Threshold => with_unit(self.threshold, self.unit),
            Placeholder::Duration => format_duration(self.duration_secs, self.lang),
            Placeholder::Interval => format_duration(self.interval_secs, self.lang),
            Placeholder::StartedAt => self
                .started_at
                .with_timezone(&self.tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            Placeholder::Link => self.link.into(),
            Placeholder::State => match (self.state, zh) {
                (NoticeKind::Resolved, true) => "已恢復".into(),
                (_, true) => "告警中".into(),
                (NoticeKind::Resolved, false) => "resolved".into(),
                (_, false) => "firing".into(),
            },
            Placeholder::Severity => match (self.severity, zh) {
                (Severity::Warning, true) => "警告".into(),
                (Severity::Critical, true) => "嚴重".into(),
                (s, false) => s.as_str().into(),
            },
        }
    }
}

/// Renders a rule's template in one pass. Unknown placeholders stay as written (validation
/// refuses them before a rule is stored).
pub fn render(template: &str, vars: &Vars) -> String {
    render_tokens(template, |tok| {
        let p = match tok {
            Token::Braced { name, .. } => Placeholder::braced(name),
            Token::Dollar { name, .. } => Placeholder::dollar(name),
            _ => None,
        };
        p.map(|p| vars.get(p))
    })
    .trim_end()
    .to_string()
}

/// The default subject and body of a notice, short enough for one LINE message.
pub fn default_text(lang: Lang, notice: NoticeKind) -> (&'static str, &'static str) {
    match (lang, notice) {
        (Lang::En, NoticeKind::Firing) => (
            "[{{severity}}] {{rule}}: {{scope}}",
            "{{rule}} on {{scope}}: {{value}} (threshold {{threshold}}) for {{duration}}, since {{started_at}}. {{link}}",
        ),
        (Lang::En, NoticeKind::Repeat) => (
            "[{{severity}}] still firing: {{rule}}: {{scope}}",
            "{{rule}} on {{scope}} still firing: {{value}} (threshold {{threshold}}), since {{started_at}}. Next reminder in {{interval}}. {{link}}",
        ),
        (Lang::En, NoticeKind::Resolved) => (
            "[resolved] {{rule}}: {{scope}}",
            "{{rule}} on {{scope}} is back to normal: {{value}} (threshold {{threshold}}); firing since {{started_at}}. {{link}}",
        ),
        (Lang::ZhTw, NoticeKind::Firing) => (
            "[{{severity}}] {{rule}}：{{scope}}",
            "{{rule}}：{{scope}} 目前 {{value}}（門檻 {{threshold}}），已持續 {{duration}}，開始於 {{started_at}}。{{link}}",
        ),
        (Lang::ZhTw, NoticeKind::Repeat) => (
            "[{{severity}}] 仍在告警：{{rule}}：{{scope}}",
            "{{rule}}：{{scope}} 仍在告警，目前 {{value}}（門檻 {{threshold}}），開始於 {{started_at}}；每 {{interval}} 提醒一次。{{link}}",
        ),
        (Lang::ZhTw, NoticeKind::Resolved) => (
            "[已恢復] {{rule}}：{{scope}}",
            "{{rule}}：{{scope}} 已恢復正常，目前 {{value}}（門檻 {{threshold}}），告警開始於 {{started_at}}。{{link}}",
        ),
    }
}

/// The rule's subject and body templates for a notice in `lang`: its override where it has
/// one (a `repeat` without one uses the `firing` override), else the default.
pub fn templates_for(rule: &AlertRuleSpec, lang: Lang, notice: NoticeKind) -> (&str, &str) {
    let (ds, db) = default_text(lang, notice);
    let set = rule.templates.get(&lang);
    let pick = |f: fn(&Text) -> Option<&String>| -> Option<&str> {
        let set = set?;
        let own = match notice {
            NoticeKind::Firing => set.firing.as_ref(),
            NoticeKind::Repeat => set.repeat.as_ref(),
            NoticeKind::Resolved => set.resolved.as_ref(),
        };
        let fallback = (notice == NoticeKind::Repeat)
            .then_some(set.firing.as_ref())
            .flatten();
        own.and_then(f)
            .or_else(|| fallback.and_then(f))
            .map(String::as_str)
    };
    (
        pick(|t| t.subject.as_ref()).unwrap_or(ds),
        pick(|t| t.body.as_ref()).unwrap_or(db),
    )
}

/// Renders the subject and body of a notice (`vars.state` says which, `vars.lang` in what
/// language).
pub fn render_notice(rule: &AlertRuleSpec, vars: &Vars) -> (String, String) {
    let (s, b) = templates_for(rule, vars.lang, vars.state);
    (render(s, vars), render(b, vars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::RuleKind;

    fn vars(lang: Lang, state: NoticeKind) -> Vars<'static> {
        Vars {
            rule: "CPU",
            node: "gw1",
            scope: "gw1",
            value: Some(95.5),
            unit: "%",
            threshold: 90.0,
            duration_secs: 180,
            interval_secs: 5400,
            started_at: "2026-11-25T01:02:03Z".parse().unwrap(),
            tz: chrono_tz::Asia::Taipei,
            link: "http://dash/alerts/1",
            state,
            severity: Severity::Critical,
            lang,
        }
    }

    #[test]
    fn placeholders_both_styles_one_pass() {
        let v = vars(Lang::En, NoticeKind::Firing);
        assert_eq!(
            render(
                "{{ rule }} on $NODE: $VALUE > $THRESHOLD for $DURATION, every $INTERVAL",
                &v
            ),
            "CPU on gw1: 95.5% > 90% for 3 min, every 1 h 30 min"
        );
        assert_eq!(
            render(
                "{{started_at}} {{state}} {{severity}} {{link}} costs $5 {x}",
                &v
            ),
            "2026-11-25 09:02:03 CST firing critical http://dash/alerts/1 costs $5 {x}"
        );
        // A value that looks like a placeholder is not expanded again.
        let tricky = Vars {
            rule: "{{node}} $NODE",
            ..v.clone()
        };
        assert_eq!(render("{{rule}}", &tricky), "{{node}} $NODE");
        let failed = Vars {
            value: None,
            ..vars(Lang::ZhTw, NoticeKind::Resolved)
        };
        assert_eq!(
            render("{{value}} {{state}} {{severity}} {{duration}}", &failed),
            "無法量測 已恢復 嚴重 3 分鐘"
        );
    }

    #[test]
    fn maps_render_with_the_same_syntax_and_leave_unknowns() {
        let values: std::collections::BTreeMap<String, String> = [
            ("value", "95"),
            ("threshold", "90"),
            ("rule_id", "cpu"),
            ("text", "{{value}} $VALUE"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            render_map(
                "v={{value}} t={{ threshold }} $THRESHOLD% {{nope}} $ x{ $RULE_ID $VALUE_ $5",
                &values
            ),
            "v=95 t=90 90% {{nope}} $ x{ cpu $VALUE_ $5"
        );
        // One pass: a value holding placeholders is not expanded again; no trimming.
        assert_eq!(render_map("{{text}} ", &values), "{{value}} $VALUE ");
        assert_eq!(render_map("a {{value", &values), "a {{value");
        assert_eq!(render_map("台北 {{value}}", &values), "台北 95");
        // A rule's values, as the mail shows them.
        let v = vars(Lang::En, NoticeKind::Firing).values();
        assert_eq!(v["duration"], "3 min");
        assert_eq!(v["value"], "95.5%");
        assert_eq!(v.len(), Placeholder::ALL.len());
        assert_eq!(
            render_map("$NODE {{state}}", &v),
            render("$NODE {{state}}", &vars(Lang::En, NoticeKind::Firing))
        );
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let e = check_template("hi {{nodes}}").unwrap_err();
        assert!(e.message.contains("{{nodes}}"), "{e}");
        let e = check_template("$NODE and $HOST").unwrap_err();
        assert!(e.message.contains("$HOST"), "{e}");
        assert!(check_template("{{rule").is_err());
        assert!(check_template("$5, {a}, $, {{ value }}, $VALUE_").is_err());
        assert!(check_template("$5, {a}, $, {{ value }}, $VALUE.").is_ok());
    }

    #[test]
    fn defaults_render_short_in_both_languages() {
        let rule = AlertRuleSpec::new("CPU", RuleKind::NodeCpu {}, 90.0);
        for lang in [Lang::En, Lang::ZhTw] {
            for n in [NoticeKind::Firing, NoticeKind::Repeat, NoticeKind::Resolved] {
                let (s, b) = default_text(lang, n);
                check_template(s).unwrap();
                check_template(b).unwrap();
                let (s, b) = render_notice(&rule, &vars(lang, n));
                assert!(!s.contains("{{") && !b.contains("{{"), "{s} {b}");
                assert!(b.chars().count() < 300, "{b}");
            }
        }
        let (s, b) = render_notice(&rule, &vars(Lang::ZhTw, NoticeKind::Firing));
        assert_eq!(s, "[嚴重] CPU：gw1");
        let mut r = rule.clone();
        r.for_secs = 180;
        r.timezone = Some("America/New_York".into());
        let v = Vars::for_notice(
            &r,
            "gw1 /var",
            "gw1",
            Some(91.0),
            NoticeKind::Firing,
            "2026-11-25T01:02:03Z".parse().unwrap(),
            "",
            chrono_tz::Asia::Taipei,
            Lang::En,
        );
        assert_eq!(
            render_notice(&r, &v),
            (
                "[warning] CPU: gw1 /var".to_string(),
                "CPU on gw1 /var: 91% (threshold 90%) for 3 min, since 2026-11-24 20:02:03 EST."
                    .to_string()
            )
        );
        assert!(b.contains("95.5%（門檻 90%），已持續 3 分鐘"), "{b}");
    }

    #[test]
    fn overrides_fill_from_defaults_and_repeat_falls_back_to_firing() {
        let mut rule = AlertRuleSpec::new("CPU", RuleKind::NodeCpu {}, 90.0);
        rule.templates.insert(
            Lang::En,
            NoticeTemplates {
                firing: Some(Text {
                    subject: Some("$NODE hot".into()),
                    body: None,
                }),
                ..Default::default()
            },
        );
        let (s, b) = templates_for(&rule, Lang::En, NoticeKind::Repeat);
        assert_eq!(s, "$NODE hot");
        assert_eq!(b, default_text(Lang::En, NoticeKind::Repeat).1);
        let (s, _) = templates_for(&rule, Lang::En, NoticeKind::Resolved);
        assert_eq!(s, default_text(Lang::En, NoticeKind::Resolved).0);
        let (s, _) = templates_for(&rule, Lang::ZhTw, NoticeKind::Firing);
        assert_eq!(s, default_text(Lang::ZhTw, NoticeKind::Firing).0);
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(format_number(95.0), "95");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(1234.567), "1234.57");
        assert_eq!(format_number(-0.001), "0");
        assert_eq!(format_duration(0, Lang::En), "0 s");
        assert_eq!(format_duration(45, Lang::En), "45 s");
        assert_eq!(format_duration(3661, Lang::ZhTw), "1 小時 1 分鐘 1 秒");
    }
}
