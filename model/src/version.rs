//! API versions: a family (kind `api_family`) groups the APIs that are versions of one API
//! (`family = "orders"`, `version = "v2"`) and says how a call picks one; an API version may be
//! deprecated (RFC 9745 `Deprecation`, RFC 8594 `Sunset`) or retired (410).
//!
//! The versions of a family share their pattern (`prefix = "/orders"` each). The gateway picks
//! the version of a call, first match wins:
//! 1. the path: `/orders/v2/…` (the version segment right after the pattern's literal part,
//!    removed before the upstream sees the path) when `select.path`;
//! 2. the header `select.header` (`Accept-Version: v2`), then the query parameter
//!    `select.query` (`?version=v2`, removed from the forwarded query);
//! 3. the canary: `canary.percent` of the callers go to `canary.version`, sticky per client
//!    (the same client always lands on the same side; anonymous callers by address);
//! 4. `default_version`.
//!
//! A version a call names that the family does not have is refused `404 unknown_version`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::field::{bad, FieldError};

/// Checks a version label of a family's API: 1–32 of `A-Z a-z 0-9 . _ -` (it is a path
/// segment and a header value).
pub fn check_version(field: &str, v: &str) -> Result<(), FieldError> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        bad(
            field,
            format!("{v:?} must be 1 to 32 characters of A-Z a-z 0-9 . _ -"),
        )
    }
}

/// The version fields of an API, checked together (called by `ApiSpec::validate`).
pub(crate) fn check_api_version(
    family: &str,
    version: &str,
    deprecation: Option<&Deprecation>,
) -> Result<(), FieldError> {
    if !family.is_empty() {
        crate::field::check_id("family", family)?;
        if version.is_empty() {
            return bad("version", "is required when `family` is set");
        }
        check_version("version", version)?;
    } else if version.chars().count() > 64 {
        return bad("version", "must be at most 64 characters");
    }
    if let Some(d) = deprecation {
        d.validate().map_err(|e| e.under("deprecation"))?;
    }
    Ok(())
}

/// A deprecated API version. Its answers carry `Deprecation: @<since as Unix seconds>`
/// (RFC 9745), `Sunset: <HTTP date>` (RFC 8594) when `sunset` is set, and `Link` headers with
/// `rel="deprecation"` / `rel="sunset"` to `link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deprecation {
    /// When the version was (or will be) deprecated, RFC 3339 (`2026-07-01T00:00:00Z`).
    #[schema(format = DateTime, example = "2026-07-01T00:00:00Z")]
    pub since: String,
    /// When it stops answering, RFC 3339; not before `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2027-01-01T00:00:00Z")]
    pub sunset: Option<String>,
    /// Where callers read about the change (`https://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000, example = "https://developer.example/orders/v2")]
    pub link: Option<String>,
}

impl Deprecation {
    pub fn since_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.since)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn sunset_at(&self) -> Option<DateTime<Utc>> {
        self.sunset
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        let Some(since) = self.since_at() else {
            return bad("since", format!("{:?} is not an RFC 3339 time", self.since));
        };
        if let Some(s) = &self.sunset {
            match self.sunset_at() {
                None => return bad("sunset", format!("{s:?} is not an RFC 3339 time")),
                Some(t) if t < since => return bad("sunset", "must not be before `since`"),
                Some(_) => {}
            }
        }
        if let Some(l) = &self.link {
            // It goes into a `Link: <…>` header: an absolute http(s) URL, nothing that would
            // end the angle brackets or the header.
            let ok = l.len() <= 2000
                && (l.starts_with("https://") || l.starts_with("http://"))
                && url::Url::parse(l).is_ok()
                && !l
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || "<>\"".contains(c));
            if !ok {
                return bad("link", format!("{l:?} must be an http(s) URL"));
            }
        }
        Ok(())
    }
}

/// How a family's call names its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VersionSelect {
    /// `/orders/v2/…`: the segment after the pattern's literal part names the version.
    pub path: bool,
    /// Request header naming the version (lower case); empty: not read.
    #[schema(max_length = 64, example = "accept-version")]
    pub header: String,
    /// Query parameter naming the version; empty: not read.
    #[schema(max_length = 64, example = "version")]
    pub query: String,
}

impl Default for VersionSelect {
    fn default() -> Self {
        VersionSelect {
            path: true,
            header: "accept-version".into(),
            query: String::new(),
        }
    }
}

