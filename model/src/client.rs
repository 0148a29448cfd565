//! The client entity (kind `client`): a consumer organisation or app, and the limits the
//! gateway holds it to.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::field::{bad, check_id, FieldError};

/// A client, as stored in the configuration log. Its id is the entity id (and the user name of
/// HTTP Basic authentication).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Display name, any language.
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub status: ClientStatus,
    /// First day the client may call (inclusive), in the client's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    /// Last day the client may call (inclusive), in the client's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
    /// IANA zone for the validity dates, service hours and quota windows (default: the site's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::time_zone)]
    pub timezone: Option<String>,
    /// When the client may call; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_hours: Option<ServiceHours>,
    /// Source addresses allowed (`10.0.0.0/8`, `192.0.2.7`, `::1`); any when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allow: Vec<String>,
    /// Calls per second with a burst (token bucket); unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tps: Option<Rate>,
    /// Calls per calendar window; unlimited where absent.
    #[serde(default, skip_serializing_if = "Quota::is_empty")]
    pub quota: Quota,
    /// VIP priority 0–9: when the gateway is saturated, higher priority is admitted first.
    #[serde(default)]
    #[schema(maximum = 9)]
    pub priority: u8,
    /// Groups the client belongs to; a group grants its APIs without approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::ids)]
    pub groups: Vec<String>,
    /// Hash of the client secret used with HTTP Basic (see `ApiKeySpec::hash`); Basic is
    /// refused when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    /// Client certificates that identify the client on APIs with `auth = ["mtls", …]`: the
    /// SHA-256 of each certificate's DER as `sha256:<64 hex digits>` (either case; kept in
    /// lower case), e.g. `openssl x509 -in client.pem -outform der | sha256sum`. At most 32; a
    /// fingerprint identifies one client only (the admin API refuses one another client lists).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "fingerprints"
    )]
    #[schema(schema_with = crate::schema::fingerprints)]
    pub certificates: Vec<String>,
    /// OAuth 2.0 scopes the client may ask for at the token endpoint (RFC 6749 scope names,
    /// at most 64); the approved products of its keys may grant more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::scopes)]
    pub scopes: Vec<String>,
    /// Public keys for `private_key_jwt` at the token endpoint (RFC 7523 §2.2): a JWK Set
    /// `{"keys":[…]}` of EC P-256 keys, each with its `kid` (at most 8). The client signs its
    /// assertion ES256 with one of the private keys; absent: no `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Source addresses refused for this client on every API (`10.0.0.0/8`, `::1`), checked
    /// beside the API's and the site's deny lists (403 `ip_denied`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_deny: Vec<String>,
    /// Public keys the client signs requests with (RFC 9421, `ecdsa-p256-sha256` or
    /// `ed25519`), each under its `keyid`; at most 8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<crate::policy::SigningKey>,
    /// The `hmac-sha256` signing secret, sealed under the site pepper (`sealed:v1:…`); made
    /// by `POST /api/v1/clients/{id}/signing-secret`, which shows it once. Its `keyid` is the
    /// client's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^sealed:v1:")]
    pub signing_secret: Option<String>,
}

/// What a client's `signing_secret` is sealed for (`model::sealed`): its id, so a sealed
/// secret copied onto another client does not open. The admin API seals, the gateway opens.
pub fn signing_secret_context(client_id: &str) -> String {
    format!("signing_secret of client {client_id}")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    #[default]
    Active,
    /// Every call refused (`refused_not_allowed`).
    Suspended,
}

/// A token bucket: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    #[schema(minimum = 1)]
    pub per_second: u32,
    /// Calls allowed at once after a quiet spell (default: `per_second`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub burst: Option<u32>,
}

impl Rate {
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.per_second).max(1)
    }
}

/// Calls per calendar window (in the client's time zone). `scope` says whether each gateway
/// counts alone or all gateways share the count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub per_hour: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub per_month: Option<u64>,
    #[serde(default)]
    pub scope: LimitScope,
}

impl Quota {
    pub fn is_empty(&self) -> bool {
        self.limits().next().is_none()
    }

