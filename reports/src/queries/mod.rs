//! One module per report; each turns a [`crate::catalog::Ctx`] into a [`crate::Report`].
//! The SQL text and its execution, with every caller value bound, are in
//! `gatewatch_store::reports`; these modules choose the table and shape the rows.

pub mod calls;
pub mod class;
pub mod client_events;
pub mod clients;
pub mod errors;
pub mod filter;
pub mod grouped;
pub mod latency;
pub mod nodes;
pub mod source;
pub mod top;
pub mod traffic;
pub mod usage;

pub use filter::{Dim, Source};
