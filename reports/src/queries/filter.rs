//! The tables a report can read and the dimensions it filters or groups by. The conditions
//! built from the caller's values live with the SQL in `gatewatch_store::reports`, every value
//! bound; this module only says which dimensions the parameters filter on.

use gatewatch_model::report::ReportParams;
pub use gatewatch_store::reports::{Dim, Source};

/// The dimensions the parameters filter on.
pub fn filtered_dims(p: &ReportParams) -> Vec<Dim> {
    let mut d = Vec::new();
    if !p.apis.is_empty() {
        d.push(Dim::Api)
    }
    if !p.modules.is_empty() {
        d.push(Dim::Module)
    }
    if !p.clients.is_empty() {
        d.push(Dim::Client)
    }
    if !p.nodes.is_empty() {
        d.push(Dim::Node)
    }
    if !p.status_classes.is_empty() {
        d.push(Dim::StatusClass)
    }
    if !p.outcomes.is_empty() {
        d.push(Dim::Outcome)
    }
    if !p.versions.is_empty() {
        d.push(Dim::Version)
    }
    d
}
