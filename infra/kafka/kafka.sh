#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller in one JVM) on 127.0.0.1, for the
# integration tests and for trying the Kafka bus. No Docker, no tarball: the broker's jars come from
# Maven Central through pom.xml (mvn dependency:copy-dependencies) and are cached outside the repo.
#
#   infra/kafka/kafka.sh install | start | stop | restart | status | clean
#
# Environment (all optional):
#   KAFKA_VERSION          broker version (default 4.1.1; kafkajs 2.2.4 verified against it)
#   KAFKA_PORT             client listener port (default 19092); KAFKA_CONTROLLER_PORT (default port+1)
#   KAFKA_CACHE_DIR        jar cache (default ~/.cache/mesh-apim/kafka-<version>)
#   KAFKA_RUN_DIR          data, config, pid and log (default ${TMPDIR:-/tmp}/mesh-apim-kafka-<port>)
#   KAFKA_HEAP             JVM heap (default -Xmx512m -Xms256m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker (default 120)
#   KAFKA_OAUTHBEARER_PORT when set, a second client listener there: SASL_PLAINTEXT with OAUTHBEARER and
#                          Kafka's unsecured validator (accepts unsigned JWS tokens with sub and exp);
#                          the MSK IAM integration test proves through it that the bus sends its token
# Idempotent: start on a running broker and stop on a stopped one succeed. Data survives stop/start
# (the integration tests restart the broker mid-stream); `clean` removes it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="${KAFKA_VERSION:-4.1.1}"
PORT="${KAFKA_PORT:-19092}"
CPORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
CACHE="${KAFKA_CACHE_DIR:-${HOME}/.cache/mesh-apim/kafka-${VERSION}}"
RUN="${KAFKA_RUN_DIR:-${TMPDIR:-/tmp}/mesh-apim-kafka-${PORT}}"
HEAP="${KAFKA_HEAP:--Xmx512m -Xms256m}"
TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
PIDFILE="$RUN/kafka.pid"
LOG="$RUN/kafka.log"

say() { echo "kafka.sh: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install() {
  if [[ -f "$CACHE/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { say "mvn not found (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { say "java not found (Java 17+ needed)"; exit 1; }
  say "installing Kafka $VERSION jars into $CACHE (Maven Central)"
  rm -rf "$CACHE/libs"
  mkdir -p "$CACHE"
  if ! mvn -B -f "$HERE/pom.xml" -Dkafka.version="$VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$CACHE/libs" -DincludeScope=runtime \
    >"$CACHE/install.log" 2>&1; then
    say "mvn failed; see $CACHE/install.log"
    tail -n 30 "$CACHE/install.log" >&2
    exit 1
  fi
  touch "$CACHE/.complete"
}

java_args() {
  # shellcheck disable=SC2206
  JAVA_ARGS=(java $HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel="${KAFKA_LOG_LEVEL:-info}"
    -Dorg.slf4j.simpleLogger.showDateTime=true
    -cp "$CACHE/libs/*")
}
java_cmd() {
  java_args
  "${JAVA_ARGS[@]}" "$@"
}

write_config() {
  mkdir -p "$RUN/data"
  local listeners="PLAINTEXT://127.0.0.1:$PORT" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n "${KAFKA_OAUTHBEARER_PORT:-}" ]]; then
    listeners="$listeners,OAUTH://127.0.0.1:$KAFKA_OAUTHBEARER_PORT"
    protocols="$protocols,OAUTH:SASL_PLAINTEXT"
  fi
  cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=$listeners,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$RUN/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
# Short check interval (and no 30 s initial delay) so the retention integration test sees deletions within seconds.
log.retention.check.interval.ms=2000
log.initial.task.delay.ms=0
EOF
  if [[ -n "${KAFKA_OAUTHBEARER_PORT:-}" ]]; then
    cat >>"$RUN/server.properties" <<'EOF'
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
EOF
  fi
}

start() {
  install
  local pid
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$PORT"
    wait_ready "$pid"
    return 0
  fi
  if port_open "$PORT" || port_open "$CPORT"; then
    say "port $PORT or $CPORT is in use by another process; set KAFKA_PORT"
    exit 1
  fi
  write_config
  if [[ ! -f "$RUN/data/meta.properties" ]]; then
    local id
    id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    java_cmd kafka.tools.StorageTool format -t "$id" -c "$RUN/server.properties" >>"$LOG" 2>&1 \
      || { say "storage format failed; see $LOG"; tail -n 30 "$LOG" >&2; exit 1; }
  fi
  local from=0
  [[ -f "$LOG" ]] && from="$(stat -c %s "$LOG")"
  # setsid: the broker outlives the calling shell/test process and gets no terminal signals.
  java_args
  setsid "${JAVA_ARGS[@]}" kafka.Kafka "$RUN/server.properties" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  say "started pid $! (log $LOG)"
  wait_ready "$!" "$from"
}

wait_ready() {
  local pid="$1" from="${2:-0}" deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "broker exited during start-up; last log lines:"
      tail -n 40 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    # grep without -q reads to the end: with -q it exits at the first match, tail gets SIGPIPE on a
    # large log, and pipefail turns the match into a failure (the "already running" path hung here).
    if port_open "$PORT" && tail -c +"$((from + 1))" "$LOG" | grep 'Kafka Server started' >/dev/null; then
      say "ready on 127.0.0.1:$PORT"
      echo "127.0.0.1:$PORT"
      return 0
    fi
    sleep 0.5
  done
  say "not ready after ${TIMEOUT}s; last log lines:"
  tail -n 40 "$LOG" >&2
  exit 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 45))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then
    say "no clean shutdown in 45s; killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  say "stopped"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running pid $pid 127.0.0.1:$PORT (run dir $RUN)"
  else
    echo "stopped (run dir $RUN)"
    return 3
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  status) status ;;
  clean) stop && rm -rf "$RUN" && say "removed $RUN" ;;
  *)
    echo "usage: $0 install|start|stop|restart|status|clean" >&2
    exit 2
    ;;
esac
