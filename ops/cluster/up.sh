#!/usr/bin/env bash
# Starts the cluster harness on loopback: ZooKeeper (Debian's `zookeeper`) and four ClickHouse
# servers forming the cluster `gatewatch` (2 shards x 2 replicas), and writes
# ops/cluster/gatewatch.toml pointing at them. Idempotent: run again, it starts only what is
# down (so it also brings back a server a test killed).
#
#   server  shard  replica  HTTP   native  interserver
#   ch1     01     ch1      18223  18233   18243
#   ch2     01     ch2      18224  18234   18244
#   ch3     02     ch3      18225  18235   18245
#   ch4     02     ch4      18226  18236   18246
#   ZooKeeper client port 18218.
#
# Files live under $GATEWATCH_CLUSTER_DIR (default /var/tmp/gatewatch-cluster): one harness per
# machine, as its ports are fixed. ops/cluster/pid.sh PORT and ops/cluster/down.sh go with it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

apt_install clickhouse-server clickhouse-client zookeeper curl

mkdir -p "$CLUSTER_DIR"
start_zookeeper
for n in 1 2 3 4; do
  start_clickhouse "$n"
done
for n in 1 2 3 4; do
  wait_clickhouse "$n"
done
wait_cluster_ddl
write_site_config
log "cluster harness up: ClickHouse on 18223-18226, ZooKeeper on $ZK_PORT; config $here/gatewatch.toml"
