//! Wiring of the roles: what `gatewatch up`, `gateway`, `collector`, `alerter`, `reports`,
//! `dashboards`, `portal` and `migrate` start.

use anyhow::Context;
use gatewatch_store::Store;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

use crate::config::Config;
use crate::heartbeat::{self, Heartbeat};

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
    }
}

fn stopped(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Where `migrate` applies the schema: `ON CLUSTER` when `[clickhouse] cluster` is set.
pub fn migrate_options(config: &Config) -> gatewatch_migrations::Options {
    gatewatch_migrations::Options {
        on_cluster: config.store.cluster.clone(),
    }
}

/// `gatewatch migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = Store::new(config.store.clone());
    let report = gatewatch_migrations::migrate(&store, &migrate_options(config))
        .await
        .with_context(|| {
            format!(
                "migrating database {:?} at {}{}",
                config.store.database,
                config.store.url,
                store
                    .cluster()
                    .map(|c| format!(" on cluster {c:?}"))
                    .unwrap_or_default()
            )
        })?;
    println!(
        "schema of {:?} is current: applied {:?}, already there {:?}",
        config.store.database, report.applied, report.already
    );
    Ok(())
}

/// Puts the site's pepper into the gateway's configuration (see [`crate::pepper`]), and the
/// ingest token into the gateway's and the collector's.
fn with_pepper(config: &mut Config) -> anyhow::Result<()> {
    let pepper = crate::pepper::load_pepper(&config.data_dir, &config.security)?;
    let token = ingest_token(config, &pepper);
    config.gateway.ingest_token = token.clone();
    config.collector.ingest_token = token;
    config.gateway.pepper = pepper.into();
    Ok(())
}

/// `[security] ingest_token`, or the one derived from the pepper.
fn ingest_token(config: &Config, pepper: &[u8]) -> String {
    if config.security.ingest_token.is_empty() {
        gatewatch_model::secret::ingest_token(pepper)
    } else {
        config.security.ingest_token.clone()
    }
}

/// `gatewatch gateway`.
pub async fn gateway(mut config: Config) -> anyhow::Result<()> {
    with_pepper(&mut config)?;
    let collectors = match config.gateway.collector_urls.is_empty() {
        true => config.gateway.collector_url.clone(),
        false => config.gateway.collector_urls.join(", "),
    };
    tracing::info!(listen = %config.gateway.listen, routes = config.gateway.routes.len(), collector = %collectors, "gateway starting");
    let store = Store::new(config.store.clone());
    let running = gatewatch_gateway::bind(config.gateway.clone(), shutdown_signal())
        .await
        .context("gateway")?;
    let beat = gateway_heartbeat(&config, &store, &running);
    let done = running.wait().await.context("gateway");
    beat.stop().await;
    done
}

/// The gateway's registry heartbeat: its node groups, its listeners, the APIs it serves.
fn gateway_heartbeat(
    config: &Config,
    store: &Store,
    running: &gatewatch_gateway::Running,
) -> Heartbeat {
    let mut listen = vec![running.local_addr().to_string()];
    listen.extend(running.tls_addr().map(heartbeat::tls));
    listen.push(running.admin_addr().to_string());
    Heartbeat::start(
        config,
        store,
        heartbeat::Role {
            role: "gateway",
            instance: running.local_addr(),
            listen,
            groups: &config.gateway.node_groups,
            apis: Some(running.served_apis()),
        },
    )
}

/// The registry heartbeat of a role other than the gateway: no groups, no APIs.
fn role_heartbeat(
    config: &Config,
    store: &Store,
    role: &'static str,
    addr: std::net::SocketAddr,
    tls_addr: Option<std::net::SocketAddr>,
) -> Heartbeat {
    let mut listen = vec![addr.to_string()];
    listen.extend(tls_addr.map(heartbeat::tls));
    Heartbeat::start(
        config,
        store,
        heartbeat::Role {
            role,
            instance: addr,
            listen,
            groups: &[],
            apis: None,
        },
    )
}

