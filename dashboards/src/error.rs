//! Errors: the crate's own ([`Error`]) and the admin API's answers ([`ApiError`]), always
//! `{"error":{"code":…,"field":…,"message":…}}` with a status that says what went wrong.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatewatch_model::FieldError;
use gatewatch_store::config_log::ConfigLogError;

/// Errors of the dashboards role outside a request (binding, users from the command line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    ConfigLog(#[from] ConfigLogError),
    #[error(transparent)]
    Store(#[from] gatewatch_store::Error),
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An answer other than success.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 422 naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
    }

    pub fn bad_json(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    /// 400 for a part of the request that cannot be read at all (a header, a path segment, a
    /// query string), naming it.
    pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::bad_json(message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn stale(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, "stale", message)
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "admin API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (see the dashboards log)",
        )
    }

    fn store(e: &gatewatch_store::Error) -> ApiError {
        if e.is_retryable() {
            tracing::warn!(error = %e, "ClickHouse unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the configuration store is unreachable; try again",
            )
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::invalid(field_of(e.field, &e.message), e.message)
    }
}

/// The field of a serde error: its path, or for a missing field (which serde reports at the
/// parent) the parent's path plus the name quoted in the message.
pub fn field_of(path: String, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next());
    match missing {
        Some(name) if path.is_empty() => name.to_string(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    }
}

/// 422 for a body that does not fit its type, naming the field.
pub fn invalid_body<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = e.into_inner().to_string();
    ApiError::invalid(field_of(path, &message), message)
}

impl From<gatewatch_store::Error> for ApiError {
    fn from(e: gatewatch_store::Error) -> ApiError {
        ApiError::store(&e)
    }
}

impl From<ConfigLogError> for ApiError {
    fn from(e: ConfigLogError) -> ApiError {
        match e {
            ConfigLogError::Store(s) => ApiError::store(&s),
            ConfigLogError::Conflict { .. } => ApiError::stale(e.to_string()),
            ConfigLogError::BadId { .. } | ConfigLogError::Duplicate { .. } => {
                ApiError::invalid("id", e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut err = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            err["field"] = serde_json::Value::String(f);
        }
        let mut r = (self.status, axum::Json(serde_json::json!({ "error": err }))).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
