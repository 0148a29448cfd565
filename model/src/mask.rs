//! Masking rules (the types; the gateway applies them before a record leaves the process).
//!
//! Defaults are on: `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`,
//! `X-API-Key` are always masked whole, and every detector runs over captured text. An API's
//! [`MaskRules`] add headers, JSON fields and query parameters, and may tune the detectors.

use serde::{Deserialize, Serialize};

use crate::field::{bad, FieldError};

/// Headers masked whole on every API, whatever its rules say.
pub const DEFAULT_MASKED_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// JSON keys masked whole wherever they appear in a captured body, on every API: credentials
/// that travel in bodies (OAuth token answers, login forms) rather than in headers.
pub const DEFAULT_MASKED_JSON_KEYS: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "client_secret",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "x-api-key",
];

/// Query parameters masked whole on every API: credentials people put in URLs.
pub const DEFAULT_MASKED_QUERY_PARAMS: [&str; 14] = [
    "password",
    "passwd",
    "secret",
    "client_secret",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "token",
    "key",
    "sig",
    "signature",
    "auth",
];

/// An API's masking rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskRules {
    /// Extra header names masked whole (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// JSON fields masked whole in captured bodies, as dotted paths from the root:
    /// `card.number`, `items[*].token` (`[*]`: every element of an array); `**.pin` is the
    /// key `pin` at any depth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_paths: Vec<String>,
    /// Query parameters whose values are masked whole (besides
    /// [`DEFAULT_MASKED_QUERY_PARAMS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<String>,
    /// Detectors run over header values, query values and bodies.
    #[serde(default = "Detector::defaults")]
    pub detectors: Vec<Detector>,
}

impl Default for MaskRules {
    fn default() -> MaskRules {
        MaskRules {
            headers: Vec::new(),
            json_paths: Vec::new(),
            query_params: Vec::new(),
            detectors: Detector::defaults(),
        }
    }
}

/// A pattern recognised in free text and masked where found, keeping the first and last few
/// characters so support staff can still tell values apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detector {
    pub kind: DetectorKind,
    #[serde(default)]
    pub keep_first: u8,
    #[serde(default)]
    pub keep_last: u8,
}

/// What a [`Detector`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// 13–19 digit card numbers (spaces or dashes allowed) that pass the Luhn check.
    Card,
    /// Taiwan national ID: a letter, 1 or 2, eight digits, with a valid check digit.
    TwId,
    /// E-mail addresses.
    Email,
    /// Phone numbers: Taiwan mobiles (09xx-xxx-xxx, +886 9…) and international `+` numbers.
    Phone,
}

impl Detector {
    /// Every detector, keeping what is customary: last 4 of a card, first letter and last 3
    /// of an ID, first character and the domain of an e-mail (keep_last counts from the `@`
    /// in that case), last 3 of a phone.
    pub fn defaults() -> Vec<Detector> {
        vec![
            Detector {
                kind: DetectorKind::Card,
                keep_first: 0,
                keep_last: 4,
            },
            Detector {
                kind: DetectorKind::TwId,
                keep_first: 1,
                keep_last: 3,
            },
            Detector {
                kind: DetectorKind::Email,
                keep_first: 1,
                keep_last: 0,
            },
            Detector {
                kind: DetectorKind::Phone,
                keep_first: 0,
                keep_last: 3,
            },
        ]
    }
}

impl MaskRules {
    pub fn validate(&self) -> Result<(), FieldError> {
        for (i, h) in self.headers.iter().enumerate() {
            if h.is_empty()
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return bad(
                    format!("headers[{i}]"),
                    format!("{h:?} is not a header name"),
                );
            }
        }
        for (i, p) in self.json_paths.iter().enumerate() {
            parse_json_path(p).map_err(|m| FieldError::new(format!("json_paths[{i}]"), m))?;
        }
        for (i, q) in self.query_params.iter().enumerate() {
            if q.is_empty() {
                return bad(format!("query_params[{i}]"), "must not be empty");
            }
        }
        for (i, d) in self.detectors.iter().enumerate() {
            if d.keep_first > 8 || d.keep_last > 8 {
                return bad(
                    format!("detectors[{i}]"),
                    "keep_first and keep_last must be 0 to 8",
                );
            }
        }
        Ok(())
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    /// `[*]`: every element.
    Each,
    /// A leading `**`: the rest of the path may start at any depth.
    AnyDepth,
}

/// Parses `a.b[*].c` into steps; the error says what is wrong.
pub fn parse_json_path(path: &str) -> Result<Vec<PathStep>, String> {
    let trimmed = path.strip_prefix("$.").unwrap_or(path);
    let mut steps = Vec::new();
    let trimmed = match trimmed.strip_prefix("**.") {
        Some(rest) => {
            steps.push(PathStep::AnyDepth);
            rest
        }
        None => trimmed,
    };
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    for part in trimmed.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && rest.is_empty() {
            return Err(format!("{path:?} has an empty step"));
        }
        if key.contains('*') {
            return Err(format!(
                "{path:?}: `**` may only lead the path, `[*]` follow a key"
            ));
        }
        if !key.is_empty() {
            steps.push(PathStep::Key(key.to_string()));
        }
        while !rest.is_empty() {
            match rest.strip_prefix("[*]") {
                Some(r) => {
                    steps.push(PathStep::Each);
                    rest = r;
                }
                None => return Err(format!("{path:?}: only [*] may follow a key")),
            }
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_paths() {
        let r: MaskRules = serde_json::from_str("{}").unwrap();
        assert_eq!(r.detectors.len(), 4);
        assert_eq!(
            parse_json_path("$.items[*].card.no").unwrap(),
            vec![
                PathStep::Key("items".into()),
                PathStep::Each,
                PathStep::Key("card".into()),
                PathStep::Key("no".into())
            ]
        );
        assert!(parse_json_path("a..b").is_err());
        assert_eq!(
            parse_json_path("**.pin").unwrap(),
            vec![PathStep::AnyDepth, PathStep::Key("pin".into())]
        );
        assert!(parse_json_path("**.").is_err());
        assert!(parse_json_path("a.**.b").is_err());
        assert!(parse_json_path("a[0]").is_err());
        let bad = MaskRules {
            json_paths: vec!["ok".into(), "x[1]".into()],
            ..MaskRules::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "json_paths[1]");
        let none: MaskRules = serde_json::from_str(r#"{"detectors":[]}"#).unwrap();
        assert!(none.detectors.is_empty());
    }
}
