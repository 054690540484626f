"""
Long documents for CrossEncoderRanker: split each text into overlapping token windows, score every window,
and aggregate the window scores into one document score.

Windows are cut on the tokenizer's own tokens (offsets into the text, so each window is a character span of
the text the model reads) and scored as ordinary (query, window text) pairs: the ranker batches the windows
of all candidates together and caches each window under its own text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from haystack_rerank.components.rankers._validation import fail, is_int, is_number

WINDOW_AGGREGATIONS = ("max", "first_k_mean", "first_over_threshold")
BEST_WINDOW_META_KEY = "best_window"
MIN_WINDOW_TOKENS = 16  # a window never shrinks below this, however long the query is


@dataclass(frozen=True)
class WindowSettings:
    """How documents are split and how window scores become one score (validated by `validate`)."""

    tokens: int | None = None  # document tokens per window; None: what max_length leaves after the query
    overlap: int = 32
    max_windows: int = 8
    aggregation: str = "max"
    first_k: int = 3
    threshold: float | None = None  # on the score scale the ranker returns (a probability when scaled)

    def validate(self, scale_score: bool) -> None:
        if self.tokens is not None and (not is_int(self.tokens) or self.tokens < MIN_WINDOW_TOKENS):
            fail(
                "window_tokens", self.tokens, f"it must be an integer >= {MIN_WINDOW_TOKENS}, or None (fit max_length)."
            )
        if not is_int(self.overlap) or self.overlap < 0:
            fail("window_overlap", self.overlap, "it must be an integer >= 0 (tokens shared by neighbouring windows).")
        if self.tokens is not None and self.overlap >= self.tokens:
            fail("window_overlap", self.overlap, f"it must be smaller than window_tokens={self.tokens}.")
        if not is_int(self.max_windows) or self.max_windows < 1:
            fail("max_windows", self.max_windows, "it must be a positive integer, e.g. 8.")
        if self.aggregation not in WINDOW_AGGREGATIONS:
            fail("window_aggregation", self.aggregation, f"choose one of {', '.join(WINDOW_AGGREGATIONS)}.")
        if not is_int(self.first_k) or self.first_k < 1:
            fail("window_first_k", self.first_k, "it must be a positive integer (windows averaged by first_k_mean).")
        if self.threshold is not None and (not is_number(self.threshold) or isinstance(self.threshold, bool)):
            fail("window_threshold", self.threshold, "it must be a number or None.")
        if self.aggregation == "first_over_threshold":
            if self.threshold is None:
                fail("window_threshold", None, "window_aggregation='first_over_threshold' needs a threshold, e.g. 0.5.")
            if scale_score and not 0.0 < float(self.threshold) < 1.0:
                fail("window_threshold", self.threshold, "with scale_score=True it is a probability: 0 < t < 1.")

    def threshold_logit(self, scale_score: bool) -> float | None:
        """The threshold on the raw logit scale the windows are scored on."""
        if self.threshold is None:
            return None
        if not scale_score:
            return float(self.threshold)
        return math.log(self.threshold / (1.0 - self.threshold))


@dataclass
class WindowPlan:
    """The windows of every candidate: `units` go to the model, `owners[i]` is the candidate of unit i."""

    units: list[tuple[Any, str]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # character span of each unit in its text
    counts: list[int] = field(default_factory=list)  # windows per candidate
    capped: list[bool] = field(default_factory=list)  # the candidate had more text than max_windows covers


def window_spans(
    offsets: Sequence[tuple[int, int]], size: int, overlap: int, max_windows: int
) -> tuple[list[tuple[int, int]], bool]:
    """
    Character spans of windows of `size` tokens, consecutive windows sharing `overlap` tokens.

    `offsets` are the (start, end) characters of each token. Returns the spans (at most `max_windows`) and
    whether tokens were left over after the last allowed window.
    """
    if not offsets:
        return [], False
    stride = size - overlap
    starts = list(range(0, max(len(offsets) - overlap, 1), stride))
    # the last window ends at the last token; a start whose window would hold only overlap tokens is dropped
    spans = [(offsets[s][0], offsets[min(s + size, len(offsets)) - 1][1]) for s in starts[:max_windows]]
    return spans, len(starts) > max_windows


def plan_windows(
    tokenizer: Any,
    query: str,
    scorable: Sequence[tuple[Any, str]],
    settings: WindowSettings,
    model_max_length: int | None,
) -> WindowPlan:
    """Split every candidate's text into windows that fit next to `query` (one tokenizer call for all texts)."""
    size, overlap = window_size(tokenizer, query, settings, model_max_length)
    texts = [text for _, text in scorable]
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    plan = WindowPlan()
    for index, ((doc, text), offsets) in enumerate(zip(scorable, encoded["offset_mapping"], strict=True)):
        if len(offsets) <= size:  # fits: the whole text, so short documents score (and cache) as with truncate
            spans, capped = [(0, len(text))], False
        else:
            spans, capped = window_spans([tuple(o) for o in offsets], size, overlap, settings.max_windows)
        plan.units.extend((doc, text[start:end]) for start, end in spans)
        plan.owners.extend([index] * len(spans))
        plan.spans.extend(spans)
        plan.counts.append(len(spans))
        plan.capped.append(capped)
    return plan


