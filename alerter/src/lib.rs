//! The alerter: rules over `node_metrics` and `api_calls`, their state (ok → pending → firing →
//! resolved), exception windows and silences, and the notifiers (e-mail, LINE, webhook).
//!
//! - [`engine`]: the loop and its I/O — runs the stages below each round, persists states
//!   and events, sends, and what happens while ClickHouse is away.
//! - The stages, Alertmanager's pipeline, each a set of pure decisions tested alone:
//!   [`lease`] (who sends), [`evaluate`] (an observation per rule and scope key, from
//!   `store::observe`; then `model::alert::step`), [`mute`] (windows, silences, inhibit
//!   rules, acks), [`group`] (notification policies, groups and their timing), [`notice`]
//!   (what is sent to whom, notification ids).
//! - [`probe`]: the alerter's own ClickHouse probe (connect time, failure).
//! - [`source`]: rules, silences, users' addresses and channels from the configuration log,
//!   with a snapshot on disk.
//! - [`dispatch`]: the [`Dispatcher`] trait the notifiers sit behind ([`NotifierDispatch`]),
//!   recipients, and deterministic notification ids.
//! - [`notify`]: the notifiers behind one [`notify::Notifiers::send`], and the site settings
//!   they need ([`AlerterConfig`]).
//! - [`test_send`]: `POST /v1/test-send` — a sample message through a channel or a rule's
//!   recipients, answering what each far end said (the admin API forwards to it).

pub mod dispatch;
pub mod engine;
pub mod evaluate;
pub mod group;
pub mod lease;
pub mod metrics;
pub mod mute;
pub mod notice;
pub mod notify;
pub mod probe;
pub mod source;
pub mod test_send;

pub use dispatch::{Dispatcher, NoNotifiers, NotifierDispatch, Outgoing, Recipient};
pub use engine::{Engine, EngineConfig, Metrics};
pub use notify::{Delivery, Directory, Error, Message, Notifiers, NotifyConfig};
pub use source::Sources;
pub use test_send::TestSend;

/// What the alerter role is given by the binary's configuration (`[alerter]`).
#[derive(Debug, Clone, Default)]
pub struct AlerterConfig {
    /// SMTP, LINE and webhook secrets.
    pub notify: NotifyConfig,
}

impl AlerterConfig {
    /// One line for the role's start-up log: which channel kinds can send. No secrets.
    pub fn describe(&self) -> String {
        let n = &self.notify;
        let email = match &n.smtp {
            Some(s) => format!("e-mail via {}:{} ({:?})", s.host, s.port, s.tls),
            None => "e-mail off (no [alerter.smtp] host)".into(),
        };
        let line = if n.line.channel_access_token.is_empty() {
            "LINE off (no channel access token)".to_string()
        } else {
            format!("LINE via {}", n.line.base_url)
        };
        let secrets: Vec<&str> = n.secrets.names().collect();
        format!("{email}; {line}; webhook secrets: [{}]", secrets.join(", "))
    }
}
