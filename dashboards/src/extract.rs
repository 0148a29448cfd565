//! The path, query and body extractors of every handler: axum's, with their refusals
//! answered as our JSON error body naming the parameter instead of axum's plain text (a path
//! segment that is not UTF-8 once decoded, a query key given twice, a body over the limit).

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A request body as bytes (at most axum's default 2 MiB), refusing with [`ApiError`]: 413
/// `too_large` beyond, 400 `malformed` when it cannot be read.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| body_refusal(&e))
    }
}

/// [`axum::extract::Path`], refusing with [`ApiError`].
#[derive(Debug)]
pub struct Path<T>(pub T);

/// [`axum::extract::Query`], refusing with [`ApiError`].
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(path_refusal(e)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_refusal(&e)),
        }
    }
}

/// 400 for a segment that cannot be read as text, 422 for one that does not parse, each
/// naming the parameter; anything else is a route declared wrong (ours: 500).
pub fn path_refusal(e: PathRejection) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(e) = e else {
        return ApiError::internal(e.body_text());
    };
    let message = e.body_text();
    match e.into_kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => ApiError::malformed(
            key.clone(),
            format!("the path parameter `{key}` is not UTF-8 once percent-decoded"),
        ),
        ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::DeserializeError { key, .. } => {
            ApiError::invalid(key, message)
        }
        ErrorKind::ParseError { .. } | ErrorKind::ParseErrorAtIndex { .. } => {
            ApiError::invalid("path", message)
        }
        _ => ApiError::internal(message),
    }
}

fn body_refusal(e: &BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is larger than 2 MiB",
        )
    } else {
        ApiError::bad_json(format!("the body could not be read: {}", e.body_text()))
    }
}

/// 400 naming the key serde names (a key given twice, an unknown one), else `query`.
pub fn query_refusal(e: &QueryRejection) -> ApiError {
    let message = e.body_text();
    let field = quoted_name(&message).unwrap_or("query").to_string();
    ApiError::malformed(field, message)
}

/// The first name serde quotes in a message (``duplicate field `limit` ``).
fn quoted_name(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    Some(name).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::Router;
    use tower_service::Service;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<String>,
    }

    fn app() -> Router {
        Router::new()
            .route("/one/{id}", get(|Path(id): Path<String>| async move { id }))
            .route(
                "/two/{id}/{product}",
                get(|Path((a, b)): Path<(String, String)>| async move { a + &b }),
            )
            .route(
                "/num/{n}",
                get(|Path(n): Path<u32>| async move { n.to_string() }),
            )
            .route(
                "/q",
                get(|Query(p): Query<Params>| async move { p.limit.unwrap_or_default() }),
            )
    }

    async fn call(uri: &str) -> (StatusCode, String, serde_json::Value) {
        let r = app()
            .call(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .into_response();
        let status = r.status();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, ct, v)
    }

    #[tokio::test]
    async fn a_path_segment_that_is_not_utf8_is_a_json_400_naming_it() {
        let (s, ct, v) = call("/one/%FF").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(ct, "application/json");
        assert_eq!(v["error"]["code"], "malformed");
        assert_eq!(v["error"]["field"], "id");
        let (s, _, v) = call("/two/a/%C3%28").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["field"], "product");
        // Decoded text that is UTF-8 is the handler's to judge.
        let (s, _, _) = call("/one/%3F%00%E4%B8%AD").await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_path_segment_of_the_wrong_type_is_a_json_422() {
        let (s, ct, v) = call("/num/x").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(ct, "application/json");
        assert_eq!(v["error"]["code"], "invalid");
        assert!(v["error"]["field"].is_string());
    }

    #[tokio::test]
    async fn a_query_key_given_twice_is_a_json_400_naming_it() {
        let (s, ct, v) = call("/q?limit=1&limit=2").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(ct, "application/json");
        assert_eq!(v["error"]["code"], "malformed");
        assert_eq!(v["error"]["field"], "limit");
        let (s, _, _) = call("/q?limit=%FF&x=%").await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_json_413() {
        let mut app: Router = Router::new().route(
            "/b",
            post(|super::Body(b): super::Body| async move { b.len().to_string() }),
        );
        let big = vec![b'a'; 3 << 20];
        let r = app
            .call(
                Request::post("/b")
                    .body(axum::body::Body::from(big))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "too_large");
        let r = app
            .call(
                Request::post("/b")
                    .body(axum::body::Body::from("{}"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn the_quoted_name_is_the_first_between_backticks() {
        assert_eq!(quoted_name("duplicate field `limit`"), Some("limit"));
        assert_eq!(quoted_name("no name"), None);
        assert_eq!(quoted_name("empty ``"), None);
    }
}
