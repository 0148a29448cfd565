//! E-mail through a real SMTP server (aiosmtpd).

use crate::helpers::{quick_backoff, SmtpSink};
use gatewatch_alerter::notify::{Directory, Message, NotifyConfig, SmtpConfig, SmtpTls};
use gatewatch_alerter::{Error, Notifiers};
use gatewatch_model::channel::{ChannelSpec, EmailTarget};
use gatewatch_model::{Role, UserSpec};
use std::time::Duration;

fn smtp(port: u16, tls: SmtpTls) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls,
        user: String::new(),
        password: String::new(),
        from: "gatewatch 告警 <alerts@example.tw>".into(),
        timeout: Duration::from_secs(5),
        ca_pem: None,
    }
}

fn notifiers(smtp: SmtpConfig) -> Notifiers {
    Notifiers::new(&NotifyConfig {
        smtp: Some(smtp),
        retries: 1,
        backoff: quick_backoff(),
        ..NotifyConfig::default()
    })
    .unwrap()
}

fn channel(to: &[&str], roles: &[Role]) -> ChannelSpec {
    let c = ChannelSpec {
        name: "ops mail".into(),
        enabled: true,
        lang: "zh-TW".into(),
        email: Some(EmailTarget {
            to: to.iter().map(|s| s.to_string()).collect(),
            roles: roles.to_vec(),
        }),
        line: None,
        webhook: None,
    };
    c.validate().unwrap();
    c
}

fn message() -> Message {
    Message {
        subject: "[告警] 節點 node-1 CPU 使用率 95% 超過 90%".into(),
        text: "規則：CPU 過高\n節點：node-1\n數值：95%（門檻 90%），已持續 180 秒".into(),
        html: Some("<p>規則：<b>CPU 過高</b></p><p>節點：node-1 — 95%</p>".into()),
        dedup_key: "cpu/node-1/firing/1764000000".into(),
        ..Message::default()
    }
}

fn user(role: Role, email: &str, disabled: bool) -> UserSpec {
    serde_json::from_value(serde_json::json!({
        "role": role, "password_hash": "$argon2id$x", "email": email, "disabled": disabled,
    }))
    .unwrap()
}

/// The text part as sent: mail lines end in CRLF on the wire.
fn text_of(m: &serde_json::Value) -> String {
    m["text"]
        .as_str()
        .unwrap()
        .replace("\r\n", "\n")
        .trim_end()
        .to_string()
}

#[tokio::test]
async fn mail_arrives_with_text_and_html_parts_and_chinese_intact() {
    let sink = SmtpSink::start(None, None);
    let n = notifiers(smtp(sink.port, SmtpTls::None));
    let users = [
        user(Role::Ops, "ops1@example.tw", false),
        user(Role::Ops, "gone@example.tw", true),
        user(Role::Manager, "boss@example.tw", false),
    ];
    let dir = Directory::from_users(&users);
    let d = n
        .send(
            &channel(&["oncall@example.tw"], &[Role::Ops]),
            &message(),
            &dir,
        )
        .await
        .unwrap();
    assert_eq!(d.status, 250, "{d:?}");
    assert!(d.answer.contains("stored"), "{d:?}");
    assert_eq!(d.attempts, 1);

    let mails = sink.wait_for(1).await;
    let m = &mails[0];
    let mut rcpt: Vec<&str> = m["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    rcpt.sort();
    // The disabled user and the other role are left out.
    assert_eq!(rcpt, ["oncall@example.tw", "ops1@example.tw"]);
    assert_eq!(m["subject"], message().subject);
    assert_eq!(m["content_type"], "multipart/alternative");
    assert_eq!(text_of(m), message().text);
    assert!(m["html"].as_str().unwrap().contains("<b>CPU 過高</b>"));
    assert!(
        m["from"].as_str().unwrap().contains("gatewatch 告警"),
        "{m}"
    );
    assert_eq!(m["tls"], false);

    // Text only when there is no HTML; the same dedup key gives the same Message-ID.
    let plain = Message {
        html: None,
        ..message()
    };
    n.send(&channel(&["oncall@example.tw"], &[]), &plain, &dir)
        .await
        .unwrap();
    let mails = sink.wait_for(2).await;
    assert_eq!(mails[1]["content_type"], "text/plain");
    assert_eq!(text_of(&mails[1]), plain.text);
    assert_eq!(mails[1]["message_id"], mails[0]["message_id"]);
}

#[tokio::test]
async fn nothing_to_send_to_or_no_server_is_not_configured() {
    let n = Notifiers::new(&NotifyConfig::default()).unwrap();
    let e = n
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotConfigured(_)), "{e}");
    assert!(!e.retryable());

    let sink = SmtpSink::start(None, None);
    let n = notifiers(smtp(sink.port, SmtpTls::None));
    // A role nobody has, and no fixed address.
    let e = n
        .send(
            &channel(&[], &[Role::Support]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotConfigured(_)), "{e}");
}

#[tokio::test]
async fn a_server_that_is_not_there_is_retried_then_given_up() {
    let port = crate::helpers::free_port();
    let n = notifiers(smtp(port, SmtpTls::None));
    let e = n
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!(e.attempts(), 2, "{e}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_for_good() {
    let sink = SmtpSink::start(None, Some(("gw", "s3cret")));
    let mut cfg = smtp(sink.port, SmtpTls::None);
    cfg.user = "gw".into();
    cfg.password = "wrong".into();
    let e = notifiers(cfg.clone())
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Refused { status: 535, .. }), "{e}");
    assert_eq!(e.attempts(), 1);
    cfg.password = "s3cret".into();
    notifiers(cfg)
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap();
    assert_eq!(sink.wait_for(1).await[0]["authenticated"], true);
}

/// A private CA made now; the server's certificate for 127.0.0.1 signed by it.
fn test_ca(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, ca.pem())
}

#[tokio::test]
async fn starttls_with_a_private_ca_and_login() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem) = test_ca(certs.path());
    let sink = SmtpSink::start(Some((&cert, &key)), Some(("gw", "s3cret")));
    let mut cfg = smtp(sink.port, SmtpTls::Starttls);
    cfg.user = "gw".into();
    cfg.password = "s3cret".into();

    // Without the CA the server's certificate is not trusted: refused, not sent.
    let e = notifiers(cfg.clone())
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert!(sink.mails().is_empty());

    cfg.ca_pem = Some(ca_pem.into_bytes());
    let d = notifiers(cfg)
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap();
    assert_eq!(d.status, 250);
    let m = &sink.wait_for(1).await[0];
    assert_eq!(m["tls"], true);
    assert_eq!(m["authenticated"], true);
    assert_eq!(m["subject"], message().subject);
}

#[tokio::test]
async fn tls_from_the_first_byte() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem) = test_ca(certs.path());
    let sink = SmtpSink::start_with(Some((&cert, &key)), None, true);
    let mut cfg = smtp(sink.port, SmtpTls::Tls);
    cfg.ca_pem = Some(ca_pem.into_bytes());
    let d = notifiers(cfg)
        .send(
            &channel(&["a@example.tw"], &[]),
            &message(),
            &Directory::default(),
        )
        .await
        .unwrap();
    assert_eq!(d.status, 250);
    let m = &sink.wait_for(1).await[0];
    assert_eq!(m["tls"], true);
    assert_eq!(m["subject"], message().subject);
}
