//! Where webhooks may go, attacked: every spelling of loopback is refused before anything is
//! sent (names at connect time, by the client's resolver), a redirect to an internal address
//! is not followed, and sealed credential headers open only for their own destination.

use crate::helpers::{quick_backoff, serve};
use crate::webhook::{channel, loopback_allowed, message, receiver};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use gatewatch_alerter::notify::{Directory, NotifyConfig};
use gatewatch_alerter::{Error, Notifiers};
use gatewatch_model::outbound::Policy;
use gatewatch_model::sealed::SealKey;
use serde_json::json;

fn notifiers(outbound: Policy, seal_key: Option<SealKey>) -> Notifiers {
    Notifiers::new(&NotifyConfig {
        backoff: quick_backoff(),
        outbound,
        seal_key,
        ..NotifyConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn loopback_in_every_spelling_is_refused_and_nothing_is_sent() {
    let (r, url) = receiver(vec![]).await;
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook");
    let n = notifiers(Policy::default(), None);
    for host in [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "127.0.0.1.",
        "[::ffff:127.0.0.1]",
        "[::1]",
        // Names: refused by the resolver when the connection is made.
        "localhost",
    ] {
        let c = channel(json!({"url": format!("http://{host}:{port}/hook"), "retries": 3}));
        let e = n
            .send(&c, &message(), &Directory::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{host}: {e}");
        assert!(!e.retryable() && e.attempts() == 0, "{host}: {e}");
        assert!(
            e.to_string().starts_with("not sent: webhook.url: "),
            "{host}: {e}"
        );
    }
    // A trailing-dot name: refused by the guard where it resolves to loopback, unresolvable
    // where it does not; sent nowhere either way.
    let c = channel(json!({"url": format!("http://localhost.:{port}/hook"), "retries": 0}));
    assert!(n.send(&c, &message(), &Directory::default()).await.is_err());
    assert!(
        r.lock().unwrap().seen.is_empty(),
        "nothing reached loopback"
    );

    // The site allows loopback: the same receiver gets it.
    let open = notifiers(loopback_allowed(), None);
    for host in ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"] {
        let c = channel(json!({"url": format!("http://{host}:{port}/hook")}));
        let d = open
            .send(&c, &message(), &Directory::default())
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(d.status, 200);
    }
    assert_eq!(r.lock().unwrap().seen.len(), 3);
}

#[tokio::test]
async fn a_redirect_is_the_answer_and_is_not_followed() {
    let (inner, inner_url) = receiver(vec![]).await;
    let app = Router::new().route(
        "/hook",
        post(move || {
            let to = inner_url.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)], "moved") }
        }),
    );
    let outer = serve(app).await;
    let n = notifiers(loopback_allowed(), None);
    let c = channel(json!({"url": format!("http://{outer}/hook"), "retries": 2}));
    let e = n
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Refused {
                status: 307,
                attempts: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        inner.lock().unwrap().seen.is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn sealed_headers_open_only_for_their_destination() {
    let (r, url) = receiver(vec![]).await;
    let key = SealKey::from_pepper(b"the site's pepper, 32 bytes long");
    let mut c = channel(
        json!({"url": url, "headers": {"Authorization": "Bearer s3cr3t", "X-Team": "ops"}}),
    );
    let mut n = 0u8;
    c.webhook
        .as_mut()
        .unwrap()
        .seal_headers(&key, || {
            n += 1;
            [n; 24]
        })
        .unwrap();
    let stored = serde_json::to_string(&c).unwrap();
    assert!(!stored.contains("s3cr3t"), "{stored}");

    let d = notifiers(loopback_allowed(), Some(key.clone()))
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    {
        let seen = &r.lock().unwrap().seen;
        assert_eq!(seen[0].1["authorization"], "Bearer s3cr3t");
        assert_eq!(seen[0].1["x-team"], "ops");
    }

    // Without the key, under another pepper, or moved to another port: not sent, and the
    // reason names the header, never its value.
    let other = SealKey::from_pepper(b"another site's pepper, 32 bytes");
    let mut moved = c.clone();
    let w = moved.webhook.as_mut().unwrap();
    w.url = w.url.replace("127.0.0.1", "localhost");
    for (what, n, ch) in [
        ("no key", notifiers(loopback_allowed(), None), &c),
        ("other key", notifiers(loopback_allowed(), Some(other)), &c),
        ("moved", notifiers(loopback_allowed(), Some(key)), &moved),
    ] {
        let e = n
            .send(ch, &message(), &Directory::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::NotConfigured(m) if m.contains("Authorization")),
            "{what}: {e}"
        );
        assert!(!e.to_string().contains("s3cr3t"));
    }
    assert_eq!(r.lock().unwrap().seen.len(), 1);
}

/// A real notice (the evaluator's dispatcher) to a channel aimed at loopback: not sent, and
/// what `alert_events.detail` gets names `webhook.url`.
#[tokio::test]
async fn a_real_notice_records_the_refusal() {
    use gatewatch_alerter::{Dispatcher, NotifierDispatch, Outgoing, Recipient};
    let (r, url) = receiver(vec![]).await;
    let d = NotifierDispatch {
        notifiers: notifiers(Policy::default(), None),
    };
    let to = Recipient::Webhook {
        id: "hook".into(),
        spec: Some(json!({"webhook": {"url": url.replace("127.0.0.1", "localhost")}})),
    };
    let out = d
        .send(
            &to,
            &Outgoing {
                subject: "s".into(),
                text: "t".into(),
                html: None,
                dedup_key: "k".into(),
                vars: Default::default(),
                notification_id: uuid::Uuid::nil(),
                group: None,
            },
        )
        .await;
    assert!(!out.sent);
    assert_eq!(out.attempts, 0);
    assert!(
        out.detail
            .starts_with("not sent: webhook.url: localhost resolves to ")
            && out.detail.contains("a loopback address"),
        "{}",
        out.detail
    );
    assert!(r.lock().unwrap().seen.is_empty());
}
