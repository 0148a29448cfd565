//! One module per report; each turns a [`crate::catalog::Ctx`] into a [`crate::Report`].
//! SQL takes caller values only through [`filter`].

pub mod calls;
pub mod client_events;
pub mod filter;
pub mod top;

pub use filter::{Dim, Source};
