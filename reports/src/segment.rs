//! The one path parameter of a report route (`{kind}`, `{call_id}`, `{id}`) as text: a segment
//! that is not UTF-8 once percent-decoded is refused as our JSON error body naming the
//! parameter (400), not axum's plain text.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ReportError;

/// The route's single path parameter.
#[derive(Debug)]
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ReportError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ReportError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(s)| Segment(s))
            .map_err(refusal)
    }
}

fn refusal(e: PathRejection) -> ReportError {
    let (field, message) = match e {
        PathRejection::FailedToDeserializePathParams(e) => {
            let message = e.body_text();
            match e.into_kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => (key, message),
                _ => ("path".to_string(), message),
            }
        }
        other => ("path".to_string(), other.body_text()),
    };
    ReportError::Malformed { field, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tower_service::Service;

    #[tokio::test]
    async fn a_segment_that_is_not_utf8_is_a_json_400_naming_it() {
        let mut app: Router =
            Router::new().route("/r/{kind}", get(|Segment(s): Segment| async move { s }));
        let r = app
            .call(Request::get("/r/%FF").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "malformed");
        assert_eq!(v["error"]["field"], "kind");
        let r = app
            .call(Request::get("/r/%3F%E4%B8%AD").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}
