//! The crate's one error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What can stop a gateway from starting or from shutting down cleanly.
///
/// Failures of single calls never surface here: they become a response (502, 504, …) and a
/// [`gatewatch_model::CallRecord`] with the matching outcome.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is unusable; `field` names it the way the config file does
    /// (`routes[2].upstreams[0]`).
    #[error("invalid gateway configuration: '{field}' {message}")]
    Config {
        /// The offending key, e.g. `routes[0].prefix`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The spool directory could not be created or read.
    #[error("spool directory {path}: {source}")]
    Spool {
        /// The file or directory at fault.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The journal could not be opened (its directory, or its lock held by another gateway).
    #[error(transparent)]
    Journal(#[from] crate::journal::OpenError),
    /// One of the gateway's own tasks panicked or was cancelled.
    #[error("gateway task '{task}' failed: {message}")]
    Task {
        /// Which task (`server`, `shipper`, …).
        task: &'static str,
        /// The join error, as text.
        message: String,
    },
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
