//! Exception windows: when a rule does not notify (it still evaluates and records).
//!
//! A window is written in one of two forms:
//!
//! - **tagged** (`"type"`: `weekly`, `month_days`, `dates`, `yearly`, `daily`), gatewatch's own;
//! - **Alertmanager's `time_interval`**, without a tag, field names as in Alertmanager's
//!   documentation: `times` (`start_time`/`end_time`), `weekdays` (`monday:friday`),
//!   `days_of_month` (`1:5`, `-3:-1`: negative counts from the month's end), `months`
//!   (`january:march`, `11`), `years` (`2026:2028`), `location` (an IANA zone that overrides
//!   the rule's). Every field given must match (an interval without fields holds always, as in
//!   Alertmanager); each list matches when one of its ranges does. Beyond Alertmanager, an
//!   `end_time` before its `start_time` is a range across midnight whose part after midnight
//!   belongs to the day the range started (as in the tagged windows).
//!
//! Every window is read on the **wall clock of its zone**: `now` is turned into local time and
//! compared with the days and `HH:MM` times written in the rule. That settles DST:
//!
//! - **Skipped hour** (spring forward): local times that do not exist that day are covered by
//!   no window. A window 01:30–02:30 on the day America/New_York jumps from 02:00 to 03:00 is
//!   open from 01:30 EST until the jump (30 real minutes) and closed from 03:00 EDT on.
//! - **Repeated hour** (fall back): local times that occur twice are covered both times. A
//!   window 01:00–01:59 on the day the clock goes from 02:00 EDT back to 01:00 EST is open
//!   01:00–01:59 EDT and again 01:00–01:59 EST.
//!
//! `until` (`end_time`) is exclusive; `from` after `until` crosses midnight (the window opens
//! on a listed day at `from` and closes the next day at `until`); 24:00 is the end of the day.
//!
//! Serde: one [`RawWindow`] with every field of both forms reads a window (so serde's errors
//! keep their path, `windows[0].days_of_month[1]`), then the form is chosen by `type` and the
//! fields of the other form are refused by name.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::client::{parse_tz, ClockTime, Day};
use crate::field::{bad, FieldError};

/// One exception window: gatewatch's tagged form or one Alertmanager `time_interval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged, try_from = "RawWindow")]
pub enum ExceptionWindow {
    Tagged(TaggedWindow),
    Interval(TimeInterval),
}

/// A window in gatewatch's tagged form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaggedWindow {
    /// On some days of the week (`["sat", "sun"]`), all day or from–until.
    Weekly {
        #[schema(min_items = 1)]
        days: Vec<Day>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// On days of the month (1–31; a day a month lacks is skipped that month).
    MonthDays {
        #[schema(schema_with = crate::schema::month_days)]
        days: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// On specific dates (`2026-12-25`).
    Dates {
        #[schema(min_items = 1)]
        dates: Vec<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// On the same dates every year (`06-07`: every June 7th; `02-29` only in leap years).
    Yearly {
        #[schema(min_items = 1)]
        dates: Vec<MonthDay>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// Every day from–until (`22:00`–`06:00` crosses midnight).
    Daily { from: ClockTime, until: ClockTime },
}

/// One Alertmanager `time_interval` (see the module's documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    /// Times of day; the whole day when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<TimeRange>>,
    /// `monday:friday`, `saturday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<WeekdayRange>>,
    /// `1:5`, `-3:-1` (the last three days), `1:-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    /// `january:march`, `11`, `1:3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<MonthRange>>,
    /// `2027`, `2026:2028`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<YearRange>>,
    /// IANA zone the interval is read in (default: the rule's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::time_zone)]
    pub location: Option<String>,
}

/// `start_time` (inclusive) to `end_time` (exclusive); an end before the start crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start_time: ClockTime,
    pub end_time: ClockTime,
}

/// A yearly date, `MM-DD` (`06-07`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl FromStr for MonthDay {
    type Err = String;
    fn from_str(s: &str) -> Result<MonthDay, String> {
        let err = || format!("{s:?} is not a yearly date MM-DD (e.g. 06-07)");
        let (m, d) = s.split_once('-').ok_or_else(err)?;
        if m.len() != 2 || d.len() != 2 {
            return Err(err());
        }
        let month: u32 = m.parse().map_err(|_| err())?;
        let day: u32 = d.parse().map_err(|_| err())?;
        // 2000 is a leap year: 02-29 is a date (it holds in leap years only).
        if NaiveDate::from_ymd_opt(2000, month, day).is_none() {
            return Err(err());
        }
        Ok(MonthDay { month, day })
    }
}

impl fmt::Display for MonthDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

impl Serialize for MonthDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MonthDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MonthDay, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for MonthDay {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(MONTH_DAY_PATTERN))
            .examples(["06-07"])
            .description(Some("A date every year, MM-DD"))
            .into()
    }
}

impl utoipa::ToSchema for MonthDay {}

/// Roughly what [`MonthDay::from_str`] accepts (it also refuses `02-30`, `04-31`, …).
pub const MONTH_DAY_PATTERN: &str = "^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `begin:end` or one member, lower-cased first (Alertmanager takes `January:december`).
fn split_range(
    s: &str,
    member: impl Fn(&str) -> Result<i32, String>,
) -> Result<(i32, i32), String> {
    let s = s.trim().to_ascii_lowercase();
    match s.split_once(':') {
        Some((b, e)) if !e.contains(':') => Ok((member(b)?, member(e)?)),
        Some(_) => Err(format!("couldn't parse range {s}, invalid format")),
        None => {
            let v = member(&s)?;
            Ok((v, v))
        }
    }
}

fn number(s: &str, what: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .map_err(|_| format!("{s} is not a valid {what}"))
}

