//! E-mail through the site's SMTP server (lettre on tokio and rustls).
//!
//! `tls = "none"` speaks plain SMTP (a relay on the same host or network), `"starttls"`
//! upgrades the connection and refuses a server that cannot, `"tls"` connects over TLS from
//! the first byte (port 465). A mail with an HTML body is `multipart/alternative` (text, then
//! HTML); non-ASCII subjects and bodies are encoded by lettre. One mail goes to all recipients
//! of a send; its `Message-ID` is derived from the message's dedup key, so a re-send after a
//! crash threads with (and is recognised as) the first.

use super::{delivery_key, snippet, Backoff, Delivery, Error, Message, Result};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub use gatewatch_model::smtp::{SmtpConfig, SmtpTls};

/// Sends mail through one SMTP server.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    retries: u32,
    backoff: Backoff,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    pub fn new(config: &SmtpConfig, retries: u32, backoff: Backoff) -> Result<EmailSender> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::NotConfigured(format!("[alerter.smtp] {what}: {e}"))
        };
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
        Ok(EmailSender {
            transport: builder.build(),
            from,
            retries,
            backoff,
        })
    }

    /// One mail to every address of `to`.
    pub async fn send(&self, to: &[String], msg: &Message) -> Result<Delivery> {
        if to.is_empty() {
            return Err(Error::NotConfigured(
                "no recipient (no address, and no user of the roles has one)".into(),
            ));
        }
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(msg.subject.clone())
            .message_id(Some(format!("<{}@gatewatch>", delivery_key(msg, "email"))));
        for a in to {
            let mbox: Mailbox = a
                .parse()
                .map_err(|e| Error::NotConfigured(format!("address {a:?}: {e}")))?;
            builder = builder.to(mbox);
        }
        // A message about several alerts gets an HTML part listing them (escaped), unless the
        // evaluator gave one of its own.
        let html = msg.html.clone().or_else(|| {
            msg.group
                .as_deref()
                .and_then(gatewatch_model::alert::group::render_group_html)
        });
        let mail = match html {
            Some(html) => {
                builder.multipart(MultiPart::alternative_plain_html(msg.text.clone(), html))
            }
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(msg.text.clone()),
        }
        .map_err(|e| Error::NotConfigured(format!("mail: {e}")))?;

        let mut attempts = 0;
        loop {
            attempts += 1;
            let err = match self.transport.send(mail.clone()).await {
                Ok(resp) => {
                    let answer: Vec<&str> = resp.message().collect();
                    return Ok(Delivery {
                        status: code(&resp.code().to_string()),
                        answer: snippet(&answer.join(" ")),
                        attempts,
                    });
                }
                Err(e) => e,
            };
            let status = err.status().map(|c| code(&c.to_string()));
            let reason = describe(&err);
            if err.is_permanent() {
                return Err(Error::Refused {
                    status: status.unwrap_or(0),
                    answer: reason,
                    attempts,
                });
            }
            if attempts > self.retries {
                return Err(Error::GaveUp {
                    status,
                    reason,
                    attempts,
                });
            }
            tracing::debug!(attempts, reason, "SMTP send failed; trying again");
            tokio::time::sleep(self.backoff.wait(attempts)).await;
        }
    }
}

fn code(s: &str) -> u16 {
    s.parse().unwrap_or(0)
}

/// The error with its causes, in a line.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    snippet(&msg)
}
