//! `gatewatch-gateway`: the reverse proxy (routing, load balancing, health checks, retries),
//! its recorder, the shipper with its disk spool, and the node sampler.
//!
//! # Running one
//!
//! [`bind`] opens the spool and the listeners, starts everything and returns a [`Running`]
//! gateway whose [`Running::local_addr`] is the bound proxy address and
//! [`Running::admin_addr`] the admin port's (listen on port 0 in tests);
//! [`Running::wait`] returns once the `shutdown` future has resolved and the gateway has
//! drained. [`run`] is both in one call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gatewatch_gateway::Error> {
//! use gatewatch_gateway::{GatewayConfig, RouteConfig};
//! let mut config = GatewayConfig::new(
//!     "127.0.0.1:8080".parse().unwrap(),
//!     "gw1",
//!     "http://127.0.0.1:8091",
//!     "./data/spool",
//! );
//! config.routes.push(RouteConfig::new("/demo", ["http://127.0.0.1:8000"]).strip_prefix(true));
//! let running = gatewatch_gateway::bind(config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! println!("listening on {}", running.local_addr());
//! running.wait().await
//! # }
//! ```
//!
//! # The phases of a call
//!
//! A call goes through ordered phases (`src/phase/`), each a module with a narrow interface:
//! it reads and writes the call's one context (`phase::Ctx`: route, caller, grant, counts
//! taken, upstream tried, timings, status, outcome, error) and returns a decision — go on, or
//! answer now. The handler (`proxy.rs`) is the short list of phase calls; the record is built
//! from the context at the end, in one place (`recorder.rs`). Pingora's `ProxyHttp` is the
//! model.
//!
//! ```mermaid
//! flowchart LR
//!     A[request head] --> C[open the Call: context, call id, request id]
//!     C --> SD{0 site deny list}
//!     SD -- denied --> RIP[403 ip_denied]
//!     SD --> F{1 early filter: path normalized once}
//!     F -- bad path --> E400[400 bad_path]
//!     F -- local endpoint --> LE[the gateway's own answer: OAuth 2.0 server, transaction tokens]
//!     F -- route: most specific pattern + method --> SC{1b screen: API deny list, CORS}
//!     SC -- denied / preflight --> RSC[403 ip_denied, cors_refused / 204 preflight]
//!     SC --> AN{2 authenticate: key, Basic, JWT, mTLS}
//!     F -- none / not the method --> E404[404 / 405 no_route]
//!     F -- API family: version by path, header, query, default --> V404[404 unknown_version / 410 retired / 400 bad_version]
//!     AN -- refused --> R401[401 refusal]
//!     AN --> AZ{3 authorize: client bars, IP, grants}
//!     AZ -- refused --> R403[403 refusal]
//!     AZ --> LI{4 limits: TPS, quotas, VIP gate}
//!     LI -- refused --> R429[429 / 503 refusal]
//!     LI --> RP{5 request policies: client deny list, API rate, body limit, checks, signature, tx token, idempotency}
//!     RP -- refused / answered --> RRP[403 blocked, 401 bad_signature, 413, 429, 409 / 422 / a replayed first answer]
//!     RP --> U{6 upstream: request rewrite, lb over healthy untried, retries}
//!     U -- failed before head, may retry --> U
//!     U -- no head in time / failed --> E50x[504 / 502]
//!     U -- response head --> RS[7 response: hop-by-hop out, X-Request-Id, capture; 101 = tunnel]
//!     E400 --> L
//!     RIP --> L
//!     RSC --> L
//!     LE --> L
//!     E404 --> L
//!     R401 --> L
//!     R403 --> L
//!     R429 --> L
//!     RRP --> L
//!     E50x --> L
//!     RS -- body ends / client gone / tunnel ends --> L[8 record: Call dropped, one CallRecord from the context: mask + NDJSON line]
//!     L --> J[(journal: one write)] --> Q[(bounded queue)] --> SH[shipper: batches] --> CO[collector / spool]
//! ```
//!
//! | # | phase | module | what lives there |
//! | --- | --- | --- | --- |
//! | 0 | site deny list | `phase/request.rs` (`site`) | `[gateway] ip_deny`, before the path is read (`policy/deny.rs`) |
//! | 1 | early filter | `phase/filter.rs` | path normalization (`path.rs`), the gateway's local endpoints (`LocalEndpoints`, answered before routing), routing (`route.rs`), 404/405 |
//! | 1b | screen | `phase/request.rs` (`screen`) | the API's deny list, CORS preflights answered (`policy/deny.rs`, `policy/cors.rs`) |
//! | 1c | version | `phase/version.rs` (`choose`) | an API family's version (`route/version.rs`): path segment, header, query parameter, default; 404 `unknown_version`, 410 `retired`, 400 `bad_version` |
//! | 2 | authenticate | `phase/authenticate.rs` | API key, HTTP Basic, JWT (`access/auth.rs`), client certificates (`mtls`) |
//! | 2b | canary | `phase/version.rs` (`canary`) | a call naming no version moves to the family's canary version by its client's sticky bucket, before authorize |
//! | 3 | authorize | `phase/authorize.rs` | client status, validity, service hours, IP allowlist, grants by group or product (`access/table.rs`) |
//! | 4 | limits | `phase/limits.rs` | TPS, quotas (`access/usage.rs`, `access/quota.rs`, `access/limits.rs`, shared counts `access/sync.rs`), the VIP gate (`access/priority.rs`) |
//! | 5 | request policies | `phase/request.rs` (`policies`) | the client's deny list, the API's rate, the body limit (and the body read whole when a policy must see it), message checks, signatures, transaction tokens, idempotency, in that order (`policy/`) |
//! | 6 | upstream | `phase/upstream.rs` | the upstream request's headers, credentials stripped, the client header, retries (`Attempts`), upgrades asked for; pools and balancing in `upstream/` |
//! | 7 | response | `phase/response.rs` | the response head, the gateway's JSON answers, `101` → `tunnel.rs`; bodies in `body/` |
//! | 8 | record | `recorder.rs` | `Call`'s `Drop`: `CallEvent::from_ctx`, then the queue; masking (`mask/`), capture (`capture.rs`), the line (`record_json.rs`) on the shipper's side |
//!
//! A public API (`auth` empty) skips phases 2–4 but the gate. A `Call` owns the context from
//! the request head on and its `Drop` is the one place where the [`CallRecord`] is built and
//! queued — on success, on an early answer, when the client leaves before the response head
//! (`client_aborted`, status 499; also while a phase waits: the gate, a local endpoint) or
//! during the body (`client_aborted`, the upstream's status), and when a tunnel ends. The
//! proxy never waits on telemetry: the queue is bounded and a full queue drops the record and
//! counts it (`gatewatch_gateway_records_dropped_total{reason="queue_full"}`).
//!
//! Capture and masking: the matched API's capture policy decides what the call copies while
//! it runs (headers; the first `max_bytes` of each body, as the frames go by — see
//! `capture.rs`); the record is masked from those copies by the shipper, in its blocking
//! encode task, and written as its NDJSON line for the collector or the spool (see
//! `mask/mod.rs` and `record_json.rs`: the line is exactly serde_json's text of the
//! [`CallRecord`], without building one). The path, query, error text and a client's request
//! id are masked on every call (an id the gateway made itself holds nothing to mask). The
//! batcher, after taking records, lets 5 ms of them gather before taking more (one wake-up
//! per few milliseconds, not per call).
//!
//! Proxying rules:
//! - **one path** (`path.rs`): before routing, the request path is normalized once — escapes
//!   of unreserved characters decoded, other escapes in upper-case hex, `//` merged into `/`
//!   (as Envoy's `merge_slashes` and nginx's default), then `.` and `..` segments removed,
//!   `%2e` spellings included (RFC 3986 §6.2.2, §5.2.4) — and that same path is routed and
//!   forwarded, so no spelling is checked as one API and served as another; the query string
//!   goes up as received, and the record keeps the path as received. Refused with 400
//!   `bad_path` (outcome `refused_bad_request`, recorded like the other refusals): a target
//!   that is not a path (`*`, `host:port`), a bad escape, an encoded `/` or `\` (`%2F`, `%5C`;
//!   Envoy's `path_with_escaped_slashes_action = REJECT_REQUEST`), `%00`, a raw `\`, a `..`
//!   above the root, and a `.`/`..` segment carrying `;` parameters (`..;`, which Tomcat-style
//!   servers read as `..`). `;` is otherwise an ordinary character, routed and forwarded as
//!   written (as nginx reads it). An API's pattern must be in that normal form itself. A path
//!   that needs no change (no `%`, `\`, `//` or segment starting with `.`) costs one scan;
//! - an API is routed by `prefix` (as the pattern `{prefix}/**`) or by a `path` pattern of
//!   literal segments, `{name}` and `*` (one non-empty segment each) and a final `**` (any
//!   depth, none included); the file's `[[routes]]` are prefix APIs;
//! - when several patterns match, the most specific wins: more literal segments, then more
//!   one-segment wildcards, then no `**`, then a literal further left (so the longest prefix
//!   wins among prefixes); equally specific APIs that can match the same call are refused
//!   when the router is built (the file's first, then the log's by id), with a warning;
//! - an API listing `methods` answers only those: a path that some API has but none with
//!   the method gets 405 `method_not_allowed` with `Allow` (recorded as `no_route`, under the
//!   most specific API of the path); no API for the path gives 404 `no_route` — so does an
//!   API of the configuration log bound to node groups this gateway is not in (`[gateway]
//!   node_groups`; it is not loaded here at all, see `config_source.rs`);
//! - `strip_prefix` removes the pattern's literal leading part (the remainder always starts
//!   with `/`); the query string is kept; the record's `route` is the pattern's text;
//! - the versions of an API family (`family`, `version`; `route/version.rs`) share one
//!   pattern and form one versioned route: the version is read from the path segment after
//!   the pattern's literal part (taken out before the upstream sees the path and before
//!   `strip_prefix`), the header `select.header`, the query parameter `select.query` (taken out
//!   of the forwarded query), the canary split (sticky per client, decided after
//!   authentication), or `default_version`; answers:
//!
//!   | status | outcome | code | when |
//!   | --- | --- | --- | --- |
//!   | 404 | `no_route` | `unknown_version` | a version the family does not have; none named and no default in service |
//!   | 410 | `no_route` | `retired` | a retired version named (its upstream is never called) |
//!   | 400 | `refused_bad_request` | `bad_version` | the header or parameter given twice, as a list, or not a version's characters |
//!   | 405 | `no_route` | `method_not_allowed` | the chosen version does not take the method |
//!
//!   a deprecated version's answers carry `Deprecation`, `Sunset` and `Link` (made once per
//!   router); the record's `api_version` is the answering API's `version`;
//! - an upstream is chosen by the API's `lb` among its healthy upstreams not yet tried by the
//!   call: `round_robin`, `weighted` (smooth weighted round robin: exact shares per cycle,
//!   spread out) or `least_connections` (calls in flight from this gateway per weight, held
//!   until the response body ends). Active `health_check`s take an upstream out after
//!   `unhealthy_threshold` failures and back after `healthy_threshold` successes; `passive`
//!   ejection leaves it out for `eject_ms` after `failures` connection failures, timeouts or
//!   5xx answers in a row. **When every upstream is out, calls go to them anyway** (fail
//!   open: a wrong health check must not take an API down). Health checks run per router
//!   generation and stop when a reload swaps it out; unchanged upstreams keep their state;
//! - retries, in one place (`phase::upstream::Attempts`): a failed TCP connect (nothing was sent) goes
//!   to another upstream, once by default, up to `retries` times; any other failure before a
//!   response head (timeout, connection closed) is retried only for GET, HEAD, OPTIONS, PUT
//!   and DELETE, up to `retries` times; and never when the request body may have been read
//!   (a body is resent only if the connection handed it back unread). A response head,
//!   5xx included, is never retried. The record's `upstream` is the one tried last. Not an
//!   attempt: a request that a kept connection, closed by the upstream, cancelled before
//!   writing any of it is sent once more on a new connection (`upstream::pool`);
//! - upstream connections: HTTP/1.1, kept alive per upstream (LIFO, at most 256 idle, closed
//!   after 45–60 s idle), returned when the response body has been read to its end;
//! - timeouts: `connect_timeout_ms` (connect) and `timeout_ms` (response head, per attempt)
//!   of the API, else the gateway's `upstream_connect_timeout` and `upstream_timeout`;
//!   connect failure → 502 `upstream_unreachable`; no head in time → 504 `upstream_timeout`;
//!   other upstream failures → 502 `upstream_error` (or, when it was the client's upload
//!   that broke: 400 `bad_body`, outcome `refused_bad_request`, for a body that does not parse
//!   such as a bad chunk size — also when the upstream answered the part before it — and
//!   `client_aborted`, 499 in the record only, for a client that went away); the gateway's own
//!   errors are JSON, `{"error":{"code":"…","message":"…"}}`, and a 502/504 message names no
//!   upstream address (the record's `error` keeps it, for operators);
//! - **credentials stop at the gateway**: on an API with `auth`, `X-API-Key` (when it accepts
//!   `api_key`) and an `Authorization` whose scheme it accepts (`ApiKey`, `Basic`, `Bearer`)
//!   are removed before proxying, unless the API sets `forward_credentials`; the client id
//!   goes up in the client header (`X-Gatewatch-Client`, [`GatewayConfig::client_header`]),
//!   and whatever a client sends under that name is removed on every API, public ones too;
//! - bodies stream both ways, never buffered whole;
//! - hop-by-hop headers (`Connection` and the headers it names, `Keep-Alive`, `Proxy-*`, `TE`,
//!   `Trailer`, `Transfer-Encoding`, `Upgrade`) are removed both ways, and `Expect` on the
//!   way up (hyper has answered it); so an h2 client never gets the upstream's
//!   connection-specific headers;
//! - **protocols**: clients speak HTTP/1.1, or HTTP/2 (ALPN `h2` on the TLS listener, h2c
//!   with prior knowledge on the plain one; limits in `gatewatch_listen`); upstreams always
//!   get HTTP/1.1, each h2 stream one call and one record (`http_version` "HTTP/2");
//! - **upgrades** (WebSocket and other tokens, HTTP/1.1 only): a request whose `Connection`
//!   names `upgrade` goes through every phase like any call, with `Connection: upgrade` and
//!   its `Upgrade` sent up; an upstream `101` is passed to the client and the two
//!   connections are spliced, one record per tunnel when it ends (status 101, bytes each
//!   way, the whole life as latency); another answer is a normal call. Tunnels close after
//!   `upgrade_idle_timeout` without a byte either way and when the gateway shuts down; at
//!   most `max_connections` are open (then 503 `refused_busy`); `h2c` is never upgraded
//!   (see `tunnel.rs`). On h2, an upgrade or an extended CONNECT is refused by the protocol
//!   layer (stream reset), a CONNECT by the path check (400 `bad_path`);
//! - `Host` sent upstream is the upstream's `host:port`, as nginx's `proxy_pass` does by
//!   default; the client's `Host` (h2: `:authority`) goes in `X-Forwarded-Host`;
//!   `X-Forwarded-For` gets the client address appended; `X-Forwarded-Proto` is `http` (or
//!   `https` on the TLS listener);
//! - `X-Request-Id` from the client is kept when it is 1–128 visible ASCII characters, else
//!   the call id (a UUIDv7) is used; it goes upstream and back to the client on every
//!   response, the gateway's errors included.
//!
//! # What a record holds at most
//!
//! Nothing vanishes for being big: the recorded path is cut at 2 KiB, the query at 4 KiB, the
//! user agent at 512 B, the error text at 4 KiB, each captured header value at 1 KiB (names at
//! 256 B) and the captured headers at 64 each way; a cut value ends with `…` and the record
//! lists what was cut in `truncated` (`["path","query",…]`). Captured bodies keep their own
//! cut (`max_bytes`, at most 64 KiB). See `caps.rs`.
//!
//! # Access
//!
//! Right after routing, phases 2–4 (`phase/authenticate.rs`, `phase/authorize.rs`,
//! `phase/limits.rs`, on the data and checks of `src/access/`) decide whether the call goes
//! on. An API whose `auth` is empty is public: nothing is checked and the caller stays unknown
//! (the VIP gate still applies). Otherwise, in this order:
//!
//! 1. **credentials**, in the forms the API accepts: `X-API-Key: <key>` or `Authorization:
//!    ApiKey <key>` (looked up by its HMAC-SHA256 under the site pepper: one hash per call);
//!    `Authorization: Basic` with the client id and secret (vs the client's `secret_hash`);
//!    `Authorization: Bearer <JWT>`, HS256 or RS256 with the configured keys, `exp` required,
//!    `exp`/`nbf` checked with a small leeway, the configured claim (default `sub`) naming the
//!    client. A revoked or expired key is refused here. When `auth` lists `mtls`, the
//!    connection's client certificate (its SHA-256, taken once per connection) must be in a
//!    client's `certificates` first (`client_certificate_required`, `unknown_certificate`):
//!    alone it names the client; with other methods one of them is needed too, naming the
//!    same client (`certificate_mismatch`). `oauth2` (`access/bearer.rs`): `Authorization:
//!    Bearer <access token>` of the gateway's own issuer or of a `[[gateway.oauth.
//!    trusted_issuers]]` entry (chosen by the token's `iss`; any other is `invalid_token`),
//!    verified with the key its `kid` names in that issuer's JWKS (`access/jwks.rs`: fetched at
//!    start, refreshed by `max-age` and on an unknown `kid` at most once per 10 s, single
//!    flight), only with the algorithm that key is for; `iss`, `aud`, `exp`, `nbf` checked; the
//!    client is `client_id`, else `azp`, else `sub`, and must be a gatewatch client. An API with
//!    both `jwt` and `oauth2` sends a token of a known issuer to `oauth2`, others to `jwt`;
//! 2. **the client**: active, inside `valid_from`..`valid_until` and its service hours (in
//!    the client's zone, or the site's); the caller's address in `ip_allow` — the TCP peer,
//!    or, when the peer is one of `trusted_proxies`, the last untrusted `X-Forwarded-For`
//!    entry;
//! 3. **the grant**: a group of the client lists the API, or an *approved* product grant on
//!    the key does (a pending one is `product_not_approved`). An `oauth2` call to an API with
//!    `scopes` is granted by its token carrying all of them (else 403 `insufficient_scope`;
//!    the issuer granted the scopes: the client's and its approved products'); without
//!    `scopes`, by a group as above;
//! 4. **limits**: the client's TPS token bucket (`per_second`, `burst`; per gateway process),
//!    then its quotas per minute/hour/day/month in its zone, then the product's quota on the
//!    key. A new window starts from zero. `scope = "node"` counts in this process only (exact;
//!    N gateways allow N × the limit; a restart forgets). `scope = "shared"` adds the calls
//!    ClickHouse holds for the client's window from the other nodes (and this node's own, in
//!    case of a restart), read every `quota_sync` (1 s) in the background, never on the hot
//!    path (a window's settled part, older than a minute, is re-read once a minute; only the
//!    last minute or two every second). **Overshoot bound**: the shared count can pass the
//!    limit by the calls the *other* gateways admitted but ClickHouse did not show yet: their
//!    shipping + insert lag (flush interval + collector insert period, about 2 s with the
//!    defaults) plus the sync interval.
//!    Measured in the e2e test: limit 20, two gateways at 5 calls/s each: 24 allowed. Node
//!    names must differ between gateways of a site. Product quotas count per node;
//! 5. **the VIP gate**: at most `max_inflight` calls (default 1024) are between admission and
//!    the end of their response; past that, calls wait (at most `queue_max`, default 10 000,
//!    for at most `max_wait`, default 5 s) and a freed place goes to the highest client
//!    `priority` first, first come first served within a priority; anonymous calls are 0.
//!    Under sustained VIP saturation low priorities wait out `max_wait` and are refused: no
//!    aging, by design.
//!
//! Every refusal answers the gateway's JSON error `{"error":{"code":"…","message":"…"}}` and
//! records its outcome, with the client id and the key's entity id (never the key) when known,
//! and the product the call went through as `app_id`:
//!
//! | status | outcome | codes |
//! | --- | --- | --- |
//! | 401 | `refused_auth` | `auth_required`, `invalid_credentials`, `key_revoked`, `client_certificate_required`, `unknown_certificate`, `certificate_mismatch`, `invalid_token` |
//! | 403 | `refused_not_allowed` | `client_suspended`, `api_not_granted`, `product_not_approved`, `insufficient_scope` |
//! | 403 | `refused_ip` | `ip_not_allowed` |
//! | 403 | `refused_hours` | `outside_service_hours` |
//! | 403 | `refused_expired` | `client_expired`, `client_not_yet_valid`, `key_expired` |
//! | 429 | `refused_rate` | `rate_limited` (`Retry-After`: seconds until a token) |
//! | 429 | `refused_quota` | `quota_exceeded` (`Retry-After`: seconds to the window's end) |
//! | 503 | `refused_busy` | `refused_busy` (`Retry-After: 1`) |
//!
//! The request policies ([`policy`]) refuse with their own codes: 403 `blocked`
//! (`refused_blocked`), 401 `bad_signature` (`refused_auth`), 403 `ip_denied` (`refused_ip`),
//! 403 `cors_refused`, `tx_token_required`, `tx_token_invalid`, `tx_token_used`
//! (`refused_not_allowed`), 413 `body_too_large`, 400 `idempotency_key_required`,
//! `bad_idempotency_key`, 409 `idempotency_in_progress`, `idempotency_answer_not_kept`, 422
//! `idempotency_key_reused` (`refused_bad_request`), 429 `rate_limited` for the API's own rate
//! (`refused_rate`, with `RateLimit-Policy` and `RateLimit`).
//!
//! A 401 carries `WWW-Authenticate: Basic realm="gatewatch", Bearer, ApiKey`, except RFC 6750's
//! challenges for tokens: `Bearer` when an API whose only credential is `oauth2` got none,
//! `Bearer error="invalid_token"`, and (403) `Bearer error="insufficient_scope",
//! scope="<the API's scopes>"`. Why a token was refused is in the record's `error` only.
//!
//! Clients, keys, groups and products come from the configuration log with the APIs, are
//! swapped in whole on a change, and are kept in the snapshot (`snapshot/config.json`), so a
//! gateway starting while ClickHouse is down enforces the same access. The pepper
//! ([`GatewayConfig::pepper`]) must be the one the admin API hashed the keys under.
//!
//! # Listeners
//!
//! The proxy port (`listen`) routes **every** path but the authorization server's five
//! (`/.well-known/oauth-authorization-server`, `/oauth2/{token,jwks,introspect,revoke}`,
//! answered before routing, see `oauth/`) and `POST /.gatewatch/tx-token` (transaction tokens,
//! see `policy/tx_token/`): `/metrics` or `/healthz` there is an API's like any
//! other (or a 404 `no_route`). Both it and the admin port run the accept loop of
//! `gatewatch_listen`: a client must send a whole request head within `header_read_timeout`
//! (default 10 s; also the idle limit of a kept-alive connection), or the connection is
//! closed; past `max_connections` open connections (default 10 000 on the proxy port, 256 on
//! the admin port), a new one is closed as it is accepted and counted in
//! `gatewatch_gateway_connections_refused_total` (`…_connections_open` is the gauge).
//!
//! # The admin port
//!
//! Answered by the gateway itself on `admin_listen` (default `127.0.0.1:8081`; keep it off
//! public networks), not recorded; other paths get 404:
//!
//! | path | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 `ok` while the process serves |
//! | `GET /readyz` | 200 `ready`; 503 while the spool refuses batches (size cap reached or disk failing), i.e. records are being dropped, or while the journal refuses records (`journal_max_mb` reached or disk failing), i.e. records are not crash-safe |
//! | `GET /metrics` | Prometheus text: `gatewatch_gateway_requests_total{outcome}`, `…_connections_open`, `…_connections_refused_total`, `…_records_queued_total`, `…_queue_depth`, `…_records_shipped_total`, `…_records_spooled_total`, `…_records_dropped_total{reason}`, `…_batches_total{result}`, `…_batches_split_total`, `…_ship_errors_total`, `…_spool_bytes`, `…_spool_max_bytes`, `…_spool_batches`, `…_spool_full`, `…_spool_corrupt_total`, `…_journal_bytes`, `…_journal_max_bytes`, `…_journal_full`, `…_records_unjournalled_total`, `…_journal_replayed_total`, `…_journal_damaged_total`, `…_journal_skipped_bytes_total`, `…_samples_shipped_total`, `…_samples_dropped_total`; per collector `…_collector_up{collector}`, `…_collector_in_use{collector}`, `…_collector_failovers_total{collector}`; per API and upstream `…_upstream_healthy{api,upstream}` (1 in, 0 out), `…_upstream_in_flight{api,upstream}`, `…_upstream_ejections_total{api,upstream,kind="active"\|"passive"}`, `…_tunnels_open` (upgraded connections) (all prefixed `gatewatch_gateway_`) |
//!
//! Other methods on these paths get 405.
//!
//! # Shipping and the spool
//!
//! Batches of up to `batch_max_records` (or whatever came in `flush_interval`), cut further at
//! `batch_max_bytes` of NDJSON (default 8 MiB, below the collector's `max_body_mb` even
//! uncompressed), are NDJSON compressed with zstd and POSTed to `{collector_url}/v1/records` with
//! `Content-Encoding: zstd`, a fresh batch id in `x-gatewatch-batch-id` and, when the send may
//! repeat an earlier one, `x-gatewatch-replay: 1`. 200/207 are final, 400/404/405/411/415/422
//! are final refusals (counted, not resent); 413 (too large) splits the batch in halves that
//! are sent next, again down to single records (a single record refused so is dropped,
//! `records_dropped_total{reason="too_large"}`); anything else or no answer means the
//! collector is away: batches then go to the spool and are replayed, oldest first, when it is
//! back. Node samples take the same way to `/v1/node-samples`. An `https://` `collector_url` is
//! checked against the system's roots plus `collector_ca_file`; a TLS failure (an untrusted or
//! expired certificate, a wrong name) is "away" too: batches wait in the spool, and the log
//! line names the reason.
//!
//! With several collectors (`collector_urls`) the sender uses the first of its ranking
//! (`collector_order`) that is up, sends a batch that met an away one to the next at once with
//! the replay header, keeps a backoff and `Retry-After` per collector, goes back to a better
//! one once its wait is over and it answers, and spools only while every collector is away
//! (see `ship.rs`).
//!
//! Spool invariants (the full list heads `spool.rs`): one file per batch named
//! `<16-digit sequence>-<records|samples>-<batch uuid>.zst` holding exactly the HTTP body;
//! written to `.tmp`, fsynced, renamed, directory fsynced; sent in sequence order; deleted
//! only after the collector answered; verified (zstd checksum) before each send, corrupt
//! files moved to `corrupt/`; total size capped by `spool_max_bytes`, over which batches are
//! dropped and counted. One gateway process per spool directory, enforced by a lock on
//! `spool/LOCK` (a second gateway on the same `data_dir` fails to start, naming it).
//!
//! **The journal** (`journal.rs`, the spool's first stage): each call's record, as its NDJSON
//! line, is appended to `spool/journal/` with one `write(2)` when the call ends — for a body
//! of known length as its last frame is handed to hyper, before the last byte is written — so
//! the page cache holds it if the process is killed. The batcher notes which records each
//! batch id carries before sending it, the sender notes what it handed on (delivered,
//! refused, spooled, dropped); on start the gateway replays the rest into the spool, a batch
//! that may have been sent under its own id (the collector's look-ups by batch id then skip
//! what it stored). Bounded by `journal_max_mb`; synced once per second with
//! `journal_fsync = "interval"` (power loss: at most that second), or left to the kernel
//! (`"never"`). Own lock `spool/journal/LOCK`.
//!
//! On shutdown the gateway stops accepting, lets calls in flight finish (up to
//! `drain_timeout`), flushes the queue to the collector — or to the spool if it is away — and
//! returns.
//!
//! # Try it
//!
//! `cargo run -p gatewatch-gateway --example gateway` starts a gateway on 127.0.0.1:8080 with
//! a route `/demo` to `http://127.0.0.1:8000` (`python3 -m http.server 8000`), then:
//!
//! ```text
//! curl -si -H 'X-Request-Id: hello-1' http://127.0.0.1:8080/demo/anything?x=1
//! ```

