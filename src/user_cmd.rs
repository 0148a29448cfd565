//! `gatewatch user add NAME --role ROLE [--password-stdin]`: users of the admin API from the
//! command line (the way in on a fresh site, or back in after losing every admin).

use anyhow::Context;
use gatewatch_model::Role;
use gatewatch_store::Store;
use std::io::BufRead;

use crate::config::Config;

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; prints a generated password once unless --password-stdin is given.
    Add {
        /// Login name (letters, digits, '-', '_', '.').
        name: String,
        /// admin, ops, manager or support.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Who is recorded as the author of the change.
        #[arg(long, env = "USER", default_value = "cli")]
        author: String,
    },
}

/// A bad name or password: exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub async fn run(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
            author,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let store = Store::new(config.store.clone());
            match gatewatch_dashboards::add_user(&store, &name, role, password, &author).await {
                Ok(Some(generated)) => {
                    println!("added {role} {name:?}; password (shown once): {generated}");
                    Ok(())
                }
                Ok(None) => {
                    println!("added {role} {name:?}");
                    Ok(())
                }
                Err(
                    e @ (gatewatch_dashboards::Error::Invalid(_)
                    | gatewatch_dashboards::Error::Other(_)
                    | gatewatch_dashboards::Error::UserExists(_)),
                ) => Err(UsageError(e.to_string()).into()),
                Err(e) => Err(e).context("adding the user"),
            }
        }
    }
}
