//! The alerter: rules over `node_metrics` and `api_calls`, their state (ok → pending → firing →
//! resolved), exception windows, and notifiers (e-mail, LINE, webhook).
//!
//! Built so far: [`notify`], the notifiers behind one [`notify::Notifiers::send`], and the
//! site settings they need ([`AlerterConfig`]). The rule evaluator comes next (see the alerter
//! issue); the binary serves the role's `/healthz`, `/readyz` and `/metrics` meanwhile.

pub mod notify;

pub use notify::{Delivery, Directory, Error, Message, Notifiers, NotifyConfig};

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
