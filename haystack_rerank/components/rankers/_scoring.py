"""Pure helpers of CrossEncoderRanker: the text a model reads, batching by length, score arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence

from haystack import Document


def document_text(document: Document, meta_fields: Sequence[str], separator: str) -> str | None:
    """
    Return the text the cross-encoder reads for `document`, or None when it has no content to score.

    Meta values listed in `meta_fields` come first (those present and not None), then the content.
    A document whose `meta` is None reads as one without meta.
    """
    content = document.content
    if content is None or not content.strip():
        return None
    meta = document.meta or {}
    meta_values = [str(meta[key]) for key in meta_fields if meta.get(key) is not None]
    return separator.join([*meta_values, content])


def batches_by_length(lengths: Sequence[int], batch_size: int, sort: bool) -> list[list[int]]:
    """
    Split the indices of `lengths` into batches of at most `batch_size`.

    With `sort`, indices are ordered by length (longest first, ties in input order) so each batch pads
    to a similar length and short texts don't pay for a long neighbour's padding.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if sort else list(range(len(lengths)))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def sigmoid(logit: float) -> float:
    """Numerically stable logistic function."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


def min_max_normalise(scores: Sequence[float | None]) -> list[float]:
    """
    Scale first-stage scores to 0..1 over one result list.

    A missing score becomes 0.0; when all present scores are equal they all become 1.0 (a constant
    carries no ranking signal, and 1.0 keeps it from penalising documents that do have a score).
    """
    present = [s for s in scores if s is not None]
    if not present:
        return [0.0 for _ in scores]
    low, high = min(present), max(present)
    if high == low:
        return [0.0 if s is None else 1.0 for s in scores]
    return [0.0 if s is None else (s - low) / (high - low) for s in scores]
