//! Masking rules (the types; the gateway applies them before a record leaves the process).
//!
//! Defaults are on: `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`,
//! `X-API-Key` and every header whose name [`is_secret_name`] are always masked whole, so are
//! JSON keys and query parameters that are secret by name, and every detector runs over
//! captured text. An API's [`MaskRules`] add headers, JSON fields and query parameters, and may
//! tune the detectors.
//!
//! # Names
//!
//! Header names, JSON keys and query parameter names are compared **normalized**: ASCII
//! letters lower-cased, every ASCII character that is not a letter or a digit dropped (other
//! characters kept as they are). So `accessToken`, `access-token`, `ACCESS_TOKEN`,
//! `access.token` and `access_token` are one name, and a rule written any of these ways
//! matches them all ([`same_name`]).
//!
//! A name is **secret by default** ([`is_secret_name`]) when either
//! - its normalized form ends with one of [`SECRET_SUFFIXES`] (`token`, `secret`, `password`,
//!   `passwd`, `passphrase`, `passcode`, `apikey`, `privatekey`, `secretkey`, `credential(s)`,
//!   `authorization`, `pincode`, `otpcode`, `securitycode`, `verificationcode`): `accessToken`,
//!   `x-auth-token`, `client_secret`, `newPassword`, `X-API-Key`; these suffixes end no
//!   everyday English word, so nothing else is caught (`tokens`, `token_type` are not);
//! - or its **last word** is one of [`SECRET_WORDS`] (`pin`, `otp`, `totp`, `hotp`, `cvv`,
//!   `cvv2`, `cvc`, `cvc2`, `pwd`): short words that end other words (`spinner`, `shotp`), so
//!   they count only as a word of their own. Words are split at non-alphanumeric characters
//!   and at camel-case humps: `card_pin`, `cardPin`, `CARD-PIN`, `userPIN`, `CVV2` end in a
//!   secret word; `spinner`, `pinned`, `pinCount` do not.

use serde::{Deserialize, Serialize};

use crate::field::{bad, FieldError};

/// Headers masked whole on every API, whatever its rules say (besides every header that
/// [`is_secret_name`]).
pub const DEFAULT_MASKED_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// JSON keys masked whole wherever they appear in a captured body, on every API (compared
/// normalized, see [`same_name`]; every key that [`is_secret_name`] is masked too):
/// credentials that travel in bodies (OAuth token answers, login forms) rather than in headers.
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

/// Query parameters masked whole on every API: credentials people put in URLs (compared
/// normalized; every name that [`is_secret_name`] is masked too).
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

/// A name whose normalized form ends with one of these is secret (see the module doc).
pub const SECRET_SUFFIXES: [&str; 16] = [
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "apikey",
    "privatekey",
    "secretkey",
    "credential",
    "credentials",
    "authorization",
    "pincode",
    "otpcode",
    "securitycode",
    "verificationcode",
];

/// A name whose last word is one of these is secret (see the module doc).
pub const SECRET_WORDS: [&str; 9] = [
    "pin", "otp", "totp", "hotp", "cvv", "cvv2", "cvc", "cvc2", "pwd",
];

/// The characters of `name` that count, in order: ASCII lower-cased, ASCII punctuation and
/// spaces dropped.
fn normalized(name: &str) -> impl DoubleEndedIterator<Item = char> + Clone + '_ {
    name.chars()
        .filter(|c| !c.is_ascii() || c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
}

/// `name` normalized (see the module doc): `X-Access_Token` → `xaccesstoken`.
pub fn normalize_name(name: &str) -> String {
    normalized(name).collect()
}

/// Are `a` and `b` the same name once normalized? Names with nothing left are never equal.
pub fn same_name(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (normalized(a).peekable(), normalized(b));
    x.peek().is_some() && x.eq(y.by_ref())
}

/// Does `name` normalized end with `suffix` (lower case, alphanumeric)?
fn ends_with_normalized(name: &str, suffix: &str) -> bool {
    let mut n = normalized(name).rev();
    suffix.chars().rev().all(|c| n.next() == Some(c))
}

/// The last word of `name`: after the last non-alphanumeric character and the last camel-case
/// hump (`cardPin` → `Pin`, `userPIN` → `PIN`, `APIKey` → `Key`, `CVV2` → `CVV2`).
fn last_word(name: &str) -> &str {
    let trimmed = name.trim_end_matches(|c: char| !c.is_alphanumeric());
    let b = trimmed.as_bytes();
    let mut i = b.len();
    // Lower-case letters and digits first (`Key`'s `ey`, `CVV2`'s `2`).
    let mut lower = false;
    while i > 0 && (b[i - 1].is_ascii_lowercase() || b[i - 1].is_ascii_digit()) {
        lower |= b[i - 1].is_ascii_lowercase();
        i -= 1;
    }
    if lower {
        // A hump: one capital starts the word.
        if i > 0 && b[i - 1].is_ascii_uppercase() {
            i -= 1;
        }
    } else {
        // An all-capitals word (`PIN`, `CVV2`).
        while i > 0 && (b[i - 1].is_ascii_uppercase() || b[i - 1].is_ascii_digit()) {
            i -= 1;
        }
    }
    &trimmed[i..]
}

