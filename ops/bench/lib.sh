# Shared by ops/bench/gateway.sh and ops/bench/ingest.sh. Source it after ops/lib/common.sh;
# do not run it. Everything here stays on loopback.

BENCH_DB="${BENCH_DB:-gatewatch_bench}"
CLK_TCK="$(getconf CLK_TCK)"

# Processes started by the benchmark, stopped by bench_cleanup (installed as the EXIT trap).
BENCH_PIDS=()
BENCH_TMP=""

bench_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  # Newest first: the gateway before the collector, the proxy before its upstream.
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BENCH_PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "process $pid did not stop within 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
    if [ "${KEEP_TMP:-0}" = 1 ]; then
      echo "kept $BENCH_TMP (KEEP_TMP=1)" >&2
    else
      rm -rf "$BENCH_TMP"
    fi
  fi
  exit "$status"
}

bench_init() {
  BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/gatewatch-bench.XXXXXX")"
  # nginx workers run as an unprivileged user when started as root: let them into the dir.
  chmod 755 "$BENCH_TMP"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# bench_start NAME CMD... : starts CMD in the background, output to $BENCH_TMP/NAME.log.
bench_start() {
  local name=$1
  shift
  "$@" >"$BENCH_TMP/$name.log" 2>&1 </dev/null &
  BENCH_PIDS+=("$!")
  LAST_PID=$!
}

# bench_stop PID [SIGNAL] : stops one process started here and forgets it (so the exit trap
# never signals a number that may since belong to someone else).
bench_stop() {
  local pid=$1 sig=${2:-TERM} keep=() p
  kill -"$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${BENCH_PIDS[@]}"; do
    [ "$p" = "$pid" ] || keep+=("$p")
  done
  BENCH_PIDS=("${keep[@]}")
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

require_free_ports() {
  local p
  for p in "$@"; do
    if ! port_free "$p"; then
      echo "port 127.0.0.1:$p is in use; set the *_PORT variables to free ports" >&2
      exit 1
    fi
  done
}

# wait_http URL [SECONDS] [PID] : until URL answers 2xx; fails early if PID has exited.
wait_http() {
  local url=$1 secs=${2:-30} pid=${3:-}
  local n=$((secs * 10))
  for _ in $(seq 1 "$n"); do
    if curl -sf -o /dev/null "$url"; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before $url answered" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$url did not answer within ${secs}s" >&2
  return 1
}

# ch QUERY : runs a query over ClickHouse's HTTP interface.
ch() {
  curl -sS --fail-with-body "$CLICKHOUSE_URL/" --data-binary "$1"
}

ch_version() { ch "SELECT version()"; }

# build_gatewatch : cargo build --release --locked --bin gatewatch; sets GATEWATCH. A GATEWATCH
# already set (a binary to compare, e.g. one built from another commit) is used as it is.
build_gatewatch() {
  if [ -n "${GATEWATCH:-}" ]; then
    log "using GATEWATCH=$GATEWATCH (not building)"
    return 0
  fi
  ensure_rust
  log "building gatewatch (release)"
  cargo build --release --locked --bin gatewatch
  GATEWATCH="$(pwd)/target/release/gatewatch"
}

# cpu_ticks PID... : utime + stime (all threads) of the processes, in clock ticks.
cpu_ticks() {
  local t=0 p v
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# with_children PID : PID and its direct children (nginx master and its workers).
with_children() {
  echo "$1"
  pgrep -P "$1" 2>/dev/null || true
}

# machine_ticks : "busy steal total" from /proc/stat, in clock ticks.
machine_ticks() {
  awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8; steal = $9; total = busy + $5 + $6 + steal;
                print busy, steal, total}' /proc/stat
}

clickhouse_pid() {
  pidof clickhouse-server 2>/dev/null | awk '{print $1}'
}

machine_facts() {
  echo "cores: $(nproc), CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel: $(uname -r)"
  echo "ClickHouse: $(ch_version)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
}
