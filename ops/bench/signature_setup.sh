# Sourced by ops/bench/gateway_callgrind.sh as SETUP_SH (after migrate, before the gateway
# starts): the request-signature scenario of issue 17. Through the admin API (a dashboards
# process started for it and stopped), an API `sig` (auth api_key) whose `signature` policy
# is on or off, a client with an API key and, by SIG_ALG, a signing secret or a public key;
# then one signed request per call (`gatewatch sign`, each with its own nonce) for wrk to
# send in turn (a Lua script). The gateway's measured path becomes /sig/hello.
#
#   SETUP_SH=ops/bench/signature_setup.sh SIG_ALG=off ops/bench/gateway_callgrind.sh
#   SETUP_SH=ops/bench/signature_setup.sh SIG_ALG=ed25519 ops/bench/gateway_callgrind.sh
#
# SIG_ALG: off (the same API and key, no `signature`), hmac-sha256, ed25519,
# ecdsa-p256-sha256. DASHBOARDS_PORT (18190).
SIG_ALG="${SIG_ALG:-ed25519}"
DASHBOARDS_PORT="${DASHBOARDS_PORT:-18190}"
require_free_ports "$DASHBOARDS_PORT"
printf '\n[dashboards]\nlisten = "127.0.0.1:%s"\n' "$DASHBOARDS_PORT" >>"$T/gatewatch.toml"
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }

A="http://127.0.0.1:$DASHBOARDS_PORT/api/v1"
PW="bench-password-0123456789"
echo "$PW" | "$GATEWATCH" --config "$T/gatewatch.toml" --log warn user add bench --role admin --password-stdin >/dev/null
bench_start dashboards "$GATEWATCH" --config "$T/gatewatch.toml" --log warn dashboards
DASH_PID=$LAST_PID
wait_http "http://127.0.0.1:$DASHBOARDS_PORT/healthz" 30 "$DASH_PID"
CSRF=$(curl -sf -c "$T/jar" -H 'content-type: application/json' \
  -d "{\"user\":\"bench\",\"password\":\"$PW\"}" "$A/login" | json '["csrf_token"]')
H=(-sf -b "$T/jar" -H "X-CSRF-Token: $CSRF" -H 'content-type: application/json')

COMPONENTS='["@method","@path","@query","content-digest"]'
policy=""
[ "$SIG_ALG" != off ] && policy=",\"signature\":{\"components\":$COMPONENTS,\"max_age_secs\":86400}"
curl "${H[@]}" -d "{\"id\":\"sig\",\"name\":\"sig\",\"prefix\":\"/sig\",\"strip_prefix\":true,
  \"upstreams\":[\"http://127.0.0.1:$UPSTREAM_PORT\"],\"auth\":[\"api_key\"]$policy}" "$A/apis" >/dev/null
curl "${H[@]}" -d '{"id":"g-sig","name":"g-sig","apis":["sig"]}' "$A/groups" >/dev/null
keys='[]'
SIGN=()
case "$SIG_ALG" in
  ed25519 | ecdsa-p256-sha256)
    if [ "$SIG_ALG" = ed25519 ]; then
      openssl genpkey -algorithm ed25519 -out "$T/sign.pem" 2>/dev/null
    else
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/sign.pem" 2>/dev/null
    fi
    pub=$("$GATEWATCH" sign --private-key "$T/sign.pem" --public-key)
    keys=$(python3 -c 'import json,sys; print(json.dumps([{"id":"k1","alg":sys.argv[1],"public_key":sys.argv[2]}]))' "$SIG_ALG" "$pub")
    SIGN=(--keyid k1 --private-key "$T/sign.pem")
    ;;
esac
curl "${H[@]}" -d "{\"id\":\"bench\",\"name\":\"bench\",\"groups\":[\"g-sig\"],\"signing_keys\":$keys}" "$A/clients" >/dev/null
API_KEY=$(curl "${H[@]}" -d '{}' "$A/clients/bench/keys" | json '["secret"]')
if [ "$SIG_ALG" = hmac-sha256 ]; then
  curl "${H[@]}" -d '{}' "$A/clients/bench/signing-secret" | json '["secret"]' >"$T/signing-secret"
  SIGN=(--keyid bench --secret-file "$T/signing-secret")
fi
bench_stop "$DASH_PID"

WRK_PATH=/sig/hello
URL="http://127.0.0.1:$GATEWAY_PORT$WRK_PATH"
: >"$T/signatures"
if [ "$SIG_ALG" != off ]; then
  n=$((WARMUP + REQUESTS + 2000))
  log "signing $n requests ($SIG_ALG, one nonce each)"
  for i in $(seq 1 "$n"); do
    "$GATEWATCH" sign "${SIGN[@]}" --url "$URL" --nonce "n$i" |
      awk -F': ' '{v[$1] = $2} END {printf "%s\t%s\t%s\n", v["Content-Digest"], v["Signature-Input"], v["Signature"]}'
  done >>"$T/signatures"
else
  printf '\t\t\n' >>"$T/signatures"
fi
# Each wrk run goes on where the one before stopped (done() notes how far it got, with a
# margin for requests in flight), so no signed request is sent twice.
cat >"$T/sig.lua" <<LUA
local lines = {}
for l in io.lines("$T/signatures") do lines[#lines + 1] = l end
local next_file = "$T/signatures.next"
local f = io.open(next_file)
local start = f and tonumber(f:read("*l")) or 0
if f then f:close() end
local i = start
wrk.headers["x-api-key"] = "$API_KEY"
request = function()
  i = i % #lines + 1
  local d, si, s = lines[i]:match("([^\t]*)\t([^\t]*)\t(.*)")
  if si ~= "" then
    wrk.headers["Content-Digest"] = d
    wrk.headers["Signature-Input"] = si
    wrk.headers["Signature"] = s
  end
  return wrk.format("GET", "$WRK_PATH")
end
done = function(summary, latency, requests)
  local out = io.open(next_file, "w")
  out:write(tostring(start + summary.requests + 2 * $CONNECTIONS), "\n")
  out:close()
end
LUA
WRK_EXTRA=(-s "$T/sig.lua")
