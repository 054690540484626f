#!/usr/bin/env bash
# The test command: start the real services (OpenSearch, Redis) on 127.0.0.1, run pytest, stop them.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/opensearch.sh start
trap 'bash scripts/redis.sh stop; bash scripts/opensearch.sh stop' EXIT
bash scripts/redis.sh start

export OPENSEARCH_HOSTS="http://127.0.0.1:${OPENSEARCH_PORT:-9200}"
export REDIS_URL="redis://127.0.0.1:${REDIS_PORT:-6379}/0"
export HF_HUB_OFFLINE=1
python -m pytest "$@"
