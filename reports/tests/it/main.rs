//! Integration tests of the reports role's scheduler, mail and retention, against the real
//! ClickHouse and a real SMTP server (aiosmtpd).

mod helpers;
mod mail;
mod retention;
mod schedule;
