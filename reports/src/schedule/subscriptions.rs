//! What the scheduler reads from the configuration log: report subscriptions, and the e-mail
//! addresses of enabled users per role (for recipients by role). Entities that do not parse
//! are skipped with a warning (the admin API checks them before they are stored).

use gatewatch_model::report_subscription::ReportSubscriptionSpec;
use gatewatch_model::{Entity, EntityKind, Role};
use gatewatch_store::config_log::{self, ConfigLogError};
use gatewatch_store::Store;
use std::collections::BTreeMap;

/// One subscription at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub version: u64,
    /// When this version was written (µs): slots before it are not caught up (they belong to
    /// an earlier definition, or to no subscription at all).
    pub since_us: i64,
    pub spec: ReportSubscriptionSpec,
}

/// Subscriptions and who has which role's mail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscriptions {
    pub list: Vec<Subscription>,
    pub directory: BTreeMap<Role, Vec<String>>,
}

impl Subscriptions {
    pub async fn load(store: &Store) -> Result<Subscriptions, ConfigLogError> {
        let mut s = Subscriptions::default();
        for e in config_log::current(store)
            .await?
            .into_iter()
            .filter(|e| !e.deleted)
        {
            if !matches!(e.kind, EntityKind::ReportSubscription | EntityKind::User) {
                continue;
            }
            match Entity::parse(e.kind, &e.id, &e.body) {
                Ok(Entity::ReportSubscription(spec)) => s.list.push(Subscription {
                    id: e.id,
                    version: e.version,
                    since_us: e.ts_us,
                    spec,
                }),
                Ok(Entity::User(u)) => {
                    if !u.disabled && !u.email.is_empty() {
                        s.directory.entry(u.role).or_default().push(u.email);
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(kind = %e.kind, id = %e.id, error = %err, "skipping an entity the reports scheduler cannot read")
                }
            }
        }
        Ok(s)
    }

    /// The addresses of `spec`: every address of its roles' users, then its own, each once.
    pub fn recipients(&self, spec: &ReportSubscriptionSpec) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let by_role = spec
            .recipients
            .roles
            .iter()
            .flat_map(|r| self.directory.get(r).into_iter().flatten());
        for a in by_role.chain(&spec.recipients.emails) {
            if !out.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                out.push(a.clone());
            }
        }
        out
    }
}
