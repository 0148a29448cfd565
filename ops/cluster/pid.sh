#!/usr/bin/env bash
# Prints the pid of the harness server with this HTTP port (18223-18226), or of ZooKeeper
# with 18218. Exits 1 when that server is not running.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CLUSTER_DIR="${GATEWATCH_CLUSTER_DIR:-/var/tmp/gatewatch-cluster}"
case "${1:-}" in
  18218) f="$CLUSTER_DIR/zk/pid" ;;
  18223|18224|18225|18226) f="$CLUSTER_DIR/ch$(( $1 - 18222 ))/pid" ;;
  *) echo "usage: $0 PORT   (18223-18226 for ClickHouse, 18218 for ZooKeeper)" >&2; exit 2 ;;
esac
pid=$(cat "$f" 2>/dev/null) || pid=
state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || state=
case "$state" in
  ''|Z|X) echo "not running: port $1" >&2; exit 1 ;;
esac
echo "$pid"
