"""CrossEncoderRanker's candidates: one per id, split by whether they have text, and ranked by their scores."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from haystack import Document

from haystack_rerank.components.rankers._scoring import document_text, min_max_normalise, sigmoid
from haystack_rerank.components.rankers._windows import BEST_WINDOW_META_KEY

RETRIEVAL_SCORE_META_KEY = "retrieval_score"


def deduplicate(documents: list[Document]) -> list[Document]:
    """One document per id, at the position of its first occurrence; the highest first-stage score wins."""
    best: dict[str, Document] = {}
    for doc in documents:
        kept = best.get(doc.id)
        if kept is None or (doc.score is not None and (kept.score is None or doc.score > kept.score)):
            best[doc.id] = doc
    return list(best.values())  # dict order = first-occurrence order


def split_by_text(
    documents: list[Document], meta_fields_to_embed: list[str], embedding_separator: str
) -> tuple[list[tuple[Document, str]], list[Document]]:
    """(document, the text the model reads) for the documents with text, and the documents without."""
    scorable: list[tuple[Document, str]] = []
    unscorable: list[Document] = []
    for doc in documents:
        text = document_text(doc, meta_fields_to_embed, embedding_separator)
        if text is None:
            unscorable.append(doc)
        else:
            scorable.append((doc, text))
    return scorable, unscorable


def rank(  # noqa: PLR0913 - the ranker's settings that decide the final order
    scorable: list[tuple[Document, str]],
    unscorable: list[Document],
    logits: list[float],
    windows: list[dict[str, Any]] | None,
    meta: dict[str, Any],
    *,
    scale_score: bool,
    alpha: float | None,
    score_threshold: float | None,
    low_confidence_threshold: float | None,
) -> list[Document]:
    """Rescored copies, best first and unscored last; sets `top_score`, `top_relevance`, `low_confidence` in `meta`."""
    scores = [sigmoid(logit) if scale_score else logit for logit in logits]
    relevance = max(scores, default=None)  # the cross-encoder's own best score, before interpolation
    if alpha is not None:
        first_stage = min_max_normalise([doc.score for doc, _ in scorable])
        scores = [alpha * ce + (1.0 - alpha) * fs for ce, fs in zip(scores, first_stage, strict=True)]

    order = sorted(range(len(scores)), key=lambda index: -scores[index])  # stable: ties keep input order
    if order:
        meta["top_score"] = scores[order[0]]
        meta["top_relevance"] = relevance
        # confidence is the cross-encoder's judgement alone: the first-stage share of an interpolated
        # score would make the top document look relevant whatever the model thinks
        meta["low_confidence"] = low_confidence_threshold is not None and relevance < low_confidence_threshold
    if score_threshold is not None:
        order = [index for index in order if scores[index] >= score_threshold]
    ranked = [rescored(scorable[index][0], scores[index], windows and windows[index]) for index in order]
    ranked.extend(rescored(doc, None) for doc in unscorable)
    return ranked


def rescored(doc: Document, score: float | None, best_window: dict[str, Any] | None = None) -> Document:
    """A copy of `doc` with `score` set and its first-stage score kept in `meta["retrieval_score"]`."""
    meta = {**(doc.meta or {}), RETRIEVAL_SCORE_META_KEY: doc.score}
    if best_window:
        meta[BEST_WINDOW_META_KEY] = best_window
    return replace(doc, score=score, meta=meta)
