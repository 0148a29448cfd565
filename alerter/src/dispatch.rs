//! The seam between the evaluator and the notifiers: one [`Dispatcher`] sends one
//! [`Outgoing`] message to one [`Recipient`] and says what happened ([`Delivery`]).
//!
//! The evaluator decides *what* is sent to *whom* (a rule's recipients resolved to single
//! addresses, ids and channels) and gives every (notice, recipient) a deterministic
//! [`notification_id`], so a restarted or second alerter recognises what was already sent.
//! How a message travels (SMTP, LINE push, webhook, their retries) is the notifiers' business.

use chrono::{DateTime, Utc};
use gatewatch_model::alert::{NoticeKind, Recipients, ScopeKey};
use gatewatch_model::channel::{ChannelSpec, EmailTarget, LineTarget};
use gatewatch_model::Role;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use uuid::Uuid;

/// One destination of one notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// An e-mail address (explicit, or a user's through one of the rule's roles).
    Email(String),
    /// A LINE user, group or room id (`to` of a push).
    Line(String),
    /// A webhook channel (entity of kind `channel`): its id and its body as stored, so the
    /// notifier needs no lookup of its own. `None` when no such channel exists.
    Webhook {
        id: String,
        spec: Option<serde_json::Value>,
    },
}

impl Recipient {
    /// The `channel` column of `alert_events`.
    pub fn channel(&self) -> &'static str {
        match self {
            Recipient::Email(_) => "email",
            Recipient::Line(_) => "line",
            Recipient::Webhook { .. } => "webhook",
        }
    }

    /// The `recipient` column: the address, LINE id or channel id.
    pub fn address(&self) -> &str {
        match self {
            Recipient::Email(a) | Recipient::Line(a) => a,
            Recipient::Webhook { id, .. } => id,
        }
    }
}

/// A rendered notice. Same fields as the notifiers' `Message` (subject, text, html,
/// dedup_key, vars), so the adapter is a field copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The notification id as text: stable for the same notice and recipient.
    pub dedup_key: String,
    /// Placeholder values (`rule`, `scope`, `node`, `value`, `threshold`, `state`, …) for
    /// webhook bodies.
    pub vars: BTreeMap<String, String>,
    pub notification_id: Uuid,
    /// The group this message is about (issue 18): a policy's group, or a group of one for
    /// an alert alone and for a channel-health notice; `None` for test-sends. Presets that
    /// list alerts (Alertmanager, PagerDuty, Slack, Teams) read it; without it they describe
    /// the one notice in `vars`.
    pub group: Option<std::sync::Arc<gatewatch_model::alert::GroupNotice>>,
}

/// What a send came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sent: bool,
    /// Attempts made (0 when nothing was tried).
    pub attempts: u16,
    /// The far end's answer (status and text), or why nothing was sent.
    pub detail: String,
}

impl Delivery {
    pub fn sent(attempts: u16, detail: impl Into<String>) -> Delivery {
        Delivery {
            sent: true,
            attempts,
            detail: detail.into(),
        }
    }

    pub fn failed(attempts: u16, detail: impl Into<String>) -> Delivery {
        Delivery {
            sent: false,
            attempts,
            detail: detail.into(),
        }
    }
}

/// Sends one message to one recipient. Retries, if any, happen inside `send`.
pub trait Dispatcher: Send + Sync + 'static {
    fn send(&self, to: &Recipient, msg: &Outgoing) -> impl Future<Output = Delivery> + Send;
}

/// A dispatcher for a build without notifiers: every send fails, saying so (and is recorded).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifiers;

impl Dispatcher for NoNotifiers {
    async fn send(&self, _to: &Recipient, _msg: &Outgoing) -> Delivery {
        Delivery::failed(0, "no notifiers are wired into this build")
    }
}

/// The notifiers ([`crate::notify::Notifiers`]) behind the [`Dispatcher`] trait: an e-mail
/// address or a LINE id is sent as a one-target channel; a webhook recipient through its
/// stored channel (any kind; roles of an e-mail channel named there resolve to nobody, since
/// the rule's own `roles` are the way to reach a role).
#[derive(Debug, Clone)]
pub struct NotifierDispatch {
    pub notifiers: crate::notify::Notifiers,
}

impl NotifierDispatch {
    /// The one-target channel a recipient is sent through.
    pub(crate) fn channel(to: &Recipient) -> Result<ChannelSpec, String> {
        let blank = ChannelSpec {
            name: String::new(),
            enabled: true,
            lang: "en".into(),
            email: None,
            line: None,
            webhook: None,
        };
        match to {
            Recipient::Email(a) => Ok(ChannelSpec {
                email: Some(EmailTarget {
                    to: vec![a.clone()],
                    roles: Vec::new(),
                }),
                ..blank
            }),
            Recipient::Line(id) => Ok(ChannelSpec {
                line: Some(LineTarget {
                    to: vec![id.clone()],
                }),
                ..blank
            }),
            Recipient::Webhook { id, spec: None } => Err(format!("no channel {id:?}")),
            Recipient::Webhook { id, spec: Some(v) } => serde_json::from_value(v.clone())
                .map_err(|e| format!("channel {id:?} cannot be read: {e}")),
        }
    }
}

