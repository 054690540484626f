"""
CrossEncoderRanker's scoring through its cache: hits come from the cache, only the misses go to the model, and
concurrent runs score a pair once (a run's misses are looked up again, scored and written under the model lock).
"""

from __future__ import annotations

import time
from typing import Any

from haystack import Document

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.cache.keys import make_cache_key


def cached_logits(ranker: Any, query: str, scorable: list[tuple[Document, str]], meta: dict[str, Any]) -> list[float]:
    """Raw logits of a warmed-up ranker for every (document, text) pair; counts cache and model work in `meta`."""
    logits: list[float | None] = [None] * len(scorable)
    keys: list[str] = []
    writes_seen = ranker._cache_writes  # read before the lookup: a later write may hold our misses
    if ranker.cache is not None:
        assert ranker._scope_digest is not None  # set together with the model in warm_up
        keys = [make_cache_key(ranker._scope_digest, query, doc.id, text) for doc, text in scorable]
        _read_cache(ranker.cache, keys, range(len(keys)), logits, meta)

    missing = [index for index, logit in enumerate(logits) if logit is None]
    if missing:
        with ranker._model_lock:
            if ranker.cache is not None and ranker._cache_writes != writes_seen:
                # another run (maybe of the same query) wrote scores since our lookup: read them again
                missing = _read_cache(ranker.cache, keys, missing, logits, meta)
            if missing:
                fresh = _predict(ranker, query, [scorable[index][1] for index in missing], meta)
                for index, logit in zip(missing, fresh, strict=True):
                    logits[index] = logit
                if ranker.cache is not None:
                    written = {keys[index]: logit for index, logit in zip(missing, fresh, strict=True)}
                    meta["cache_bypassed"] += int(ranker.cache.safe_set_many(written))
                    ranker._cache_writes += 1
    return [float(logit) for logit in logits]  # type: ignore[arg-type]  # all filled above


def _read_cache(
    cache: RerankCache, keys: list[str], wanted: Any, logits: list[float | None], meta: dict[str, Any]
) -> list[int]:
    """Fill `logits` at the `wanted` indexes from the cache; count hits and misses; return the misses."""
    wanted = list(wanted)
    found, bypassed = cache.safe_get_many([keys[index] for index in wanted])
    meta["cache_bypassed"] += int(bypassed)
    for index in wanted:
        logits[index] = found.get(keys[index])
    missing = [index for index in wanted if logits[index] is None]
    meta["cache_misses"] = len(missing)
    meta["cache_hits"] = len(logits) - len(missing)
    return missing


def _predict(ranker: Any, query: str, texts: list[str], meta: dict[str, Any]) -> list[float]:
    """Score (query, text) pairs in length-sorted batches (the caller holds the ranker's model lock)."""
    started = time.perf_counter()
    logits, batches = ranker._scorer(query, texts, ranker.batch_size, ranker.length_sort)
    meta["model_seconds"] += time.perf_counter() - started
    meta["model_scored"] += len(texts)
    meta["batches"] += batches
    return logits
