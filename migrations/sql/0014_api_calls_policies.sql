-- What an API's request policies found and did (issue 17): `findings` of the message checks
-- (`sqli:query.q`), and `policies` notes (`signature:key-1`, `idempotency:replayed`). Rows of
-- older gateways get empty arrays.
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN findings Array(String);
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN policies Array(String);
