//! An SMTP server's settings, checked by the binary and used by both roles that send mail
//! (the alerter's notices, the reports' scheduled mail), so they are one type.

use std::time::Duration;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

impl SmtpTls {
    /// The usual port for the mode: 25, 587, 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// `[alerter.smtp]` or `[reports.smtp]`, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Empty: no AUTH.
    pub user: String,
    pub password: String,
    /// `From:` (`gatewatch <alerts@example.tw>` or a bare address).
    pub from: String,
    /// Per SMTP command.
    pub timeout: Duration,
    /// Extra trusted root certificate (PEM), for a server with a private CA or self-signed
    /// certificate; the system's roots are trusted too.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &"********")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .finish()
    }
}
