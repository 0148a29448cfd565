//! The alerter: rules over `node_metrics` and `api_calls`, their state (ok → pending → firing →
//! resolved), exception windows and silences, and the hand-off to the notifiers.
//!
//! - [`engine`]: the loop — the sending lease, rules, `model::alert::step`, persistence,
//!   dispatch, and what happens while ClickHouse is away.
//! - [`evaluate`]: an observation per rule and scope key, from `store::observe`.
//! - [`probe`]: the alerter's own ClickHouse probe (connect time, failure).
//! - [`source`]: rules, silences, users' addresses and channels from the configuration log,
//!   with a snapshot on disk.
//! - [`dispatch`]: the [`Dispatcher`] trait the notifiers sit behind, recipients, and
//!   deterministic notification ids.

pub mod dispatch;
pub mod engine;
pub mod evaluate;
pub mod probe;
pub mod source;

pub use dispatch::{Delivery, Dispatcher, NoNotifiers, Outgoing, Recipient};
pub use engine::{Engine, EngineConfig, Metrics};
pub use source::Sources;
