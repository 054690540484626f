"""CascadeRanker: a cheap first pass over every candidate, the full cross-encoder on the best few; per-query gating."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from haystack_rerank.components.rankers._scoring import min_max_normalise
from haystack_rerank.components.rankers.cross_encoder import CrossEncoderRanker
from haystack_rerank.errors import ConfigurationError


@component
class CascadeRanker:
    """
    Reranks in two stages: `small_ranker` (a 2–3-layer cross-encoder) scores every candidate, and `ranker` (the
    full one) re-scores the `rescore_top` best of them. Without `small_ranker` the first-stage order picks them.

    Gating: when the first pass is already sure of its top document (its score lies at least `gate_margin` above
    the second one, both min-max scaled over the candidates), only `gated_rescore_top` documents are re-scored.

    The output is the re-scored documents (best first, scored by `ranker`, with its `alpha` and thresholds),
    then the other candidates in first-pass order, their scores set strictly below the lowest re-scored one so a
    list sorted by score keeps this order. Each stage uses its own ranker's cache (one cache object can serve
    both: keys include the model). `meta` is the full ranker's meta plus `cascade`: `candidates`, `rescored`,
    `gated`, `margin`, `small_model_seconds`,
    `small_cache_hits`.

    ### Usage example

    ```python
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.components.rankers import CascadeRanker, CrossEncoderRanker

    cache = MemoryRerankCache()
    ranker = CascadeRanker(
        small_ranker=CrossEncoderRanker(model="models/small-ce", cache=cache),
        ranker=CrossEncoderRanker(model="haystack-rerank/scifact-minilm-l6-ce", cache=cache),
        rescore_top=20,
        top_k=10,
    )
    ```
    """

    def __init__(
        self,
        *,
        ranker: CrossEncoderRanker,
        small_ranker: CrossEncoderRanker | None = None,
        rescore_top: int = 20,
        gate_margin: float | None = None,
        gated_rescore_top: int = 10,
        top_k: int = 10,
    ) -> None:
        """
        :param ranker: The full cross-encoder; re-scores the top of the first pass.
        :param small_ranker: The cheap cross-encoder scoring every candidate; None uses the first-stage order.
        :param rescore_top: M, documents the full ranker re-scores (N is however many candidates arrive).
        :param gate_margin: Re-score only `gated_rescore_top` when the first pass's top score (min-max scaled over
            the candidates, 0..1) exceeds the second by at least this; None never gates.
        :param gated_rescore_top: Documents re-scored when the gate fires.
        :param top_k: Maximum number of documents returned.
        :raises ConfigurationError: A parameter has a value that cannot work; the message names the fix.
        """
        self.ranker = ranker
        self.small_ranker = small_ranker
        self.rescore_top = rescore_top
        self.gate_margin = gate_margin
        self.gated_rescore_top = gated_rescore_top
        self.top_k = top_k
        self._validate_params()

    def _validate_params(self) -> None:
        def fail(name: str, value: Any, fix: str) -> None:
            msg = f"CascadeRanker {name} got {value!r}; {fix}"
            raise ConfigurationError(msg)

        if not isinstance(self.ranker, CrossEncoderRanker):
            fail("ranker", self.ranker, "pass a CrossEncoderRanker (the full model).")
        if self.small_ranker is not None and not isinstance(self.small_ranker, CrossEncoderRanker):
            fail("small_ranker", self.small_ranker, "pass a CrossEncoderRanker (the small model) or None.")
        for name in ("rescore_top", "gated_rescore_top", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(name, value, "it must be a positive integer.")
        if self.gate_margin is not None and self.gated_rescore_top > self.rescore_top:
            fail("gated_rescore_top", self.gated_rescore_top, f"it must not exceed rescore_top ({self.rescore_top}).")
        if self.gate_margin is not None and (
            isinstance(self.gate_margin, bool)
            or not isinstance(self.gate_margin, (int, float))
            or not 0.0 <= self.gate_margin <= 1.0
        ):
            fail("gate_margin", self.gate_margin, "it must be between 0 and 1 (scaled scores), or None.")

    @property
    def model(self) -> str:
        """The full model's name (what the pipelines and the answerer read)."""
        return self.ranker.model

    def warm_up(self) -> None:
        """Load (and compile, for backend='compiled') both models."""
        if self.small_ranker is not None:
            self.small_ranker.warm_up()
        self.ranker.warm_up()

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """
        Rerank `documents` for `query` in two stages.

        :param query: The query, a non-empty string.
        :param documents: The N candidates, best first-stage first.
        :param top_k: Maximum documents returned; None uses the init value.
        :returns: `documents` (re-scored first, then the rest in first-pass order) and `meta`.
        """
        return self._rank(query, documents, top_k)

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """Same as `run`, in a worker thread so the event loop stays free during the forward passes."""
        return await asyncio.to_thread(self._rank, query, documents, top_k)

    def _rank(self, query: str, documents: list[Document], top_k: int | None) -> dict[str, Any]:
        top_k = top_k if top_k is not None else self.top_k
        if not isinstance(documents, list) or not all(isinstance(doc, Document) for doc in documents):
            msg = f"CascadeRanker documents got {type(documents).__name__}; pass a list of haystack Documents."
            raise ConfigurationError(msg)
        first_pass, small_meta = self._first_pass(query, documents)
        margin = top_margin([score for _, score in first_pass])
        gated = self.gate_margin is not None and margin is not None and margin >= self.gate_margin
        depth = self.gated_rescore_top if gated else self.rescore_top
        head = [doc for doc, _ in first_pass[:depth]]
        tail = [doc for doc, _ in first_pass[depth:]]
        result = self.ranker.run(query=query, documents=head, top_k=len(head))
        rescored = result["documents"]
        floor = min((doc.score for doc in rescored if doc.score is not None), default=0.0)
        backfill = [replace(doc, score=floor - rank) for rank, doc in enumerate(tail, start=1)]
        meta = {
            **result["meta"],
            "cascade": {
                "candidates": len(first_pass),
                "rescored": len(head),
                "gated": gated,
                "margin": margin,
                "small_model_seconds": small_meta.get("model_seconds", 0.0),
                "small_cache_hits": small_meta.get("cache_hits", 0),
            },
        }
        return {"documents": (rescored + backfill)[:top_k], "meta": meta}

    def _first_pass(
        self, query: str, documents: list[Document]
    ) -> tuple[list[tuple[Document, float | None]], dict[str, Any]]:
        """The candidates ordered by the first pass, with its score (the original documents), and its meta."""
        if self.small_ranker is None:
            return [(doc, doc.score) for doc in documents], {}
        out = self.small_ranker.run(query=query, documents=documents, top_k=len(documents))
        originals = {doc.id: doc for doc in documents}
        # the small ranker drops repeated ids; the full ranker then sees each candidate once too
        ordered = [(originals[doc.id], doc.score) for doc in out["documents"]]
        return ordered, out["meta"]

    def to_dict(self) -> dict[str, Any]:
        """Serialise the configuration, both rankers (and their caches) included."""
        return default_to_dict(
            self,
            ranker=self.ranker.to_dict(),
            small_ranker=self.small_ranker.to_dict() if self.small_ranker is not None else None,
            rescore_top=self.rescore_top,
            gate_margin=self.gate_margin,
            gated_rescore_top=self.gated_rescore_top,
            top_k=self.top_k,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CascadeRanker:
        """Rebuild the cascade and both rankers from `to_dict` output."""
        params = dict(data.get("init_parameters", {}))
        params["ranker"] = CrossEncoderRanker.from_dict(params["ranker"])
        if params.get("small_ranker") is not None:
            params["small_ranker"] = CrossEncoderRanker.from_dict(params["small_ranker"])
        return default_from_dict(cls, {**data, "init_parameters": params})


def top_margin(scores: list[float | None]) -> float | None:
    """How far the best score lies above the second, with scores min-max scaled to 0..1 over the list."""
    present = [score for score in scores if score is not None]
    if len(present) < 2:
        return None
    ranked = sorted(min_max_normalise(present), reverse=True)
    return ranked[0] - ranked[1]
