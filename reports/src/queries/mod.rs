//! One module per report; each turns a [`crate::catalog::Ctx`] into a [`crate::Report`].
//! SQL takes caller values only through [`filter`].

pub mod filter;

pub use filter::{Dim, Source};
