"""CascadeRanker: two real tiny cross-encoders (the small one scores all N, the full one the top M), gating, the
shared cache and the YAML round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_models import (  # noqa: F401 - fixtures are used by name
    PredictCounter,
    make_documents,
    other_tiny_cross_encoder,
    tiny_cross_encoder,
)
from haystack import Pipeline
from haystack.utils import ComponentDevice

from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.components.rankers import CascadeRanker, CrossEncoderRanker
from haystack_rerank.components.rankers.cascade import top_margin
from haystack_rerank.errors import ConfigurationError

QUERY = "immune response to virus infection"


def ce(model: str, **kwargs: Any) -> CrossEncoderRanker:
    return CrossEncoderRanker(model=model, max_length=64, device=ComponentDevice.from_str("cpu"), top_k=100, **kwargs)


def ids(documents: list) -> list[str]:
    return [d.id for d in documents]


@pytest.fixture
def docs() -> list:
    return make_documents(30, seed=11)


def test_top_margin_on_hand_computed_scores() -> None:
    assert top_margin([2.0, 10.0, 6.0, 0.0]) == pytest.approx(0.4)  # scaled: 1.0, 0.6, 0.2, 0.0
    assert top_margin([1.0, 1.0, 1.0]) == 0.0
    assert top_margin([3.0]) is None
    assert top_margin([None, 4.0, None, 2.0]) == pytest.approx(1.0)


def test_small_model_scores_all_and_full_model_the_top_m(
    tiny_cross_encoder: str,  # noqa: F811
    other_tiny_cross_encoder: str,  # noqa: F811
    docs: list,
) -> None:
    small, full = ce(other_tiny_cross_encoder), ce(tiny_cross_encoder)
    cascade = CascadeRanker(small_ranker=small, ranker=full, rescore_top=8, top_k=30)
    cascade.warm_up()
    small_calls, full_calls = PredictCounter(small), PredictCounter(full)
    result = cascade.run(query=QUERY, documents=docs)

    assert sum(small_calls.batch_sizes) == 30 and sum(full_calls.batch_sizes) == 8
    small_order = ids(ce(other_tiny_cross_encoder).run(query=QUERY, documents=docs)["documents"])
    top_m = [d for d in docs if d.id in small_order[:8]]
    expected_head = ce(tiny_cross_encoder).run(query=QUERY, documents=top_m)["documents"]
    out = result["documents"]
    assert ids(out[:8]) == ids(expected_head)
    assert [d.score for d in out[:8]] == pytest.approx([d.score for d in expected_head])
    assert ids(out[8:]) == small_order[8:]  # the rest in the small model's order, below the head
    scores = [d.score for d in out]
    assert scores == sorted(scores, reverse=True)
    assert out[0].meta["retrieval_score"] == next(d.score for d in docs if d.id == out[0].id)  # first stage kept
    assert result["meta"]["cascade"] == {
        **result["meta"]["cascade"],
        "candidates": 30,
        "rescored": 8,
        "gated": False,
        "small_cache_hits": 0,
    }


def test_without_a_small_model_the_first_stage_order_picks(tiny_cross_encoder: str, docs: list) -> None:  # noqa: F811
    cascade = CascadeRanker(ranker=ce(tiny_cross_encoder), rescore_top=5, top_k=12)
    out = cascade.run(query=QUERY, documents=docs)["documents"]
    assert len(out) == 12
    assert set(ids(out[:5])) == set(ids(docs[:5]))
    assert ids(out[5:]) == ids(docs[5:12])


def test_gate_fires_on_a_wide_margin_only(
    tiny_cross_encoder: str,  # noqa: F811
    other_tiny_cross_encoder: str,  # noqa: F811
    docs: list,
) -> None:
    small_scores = [d.score for d in ce(other_tiny_cross_encoder).run(query=QUERY, documents=docs)["documents"]]
    margin = top_margin(small_scores)
    assert margin is not None and 0.0 < margin < 1.0

    def run(gate_margin: float) -> dict[str, Any]:
        cascade = CascadeRanker(
            small_ranker=ce(other_tiny_cross_encoder),
            ranker=ce(tiny_cross_encoder),
            rescore_top=10,
            gate_margin=gate_margin,
            gated_rescore_top=3,
        )
        return cascade.run(query=QUERY, documents=docs)["meta"]["cascade"]

    fired, held = run(margin - 1e-9), run(margin + 1e-6)
    assert (fired["gated"], fired["rescored"]) == (True, 3)
    assert (held["gated"], held["rescored"]) == (False, 10)
    assert fired["margin"] == pytest.approx(margin)


def test_one_cache_serves_both_stages(
    tiny_cross_encoder: str,  # noqa: F811
    other_tiny_cross_encoder: str,  # noqa: F811
    docs: list,
) -> None:
    cache = MemoryRerankCache()
    cascade = CascadeRanker(
        small_ranker=ce(other_tiny_cross_encoder, cache=cache),
        ranker=ce(tiny_cross_encoder, cache=cache),
        rescore_top=6,
    )
    first = cascade.run(query=QUERY, documents=docs)
    second = cascade.run(query=QUERY, documents=docs)
    assert first["meta"]["cache_misses"] == 6 and first["meta"]["cascade"]["small_cache_hits"] == 0
    assert second["meta"]["cache_hits"] == 6 and second["meta"]["cascade"]["small_cache_hits"] == 30
    assert second["meta"]["model_scored"] == 0
    assert ids(first["documents"]) == ids(second["documents"])


async def test_run_async_matches_run(tiny_cross_encoder: str, other_tiny_cross_encoder: str, docs: list) -> None:  # noqa: F811
    cascade = CascadeRanker(small_ranker=ce(other_tiny_cross_encoder), ranker=ce(tiny_cross_encoder), rescore_top=7)
    sync = cascade.run(query=QUERY, documents=docs)
    asynchronous = await cascade.run_async(query=QUERY, documents=docs)
    assert ids(sync["documents"]) == ids(asynchronous["documents"])


def test_yaml_roundtrip_in_a_pipeline() -> None:
    cache = MemoryRerankCache(max_entries=500)
    cascade = CascadeRanker(
        small_ranker=CrossEncoderRanker(model="models/small", cache=cache, backend="compiled", precision="bfloat16"),
        ranker=CrossEncoderRanker(model="models/full", cache=cache, alpha=0.5),
        rescore_top=25,
        gate_margin=0.3,
        gated_rescore_top=10,
        top_k=7,
    )
    pipeline = Pipeline()
    pipeline.add_component("ranker", cascade)
    again = Pipeline.loads(pipeline.dumps()).get_component("ranker")
    assert isinstance(again, CascadeRanker)
    assert (again.rescore_top, again.gate_margin, again.gated_rescore_top, again.top_k) == (25, 0.3, 10, 7)
    assert (again.small_ranker.model, again.small_ranker.backend, again.ranker.model) == (
        "models/small",
        "compiled",
        "models/full",
    )
    assert again.ranker.alpha == 0.5 and again.small_ranker.cache.max_entries == 500
    assert again.to_dict() == cascade.to_dict()
    no_small = CascadeRanker(ranker=CrossEncoderRanker(model="models/full"))
    assert CascadeRanker.from_dict(no_small.to_dict()).small_ranker is None


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"ranker": "models/full"}, "ranker"),
        ({"small_ranker": "models/small"}, "small_ranker"),
        ({"rescore_top": 0}, "rescore_top"),
        ({"rescore_top": 5, "gate_margin": 0.2, "gated_rescore_top": 6}, "gated_rescore_top"),
        ({"gate_margin": 1.5}, "gate_margin"),
        ({"top_k": True}, "top_k"),
    ],
)
def test_invalid_parameters_name_the_field(kwargs: dict, parameter: str) -> None:
    params: dict[str, Any] = {"ranker": CrossEncoderRanker(model="models/full"), **kwargs}
    with pytest.raises(ConfigurationError, match=f"CascadeRanker {parameter} got"):
        CascadeRanker(**params)
