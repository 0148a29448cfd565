//! Integration tests of the notifiers against real peers: an aiosmtpd SMTP server started by
//! the test, and a fake LINE API and a webhook receiver served inside the test process.

mod email;
mod helpers;
mod line;
mod outage;
mod receivers;
mod webhook;
mod webhook_guard;
