//! The shared vocabulary of gatewatch.
//!
//! Every role meets here: the gateway builds [`CallRecord`]s and [`NodeSample`]s, the collector
//! decodes them from NDJSON ([`ndjson`]), the store writes them to ClickHouse. This crate does
//! no I/O; it owns what the data *is* and how it is spelled on the wire.

pub mod access;
pub mod alert;
pub mod api;
pub mod call;
pub mod channel;
pub mod client;
pub mod diff;
pub mod entity;
pub mod field;
pub mod forwarded;
pub mod html;
pub mod mask;
pub mod ndjson;
pub mod node;
pub mod oauth;
pub mod outbound;
pub mod outcome;
pub mod policy;
pub mod portal;
pub mod release;
pub mod report;
pub mod report_subscription;
pub mod schema;
pub mod sealed;
pub mod secret;
pub mod smtp;
pub mod trace;
pub mod user;
pub mod version;

pub use access::{ApiKeySpec, ApiSet, GroupSpec, ProductSpec};
pub use api::{ApiSpec, Upstream};
pub use call::{CallRecord, Header};
pub use channel::ChannelSpec;
pub use client::ClientSpec;
pub use entity::Entity;
pub use entity::EntityKind;
pub use field::FieldError;
pub use ndjson::{decode_lines, DecodedBatch, LineError};
pub use node::{Backlog, DiskUsage, NodeSample};
pub use outcome::Outcome;
pub use report_subscription::ReportSubscriptionSpec;
pub use user::{Permission, Role, UserSpec};

/// The header that carries a shipper's batch id from a gateway to a collector, so that a batch
/// sent twice (a lost acknowledgement, a spool replay) is stored once.
pub const BATCH_ID_HEADER: &str = "x-gatewatch-batch-id";

/// Set by a shipper on any send that may repeat an earlier one (a retry or a spool replay):
/// the collector then checks the batch id against what it has already stored.
pub const REPLAY_HEADER: &str = "x-gatewatch-replay";
