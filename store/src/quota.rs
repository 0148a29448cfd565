//! The gateway's shared-quota counts: a client's admitted calls in up to four windows, this
//! node's and the other nodes' apart.

use gatewatch_model::Outcome;
use serde::Deserialize;

use crate::query::Sql;
use crate::{Result, Store};

/// Calls per window, of this node (`mine` 1) or of the others (`mine` 0).
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct NodeCounts {
    pub mine: u8,
    pub c0: u64,
    pub c1: u64,
    pub c2: u64,
    pub c3: u64,
}

/// The calls of `client_id` that took quota (refused ones did not) in each `[start, end)`
/// of `bounds` (Unix seconds; an empty range counts 0), split by whether `node` made them.
/// Reads `api_calls` between the earliest start and the latest end only.
pub async fn client_calls(
    store: &Store,
    node: &str,
    client_id: &str,
    bounds: [(i64, i64); 4],
) -> Result<Vec<NodeCounts>> {
    let live = bounds.iter().filter(|(s, e)| s < e);
    let (Some(from), Some(to)) = (
        live.clone().map(|(s, _)| *s).min(),
        live.map(|(_, e)| *e).max(),
    ) else {
        return Ok(Vec::new());
    };
    let mut s = Sql::new("SELECT toUInt8(node = ");
    s.str(node).push(") AS mine");
    for (i, (start, end)) in bounds.iter().enumerate() {
        s.push(", countIf(ts >= ").time(*start);
        s.push(" AND ts < ").time(*end);
        s.push(&format!(") AS c{i}"));
    }
    s.push(" FROM api_calls WHERE ts >= ").time(from);
    s.push(" AND ts < ").time(to);
    s.push(" AND client_id = ").str(client_id);
    let refused: Vec<&str> = Outcome::ALL
        .iter()
        .filter(|o| o.is_refusal())
        .map(|o| o.as_str())
        .collect();
    s.push(" AND NOT (").in_strs("outcome", &refused);
    s.push(") GROUP BY mine");
    s.fetch_all(store).await
}
