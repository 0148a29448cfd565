//! `gatewatch keys rotate|list`: the authorization server's signing keys (see the gateway's
//! `[gateway.oauth]`). `rotate` makes a new key and retires the others, which stay published
//! until their last tokens expire (now + `token_ttl_secs`, plus a minute for gateways still
//! signing with the old key until their next poll); every gateway signs with the new key
//! within about a second. `list` never prints a private part.

use anyhow::Context;
use gatewatch_model::oauth::keys::{KeyState, RETIRE_MARGIN_US};
use gatewatch_model::sealed::SealKey;
use gatewatch_store::oauth::KeyRow;
use gatewatch_store::Store;

use crate::config::Config;

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new signing key; the current one signs no more and stays published until its
    /// last token expires.
    Rotate,
    /// Print the keys: kid, algorithm, state, when made, retired, published until.
    List,
}

pub async fn run(config: &Config, pepper: &[u8], cmd: KeysCommand) -> anyhow::Result<()> {
    let store = Store::new(config.store.clone());
    let now = chrono::Utc::now().timestamp_micros();
    match cmd {
        KeysCommand::Rotate => {
            let alg = &config.gateway.oauth.signing_alg;
            let row = KeyRow::generate(&SealKey::from_pepper(pepper), alg, now)
                .context("making the signing key")?;
            let ttl_us =
                i64::try_from(config.gateway.oauth.token_ttl.as_micros()).unwrap_or(i64::MAX);
            let keep = now.saturating_add(ttl_us).saturating_add(RETIRE_MARGIN_US);
            let retired = gatewatch_store::oauth::rotate(&store, &row, now, keep)
                .await
                .context("writing the keys")?;
            println!("new signing key {} ({})", row.kid, row.alg);
            for r in retired {
                println!(
                    "retired {} (published until {})",
                    r.kid,
                    date(r.keep_until_us)
                );
            }
            Ok(())
        }
        KeysCommand::List => {
            let keys = gatewatch_store::oauth::keys(&store)
                .await
                .context("reading the keys")?;
            println!("{}", list(&keys, now));
            Ok(())
        }
    }
}

fn date(us: i64) -> String {
    if us == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

/// One line per key, newest first, under a header.
fn list(keys: &[KeyRow], now_us: i64) -> String {
    let mut out = format!(
        "{:<43}  {:<5}  {:<8}  {:<20}  {:<20}  {:<20}",
        "KID", "ALG", "STATE", "CREATED", "RETIRED", "PUBLISHED UNTIL"
    );
    for k in keys.iter().rev() {
        let state = KeyState::of(k.retired_us, k.keep_until_us, now_us);
        out.push_str(&format!(
            "\n{:<43}  {:<5}  {:<8}  {:<20}  {:<20}  {:<20}",
            k.kid,
            k.alg,
            state.name(),
            date(k.created_us),
            date(k.retired_us),
            date(k.keep_until_us)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_no_private_part() {
        let seal = SealKey::from_pepper(b"pepper 0123456789abcdef");
        let a = KeyRow::generate(&seal, "ES256", 1_000_000).unwrap();
        let b = a.retired(2_000_000, 3_000_000);
        let text = list(std::slice::from_ref(&b), 2_500_000);
        assert!(text.contains(&a.kid) && text.contains("retired"));
        assert!(!text.contains(&a.private_sealed));
        assert!(list(&[b], 3_000_000).contains("expired"));
    }
}
