//! `POST /api/v1/clients/{id}/signing-secret`: a new `hmac-sha256` secret for the client's
//! request signatures (RFC 9421; keyid: the client's id). Made from the OS's randomness,
//! shown once, stored on the client sealed under the site pepper (`model::sealed`, bound to
//! the client's id) — the gateway must open it to verify, so it cannot be a hash. Audited as
//! `client.signing_secret` (the audit holds the change, never the secret).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use gatewatch_model::client::signing_secret_context;
use gatewatch_model::sealed::SealKey;
use gatewatch_model::{ClientSpec, EntityKind};
use std::sync::Arc;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Path;
use crate::{write, AppState};

/// What the secret starts with (it says what it is when found in a file).
pub const PREFIX: &str = "gwsig_";

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(client): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let secret = crate::random::secret(PREFIX)?;
    let nonce: [u8; 24] = crate::random::bytes(24)?
        .try_into()
        .map_err(|_| ApiError::internal("24 random bytes"))?;
    let sealed =
        SealKey::from_pepper(&state.pepper).seal(&signing_secret_context(&client), &secret, nonce);
    let e = write::edit(
        &state,
        &caller,
        EntityKind::Client,
        &client,
        &headers,
        "client.signing_secret",
        |c: &mut ClientSpec| {
            c.signing_secret = Some(sealed.clone());
            Ok(())
        },
    )
    .await?;
    let hint = secret.chars().take(PREFIX.len() + 4).collect();
    Ok(crate::keys::created(&client, secret, hint, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sealed_secret_opens_only_for_its_client() {
        let key = SealKey::from_pepper(b"pepper 0123456789abcdef");
        let s = key.seal(&signing_secret_context("team-a"), "gwsig_x", [3; 24]);
        assert!(!s.contains("gwsig_x"));
        assert_eq!(
            key.open(&signing_secret_context("team-a"), &s).unwrap(),
            "gwsig_x"
        );
        assert!(key.open(&signing_secret_context("team-b"), &s).is_err());
    }
}
