"""Tests of CrossEncoderRanker against a real (tiny, randomly initialised) cross-encoder loaded from disk."""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_models import (  # noqa: F401 - fixtures are used by name
    PredictCounter,
    RedisServer,
    int8_min_correlation,
    make_documents,
    other_tiny_cross_encoder,
    redis_server,
    tiny_cross_encoder,
)
from haystack import Document, Pipeline
from haystack.utils import ComponentDevice, Secret

import haystack_rerank  # noqa: F401 - registers the package on the deserialization allowlist
from haystack_rerank.cache import DiskRerankCache, MemoryRerankCache, RedisRerankCache
from haystack_rerank.components.rankers import RETRIEVAL_SCORE_META_KEY, CrossEncoderRanker
from haystack_rerank.components.rankers._inference import bf16_supported
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import register_local_model

QUERY = "immune response to virus infection"
TOL = 1e-5


def make_ranker(model: str, **kwargs: Any) -> CrossEncoderRanker:
    params: dict[str, Any] = {"max_length": 128, "device": ComponentDevice.from_str("cpu"), "top_k": 1000}
    params.update(kwargs)
    ranker = CrossEncoderRanker(model=model, **params)
    ranker.warm_up()
    return ranker


def reference_scores(
    model: str, query: str, texts: list[str], max_length: int = 128, activation: Any = None
) -> list[float]:
    """Scores from sentence-transformers' own CrossEncoder.predict on (query, text) pairs."""
    from sentence_transformers import CrossEncoder

    cross_encoder = CrossEncoder(model, device="cpu", max_length=max_length)
    kwargs = {} if activation is None else {"activation_fn": activation}
    return [float(s) for s in cross_encoder.predict([(query, t) for t in texts], batch_size=16, **kwargs)]


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return make_documents(40, seed=7)


@pytest.fixture(scope="module")
def expected(tiny_cross_encoder: str, docs: list[Document]) -> dict[str, float]:  # noqa: F811
    scores = reference_scores(tiny_cross_encoder, QUERY, [d.content for d in docs])
    return {doc.id: score for doc, score in zip(docs, scores, strict=True)}


def assert_scores(result: dict[str, Any], expected: dict[str, float]) -> None:
    docs = result["documents"]
    assert [d.id for d in docs] == sorted(expected, key=lambda i: -expected[i])[: len(docs)]
    for doc in docs:
        assert doc.score == pytest.approx(expected[doc.id], abs=TOL)


# -- scoring -------------------------------------------------------------------------------------------


def test_ranks_by_the_models_own_scores(tiny_cross_encoder: str, docs, expected) -> None:  # noqa: F811
    result = make_ranker(tiny_cross_encoder).run(query=QUERY, documents=docs)
    assert len(result["documents"]) == len(docs)
    assert_scores(result, expected)
    scores = [d.score for d in result["documents"]]
    assert scores == sorted(scores, reverse=True)
    assert result["meta"]["top_score"] == scores[0]
    # Pairs are (query, document): the swapped order gives other scores.
    swapped = reference_scores(tiny_cross_encoder, docs[0].content, [QUERY])[0]
    assert abs(swapped - expected[docs[0].id]) > 1e-4


