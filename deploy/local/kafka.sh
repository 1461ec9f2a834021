#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) without Docker.
# The broker's jars come from Maven Central through pom.xml; state lives under .local/kafka/.
#   deploy/local/kafka.sh start|stop|status|logs|reset|jars (jars: fetch them only, print where)
# Environment: HITL_KAFKA_PORT (9092), HITL_KAFKA_HEAP (512m), HITL_KAFKA_START_TIMEOUT (90 s),
# HITL_KAFKA_STATE (.local/kafka: data, config, pid and log; a second broker needs its own, e.g.
# the chaos suite's, which restarts it). The jars are shared by every state directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state="${HITL_KAFKA_STATE:-$root/.local/kafka}"
jars="$root/.local/kafka/jars"
data="$state/data"
pidfile="$state/broker.pid"
logfile="$state/broker.log"
port="${HITL_KAFKA_PORT:-9092}"
controller_port=$((port + 1))
heap="${HITL_KAFKA_HEAP:-512m}"
timeout_s="${HITL_KAFKA_START_TIMEOUT:-90}"

log() { echo "kafka.sh: $*" >&2; }

resolve_jars() {
  local stamp="$jars/.pom.sha256"
  local want
  want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "resolving broker jars from Maven Central (first run only)"
  rm -rf "$jars"
  mkdir -p "$jars"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$jars" -DincludeScope=runtime
  echo "$want" >"$stamp"
}

write_config() {
  mkdir -p "$data"
  cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${data}
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
message.max.bytes=2097152
log.retention.hours=24
log.segment.bytes=67108864
PROPS
}

java_opts=(-Xms128m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$jars/*")

java_cmd() {
  java "${java_opts[@]}" "$@"
}

format_storage() {
  if [[ -f "$data/meta.properties" ]]; then
    return 0
  fi
  log "formatting KRaft storage in $data"
  local cluster_id
  cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$logfile")
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$state/server.properties" >>"$logfile" 2>&1
}

running_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_answers() {
  # A Kafka broker answers an ApiVersions request; a plain TCP connect is the cheap first check.
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

wait_ready() {
  local deadline=$((SECONDS + timeout_s))
  while ((SECONDS < deadline)); do
    if ! running_pid >/dev/null; then
      log "broker exited during start; last lines of $logfile:"
      tail -n 30 "$logfile" >&2
      return 1
    fi
    if port_answers && grep -q "Kafka Server started" "$logfile"; then
      return 0
    fi
    sleep 0.5
  done
  log "broker did not answer on 127.0.0.1:$port within ${timeout_s}s"
  tail -n 30 "$logfile" >&2
  return 1
}

start() {
  if pid=$(running_pid); then
    log "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  command -v java >/dev/null || { log "java not found: install a Java 17+ runtime"; exit 1; }
  if port_answers; then
    log "something else already listens on 127.0.0.1:$port (another broker?):"
    log "stop it, or use it with HITL_KAFKA_BOOTSTRAP, or pick another HITL_KAFKA_PORT"
    exit 1
  fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven to resolve the broker jars"; exit 1; }
  local t0=$SECONDS
  mkdir -p "$state"
  resolve_jars
  write_config
  : >"$logfile"
  format_storage
  # exec, so the recorded pid is the JVM itself and `stop` signals the broker, not a wrapper.
  (exec java "${java_opts[@]}" kafka.Kafka "$state/server.properties") >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  if wait_ready; then
    log "broker ready on 127.0.0.1:$port (pid $(cat "$pidfile"), $((SECONDS - t0))s)"
  else
    stop
    exit 1
  fi
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    log "not running"
    return 0
  fi
  kill "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker did not stop in 30s; killing"
    kill -9 "$pid"
  fi
  rm -f "$pidfile"
  log "stopped"
}

status() {
  if pid=$(running_pid); then
    echo "running (pid $pid) on 127.0.0.1:$port"
  else
    echo "not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  logs) tail -n "${2:-100}" -f "$logfile" ;;
  reset) stop; rm -rf "$data"; log "data wiped" ;;
  jars) resolve_jars; echo "$jars" ;;
  *) echo "usage: $0 start|stop|status|logs [N]|reset|jars" >&2; exit 2 ;;
esac
