"""Several reranker processes sharing one Redis cache: what one process scored, the others read as hits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fixtures_models import RedisServer, make_documents, redis_server, tiny_cross_encoder  # noqa: F401
from haystack.utils import ComponentDevice

from haystack_rerank.cache import RedisRerankCache
from haystack_rerank.components.rankers import CrossEncoderRanker

QUERY = "protein expression in tumour cells"

# another process: the same ranker and cache settings, reranks the same documents, prints meta and scores
OTHER_PROCESS = """
import json, sys
sys.path.insert(0, "tests")
from fixtures_models import make_documents
from haystack.utils import ComponentDevice
from haystack_rerank.cache import RedisRerankCache
from haystack_rerank.components.rankers import CrossEncoderRanker
model, url, query = sys.argv[1:4]
ranker = CrossEncoderRanker(model=model, top_k=100, max_length=128, device=ComponentDevice.from_str("cpu"),
                            cache=RedisRerankCache(url=url))
out = ranker.run(query=query, documents=make_documents(12, seed=5))
meta = {k: out["meta"][k] for k in ("cache_hits", "cache_misses", "model_scored")}
print(json.dumps({"meta": meta, "scores": {d.id: d.score for d in out["documents"]}}))
"""


def other_process(model: str, url: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, model, url, QUERY], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_a_pair_scored_in_one_process_is_a_hit_in_another(
    tiny_cross_encoder,
    redis_server: RedisServer,  # noqa: F811
):
    first = other_process(tiny_cross_encoder, redis_server.url)  # a cold cache: the first process scores all
    assert first["meta"] == {"cache_hits": 0, "cache_misses": 12, "model_scored": 12}

    ranker = CrossEncoderRanker(
        model=tiny_cross_encoder,
        top_k=100,
        max_length=128,
        device=ComponentDevice.from_str("cpu"),
        cache=RedisRerankCache(url=redis_server.url),
    )
    here = ranker.run(query=QUERY, documents=make_documents(12, seed=5))
    assert (here["meta"]["cache_hits"], here["meta"]["model_scored"]) == (12, 0)  # none scored again
    assert {d.id: d.score for d in here["documents"]} == pytest.approx(first["scores"], abs=1e-6)
    assert other_process(tiny_cross_encoder, redis_server.url)["meta"]["model_scored"] == 0  # and a third