/// `gatewatch collector`.
pub async fn collector(mut config: Config) -> anyhow::Result<()> {
    if config.security.ingest_token.is_empty() {
        // The token is derived from the pepper: the one the gateways of this site share.
        let pepper = crate::pepper::load_pepper(&config.data_dir, &config.security)?;
        config.collector.ingest_token = ingest_token(&config, &pepper);
    } else {
        config.collector.ingest_token = config.security.ingest_token.clone();
    }
    let store = Store::new(config.store.clone());
    let running = gatewatch_collector::bind(config.collector.clone(), store.clone())
        .await
        .context("collector")?;
    tracing::info!(listen = %running.local_addr(), wal = %config.collector.wal.dir.display(), "collector listening");
    let beat = role_heartbeat(
        &config,
        &store,
        "collector",
        running.local_addr(),
        running.tls_addr(),
    );
    let done = running.serve(shutdown_signal()).await.context("collector");
    beat.stop().await;
    done
}

/// The alerter's evaluator. Its name in the lease is `node:pid:random`, unique per process;
/// it gives the lease up when it stops, so a restarted alerter takes over at once.
fn alerter_engine(
    config: &Config,
    store: &Store,
) -> anyhow::Result<gatewatch_alerter::Engine<gatewatch_alerter::NotifierDispatch>> {
    let holder = format!(
        "{}:{}:{}",
        config.node,
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let mut c =
        gatewatch_alerter::EngineConfig::new(holder, config.data_dir.clone(), &config.store);
    c.eval_interval = config.alerter_eval_interval;
    c.lease_ttl = config.alerter_lease_ttl;
    c.site_tz = config.timezone;
    c.link_base = config.alerter_link_base.clone();
    c.site_lang = config.alerter_language;
    let notifiers = notifiers(config)?;
    tracing::info!(notifiers = %config.alerter.describe(), "alerter");
    Ok(gatewatch_alerter::Engine::new(
        store.clone(),
        c,
        std::sync::Arc::new(gatewatch_alerter::NotifierDispatch { notifiers }),
    ))
}

/// The alerter's notifiers, with the key that opens sealed webhook headers (from the pepper).
fn notifiers(config: &Config) -> anyhow::Result<gatewatch_alerter::Notifiers> {
    let pepper = crate::pepper::load_pepper(&config.data_dir, &config.security)?;
    let mut notify = config.alerter.notify.clone();
    notify.seal_key = Some(gatewatch_model::sealed::SealKey::from_pepper(&pepper));
    gatewatch_alerter::Notifiers::new(&notify)
        .context("alerter notifiers ([alerter.smtp], [alerter.line])")
}

/// The alerter's `POST /v1/test-send` (its own notifiers; the bearer is derived from the
/// site pepper, which the dashboards share).
fn alerter_test_send(
    config: &Config,
    store: &Store,
    late_events: gatewatch_alerter::engine::EventSink,
) -> anyhow::Result<crate::health::TestSend> {
    let pepper = crate::pepper::load_pepper(&config.data_dir, &config.security)?;
    let notifiers = notifiers(config)?;
    Ok(std::sync::Arc::new(gatewatch_alerter::TestSend {
        store: store.clone(),
        notifiers,
        pepper,
        data_dir: config.data_dir.clone(),
        site_tz: config.timezone,
        site_lang: config.alerter_language,
        link_base: config.alerter_link_base.clone(),
        alerter: format!("{}:{}:test-send", config.node, std::process::id()),
        late_events: Some(late_events),
    }))
}

/// `gatewatch alerter`: the evaluator, and health and metrics on the alerter port.
pub async fn alerter(config: Config) -> anyhow::Result<()> {
    let store = Store::new(config.store.clone());
    let engine = alerter_engine(&config, &store)?;
    let metrics = engine.metrics();
    let test_send = alerter_test_send(&config, &store, engine.event_sink())?;
    let listener = tokio::net::TcpListener::bind(config.alerter_listen)
        .await
        .with_context(|| format!("alerter: cannot listen on {}", config.alerter_listen))?;
    tracing::info!(addr = %config.alerter_listen, every_ms = config.alerter_eval_interval.as_millis() as u64, "alerter evaluating (health and metrics on this port)");
    let addr = listener.local_addr().unwrap_or(config.alerter_listen);
    let beat = role_heartbeat(&config, &store, "alerter", addr, None);
    let (stop_tx, stop) = watch::channel(false);
    let evaluator = tokio::spawn(engine.run(stopped(&stop)));
    let served = crate::health::serve_with(
        "alerter",
        listener,
        config.alerter_limits,
        shutdown_signal(),
        crate::health::Health::alerter(metrics),
        Some(test_send),
    )
    .await;
    let _ = stop_tx.send(true);
    let _ = evaluator.await;
    beat.stop().await;
    served
}

/// The reports scheduler: report mail and retention. Its name in the lease is
/// `node:pid:random`, unique per process.
fn report_scheduler(
    config: &Config,
    store: &Store,
) -> anyhow::Result<gatewatch_reports::schedule::Scheduler> {
    use gatewatch_reports::schedule::{Catalog, ScheduleConfig, Scheduler};
    let holder = format!(
        "{}:{}:{}",
        config.node,
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let mut c = ScheduleConfig::new(holder, config.timezone);
    c.poll = config.reports_poll;
    c.lease_ttl = config.reports_lease_ttl;
    c.retries = config.reports_retries;
    c.backoff_first = config.reports_backoff;
    c.catch_up = config.reports_catch_up;
    c.smtp = config.reports_smtp.clone();
    c.retention = config.retention;
    tracing::info!(smtp = ?c.smtp.as_ref().map(|s| format!("{}:{}", s.host, s.port)), retention = ?c.retention, "reports scheduler");
    Scheduler::new(store.clone(), c, std::sync::Arc::new(Catalog))
        .context("reports scheduler ([reports.smtp] or [alerter.smtp])")
}

/// `gatewatch reports`: the report mail scheduler and retention, and health and metrics on
/// the reports port.
pub async fn reports(config: Config) -> anyhow::Result<()> {
    // Scheduled mail draws PNG charts: find the font (or warn) at start.
    gatewatch_reports::chart::font::init(config.reports_font.as_deref());
    let store = Store::new(config.store.clone());
    let scheduler = report_scheduler(&config, &store)?;
    let metrics = scheduler.metrics();
    let listener = tokio::net::TcpListener::bind(config.reports_listen)
        .await
        .with_context(|| format!("reports: cannot listen on {}", config.reports_listen))?;
    tracing::info!(addr = %config.reports_listen, "reports scheduling (health and metrics on this port)");
    let addr = listener.local_addr().unwrap_or(config.reports_listen);
    let beat = role_heartbeat(&config, &store, "reports", addr, None);
    let (stop_tx, stop) = watch::channel(false);
    let running = tokio::spawn(scheduler.run(stopped(&stop)));
    let served = crate::health::serve_with(
        "reports",
        listener,
        config.reports_limits,
        shutdown_signal(),
        crate::health::Health::reports(metrics, config.reports_poll),
        None,
    )
    .await;
    let _ = stop_tx.send(true);
    match running.await {
        Ok(Err(e)) => tracing::error!(error = %e, "reports scheduler"),
        Err(e) => tracing::error!(error = %e, "reports scheduler task"),
        Ok(Ok(())) => {}
    }
    beat.stop().await;
    served
}

/// The dashboards role's configuration, with the site pepper loaded (or created).
fn dashboards_config(config: &Config) -> anyhow::Result<gatewatch_dashboards::DashboardsConfig> {
    let pepper = crate::pepper::load_pepper(&config.data_dir, &config.security)?;
    let mut d = gatewatch_dashboards::DashboardsConfig::new(config.dashboards_listen, pepper);
    d.secure_cookies = config.dashboards_secure_cookies;
    d.session_ttl = config.dashboards_session_ttl;
    d.alerter_url = config.dashboards_alerter_url.clone();
    d.trusted_proxies = config.dashboards_trusted_proxies.clone();
    d.max_password_checks = config.dashboards_max_password_checks;
    d.password_check_wait = config.dashboards_password_check_wait;
    d.site_timezone = config.timezone.name().to_string();
    // A node is silent after three missed samples.
    d.node_silent_after = config.gateway.sample_interval * 3;
    d.alert_link_base = config.alerter_link_base.clone();
    d.alert_language = config.alerter_language;
    d.limits = config.dashboards_limits;
    d.outbound = config.alerter.notify.outbound.clone();
    d.tls = config.dashboards_tls.clone();
    d.oauth_signing_alg = config.gateway.oauth.signing_alg.clone();
    d.oauth_token_ttl = config.gateway.oauth.token_ttl;
    Ok(d)
}

/// The report API and the subscriptions' "run now", served by the dashboards role behind its
/// role check.
fn report_mount(config: &Config, store: &Store) -> anyhow::Result<gatewatch_dashboards::Mount> {
    use gatewatch_dashboards::access::{Access, Doc, Rule};
    // Charts need their font: found (and any problem logged) at start, not on first request.
    gatewatch_reports::chart::font::init(config.reports_font.as_deref());
    let api = gatewatch_reports::http::ReportsApi {
        store: store.clone(),
        site_tz: config.timezone,
    };
    let run_now = std::sync::Arc::new(report_scheduler(config, store)?);
    let rules = gatewatch_reports::http::access()
        .into_iter()
        .chain(gatewatch_reports::schedule::http::access())
        .map(|r| {
            let mut doc = Doc::new(r.summary);
            doc.params(r.params).errors(&r.errors);
            for (status, answer) in r.ok {
                doc.ok(status, answer);
            }
            Rule {
                method: r.method,
                path: r.path.to_string(),
                access: Access::Perm(r.permission),
                doc,
            }
        })
        .collect();
    Ok(gatewatch_dashboards::Mount {
        router: gatewatch_reports::http::router(api)
            .merge(gatewatch_reports::schedule::http::router(run_now)),
        rules,
        schemas: gatewatch_reports::doc::schemas(),
    })
}

/// Creates `admin` on a site that never had a user, printing its password once on stdout.
/// While ClickHouse is away or not migrated yet, tries again every few seconds.
async fn first_admin(store: Store) {
    let mut warned = false;
    loop {
        match gatewatch_dashboards::ensure_first_admin(&store).await {
            Ok(Some(password)) => {
                println!("gatewatch: created user \"admin\" (role admin) with password {password} — shown once; change it with POST /api/v1/me/password");
                tracing::warn!("created user \"admin\"; its password was printed on stdout once");
                return;
            }
            Ok(None) => return,
            Err(e) => {
                if !warned {
                    tracing::error!(error = %e, "cannot check for a first admin yet; retrying (or add one with `gatewatch user add NAME --role admin`)");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }
    }
}

/// `gatewatch dashboards`.
pub async fn dashboards(config: Config) -> anyhow::Result<()> {
    let store = Store::new(config.store.clone());
    let running = gatewatch_dashboards::bind_with(
        dashboards_config(&config)?,
        store.clone(),
        vec![report_mount(&config, &store)?],
    )
    .await
    .context("dashboards")?;
    // Waited for briefly when ClickHouse answers, so the password comes before "listening".
    let mut admin = tokio::spawn(first_admin(store.clone()));
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut admin).await;
    tracing::info!(listen = %running.local_addr(), "dashboards listening (admin API under /api/v1/)");
    let beat = role_heartbeat(
        &config,
        &store,
        "dashboards",
        running.local_addr(),
        running.tls_addr(),
    );
    let served = running.serve(shutdown_signal()).await.context("dashboards");
    admin.abort();
    beat.stop().await;
    served
}

/// `gatewatch portal`: the developer portal (its catalogue comes from the configuration log).
pub async fn portal(config: Config) -> anyhow::Result<()> {
    let store = Store::new(config.store.clone());
    let running = gatewatch_portal::bind(config.portal.clone(), store.clone())
        .await
        .context("portal")?;
    tracing::info!(listen = %running.local_addr(), "portal listening");
    let beat = role_heartbeat(&config, &store, "portal", running.local_addr(), None);
    let served = running.serve(shutdown_signal()).await.context("portal");
    beat.stop().await;
    served
}

/// `gatewatch up`: migrate, then every role in this process. On shutdown the gateway stops
/// first (flushing its records to the collector), then the rest.
pub async fn up(mut config: Config, demo: bool) -> anyhow::Result<()> {
    tracing::info!(node = %config.node, data_dir = %config.data_dir.display(), timezone = %config.timezone, "gatewatch up");
    with_pepper(&mut config)?;
    let store = Store::new(config.store.clone());
    wait_for_clickhouse(&store).await?;
    migrate(&config).await?;

    let demo_upstream = if demo {
        Some(crate::demo::start_upstream(&mut config).await?)
    } else {
        None
    };

    let (stop_gw_tx, stop_gw) = watch::channel(false);
    let (stop_rest_tx, stop_rest) = watch::channel(false);

    let collector = gatewatch_collector::bind(config.collector.clone(), store.clone())
        .await
        .context("collector")?;
    tracing::info!(listen = %collector.local_addr(), "collector listening");
    let mut beats = vec![role_heartbeat(
        &config,
        &store,
        "collector",
        collector.local_addr(),
        collector.tls_addr(),
    )];
    let collector = tokio::spawn(collector.serve(stopped(&stop_rest)));

    let dashboards = gatewatch_dashboards::bind_with(
        dashboards_config(&config)?,
        store.clone(),
        vec![report_mount(&config, &store)?],
    )
    .await
    .context("dashboards")?;
    first_admin(store.clone()).await;
    tracing::info!(listen = %dashboards.local_addr(), "dashboards listening (admin API under /api/v1/)");
    beats.push(role_heartbeat(
        &config,
        &store,
        "dashboards",
        dashboards.local_addr(),
        dashboards.tls_addr(),
    ));
    let dashboards = tokio::spawn(dashboards.serve(stopped(&stop_rest)));

    let portal = gatewatch_portal::bind(config.portal.clone(), store.clone())
        .await
        .context("portal")?;
    tracing::info!(listen = %portal.local_addr(), "portal listening");
    beats.push(role_heartbeat(
        &config,
        &store,
        "portal",
        portal.local_addr(),
        None,
    ));
    let portal = tokio::spawn(portal.serve(stopped(&stop_rest)));

    let mut others = Vec::new();
    let engine = alerter_engine(&config, &store)?;
    let alerter_metrics = engine.metrics();
    let test_send = alerter_test_send(&config, &store, engine.event_sink())?;
    let evaluator = tokio::spawn(engine.run(stopped(&stop_rest)));
    let scheduler = report_scheduler(&config, &store)?;
    let scheduler_metrics = scheduler.metrics();
    let report_mail = tokio::spawn(scheduler.run(stopped(&stop_rest)));
    for (role, addr, limits, health, test_send) in [
        (
            "alerter",
            config.alerter_listen,
            config.alerter_limits,
            crate::health::Health::alerter(alerter_metrics),
            Some(test_send),
        ),
        (
            "reports",
            config.reports_listen,
            config.reports_limits,
            crate::health::Health::reports(scheduler_metrics, config.reports_poll),
            None,
        ),
    ] {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("{role}: cannot listen on {addr}"))?;
        tracing::info!(%addr, role, "listening (health and metrics)");
        let bound = listener.local_addr().unwrap_or(addr);
        beats.push(role_heartbeat(&config, &store, role, bound, None));
        others.push(tokio::spawn(crate::health::serve_with(
            role,
            listener,
            limits,
            stopped(&stop_rest),
            health,
            test_send,
        )));
    }

    let gateway = gatewatch_gateway::bind(config.gateway.clone(), stopped(&stop_gw))
        .await
        .context("gateway")?;
    let gw_listen = gateway.local_addr();
    let gw_beat = gateway_heartbeat(&config, &store, &gateway);
    let gateway = tokio::spawn(gateway.wait());
    tracing::info!(listen = %gw_listen, admin = %config.gateway.admin_listen, "gateway listening");

    let trickle = if let Some(up) = &demo_upstream {
        let keys = crate::demo::register(&store, &config, up).await?;
        crate::demo::announce(&config, up, &keys.client);
        Some(tokio::spawn(crate::demo::trickle(
            gw_listen,
            keys,
            stopped(&stop_gw),
        )))
    } else {
        None
    };

    shutdown_signal().await;
    let _ = stop_gw_tx.send(true);
    if let Some(t) = trickle {
        let _ = t.await;
    }
    let gw_result = gateway.await;
    gw_beat.stop().await;
    let _ = stop_rest_tx.send(true);
    let col_result = collector.await;
    for o in others {
        let _ = o.await;
    }
    let _ = evaluator.await;
    let _ = report_mail.await;
    if let Ok(Err(e)) = dashboards.await {
        tracing::error!(error = %e, "dashboards");
    }
    if let Ok(Err(e)) = portal.await {
        tracing::error!(error = %e, "portal");
    }
    for beat in beats {
        beat.stop().await;
    }
    gw_result.context("gateway task")?.context("gateway")?;
    col_result.context("collector task")?.context("collector")?;
    Ok(())
}

async fn wait_for_clickhouse(store: &Store) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match store.version().await {
            Ok(v) => {
                tracing::info!(version = %v, url = %store.config().url, "ClickHouse is up");
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "waiting for ClickHouse");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(e).context("ClickHouse did not answer within 30 s (is it running? ops/quickstart.sh starts it)")
            }
        }
    }
}
