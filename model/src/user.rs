//! Users (kind `user`) and what each role may do. The matrix is here, pure, so that the admin
//! API and its table-driven test read the same table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::client::parse_tz;
use crate::field::{bad, FieldError};

/// A user of the web UI and admin API. Its id is the login name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    pub role: Role,
    /// Argon2id PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// For alert mail to a role.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(schema_with = crate::schema::email_or_empty)]
    pub email: String,
    #[serde(default)]
    pub disabled: bool,
    /// UI language: `en` or `zh-TW`.
    #[serde(default = "UserSpec::default_lang")]
    #[schema(pattern = "^(en|zh-TW)$")]
    pub lang: String,
    /// The user's zone for times in the UI (default: the site's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::time_zone)]
    pub timezone: Option<String>,
    /// Bumped to end every session of the user at once (logout everywhere, password change).
    #[serde(default)]
    pub session_epoch: u32,
    /// Bearer tokens for scripts, stored hashed like API keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenSpec>,
}

/// A bearer token of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `hmac-sha256:<hex>` under the site pepper.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The user's `session_epoch` when the token was made: the token works only while the
    /// epoch is the same, so a password change or "log out everywhere" ends it. (Tokens made
    /// before this field existed have none; those changes also delete every token.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
}

impl TokenSpec {
    /// Whether the token still belongs to the user's current sessions.
    pub fn current(&self, session_epoch: u32) -> bool {
        self.epoch.is_none_or(|e| e == session_epoch)
    }
}

impl UserSpec {
    fn default_lang() -> String {
        "en".into()
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if !self.password_hash.starts_with("$argon2") {
            return bad("password_hash", "must be an argon2 PHC string");
        }
        if !["en", "zh-TW"].contains(&self.lang.as_str()) {
            return bad(
                "lang",
                format!("{:?} is not a language (en, zh-TW)", self.lang),
            );
        }
        if let Some(z) = &self.timezone {
            parse_tz(z).map_err(|m| FieldError::new("timezone", m))?;
        }
        if !self.email.is_empty() && !looks_like_email(&self.email) {
            return bad(
                "email",
                format!("{:?} is not an e-mail address", self.email),
            );
        }
        Ok(())
    }
}

/// `local@domain.tld`, nothing fancier: the mail server has the last word.
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A user's role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Ops,
    Manager,
    Support,
}

/// Something a role may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read APIs, clients, keys, groups, products (never secrets).
    ReadGatewayConfig,
    /// Create, change, delete them; approve grants.
    WriteGatewayConfig,
    ManageUsers,
    ReadAlerts,
    /// Alert rules, channels, silences.
    WriteAlertRules,
    ReadNodes,
    ReadReports,
    /// Report subscriptions.
    WriteReportSubscriptions,
    /// One call's masked request and response.
    ReadCallDetail,
    ReadAuditLog,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ReadGatewayConfig,
        Permission::WriteGatewayConfig,
        Permission::ManageUsers,
        Permission::ReadAlerts,
        Permission::WriteAlertRules,
        Permission::ReadNodes,
        Permission::ReadReports,
        Permission::WriteReportSubscriptions,
        Permission::ReadCallDetail,
        Permission::ReadAuditLog,
    ];
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Ops, Role::Manager, Role::Support];

    /// The matrix. Admins may do everything; ops run alerts and watch nodes; managers read
    /// reports; support reads call detail. Everyone may read the gateway configuration
    /// (names of APIs and clients appear on every page), never a secret.
    pub fn may(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Ops => matches!(
                p,
                ReadGatewayConfig | ReadAlerts | WriteAlertRules | ReadNodes | ReadReports
            ),
            Role::Manager => matches!(
                p,
                ReadGatewayConfig | ReadAlerts | ReadReports | WriteReportSubscriptions
            ),
            Role::Support => matches!(p, ReadGatewayConfig | ReadReports | ReadCallDetail),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ops => "ops",
            Role::Manager => "manager",
            Role::Support => "support",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a role (admin, ops, manager, support)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(Permission::ALL.iter().all(|p| Role::Admin.may(*p)));
        assert!(!Role::Ops.may(Permission::WriteGatewayConfig));
        assert!(Role::Ops.may(Permission::WriteAlertRules));
        assert!(!Role::Manager.may(Permission::WriteAlertRules));
        assert!(!Role::Manager.may(Permission::ReadCallDetail));
        assert!(Role::Support.may(Permission::ReadCallDetail));
        assert!(!Role::Support.may(Permission::ManageUsers));
        assert_eq!("ops".parse::<Role>().unwrap(), Role::Ops);
        assert!("root".parse::<Role>().is_err());
        assert!(looks_like_email("a@b.tw"));
        assert!(!looks_like_email("a@b"));
    }
}
