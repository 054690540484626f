"""Rerank the top of a fused list and keep the rest below it, so recall at the cut is not lost."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from haystack import Document


def rerank_with_backfill(query: str, fused: list[Document], ranker: Any, depth: int) -> list[Document]:
    """
    The first `depth` fused documents, reranked, then the remaining fused documents in fused order.

    Backfilled documents get scores strictly below the lowest reranked score, so a TREC run sorted by score
    keeps this order.
    """
    head = fused[:depth]
    reranked = ranker.run(query=query, documents=head, top_k=len(head))["documents"]
    scored = [d for d in reranked if d.score is not None]
    floor = min((d.score for d in scored), default=0.0)
    tail = [d for d in reranked if d.score is None] + fused[depth:]
    return scored + [replace(d, score=floor - 1.0 - rank) for rank, d in enumerate(tail, start=1)]
