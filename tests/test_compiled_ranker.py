"""The "compiled" backend (torch.compile): same scores as eager, no recompiles in queries, a compile cache that
a second process reuses. A real compile of the tiny test model; nothing is timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_models import make_documents, tiny_cross_encoder  # noqa: F401 - fixtures are used by name
from haystack.utils import ComponentDevice

from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.rankers._compiled import bucketed_length, length_buckets

pytestmark = pytest.mark.slow

QUERY = "immune response to virus infection"


@pytest.fixture(scope="module", autouse=True)
def compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One compile cache for this module's tests, never the user's."""
    folder = tmp_path_factory.getbasetemp() / "compile-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAYSTACK_RERANK_COMPILE_CACHE", str(folder))
        patch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
        yield folder


@pytest.fixture(scope="module")
def compiled_float32(tiny_cross_encoder: str) -> CrossEncoderRanker:  # noqa: F811
    """Compiled once for the module (a compile of even the tiny model takes a while on a busy machine)."""
    return make_ranker(tiny_cross_encoder, backend="compiled")


def make_ranker(model: str, **kwargs: Any) -> CrossEncoderRanker:
    params: dict[str, Any] = {"max_length": 128, "device": ComponentDevice.from_str("cpu"), "top_k": 1000}
    params.update(kwargs)
    ranker = CrossEncoderRanker(model=model, scale_score=False, batch_size=8, **params)
    ranker.warm_up()
    return ranker


def scores(ranker: CrossEncoderRanker, docs: list) -> np.ndarray:
    got = {d.id: d.score for d in ranker.run(query=QUERY, documents=docs)["documents"]}
    return np.array([got[d.id] for d in docs])


def test_length_buckets() -> None:
    assert length_buckets(192) == [64, 128, 192]
    assert length_buckets(100) == [64, 100]
    assert length_buckets(64) == [64]
    assert [bucketed_length(n, 192) for n in (1, 64, 65, 129, 192)] == [64, 64, 128, 192, 192]
    assert bucketed_length(90, 100) == 100


def test_float32_compiled_matches_eager(tiny_cross_encoder: str, compiled_float32) -> None:  # noqa: F811
    docs = make_documents(21, seed=3, max_words=120)  # batches of 8, 8 and 5 rows
    eager = scores(make_ranker(tiny_cross_encoder), docs)
    compiled_ranker = compiled_float32
    compiled = scores(compiled_ranker, docs)
    assert np.abs(eager - compiled).max() < 1e-4 * max(1.0, np.abs(eager).max())
    assert list(np.argsort(-eager)) == list(np.argsort(-compiled))
    assert compiled_ranker._scope_digest != make_ranker(tiny_cross_encoder)._scope_digest  # never share cache rows


def test_bfloat16_compiled_matches_eager_bfloat16(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = make_documents(30, seed=4, max_words=120)
    eager = scores(make_ranker(tiny_cross_encoder, precision="bfloat16"), docs)
    compiled = scores(make_ranker(tiny_cross_encoder, backend="compiled", precision="bfloat16"), docs)
    # both run bf16 but fuse and round differently; this random tiny model amplifies rounding
    assert np.corrcoef(eager, compiled)[0, 1] > 0.99


def test_queries_never_recompile(compiled_float32, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch._dynamo.config

    ranker = compiled_float32
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    # one pair, a partial batch, several batches, short and truncated long texts: every bucket and batch shape
    for count, max_words in ((1, 5), (3, 40), (17, 300), (8, 2), (2, 200)):
        docs = make_documents(count, seed=count, min_words=1, max_words=max_words)
        assert len(ranker.run(query=QUERY, documents=docs)["documents"]) == count


_CHILD = """
import json, sys
from haystack.utils import ComponentDevice
from haystack_rerank.components.rankers import CrossEncoderRanker
ranker = CrossEncoderRanker(model=sys.argv[1], backend="compiled", max_length=128, batch_size=8,
                            device=ComponentDevice.from_str("cpu"))
ranker.warm_up()
print(json.dumps(ranker._scorer.compile_stats))
"""


def test_second_process_reuses_the_compile_cache(tiny_cross_encoder: str, tmp_path: Path) -> None:  # noqa: F811
    env = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    env["HAYSTACK_RERANK_COMPILE_CACHE"] = str(tmp_path / "fresh-cache")

    def child() -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, tiny_cross_encoder], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = child(), child()
    assert first["cache_dir"] == str(tmp_path / "fresh-cache")
    assert first["fx_cache_misses"] >= 1 and first["fx_cache_hits"] == 0
    assert second["fx_cache_hits"] >= 1 and second["fx_cache_misses"] == 0
    assert any((tmp_path / "fresh-cache").rglob("*.py"))  # inductor's generated kernels live there


def test_yaml_roundtrip_keeps_the_backend() -> None:
    ranker = CrossEncoderRanker(model="some/model", backend="compiled", precision="bfloat16")
    data = ranker.to_dict()
    assert data["init_parameters"]["backend"] == "compiled"
    again = CrossEncoderRanker.from_dict(data)
    assert (again.backend, again.precision) == ("compiled", "bfloat16")
