#!/usr/bin/env bash
# Start/stop a throw-away redis-server (Debian's) on 127.0.0.1 for the shared rerank cache.
#   scripts/redis.sh start|stop|status      Env: REDIS_PORT (6379)
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
RUN_DIR="${TMPDIR:-/tmp}/haystack-rerank-redis-$PORT"
PID_FILE="$RUN_DIR/redis.pid"

log() { echo "[redis] $*" >&2; }
ping() { redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; }

case "${1:-}" in
  start)
    command -v redis-server >/dev/null || { log "redis-server not found: apt-get install redis-server"; exit 1; }
    if ping; then log "already answering on 127.0.0.1:$PORT"; exit 0; fi
    mkdir -p "$RUN_DIR"
    redis-server --port "$PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$PID_FILE" \
      --dir "$RUN_DIR" --save "" --appendonly no --logfile "$RUN_DIR/redis.log"
    for _ in $(seq 1 50); do ping && { log "ready on 127.0.0.1:$PORT"; exit 0; }; sleep 0.1; done
    log "not answering; see $RUN_DIR/redis.log"; exit 1 ;;
  stop)
    if [ -f "$PID_FILE" ]; then kill "$(cat "$PID_FILE")" 2>/dev/null || true; rm -f "$PID_FILE"; log "stopped"; else log "not running"; fi ;;
  status)
    if ping; then echo "running 127.0.0.1:$PORT"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
