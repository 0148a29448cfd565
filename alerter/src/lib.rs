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
