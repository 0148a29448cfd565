//! Report subscriptions (kind `report_subscription`): a report mailed on a cron schedule in a
//! time zone to users of some roles and to addresses, with its chart inline and its table
//! attached as CSV.
//!
//! The cron string is checked here with the parser the reports scheduler
//! (tokio-cron-scheduler) uses, croner with a seconds field, so a schedule accepted on save is
//! one the scheduler runs. People write the usual five fields (`0 8 * * 1`: Mondays at 08:00);
//! six fields put seconds first. A schedule fires at most once a minute: the seconds field,
//! when given, is one number.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::alert::Lang;
use crate::client::parse_tz;
use crate::field::{bad, FieldError};
use crate::report::{ReportKind, ReportParams};
use crate::user::{looks_like_email, Role};

/// A scheduled report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSubscriptionSpec {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[schema(schema_with = crate::schema::mailed_reports)]
    pub report: ReportKind,
    /// The report's query parameters (`{"range":"yesterday","api":"orders,pay"}`), checked
    /// like the report API's (`ReportParams::from_pairs`). A relative range is resolved at
    /// the scheduled time, so `yesterday` is the day before each mail.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Five fields (`minute hour day-of-month month day-of-week`) or six with seconds first.
    #[schema(schema_with = crate::schema::cron)]
    pub cron: String,
    /// IANA zone of the schedule (and of the report, unless `params.tz` says otherwise);
    /// absent: the site's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::time_zone)]
    pub timezone: Option<String>,
    pub recipients: ReportRecipients,
    #[serde(default = "ReportFormat::all")]
    #[schema(schema_with = crate::schema::formats)]
    pub formats: Vec<ReportFormat>,
    /// Language of the subject and summary: `zh-TW` (default) or `en`.
    #[serde(default, alias = "language")]
    pub lang: Lang,
}

fn yes() -> bool {
    true
}

/// Who gets the mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRecipients {
    /// Every enabled user of these roles who has an e-mail address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::report_emails)]
    pub emails: Vec<String>,
}

/// What the mail carries besides its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// The report's chart as a PNG inside the HTML body.
    Chart,
    /// The report's table as a CSV attachment.
    Csv,
}

impl ReportFormat {
    pub fn all() -> Vec<ReportFormat> {
        vec![ReportFormat::Chart, ReportFormat::Csv]
    }
}

/// Longest subscription name.
const MAX_NAME: usize = 200;
/// Most addresses one subscription names.
pub(crate) const MAX_EMAILS: usize = 100;

impl ReportSubscriptionSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() || self.name.len() > MAX_NAME {
            return bad("name", format!("must be 1 to {MAX_NAME} bytes"));
        }
        if self.report == ReportKind::Calls {
            return bad(
                "report",
                "call detail is not mailed (it holds request and response bodies)",
            );
        }
        self.report_params()?;
        parse_cron(&self.cron).map_err(|m| FieldError::new("cron", m))?;
        if let Some(z) = &self.timezone {
            parse_tz(z).map_err(|m| FieldError::new("timezone", m))?;
        }
        let r = &self.recipients;
        if r.roles.is_empty() && r.emails.is_empty() {
            return bad("recipients", "name at least one role or e-mail address");
        }
        if r.emails.len() > MAX_EMAILS {
            return bad(
                "recipients.emails",
                format!("at most {MAX_EMAILS} addresses"),
            );
        }
        for (i, e) in r.emails.iter().enumerate() {
            if !looks_like_email(e) {
                return bad(
                    format!("recipients.emails[{i}]"),
                    format!("{e:?} is not an e-mail address"),
                );
            }
        }
        for (i, f) in self.formats.iter().enumerate() {
            if self.formats[..i].contains(f) {
                return bad(format!("formats[{i}]"), "is given twice");
            }
        }
        Ok(())
    }

    /// The report's parameters, checked; an error names `params.<key>`.
    pub fn report_params(&self) -> Result<ReportParams, FieldError> {
        let pairs: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        ReportParams::from_pairs(&pairs).map_err(|e| e.under("params"))
    }

    /// The schedule's zone: its own, or else the site's.
    pub fn zone(&self, site_tz: Tz) -> Tz {
        self.timezone
            .as_deref()
            .and_then(|z| parse_tz(z).ok())
            .unwrap_or(site_tz)
    }

    /// The six-field form the scheduler takes (seconds first).
    pub fn schedule(&self) -> Result<String, FieldError> {
        six_fields(&self.cron).map_err(|m| FieldError::new("cron", m))
    }
}

/// `cron` with a seconds field: five fields get `0` in front.
fn six_fields(cron: &str) -> Result<String, String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    match fields.len() {
        5 => Ok(format!("0 {}", fields.join(" "))),
        6 => {
            if fields[0].parse::<u8>().map_or(true, |s| s > 59) {
                return Err(format!(
                    "{cron:?}: the seconds field must be one number from 0 to 59 (a report is mailed at most once a minute)"
                ));
            }
            Ok(fields.join(" "))
        }
        n => Err(format!(
            "{cron:?} has {n} fields; write five (minute hour day-of-month month day-of-week), e.g. \"0 8 * * 1\""
        )),
    }
}

/// Parses a subscription's cron string as the scheduler will (croner, seconds required,
/// day-of-month AND day-of-week like tokio-cron-scheduler), after [`six_fields`].
pub fn parse_cron(cron: &str) -> Result<Cron, String> {
    let six = six_fields(cron)?;
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(&six)
        .map_err(|e| format!("{cron:?} is not a cron schedule: {e}"))
}