mod access;
mod admin;
mod batch;
mod body;
mod caps;
mod capture;
mod config;
mod config_source;
mod error;
mod headers;
mod ids;
mod journal;
mod mask;
mod metrics;
mod oauth;
mod path;
mod phase;
mod policy;
mod proxy;
mod record_json;
mod recorder;
mod route;
mod sampler;
mod ship;
mod spool;
mod trace;
mod trace_otlp;
mod tunnel;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;

#[doc(no_inline)]
pub use gatewatch_model::CallRecord;

pub use access::auth::JwtKey;
pub use access::jwks::check_jwks_uri;
pub use access::priority::GateConfig;
pub use admin::ADMIN_PATHS;
pub use config::CollectorOrder;
pub use config::TlsListen;
pub use config::{
    GatewayConfig, RouteConfig, DEFAULT_ADMIN_LISTEN, DEFAULT_BATCH_MAX_BYTES,
    DEFAULT_BATCH_MAX_RECORDS, DEFAULT_CLIENT_HEADER, DEFAULT_LISTEN, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_SPOOL_MAX_BYTES, MAX_COLLECTORS, MIN_BATCH_MAX_BYTES,
};
pub use config::{OauthConfig, TrustedIssuer};
pub use error::{Error, Result};
pub use journal::JournalFsync;
/// Signing requests as the gateway verifies them (RFC 9421; `gatewatch sign`).
pub use policy::signature::sign as request_signing;
pub use spool::CORRUPT_DIR;
pub use trace_otlp::OtlpConfig;

