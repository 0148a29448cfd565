#!/usr/bin/env bash
# Stops every server of the cluster harness (ClickHouse first, then ZooKeeper). Data stays
# under $GATEWATCH_CLUSTER_DIR; `rm -rf` it for a clean start.
set -euo pipefail
CLUSTER_DIR="${GATEWATCH_CLUSTER_DIR:-/var/tmp/gatewatch-cluster}"
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
stop() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if running "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      running "$pid" || break
      sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
for n in 1 2 3 4; do
  stop "$CLUSTER_DIR/ch$n/pid" &
done
wait
stop "$CLUSTER_DIR/zk/pid"
echo "cluster harness stopped"
