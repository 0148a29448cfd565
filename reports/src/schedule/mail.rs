//! The report mail as MIME, and sending it through the site's SMTP server (lettre on tokio
//! and rustls, like the alerter's mail).
//!
//! The shape (what a mail reader needs to show the chart in the body and offer the CSV):
//!
//! ```text
//! multipart/mixed
//! ├── multipart/related
//! │   ├── multipart/alternative
//! │   │   ├── text/plain      the summary
//! │   │   └── text/html       the summary, <img src="cid:chart@gatewatch">
//! │   └── image/png           inline, Content-ID <chart@gatewatch>
//! └── text/csv                attachment, <report>-<date>.csv, UTF-8 with BOM
//! ```

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// The chart's Content-ID (without the angle brackets).
pub const CHART_CID: &str = "chart@gatewatch";

pub use gatewatch_model::smtp::{SmtpConfig, SmtpTls};

/// Why a mail did not go.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The settings or the mail itself are wrong: trying again will not help.
    #[error("{0}")]
    Setup(String),
    /// The server refused for good (5xx).
    #[error("refused: {0}")]
    Refused(String),
    /// Connection trouble or a temporary refusal (4xx): worth another attempt.
    #[error("{0}")]
    Transient(String),
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Transient(_))
    }
}

/// One report mail's parts, before MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The chart, shown inline in the HTML (which then refers to `cid:` [`CHART_CID`]).
    pub png: Option<Vec<u8>>,
    /// File name and bytes of the CSV attachment.
    pub csv: Option<(String, Vec<u8>)>,
    /// `Message-ID` without brackets: derived from the run, so a repeated send is recognisable.
    pub message_id: String,
}

/// Sends mail through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Mailer, MailError> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| MailError::Setup(format!("smtp {what}: {e}"));
        let from: Mailbox = config.from.parse().map_err(|e| bad("from", &e))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout));
        if config.tls != SmtpTls::None {
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.ca_pem {
                params = params.add_root_certificate(
                    Certificate::from_pem(pem).map_err(|e| bad("ca_file", &e))?,
                );
            }
            let params = params.build_rustls().map_err(|e| bad("tls", &e))?;
            builder = builder.tls(match config.tls {
                SmtpTls::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if !config.user.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.user.clone(),
                config.password.clone(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// The MIME message of `letter` to `to` (see the module doc for its shape).
    pub fn compose(&self, to: &[String], letter: &Letter) -> Result<lettre::Message, MailError> {
        compose(&self.from, to, letter)
    }

    /// One attempt to send `letter` to every address of `to`, as one mail.
    pub async fn send(&self, to: &[String], letter: &Letter) -> Result<(), MailError> {
        let mail = self.compose(to, letter)?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reason = describe(&e);
                Err(if e.is_permanent() {
                    MailError::Refused(reason)
                } else {
                    MailError::Transient(reason)
                })
            }
        }
    }
}

/// Builds the MIME message.
pub fn compose(
    from: &Mailbox,
    to: &[String],
    letter: &Letter,
) -> Result<lettre::Message, MailError> {
    if to.is_empty() {
        return Err(MailError::Setup(
            "no recipient (no address, and no enabled user of the roles has one)".into(),
        ));
    }
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .subject(letter.subject.clone())
        .message_id(Some(format!("<{}>", letter.message_id)));
    for a in to {
        let mbox: Mailbox = a
            .parse()
            .map_err(|e| MailError::Setup(format!("address {a:?}: {e}")))?;
        builder = builder.to(mbox);
    }
    let alternative = MultiPart::alternative_plain_html(letter.text.clone(), letter.html.clone());
    let body = match &letter.png {
        Some(png) => MultiPart::related().multipart(alternative).singlepart(
            Attachment::new_inline(CHART_CID.to_string()).body(png.clone(), png_type()),
        ),
        None => alternative,
    };
    let body = match &letter.csv {
        Some((name, bytes)) => MultiPart::mixed()
            .multipart(body)
            .singlepart(csv_part(name, bytes)),
        None => body,
    };
    builder
        .multipart(body)
        .map_err(|e| MailError::Setup(format!("mail: {e}")))
}

fn png_type() -> ContentType {
    ContentType::parse("image/png").unwrap_or(ContentType::TEXT_PLAIN)
}

fn csv_part(name: &str, bytes: &[u8]) -> SinglePart {
    let ctype = ContentType::parse("text/csv; charset=utf-8").unwrap_or(ContentType::TEXT_PLAIN);
    Attachment::new(name.to_string()).body(bytes.to_vec(), ctype)
}

/// The error with its causes, in a line.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> Letter {
        Letter {
            subject: "【gatewatch】每日用量".into(),
            text: "text".into(),
            html: format!("<img src=\"cid:{CHART_CID}\">"),
            png: Some(vec![0x89, b'P', b'N', b'G']),
            csv: Some(("usage-2026-11-24.csv".into(), "\u{feff}a,b\r\n".into())),
            message_id: "report-x-1@gatewatch".into(),
        }
    }

    #[test]
    fn the_mail_nests_chart_and_attachment() {
        let from: Mailbox = "gatewatch <reports@example.tw>".parse().unwrap();
        let m = compose(&from, &["a@example.tw".into()], &letter()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        let at = |needle: &str| {
            raw.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing in\n{raw}"))
        };
        assert!(at("multipart/mixed") < at("multipart/related"));
        assert!(at("multipart/related") < at("multipart/alternative"));
        assert!(at("multipart/alternative") < at("image/png"));
        at("Content-ID: <chart@gatewatch>");
        at("filename=\"usage-2026-11-24.csv\"");
        at("Message-ID: <report-x-1@gatewatch>");
        assert!(compose(&from, &[], &letter()).is_err());
        assert!(compose(&from, &["not an address".into()], &letter()).is_err());
    }
}
