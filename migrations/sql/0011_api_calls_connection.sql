-- How the client connected: HTTP version, and on the gateway's TLS listener the TLS version,
-- cipher suite and the fingerprint of the client certificate that matched (mTLS). Rows of
-- older gateways get empty strings.
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN http_version String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN tls_version String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN tls_cipher String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN client_cert String;
