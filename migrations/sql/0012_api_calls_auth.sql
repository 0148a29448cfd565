-- How a call was authenticated: the method (`api_key`, `oauth2`, `mtls+api_key`...), the
-- `jti` of the OAuth 2.0 token used or issued, and the scopes the call used (space-separated).
-- Rows of older gateways get empty strings.
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN auth_method String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN token_jti String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN scopes String;
