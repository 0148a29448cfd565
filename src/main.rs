//! `gatewatch`: one binary for every role.
//!
//! `gatewatch up [--demo]` runs every role in one process; `gatewatch gateway`, `collector`,
//! `alerter`, `reports`, `dashboards`, `portal` run one role each from the same configuration, so each can
//! be killed and restarted on its own. `gatewatch migrate` applies the ClickHouse schema;
//! `gatewatch loadgen` drives traffic through a gateway.
//!
//! Exit codes: 0 ok, 2 bad usage or configuration (the message names the value), 1 other.

mod cert_cmd;
mod config;
mod config_check;
mod config_cmd;
mod demo;
mod health;
mod heartbeat;
mod keys_cmd;
mod loadgen;
mod pepper;
mod release_cmd;
mod roles;
mod sign_cmd;
mod user_cmd;

use clap::{Parser, Subcommand};

// mimalloc: records are built on one thread and freed on another (the shipper's encoder); glibc's
// malloc/free/consolidate was 6–7 % of the gateway's CPU in ops/bench/gateway.sh profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "gatewatch",
    version,
    about = "API gateway analytics, monitoring and alerting"
)]
struct Cli {
    /// Configuration file (every key optional; env GATEWATCH_* overrides it).
    #[arg(long, global = true, env = "GATEWATCH_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (WAL, spool, snapshots); overrides `data_dir`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// ClickHouse HTTP URL; overrides `[clickhouse] url`.
    #[arg(long, global = true)]
    clickhouse_url: Option<String>,
    /// ClickHouse database; overrides `[clickhouse] database`.
    #[arg(long, global = true)]
    clickhouse_database: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `gatewatch_collector=debug`.
    #[arg(long, global = true, env = "GATEWATCH_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the configuration in effect, as TOML, and the environment variable of each key.
    Show,
    /// Print every entity of the configuration log as a file `apply` takes back.
    Export,
    /// Check a site configuration or an entities file offline: exit 0, or 2 naming the key.
    ///
    /// Nothing is started and ClickHouse is not reached. A site configuration gets every
    /// check `up` runs before it starts; an entities file (`[[api]]`, `[[client]]`, …) the
    /// checks `apply` runs before it reads the log; the two are told apart by their top-level
    /// keys. Prints `ok: FILE: …` naming the kind, or a message naming the key
    /// (`gateway.max_connections: …`, `api[0].upstreams[1]: …`) and exits 2.
    Check {
        /// The file to check (`GATEWATCH_*` variables are not applied to it).
        file: PathBuf,
    },
    /// Check a file of entities, show what would change, and write it as one change.
    Apply {
        /// The file (`[[api]]`, `[[client]]`, `[[group]]`, `[[product]]` tables, each with an `id`).
        file: PathBuf,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
        /// Also delete entities of the log that the file does not name.
        #[arg(long)]
        prune: bool,
        /// Who is recorded as the author of the change.
        #[arg(long, env = "USER", default_value = "cli")]
        author: String,
    },
    /// Make a release: a named point of the whole configuration (every API, API family,
    /// client, group, product, channel, alert rule, notification policy, inhibit rule and
    /// report subscription as it is now). API keys, users and silences are not part of it.
    Release {
        /// Its name (1–64 of `A-Za-z0-9._-`; not `current` or `diff`); a name is used once.
        name: String,
        /// What the release is.
        #[arg(long, default_value = "")]
        comment: String,
        /// Who is recorded as its author.
        #[arg(long, env = "USER", default_value = "cli")]
        author: String,
    },
    /// List the releases, newest first: name, created, by, entities, comment.
    Releases,
    /// Show what differs from A to B (each a release name or `current`): entities added,
    /// removed and changed with their fields. Secrets are named, never shown.
    Diff {
        /// A release name, or `current`.
        from: String,
        /// A release name, or `current`.
        to: String,
    },
    /// Bring the configuration back to a release as ONE new change (`rollback to NAME`):
    /// entities changed since get the release's version, those made since are deleted, those
    /// deleted since are restored. Clients keep their current secrets; API keys, users and
    /// silences are untouched. Shows the diff first and asks unless --yes; a concurrent edit
    /// makes it fail with nothing written.
    Rollback {
        /// The release.
        #[arg(long)]
        to: String,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Who is recorded as the author of the change.
        #[arg(long, env = "USER", default_value = "cli")]
        author: String,
    },
    /// Copy chosen entities from one site to another (two site configuration files: two
    /// databases, two peppers), showing the diff first, as one change on the target. Channel
    /// credentials are opened with the source's pepper and sealed with the target's; client
    /// secrets never travel. `GATEWATCH_*` variables are not applied to the two files.
    Promote {
        /// The source site's configuration file.
        #[arg(long)]
        from_site: PathBuf,
        /// The target site's configuration file.
        #[arg(long)]
        to_site: PathBuf,
        /// Only entities of this kind (repeatable; default: every kind a release holds).
        #[arg(long)]
        kind: Vec<String>,
        /// Only the entity with this id (repeatable).
        #[arg(long)]
        id: Vec<String>,
        /// Only show what would change on the target.
        #[arg(long)]
        dry_run: bool,
        /// Who is recorded as the author of the change.
        #[arg(long, env = "USER", default_value = "cli")]
        author: String,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every role in one process (migrates first).
    Up {
        /// Also start a demo upstream, a demo API and a trickle of traffic.
        #[arg(long)]
        demo: bool,
    },
    /// Run the proxy.
    Gateway,
    /// Run the ingest API and ClickHouse inserter.
    Collector,
    /// Run the alerter: evaluate alert rules and send notices (health and metrics on its port).
    Alerter,
    /// Run the reports scheduler: scheduled report mail and data retention (health and metrics
    /// on its port).
    Reports,
    /// Run the admin API (and, later, the web UI). On a site without users it creates `admin`
    /// and prints its password once on stdout.
    Dashboards,
    /// Run the developer portal: the public site listing the published APIs (`[portal]
    /// listen`, default 127.0.0.1:8094).
    Portal,
    /// Users of the web UI and admin API.
    #[command(subcommand)]
    User(user_cmd::UserCommand),
    /// Apply the ClickHouse schema (idempotent).
    Migrate {
        /// Print the statements a fresh migration runs, without connecting (with `[clickhouse]
        /// cluster`, the cluster's layout: docs/cluster.md).
        #[arg(long)]
        print_sql: bool,
    },
    /// The configuration: in effect (`show`), a file checked offline (`check FILE`), the
    /// configuration log as a file (`export`, `apply`), releases (`release`, `releases`,
    /// `diff`, `rollback`) and moving entities between sites (`promote`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Drive traffic through a gateway (loopback only).
    Loadgen(loadgen::Args),
    /// Certificates for the TLS listeners (`self-signed`: a CA and a server certificate).
    #[command(subcommand)]
    Cert(cert_cmd::CertCommand),
    /// The OAuth signing keys of the gateways' authorization server (`rotate`, `list`).
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Sign a request as an API with `signature` verifies it (RFC 9421): prints the headers
    /// to add. The secret from GATEWATCH_SIGNING_SECRET or --secret-file, or a --private-key.
    Sign(Box<sign_cmd::Args>),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logs(cli.log_format, &cli.log);
    // The file named is checked on its own, whatever `--config` names.
    if let Command::Config(ConfigCommand::Check { file }) = &cli.command {
        return match config_check::check(file) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gatewatch: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    // Needs no configuration: it only writes files.
    if let Command::Cert(cmd) = &cli.command {
        return match cert_cmd::run(cmd) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gatewatch: {e:#}");
                if e.is::<cert_cmd::CertUsageError>() {
                    ExitCode::from(2)
                } else {
                    ExitCode::from(1)
                }
            }
        };
    }
    // Needs no configuration and reaches nothing.
    if let Command::Sign(args) = &cli.command {
        return match sign_cmd::run(args) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gatewatch sign: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let file = match load_config(&cli) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatewatch: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match file.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gatewatch: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let loadgen_uri = match &cli.command {
        Command::Loadgen(args) => match loadgen::check(args) {
            Ok(u) => Some(u),
            Err(e) => {
                eprintln!("gatewatch loadgen: {e:#}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gatewatch: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up { demo } => roles::up(config, demo).await,
            Command::Gateway => roles::gateway(config).await,
            Command::Collector => roles::collector(config).await,
            Command::Alerter => roles::alerter(config).await,
            Command::Reports => roles::reports(config).await,
            Command::Dashboards => roles::dashboards(config).await,
            Command::Portal => roles::portal(config).await,
            Command::User(cmd) => user_cmd::run(&config, cmd).await,
            Command::Migrate { print_sql: true } => {
                // For a cluster: its layout (`Replicated…`, `_local`, `Distributed`), as
                // `migrate` would run it, for a DBA to review.
                for stmt in gatewatch_migrations::all_statements(
                    &config.store.database,
                    &roles::migrate_options(&config),
                ) {
                    println!("{stmt};\n");
                }
                Ok(())
            }
            Command::Migrate { print_sql: false } => roles::migrate(&config).await,
            Command::Config(ConfigCommand::Show) => {
                print_config(&file);
                Ok(())
            }
            // Handled before the configuration is loaded.
            Command::Config(ConfigCommand::Check { .. }) => Ok(()),
            Command::Config(ConfigCommand::Export) => {
                let store = gatewatch_store::Store::new(config.store.clone());
                match pepper::load_pepper(&config.data_dir, &config.security) {
                    Ok(pepper) => config_cmd::export(&store, &pepper)
                        .await
                        .map(|text| print!("{text}")),
                    Err(e) => Err(e),
                }
            }
            Command::Config(ConfigCommand::Apply {
                file: path,
                dry_run,
                prune,
                author,
            }) => {
                let store = gatewatch_store::Store::new(config.store.clone());
                match pepper::load_pepper(&config.data_dir, &config.security) {
                    Ok(pepper) => {
                        config_cmd::apply(&store, &pepper, &path, dry_run, prune, &author).await
                    }
                    Err(e) => Err(e),
                }
            }
            Command::Config(ConfigCommand::Release {
                name,
                comment,
                author,
            }) => {
                let store = gatewatch_store::Store::new(config.store.clone());
                release_cmd::make(&store, &name, &comment, &author).await
            }
            Command::Config(ConfigCommand::Releases) => {
                let store = gatewatch_store::Store::new(config.store.clone());
                release_cmd::list(&store).await
            }
            Command::Config(ConfigCommand::Diff { from, to }) => {
                let store = gatewatch_store::Store::new(config.store.clone());
                release_cmd::diff(&store, &from, &to).await
            }
            Command::Config(ConfigCommand::Rollback {
                to,
                dry_run,
                yes,
                author,
            }) => {
                let store = gatewatch_store::Store::new(config.store.clone());
                release_cmd::rollback(&store, &to, dry_run, yes, &author).await
            }
            Command::Config(ConfigCommand::Promote {
                from_site,
                to_site,
                kind,
                id,
                dry_run,
                author,
            }) => release_cmd::promote(&from_site, &to_site, &kind, &id, dry_run, &author).await,
            Command::Keys(cmd) => match pepper::load_pepper(&config.data_dir, &config.security) {
                Ok(pepper) => keys_cmd::run(&config, &pepper, cmd).await,
                Err(e) => Err(e),
            },
            // Handled before the configuration is read.
            Command::Cert(_) | Command::Sign(_) => Ok(()),
            Command::Loadgen(args) => match loadgen_uri {
                Some(uri) => loadgen::run(args, uri).await,
                None => Ok(()),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.chain().any(|c| {
                c.is::<config_cmd::FileError>()
                    || c.is::<user_cmd::UsageError>()
                    || c.is::<release_cmd::UsageError>()
            }) =>
        {
            eprintln!("gatewatch: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("gatewatch: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(cli: &Cli) -> Result<config::FileConfig, config::ConfigError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut file = config::load(cli.config.as_deref(), &env)?;
    if let Some(d) = &cli.data_dir {
        file.data_dir = d.clone();
    }
    if let Some(u) = &cli.clickhouse_url {
        file.clickhouse.url = u.clone();
    }
    if let Some(d) = &cli.clickhouse_database {
        file.clickhouse.database = d.clone();
    }
    Ok(file)
}

fn print_config(file: &config::FileConfig) {
    let mut shown = file.clone();
    if !shown.clickhouse.password.is_empty() {
        shown.clickhouse.password = "********".into();
    }
    if !shown.security.pepper.is_empty() {
        shown.security.pepper = "********".into();
    }
    if !shown.security.ingest_token.is_empty() {
        shown.security.ingest_token = "********".into();
    }
    for s in &mut shown.gateway.jwt.hs256_secrets {
        *s = "********".into();
    }
    if !shown.reports.smtp.password.is_empty() {
        shown.reports.smtp.password = "********".into();
    }
    if !shown.alerter.smtp.password.is_empty() {
        shown.alerter.smtp.password = "********".into();
    }
    if !shown.alerter.line.channel_access_token.is_empty() {
        shown.alerter.line.channel_access_token = "********".into();
    }
    for s in shown.alerter.secrets.values_mut() {
        *s = "********".into();
    }
    match toml::to_string_pretty(&shown) {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("gatewatch: {e}"),
    }
    println!("# environment variables:");
    for (name, path) in config::env_keys() {
        println!("#   {name:<45} {}", path.join("."));
    }
    println!(
        "#   {:<45} alerter.secrets.<name>",
        "GATEWATCH_ALERTER_SECRETS_<NAME>"
    );
    println!(
        "#   {:<45} alerter.allowed_networks (comma-separated)",
        "GATEWATCH_ALERTER_ALLOWED_NETWORKS"
    );
    println!(
        "#   {:<45} gateway.collector_urls (comma-separated)",
        config::COLLECTOR_URLS_ENV
    );
}

fn init_logs(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
