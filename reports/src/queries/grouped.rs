//! The query most aggregate reports share: calls by outcome class (and total latency) per
//! group key, from whichever table [`super::source::choose`] picked.

use std::collections::HashMap;

use gatewatch_model::report::Window;
use gatewatch_store::reports::aggregate;
pub use gatewatch_store::reports::aggregate::{By, Key, Only};
use gatewatch_store::Store;

use crate::catalog::Ctx;
use crate::error::Result;
use crate::queries::class::Class;
use crate::queries::source::{Choice, Counts};

/// One group's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub k1: String,
    pub k2: String,
    /// The API's recorded name when the group has one API (empty from `client_api_1h`).
    pub name: String,
    pub counts: Counts,
    pub latency_sum_us: u64,
}

/// Calls per group, most calls first (ties by key).
pub async fn counts_by(ctx: &Ctx<'_>, choice: &Choice, by: By) -> Result<Vec<Group>> {
    let scope = choice.scope(ctx.params);
    let mut rows = aggregate::counts_by(ctx.store, &scope, by, &Class::outcome_lists()).await?;
    if !choice.source.keeps_api_name() && (by.k1 == Key::Api || by.k2 == Key::Api) {
        let names = api_names(ctx.store, &choice.window).await?;
        for r in &mut rows {
            let id = if by.k1 == Key::Api { &r.g1 } else { &r.g2 };
            r.g_name = names.get(id).cloned().unwrap_or_default();
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| Group {
            k1: r.g1,
            k2: r.g2,
            name: r.g_name,
            counts: Counts {
                calls: r.c_calls,
                success: r.c_success,
                client_error: r.c_client_error,
                server_error: r.c_server_error,
                refused: r.c_refused,
            },
            latency_sum_us: r.lat_sum,
        })
        .collect())
}

/// API names as last recorded in the window (for tables that do not keep them), from the
/// hour rollup.
pub async fn api_names(store: &Store, w: &Window) -> Result<HashMap<String, String>> {
    let w = crate::queries::source::widen(w, 3_600);
    let rows = aggregate::api_names(store, w.from.timestamp(), w.to.timestamp()).await?;
    Ok(rows.into_iter().map(|r| (r.api_id, r.name)).collect())
}
