//! The API entity (kind `api` in the configuration log): what the gateway routes.
//!
//! First fields only; the management-plane issue grows this (path patterns, methods, weights,
//! load-balancing policy, health checks, timeouts, retries, capture and masking policy).

use serde::{Deserialize, Serialize};

/// One registered API, as stored in the configuration log's JSON body. Its id is the entity id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// Display name, any language.
    pub name: String,
    /// Module or group.
    #[serde(default)]
    pub module: String,
    /// Path prefix the API answers under, e.g. `/orders`.
    pub prefix: String,
    /// Upstream base URLs (`http://host:port`), used in turn.
    pub upstreams: Vec<String>,
    /// Remove the prefix before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// A disabled API is not routed.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl ApiSpec {
    /// Checks what serde's types cannot; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "must not be empty".into()));
        }
        if !self.prefix.starts_with('/') {
            return Err(("prefix", format!("{:?} must start with '/'", self.prefix)));
        }
        if self.upstreams.is_empty() {
            return Err(("upstreams", "must not be empty".into()));
        }
        for u in &self.upstreams {
            if !u.starts_with("http://") {
                return Err(("upstreams", format!("{u:?} must start with http://")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_names_bad_fields() {
        let a: ApiSpec = serde_json::from_str(
            r#"{"name":"訂單","prefix":"/orders","upstreams":["http://127.0.0.1:1"]}"#,
        )
        .unwrap();
        assert!(a.enabled);
        assert!(a.validate().is_ok());
        let mut b = a.clone();
        b.prefix = "orders".into();
        assert_eq!(b.validate().unwrap_err().0, "prefix");
        let mut c = a;
        c.upstreams = vec!["ftp://x".into()];
        assert_eq!(c.validate().unwrap_err().0, "upstreams");
        assert!(serde_json::from_str::<ApiSpec>(
            r#"{"name":"x","prefix":"/","upstreams":[],"prefx":1}"#
        )
        .is_err());
    }
}
