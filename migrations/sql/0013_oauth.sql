-- The gateway's OAuth 2.0 authorization server. Signing keys: one row per version of a key
-- (the newest wins); the private key is sealed under the site pepper and never leaves the
-- gateway's process in the clear. A key signs while `retired_us` is 0; a retired key only
-- verifies, and stays in the JWKS until `keep_until_us` (the expiry of its last token).
CREATE TABLE IF NOT EXISTS {db}.oauth_keys{on_cluster}
(
    kid String,
    alg String,
    public_jwk String,
    private_sealed String,
    created_us Int64,
    retired_us Int64,
    keep_until_us Int64,
    version UInt64
)
ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY kid;
-- Revoked access tokens (RFC 7009), by `jti`: every gateway reads the new rows about once a
-- second and refuses those tokens until they expire.
CREATE TABLE IF NOT EXISTS {db}.oauth_revocations{on_cluster}
(
    jti String,
    client_id String,
    expires_us Int64,
    revoked_us Int64,
    revoked_by String
)
ENGINE = {engine:MergeTree}
ORDER BY (revoked_us, jti);
