"""
Cascade and gating rows for `sweep`: nDCG@10 and rerank latency for each (N, M) of a CascadeRanker, and for each
gate, how often it fires and what it costs; thresholds are chosen on one split (train) and reported on another.

Quality reuses cached scores: each model scores the top max(N) of every query once, through rankers with a cache,
so every (N, M, gate) setting is a re-ordering of cached scores. Latency is measured with uncached rankers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from haystack import Document

from haystack_rerank.components.rankers import CascadeRanker, CrossEncoderRanker
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.evaluation.latency import summarize_latencies
from haystack_rerank.evaluation.metrics import evaluate_run
from haystack_rerank.evaluation.rerank import rerank_with_backfill

DEFAULT_CASCADES = ((100, 10), (100, 20), (100, 30), (50, 10), (50, 20))
DEFAULT_GATE_MARGINS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def parse_settings(cascades: str, gates: str = "") -> tuple[list[tuple[int, int]], list[float]]:
    """`"100:20,50:10"` and `"0.2,0.4"` as (N, M) pairs and gate margins; a clear error for anything else."""
    try:
        settings = [tuple(int(part) for part in item.split(":")) for item in cascades.split(",")]
        margins = [float(g) for g in gates.split(",")] if gates.strip() else []
    except ValueError as err:
        msg = f"--cascades {cascades!r} / --gates {gates!r}: use e.g. --cascades 100:20,50:10 --gates 0.2,0.4"
        raise ConfigurationError(msg) from err
    if any(len(pair) != 2 or not 1 <= pair[1] <= pair[0] for pair in settings):
        raise ConfigurationError(f"--cascades got {cascades!r}: each item is N:M with 1 <= M <= N, e.g. 100:20.")
    return settings, margins


def cascade_row(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    fused: dict[str, list[Document]],
    cascade: CascadeRanker,
    depth: int,
) -> dict[str, Any]:
    """nDCG@10 of one cascade setting reranking the top `depth` of every fused list, and how often it gated."""
    run, gated, rescored = {}, 0, 0
    recorder = _Recorder(cascade)
    for qid, text in queries.items():
        documents = rerank_with_backfill(text, fused[qid], recorder, depth)
        run[qid] = {doc.id: float(doc.score) for doc in documents}
        gated += int(recorder.last["gated"])
        rescored += recorder.last["rescored"]
    return {
        "ndcg@10": evaluate_run(qrels, run, ("ndcg@10",))["ndcg@10"],
        "gate_fired": gated / len(queries),
        "mean_rescored": rescored / len(queries),
    }


class _Recorder:
    """Runs the cascade for `rerank_with_backfill` and keeps the last query's cascade meta."""

    def __init__(self, cascade: CascadeRanker) -> None:
        self.cascade = cascade
        self.last: dict[str, Any] = {}

    def run(self, query: str, documents: list[Document], top_k: int) -> dict[str, Any]:
        out = self.cascade.run(query=query, documents=documents, top_k=top_k)
        self.last = out["meta"]["cascade"]
        return out


def timed_cascade(
    queries: Iterable[tuple[str, str]], fused: dict[str, list[Document]], cascade: CascadeRanker, depth: int
) -> dict[str, float]:
    """Rerank latency (p50/p95/max ms) of the cascade over the top `depth`, uncached rankers expected."""
    seconds = []
    for qid, text in queries:
        started = time.perf_counter()
        cascade.run(query=text, documents=fused[qid][:depth], top_k=depth)
        seconds.append(time.perf_counter() - started)
    return summarize_latencies(seconds)


def cascade_sweep(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    fused: dict[str, list[Document]],
    *,
    full: tuple[CrossEncoderRanker, CrossEncoderRanker],
    small: tuple[CrossEncoderRanker, CrossEncoderRanker] | None,
    settings: Iterable[tuple[int, int]] = DEFAULT_CASCADES,
    gates: Iterable[float] = DEFAULT_GATE_MARGINS,
    gated_rescore_top: int = 10,
    latency_queries: int = 20,
) -> list[dict[str, Any]]:
    """
    One row per (N, M) and per (N, M, gate margin). `full` and `small` are (cached scoring ranker, uncached timing
    ranker) pairs; without `small` the first-stage order picks the top M (gating then reads first-stage scores).
    """
    timed = list(queries.items())[:latency_queries]
    rows = []
    for depth, rescore_top in settings:
        for margin in (None, *gates):
            if margin is not None and gated_rescore_top >= rescore_top:
                continue
            shape = {"rescore_top": rescore_top, "gate_margin": margin, "gated_rescore_top": gated_rescore_top}
            scoring = CascadeRanker(ranker=full[0], small_ranker=small[0] if small else None, **shape)
            timing = CascadeRanker(ranker=full[1], small_ranker=small[1] if small else None, **shape)
            rows.append(
                {
                    "depth": depth,
                    **shape,
                    **cascade_row(queries, qrels, fused, scoring, depth),
                    **timed_cascade(timed, fused, timing, depth),
                }
            )
    return rows


def pick_gates(train_rows: list[dict[str, Any]], max_loss: float = 0.005) -> dict[tuple[int, int], float | None]:
    """
    For each (N, M): the gate margin that fires most often while losing at most `max_loss` nDCG@10 against the
    same (N, M) without a gate, on these (training) rows; None when no gate qualifies.
    """
    picks: dict[tuple[int, int], float | None] = {}
    for row in train_rows:
        key = (row["depth"], row["rescore_top"])
        picks.setdefault(key, None)
    for key in picks:
        same = [r for r in train_rows if (r["depth"], r["rescore_top"]) == key]
        base = next(r for r in same if r["gate_margin"] is None)["ndcg@10"]
        good = [r for r in same if r["gate_margin"] is not None and base - r["ndcg@10"] <= max_loss]
        if good:
            picks[key] = max(good, key=lambda r: (r["gate_fired"], -r["gate_margin"]))["gate_margin"]
    return picks


def recommend(rows: list[dict[str, Any]], budget_ms: float) -> dict[str, Any] | None:
    """The best-quality row whose p95 fits the budget (fewest re-scored documents on ties)."""
    fitting = [r for r in rows if r["p95_ms"] <= budget_ms]
    return max(fitting, key=lambda r: (r["ndcg@10"], -r["mean_rescored"])) if fitting else None


def markdown(rows: list[dict[str, Any]], title: str) -> str:
    lines = [
        title,
        "",
        "| N | M | gate margin | M when gated | gate fired | mean re-scored | nDCG@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        margin = "–" if r["gate_margin"] is None else f"{r['gate_margin']:.2f}"
        gated = "–" if r["gate_margin"] is None else str(r["gated_rescore_top"])
        lines.append(
            f"| {r['depth']} | {r['rescore_top']} | {margin} | {gated} | {r['gate_fired']:.0%} | "
            f"{r['mean_rescored']:.1f} | {r['ndcg@10']:.4f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} |"
        )
    return "\n".join(lines) + "\n"