/// A weighted split of the calls that name no version between `default_version` and
/// `version`, sticky per client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// The version the canary share goes to (not the default one).
    #[schema(example = "v2")]
    pub version: String,
    /// Share of the clients sent to `version`, 0 to 100 (two decimals count).
    #[schema(minimum = 0, maximum = 100, example = 10)]
    pub percent: f64,
}

/// An API family (kind `api_family`): the versions of one API and how a call picks one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiFamilySpec {
    /// Display name.
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The version a call gets when it names none (and the canary does not take it).
    #[schema(example = "v1")]
    pub default_version: String,
    #[serde(default)]
    pub select: VersionSelect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

fn check_name_token(field: &str, v: &str) -> Result<(), FieldError> {
    // A header or query parameter name: an RFC 9110 token, lower case for headers.
    let ok = v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        bad(
            field,
            format!("{v:?} must be a token of at most 64 characters"),
        )
    }
}

impl ApiFamilySpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        check_version("default_version", &self.default_version)?;
        check_name_token("select.header", &self.select.header)?;
        if self.select.header.bytes().any(|b| b.is_ascii_uppercase()) {
            return bad("select.header", "must be lower case");
        }
        check_name_token("select.query", &self.select.query)?;
        if let Some(c) = &self.canary {
            check_version("canary.version", &c.version)?;
            if c.version == self.default_version {
                return bad("canary.version", "must not be the default version");
            }
            if !(0.0..=100.0).contains(&c.percent) || c.percent.is_nan() {
                return bad("canary.percent", "must be 0 to 100");
            }
        }
        Ok(())
    }
}

/// Where a sticky key (a client id, or an address) falls on the canary split: 0 to 9999.
/// FNV-1a, so every gateway of a site puts a client on the same side without sharing state.
pub fn canary_bucket(key: &str) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 10_000) as u16
}

/// Whether a key in `bucket` goes to the canary at `percent` (two decimals count).
pub fn takes_canary(bucket: u16, percent: f64) -> bool {
    f64::from(bucket) < (percent * 100.0).round()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(json: &str) -> Result<(), FieldError> {
        serde_json::from_str::<ApiFamilySpec>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn families_validate_naming_the_field() {
        assert!(family(r#"{"name":"Orders","default_version":"v1"}"#).is_ok());
        let e = family(r#"{"name":"O","default_version":"v 1"}"#).unwrap_err();
        assert_eq!(e.field, "default_version");
        let e =
            family(r#"{"name":"O","default_version":"v1","canary":{"version":"v1","percent":5}}"#)
                .unwrap_err();
        assert_eq!(e.field, "canary.version");
        let e = family(
            r#"{"name":"O","default_version":"v1","canary":{"version":"v2","percent":101}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "canary.percent");
        let e =
            family(r#"{"name":"O","default_version":"v1","select":{"header":"X-V"}}"#).unwrap_err();
        assert_eq!(e.field, "select.header");
        let e =
            family(r#"{"name":"O","default_version":"v1","select":{"query":"a b"}}"#).unwrap_err();
        assert_eq!(e.field, "select.query");
    }

    #[test]
    fn deprecations_validate_naming_the_field() {
        let d = |s: &str| serde_json::from_str::<Deprecation>(s).unwrap().validate();
        assert!(d(r#"{"since":"2026-07-01T00:00:00Z","sunset":"2027-01-01T00:00:00+08:00","link":"https://d.example/v2"}"#).is_ok());
        assert_eq!(d(r#"{"since":"July"}"#).unwrap_err().field, "since");
        assert_eq!(
            d(r#"{"since":"2026-07-01T00:00:00Z","sunset":"2026-06-01T00:00:00Z"}"#)
                .unwrap_err()
                .field,
            "sunset"
        );
        assert_eq!(
            d(r#"{"since":"2026-07-01T00:00:00Z","link":"https://x/>; rel=evil"}"#)
                .unwrap_err()
                .field,
            "link"
        );
    }

    #[test]
    fn the_canary_split_is_sticky_and_proportional() {
        assert_eq!(canary_bucket("acme"), canary_bucket("acme"));
        let n = 20_000;
        let took = (0..n)
            .filter(|i| takes_canary(canary_bucket(&format!("client-{i}")), 10.0))
            .count();
        let share = took as f64 / n as f64;
        assert!((0.09..0.11).contains(&share), "{share}");
        assert!(!takes_canary(0, 0.0));
        assert!(takes_canary(9_999, 100.0));
    }
}