/// Reads and checks `[gateway] upstream_ca_files` as the gateway will at start (PEM CA
/// certificates); the error gives the index of the bad file and what is wrong.
pub fn check_upstream_ca_files(
    files: &[std::path::PathBuf],
) -> std::result::Result<(), (usize, String)> {
    upstream::tls::SiteTrust::load(files).map(drop)
}

/// Batches in flight between the batcher/sampler and the sender.
const BATCH_CHANNEL: usize = 16;

/// A gateway that is serving; see [`bind`].
#[derive(Debug)]
pub struct Running {
    local_addr: SocketAddr,
    admin_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    served: watch::Receiver<Arc<[String]>>,
    task: JoinHandle<Result<()>>,
}

impl Running {
    /// The address the proxy listens on (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the admin port: `/healthz`, `/readyz`, `/metrics` (the real port when
    /// `admin_listen` had port 0).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The address of the TLS listener, if `tls` is set (the real port when it had port 0).
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The sorted ids of the APIs the gateway's current router serves (the file's routes and
    /// the configuration log's APIs of its node groups); changes when a reload swaps the
    /// router. What its node-registry heartbeat reports.
    pub fn served_apis(&self) -> watch::Receiver<Arc<[String]>> {
        self.served.clone()
    }

    /// Waits until the gateway has shut down (after `shutdown` resolved) and drained.
    pub async fn wait(self) -> Result<()> {
        self.task.await.map_err(|e| Error::Task {
            task: "gateway",
            message: e.to_string(),
        })?
    }
}

