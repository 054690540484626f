#!/usr/bin/env bash
# A 2- or 3-node OpenSearch cluster on 127.0.0.1 (the distribution of scripts/opensearch.sh), for the cluster
# tests and benchmarks. Node i listens on HTTP port BASE+i and transport port BASE+100+i.
#   scripts/opensearch-cluster.sh start|stop|status|hosts
#   scripts/opensearch-cluster.sh start-node I|stop-node I|kill-node I|jvm-pid I     (I = 0, 1, ...)
# Env: OPENSEARCH_CLUSTER_PORT (BASE, 9250), OPENSEARCH_CLUSTER_NODES (3), OPENSEARCH_HEAP (384m per node),
#      OPENSEARCH_CLUSTER_WAIT (seconds to wait for green, 300: ~40 s on a quiet 2-core machine, minutes on a busy one),
#      OPENSEARCH_VERSION and HAYSTACK_RERANK_CACHE as for scripts/opensearch.sh.
# `kill-node` sends SIGKILL to the node's JVM (a crash); `start-node` starts it again on its data folder and
# waits until it has rejoined and the cluster is green.
set -euo pipefail

BASE="${OPENSEARCH_CLUSTER_PORT:-9250}"
NODES="${OPENSEARCH_CLUSTER_NODES:-3}"
export OPENSEARCH_HEAP="${OPENSEARCH_HEAP:-384m}"
# shellcheck source=scripts/opensearch.sh
source "$(dirname "$0")/opensearch.sh"
log() { echo "[opensearch-cluster $BASE] $*" >&2; }

case "$NODES" in 2|3) ;; *) log "OPENSEARCH_CLUSTER_NODES must be 2 or 3, got $NODES"; exit 2 ;; esac
CLUSTER_DIR="$CACHE/opensearch-cluster-$BASE"
CLUSTER_NAME="haystack-rerank-$BASE"

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
node_url() { echo "http://127.0.0.1:$((BASE + $1))"; }
node_pid_file() { echo "$(node_dir "$1")/opensearch.pid"; }
node_running() { local f; f=$(node_pid_file "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
indexes() { seq 0 $((NODES - 1)); }

hosts() {
  local out=() i
  for i in $(indexes); do out+=("$(node_url "$i")"); done
  (IFS=,; echo "${out[*]}")
}

# the JVM's pid: as root the pid file holds runuser's, whose child is the JVM
jvm_pid() {
  local pid; pid=$(cat "$(node_pid_file "$1")")
  local child; child=$(pgrep -P "$pid" java 2>/dev/null | head -1 || true)
  echo "${child:-$pid}"
}

start_node() {
  local i="$1" seeds=() names=() j
  if node_running "$i"; then log "node-$i already running"; return 0; fi
  if curl -fsS "$(node_url "$i")" >/dev/null 2>&1; then log "port $((BASE + i)) is taken by another process"; exit 1; fi
  for j in $(indexes); do seeds+=("127.0.0.1:$((BASE + 100 + j))"); names+=("node-$j"); done
  log "starting node-$i on $(node_url "$i") (heap $OPENSEARCH_HEAP)"
  # initial_cluster_manager_nodes only matters for the very first election; a restarted node ignores it
  launch "$(node_dir "$i")" $((BASE + i)) $((BASE + 100 + i)) \
    -Ecluster.name="$CLUSTER_NAME" -Enode.name="node-$i" \
    -Ediscovery.seed_hosts="$(IFS=,; echo "${seeds[*]}")" \
    -Ecluster.initial_cluster_manager_nodes="$(IFS=,; echo "${names[*]}")"
}

# wait_green URL NODES: until the cluster seen from URL has NODES nodes and every shard copy assigned
wait_green() {
  local url="$1" want="$2" limit="${OPENSEARCH_CLUSTER_WAIT:-300}"
  for _ in $(seq 1 "$limit"); do
    if curl -fsS "$url/_cluster/health?wait_for_status=green&wait_for_nodes=$want&timeout=1s" 2>/dev/null \
      | grep -q '"status":"green"'; then
      return 0
    fi
    sleep 1
  done
  log "not green with $want nodes after $limit s (OPENSEARCH_CLUSTER_WAIT); see $CLUSTER_DIR/node-*/stdout.log"; exit 1
}

stop_node() {
  local i="$1" f pid
  f=$(node_pid_file "$i")
  node_running "$i" || { log "node-$i not running"; rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill -CONT "$(jvm_pid "$i")" "$pid" 2>/dev/null || true  # a paused JVM would not see SIGTERM
  kill "$pid"; pkill -TERM -P "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && { log "node-$i still running, killing"; kill -9 "$(jvm_pid "$i")" "$pid" 2>/dev/null || true; }
  rm -f "$f"; log "node-$i stopped"
}

kill_node() {
  local i="$1" jvm launcher
  node_running "$i" || { log "node-$i not running"; exit 1; }
  jvm=$(jvm_pid "$i"); launcher=$(cat "$(node_pid_file "$i")")
  kill -9 "$jvm"
  for _ in $(seq 1 50); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
  rm -f "$(node_pid_file "$i")"; log "node-$i killed (SIGKILL to JVM $jvm)"
}

any_running_url() {
  local i
  for i in $(indexes); do node_running "$i" && { node_url "$i"; return 0; }; done
  return 1
}

start() {
  fetch
  local i
  for i in $(indexes); do start_node "$i"; done
  wait_green "$(node_url 0)" "$NODES"
  log "green with $NODES nodes: $(hosts)"
}

stop() {
  local i
  for i in $(indexes); do stop_node "$i"; done
}

status() {
  local i up=0
  for i in $(indexes); do
    if node_running "$i"; then echo "node-$i running $(node_url "$i")"; up=$((up + 1)); else echo "node-$i stopped"; fi
  done
  [ "$up" -gt 0 ] || return 3
  curl -fsS "$(any_running_url)/_cluster/health?timeout=2s" 2>/dev/null || true; echo
}

check_index() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -lt "$NODES" ] || { log "node index must be 0..$((NODES - 1)), got '${1:-}'"; exit 2; }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  hosts) hosts ;;
  start-node)
    check_index "${2:-}"; fetch; start_node "$2"
    wait_green "$(node_url "$2")" "$NODES"; log "node-$2 rejoined, cluster green" ;;
  stop-node) check_index "${2:-}"; stop_node "$2" ;;
  kill-node) check_index "${2:-}"; kill_node "$2" ;;
  jvm-pid) check_index "${2:-}"; node_running "$2" || exit 1; jvm_pid "$2" ;;
  *) echo "usage: $0 start|stop|status|hosts|start-node I|stop-node I|kill-node I|jvm-pid I" >&2; exit 2 ;;
esac
