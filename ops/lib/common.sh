# Shared by ops/quickstart.sh, ops/test.sh and the benchmarks: install what is missing from
# Debian's packages and start ClickHouse. Source it; do not run it.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_updated=0
# apt_install PKG... : installs the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

CLICKHOUSE_URL="${GATEWATCH_CLICKHOUSE_URL:-http://127.0.0.1:8123}"

# ensure_clickhouse: installs clickhouse-server and -client if missing, starts the server if it
# does not answer, and waits until it does. No systemd here, so the server is started directly.
ensure_clickhouse() {
  apt_install clickhouse-server clickhouse-client curl
  if curl -sf "$CLICKHOUSE_URL/ping" >/dev/null 2>&1; then
    return 0
  fi
  log "starting clickhouse-server"
  $SUDO mkdir -p /var/log/clickhouse-server
  (cd / && $SUDO setsid clickhouse-server --config-file=/etc/clickhouse-server/config.xml \
      >/var/log/clickhouse-server/stdout.log 2>&1 < /dev/null &)
  for _ in $(seq 1 120); do
    if curl -sf "$CLICKHOUSE_URL/ping" >/dev/null 2>&1; then
      log "ClickHouse $(curl -s "$CLICKHOUSE_URL/?query=SELECT%20version()") is up at $CLICKHOUSE_URL"
      return 0
    fi
    sleep 0.5
  done
  echo "ClickHouse did not start; see /var/log/clickhouse-server/" >&2
  tail -n 20 /var/log/clickhouse-server/clickhouse-server.err.log 2>/dev/null >&2 || true
  return 1
}

# ensure_rust: cargo must be on the machine (rustup); say so clearly if it is not.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      echo "cargo is not installed: install Rust with rustup first (https://rustup.rs)" >&2
      return 1
    fi
  fi
}