/// The inclusive ranges of a time interval: each parsed from Alertmanager's text (a string,
/// or a bare number where a number is meant; names in any case), checked as it is read, and
/// written back in the same text. The schemas' patterns show the lower-case form (JSON
/// Schema patterns have no flags).
macro_rules! range_type {
    ($name:ident, $doc:literal, $example:literal, $pattern:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            pub begin: i32,
            pub end: i32,
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.begin == self.end {
                    f.write_str(&Self::show(self.begin))
                } else {
                    write!(f, "{}:{}", Self::show(self.begin), Self::show(self.end))
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                let (begin, end) = split_range(s, Self::member)?;
                Self::check(begin, end)?;
                Ok($name { begin, end })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a range such as {:?}", $example)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<$name, E> {
                        self.visit_str(&n.to_string())
                    }
                    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<$name, E> {
                        self.visit_str(&n.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .examples([$example])
                    .description(Some($doc))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

const WEEKDAY_PATTERN: &str = "^(sunday|monday|tuesday|wednesday|thursday|friday|saturday)(:(sunday|monday|tuesday|wednesday|thursday|friday|saturday))?$";
const DAY_OF_MONTH_PATTERN: &str = "^-?([1-9]|[12][0-9]|3[01])(:-?([1-9]|[12][0-9]|3[01]))?$";
const MONTH_PATTERN: &str = "^([1-9]|1[0-2]|january|february|march|april|may|june|july|august|september|october|november|december)(:([1-9]|1[0-2]|january|february|march|april|may|june|july|august|september|october|november|december))?$";
const YEAR_PATTERN: &str = "^(19[7-9][0-9]|[2-9][0-9]{3})(:(19[7-9][0-9]|[2-9][0-9]{3}))?$";

range_type!(
    WeekdayRange,
    "Days of the week, `monday:friday` or `saturday` (Sunday is the first day).",
    "monday:friday",
    WEEKDAY_PATTERN
);
range_type!(
    DayOfMonthRange,
    "Days of the month, `1:5`, `-3:-1` (negative: from the month's end), `1:-1`.",
    "-3:-1",
    DAY_OF_MONTH_PATTERN
);
range_type!(
    MonthRange,
    "Months, `january:march`, `november`, `1:3`.",
    "january:march",
    MONTH_PATTERN
);
range_type!(
    YearRange,
    "Years, `2027` or `2026:2028`.",
    "2026:2028",
    YEAR_PATTERN
);

impl WeekdayRange {
    fn member(s: &str) -> Result<i32, String> {
        WEEKDAYS
            .iter()
            .position(|d| *d == s)
            .map(|i| i as i32)
            .ok_or_else(|| format!("{s} is not a valid weekday"))
    }
    fn show(v: i32) -> String {
        WEEKDAYS.get(v as usize).copied().unwrap_or("?").to_string()
    }
    fn check(begin: i32, end: i32) -> Result<(), String> {
        if begin > end {
            return Err("start day cannot be before end day".into());
        }
        Ok(())
    }
}

impl DayOfMonthRange {
    fn member(s: &str) -> Result<i32, String> {
        number(s, "day of the month")
    }
    fn show(v: i32) -> String {
        v.to_string()
    }
    /// Alertmanager's checks: within ±31 and not 0; a negative start needs a negative end;
    /// the end not always before the start (judged on the shortest month, 28 days).
    fn check(begin: i32, end: i32) -> Result<(), String> {
        for v in [begin, end] {
            if v == 0 || !(-31..=31).contains(&v) {
                return Err(format!("{v} is not a valid day of the month: out of range"));
            }
        }
        if begin < 0 && end > 0 {
            return Err("end day must be negative if start day is negative".into());
        }
        let on28 = |v: i32| if v < 0 { 28 + v } else { v };
        if on28(begin) > on28(end) {
            return Err(format!("end day {end} is always before start day {begin}"));
        }
        Ok(())
    }
}

impl MonthRange {
    fn member(s: &str) -> Result<i32, String> {
        if let Some(i) = MONTHS.iter().position(|m| *m == s) {
            return Ok(i as i32 + 1);
        }
        match s.parse::<i32>() {
            Ok(n) if (1..=12).contains(&n) => Ok(n),
            _ => Err(format!("{s} is not a valid month")),
        }
    }
    fn show(v: i32) -> String {
        MONTHS
            .get((v - 1) as usize)
            .copied()
            .unwrap_or("?")
            .to_string()
    }
    fn check(begin: i32, end: i32) -> Result<(), String> {
        if begin > end {
            return Err(format!(
                "end month {} is before start month {}",
                Self::show(end),
                Self::show(begin)
            ));
        }
        Ok(())
    }
}

impl YearRange {
    fn member(s: &str) -> Result<i32, String> {
        match s.parse::<i32>() {
            Ok(n) if (1970..=9999).contains(&n) => Ok(n),
            _ => Err(format!("{s} is not a valid year (1970 to 9999)")),
        }
    }
    fn show(v: i32) -> String {
        v.to_string()
    }
    fn check(begin: i32, end: i32) -> Result<(), String> {
        if begin > end {
            return Err(format!("end year {end} is before start year {begin}"));
        }
        Ok(())
    }
}

/// Every field of both forms: what a window is read as before its form is chosen.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(rename = "type")]
    kind: Option<Tag>,
    days: Option<Vec<DayItem>>,
    from: Option<ClockTime>,
    until: Option<ClockTime>,
    dates: Option<Vec<DateItem>>,
    times: Option<Vec<TimeRange>>,
    weekdays: Option<Vec<WeekdayRange>>,
    days_of_month: Option<Vec<DayOfMonthRange>>,
    months: Option<Vec<MonthRange>>,
    years: Option<Vec<YearRange>>,
    location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Tag {
    Weekly,
    MonthDays,
    Dates,
    Yearly,
    Daily,
}

impl Tag {
    fn name(self) -> &'static str {
        match self {
            Tag::Weekly => "weekly",
            Tag::MonthDays => "month_days",
            Tag::Dates => "dates",
            Tag::Yearly => "yearly",
            Tag::Daily => "daily",
        }
    }
}

/// A `days` item: a weekday name (`weekly`) or a day of the month (`month_days`).
enum DayItem {
    Name(Day),
    Number(i64),
}

impl<'de> Deserialize<'de> for DayItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DayItem, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DayItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a day of the week (mon … sun) or of the month (1 to 31)")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DayItem, E> {
                use serde::de::IntoDeserializer;
                Day::deserialize(s.into_deserializer()).map(DayItem::Name)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<DayItem, E> {
                Ok(DayItem::Number(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<DayItem, E> {
                Ok(DayItem::Number(i64::try_from(n).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A `dates` item: a full date (`dates`) or a yearly one (`yearly`).
enum DateItem {
    Full(NaiveDate),
    Yearly(MonthDay),
}

impl<'de> Deserialize<'de> for DateItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DateItem, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() == 5 {
            return s
                .parse()
                .map(DateItem::Yearly)
                .map_err(serde::de::Error::custom);
        }
        s.parse().map(DateItem::Full).map_err(|_| {
            serde::de::Error::custom(format!(
                "{s:?} is not a date YYYY-MM-DD (or MM-DD in a yearly window)"
            ))
        })
    }
}

impl TryFrom<RawWindow> for ExceptionWindow {
    type Error = String;

    fn try_from(r: RawWindow) -> Result<ExceptionWindow, String> {
        let interval_fields = [
            ("times", r.times.is_some()),
            ("weekdays", r.weekdays.is_some()),
            ("days_of_month", r.days_of_month.is_some()),
            ("months", r.months.is_some()),
            ("years", r.years.is_some()),
            ("location", r.location.is_some()),
        ];
        let Some(tag) = r.kind else {
            let tagged_fields = [
                ("days", r.days.is_some()),
                ("from", r.from.is_some()),
                ("until", r.until.is_some()),
                ("dates", r.dates.is_some()),
            ];
            if let Some((name, _)) = tagged_fields.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "`{name}` belongs to a window with a `type` (weekly, month_days, dates, \
                     yearly, daily); a window without `type` is an Alertmanager time interval \
                     (times, weekdays, days_of_month, months, years, location)"
                ));
            }
            return Ok(ExceptionWindow::Interval(TimeInterval {
                times: r.times,
                weekdays: r.weekdays,
                days_of_month: r.days_of_month,
                months: r.months,
                years: r.years,
                location: r.location,
            }));
        };
        if let Some((name, _)) = interval_fields.iter().find(|(_, set)| *set) {
            return Err(format!(
                "`{name}` belongs to an Alertmanager time interval, written without `type`"
            ));
        }
        let not_here = |name: &str| format!("`{name}` is not a field of a `{}` window", tag.name());
        let missing = |name: &str| format!("missing field `{name}`");
        let (from, until) = (r.from, r.until);
        let w = match tag {
            Tag::Weekly | Tag::MonthDays => {
                if r.dates.is_some() {
                    return Err(not_here("dates"));
                }
                let days = r.days.ok_or_else(|| missing("days"))?;
                if tag == Tag::Weekly {
                    let days = days
                        .into_iter()
                        .enumerate()
                        .map(|(i, d)| match d {
                            DayItem::Name(d) => Ok(d),
                            DayItem::Number(n) => Err(format!(
                                "days[{i}]: {n} is not a day of the week (mon … sun); \
                                 days of the month need type month_days"
                            )),
                        })
                        .collect::<Result<Vec<Day>, String>>()?;
                    TaggedWindow::Weekly { days, from, until }
                } else {
                    let days = days
                        .into_iter()
                        .enumerate()
                        .map(|(i, d)| match d {
                            DayItem::Number(n) if (1..=31).contains(&n) => Ok(n as u8),
                            _ => Err(format!("days[{i}]: must be 1 to 31")),
                        })
                        .collect::<Result<Vec<u8>, String>>()?;
                    TaggedWindow::MonthDays { days, from, until }
                }
            }
            Tag::Dates | Tag::Yearly => {
                if r.days.is_some() {
                    return Err(not_here("days"));
                }
                let dates = r.dates.ok_or_else(|| missing("dates"))?;
                if tag == Tag::Dates {
                    let dates = dates
                        .into_iter()
                        .enumerate()
                        .map(|(i, d)| match d {
                            DateItem::Full(d) => Ok(d),
                            DateItem::Yearly(md) => Err(format!(
                                "dates[{i}]: {md} is a date every year; that needs type yearly"
                            )),
                        })
                        .collect::<Result<Vec<NaiveDate>, String>>()?;
                    TaggedWindow::Dates { dates, from, until }
                } else {
                    let dates = dates
                        .into_iter()
                        .enumerate()
                        .map(|(i, d)| match d {
                            DateItem::Yearly(md) => Ok(md),
                            DateItem::Full(d) => Err(format!(
                                "dates[{i}]: {d} is one date; a yearly window takes MM-DD"
                            )),
                        })
                        .collect::<Result<Vec<MonthDay>, String>>()?;
                    TaggedWindow::Yearly { dates, from, until }
                }
            }
            Tag::Daily => {
                if r.days.is_some() {
                    return Err(not_here("days"));
                }
                if r.dates.is_some() {
                    return Err(not_here("dates"));
                }
                TaggedWindow::Daily {
                    from: from.ok_or_else(|| missing("from"))?,
                    until: until.ok_or_else(|| missing("until"))?,
                }
            }
        };
        Ok(ExceptionWindow::Tagged(w))
    }
}

/// Whether minute `m` of local date `date` is in `from..until` on a day `on` accepts; a range
/// whose end is not after its start crosses midnight, its morning part belonging to the day
/// before.
fn in_range(t: NaiveDateTime, from: u16, until: u16, on: impl Fn(NaiveDate) -> bool) -> bool {
    let date = t.date();
    let minute = (t.hour() * 60 + t.minute()) as u16;
    if from < until {
        on(date) && (from..until).contains(&minute)
    } else {
        (minute >= from && on(date)) || (minute < until && date.pred_opt().is_some_and(on))
    }
}

impl TaggedWindow {
    fn times(&self) -> (Option<ClockTime>, Option<ClockTime>) {
        match self {
            TaggedWindow::Weekly { from, until, .. }
            | TaggedWindow::MonthDays { from, until, .. }
            | TaggedWindow::Dates { from, until, .. }
            | TaggedWindow::Yearly { from, until, .. } => (*from, *until),
            TaggedWindow::Daily { from, until } => (Some(*from), Some(*until)),
        }
    }

    /// Whether the window opens on local date `d`.
    fn on(&self, d: NaiveDate) -> bool {
        match self {
            TaggedWindow::Weekly { days, .. } => days.contains(&Day::of(d.weekday())),
            TaggedWindow::MonthDays { days, .. } => days.iter().any(|&m| u32::from(m) == d.day()),
            TaggedWindow::Dates { dates, .. } => dates.contains(&d),
            TaggedWindow::Yearly { dates, .. } => dates
                .iter()
                .any(|md| md.month == d.month() && md.day == d.day()),
            TaggedWindow::Daily { .. } => true,
        }
    }

    /// Whether local wall-clock time `t` is inside the window.
    pub fn contains_local(&self, t: NaiveDateTime) -> bool {
        match self.times() {
            (Some(from), Some(until)) => {
                in_range(t, from.minutes(), until.minutes(), |d| self.on(d))
            }
            _ => self.on(t.date()),
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            TaggedWindow::Weekly { days, .. } if days.is_empty() => {
                return bad("days", "name at least one day (or use a daily window)");
            }
            TaggedWindow::MonthDays { days, .. } => {
                if days.is_empty() {
                    return bad("days", "name at least one day of the month");
                }
                if let Some(i) = days.iter().position(|d| !(1..=31).contains(d)) {
                    return bad(format!("days[{i}]"), "must be 1 to 31");
                }
            }
            TaggedWindow::Dates { dates, .. } if dates.is_empty() => {
                return bad("dates", "name at least one date");
            }
            TaggedWindow::Yearly { dates, .. } if dates.is_empty() => {
                return bad("dates", "name at least one date (MM-DD)");
            }
            _ => {}
        }
        match self.times() {
            (Some(f), Some(u)) if f == u => bad(
                "until",
                "must differ from `from` (leave both out for the whole day)",
            ),
            (Some(_), None) => bad("until", "is needed with `from`"),
            (None, Some(_)) => bad("from", "is needed with `until`"),
            _ => Ok(()),
        }
    }
}

/// Days in the month of `d`.
fn days_in_month(d: NaiveDate) -> i32 {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|n| n.pred_opt())
        .map_or(31, |l| l.day() as i32)
}

impl TimeInterval {
    /// Whether every day field given holds on local date `d` (Alertmanager's `ContainsTime`
    /// without the times).
    fn on(&self, d: NaiveDate) -> bool {
        let any = |list: &Option<Vec<(i32, i32)>>, v: i32| match list {
            None => true,
            Some(rs) => rs.iter().any(|(b, e)| (*b..=*e).contains(&v)),
        };
        let weekday = d.weekday().num_days_from_sunday() as i32;
        if !any(
            &self
                .weekdays
                .as_ref()
                .map(|v| v.iter().map(|r| (r.begin, r.end)).collect()),
            weekday,
        ) {
            return false;
        }
        if let Some(ranges) = &self.days_of_month {
            let dim = days_in_month(d);
            let day = d.day() as i32;
            let hit = ranges.iter().any(|r| {
                let from_end = |v: i32| if v < 0 { dim + v + 1 } else { v };
                let (begin, end) = (from_end(r.begin), from_end(r.end));
                // As Alertmanager: a start after the month's end is skipped that month, and
                // both ends are clamped so a range never reaches into another month.
                if begin > dim {
                    return false;
                }
                let (begin, end) = (begin.clamp(-dim, dim), end.clamp(-dim, dim));
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        if !any(
            &self
                .months
                .as_ref()
                .map(|v| v.iter().map(|r| (r.begin, r.end)).collect()),
            d.month() as i32,
        ) {
            return false;
        }
        any(
            &self
                .years
                .as_ref()
                .map(|v| v.iter().map(|r| (r.begin, r.end)).collect()),
            d.year(),
        )
    }

    /// Whether local wall-clock time `t` (in [`TimeInterval::zone`]) is inside the interval.
    pub fn contains_local(&self, t: NaiveDateTime) -> bool {
        match &self.times {
            None => self.on(t.date()),
            Some(ranges) => ranges.iter().any(|r| {
                in_range(t, r.start_time.minutes(), r.end_time.minutes(), |d| {
                    self.on(d)
                })
            }),
        }
    }

    /// The interval's own zone, when it names one.
    pub fn zone(&self) -> Option<Tz> {
        self.location.as_deref().and_then(|z| parse_tz(z).ok())
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        let lists = [
            ("times", self.times.as_ref().map(Vec::len)),
            ("weekdays", self.weekdays.as_ref().map(Vec::len)),
            ("days_of_month", self.days_of_month.as_ref().map(Vec::len)),
            ("months", self.months.as_ref().map(Vec::len)),
            ("years", self.years.as_ref().map(Vec::len)),
        ];
        for (name, len) in lists {
            if len == Some(0) {
                return bad(name, "an empty list matches nothing; leave the field out");
            }
        }
        for (i, r) in self.times.iter().flatten().enumerate() {
            if r.start_time.minutes() == 24 * 60 {
                return bad(
                    format!("times[{i}].start_time"),
                    "24:00 is only an end (start at 00:00)",
                );
            }
            if r.start_time == r.end_time {
                return bad(
                    format!("times[{i}].end_time"),
                    "must differ from start_time (an end before the start crosses midnight)",
                );
            }
        }
        if let Some(z) = &self.location {
            parse_tz(z).map_err(|m| FieldError::new("location", m))?;
        }
        Ok(())
    }
}

impl ExceptionWindow {
    /// Whether the window holds instant `now`, read in zone `tz` (or the interval's own
    /// `location`).
    pub fn active_at(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        match self {
            ExceptionWindow::Tagged(w) => w.contains_local(now.with_timezone(&tz).naive_local()),
            ExceptionWindow::Interval(i) => {
                let tz = i.zone().unwrap_or(tz);
                i.contains_local(now.with_timezone(&tz).naive_local())
            }
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ExceptionWindow::Tagged(w) => w.validate(),
            ExceptionWindow::Interval(i) => i.validate(),
        }
    }
}

/// Whether any of `windows` holds `now` in zone `tz`.
pub fn active_at(windows: &[ExceptionWindow], tz: Tz, now: DateTime<Utc>) -> bool {
    windows.iter().any(|w| w.active_at(tz, now))
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn w(json: &str) -> ExceptionWindow {
        let w: ExceptionWindow = serde_json::from_str(json).unwrap();
        w.validate().unwrap();
        w
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const TAIPEI: Tz = chrono_tz::Asia::Taipei;
    const NY: Tz = chrono_tz::America::New_York;

    #[test]
    fn weekend_all_day_in_the_rules_zone() {
        let weekend = w(r#"{"type":"weekly","days":["sat","sun"]}"#);
        // 2026-11-27 is a Friday. 16:30Z Friday is 00:30 Saturday in Taipei.
        assert!(!weekend.active_at(TAIPEI, utc("2026-11-27T15:59:00Z")));
        assert!(weekend.active_at(TAIPEI, utc("2026-11-27T16:30:00Z")));
        assert!(!weekend.active_at(Tz::UTC, utc("2026-11-27T16:30:00Z")));
        assert!(weekend.active_at(TAIPEI, utc("2026-11-29T15:59:00Z")));
        assert!(!weekend.active_at(TAIPEI, utc("2026-11-29T16:00:00Z")));
    }

    #[test]
    fn a_date_and_days_of_the_month() {
        let xmas = w(r#"{"type":"dates","dates":["2026-12-25"]}"#);
        assert!(xmas.active_at(TAIPEI, utc("2026-12-24T16:00:00Z")));
        assert!(xmas.active_at(TAIPEI, utc("2026-12-25T15:59:59Z")));
        assert!(!xmas.active_at(TAIPEI, utc("2026-12-25T16:00:00Z")));
        assert!(!xmas.active_at(TAIPEI, utc("2026-12-24T15:59:59Z")));
        let first = w(r#"{"type":"month_days","days":[1,31],"from":"09:00","until":"10:00"}"#);
        assert!(first.active_at(Tz::UTC, utc("2026-12-01T09:30:00Z")));
        assert!(!first.active_at(Tz::UTC, utc("2026-12-01T10:00:00Z")));
        assert!(first.active_at(Tz::UTC, utc("2026-12-31T09:00:00Z")));
        assert!(!first.active_at(Tz::UTC, utc("2026-12-02T09:30:00Z")));
    }

    #[test]
    fn night_window_crosses_midnight() {
        let night = w(r#"{"type":"daily","from":"22:00","until":"06:00"}"#);
        let at = |h, m| {
            TAIPEI
                .with_ymd_and_hms(2026, 11, 25, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(!night.active_at(TAIPEI, at(21, 59)));
        assert!(night.active_at(TAIPEI, at(22, 0)));
        assert!(night.active_at(TAIPEI, at(23, 59)));
        assert!(night.active_at(TAIPEI, at(0, 0)));
        assert!(night.active_at(TAIPEI, at(5, 59)));
        assert!(!night.active_at(TAIPEI, at(6, 0)));
        assert!(!night.active_at(TAIPEI, at(12, 0)));
        // Friday night's window runs into Saturday morning, not Sunday night's.
        let fri = w(r#"{"type":"weekly","days":["fri"],"from":"22:00","until":"06:00"}"#);
        assert!(fri.active_at(Tz::UTC, utc("2026-11-27T23:00:00Z")));
        assert!(fri.active_at(Tz::UTC, utc("2026-11-28T05:00:00Z")));
        assert!(!fri.active_at(Tz::UTC, utc("2026-11-28T23:00:00Z")));
        assert!(!fri.active_at(Tz::UTC, utc("2026-11-27T05:00:00Z")));
    }

    #[test]
    fn spring_forward_skipped_times_are_not_covered() {
        // 2026-03-08: New York jumps 02:00 EST (07:00Z) → 03:00 EDT.
        let win = w(r#"{"type":"dates","dates":["2026-03-08"],"from":"01:30","until":"02:30"}"#);
        assert!(!win.active_at(NY, utc("2026-03-08T06:29:00Z"))); // 01:29 EST
        assert!(win.active_at(NY, utc("2026-03-08T06:30:00Z"))); // 01:30 EST
        assert!(win.active_at(NY, utc("2026-03-08T06:59:59Z"))); // 01:59:59 EST
        assert!(!win.active_at(NY, utc("2026-03-08T07:00:00Z"))); // 03:00 EDT
        assert!(!win.active_at(NY, utc("2026-03-08T07:30:00Z"))); // 03:30 EDT
                                                                  // A daily window inside the skipped hour is simply not open that day.
        let gap = w(r#"{"type":"daily","from":"02:10","until":"02:50"}"#);
        let open = (0..24 * 60)
            .map(|m| utc("2026-03-08T05:00:00Z") + chrono::Duration::minutes(m))
            .filter(|t| gap.active_at(NY, *t))
            .count();
        assert_eq!(open, 0);
    }

    #[test]
    fn fall_back_repeated_times_are_covered_twice() {
        // 2026-11-01: New York goes back 02:00 EDT (06:00Z) → 01:00 EST.
        let win = w(r#"{"type":"dates","dates":["2026-11-01"],"from":"01:00","until":"01:59"}"#);
        assert!(!win.active_at(NY, utc("2026-11-01T04:59:00Z"))); // 00:59 EDT
        assert!(win.active_at(NY, utc("2026-11-01T05:00:00Z"))); // 01:00 EDT
        assert!(win.active_at(NY, utc("2026-11-01T05:58:59Z"))); // 01:58 EDT
        assert!(!win.active_at(NY, utc("2026-11-01T05:59:00Z"))); // 01:59 EDT
        assert!(win.active_at(NY, utc("2026-11-01T06:00:00Z"))); // 01:00 EST
        assert!(win.active_at(NY, utc("2026-11-01T06:58:00Z"))); // 01:58 EST
        assert!(!win.active_at(NY, utc("2026-11-01T06:59:00Z"))); // 01:59 EST
        let open = (0..24 * 60)
            .map(|m| utc("2026-11-01T04:00:00Z") + chrono::Duration::minutes(m))
            .filter(|t| win.active_at(NY, *t))
            .count();
        assert_eq!(open, 2 * 59);
        // Europe/Berlin falls back the week before; the same rule holds there.
        let berlin = w(r#"{"type":"daily","from":"02:00","until":"03:00"}"#);
        let open = (0..24 * 60)
            .map(|m| utc("2026-10-24T22:00:00Z") + chrono::Duration::minutes(m))
            .filter(|t| berlin.active_at(chrono_tz::Europe::Berlin, *t))
            .count();
        assert_eq!(open, 120);
    }

    #[test]
    fn any_window_of_a_list() {
        let ws = vec![
            w(r#"{"type":"weekly","days":["sun"]}"#),
            w(r#"{"type":"dates","dates":["2026-11-25"]}"#),
        ];
        assert!(active_at(&ws, Tz::UTC, utc("2026-11-25T12:00:00Z")));
        assert!(active_at(&ws, Tz::UTC, utc("2026-11-29T12:00:00Z")));
        assert!(!active_at(&ws, Tz::UTC, utc("2026-11-26T12:00:00Z")));
        assert!(!active_at(&[], Tz::UTC, utc("2026-11-26T12:00:00Z")));
    }

    #[test]
    fn bad_windows_name_the_field() {
        let e = |json: &str| match serde_json::from_str::<ExceptionWindow>(json) {
            Ok(w) => w.validate().unwrap_err().field,
            Err(e) => format!("serde: {e}"),
        };
        assert_eq!(e(r#"{"type":"weekly","days":[]}"#), "days");
        assert!(e(r#"{"type":"month_days","days":[1,32]}"#).contains("days[1]: must be 1 to 31"));
        assert_eq!(
            e(r#"{"type":"daily","from":"22:00","until":"22:00"}"#),
            "until"
        );
        assert_eq!(
            e(r#"{"type":"weekly","days":["mon"],"from":"22:00"}"#),
            "until"
        );
        assert!(e(r#"{"type":"weekly","days":["mon"],"form":"22:00"}"#).starts_with("serde"));
        assert!(e(r#"{"type":"daily","from":"25:00","until":"01:00"}"#).starts_with("serde"));
    }

    /// A window as the API reads it: serde with the path of its error, then validation.
    fn read(v: &serde_json::Value) -> Result<ExceptionWindow, String> {
        let w: ExceptionWindow = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let msg = e.into_inner().to_string();
            // A missing field is reported at its parent, named in the message.
            match msg
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                Some(name) if path.is_empty() => name.to_string(),
                Some(name) => format!("{path}.{name}"),
                None => path,
            }
        })?;
        w.validate().map_err(|e| e.field)?;
        Ok(w)
    }

    fn rfc822(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_str(s, "%d %b %y %H:%M %z")
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_timezone(&Utc)
    }

    #[test]
    fn alertmanagers_own_cases() {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("window_cases.json")).unwrap();
        let mut checked = 0;
        for case in data["cases"].as_array().unwrap() {
            let w = if case["built_in_go"] == true {
                // Alertmanager's test builds this one as a struct; its own parser (and ours)
                // refuses `-31:31`. The containment still holds.
                let (begin, end) = split_range(
                    case["interval"]["days_of_month"][0].as_str().unwrap(),
                    DayOfMonthRange::member,
                )
                .unwrap();
                ExceptionWindow::Interval(TimeInterval {
                    days_of_month: Some(vec![DayOfMonthRange { begin, end }]),
                    months: Some(vec!["6".parse().unwrap()]),
                    ..TimeInterval::default()
                })
            } else {
                read(&case["interval"]).unwrap_or_else(|f| panic!("{case}: {f}"))
            };
            assert!(matches!(w, ExceptionWindow::Interval(_)));
            for (list, want) in [("contains", true), ("excludes", false)] {
                for t in case[list].as_array().unwrap() {
                    let t = t.as_str().unwrap();
                    // Alertmanager reads intervals in UTC unless they name a location.
                    assert_eq!(
                        w.active_at(Tz::UTC, rfc822(t)),
                        want,
                        "{} {list} {t}",
                        case["interval"]
                    );
                    checked += 1;
                }
            }
        }
        for case in data["refused"].as_array().unwrap() {
            assert_eq!(
                read(&case["window"]).unwrap_err(),
                case["field"].as_str().unwrap(),
                "{case}"
            );
            checked += 1;
        }
        for case in data["accepted"].as_array().unwrap() {
            let w = read(case).unwrap_or_else(|f| panic!("{case}: {f}"));
            // Written back, it reads the same.
            assert_eq!(read(&serde_json::to_value(&w).unwrap()).unwrap(), w);
            checked += 1;
        }
        assert!(checked > 80, "{checked}");
    }

    #[test]
    fn the_issues_examples() {
        let v = |s: &str| read(&serde_json::from_str(s).unwrap()).unwrap();
        let last3 = v(r#"{"days_of_month":["-3:-1"]}"#);
        assert!(last3.active_at(TAIPEI, utc("2027-02-25T16:00:00Z"))); // Feb 26 local
        assert!(!last3.active_at(TAIPEI, utc("2027-02-25T15:59:00Z")));
        assert!(last3.active_at(TAIPEI, utc("2026-12-31T15:59:00Z")));
        assert!(!last3.active_at(TAIPEI, utc("2026-12-28T12:00:00Z")));
        let nov = v(r#"{"months":["november"]}"#);
        assert!(nov.active_at(TAIPEI, utc("2026-10-31T16:00:00Z")));
        assert!(!nov.active_at(TAIPEI, utc("2026-11-30T16:00:00Z")));
        let y2027 = v(r#"{"years":["2027"]}"#);
        assert!(y2027.active_at(TAIPEI, utc("2026-12-31T16:00:00Z")));
        assert!(!y2027.active_at(TAIPEI, utc("2026-12-31T15:59:00Z")));
        let june7 = v(r#"{"type":"yearly","dates":["06-07"]}"#);
        for y in [2026, 2027, 2030] {
            let at = TAIPEI
                .with_ymd_and_hms(y, 6, 7, 12, 0, 0)
                .unwrap()
                .with_timezone(&Utc);
            assert!(june7.active_at(TAIPEI, at));
            assert!(!june7.active_at(TAIPEI, at + chrono::Duration::days(1)));
        }
        let leap = v(r#"{"type":"yearly","dates":["02-29"],"from":"09:00","until":"10:00"}"#);
        assert!(leap.active_at(Tz::UTC, utc("2028-02-29T09:30:00Z")));
        assert!(!leap.active_at(Tz::UTC, utc("2027-03-01T09:30:00Z")));
        // The issue's paste, with its own location overriding the rule's zone.
        let syd = v(
            r#"{"weekdays":["monday:friday"],"times":[{"start_time":"09:00","end_time":"17:00"}],"location":"Australia/Sydney"}"#,
        );
        // Monday 2026-12-07 10:00 Sydney (AEDT, +11) is 23:00Z on Sunday.
        assert!(syd.active_at(TAIPEI, utc("2026-12-06T23:00:00Z")));
        assert!(!syd.active_at(TAIPEI, utc("2026-12-07T06:00:00Z"))); // 17:00 Sydney
    }

    #[test]
    fn an_interval_across_midnight_belongs_to_the_day_it_started() {
        let w = read(&serde_json::json!({
            "weekdays": ["friday"], "months": ["november"],
            "times": [{"start_time": "22:00", "end_time": "06:00"}]
        }))
        .unwrap();
        // Friday 2026-11-27 22:00 → Saturday 06:00 (UTC).
        assert!(w.active_at(Tz::UTC, utc("2026-11-27T22:00:00Z")));
        assert!(w.active_at(Tz::UTC, utc("2026-11-28T05:59:00Z")));
        assert!(!w.active_at(Tz::UTC, utc("2026-11-28T06:00:00Z")));
        assert!(!w.active_at(Tz::UTC, utc("2026-11-27T05:00:00Z")));
        // Friday 2026-11-27 is in November; the night of Monday 2026-11-30 runs into
        // December 1st: that morning is still November's.
        let m = read(&serde_json::json!({
            "months": ["november"],
            "times": [{"start_time": "23:00", "end_time": "01:00"}]
        }))
        .unwrap();
        assert!(m.active_at(Tz::UTC, utc("2026-12-01T00:30:00Z")));
        assert!(!m.active_at(Tz::UTC, utc("2026-11-01T00:30:00Z")));
        let end =
            read(&serde_json::json!({"times": [{"start_time": "22:00", "end_time": "24:00"}]}))
                .unwrap();
        assert!(end.active_at(Tz::UTC, utc("2026-11-27T23:59:59Z")));
        assert!(!end.active_at(Tz::UTC, utc("2026-11-28T00:00:00Z")));
    }

    /// Open minutes of `w` over the 24 hours of UTC from `start`.
    fn open_minutes(w: &ExceptionWindow, tz: Tz, start: &str) -> usize {
        (0..24 * 60)
            .map(|m| utc(start) + chrono::Duration::minutes(m))
            .filter(|t| w.active_at(tz, *t))
            .count()
    }

    #[test]
    fn intervals_on_dst_days() {
        let v = |j: serde_json::Value| read(&j).unwrap();
        // New York 2026-03-08: 02:00 EST → 03:00 EDT; 01:30–02:30 is open 30 real minutes.
        let ny = v(serde_json::json!({"days_of_month":["8"],"months":["march"],
            "times":[{"start_time":"01:30","end_time":"02:30"}],"location":"America/New_York"}));
        assert_eq!(open_minutes(&ny, Tz::UTC, "2026-03-08T04:00:00Z"), 30);
        // New York 2026-11-01: 01:00–02:00 happens twice.
        let ny_fall = v(serde_json::json!({"days_of_month":["1"],"months":["11"],
            "times":[{"start_time":"01:00","end_time":"02:00"}],"location":"America/New_York"}));
        assert_eq!(open_minutes(&ny_fall, Tz::UTC, "2026-11-01T03:00:00Z"), 120);
        // London 2026-03-29: 01:00 GMT → 02:00 BST, the hour 01:00–02:00 does not exist.
        let lon = v(
            serde_json::json!({"times":[{"start_time":"01:00","end_time":"02:00"}],
            "location":"Europe/London"}),
        );
        assert_eq!(open_minutes(&lon, Tz::UTC, "2026-03-28T23:00:00Z"), 0);
        // London 2026-10-25: 02:00 BST → 01:00 GMT, 01:00–02:00 twice.
        assert_eq!(open_minutes(&lon, Tz::UTC, "2026-10-24T22:00:00Z"), 120);
        // A whole London day is 23 hours in spring and 25 in autumn.
        let sun = v(serde_json::json!({"weekdays":["sunday"],"location":"Europe/London"}));
        let day = |start: &str, mins: i64| {
            (0..mins)
                .map(|m| utc(start) + chrono::Duration::minutes(m))
                .filter(|t| sun.active_at(TAIPEI, *t))
                .count()
        };
        assert_eq!(day("2026-03-28T20:00:00Z", 36 * 60), 23 * 60);
        assert_eq!(day("2026-10-24T20:00:00Z", 36 * 60), 25 * 60);
        // Sydney 2026-04-05: 03:00 AEDT → 02:00 AEST (02:00–03:00 twice); 2026-10-04:
        // 02:00 AEST → 03:00 AEDT (02:00–03:00 missing).
        let syd = v(
            serde_json::json!({"times":[{"start_time":"02:00","end_time":"03:00"}],
            "location":"Australia/Sydney"}),
        );
        assert_eq!(open_minutes(&syd, Tz::UTC, "2026-04-04T12:00:00Z"), 120);
        assert_eq!(open_minutes(&syd, Tz::UTC, "2026-10-03T12:00:00Z"), 0);
        // The rule's zone is used when the interval names none.
        let plain = v(serde_json::json!({"times":[{"start_time":"02:00","end_time":"03:00"}]}));
        assert_eq!(
            open_minutes(&plain, chrono_tz::Australia::Sydney, "2026-04-04T12:00:00Z"),
            120
        );
    }

    #[test]
    fn forms_do_not_mix_and_errors_name_the_field() {
        let f = |j: serde_json::Value| read(&j).unwrap_err();
        assert_eq!(
            f(serde_json::json!({"days_of_month":["1","32"]})),
            "days_of_month[1]"
        );
        assert_eq!(
            f(serde_json::json!({"weekdays":["monday","funday"]})),
            "weekdays[1]"
        );
        assert_eq!(f(serde_json::json!({"years":["1969"]})), "years[0]");
        assert_eq!(f(serde_json::json!({"months":["13"]})), "months[0]");
        assert_eq!(f(serde_json::json!({"location":"Mars/Base"})), "location");
        assert_eq!(f(serde_json::json!({"weekdays":[]})), "weekdays");
        assert_eq!(f(serde_json::json!({"wekdays":["monday"]})), "wekdays");
        assert_eq!(
            f(serde_json::json!({"type":"weekly","days":["mon"],"weekdays":["monday"]})),
            ""
        );
        assert_eq!(f(serde_json::json!({"days":["mon"]})), "");
        assert_eq!(
            f(serde_json::json!({"type":"yearly","dates":["2026-06-07"]})),
            ""
        );
        assert_eq!(
            f(serde_json::json!({"type":"yearly","dates":["02-30"]})),
            "dates[0]"
        );
        assert_eq!(f(serde_json::json!({"type":"yearly"})), "dates");
        // The tagged forms keep what they always took (a stored rule stays valid).
        assert!(read(&serde_json::json!({"type":"daily","from":"24:00","until":"01:00"})).is_ok());
        // Numbers as Alertmanager's YAML takes them.
        let w = read(&serde_json::json!({"days_of_month":[1, -1],"years":[2027],"months":[11]}))
            .unwrap();
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            serde_json::json!({"days_of_month":["1","-1"],"years":["2027"],"months":["november"]})
        );
        // The tagged forms write back as before.
        let t = read(
            &serde_json::json!({"type":"weekly","days":["sat"],"from":"22:00","until":"06:00"}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"type":"weekly","days":["sat"],"from":"22:00","until":"06:00"})
        );
        let y = read(&serde_json::json!({"type":"yearly","dates":["06-07"]})).unwrap();
        assert_eq!(
            serde_json::to_value(&y).unwrap(),
            serde_json::json!({"type":"yearly","dates":["06-07"]})
        );
    }

    #[test]
    fn the_schema_shows_both_forms() {
        let schemas: std::collections::BTreeMap<String, serde_json::Value> =
            crate::schema::entity_schemas()
                .into_iter()
                .map(|(n, s)| (n, serde_json::to_value(s).unwrap()))
                .collect();
        let refs: Vec<&str> = schemas["ExceptionWindow"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["$ref"].as_str().unwrap())
            .collect();
        assert_eq!(
            refs,
            [
                "#/components/schemas/TaggedWindow",
                "#/components/schemas/TimeInterval"
            ]
        );
        let interval = &schemas["TimeInterval"];
        assert_eq!(interval["additionalProperties"], false, "{interval}");
        for field in [
            "times",
            "weekdays",
            "days_of_month",
            "months",
            "years",
            "location",
        ] {
            assert!(interval["properties"].get(field).is_some(), "{field}");
        }
        let tagged = schemas["TaggedWindow"]["oneOf"].to_string();
        assert!(
            tagged.contains("\"yearly\"") && tagged.contains("MonthDay"),
            "{tagged}"
        );
        // Each range's pattern takes what the examples of the documentation write.
        for (name, ok, bad) in [
            ("WeekdayRange", "monday:friday", "1:3"),
            ("DayOfMonthRange", "-3:-1", "0"),
            ("MonthRange", "january:march", "13"),
            ("YearRange", "2026:2028", "1969"),
            ("MonthDay", "06-07", "6-7"),
        ] {
            let re = regex::Regex::new(schemas[name]["pattern"].as_str().unwrap()).unwrap();
            assert!(re.is_match(ok) && !re.is_match(bad), "{name}");
        }
    }
}