def test_outputs_are_copies_with_retrieval_score(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    originals = [(d.id, d.score, dict(d.meta)) for d in docs]
    result = make_ranker(tiny_cross_encoder).run(query=QUERY, documents=docs)
    assert [(d.id, d.score, d.meta) for d in docs] == originals  # inputs untouched
    first_stage = {d.id: d.score for d in docs}
    for doc in result["documents"]:
        assert doc.meta[RETRIEVAL_SCORE_META_KEY] == first_stage[doc.id]
        assert doc.meta["title"].startswith("Title")


@pytest.mark.parametrize("length_sort", [True, False])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_batching_does_not_change_scores(
    tiny_cross_encoder: str,  # noqa: F811
    docs,
    expected,
    batch_size: int,
    length_sort: bool,
) -> None:
    ranker = make_ranker(tiny_cross_encoder, batch_size=batch_size, length_sort=length_sort)
    counter = PredictCounter(ranker)
    result = ranker.run(query=QUERY, documents=docs)
    assert_scores(result, expected)
    assert counter.calls == math.ceil(len(docs) / batch_size) == result["meta"]["batches"]
    assert max(counter.batch_sizes) <= batch_size


def test_length_sort_batches_similar_lengths(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = make_documents(30, seed=3, min_words=1, max_words=80)
    ranker = make_ranker(tiny_cross_encoder, batch_size=10)
    ranker.warm_up()
    seen: list[list[int]] = []
    original = ranker._scorer.forward

    def recording_forward(features: Any) -> Any:
        # real token counts per pair of this batch (attention mask), and the padded width
        seen.append([int(n) for n in features["attention_mask"].sum(dim=1)] + [features["input_ids"].shape[1]])
        return original(features)

    ranker._scorer.forward = recording_forward
    ranker.run(query=QUERY, documents=docs)
    assert len(seen) == 3
    lengths = [batch[:-1] for batch in seen]
    # Longest first, every batch no longer than the previous batch's shortest, padded only to its own longest.
    for earlier, later in zip(lengths, lengths[1:], strict=False):
        assert min(earlier) >= max(later)
    assert all(batch[-1] == max(batch[:-1]) for batch in seen)


def test_meta_fields_are_embedded_before_content(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    ranker = make_ranker(tiny_cross_encoder, meta_fields_to_embed=["title", "absent"], embedding_separator=" | ")
    texts = [f"{d.meta['title']} | {d.content}" for d in docs]
    reference = dict(zip([d.id for d in docs], reference_scores(tiny_cross_encoder, QUERY, texts), strict=True))
    assert_scores(ranker.run(query=QUERY, documents=docs), reference)


def test_long_documents_are_truncated(tiny_cross_encoder: str) -> None:  # noqa: F811
    long_doc = Document(content="protein " * 2000)  # far beyond 512 positions
    short = make_ranker(tiny_cross_encoder, max_length=64).run(query=QUERY, documents=[long_doc])
    reference = reference_scores(tiny_cross_encoder, QUERY, [long_doc.content], max_length=64)[0]
    assert short["documents"][0].score == pytest.approx(reference, abs=TOL)


def test_scale_score_off_returns_logits(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    from torch.nn import Identity

    logits = reference_scores(tiny_cross_encoder, QUERY, [d.content for d in docs], activation=Identity())
    expected_logits = dict(zip([d.id for d in docs], logits, strict=True))
    result = make_ranker(tiny_cross_encoder, scale_score=False).run(query=QUERY, documents=docs)
    assert_scores(result, expected_logits)
    assert any(d.score < 0 for d in result["documents"]) and any(d.score > 1 for d in result["documents"])


# -- pass-through, dedup, top_k, thresholds ------------------------------------------------------------


def test_documents_without_text_come_last_unscored(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    empties = [
        Document(content=None, id="none"),
        Document(content="", id="empty"),
        Document(content=" \n\t", id="ws"),
    ]
    mixed = [empties[0], *docs[:5], empties[1], *docs[5:10], empties[2]]
    ranker = make_ranker(tiny_cross_encoder)
    counter = PredictCounter(ranker)
    result = ranker.run(query=QUERY, documents=mixed)
    out = result["documents"]
    assert [d.id for d in out[-3:]] == ["none", "empty", "ws"]
    assert all(d.score is None for d in out[-3:])
    assert all(d.score is not None for d in out[:-3])
    assert result["meta"]["unscored"] == 3 and result["meta"]["scored"] == 10
    assert sum(counter.batch_sizes) == 10
    # Unscored documents count towards top_k.
    assert [d.id for d in ranker.run(query=QUERY, documents=mixed, top_k=11)["documents"][-1:]] == ["none"]


def test_only_empty_documents(tiny_cross_encoder: str) -> None:  # noqa: F811
    result = make_ranker(tiny_cross_encoder).run(query=QUERY, documents=[Document(content="")])
    assert [d.score for d in result["documents"]] == [None]
    assert result["meta"]["top_score"] is None and result["meta"]["unscored"] == 1
    assert make_ranker(tiny_cross_encoder).run(query=QUERY, documents=[])["documents"] == []


def test_duplicate_ids_are_scored_and_returned_once(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    low = Document(id=docs[0].id, content=docs[0].content, score=-5.0)
    high = Document(id=docs[0].id, content=docs[0].content, score=99.0)
    ranker = make_ranker(tiny_cross_encoder)
    counter = PredictCounter(ranker)
    result = ranker.run(query=QUERY, documents=[low, *docs[1:6], high, docs[1]])
    ids = [d.id for d in result["documents"]]
    assert sorted(ids) == sorted(d.id for d in docs[:6])
    assert sum(counter.batch_sizes) == 6 and result["meta"]["duplicates"] == 2
    kept = next(d for d in result["documents"] if d.id == docs[0].id)
    assert kept.meta[RETRIEVAL_SCORE_META_KEY] == 99.0  # the duplicate with the best first-stage score


def test_top_k_zero_and_explicit_threshold_are_honoured(tiny_cross_encoder: str, docs, expected) -> None:  # noqa: F811
    ranker = make_ranker(tiny_cross_encoder, top_k=5, score_threshold=0.99)
    assert ranker.run(query=QUERY, documents=docs, top_k=0, score_threshold=0.0)["documents"] == []
    # An explicit 0.0 threshold replaces the init value 0.99 (sigmoid scores are all > 0).
    assert len(ranker.run(query=QUERY, documents=docs, top_k=100, score_threshold=0.0)["documents"]) == len(docs)
    ordered = sorted(expected.values())
    middle = (ordered[len(ordered) // 2] + ordered[len(ordered) // 2 - 1]) / 2  # not on a score: no float ties
    kept = ranker.run(query=QUERY, documents=docs, top_k=100, score_threshold=middle)["documents"]
    assert {d.id for d in kept} == {i for i, s in expected.items() if s >= middle}
    assert len(kept) == len(docs) - len(docs) // 2


def test_runtime_none_uses_init_values(tiny_cross_encoder: str, docs, expected) -> None:  # noqa: F811
    ordered = sorted(expected.values())
    threshold = (ordered[-10] + ordered[-11]) / 2  # ten documents reach it
    ranker = make_ranker(tiny_cross_encoder, top_k=4, score_threshold=threshold)
    assert len(ranker.run(query=QUERY, documents=docs, top_k=None, score_threshold=None)["documents"]) == 4
    assert len(ranker.run(query=QUERY, documents=docs, top_k=100)["documents"]) == 10


def test_alpha_interpolates_with_first_stage(tiny_cross_encoder: str, docs, expected) -> None:  # noqa: F811
    first = {d.id: d.score for d in docs}
    low, high = min(first.values()), max(first.values())
    result = make_ranker(tiny_cross_encoder, alpha=0.3).run(query=QUERY, documents=docs)
    for doc in result["documents"]:
        wanted = 0.3 * expected[doc.id] + 0.7 * (first[doc.id] - low) / (high - low)
        assert doc.score == pytest.approx(wanted, abs=TOL)
    assert [d.score for d in result["documents"]] == sorted((d.score for d in result["documents"]), reverse=True)
    only_first_stage = make_ranker(tiny_cross_encoder, alpha=0.0).run(query=QUERY, documents=docs)
    assert [d.id for d in only_first_stage["documents"]] == sorted(first, key=lambda i: -first[i])
    assert_scores(make_ranker(tiny_cross_encoder, alpha=1.0).run(query=QUERY, documents=docs), expected)


def test_low_confidence_flag(tiny_cross_encoder: str, docs, expected) -> None:  # noqa: F811
    top = max(expected.values())
    above = make_ranker(tiny_cross_encoder, low_confidence_threshold=top + 0.001).run(query=QUERY, documents=docs)
    below = make_ranker(tiny_cross_encoder, low_confidence_threshold=top - 0.001).run(query=QUERY, documents=docs)
    unset = make_ranker(tiny_cross_encoder).run(query=QUERY, documents=docs)
    assert above["meta"]["low_confidence"] is True
    assert below["meta"]["low_confidence"] is False
    assert unset["meta"]["low_confidence"] is False
    assert above["meta"]["top_score"] == pytest.approx(top, abs=TOL)


async def test_run_async_matches_run(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    ranker = make_ranker(tiny_cross_encoder, top_k=7)
    sync = ranker.run(query=QUERY, documents=docs)
    results = await asyncio.gather(*(ranker.run_async(query=QUERY, documents=docs) for _ in range(3)))
    for result in results:
        assert result["documents"] == sync["documents"]


def test_bfloat16_precision(tiny_cross_encoder: str, docs, expected, caplog) -> None:  # noqa: F811
    import torch

    with caplog.at_level(logging.WARNING):
        ranker = make_ranker(tiny_cross_encoder, precision="bfloat16")
    if not bf16_supported():  # a CPU without bf16 units runs float32, and says so
        assert next(ranker._cross_encoder.parameters()).dtype == torch.float32
        assert "no native bfloat16" in caplog.text
        assert_scores(ranker.run(query=QUERY, documents=docs), expected)
        return
    assert next(ranker._cross_encoder.parameters()).dtype == torch.bfloat16
    result = ranker.run(query=QUERY, documents=docs)
    assert all(isinstance(doc.score, float) for doc in result["documents"])
    # bfloat16 keeps 8 bits of mantissa: close to float32, not equal.
    got = np.array([doc.score for doc in result["documents"]])
    want = np.array([expected[doc.id] for doc in result["documents"]])
    assert np.abs(got - want).mean() < 0.05
    assert np.corrcoef(got, want)[0, 1] > 0.95


# -- cache accounting ----------------------------------------------------------------------------------


def test_second_identical_run_is_served_from_cache(tiny_cross_encoder: str, docs, expected) -> None:  # noqa: F811
    ranker = make_ranker(tiny_cross_encoder, cache=MemoryRerankCache())
    counter = PredictCounter(ranker)
    first = ranker.run(query=QUERY, documents=docs)
    assert (first["meta"]["cache_hits"], first["meta"]["cache_misses"]) == (0, len(docs))
    calls_after_first = counter.calls
    second = ranker.run(query=QUERY, documents=docs)
    assert (second["meta"]["cache_hits"], second["meta"]["cache_misses"]) == (len(docs), 0)
    assert counter.calls == calls_after_first
    assert second["meta"]["model_seconds"] == 0.0 and second["meta"]["batches"] == 0
    assert second["documents"] == first["documents"]
    assert_scores(second, expected)


def test_only_misses_go_to_the_model_in_one_batch(tiny_cross_encoder: str) -> None:  # noqa: F811
    hundred = make_documents(100, seed=11)
    ranker = make_ranker(tiny_cross_encoder, cache=MemoryRerankCache(), batch_size=32)
    counter = PredictCounter(ranker)
    ranker.run(query=QUERY, documents=hundred[:70])
    counter.batch_sizes.clear()
    result = ranker.run(query=QUERY, documents=hundred)
    assert counter.batch_sizes == [30]
    assert (result["meta"]["cache_hits"], result["meta"]["cache_misses"]) == (70, 30)
    reference = reference_scores(tiny_cross_encoder, QUERY, [d.content for d in hundred])
    assert_scores(result, dict(zip([d.id for d in hundred], reference, strict=True)))


def test_scale_score_and_alpha_reuse_cached_logits(tiny_cross_encoder: str, docs) -> None:  # noqa: F811
    cache = MemoryRerankCache()
    make_ranker(tiny_cross_encoder, cache=cache).run(query=QUERY, documents=docs)
    raw = make_ranker(tiny_cross_encoder, cache=cache, scale_score=False).run(query=QUERY, documents=docs)
    mixed = make_ranker(tiny_cross_encoder, cache=cache, alpha=0.5).run(query=QUERY, documents=docs)
    assert raw["meta"]["cache_hits"] == mixed["meta"]["cache_hits"] == len(docs)


def _misses(ranker: CrossEncoderRanker, documents: list[Document], query: str = QUERY) -> int:
    return ranker.run(query=query, documents=documents)["meta"]["cache_misses"]


def test_cache_key_sensitivity(
    tiny_cross_encoder: str,  # noqa: F811
    other_tiny_cross_encoder: str,  # noqa: F811
    docs,
    tmp_path: Path,
) -> None:
    cache = MemoryRerankCache()
    subset = docs[:5]
    base = make_ranker(tiny_cross_encoder, cache=cache)
    assert _misses(base, subset) == 5
    assert _misses(base, subset) == 0
    assert _misses(base, subset, query=QUERY + "?") == 5  # query change
    edited = [Document(id=subset[0].id, content=subset[0].content + " edited"), *subset[1:]]
    assert _misses(base, edited) == 1  # content change, same id
    renamed = [Document(id="new-id", content=subset[0].content)]
    assert _misses(base, renamed) == 1  # id change
    assert _misses(make_ranker(other_tiny_cross_encoder, cache=cache), subset) == 5  # other model
    assert _misses(make_ranker(tiny_cross_encoder, cache=cache, max_length=64), subset) == 5
    assert _misses(make_ranker(tiny_cross_encoder, cache=cache, meta_fields_to_embed=["title"]), subset) == 5
    # the key holds the precision that runs: bf16 where the CPU has it, else the same float32 scores
    assert _misses(make_ranker(tiny_cross_encoder, cache=cache, precision="bfloat16"), subset) == (
        5 if bf16_supported() else 0
    )
    assert _misses(make_ranker(tiny_cross_encoder, cache=cache, batch_size=3), subset) == 0  # same scores

    # Same path, weights replaced in place: the fingerprint changes, so nothing stale is served.
    folder = tmp_path / "model"
    shutil.copytree(tiny_cross_encoder, folder)
    assert _misses(make_ranker(str(folder), cache=cache), subset) == 5
    assert _misses(make_ranker(str(folder), cache=cache), subset) == 0
    shutil.copy(Path(other_tiny_cross_encoder) / "model.safetensors", folder / "model.safetensors")
    assert _misses(make_ranker(str(folder), cache=cache), subset) == 5


def test_disk_cache_survives_a_restart(tiny_cross_encoder: str, docs, expected, tmp_path: Path) -> None:  # noqa: F811
    path = str(tmp_path / "rerank-cache")
    first = make_ranker(tiny_cross_encoder, cache=DiskRerankCache(path)).run(query=QUERY, documents=docs)
    restarted = make_ranker(tiny_cross_encoder, cache=DiskRerankCache(path))
    counter = PredictCounter(restarted)
    second = restarted.run(query=QUERY, documents=docs)
    assert counter.calls == 0 and second["meta"]["cache_hits"] == len(docs)
    assert second["documents"] == first["documents"]
    assert_scores(second, expected)


def test_corrupt_disk_cache_never_fails_the_query(
    tiny_cross_encoder: str,  # noqa: F811
    docs,
    expected,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"\x00garbage" * 512)
    ranker = make_ranker(tiny_cross_encoder, cache=DiskRerankCache(str(folder)))
    with caplog.at_level(logging.WARNING, logger="haystack_rerank.cache.base"):
        results = [ranker.run(query=QUERY, documents=docs) for _ in range(2)]
    for result in results:
        assert_scores(result, expected)
        assert result["meta"]["cache_bypassed"] == 2  # the read and the write
        assert result["meta"]["cache_hits"] == 0
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_many_threads_on_one_ranker(tiny_cross_encoder: str) -> None:  # noqa: F811
    pool = make_documents(30, seed=5)
    queries = [f"{QUERY} {n}" for n in range(5)]
    jobs = [(queries[(t + q) % 5], pool[(t * 3 + q) % 10 :][:20]) for t in range(8) for q in range(20)]
    sequential = make_ranker(tiny_cross_encoder)
    wanted = [sequential.run(query=q, documents=d)["documents"] for q, d in jobs]

    cache = MemoryRerankCache()
    shared = make_ranker(tiny_cross_encoder, cache=cache, batch_size=8)
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def worker(thread_id: int) -> None:
        try:
            for n in range(20):
                index = thread_id * 20 + n
                query, documents = jobs[index]
                results[index] = shared.run(query=query, documents=documents)
        except BaseException as err:  # noqa: BLE001 - reported to the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for result, expected_docs in zip(results, wanted, strict=True):
        assert [d.id for d in result["documents"]] == [d.id for d in expected_docs]
        for got, want in zip(result["documents"], expected_docs, strict=True):
            assert got.score == pytest.approx(want.score, abs=TOL)
        meta = result["meta"]
        assert meta["cache_hits"] + meta["cache_misses"] == meta["scored"] == 20
        assert meta["model_scored"] == meta["cache_misses"] and meta["cache_bypassed"] == 0
    unique_pairs = {(q, d.id) for q, documents in jobs for d in documents}
    total_misses = sum(r["meta"]["cache_misses"] for r in results)
    assert len(cache) == len(unique_pairs)
    # Two threads may miss the same pair at the same moment, never fewer than one miss per pair.
    assert len(unique_pairs) <= total_misses
    assert sum(r["meta"]["cache_hits"] for r in results) == 20 * len(jobs) - total_misses


# -- redis ---------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_two_rankers_share_redis_with_ttl(
    tiny_cross_encoder: str,  # noqa: F811
    docs,
    expected,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    def redis_cache() -> RedisRerankCache:
        return RedisRerankCache(url=redis_server.url, ttl_seconds=300, prefix="test:")

    first = make_ranker(tiny_cross_encoder, cache=redis_cache()).run(query=QUERY, documents=docs)
    assert first["meta"]["cache_misses"] == len(docs)
    second_ranker = make_ranker(tiny_cross_encoder, cache=redis_cache())
    counter = PredictCounter(second_ranker)
    second = second_ranker.run(query=QUERY, documents=docs)
    assert second["meta"]["cache_hits"] == len(docs) and counter.calls == 0
    assert_scores(second, expected)
    client = redis_server.client()
    keys = client.keys("test:*")
    assert len(keys) == len(docs)
    assert all(0 < client.ttl(key) <= 300 for key in keys)


@pytest.mark.integration
def test_redis_outage_is_bypassed_and_caching_resumes(
    tiny_cross_encoder: str,  # noqa: F811
    docs,
    expected,
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = RedisRerankCache(url=redis_server.url, retry_after_seconds=0)
    ranker = make_ranker(tiny_cross_encoder, cache=cache)
    assert ranker.run(query=QUERY, documents=docs)["meta"]["cache_misses"] == len(docs)

    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="haystack_rerank.cache.base"):
        during = [ranker.run(query=QUERY, documents=docs) for _ in range(3)]
    for result in during:
        assert_scores(result, expected)
        assert result["meta"]["cache_bypassed"] == 2 and result["meta"]["cache_hits"] == 0
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

    redis_server.start()  # same port, empty (no persistence)
    repopulate = ranker.run(query=QUERY, documents=docs)
    assert repopulate["meta"]["cache_bypassed"] == 0 and repopulate["meta"]["cache_misses"] == len(docs)
    after = ranker.run(query=QUERY, documents=docs)
    assert after["meta"]["cache_hits"] == len(docs) and after["meta"]["cache_bypassed"] == 0
    assert_scores(after, expected)


# -- loading and serialisation -------------------------------------------------------------------------


def test_init_does_no_io_and_warm_up_is_idempotent(tiny_cross_encoder: str) -> None:  # noqa: F811
    CrossEncoderRanker(model="/definitely/not/a/model")  # nothing loaded yet, so no error
    ranker = make_ranker(tiny_cross_encoder)
    loaded = ranker._cross_encoder
    ranker.warm_up()
    assert ranker._cross_encoder is loaded


def test_portable_name_is_resolved_only_at_load_time(tiny_cross_encoder: str) -> None:  # noqa: F811
    register_local_model("example-org/tiny-ce-for-tests", lambda: Path(tiny_cross_encoder))
    ranker = make_ranker("example-org/tiny-ce-for-tests", cache=MemoryRerankCache())
    assert ranker.to_dict()["init_parameters"]["model"] == "example-org/tiny-ce-for-tests"
    assert ranker.run(query=QUERY, documents=[Document(content="virus")])["documents"][0].score is not None


def test_to_dict_from_dict_roundtrip(tmp_path: Path) -> None:
    ranker = CrossEncoderRanker(
        model="cross-encoder/some-model",
        device=ComponentDevice.from_str("cpu"),
        token=Secret.from_env_var("MY_HF_TOKEN", strict=False),
        batch_size=8,
        max_length=None,
        top_k=3,
        score_threshold=0.1,
        scale_score=True,
        meta_fields_to_embed=["title"],
        embedding_separator=" - ",
        precision="bfloat16",
        cache=DiskRerankCache(str(tmp_path / "c"), size_limit_bytes=1_000_000),
        low_confidence_threshold=0.4,
        alpha=0.7,
        length_sort=False,
        model_kwargs={"attn_implementation": "eager"},
        tokenizer_kwargs={"do_lower_case": True},
    )
    data = ranker.to_dict()
    params = data["init_parameters"]
    assert data["type"] == "haystack_rerank.components.rankers.cross_encoder.CrossEncoderRanker"
    assert params["token"] == {"type": "env_var", "env_vars": ["MY_HF_TOKEN"], "strict": False}
    assert params["device"] == ComponentDevice.from_str("cpu").to_dict()
    assert params["cache"] == {
        "type": "haystack_rerank.cache.disk.DiskRerankCache",
        "init_parameters": {
            "path": str(tmp_path / "c"),
            "size_limit_bytes": 1_000_000,
            "timeout_seconds": 2.0,
        },
    }
    rebuilt = CrossEncoderRanker.from_dict(data)
    assert isinstance(rebuilt.cache, DiskRerankCache) and isinstance(rebuilt.token, Secret)
    assert rebuilt.to_dict() == data


def test_pipeline_yaml_roundtrip_keeps_cache_and_hides_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret-pass@10.1.2.3:6379/0")
    pipeline = Pipeline()
    ranker = CrossEncoderRanker(
        model="cross-encoder/ms-marco-MiniLM-L-6-v2",
        cache=RedisRerankCache(ttl_seconds=3600, prefix="app:"),
        top_k=5,
    )
    pipeline.add_component("ranker", ranker)
    text = pipeline.dumps()
    assert "s3cret-pass" not in text and "REDIS_URL" in text
    loaded = Pipeline.loads(text)
    loaded_ranker = loaded.get_component("ranker")
    assert isinstance(loaded_ranker, CrossEncoderRanker)
    assert isinstance(loaded_ranker.cache, RedisRerankCache)
    assert loaded_ranker.cache.resolved_url() == "redis://:s3cret-pass@10.1.2.3:6379/0"
    assert loaded.to_dict() == pipeline.to_dict()


# -- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter", "value"),
    [
        ({"batch_size": 0}, "batch_size", "0"),
        ({"top_k": -1}, "top_k", "-1"),
        ({"backend": "tensorflow"}, "backend", "'tensorflow'"),
        ({"alpha": 1.5}, "alpha", "1.5"),
        ({"alpha": -0.1}, "alpha", "-0.1"),
        ({"alpha": 0.5, "scale_score": False}, "alpha", "scale_score=True"),
        ({"precision": "float16"}, "precision", "'float16'"),
        ({"precision": "bfloat16", "backend": "onnx"}, "precision", "(got 'onnx')"),
        ({"max_length": 0}, "max_length", "0"),
        ({"cache": {"type": "memory"}}, "cache", "memory"),
    ],
)
def test_invalid_parameters_raise_configuration_error(kwargs: dict, parameter: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CrossEncoderRanker(**kwargs)
    assert parameter in str(info.value) and value in str(info.value)


def test_invalid_runtime_top_k(tiny_cross_encoder: str) -> None:  # noqa: F811
    with pytest.raises(ConfigurationError, match="top_k got -2"):
        make_ranker(tiny_cross_encoder).run(query=QUERY, documents=[], top_k=-2)


@pytest.mark.parametrize(
    ("backend", "precision"),
    [
        ("torch", "bfloat16"),
        ("openvino", "float32"),
        ("openvino", "bfloat16"),
        ("onnx", "float32"),
        ("onnx", "int8"),
    ],
)
def test_fast_backends_agree_with_float32(
    tiny_cross_encoder: str,  # noqa: F811
    backend: str,
    precision: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    monkeypatch.setenv("HAYSTACK_RERANK_ONNX_CACHE", str(tmp_path))

    docs = make_documents(24, seed=5)
    reference = make_ranker(tiny_cross_encoder, top_k=24, scale_score=False)
    fast = make_ranker(tiny_cross_encoder, top_k=24, scale_score=False, backend=backend, precision=precision)
    expected = {d.id: d.score for d in reference.run(query=QUERY, documents=docs)["documents"]}
    got = {d.id: d.score for d in fast.run(query=QUERY, documents=docs)["documents"]}
    a = np.array([expected[d.id] for d in docs])
    b = np.array([got[d.id] for d in docs])
    if precision == "float32":
        assert np.abs(a - b).max() < 1e-4 * max(1.0, np.abs(a).max())
    # bf16 keeps ~3 significant digits; this random tiny model amplifies rounding more than trained weights
    # do (the SciFact quality check of each backend is in benchmarks/, not here)
    assert np.corrcoef(a, b)[0, 1] > {"float32": 0.9999, "bfloat16": 0.97, "int8": int8_min_correlation()}[precision]
    # scores from different backends or precisions never share cache entries (torch "bfloat16" on a CPU without
    # bf16 units runs float32: the same scores, the same entries)
    if (backend, precision) == ("torch", "bfloat16") and not bf16_supported():
        assert fast._scope_digest == reference._scope_digest
    else:
        assert fast._scope_digest != reference._scope_digest


def test_int8_units_are_read_from_the_cpu_flags(tmp_path: Path) -> None:
    from haystack_rerank.components.rankers._inference import int8_supported

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n", encoding="utf-8")
    assert int8_supported(cpuinfo) is False
    for flag in ("avx512_vnni", "avx_vnni", "amx_int8"):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu avx2 {flag}\n", encoding="utf-8")
        assert int8_supported(cpuinfo) is True
    assert int8_supported(tmp_path / "missing") is True  # unknown CPU: int8 as asked, as before


@pytest.mark.parametrize(
    ("backend", "has_int8_model", "int8_units", "bf16_units", "expected"),
    [
        ("openvino", True, True, False, "int8"),
        ("openvino", True, False, True, "float32"),  # int8 without VNNI/AMX is no faster than float32
        ("openvino", False, True, True, "float32"),  # no quantized model in the folder
        ("torch", True, True, True, "bfloat16"),
        ("torch", False, True, False, "float32"),
        ("compiled", False, False, True, "bfloat16"),
        ("onnx", True, True, True, "float32"),
    ],
)
def test_auto_precision_follows_the_cpu_and_the_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    has_int8_model: bool,
    int8_units: bool,
    bf16_units: bool,
    expected: str,
) -> None:
    from haystack_rerank.components.rankers import _loading
    from haystack_rerank.quantize import int8_model_path

    if has_int8_model:
        int8_model_path(tmp_path).parent.mkdir(parents=True)
        int8_model_path(tmp_path).write_text("<net/>", encoding="utf-8")
    monkeypatch.setattr(_loading, "int8_supported", lambda: int8_units)
    monkeypatch.setattr(_loading, "bf16_supported", lambda: bf16_units)
    assert _loading.automatic_precision(backend, str(tmp_path)) == expected


def test_auto_precision_scores_and_caches_as_what_it_ran(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = make_documents(8, seed=4)
    auto = make_ranker(tiny_cross_encoder, top_k=8, backend="openvino", precision="auto")
    explicit = make_ranker(tiny_cross_encoder, top_k=8, backend="openvino", precision="float32")
    got = [(d.id, d.score) for d in auto.run(query=QUERY, documents=docs)["documents"]]
    assert auto.running_precision == "float32"  # the tiny model has no int8 model beside it
    assert got == [(d.id, d.score) for d in explicit.run(query=QUERY, documents=docs)["documents"]]
    assert auto._scope_digest == explicit._scope_digest
    assert CrossEncoderRanker.from_dict(auto.to_dict()).precision == "auto"  # the YAML stays portable


def test_low_confidence_reads_the_cross_encoder_not_the_interpolation(tiny_cross_encoder: str) -> None:  # noqa: F811
    docs = make_documents(10, seed=9)
    plain = make_ranker(tiny_cross_encoder, top_k=10).run(query=QUERY, documents=docs)
    best_relevance = max(d.score for d in plain["documents"])
    # the threshold sits just above the model's best score: low confidence, however the first stage scored them
    ranker = make_ranker(tiny_cross_encoder, top_k=10, alpha=0.1, low_confidence_threshold=best_relevance + 1e-6)
    out = ranker.run(query=QUERY, documents=docs)
    assert out["meta"]["top_relevance"] == pytest.approx(best_relevance)
    assert out["meta"]["top_score"] > out["meta"]["top_relevance"] or out["meta"]["top_score"] >= 0.9
    assert out["meta"]["low_confidence"] is True
    ranker.low_confidence_threshold = best_relevance - 1e-6
    assert ranker.run(query=QUERY, documents=docs)["meta"]["low_confidence"] is False


def test_onnx_export_is_written_once_and_reused(
    tiny_cross_encoder: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAYSTACK_RERANK_ONNX_CACHE", str(tmp_path))
    docs = make_documents(6, seed=2)
    first = make_ranker(tiny_cross_encoder, top_k=6, backend="onnx", precision="int8")
    first_scores = [d.score for d in first.run(query=QUERY, documents=docs)["documents"]]
    exported = sorted(tmp_path.rglob("*.onnx"))
    assert [p.name for p in exported] == ["model.onnx", "model_int8.onnx"]
    stamps = [p.stat().st_mtime_ns for p in exported]
    second = make_ranker(tiny_cross_encoder, top_k=6, backend="onnx", precision="int8")
    assert [d.score for d in second.run(query=QUERY, documents=docs)["documents"]] == first_scores
    assert [p.stat().st_mtime_ns for p in sorted(tmp_path.rglob("*.onnx"))] == stamps
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize(("backend", "precision"), [("onnx", "bfloat16"), ("torch", "int8"), ("compiled", "int8")])
def test_precision_needs_a_matching_backend(backend: str, precision: str) -> None:
    with pytest.raises(ConfigurationError, match=f"precision got {precision!r}"):
        CrossEncoderRanker(backend=backend, precision=precision)
