//! `POST /v1/test-send` on the alerter's port: a sample message through one channel, or a
//! sample firing notice of one rule to each of its recipients, answering what each far end
//! said. It lives here because only the alerter holds the SMTP/LINE credentials; the admin API
//! forwards to it. While ClickHouse is away it answers from the evaluator's snapshot, and the
//! evaluator writes its events later ([`TestSend::late_events`]).
//!
//! Body: `{"channel": "<id>"}` or `{"rule": "<id>"}`. Caller: `Authorization: Bearer <token>`
//! with the token of [`gatewatch_model::secret::alerter_test_send_token`] (derived from the
//! site pepper, which the dashboards hold too). Each attempt becomes an `alert_events` row
//! (`event` = `test`, `result` = `sent`/`failed`) when ClickHouse answers.
//!
//! Answers: 200 `{"results": [{channel, recipient, sent, status, answer, attempts}]}`; 401 for
//! a missing or wrong bearer; 404 for an unknown id; 422 for a bad body or a rule without
//! recipients; 503 when neither ClickHouse nor the snapshot gives the configuration.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::{render_notice, Lang, NoticeKind, Vars};
use gatewatch_model::channel::Destination;
use gatewatch_model::ChannelSpec;
use gatewatch_store::alerts::{self, AlertEvent};
use gatewatch_store::Store;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::dispatch::{self, NotifierDispatch};
use crate::notify::{Directory, Error, Message, Notifiers};
use crate::source::Sources;

/// What the endpoint needs: the notifiers, the pepper the bearer is checked against, and where
/// the configuration comes from.
pub struct TestSend {
    pub store: Store,
    pub notifiers: Notifiers,
    pub pepper: Vec<u8>,
    /// Where the evaluator's snapshot of the configuration is (used while ClickHouse is away).
    pub data_dir: PathBuf,
    pub site_tz: Tz,
    pub site_lang: Lang,
    pub link_base: String,
    /// This process's name, for `alert_events.alerter`.
    pub alerter: String,
    /// The evaluator of this process, if any: events that cannot be written now (ClickHouse
    /// away) are handed to it, and written with its own when ClickHouse answers.
    pub late_events: Option<crate::engine::EventSink>,
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
}

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `email`, `line` or `webhook`.
    pub channel: String,
    /// The addresses, LINE ids or channel id reached.
    pub recipient: String,
    pub sent: bool,
    /// HTTP status or SMTP reply code of the last answer; `None` when nothing answered.
    pub status: Option<u16>,
    /// The far end's answer text, or why nothing was sent.
    pub answer: String,
    pub attempts: u32,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

fn error(status: u16, code: &str, field: Option<&str>, message: impl Into<String>) -> Answer {
    Answer {
        status,
        body: serde_json::json!({"error": {"code": code, "field": field, "message": message.into()}}),
    }
}

/// Whether `authorization` is `Bearer <the test-send token>`.
pub fn authorized(pepper: &[u8], authorization: Option<&str>) -> bool {
    let Some(token) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    !pepper.is_empty()
        && gatewatch_model::secret::verify_alerter_test_send_token(pepper, token.trim())
}

/// Reads the body: exactly one of `channel` and `rule`, a non-empty id.
pub fn parse(body: &[u8]) -> Result<Request, Answer> {
    let req: Request = serde_json::from_slice(body).map_err(|e| {
        let field = e
            .to_string()
            .split('`')
            .nth(1)
            .map(str::to_string)
            .filter(|_| e.is_data());
        error(
            422,
            "invalid",
            field.as_deref(),
            format!("the body must be {{\"channel\": \"<id>\"}} or {{\"rule\": \"<id>\"}}: {e}"),
        )
    })?;
    match (&req.channel, &req.rule) {
        (Some(_), Some(_)) => Err(error(
            422,
            "invalid",
            Some("rule"),
            "give either channel or rule, not both",
        )),
        (None, None) => Err(error(
            422,
            "invalid",
            Some("channel"),
            "give channel or rule: the id to test",
        )),
        (Some(id), None) if id.trim().is_empty() => {
            Err(error(422, "invalid", Some("channel"), "must not be empty"))
        }
        (None, Some(id)) if id.trim().is_empty() => {
            Err(error(422, "invalid", Some("rule"), "must not be empty"))
        }
        _ => Ok(req),
    }
}

