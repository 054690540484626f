#!/usr/bin/env bash
# Start/stop a single-node OpenSearch on 127.0.0.1, fetched from Maven Central.
#   scripts/opensearch.sh start|stop|status
# (scripts/opensearch-cluster.sh sources this file for `fetch` and `launch` and starts a 2-3 node cluster.)
# Env: OPENSEARCH_VERSION (2.19.4), OPENSEARCH_PORT (9200), OPENSEARCH_HEAP (512m),
#      HAYSTACK_RERANK_CACHE (~/.cache/haystack-rerank, /var/cache/haystack-rerank as root): where the distribution and node data live.
set -euo pipefail

VERSION="${OPENSEARCH_VERSION:-2.19.4}"
PORT="${OPENSEARCH_PORT:-9200}"
HEAP="${OPENSEARCH_HEAP:-512m}"
# as root the node runs as an unprivileged user, which cannot enter /root
if [ "$(id -u)" = 0 ]; then DEFAULT_CACHE=/var/cache/haystack-rerank; else DEFAULT_CACHE="$HOME/.cache/haystack-rerank"; fi
CACHE="${HAYSTACK_RERANK_CACHE:-$DEFAULT_CACHE}"
HOME_DIR="$CACHE/opensearch-$VERSION"
RUN_DIR="$CACHE/opensearch-run-$PORT"
PID_FILE="$RUN_DIR/opensearch.pid"
URL="http://127.0.0.1:$PORT"
RUN_USER="${OPENSEARCH_USER:-opensearch}"   # OpenSearch refuses to run as root

log() { echo "[opensearch] $*" >&2; }

fetch() {
  [ -x "$HOME_DIR/bin/opensearch" ] && return 0
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  local dl="$CACHE/download"
  mkdir -p "$dl"
  log "fetching org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip from Maven Central"
  mvn -q dependency:copy \
    -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip" \
    -DoutputDirectory="$dl" >&2
  rm -rf "$HOME_DIR.tmp" && mkdir -p "$HOME_DIR.tmp"
  (cd "$HOME_DIR.tmp" && unzip -q "$dl/opensearch-$VERSION.zip")
  # The integ-test zip ships only the transport module. Add analysis-common (the english analyzer:
  # stemming and stop words) from its Maven Central jar, as a module with a plugin descriptor.
  local module="$HOME_DIR.tmp/opensearch-$VERSION/modules/analysis-common"
  mkdir -p "$module"
  mvn -q dependency:copy -Dartifact="org.opensearch.plugin:analysis-common:$VERSION" -DoutputDirectory="$module" >&2
  cat > "$module/plugin-descriptor.properties" <<PROPS
description=Adds built-in analyzers (english, stemmers, stop words)
version=$VERSION
name=analysis-common
classname=org.opensearch.analysis.common.CommonAnalysisPlugin
java.version=11
opensearch.version=$VERSION
PROPS
  mv "$HOME_DIR.tmp/opensearch-$VERSION" "$HOME_DIR" && rm -rf "$HOME_DIR.tmp"
}

# launch RUN_DIR HTTP_PORT TRANSPORT_PORT [-Esetting=value...]: start one node in the background (as an
# unprivileged user when root), its pid (runuser's when root) in RUN_DIR/opensearch.pid
launch() {
  local run_dir="$1" http_port="$2" transport_port="$3"; shift 3
  mkdir -p "$run_dir/data" "$run_dir/logs"
  local as=()
  if [ "$(id -u)" = 0 ]; then
    id -u "$RUN_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
    chown -R "$RUN_USER" "$run_dir" "$HOME_DIR"
    as=(runuser -u "$RUN_USER" --)
  fi
  # the integ-test zip bundles no JDK: use the machine's
  local java_home="${OPENSEARCH_JAVA_HOME:-${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}}"
  OPENSEARCH_JAVA_HOME="$java_home" OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP" nohup "${as[@]}" "$HOME_DIR/bin/opensearch" \
    -Enetwork.host=127.0.0.1 -Ehttp.port="$http_port" -Etransport.port="$transport_port" \
    -Epath.data="$run_dir/data" -Epath.logs="$run_dir/logs" \
    -Ecluster.routing.allocation.disk.threshold_enabled=false "$@" \
    > "$run_dir/stdout.log" 2>&1 &
  echo $! > "$run_dir/opensearch.pid"
}

healthy() {
  curl -fsS "$URL/_cluster/health?wait_for_status=green&timeout=1s" 2>/dev/null | grep -q '"status":"green"'
}

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

start() {
  if running && healthy; then log "already running at $URL"; return 0; fi
  if curl -fsS "$URL" >/dev/null 2>&1; then log "port $PORT is taken by another process"; exit 1; fi
  fetch
  mkdir -p "$RUN_DIR/data" "$RUN_DIR/logs"
  log "starting OpenSearch $VERSION on $URL (heap $HEAP)"
  launch "$RUN_DIR" "$PORT" $((PORT + 100)) -Ediscovery.type=single-node
  for _ in $(seq 1 120); do
    if healthy; then log "green at $URL"; return 0; fi
    running || { log "process exited; see $RUN_DIR/stdout.log"; tail -20 "$RUN_DIR/stdout.log" >&2; exit 1; }
    sleep 1
  done
  log "not green after 120 s; see $RUN_DIR/stdout.log"; exit 1
}

stop() {
  running || { log "not running"; rm -f "$PID_FILE"; return 0; }
  local pid; pid=$(cat "$PID_FILE")
  # runuser forwards SIGTERM to the JVM, which shuts down cleanly
  kill "$pid"; pkill -TERM -P "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && { log "still running, killing"; kill -9 "$pid"; }
  rm -f "$PID_FILE"; log "stopped"
}

status() {
  if running && healthy; then echo "running $URL"; else echo "stopped"; return 3; fi
}

# sourced (by opensearch-cluster.sh): define the functions only
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
