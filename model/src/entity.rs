//! Kinds of configuration entity kept in the configuration log.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a configuration entity is. The wire and database name is the snake_case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Api,
    Client,
    ApiKey,
    Group,
    Product,
    AlertRule,
    Channel,
    User,
}

impl EntityKind {
    pub const ALL: [EntityKind; 8] = [
        EntityKind::Api,
        EntityKind::Client,
        EntityKind::ApiKey,
        EntityKind::Group,
        EntityKind::Product,
        EntityKind::AlertRule,
        EntityKind::Channel,
        EntityKind::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Api => "api",
            EntityKind::Client => "client",
            EntityKind::ApiKey => "api_key",
            EntityKind::Group => "group",
            EntityKind::Product => "product",
            EntityKind::AlertRule => "alert_rule",
            EntityKind::Channel => "channel",
            EntityKind::User => "user",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown entity kind, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity kind {0:?} (known: api, client, api_key, group, product, alert_rule, channel, user)")]
pub struct UnknownKind(pub String);

impl FromStr for EntityKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<EntityKind, UnknownKind> {
        EntityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EntityKind::ALL {
            assert_eq!(k.as_str().parse::<EntityKind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert!("apis"
            .parse::<EntityKind>()
            .unwrap_err()
            .to_string()
            .contains("apis"));
    }
}
