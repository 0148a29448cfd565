//! Detectors for the gateway's message checks: SQL injection ([`sqli`]) and cross-site
//! scripting ([`xss`]) in one value of a request (a query value, a JSON string, ...).
//!
//! Both follow libinjection's methods — SQL is tokenized and its token types matched against
//! fingerprints of known injections; HTML is tokenized as a browser would, in each context a
//! value can land in, and dangerous tags, attributes and URLs are looked for — in a port
//! written for this crate. No regular expressions, no allocation per call; time is linear in
//! the value's length. The word lists, fingerprints and test cases are libinjection's (see
//! `NOTICE`).

#[cfg(test)]
mod cases;
mod sqli;
mod xss;

pub use sqli::{fingerprints, sqli, Fingerprint};
pub use xss::xss;

/// Loads the detectors' tables now rather than on the first value scanned.
pub fn warm() {
    sqli::warm();
}