/// The latest time at or before `now` that `cron` fires in `tz`: the slot a firing job is for,
/// the same in every process that fires it (the scheduler wakes a little after the slot).
pub fn slot_at_or_before(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_previous_occurrence(&tz.from_utc_datetime(&now.naive_utc()), true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The first time after `now` that `cron` fires in `tz` (the next mail, shown in the UI).
pub fn next_slot_after(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&tz.from_utc_datetime(&now.naive_utc()), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{Entity, EntityKind};

    #[test]
    fn the_next_slot_is_in_the_schedules_zone() {
        let cron = parse_cron("0 8 * * 1").unwrap();
        // Tuesday 25 November 2026, 10:00 in Taipei: next Monday 08:00 there.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        let next = next_slot_after(&cron, chrono_tz::Asia::Taipei, now).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap());
        // At a slot exactly: the one after it.
        let again = next_slot_after(&cron, chrono_tz::Asia::Taipei, next).unwrap();
        assert_eq!(again, Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap());
    }

    fn parse(json: &str) -> Result<Entity, FieldError> {
        Entity::parse(EntityKind::ReportSubscription, "daily-usage", json)
    }

    #[test]
    fn a_good_subscription_round_trips() {
        let json = r#"{"name":"每日用量","report":"usage","params":{"range":"yesterday","api":"orders,pay"},
            "cron":"0 8 * * *","timezone":"Asia/Taipei","recipients":{"roles":["manager"],"emails":["boss@example.tw"]},
            "language":"en"}"#;
        let e = parse(json).unwrap();
        let Entity::ReportSubscription(s) = &e else {
            panic!("{e:?}")
        };
        assert!(s.enabled);
        assert_eq!(s.formats, ReportFormat::all());
        assert_eq!(s.lang, Lang::En);
        assert_eq!(s.schedule().unwrap(), "0 0 8 * * *");
        assert_eq!(s.report_params().unwrap().apis, ["orders", "pay"]);
        assert_eq!(parse(&e.to_json()).unwrap(), e);
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let base =
            r#""name":"x","report":"usage","cron":"0 8 * * *","recipients":{"emails":["a@b.tw"]}"#;
        for (json, field) in [
            (
                r#"{"name":"x","report":"usage","cron":"0 25 * * *","recipients":{"emails":["a@b.tw"]}}"#
                    .to_string(),
                "cron",
            ),
            (
                r#"{"name":"x","report":"usage","cron":"every day","recipients":{"emails":["a@b.tw"]}}"#
                    .to_string(),
                "cron",
            ),
            (
                r#"{"name":"x","report":"usage","cron":"*/5 * * * * *","recipients":{"emails":["a@b.tw"]}}"#
                    .to_string(),
                "cron",
            ),
            (format!(r#"{{{base},"timezone":"Mars/Base"}}"#), "timezone"),
            (
                format!(r#"{{{base},"params":{{"range":"fortnight"}}}}"#),
                "params.range",
            ),
            (format!(r#"{{{base},"params":{{"colour":"red"}}}}"#), "params.colour"),
            (
                r#"{"name":"x","report":"usage","cron":"0 8 * * *","recipients":{"emails":["nope"]}}"#
                    .to_string(),
                "recipients.emails[0]",
            ),
            (
                r#"{"name":"x","report":"usage","cron":"0 8 * * *","recipients":{"roles":["root"]}}"#
                    .to_string(),
                "recipients.roles[0]",
            ),
            (
                r#"{"name":"x","report":"usage","cron":"0 8 * * *","recipients":{}}"#.to_string(),
                "recipients",
            ),
            (
                r#"{"name":"x","report":"calls","cron":"0 8 * * *","recipients":{"roles":["ops"]}}"#
                    .to_string(),
                "report",
            ),
            (
                r#"{"name":"x","report":"sales","cron":"0 8 * * *","recipients":{"roles":["ops"]}}"#
                    .to_string(),
                "report",
            ),
            (format!(r#"{{{base},"formats":["chart","pdf"]}}"#), "formats[1]"),
            (format!(r#"{{{base},"formats":["csv","csv"]}}"#), "formats[1]"),
            (format!(r#"{{{base},"language":"fr"}}"#), "language"),
            (format!(r#"{{{base},"colour":"red"}}"#), "colour"),
            (
                r#"{"name":" ","report":"usage","cron":"0 8 * * *","recipients":{"roles":["ops"]}}"#
                    .to_string(),
                "name",
            ),
        ] {
            let e = parse(&json).unwrap_err();
            assert_eq!(e.field, field, "{json}: {e}");
        }
    }

    #[test]
    fn slots_follow_the_zone() {
        let cron = parse_cron("0 8 * * *").unwrap();
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        // 00:00:30 UTC is 08:00:30 in Taipei: the slot is 08:00 Taipei, 00:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 30).unwrap();
        assert_eq!(
            slot_at_or_before(&cron, tz, now),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap())
        );
        // Exactly at the slot, the slot itself.
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        assert_eq!(slot_at_or_before(&cron, tz, at), Some(at));
        let every_minute = parse_cron("* * * * *").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 59).unwrap();
        assert_eq!(
            slot_at_or_before(&every_minute, tz, now),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 0).unwrap())
        );
    }
}
