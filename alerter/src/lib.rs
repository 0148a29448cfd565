//! The alerter: rules over `node_metrics` and `api_calls`, their state (ok → pending → firing →
//! resolved), exception windows, and notifiers (e-mail, LINE, webhook).
//!
//! Not built yet: see the alerter issue. The crate exists so the workspace has its final shape.