/// Is a header, JSON key or query parameter called `name` a secret by its name alone (see the
/// module doc for the exact rule)?
pub fn is_secret_name(name: &str) -> bool {
    if SECRET_SUFFIXES
        .iter()
        .any(|s| ends_with_normalized(name, s))
    {
        return true;
    }
    let word = last_word(name);
    SECRET_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// An API's masking rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskRules {
    /// Extra header names masked whole (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::header_names)]
    pub headers: Vec<String>,
    /// JSON fields masked whole in captured bodies, as dotted paths from the root:
    /// `card.number`, `items[*].token` (`[*]`: every element of an array); `**.pin` is the
    /// key `pin` at any depth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_paths: Vec<String>,
    /// Query parameters whose values are masked whole (besides
    /// [`DEFAULT_MASKED_QUERY_PARAMS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::query_params)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Detector {
    pub kind: DetectorKind,
    #[serde(default)]
    #[schema(maximum = 8)]
    pub keep_first: u8,
    #[serde(default)]
    #[schema(maximum = 8)]
    pub keep_last: u8,
}

/// What a [`Detector`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

    #[test]
    fn names_compare_without_case_or_separators() {
        for (a, b, same) in [
            ("accessToken", "access_token", true),
            ("access-token", "ACCESS_TOKEN", true),
            ("access.token", "AccessToken", true),
            ("X-API-Key", "x_api_key", true),
            ("api_key", "apikeys", false),
            ("pin", "spin", false),
            ("密碼", "密碼", true),
            ("密碼", "帳號", false),
            ("--", "__", false),
            ("", "", false),
        ] {
            assert_eq!(same_name(a, b), same, "{a} vs {b}");
        }
        assert_eq!(normalize_name("X-Access_Token"), "xaccesstoken");
    }

    #[test]
    fn secret_names_are_the_documented_families_and_no_more() {
        let secret = [
            // token family
            "token",
            "accessToken",
            "access-token",
            "ACCESS_TOKEN",
            "access_token",
            "refresh_token",
            "id_token",
            "x-auth-token",
            "X-CSRF-Token",
            "x-amz-security-token",
            "sessionToken",
            "accesstoken",
            // api key family
            "apiKey",
            "api_key",
            "API-KEY",
            "x-api-key",
            "X_API_KEY",
            "APIKey",
            "apikey",
            // secrets and passwords
            "secret",
            "client_secret",
            "clientSecret",
            "password",
            "newPassword",
            "PASSWORD",
            "passwd",
            "user_passwd",
            "passphrase",
            "passcode",
            "privateKey",
            "private_key",
            "secretKey",
            "credentials",
            "Authorization",
            "proxy-authorization",
            // pin, otp, cvv
            "pin",
            "PIN",
            "cardPin",
            "card_pin",
            "CARD-PIN",
            "userPIN",
            "pinCode",
            "pin_code",
            "otp",
            "OTP",
            "smsOtp",
            "otp_code",
            "totp",
            "cvv",
            "CVV",
            "cvv2",
            "CVV2",
            "card.cvv",
            "cvc",
            "cardCvc",
            "cvc2",
            "pwd",
            "user_pwd",
            "securityCode",
            "verification_code",
            "pin ",
            "x-pin-",
        ];
        for n in secret {
            assert!(is_secret_name(n), "{n:?} should be secret");
        }
        let plain = [
            "spinner",
            "Spinner",
            "pinned",
            "pinCount",
            "pin_count",
            "mapping",
            "shopping",
            "tokens",
            "max_tokens",
            "tokenType",
            "token_type",
            "token_count",
            "keyboard",
            "key",
            "monkey",
            "secretary",
            "passenger",
            "password_hint",
            "passwordPolicy",
            "otpLength",
            "hotpot",
            "shotp",
            "cvvLength",
            "description",
            "content-type",
            "user-agent",
            "accept",
            "x-request-id",
            "name",
            "email",
            "id",
            "",
            "-",
            "密碼",
            "opinion",
            "Opin",
        ];
        for n in plain {
            assert!(!is_secret_name(n), "{n:?} should not be secret");
        }
    }

    #[test]
    fn last_words_split_at_separators_and_humps() {
        for (name, word) in [
            ("cardPin", "Pin"),
            ("userPIN", "PIN"),
            ("APIKey", "Key"),
            ("CVV2", "CVV2"),
            ("card_pin_", "pin"),
            ("spinner", "spinner"),
            ("x-pin", "pin"),
            ("pin2Code", "Code"),
            ("", ""),
        ] {
            assert_eq!(last_word(name), word, "{name}");
        }
    }
}
