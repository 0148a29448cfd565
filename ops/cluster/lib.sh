# Shared by ops/cluster/{up,down,pid}.sh: the harness's ports and how each server starts.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/common.sh"

CLUSTER_DIR="${GATEWATCH_CLUSTER_DIR:-/var/tmp/gatewatch-cluster}"
ZK_PORT=18218
CLUSTER_NAME=gatewatch

http_port() { echo $((18222 + $1)); }
tcp_port() { echo $((18232 + $1)); }
inter_port() { echo $((18242 + $1)); }
shard_of() { if [ "$1" -le 2 ]; then echo 01; else echo 02; fi; }

# spawn PIDFILE LOG CMD...: starts CMD in a session of its own (so a test's process-group kill
# or the end of a shell does not take it down), writing its exact pid: the inner shell writes
# its own pid and then becomes CMD (setsid may fork, so `$!` would not be the server's pid).
spawn() {
  local pidfile=$1 logfile=$2
  rm -f "$pidfile"
  shift 2
  (cd / && setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$logfile" 2>&1 </dev/null)
  for _ in $(seq 1 50); do
    [ -s "$pidfile" ] && return 0
    sleep 0.1
  done
}

# alive PIDFILE: the pid in the file is a running process. A killed server can stay a zombie
# (its parent is whatever reaps orphans here, which may not), so look at its state, not kill -0.
alive() {
  local pid state
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

zk_ok() {
  # `stat` names the server's mode only once it serves sessions; `ruok` answers `imok` earlier,
  # and ClickHouse 18.16 crashes (createImpl) when its first session is refused.
  local answer
  answer=$( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf stat >&3 && timeout 2 cat <&3) 2>/dev/null) || return 1
  case "$answer" in
    *"Mode: "*) return 0 ;;
    *) return 1 ;;
  esac
}

start_zookeeper() {
  local d="$CLUSTER_DIR/zk"
  mkdir -p "$d/conf" "$d/data" "$d/log"
  if alive "$d/pid" && zk_ok; then
    return 0
  fi
  cat >"$d/conf/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,srvr,mntr
maxClientCnxns=200
CFG
  cat >"$d/conf/log4j.properties" <<CFG
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$d/log/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n
CFG
  log "starting ZooKeeper on 127.0.0.1:$ZK_PORT"
  spawn "$d/pid" "$d/log/stdout.log" java -Xmx256m \
      -cp "$d/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar" \
      -Dzookeeper.log.dir="$d/log" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$d/conf/zoo.cfg"
  for _ in $(seq 1 120); do
    zk_ok && return 0
    sleep 0.5
  done
  echo "ZooKeeper did not start; see $d/log/" >&2
  tail -n 20 "$d/log/stdout.log" "$d/log/zookeeper.log" >&2 2>/dev/null || true
  return 1
}

remote_servers_xml() {
  local s n
  for s in 01 02; do
    echo "        <shard><internal_replication>true</internal_replication>"
    for n in 1 2 3 4; do
      [ "$(shard_of "$n")" = "$s" ] || continue
      echo "          <replica><host>127.0.0.1</host><port>$(tcp_port "$n")</port></replica>"
    done
    echo "        </shard>"
  done
}

start_clickhouse() {
  local n=$1 d="$CLUSTER_DIR/ch$1" http
  http=$(http_port "$n")
  if alive "$d/pid" && curl -sf "http://127.0.0.1:$http/ping" >/dev/null 2>&1; then
    return 0
  fi
  if alive "$d/pid"; then
    # Started but not answering yet (a previous run is still starting it): wait for it.
    return 0
  fi
  mkdir -p "$d/config.d" "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$d/log"
  cp /etc/clickhouse-server/config.xml "$d/config.xml"
  cp /etc/clickhouse-server/users.xml "$d/users.xml"
  cat >"$d/config.d/gatewatch-cluster.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$d/log/server.log</log>
        <errorlog>$d/log/err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <http_port>$http</http_port>
    <tcp_port>$(tcp_port "$n")</tcp_port>
    <interserver_http_port>$(inter_port "$n")</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <listen_host replace="replace">127.0.0.1</listen_host>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <remote_servers replace="replace">
      <$CLUSTER_NAME>
$(remote_servers_xml)
      </$CLUSTER_NAME>
    </remote_servers>
    <zookeeper replace="replace">
        <node><host>127.0.0.1</host><port>$ZK_PORT</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <macros replace="replace">
        <cluster>$CLUSTER_NAME</cluster>
        <shard>$(shard_of "$n")</shard>
        <replica>ch$n</replica>
    </macros>
</yandex>
XML
  log "starting ClickHouse ch$n (shard $(shard_of "$n")) on 127.0.0.1:$http"
  spawn "$d/pid" "$d/log/stdout.log" clickhouse-server --config-file="$d/config.xml"
}

wait_clickhouse() {
  local n=$1 d="$CLUSTER_DIR/ch$1" http tries=0
  http=$(http_port "$n")
  for _ in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$http/ping" >/dev/null 2>&1; then
      return 0
    fi
    if ! alive "$d/pid" && [ "$tries" -lt 3 ]; then
      # 18.16 can die at start when its first ZooKeeper session fails (a crash in
      # ZooKeeper::createImpl): start it again, a few times.
      tries=$((tries + 1))
      log "ClickHouse ch$n stopped while starting; starting it again ($tries)"
      start_clickhouse "$n"
    fi
    sleep 0.5
  done
  echo "ClickHouse ch$n did not start; see $d/log/" >&2
  tail -n 20 "$d/log/err.log" "$d/log/stdout.log" >&2 2>/dev/null || true
  return 1
}

# The first ON CLUSTER statement after a start waits for every server's DDL worker; run a
# harmless one so tests do not each pay for it, and so a broken ZooKeeper link shows here.
wait_cluster_ddl() {
  local q="CREATE DATABASE IF NOT EXISTS gatewatch_harness ON CLUSTER $CLUSTER_NAME"
  for _ in $(seq 1 10); do
    if curl -sf --max-time 30 "http://127.0.0.1:$(http_port 1)/" --data-binary "$q" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  echo "ON CLUSTER DDL does not complete: is ZooKeeper reachable from every server?" >&2
  curl -s --max-time 30 "http://127.0.0.1:$(http_port 1)/" --data-binary "$q" >&2 || true
  return 1
}

write_site_config() {
  local f="$here/gatewatch.toml"
  cat >"$f.tmp" <<TOML
# Written by ops/cluster/up.sh: a site on the cluster harness (loopback only).
data_dir = "$CLUSTER_DIR/site"
node = "cluster-harness"

[clickhouse]
url = "http://127.0.0.1:$(http_port 1)"
# Every server: the collector inserts into each shard and fails over between replicas.
urls = ["http://127.0.0.1:$(http_port 1)", "http://127.0.0.1:$(http_port 2)", "http://127.0.0.1:$(http_port 3)", "http://127.0.0.1:$(http_port 4)"]
database = "gatewatch"
cluster = "$CLUSTER_NAME"

[gateway]
listen = "127.0.0.1:18280"
admin_listen = "127.0.0.1:18281"
collector_url = "http://127.0.0.1:18291"

[dashboards]
listen = "127.0.0.1:18290"

[collector]
listen = "127.0.0.1:18291"

[alerter]
listen = "127.0.0.1:18292"

[reports]
listen = "127.0.0.1:18293"
TOML
  mv "$f.tmp" "$f"
}