    /// The windows that have a limit, with it.
    pub fn limits(&self) -> impl Iterator<Item = (QuotaWindow, u64)> + '_ {
        [
            (QuotaWindow::Minute, self.per_minute),
            (QuotaWindow::Hour, self.per_hour),
            (QuotaWindow::Day, self.per_day),
            (QuotaWindow::Month, self.per_month),
        ]
        .into_iter()
        .filter_map(|(w, l)| l.map(|l| (w, l)))
    }

    fn validate(&self) -> Result<(), FieldError> {
        for (w, l) in self.limits() {
            if l == 0 {
                return bad(w.field(), "must be at least 1 (omit it for no limit)");
            }
        }
        Ok(())
    }
}

/// Where a limit is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Each gateway process counts on its own: exact, and N gateways allow N times the limit.
    #[default]
    Node,
    /// All gateways share one count, kept through ClickHouse (bounded overshoot; see the
    /// gateway's README).
    Shared,
}

/// A calendar window of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaWindow {
    Minute,
    Hour,
    Day,
    Month,
}

impl QuotaWindow {
    pub fn field(self) -> &'static str {
        match self {
            QuotaWindow::Minute => "per_minute",
            QuotaWindow::Hour => "per_hour",
            QuotaWindow::Day => "per_day",
            QuotaWindow::Month => "per_month",
        }
    }

    /// Start and end (exclusive) of the window holding `now`, in UTC, with calendar
    /// boundaries taken in `tz` (a day is midnight to midnight there, DST included).
    pub fn bounds(self, now: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let local = now.with_timezone(&tz).naive_local();
        let (start, end) = match self {
            QuotaWindow::Minute => {
                let s = local
                    .with_second(0)
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(local);
                (s, s + chrono::Duration::minutes(1))
            }
            QuotaWindow::Hour => {
                let s = local
                    .with_minute(0)
                    .and_then(|t| t.with_second(0))
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(local);
                (s, s + chrono::Duration::hours(1))
            }
            QuotaWindow::Day => {
                let d = local.date();
                (
                    d.and_hms_opt(0, 0, 0).unwrap_or(local),
                    (d + chrono::Days::new(1))
                        .and_hms_opt(0, 0, 0)
                        .unwrap_or(local),
                )
            }
            QuotaWindow::Month => {
                let first =
                    NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local.date());
                let next = first + chrono::Months::new(1);
                (
                    first.and_hms_opt(0, 0, 0).unwrap_or(local),
                    next.and_hms_opt(0, 0, 0).unwrap_or(local),
                )
            }
        };
        // Minute and hour windows are fixed lengths in UTC terms (a zone offset is whole
        // minutes); day and month boundaries resolve through the zone.
        let to_utc = |t: NaiveDateTime| -> DateTime<Utc> {
            match tz.from_local_datetime(&t) {
                chrono::LocalResult::Single(x) => x.with_timezone(&Utc),
                chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
                // Midnight skipped by a DST jump: the window starts at the first instant after.
                chrono::LocalResult::None => tz
                    .from_local_datetime(&(t + chrono::Duration::hours(1)))
                    .earliest()
                    .map(|x| x.with_timezone(&Utc))
                    .unwrap_or(now),
            }
        };
        match self {
            QuotaWindow::Minute | QuotaWindow::Hour => {
                let offset = now - Utc.from_utc_datetime(&local);
                let s = Utc.from_utc_datetime(&start) + offset;
                (s, s + (end - start))
            }
            _ => (to_utc(start), to_utc(end)),
        }
    }
}

/// A day of the week, as written in rules: `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub fn of(d: chrono::Weekday) -> Day {
        use chrono::Weekday::*;
        match d {
            Mon => Day::Mon,
            Tue => Day::Tue,
            Wed => Day::Wed,
            Thu => Day::Thu,
            Fri => Day::Fri,
            Sat => Day::Sat,
            Sun => Day::Sun,
        }
    }
}

