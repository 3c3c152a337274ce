#!/usr/bin/env bash
# ElasticMQ (an SQS-compatible server) for integration tests, from Maven Central.
#   infra/elasticmq/elasticmq.sh start|stop|status
# Env: ELASTICMQ_PORT (default 9324), ELASTICMQ_VERSION, ELASTICMQ_RUN_DIR (pid/log/config, default
# <repo>/.data/elasticmq), MESH_APIM_CACHE (jar cache outside the repo, default ~/.cache/mesh-apim).
# Prints `SQS_ENDPOINT=http://127.0.0.1:<port>` once it answers. Queues and messages are kept in the
# run dir across stop/start (delete the run dir for a clean broker).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
VERSION="${ELASTICMQ_VERSION:-1.6.11}"
PORT="${ELASTICMQ_PORT:-9324}"
RUN_DIR="${ELASTICMQ_RUN_DIR:-$repo/.data/elasticmq}"
CACHE="${MESH_APIM_CACHE:-$HOME/.cache/mesh-apim}/elasticmq/$VERSION"
PID_FILE="$RUN_DIR/elasticmq.pid"

fetch() {
  [[ -f "$CACHE/.complete" ]] && return 0
  mkdir -p "$CACHE/lib"
  cat > "$CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mesh-apim.infra</groupId><artifactId>elasticmq-fetch</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.elasticmq</groupId><artifactId>elasticmq-server_2.13</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$CACHE" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime)
  touch "$CACHE/.complete"
}

running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

ready() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/?Action=ListQueues" ; }

start() {
  if running; then echo "elasticmq already running (pid $(cat "$PID_FILE"))"; echo "SQS_ENDPOINT=http://127.0.0.1:$PORT"; return 0; fi
  command -v java >/dev/null || { echo "java is required" >&2; exit 1; }
  fetch
  mkdir -p "$RUN_DIR"
  cat > "$RUN_DIR/elasticmq.conf" <<CONF
include classpath("application.conf")
node-address { protocol = http, host = "127.0.0.1", port = $PORT, context-path = "" }
rest-sqs { enabled = true, bind-port = $PORT, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false }
generate-node-address = false
aws { region = "us-east-1", accountId = "000000000000" }
# Queues and messages survive a restart (SQS is durable; the outage tests stop and restart it).
queues-storage { enabled = true, path = "$RUN_DIR/queues.conf" }
messages-storage { enabled = true, uri = "jdbc:h2:$RUN_DIR/messages" }
CONF
  nohup java -Xmx256m -Dconfig.file="$RUN_DIR/elasticmq.conf" -cp "$CACHE/lib/*" org.elasticmq.server.Main \
    > "$RUN_DIR/elasticmq.log" 2>&1 &
  echo $! > "$PID_FILE"
  for _ in $(seq 1 120); do
    if ! running; then echo "elasticmq exited; log:" >&2; tail -30 "$RUN_DIR/elasticmq.log" >&2; exit 1; fi
    if ready; then echo "SQS_ENDPOINT=http://127.0.0.1:$PORT"; return 0; fi
    sleep 0.5
  done
  echo "elasticmq did not become ready on port $PORT" >&2; stop; exit 1
}

stop() {
  if running; then
    local pid; pid="$(cat "$PID_FILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

status() { if running && ready; then echo "running (pid $(cat "$PID_FILE"), port $PORT)"; else echo "stopped"; return 1; fi; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  fetch) fetch ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac
