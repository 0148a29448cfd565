//! [`ScopeKey`]: which series of a rule an alert is about — one node, one node's mount, one
//! API, one client. A rule keeps one [`super::AlertState`] per key.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The identity of one evaluated series. Empty parts are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Mount point, for disk rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl ScopeKey {
    pub fn node(node: &str) -> ScopeKey {
        ScopeKey {
            node: Some(node.into()),
            ..ScopeKey::default()
        }
    }

    pub fn api(api: &str) -> ScopeKey {
        ScopeKey {
            api: Some(api.into()),
            ..ScopeKey::default()
        }
    }

    pub fn client(client: &str) -> ScopeKey {
        ScopeKey {
            client: Some(client.into()),
            ..ScopeKey::default()
        }
    }

    /// A stable text form for storage and logs: `node=gw1,mount=/var` (parts in a fixed
    /// order; empty for a key with no parts, e.g. the alerter's own database probe).
    pub fn as_key(&self) -> String {
        self.parts()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("node", &self.node),
            ("mount", &self.mount),
            ("api", &self.api),
            ("client", &self.client),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    }
}

/// As shown in messages (`{{scope}}`): the values, space-separated (`gw1 /var`).
impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals: Vec<&str> = self.parts().map(|(_, v)| v).collect();
        f.write_str(&vals.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        let k = ScopeKey {
            mount: Some("/var".into()),
            ..ScopeKey::node("gw1")
        };
        assert_eq!(k.as_key(), "node=gw1,mount=/var");
        assert_eq!(k.to_string(), "gw1 /var");
        assert_eq!(ScopeKey::default().as_key(), "");
        assert_eq!(ScopeKey::api("orders").to_string(), "orders");
    }
}