/// A time of day, `HH:MM`, minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    pub fn minutes(self) -> u16 {
        self.0
    }
    pub fn hm(h: u16, m: u16) -> ClockTime {
        ClockTime(h * 60 + m)
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<ClockTime, String> {
        let err = || format!("{s:?} is not a time of day HH:MM (00:00 to 24:00)");
        let (h, m) = s.split_once(':').ok_or_else(err)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(err());
        }
        let h: u16 = h.parse().map_err(|_| err())?;
        let m: u16 = m.parse().map_err(|_| err())?;
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(err());
        }
        Ok(ClockTime(h * 60 + m))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `HH:MM`, 00:00 to 24:00 (what [`ClockTime::from_str`] accepts).
impl utoipa::PartialSchema for ClockTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(CLOCK_TIME_PATTERN))
            .examples(["22:00"])
            .description(Some("A time of day, HH:MM (00:00 to 24:00)"))
            .into()
    }
}

impl utoipa::ToSchema for ClockTime {}

/// What [`ClockTime::from_str`] accepts, as a regular expression (checked by the tests).
pub const CLOCK_TIME_PATTERN: &str = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClockTime, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A daily window on chosen days. `from` after `until` crosses midnight: the window opens on a
/// listed day at `from` and closes the next morning at `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceHours {
    /// Days the window opens on (every day when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Day>,
    pub from: ClockTime,
    pub until: ClockTime,
}

impl ServiceHours {
    /// Whether local wall-clock time `t` is inside the window.
    pub fn contains(&self, t: NaiveDateTime) -> bool {
        let minute = (t.hour() * 60 + t.minute()) as u16;
        let opens_on = |d: chrono::Weekday| self.days.is_empty() || self.days.contains(&Day::of(d));
        let (from, until) = (self.from.0, self.until.0);
        if from < until {
            opens_on(t.weekday()) && (from..until).contains(&minute)
        } else {
            // Crosses midnight: the evening part belongs to today, the morning part to the
            // window that opened yesterday.
            (minute >= from && opens_on(t.weekday()))
                || (minute < until && opens_on(t.weekday().pred()))
        }
    }
}

/// Most certificates one client lists.
pub const MAX_CERTIFICATES: usize = 32;

/// What [`check_fingerprint`] accepts, as a regular expression (the schema's; checked by the
/// tests).
pub const FINGERPRINT_PATTERN: &str = "^sha256:[0-9A-Fa-f]{64}$";

/// A certificate's fingerprint as clients list it: `sha256:` and the lower-case hex of the
/// SHA-256 of its DER (what `openssl x509 -outform der | sha256sum` prints).
pub fn certificate_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in sha2::Sha256::digest(der) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `sha256:` and 64 hex digits of either case.
pub fn check_fingerprint(s: &str) -> Result<(), String> {
    match s.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => {
            // Long junk is shown cut, not whole.
            let shown: String = s.chars().take(80).collect();
            Err(format!(
                "{shown:?} is not a certificate fingerprint: `sha256:` and the 64 hex digits of \
                 the SHA-256 of the certificate's DER"
            ))
        }
    }
}

/// Reads `certificates`, lower-casing the well-formed ones (the others are left for
/// [`ClientSpec::validate`] to name).
fn fingerprints<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut list = Vec::<String>::deserialize(d)?;
    for s in list.iter_mut() {
        if check_fingerprint(s).is_ok() {
            s.make_ascii_lowercase();
        }
    }
    Ok(list)
}

/// Parses an allowlist entry: a CIDR block or a bare address (a /32 or /128).
pub fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| format!("{s:?} is not an address or CIDR block (10.0.0.0/8, 192.0.2.7, ::1)"))
}

/// Parses an IANA zone name.
pub fn parse_tz(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("{s:?} is not an IANA time zone (e.g. Asia/Taipei)"))
}

/// Why a client may not call at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBar {
    Suspended,
    NotYetValid,
    Expired,
    OutsideHours,
}

impl ClientSpec {
    /// A client with no limits (tests, the demo).
    pub fn named(name: &str) -> ClientSpec {
        ClientSpec {
            name: name.into(),
            description: String::new(),
            status: ClientStatus::Active,
            valid_from: None,
            valid_until: None,
            timezone: None,
            service_hours: None,
            ip_allow: Vec::new(),
            tps: None,
            quota: Quota::default(),
            priority: 0,
            groups: Vec::new(),
            secret_hash: None,
            certificates: Vec::new(),
            scopes: Vec::new(),
            jwks: None,
            ip_deny: Vec::new(),
            signing_keys: Vec::new(),
            signing_secret: None,
        }
    }

