//! OAuth 2.0 shared types: scope names (RFC 6749 §3.3) and the claims of the access tokens
//! the gateway issues (RFC 9068's JWT profile).

pub mod keys;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::access::GrantStatus;
use crate::{ApiKeySpec, FieldError};

/// Most scopes one client, API or product lists.
pub const MAX_SCOPES: usize = 64;
/// Longest scope name, in bytes.
pub const MAX_SCOPE_BYTES: usize = 128;

/// Checks a scope name: RFC 6749 §3.3's `scope-token` (printable ASCII without space, `"` and
/// `\`), at most [`MAX_SCOPE_BYTES`]. The message names what is wrong.
pub fn check_scope(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("a scope must not be empty".into());
    }
    if scope.len() > MAX_SCOPE_BYTES {
        return Err(format!("a scope is at most {MAX_SCOPE_BYTES} bytes"));
    }
    match scope
        .bytes()
        .find(|&b| !(b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)))
    {
        Some(_) => Err(format!(
            "{scope:?} is not a scope: printable ASCII without spaces, '\"' or '\\' (RFC 6749 §3.3)"
        )),
        None => Ok(()),
    }
}

/// Checks a list of scopes as `field` (`scopes`): each a scope name, no repeats, at most
/// [`MAX_SCOPES`]. The error names the item (`scopes[2]`).
pub fn check_scopes(field: &str, scopes: &[String]) -> Result<(), FieldError> {
    if scopes.len() > MAX_SCOPES {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_SCOPES} scopes"),
        ));
    }
    for (i, s) in scopes.iter().enumerate() {
        check_scope(s).map_err(|m| FieldError::new(format!("{field}[{i}]"), m))?;
        if scopes[..i].contains(s) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("{s:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// The products whose scopes `client_id` may be granted: those approved on one of its keys
/// that is neither revoked nor expired at `now`, in product id order, each with those keys'
/// ids (Apigee: a key's scopes are its approved products'). Keys of other clients are skipped.
/// The one rule for the token endpoint and the admin API's view of a client's scopes.
pub fn approved_products<'a>(
    client_id: &str,
    keys: impl IntoIterator<Item = (&'a str, &'a ApiKeySpec)>,
    now: DateTime<Utc>,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, k) in keys {
        if k.client_id != client_id || k.bar_at(now).is_some() {
            continue;
        }
        for g in &k.products {
            if g.status == GrantStatus::Approved {
                out.entry(g.product.as_str()).or_default().push(id);
            }
        }
    }
    out
}

/// Every scope a client may be granted: its own first, then each product's (in the order
/// given), each once. What a token request without `scope` gets.
pub fn effective_scopes<'a>(
    own: &'a [String],
    products: impl IntoIterator<Item = &'a [String]>,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in own.iter().chain(products.into_iter().flatten()) {
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    out
}

/// The claims of an access token the gateway issues (RFC 9068 §2.2). `scope` is the granted
/// scopes, space-separated (RFC 6749 §3.3); `sub` and `client_id` are both the client's id
/// (a `client_credentials` token acts for the client itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_follow_rfc_6749() {
        for good in ["orders.read", "a", "x:y/z", "!#[]~"] {
            assert!(check_scope(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb", &"x".repeat(129)] {
            assert!(check_scope(bad).is_err(), "{bad:?}");
        }
        let twice = ["a".to_string(), "a".to_string()];
        assert_eq!(
            check_scopes("scopes", &twice).unwrap_err().field,
            "scopes[1]"
        );
        let spaced = ["ok".to_string(), "no pe".to_string()];
        assert_eq!(
            check_scopes("scopes", &spaced).unwrap_err().field,
            "scopes[1]"
        );
    }
}
