//! What a report request can fail with, and the HTTP answer of each: the admin API's shape,
//! `{"error":{"code":…,"field":…,"message":…}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatewatch_model::FieldError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A parameter is wrong: 422 naming it.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// The question is fine but too big for the data it needs (raw rows over a long range).
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    /// A part of the request cannot be read at all (a path segment that is not UTF-8): 400
    /// naming it.
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
    #[error("cannot draw the chart: {0}")]
    Chart(String),
    #[error(transparent)]
    Store(#[from] gatewatch_store::Error),
}

impl ReportError {
    pub fn too_large(field: impl Into<String>, message: impl Into<String>) -> ReportError {
        ReportError::TooLarge {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ReportError::Invalid(_) | ReportError::TooLarge { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ReportError::NotFound(_) => StatusCode::NOT_FOUND,
            ReportError::Malformed { .. } => StatusCode::BAD_REQUEST,
            ReportError::Chart(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ReportError::Store(e) if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            ReportError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ReportError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (code, field, message) = match &self {
            ReportError::Invalid(e) => ("invalid", Some(e.field.clone()), e.message.clone()),
            ReportError::TooLarge { field, message } => {
                ("too_large", Some(field.clone()), message.clone())
            }
            ReportError::NotFound(m) => ("not_found", None, m.clone()),
            ReportError::Malformed { field, message } => {
                ("malformed", Some(field.clone()), message.clone())
            }
            ReportError::Chart(_) | ReportError::Store(_) => {
                // The detail goes to the log, not to the caller.
                tracing::error!(error = %self, "report failed");
                let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                    "unavailable"
                } else {
                    "internal"
                };
                (
                    code,
                    None,
                    "the report could not be produced; see the server log".to_string(),
                )
            }
        };
        let mut error = serde_json::json!({"code": code, "message": message});
        if let Some(f) = field {
            error["field"] = serde_json::Value::String(f);
        }
        let body = serde_json::json!({ "error": error });
        (status, axum::Json(body)).into_response()
    }
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;