    /// The client's zone, or the site's.
    pub fn zone(&self, site: Tz) -> Tz {
        self.timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(site)
    }

    /// Status, validity dates and service hours at `now`.
    pub fn bar_at(&self, now: DateTime<Utc>, site: Tz) -> Option<ClientBar> {
        if self.status == ClientStatus::Suspended {
            return Some(ClientBar::Suspended);
        }
        let local = now.with_timezone(&self.zone(site)).naive_local();
        if self.valid_from.is_some_and(|d| local.date() < d) {
            return Some(ClientBar::NotYetValid);
        }
        if self.valid_until.is_some_and(|d| local.date() > d) {
            return Some(ClientBar::Expired);
        }
        if self
            .service_hours
            .as_ref()
            .is_some_and(|h| !h.contains(local))
        {
            return Some(ClientBar::OutsideHours);
        }
        None
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        if let (Some(f), Some(u)) = (self.valid_from, self.valid_until) {
            if u < f {
                return bad("valid_until", format!("{u} is before valid_from {f}"));
            }
        }
        if let Some(z) = &self.timezone {
            parse_tz(z).map_err(|m| FieldError::new("timezone", m))?;
        }
        if let Some(h) = &self.service_hours {
            if h.from == h.until {
                return bad(
                    "service_hours.until",
                    "must differ from `from` (leave service_hours out for all day)",
                );
            }
        }
        for (i, c) in self.ip_allow.iter().enumerate() {
            parse_cidr(c).map_err(|m| FieldError::new(format!("ip_allow[{i}]"), m))?;
        }
        if let Some(r) = &self.tps {
            if r.per_second == 0 {
                return bad(
                    "tps.per_second",
                    "must be at least 1 (leave tps out for no limit)",
                );
            }
            if r.burst == Some(0) {
                return bad("tps.burst", "must be at least 1");
            }
        }
        self.quota.validate().map_err(|e| e.under("quota"))?;
        if self.priority > 9 {
            return bad("priority", "must be 0 to 9");
        }
        for (i, g) in self.groups.iter().enumerate() {
            check_id(&format!("groups[{i}]"), g)?;
        }
        if self.certificates.len() > MAX_CERTIFICATES {
            return bad(
                "certificates",
                format!("lists more than {MAX_CERTIFICATES} certificates"),
            );
        }
        for (i, c) in self.certificates.iter().enumerate() {
            check_fingerprint(c).map_err(|m| FieldError::new(format!("certificates[{i}]"), m))?;
        }
        crate::oauth::check_scopes("scopes", &self.scopes)?;
        if let Some(jwks) = &self.jwks {
            crate::oauth::keys::client_keys(jwks)?;
        }
        crate::policy::check_deny_list("ip_deny", &self.ip_deny)?;
        crate::policy::check_signing_keys(&self.signing_keys)?;
        if let Some(s) = &self.signing_secret {
            if !s.starts_with(crate::sealed::PREFIX) {
                return bad(
                    "signing_secret",
                    "must be a sealed value; POST /api/v1/clients/{id}/signing-secret makes one",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn hours_across_midnight() {
        // 22:00–06:00 opening Friday only (2026-11-27 is a Friday).
        let h = ServiceHours {
            days: vec![Day::Fri],
            from: "22:00".parse().unwrap(),
            until: "06:00".parse().unwrap(),
        };
        assert!(!h.contains(at("2026-11-27 21:59")));
        assert!(h.contains(at("2026-11-27 22:00")));
        assert!(h.contains(at("2026-11-28 05:59"))); // Saturday morning, opened Friday
        assert!(!h.contains(at("2026-11-28 06:00")));
        assert!(!h.contains(at("2026-11-28 23:00"))); // Saturday evening: not a listed day
        assert!(!h.contains(at("2026-11-27 03:00"))); // Friday morning: opened Thursday
        let day = ServiceHours {
            days: vec![],
            from: "09:00".parse().unwrap(),
            until: "24:00".parse().unwrap(),
        };
        assert!(day.contains(at("2026-11-28 23:59")));
        assert!(!day.contains(at("2026-11-28 08:59")));
    }

    #[test]
    fn clock_times() {
        assert_eq!("09:30".parse::<ClockTime>().unwrap(), ClockTime::hm(9, 30));
        for bad in ["9:30", "24:01", "12:60", "noon", "12-00"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
        assert_eq!(ClockTime::hm(7, 5).to_string(), "07:05");
    }

    #[test]
    fn bars_in_taipei() {
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        let mut c = ClientSpec::named("x");
        c.valid_until = Some(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        // 2026-11-25 15:59 UTC is 23:59 in Taipei: still valid; a minute later it is not.
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 59, 0).unwrap();
        assert_eq!(c.bar_at(t, tz), None);
        assert_eq!(
            c.bar_at(t + chrono::Duration::minutes(1), tz),
            Some(ClientBar::Expired)
        );
        c.status = ClientStatus::Suspended;
        assert_eq!(c.bar_at(t, tz), Some(ClientBar::Suspended));
    }

    #[test]
    fn validation_names_fields() {
        let mut c = ClientSpec::named("x");
        c.ip_allow = vec!["10.0.0.0/8".into(), "192.0.2.7".into(), "::1".into()];
        assert!(c.validate().is_ok());
        c.ip_allow.push("10.0.0.0/33".into());
        assert_eq!(c.validate().unwrap_err().field, "ip_allow[3]");
        let mut d = ClientSpec::named("x");
        d.quota.per_hour = Some(0);
        assert_eq!(d.validate().unwrap_err().field, "quota.per_hour");
        let mut e = ClientSpec::named("x");
        e.timezone = Some("Mars/Base".into());
        assert_eq!(e.validate().unwrap_err().field, "timezone");
        assert!(parse_cidr("10.1.2.3/8")
            .unwrap()
            .contains(&"10.200.0.1".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn certificates_are_fingerprints_kept_in_lower_case() {
        // `printf 'abc' | sha256sum`
        assert_eq!(
            certificate_fingerprint(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let upper = "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let c: ClientSpec = serde_json::from_value(serde_json::json!({
            "name": "x", "certificates": [upper]
        }))
        .unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.certificates, [certificate_fingerprint(b"abc")]);
        let fp = certificate_fingerprint(b"abc");
        for (i, bad) in [
            "sha256:xyz".to_string(),
            upper.replace("sha256", "SHA256"),
            format!("{fp}0"),
            fp[..70].to_string(),
            format!(" {fp}"),
            fp.replace("sha256", "sha1"),
            String::new(),
        ]
        .into_iter()
        .enumerate()
        {
            let c: ClientSpec = serde_json::from_value(serde_json::json!({
                "name": "x", "certificates": [fp.clone(), bad.clone()]
            }))
            .unwrap();
            assert_eq!(
                c.validate().unwrap_err().field,
                "certificates[1]",
                "{i}: {bad:?}"
            );
            // The case of a malformed entry is kept, so the error shows what was sent.
            assert_eq!(c.certificates[1], bad);
        }
        let mut many = ClientSpec::named("x");
        many.certificates = vec![fp; MAX_CERTIFICATES + 1];
        assert_eq!(many.validate().unwrap_err().field, "certificates");
        many.certificates.pop();
        assert!(many.validate().is_ok());
    }

    #[test]
    fn quota_windows() {
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 17, 30, 12).unwrap(); // Dec 1 01:30 Taipei
        let (s, e) = QuotaWindow::Day.bounds(now, tz);
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap());
        assert_eq!(e, Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap());
        let (s, e) = QuotaWindow::Month.bounds(now, tz);
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap());
        assert_eq!(e, Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap());
        let (s, e) = QuotaWindow::Minute.bounds(now, tz);
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 11, 30, 17, 30, 0).unwrap());
        assert_eq!(e - s, chrono::Duration::minutes(1));
        // A zone with a 30-minute offset still has hour windows on its own clock.
        let india: Tz = "Asia/Kolkata".parse().unwrap();
        let (s, _) = QuotaWindow::Hour.bounds(now, india);
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 11, 30, 17, 30, 0).unwrap());
    }
}
