//! What changed between two versions of an entity: the model's ([`gatewatch_model::diff`]),
//! shared with the releases' diff and the command line.

pub use gatewatch_model::diff::{changes, FieldChange};
