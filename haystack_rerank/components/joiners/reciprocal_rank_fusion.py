"""Reciprocal Rank Fusion of several ranked lists of documents."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from haystack_rerank.errors import ConfigurationError


@component
class ReciprocalRankFusion:
    """
    Fuses ranked document lists with Reciprocal Rank Fusion (Cormack et al., 2009).

    score(d) = Σ_legs w_leg / (k + rank_leg(d)), ranks starting at 1.

    Unlike Haystack's `DocumentJoiner` (k fixed at 61, last duplicate wins), `k` and the leg weights are
    parameters, and a document found by several legs is merged into one: the first leg's copy keeps its
    content, and `meta["rrf"]` records each leg's rank and raw score. Ties are broken by the best rank
    in any leg, then by document id, so the output never depends on dictionary order.

    Usage example:
    ```python
    from haystack import Document
    from haystack_rerank.components.joiners import ReciprocalRankFusion

    rrf = ReciprocalRankFusion(legs=["bm25", "dense"], k=60, weights={"bm25": 1.0, "dense": 1.0}, top_k=10)
    fused = rrf.run(bm25=[Document(id="a", content="...")], dense=[])["documents"]
    ```

    In a pipeline, each leg is an input socket of its own (named after `legs`), so the fused
    provenance keeps the leg names: `pipeline.connect("bm25_retriever", "rrf.bm25")`.
    """

    def __init__(
        self,
        *,
        legs: list[str] | None = None,
        k: int = 60,
        weights: dict[str, float] | None = None,
        top_k: int | None = None,
    ) -> None:
        """
        :param legs: Names of the ranked lists to fuse; each becomes an input of type `list[Document]`.
        :param k: Rank constant; larger values flatten the difference between top and lower ranks.
        :param weights: Weight per leg name; legs not named get weight 1.0.
        :param top_k: Maximum number of fused documents to return; `None` returns all.
        """
        self._validate(k=k, weights=weights, top_k=top_k)
        self.legs = list(legs) if legs is not None else ["lexical", "dense"]
        unknown = sorted(set(weights or {}) - set(self.legs))
        if len(set(self.legs)) != len(self.legs) or not all(isinstance(x, str) and x.isidentifier() for x in self.legs):
            msg = f"ReciprocalRankFusion: legs must be distinct Python identifiers, got {self.legs!r}."
            raise ConfigurationError(msg)
        if unknown or "top_k" in self.legs:
            msg = (
                f"ReciprocalRankFusion: weights name legs {unknown!r} (or a leg is called 'top_k') that are not in "
                f"legs={self.legs!r}. Add them to legs or remove them from weights."
            )
            raise ConfigurationError(msg)
        for leg in self.legs:  # an unconnected leg counts as empty
            component.set_input_type(self, leg, list[Document] | None, default=None)
        self.k = k
        self.weights = dict(weights or {})
        self.top_k = top_k

    @staticmethod
    def _validate(*, k: Any, weights: Any, top_k: Any) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            msg = f"ReciprocalRankFusion: k must be an integer >= 0, got {k!r}. The usual value is 60."
            raise ConfigurationError(msg)
        for leg, weight in (weights or {}).items():
            if (
                not isinstance(weight, (int, float))
                or isinstance(weight, bool)
                or not math.isfinite(weight)
                or weight < 0
            ):
                msg = (
                    f"ReciprocalRankFusion: weights[{leg!r}] must be a finite number >= 0, got {weight!r}. "
                    "Use 1.0 for an equal share, 0 to ignore the leg."
                )
                raise ConfigurationError(msg)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
            msg = f"ReciprocalRankFusion: top_k must be None or an integer >= 0, got {top_k!r}."
            raise ConfigurationError(msg)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, legs=self.legs, k=self.k, weights=self.weights, top_k=self.top_k)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReciprocalRankFusion:
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, top_k: int | None = None, **ranked_lists: list[Document]) -> dict[str, list[Document]]:
        """
        Fuse the ranked lists.

        :param top_k: Overrides the init `top_k` for this call; 0 returns none, more than the candidates returns all.
        :param ranked_lists: One keyword per leg (see `legs`): documents, best first. A missing leg counts as
            empty. Within one leg, a repeated id keeps its first (best) rank.
        :returns: `documents`: fused, best first, with `score` set to the RRF score.
        """
        unknown = sorted(set(ranked_lists) - set(self.legs))
        if unknown:
            msg = f"ReciprocalRankFusion: got inputs {unknown!r}, but legs={self.legs!r}. Add them to legs."
            raise ConfigurationError(msg)
        for leg, documents in ranked_lists.items():
            if documents is not None and (
                not isinstance(documents, list) or not all(isinstance(doc, Document) for doc in documents)
            ):
                msg = (
                    f"ReciprocalRankFusion: input {leg!r} got {type(documents).__name__}"
                    f"{'' if not isinstance(documents, list) else ' holding non-Documents'}; "
                    "pass a list of haystack Document objects (or None for an empty leg)."
                )
                raise ConfigurationError(msg)
        top_k = top_k if top_k is not None else self.top_k
        self._validate(k=self.k, weights=None, top_k=top_k)
        return {"documents": self.fuse({leg: ranked_lists.get(leg) or [] for leg in self.legs}, top_k=top_k)}

    def fuse(self, ranked_lists: dict[str, list[Document]], top_k: int | None = None) -> list[Document]:
        """Fuse `leg name -> ranked documents`; the shared implementation behind `run`."""
        scores: dict[str, float] = {}
        first_copy: dict[str, Document] = {}
        provenance: dict[str, dict[str, dict[str, Any]]] = {}
        for leg, documents in ranked_lists.items():
            weight = self.weights.get(leg, 1.0)
            for rank, doc in enumerate(documents, start=1):
                legs_seen = provenance.setdefault(doc.id, {})
                if leg in legs_seen:  # repeated inside one leg: keep the better rank only
                    continue
                legs_seen[leg] = {"rank": rank, "score": doc.score}
                first_copy.setdefault(doc.id, doc)
                scores[doc.id] = scores.get(doc.id, 0.0) + weight / (self.k + rank)

        def order(doc_id: str) -> tuple[float, int, str]:
            best_rank = min(entry["rank"] for entry in provenance[doc_id].values())
            return (-scores[doc_id], best_rank, doc_id)

        ranked_ids = sorted(scores, key=order)
        if top_k is not None:
            ranked_ids = ranked_ids[:top_k]
        fused = []
        for doc_id in ranked_ids:
            doc = first_copy[doc_id]
            meta = {**(doc.meta or {}), "rrf": provenance[doc_id]}  # a meta of None counts as empty
            fused.append(replace(doc, score=scores[doc_id], meta=meta))
        return fused