def window_size(tokenizer: Any, query: str, settings: WindowSettings, model_max_length: int | None) -> tuple[int, int]:
    """Document tokens per window and the overlap actually used for this query."""
    if settings.tokens is not None:
        return settings.tokens, settings.overlap
    limit = int(model_max_length or getattr(tokenizer, "model_max_length", None) or 512)
    query_tokens = len(tokenizer(query, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])
    size = max(limit - query_tokens - tokenizer.num_special_tokens_to_add(pair=True), MIN_WINDOW_TOKENS)
    return size, min(settings.overlap, size // 2)  # a long query leaves small windows: keep them advancing


def aggregate(logits: Sequence[float], settings: WindowSettings, threshold_logit: float | None) -> tuple[float, int]:
    """One document logit from its window logits (document order), and the index of the window to read first."""
    best = max(range(len(logits)), key=lambda i: logits[i])
    if settings.aggregation == "max":
        return logits[best], best
    if settings.aggregation == "first_k_mean":
        first = logits[: settings.first_k]
        best_first = max(range(len(first)), key=lambda i: first[i])
        return sum(first) / len(first), best_first
    assert threshold_logit is not None  # validated: first_over_threshold has a threshold
    for index, logit in enumerate(logits):
        if logit >= threshold_logit:
            return logit, index
    return logits[best], best  # no window passes: the best one, which is still below the threshold


def aggregate_plan(
    plan: WindowPlan, unit_logits: Sequence[float], settings: WindowSettings, scale_score: bool, prefix: Sequence[int]
) -> tuple[list[float], list[dict[str, Any]]]:
    """
    Per candidate: the aggregated logit and the `best_window` meta entry.

    `prefix[i]` is the number of characters before candidate i's content in the text the model reads (embedded
    meta fields and the separator); spans are reported in `content` characters so a reader can start there.
    """
    threshold_logit = settings.threshold_logit(scale_score)
    per_document: list[list[int]] = [[] for _ in plan.counts]
    for unit, owner in enumerate(plan.owners):
        per_document[owner].append(unit)
    logits, details = [], []
    for owner, units in enumerate(per_document):
        score, chosen = aggregate([unit_logits[u] for u in units], settings, threshold_logit)
        start, end = plan.spans[units[chosen]]
        logits.append(score)
        details.append(
            {
                "index": chosen,
                "start": max(start - prefix[owner], 0),
                "end": max(end - prefix[owner], 0),
                "windows": plan.counts[owner],
                "capped": plan.capped[owner],
            }
        )
    return logits, details