impl TestSend {
    /// Handles one request.
    pub async fn handle(&self, authorization: Option<&str>, body: &[u8]) -> Answer {
        if !authorized(&self.pepper, authorization) {
            return error(
                401,
                "unauthorized",
                None,
                "test-send needs Authorization: Bearer <the site's test-send token>",
            );
        }
        let req = match parse(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let sources = match self.sources().await {
            Some(s) => s,
            None => {
                return error(
                    503,
                    "unavailable",
                    None,
                    "the configuration cannot be read (ClickHouse is away and there is no snapshot yet)",
                )
            }
        };
        let now = Utc::now();
        let sends = match (&req.channel, &req.rule) {
            (Some(id), _) => match self.channel_sends(&sources, id, now) {
                Ok(s) => s,
                Err(a) => return a,
            },
            (_, Some(id)) => match self.rule_sends(&sources, id, now) {
                Ok(s) => s,
                Err(a) => return a,
            },
            _ => unreachable!("parse requires one of them"),
        };
        let directory = Directory::from_roles(sources.directory.clone());
        let mut results = Vec::new();
        let mut events = Vec::new();
        for s in sends {
            let out = self.send_one(&s, &directory).await;
            events.push(self.event(&s, &out, &req));
            results.push(out);
        }
        if let Err(e) = alerts::write_events(&self.store, &events).await {
            self.write_later(events, &e.to_string());
        }
        Answer {
            status: 200,
            body: serde_json::json!({ "results": results }),
        }
    }

    /// Hands events that could not be written to the evaluator; without one they are lost,
    /// and the log says so.
    fn write_later(&self, events: Vec<AlertEvent>, why: &str) {
        let n = events.len();
        let Some(sink) = &self.late_events else {
            tracing::warn!(error = %why, events = n, "test-send events not recorded");
            return;
        };
        let mut lost = 0;
        for e in events {
            if sink.try_send(e).is_err() {
                lost += 1;
            }
        }
        if lost > 0 {
            tracing::warn!(error = %why, lost, "test-send events not recorded");
        } else {
            tracing::info!(error = %why, events = n, "test-send events left to the evaluator to write");
        }
    }

    /// The configuration from ClickHouse, else the evaluator's snapshot.
    async fn sources(&self) -> Option<Sources> {
        match Sources::load(&self.store).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "test-send: reading the snapshot instead");
                Sources::read(&self.data_dir).ok().flatten()
            }
        }
    }

    fn channel_sends(
        &self,
        sources: &Sources,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Send>, Answer> {
        let Some(body) = sources.channels.get(id) else {
            return Err(error(
                404,
                "not_found",
                Some("channel"),
                format!("no channel {id:?}"),
            ));
        };
        let spec: ChannelSpec = serde_json::from_value(body.clone()).map_err(|e| {
            error(
                422,
                "invalid",
                Some("channel"),
                format!("channel {id:?} cannot be read: {e}"),
            )
        })?;
        let (kind, recipient) = match spec.destination() {
            Some(Destination::Email(t)) => {
                let mut to = t.to.clone();
                to.extend(t.roles.iter().map(|r| format!("role:{}", r.as_str())));
                ("email", to.join(", "))
            }
            Some(Destination::Line(t)) => ("line", t.to.join(", ")),
            Some(Destination::Webhook(_)) => ("webhook", id.to_string()),
            None => ("", id.to_string()),
        };
        let zh = spec.lang.eq_ignore_ascii_case("zh-TW");
        let name = if spec.name.is_empty() { id } else { &spec.name };
        let (subject, text) = if zh {
            (
                format!("[測試] gatewatch 通知管道 {name}"),
                format!(
                    "這是 gatewatch 通知管道「{name}」（{id}）的測試訊息，發送時間 {}。",
                    now.with_timezone(&self.site_tz)
                        .format("%Y-%m-%d %H:%M:%S %Z")
                ),
            )
        } else {
            (
                format!("[TEST] gatewatch channel {name}"),
                format!(
                    "This is a test message of the gatewatch channel \"{name}\" ({id}), sent {}.",
                    now.with_timezone(&self.site_tz)
                        .format("%Y-%m-%d %H:%M:%S %Z")
                ),
            )
        };
        let mut vars = std::collections::BTreeMap::new();
        for (k, v) in [
            ("rule", "test-send".to_string()),
            ("channel_id", id.to_string()),
            ("state", "test".to_string()),
            ("status", "test".to_string()),
            ("at", now.to_rfc3339()),
        ] {
            vars.insert(k.to_string(), v);
        }
        Ok(vec![Send {
            kind: kind.to_string(),
            recipient,
            channel: spec,
            msg: Message {
                subject,
                text,
                html: None,
                dedup_key: String::new(),
                vars,
                group: None,
            },
        }])
    }

    fn rule_sends(
        &self,
        sources: &Sources,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Send>, Answer> {
        let Some(entry) = sources.rule(id) else {
            return Err(error(
                404,
                "not_found",
                Some("rule"),
                format!("no alert rule {id:?}"),
            ));
        };
        let spec = &entry.spec;
        let recipients = dispatch::resolve(&spec.recipients, &sources.directory, &sources.channels);
        if recipients.is_empty() {
            return Err(error(
                422,
                "no_recipients",
                Some("recipients"),
                format!("alert rule {id:?} has no recipients (no roles with a user's e-mail, addresses, LINE ids or webhooks)"),
            ));
        }
        let scope = "test";
        let vars = Vars::for_notice(
            spec,
            scope,
            "",
            Some(spec.threshold),
            NoticeKind::Firing,
            now,
            &self.link_base,
            self.site_tz,
            self.site_lang,
        );
        let (subject, text) = render_notice(spec, &vars);
        // As the evaluator sends them (see `engine`): the mail's texts, then data fields.
        let mut map = vars.values();
        for (k, v) in [
            ("rule", spec.name.clone()),
            ("rule_id", id.to_string()),
            ("scope", scope.to_string()),
            ("value", spec.threshold.to_string()),
            ("threshold", spec.threshold.to_string()),
            ("unit", spec.kind.unit().to_string()),
            ("state", "test".to_string()),
            ("status", "test".to_string()),
            ("severity", spec.severity.as_str().to_string()),
            ("started_at", now.to_rfc3339()),
            ("link", self.link_base.clone()),
            ("at", now.to_rfc3339()),
        ] {
            map.insert(k.to_string(), v);
        }
        let mut out = Vec::new();
        for to in recipients {
            let channel = match NotifierDispatch::channel(&to) {
                Ok(c) => c,
                // An unknown webhook id: reported as not sent, like the evaluator would.
                Err(_) => ChannelSpec {
                    name: String::new(),
                    enabled: true,
                    lang: "en".into(),
                    email: None,
                    line: None,
                    webhook: None,
                },
            };
            out.push(Send {
                kind: to.channel().to_string(),
                recipient: to.address().to_string(),
                channel,
                msg: Message {
                    subject: format!("[TEST] {subject}"),
                    text: text.clone(),
                    html: None,
                    dedup_key: String::new(),
                    vars: map.clone(),
                    group: None,
                },
            });
        }
        Ok(out)
    }

    async fn send_one(&self, s: &Send, directory: &Directory) -> Outcome {
        let (sent, status, answer, attempts) =
            match self.notifiers.send(&s.channel, &s.msg, directory).await {
                Ok(d) => (true, Some(d.status), d.answer, d.attempts),
                Err(Error::Refused {
                    status,
                    answer,
                    attempts,
                }) => (false, Some(status), answer, attempts),
                Err(Error::GaveUp {
                    status,
                    reason,
                    attempts,
                }) => (false, status, reason, attempts),
                Err(e) => (false, None, e.to_string(), e.attempts()),
            };
        Outcome {
            channel: s.kind.clone(),
            recipient: s.recipient.clone(),
            sent,
            status,
            answer,
            attempts,
        }
    }

    fn event(&self, s: &Send, out: &Outcome, req: &Request) -> AlertEvent {
        AlertEvent {
            ts_us: Utc::now().timestamp_micros(),
            rule_id: req.rule.clone().unwrap_or_default(),
            rule_version: 0,
            scope_key: String::new(),
            event: "test".into(),
            phase: String::new(),
            severity: String::new(),
            value: 0.0,
            threshold: 0.0,
            channel: req.channel.clone().unwrap_or_else(|| s.kind.clone()),
            recipient: s.recipient.clone(),
            notification_id: uuid::Uuid::new_v4(),
            attempt: u16::try_from(out.attempts).unwrap_or(u16::MAX),
            result: if out.sent { "sent" } else { "failed" }.into(),
            detail: match out.status {
                Some(st) => format!("{st} {}", out.answer),
                None => out.answer.clone(),
            },
            alerter: self.alerter.clone(),
        }
    }
}

/// One send of a test.
struct Send {
    kind: String,
    recipient: String,
    channel: ChannelSpec,
    msg: Message,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_must_be_the_derived_token() {
        let t = gatewatch_model::secret::alerter_test_send_token(b"pep");
        assert!(authorized(b"pep", Some(&format!("Bearer {t}"))));
        assert!(!authorized(b"pep", Some(&t)));
        assert!(!authorized(b"pep", Some("Bearer nope")));
        assert!(!authorized(b"other", Some(&format!("Bearer {t}"))));
        assert!(!authorized(b"pep", None));
    }

    #[test]
    fn bodies_name_the_field() {
        let f = |b: &str| {
            let a = parse(b.as_bytes()).unwrap_err();
            (
                a.status,
                a.body["error"]["field"].as_str().map(String::from),
            )
        };
        assert_eq!(f("{}"), (422, Some("channel".into())));
        assert_eq!(
            f(r#"{"channel":"a","rule":"b"}"#),
            (422, Some("rule".into()))
        );
        assert_eq!(f(r#"{"rule":" "}"#), (422, Some("rule".into())));
        assert_eq!(f(r#"{"bogus":1}"#), (422, Some("bogus".into())));
        assert_eq!(f("not json").0, 422);
        assert_eq!(
            parse(br#"{"rule":"cpu"}"#).unwrap().rule.as_deref(),
            Some("cpu")
        );
    }
}