impl Dispatcher for NotifierDispatch {
    async fn send(&self, to: &Recipient, msg: &Outgoing) -> Delivery {
        let channel = match Self::channel(to) {
            Ok(c) => c,
            Err(why) => return Delivery::failed(0, why),
        };
        let m = crate::notify::Message {
            subject: msg.subject.clone(),
            text: msg.text.clone(),
            html: msg.html.clone(),
            dedup_key: msg.dedup_key.clone(),
            vars: msg.vars.clone(),
            group: msg.group.clone(),
        };
        let attempts = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        match self
            .notifiers
            .send(&channel, &m, &crate::notify::Directory::default())
            .await
        {
            Ok(d) => Delivery::sent(attempts(d.attempts), format!("{} {}", d.status, d.answer)),
            Err(e) => Delivery::failed(attempts(e.attempts()), e.to_string()),
        }
    }
}

/// The namespace of notification ids (a fixed random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1b_3c52_8d0e_4b7a_9e21_53c4_a7d0_19e8);

/// The id of one notice to one recipient: the same rule, scope key, episode start (`since`),
/// notice kind, repeat slot and recipient give the same id. `slot` tells repeats of one
/// episode apart (see [`repeat_slot`]); it is 0 for firing and resolved notices.
pub fn notification_id(
    rule_id: &str,
    key: &ScopeKey,
    since: DateTime<Utc>,
    kind: NoticeKind,
    slot: u64,
    to: &Recipient,
) -> Uuid {
    let name = format!(
        "{rule_id}\n{}\n{}\n{}\n{slot}\n{}\n{}",
        key.as_key(),
        since.timestamp_micros(),
        kind.as_str(),
        to.channel(),
        to.address()
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// Which repeat of an episode a notice sent at `now` is: repeats go out at least
/// `repeat_secs` apart, so consecutive ones fall in different slots.
pub fn repeat_slot(
    kind: NoticeKind,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    repeat_secs: u64,
) -> u64 {
    match kind {
        NoticeKind::Repeat if repeat_secs > 0 => {
            u64::try_from((now - since).num_seconds()).unwrap_or(0) / repeat_secs
        }
        _ => 0,
    }
}

/// The addresses of enabled users with an e-mail, per role.
pub type RoleDirectory = BTreeMap<Role, Vec<String>>;

/// A rule's recipients as single destinations, each once: roles become the addresses of the
/// users holding them, webhooks carry their channel's body.
pub fn resolve(
    r: &Recipients,
    directory: &RoleDirectory,
    channels: &BTreeMap<String, serde_json::Value>,
) -> Vec<Recipient> {
    let mut emails = BTreeSet::new();
    for role in &r.roles {
        for a in directory.get(role).into_iter().flatten() {
            emails.insert(a.to_lowercase());
        }
    }
    emails.extend(r.emails.iter().map(|a| a.to_lowercase()));
    let line: BTreeSet<&String> = r.line.iter().collect();
    let hooks: BTreeSet<&String> = r.webhooks.iter().collect();
    let mut out: Vec<Recipient> = emails.into_iter().map(Recipient::Email).collect();
    out.extend(line.into_iter().map(|l| Recipient::Line(l.clone())));
    out.extend(hooks.into_iter().map(|w| Recipient::Webhook {
        id: w.clone(),
        spec: channels.get(w).cloned(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_tell_notices_apart() {
        let since: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let k = ScopeKey::node("gw1");
        let to = Recipient::Email("ops@a.tw".into());
        let id = |kind, slot, to: &Recipient| notification_id("cpu", &k, since, kind, slot, to);
        let a = id(NoticeKind::Firing, 0, &to);
        assert_eq!(a, id(NoticeKind::Firing, 0, &to));
        assert_ne!(a, id(NoticeKind::Resolved, 0, &to));
        assert_ne!(a, id(NoticeKind::Firing, 0, &Recipient::Line("U1".into())));
        assert_ne!(
            id(NoticeKind::Repeat, 1, &to),
            id(NoticeKind::Repeat, 2, &to)
        );
        let later = since + chrono::Duration::seconds(1);
        assert_ne!(
            a,
            notification_id("cpu", &k, later, NoticeKind::Firing, 0, &to)
        );
    }

    #[test]
    fn repeats_sent_an_interval_apart_fall_in_different_slots() {
        let since: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let at = |s| since + chrono::Duration::seconds(s);
        let slot = |s| repeat_slot(NoticeKind::Repeat, since, at(s), 180);
        assert_eq!([slot(185), slot(366), slot(549)], [1, 2, 3]);
        assert_eq!(repeat_slot(NoticeKind::Firing, since, at(500), 180), 0);
        assert_eq!(repeat_slot(NoticeKind::Repeat, since, at(500), 0), 0);
    }

    #[test]
    fn recipients_resolve_once_each() {
        let r = Recipients {
            roles: vec![Role::Ops, Role::Admin],
            emails: vec!["Olive@A.tw".into(), "x@a.tw".into()],
            line: vec!["U1".into()],
            webhooks: vec!["slack".into(), "gone".into()],
        };
        let dir: RoleDirectory = [
            (Role::Ops, vec!["olive@a.tw".to_string()]),
            (Role::Manager, vec!["boss@a.tw".to_string()]),
        ]
        .into();
        let ch = [("slack".to_string(), serde_json::json!({"type":"webhook"}))].into();
        let got = resolve(&r, &dir, &ch);
        assert_eq!(
            got,
            vec![
                Recipient::Email("olive@a.tw".into()),
                Recipient::Email("x@a.tw".into()),
                Recipient::Line("U1".into()),
                Recipient::Webhook {
                    id: "gone".into(),
                    spec: None
                },
                Recipient::Webhook {
                    id: "slack".into(),
                    spec: Some(serde_json::json!({"type":"webhook"}))
                },
            ]
        );
    }
}
