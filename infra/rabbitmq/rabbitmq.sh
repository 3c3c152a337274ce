#!/usr/bin/env bash
# RabbitMQ (Debian's rabbitmq-server) standing in for API Manager's event hub in integration tests.
#   infra/rabbitmq/rabbitmq.sh start|stop|status
# Env: RABBITMQ_PORT (AMQP, default 5673 so a system broker on 5672 is not touched),
# RABBITMQ_DIST_PORT (Erlang distribution, default AMQP port + 20000), RABBITMQ_RUN_DIR (default
# <repo>/.data/rabbitmq). Listens on 127.0.0.1 only. Prints `AMQP_URL=amqp://guest:guest@127.0.0.1:<port>`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PORT="${RABBITMQ_PORT:-5673}"
RUN_DIR="${RABBITMQ_RUN_DIR:-$repo/.data/rabbitmq}"
BIN=/usr/lib/rabbitmq/bin

export RABBITMQ_NODE_PORT="$PORT"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-$((PORT + 20000))}"
export RABBITMQ_NODENAME="mesh-apim-$PORT@localhost"
export RABBITMQ_MNESIA_BASE="$RUN_DIR/mnesia"
export RABBITMQ_LOG_BASE="$RUN_DIR/log"
export RABBITMQ_PID_FILE="$RUN_DIR/rabbitmq.pid"
export RABBITMQ_CONFIG_FILE="$RUN_DIR/rabbitmq"          # .conf appended by the server
export RABBITMQ_ENABLED_PLUGINS_FILE="$RUN_DIR/enabled_plugins"
export RABBITMQ_ADVANCED_CONFIG_FILE="$RUN_DIR/advanced.config"
# The Erlang cookie lives in $HOME: keep it in the run dir, not in the user's home.
export HOME="$RUN_DIR/home"

install_if_missing() {
  [[ -x "$BIN/rabbitmq-server" ]] && return 0
  echo "installing rabbitmq-server (apt-get)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  # The package may start a system-wide broker; ours runs separately on its own port.
}

amqp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
running() { [[ -f "$RABBITMQ_PID_FILE" ]] && kill -0 "$(cat "$RABBITMQ_PID_FILE")" 2>/dev/null; }

start() {
  if running && amqp_open; then echo "AMQP_URL=amqp://guest:guest@127.0.0.1:$PORT"; return 0; fi
  install_if_missing
  mkdir -p "$RUN_DIR/mnesia" "$RUN_DIR/log" "$HOME"
  chmod 700 "$HOME"
  # guest may log in from loopback only, which is all the tests use.
  printf 'loopback_users.guest = true\nlisteners.tcp.default = 127.0.0.1:%s\n' "$PORT" > "$RUN_DIR/rabbitmq.conf"
  echo '[].' > "$RUN_DIR/enabled_plugins"
  echo '[].' > "$RUN_DIR/advanced.config"
  nohup "$BIN/rabbitmq-server" > "$RUN_DIR/log/console.log" 2>&1 &
  local launcher=$!
  for _ in $(seq 1 120); do
    if [[ -f "$RABBITMQ_PID_FILE" ]] && amqp_open; then
      "$BIN/rabbitmqctl" -q await_startup >/dev/null 2>&1 || true
      echo "AMQP_URL=amqp://guest:guest@127.0.0.1:$PORT"
      return 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      echo "rabbitmq-server exited; log:" >&2; tail -30 "$RUN_DIR/log/console.log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "rabbitmq did not accept AMQP on port $PORT" >&2; stop; exit 1
}

stop() {
  if running; then
    local pid; pid="$(cat "$RABBITMQ_PID_FILE")"
    "$BIN/rabbitmqctl" -q stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$RABBITMQ_PID_FILE"
  # The Erlang port mapper outlives the node; stop it only when no other node is registered.
  if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep '^name ' >/dev/null; then epmd -kill >/dev/null 2>&1 || true; fi
}

status() {
  if running && amqp_open; then echo "running (pid $(cat "$RABBITMQ_PID_FILE"), port $PORT)"; else echo "stopped"; return 1; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