/// Validates `config`, opens the spool, binds the listener and starts serving. Serving stops
/// when `shutdown` resolves; then see [`Running::wait`].
pub async fn bind(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running> {
    let validated = config.validate()?;
    let metrics = Arc::new(metrics::Metrics::default());

    let spool = {
        let (dir, max, m) = (
            config.spool_dir.clone(),
            config.spool_max_bytes,
            metrics.clone(),
        );
        tokio::task::spawn_blocking(move || spool::Spool::open(&dir, max, m))
            .await
            .map_err(|e| Error::Task {
                task: "spool open",
                message: e.to_string(),
            })??
    };
    // The journal: a previous process's leftovers go to the spool before anything is served.
    let mut spool = spool;
    let journal = if config.journal_max_bytes == 0 {
        None
    } else {
        let (dir, max, fsync, m) = (
            config.journal_dir.clone(),
            config.journal_max_bytes,
            config.journal_fsync,
            metrics.clone(),
        );
        let (journal, leftover) =
            tokio::task::spawn_blocking(move || journal::Journal::open(&dir, max, fsync, m))
                .await
                .map_err(|e| Error::Task {
                    task: "journal open",
                    message: e.to_string(),
                })??;
        replay_journal(
            leftover,
            &mut spool,
            (config.batch_max_records, config.batch_max_bytes),
            &metrics,
        )
        .await;
        Some(Arc::new(journal))
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.admin_listen,
            source,
        })?;
    let admin_addr = admin_listener.local_addr().map_err(|source| Error::Bind {
        addr: config.admin_listen,
        source,
    })?;
    let tls_listener = match &config.tls {
        None => None,
        Some(t) => {
            let bind_err = |source| Error::Bind {
                addr: t.listen,
                source,
            };
            let l = TcpListener::bind(t.listen).await.map_err(bind_err)?;
            let addr = l.local_addr().map_err(bind_err)?;
            Some((l, addr, t.clone()))
        }
    };
    let tls_addr = tls_listener.as_ref().map(|(_, a, _)| *a);

    let node: Arc<str> = Arc::from(config.node.as_str());
    let (records_tx, records_rx) = mpsc::channel(config.queue_capacity);
    let (batch_tx, batch_rx) = mpsc::channel(BATCH_CHANNEL);
    let (stop_tx, stop_rx) = watch::channel(false);

    // The collectors in this gateway's order of preference (`collector_order`).
    let names: Vec<&str> = validated
        .collectors
        .iter()
        .map(|c| c.base.as_str())
        .collect();
    let targets = ship::preference(&names, &config.node, config.collector_order)
        .into_iter()
        .map(|i| {
            let c = &validated.collectors[i];
            ship::Target {
                collector: ship::Collector::new(
                    c.records_uri.clone(),
                    c.samples_uri.clone(),
                    config.collector_timeout,
                    &validated.collector_tls,
                )
                .with_token(&config.ingest_token),
                name: Arc::from(c.base.as_str()),
            }
        })
        .collect();
    let sender = tokio::spawn(
        ship::Sender::new(targets, spool, metrics.clone())
            .with_journal(journal.clone())
            .run(batch_rx),
    );
    let journal_sync = match &journal {
        Some(j) if config.journal_fsync == JournalFsync::Interval => {
            Some(tokio::spawn(sync_journal(j.clone(), stop_rx.clone())))
        }
        _ => None,
    };
    // [gateway.otlp]: spans made beside the records, sent by a task of their own.
    let (spans, otlp_task) = match (&config.otlp, validated.otlp_endpoint.clone()) {
        (Some(o), Some(endpoint)) => {
            let (spans, task) = trace_otlp::start(
                o,
                endpoint,
                &node,
                &validated.collector_tls,
                metrics.otlp.clone(),
            );
            (Some(spans), Some(task))
        }
        _ => (None, None),
    };
    let batcher = tokio::spawn(ship::run_batcher(
        records_rx,
        (batch_tx.clone(), spans, journal.clone()),
        node.clone(),
        (config.batch_max_records, config.batch_max_bytes),
        config.flush_interval,
        metrics.clone(),
        stop_rx.clone(),
    ));
    let sampler = (!config.sample_interval.is_zero()).then(|| {
        tokio::spawn(sampler::run(
            node.clone(),
            config.sample_interval,
            sampler::BacklogSource {
                metrics: metrics.clone(),
                records: records_tx.downgrade(),
            },
            batch_tx.clone(),
            stop_rx.clone(),
        ))
    });
    // The sender sees its channel close once the batcher and the sampler are done.
    drop(batch_tx);

    // APIs from the configuration log join the file's routes (see config_source).
    let (served_tx, served) = watch::channel(Arc::<[String]>::from(Vec::new()));
    let source = config
        .config_store
        .clone()
        .map(|store| config_source::Source {
            store: gatewatch_store::Store::new(store),
            file_routes: config.routes.clone(),
            clients: validated.clients.clone(),
            snapshot_dir: config.snapshot_dir.clone(),
            poll: config.config_poll,
            site_tz: config.timezone,
            seal: gatewatch_model::sealed::SealKey::from_pepper(&config.pepper),
            node_groups: config.node_groups.clone(),
            served: served_tx.clone(),
        });
    let ((mut router, table), revision) = match &source {
        Some(s) => s.initial().await,
        None => (
            (validated.router, access::table::AccessTable::default()),
            None,
        ),
    };
    router.start_checks(&validated.clients);
    served_tx.send_replace(config_source::served_ids(&router));
    // The authorization server: keys from the store (followed, see oauth::sync), or one
    // kept in memory when there is no store.
    let issuer = config
        .oauth
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"));
    let audience = config
        .oauth
        .audience
        .clone()
        .unwrap_or_else(|| issuer.clone());
    let store = config.config_store.clone().map(gatewatch_store::Store::new);
    let (own, oauth_sync) = match &store {
        Some(store) => {
            let own = oauth::OwnIssuer::new(&issuer, &audience);
            let mut follower = oauth::sync::Follower::new(
                own.clone(),
                store.clone(),
                gatewatch_model::sealed::SealKey::from_pepper(&config.pepper),
                &config.oauth.signing_alg,
                config.snapshot_dir.clone(),
            );
            follower.first().await;
            (own, Some(tokio::spawn(follower.run(stop_rx.clone()))))
        }
        None => {
            let own = oauth::OwnIssuer::ephemeral(&issuer, &audience)
                .map_err(|e| Error::config("oauth.signing_alg", e.to_string()))?;
            (own, None)
        }
    };
    let mut access_settings = validated.access;
    let policies = policy::Policies {
        deny: policy::deny::State::new(&validated.ip_deny, access_settings.trusted_proxies.clone()),
        ..policy::Policies::default()
    };
    access_settings.own_issuer = Some(Arc::new(own.clone()));
    let access = Arc::new(access::Access::new(
        access_settings,
        table,
        Arc::new(access::SystemClock::new()),
    ));
    let oauth_server = Arc::new(oauth::Server::new(
        own,
        i64::try_from(config.oauth.token_ttl.as_secs()).unwrap_or(i64::MAX),
        config.pepper.clone(),
        config.timezone,
        store,
        access.clone(),
    ));
    // bearer: each trusted issuer's JWKS, fetched now and refreshed until shutdown.
    let jwks_tasks: Vec<_> = access
        .bearer
        .trusted()
        .iter()
        .map(|keys| tokio::spawn(keys.clone().run(stop_rx.clone())))
        .collect();
    let quota_sync = config.config_store.clone().map(|store| {
        tokio::spawn(access::sync::run(
            access.clone(),
            gatewatch_store::Store::new(store),
            node.clone(),
            config.quota_sync,
            stop_rx.clone(),
        ))
    });
    // Turns true when shutdown starts: the TLS listener stops accepting when the plain one
    // does, and upgraded connections (tunnels) close.
    let (down_tx, down_rx) = watch::channel(false);
    let router = Arc::new(arc_swap::ArcSwap::from_pointee(router));
    // Transaction tokens: MACed under a key from the pepper, so every gateway verifies them.
    let tx_tokens = policy::tx_token::State::from_pepper(&config.pepper);
    let tx_endpoint = policy::tx_token::endpoint::Endpoint::new(
        tx_tokens.minter.clone(),
        access.clone(),
        router.clone(),
    );
    let local = phase::filter::Locals(vec![
        oauth_server as Arc<dyn phase::filter::LocalEndpoints>,
        Arc::new(tx_endpoint),
    ]);
    let shared = Arc::new(proxy::Shared {
        router,
        access,
        sink: Arc::new(recorder::Sink {
            records: records_tx,
            metrics: metrics.clone(),
            journal: journal.clone().map(|j| (j, node.clone())),
        }),
        metrics,
        upstream_timeout: config.upstream_timeout,
        queue_capacity: config.queue_capacity,
        spool_max_bytes: config.spool_max_bytes,
        client_header: validated.client_header,
        tracing: config.tracing,
        tunnels: tunnel::Tunnels::new(
            config.upgrade_idle_timeout,
            config.max_connections,
            down_rx.clone(),
        ),
        local: Some(Arc::new(local)),
        policies: policy::Policies {
            tx_token: tx_tokens,
            ..policies
        },
    });
    let source_task =
        source.map(|s| tokio::spawn(s.run(shared.clone(), revision, stop_rx.clone())));
    info!(addr = %local_addr, admin = %admin_addr, node = %node, routes = config.routes.len(), "gateway listening");
    let drain = config.drain_timeout;
    let limits = gatewatch_listen::Limits {
        max_connections: config.max_connections,
        header_read_timeout: config.header_read_timeout,
    };
    let proxy_stats = Arc::new(gatewatch_listen::Stats::default());
    let admin_task = {
        let limits = gatewatch_listen::Limits {
            max_connections: admin::ADMIN_MAX_CONNECTIONS,
            ..limits
        };
        let registry = Arc::new(admin::registry(shared.clone(), proxy_stats.clone()));
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(gatewatch_listen::serve(
            "gateway admin",
            admin_listener,
            limits,
            Arc::default(),
            move |_peer| {
                let (shared, registry) = (shared.clone(), registry.clone());
                service_fn(move |req| admin::handle(shared.clone(), registry.clone(), req))
            },
            async move { ship::stopped(&mut stop).await },
            Duration::from_secs(1),
        ))
    };
    // One service for both listeners; the connection says whether it is TLS.
    let make_for = move || {
        let shared = shared.clone();
        move |conn| {
            let shared = shared.clone();
            let client = phase::Peer::new(conn);
            service_fn(move |req| proxy::handle(shared.clone(), req, client.clone()))
        }
    };
    let make = make_for();
    // The TLS listener stops accepting when the plain one does (`down`), and drains beside it.
    let shutdown = async move {
        shutdown.await;
        let _ = down_tx.send(true);
    };
    let tls_task = tls_listener.map(|(listener, addr, t)| {
        info!(addr = %addr, "gateway TLS listening");
        let mut down = down_rx.clone();
        let reload = tokio::spawn(t.tls.clone().watch(t.reload_interval, async move {
            let _ = down.wait_for(|d| *d).await;
        }));
        let mut down = down_rx.clone();
        let serve = gatewatch_listen::serve_tls(
            "gateway tls",
            listener,
            limits,
            proxy_stats.clone(),
            t.tls,
            make_for(),
            async move {
                let _ = down.wait_for(|d| *d).await;
            },
            drain,
        );
        tokio::spawn(async move {
            serve.await;
            let _ = reload.await;
        })
    });
    let task = tokio::spawn(async move {
        // h2c with prior knowledge beside HTTP/1.1 (see `gatewatch_listen::serve_h2c`).
        gatewatch_listen::serve_h2c(
            "gateway",
            listener,
            limits,
            proxy_stats,
            make,
            shutdown,
            drain,
        )
        .await;
        let _ = stop_tx.send(true);
        let mut failed = None;
        for (name, task) in [
            ("config source", source_task),
            ("quota sync", quota_sync),
            ("oauth sync", oauth_sync),
            ("batcher", Some(batcher)),
            ("otlp exporter", otlp_task),
            ("sampler", sampler),
            ("shipper", Some(sender)),
            ("journal sync", journal_sync),
            ("admin port", Some(admin_task)),
            ("tls listener", tls_task),
        ] {
            if let Some(task) = task {
                if let Err(e) = task.await {
                    failed.get_or_insert(Error::Task {
                        task: name,
                        message: e.to_string(),
                    });
                }
            }
        }
        // bearer: the JWKS tasks end on the stop signal (a fetch under way: within its timeout).
        for task in jwks_tasks {
            let _ = task.await;
        }
        if let Some(j) = &journal {
            j.close();
        }
        info!("gateway stopped");
        failed.map_or(Ok(()), Err)
    });
    Ok(Running {
        local_addr,
        tls_addr,
        admin_addr,
        served,
        task,
    })
}

/// Syncs the journal every [`journal::SYNC_EVERY`] until `stop`, then once more.
async fn sync_journal(journal: Arc<journal::Journal>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(journal::SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = false;
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = ship::stopped(&mut stop) => true,
        };
        let j = journal.clone();
        let result = tokio::task::spawn_blocking(move || j.sync())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match result {
            Err(e) if !last_error => {
                tracing::error!(error = %e, "cannot sync the journal; records are safe from a process crash but not from a power loss");
                last_error = true;
            }
            Err(_) => {}
            Ok(()) => last_error = false,
        }
        if stopping {
            return;
        }
    }
}

/// Hands what an earlier process left in the journal to the spool, as replay batches (see
/// `journal.rs`, *Recovery*), and deletes the old segments once all of it is spooled.
async fn replay_journal(
    leftover: journal::Leftover,
    spool: &mut spool::Spool,
    (max, max_bytes): (usize, usize),
    metrics: &Arc<metrics::Metrics>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    if leftover.segments.is_empty() {
        return;
    }
    let left = Arc::new(leftover);
    let blocking = |f: Box<dyn FnOnce() -> std::io::Result<()> + Send>| async move {
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    };
    let l = left.clone();
    let recovered = tokio::task::spawn_blocking(move || journal::recover(&l, max, max_bytes))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let rec = match recovered {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(dir = %left.dir.display(), error = %e, "cannot read what the journal holds from before; kept for the next start");
            return;
        }
    };
    if rec.damaged > 0 || rec.torn_bytes > 0 {
        tracing::warn!(
            dir = %left.dir.display(),
            damaged_stretches = rec.damaged,
            damaged_bytes = rec.skipped_bytes,
            torn_tail_bytes = rec.torn_bytes,
            "the journal is damaged; every intact record before and after the damage is replayed"
        );
    }
    metrics.journal_damaged.fetch_add(rec.damaged, Relaxed);
    metrics
        .journal_skipped_bytes
        .fetch_add(rec.skipped_bytes + rec.torn_bytes, Relaxed);
    let (mut records, mut batches, mut kept) = (0u64, 0usize, false);
    for b in rec.batches {
        let count = b.lines.len();
        let lines = b.lines;
        let body = tokio::task::spawn_blocking(move || batch::compress(&lines.concat()))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot compress journalled records; kept for the next start");
                kept = true;
                continue;
            }
        };
        let out = batch::Batch {
            kind: batch::Kind::Records,
            id: b.id,
            body: bytes::Bytes::from(body),
            count,
            replay: true,
            journal: Default::default(),
        };
        let seq = spool.next_seq();
        match spool.append(seq, &out).await {
            Ok(()) => {
                records += count as u64;
                batches += 1;
                metrics.records_spooled.fetch_add(count as u64, Relaxed);
            }
            Err(spool::AppendError::Full) => {
                tracing::warn!(lines = count, "spool is full; journalled records dropped");
                metrics.count_dropped(metrics::DropReason::SpoolFull, count as u64);
            }
            Err(spool::AppendError::Io(e)) => {
                tracing::error!(error = %e, "cannot write journalled records to the spool; kept for the next start");
                kept = true;
                continue;
            }
        }
        let (l, refs) = (left.clone(), b.refs);
        if let Err(e) = blocking(Box::new(move || journal::replayed(&l, &refs))).await {
            tracing::warn!(error = %e, "cannot note a replayed batch in the journal; it is spooled again (same batch id) if the gateway stops before the replay ends");
        }
    }
    if !kept {
        let (l, keep) = (left.clone(), rec.unreadable.clone());
        if let Err(e) = blocking(Box::new(move || journal::finish_replay(&l, &keep))).await {
            tracing::error!(dir = %left.dir.display(), error = %e, "cannot delete replayed journal segments; they are replayed again (under the same batch ids) after a restart");
        }
    }
    metrics.journal_replayed.fetch_add(records, Relaxed);
    info!(
        records,
        batches,
        already_handed_on = rec.already_handed_on,
        damaged_stretches = rec.damaged,
        skipped_bytes = rec.skipped_bytes + rec.torn_bytes,
        "journal replayed into the spool: records of calls answered before the gateway stopped"
    );
}

/// Runs a gateway until `shutdown` resolves, then drains it (see the crate doc).
pub async fn run(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    bind(config, shutdown).await?.wait().await
}
