"""`haystack-rerank sweep`: rerank depth N against quality, recall ceiling and latency; the knee; a budget pick."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from haystack_rerank import atomic
from haystack_rerank.beir import Split
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.evaluation.latency import summarize_latencies
from haystack_rerank.evaluation.metrics import evaluate_run
from haystack_rerank.evaluation.rerank import rerank_with_backfill

DEFAULT_DEPTHS = (5, 10, 20, 50, 100, 200)


def sweep(
    split: Split,
    retriever: Any,
    scoring_ranker: Any,
    timing_ranker: Any,
    *,
    depths: tuple[int, ...] = DEFAULT_DEPTHS,
    latency_queries: int = 20,
    progress: bool = True,
    cascade_rows: Callable[[dict[str, list]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """
    For each depth N: the first stage's Recall@N (the ceiling the reranker cannot exceed), nDCG@10 after
    reranking the top N, and the reranking latency per query.

    Quality comes from one scoring pass over the top max(N) of every query through `scoring_ranker`, whose
    cache then serves each smaller N (a pair's score does not depend on N). Latency is measured separately with
    `timing_ranker` (no cache: every pair goes through the model) on the first `latency_queries` queries.
    `cascade_rows`, when given, gets the fused lists and returns the cascade and gating rows
    (`haystack_rerank.evaluation.cascade_sweep`), kept under "cascade_rows".
    """
    depths = tuple(sorted(set(depths)))
    deepest = depths[-1]
    fused = {
        qid: retriever.run(query=text, top_k=deepest)["documents"]
        for qid, text in tqdm(split.queries.items(), desc="Retrieving", unit="query", disable=not progress)
    }
    for qid, text in tqdm(split.queries.items(), desc=f"Scoring top {deepest}", unit="query", disable=not progress):
        scoring_ranker.run(query=text, documents=fused[qid][:deepest], top_k=deepest)
    hybrid_run = {qid: {d.id: float(d.score or 0.0) for d in docs} for qid, docs in fused.items()}
    hybrid = evaluate_run(split.qrels, hybrid_run, ("ndcg@10",))["ndcg@10"]

    timed = list(split.queries.items())[:latency_queries]
    rows = []
    for depth in tqdm(depths, desc="Depths", disable=not progress):
        reranked = {
            qid: {d.id: float(d.score) for d in rerank_with_backfill(text, fused[qid], scoring_ranker, depth)}
            for qid, text in split.queries.items()
        }
        quality = evaluate_run(split.qrels, reranked, ("ndcg@10", "mrr@10"))
        ceiling = evaluate_run(split.qrels, hybrid_run, (f"recall@{depth}",))[f"recall@{depth}"]
        seconds = []
        for qid, text in timed:
            started = time.perf_counter()
            timing_ranker.run(query=text, documents=fused[qid][:depth], top_k=depth)
            seconds.append(time.perf_counter() - started)
        rows.append(
            {
                "depth": depth,
                "first_stage_recall": ceiling,
                "ndcg@10": quality["ndcg@10"],
                "mrr@10": quality["mrr@10"],
                **summarize_latencies(seconds),
            }
        )
    result = {
        "queries": len(split.queries),
        "latency_queries": len(timed),
        "hybrid_ndcg@10": hybrid,
        "rows": rows,
        "knee": knee(rows),
    }
    if cascade_rows is not None:
        result["cascade_rows"] = cascade_rows(fused)
    return result


def parse_depths(depths: str) -> tuple[int, ...]:
    """`--depths`: comma-separated integers >= 1."""
    try:
        chosen = tuple(int(d) for d in depths.split(","))
    except ValueError as err:
        raise ConfigurationError(f"--depths got {depths!r}: pass integers like 5,10,20,50,100,200.") from err
    if not chosen or min(chosen) < 1:
        raise ConfigurationError(f"--depths got {depths!r}: every depth must be >= 1.")
    return chosen


def knee(rows: list[dict[str, Any]]) -> int:
    """
    The depth after which more latency buys little quality: the point of the nDCG@10-vs-p95-latency curve
    farthest above the chord from the first to the last point (both axes scaled to 0..1; "Kneedle").
    """
    if len(rows) < 3:
        return rows[-1]["depth"]
    x = np.array([r["p95_ms"] for r in rows], dtype=float)
    y = np.array([r["ndcg@10"] for r in rows], dtype=float)
    span_x, span_y = np.ptp(x) or 1.0, np.ptp(y) or 1.0
    xs, ys = (x - x.min()) / span_x, (y - y.min()) / span_y
    chord = ys[0] + (ys[-1] - ys[0]) * (xs - xs[0]) / ((xs[-1] - xs[0]) or 1.0)
    return int(rows[int(np.argmax(ys - chord))]["depth"])


def recommend(rows: list[dict[str, Any]], budget_ms: float) -> dict[str, Any] | None:
    """The best-quality depth whose p95 rerank latency fits the budget (None when none fits)."""
    fitting = [r for r in rows if r["p95_ms"] <= budget_ms]
    return max(fitting, key=lambda r: (r["ndcg@10"], -r["depth"])) if fitting else None


def markdown(result: dict[str, Any], budget_ms: float | None) -> str:
    lines = [
        f"Queries: {result['queries']} (latency on {result['latency_queries']}, no cache); hybrid nDCG@10 "
        f"without reranking: {result['hybrid_ndcg@10']:.4f}; knee: N = {result['knee']}.",
        "",
        "| N | first-stage Recall@N (ceiling) | nDCG@10 after rerank | MRR@10 | rerank p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['depth']} | {r['first_stage_recall']:.4f} | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} |"
        )
    if budget_ms is not None:
        pick = recommend(result["rows"], budget_ms)
        lines += [
            "",
            f"For a budget of {budget_ms:.0f} ms p95, rerank N = {pick['depth']} (nDCG@10 {pick['ndcg@10']:.4f})."
            if pick
            else f"For a budget of {budget_ms:.0f} ms p95, no tested N fits: rerank fewer or faster.",
        ]
    if result.get("cascade_rows"):
        from haystack_rerank.evaluation import cascade_sweep

        rows = result["cascade_rows"]
        lines += ["", cascade_sweep.markdown(rows, "Cascade (N candidates, the full model on the top M) and gating:")]
        pick = cascade_sweep.recommend(rows, budget_ms) if budget_ms is not None else None
        if pick:
            lines.append(
                f"Cascade pick for {budget_ms:.0f} ms p95: N = {pick['depth']}, M = {pick['rescore_top']}, "
                f"gate {pick['gate_margin']} (nDCG@10 {pick['ndcg@10']:.4f}, p95 {pick['p95_ms']:.0f} ms)."
            )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path, budget_ms: float | None = None) -> None:
    """Quality (nDCG@10, recall ceiling) and latency (p50/p95) against N, the knee marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    depths = [r["depth"] for r in rows]
    fig, quality_axis = plt.subplots(figsize=(8, 5))
    quality_axis.plot(depths, [r["ndcg@10"] for r in rows], "o-", color="tab:blue", label="nDCG@10 after rerank")
    quality_axis.plot(
        depths,
        [r["first_stage_recall"] for r in rows],
        "s--",
        color="tab:green",
        label="first-stage Recall@N (ceiling)",
    )
    quality_axis.axhline(result["hybrid_ndcg@10"], color="tab:gray", linestyle=":", label="hybrid nDCG@10, no rerank")
    quality_axis.set_xscale("log")
    quality_axis.set_xticks(depths, [str(d) for d in depths])
    quality_axis.set_xlabel("rerank depth N (candidates scored by the cross-encoder)")
    quality_axis.set_ylabel("quality")
    latency_axis = quality_axis.twinx()
    latency_axis.plot(depths, [r["p50_ms"] for r in rows], "^-", color="tab:red", label="rerank p50 ms")
    latency_axis.plot(depths, [r["p95_ms"] for r in rows], "v:", color="tab:orange", label="rerank p95 ms")
    latency_axis.set_ylabel("latency per query (ms)")
    if budget_ms is not None:
        latency_axis.axhline(budget_ms, color="tab:purple", linestyle="-.", label=f"budget {budget_ms:.0f} ms")
    knee_row = next(r for r in rows if r["depth"] == result["knee"])
    quality_axis.annotate(
        f"knee N={result['knee']}",
        (knee_row["depth"], knee_row["ndcg@10"]),
        xytext=(0, -30),
        textcoords="offset points",
        ha="center",
        arrowprops={"arrowstyle": "->"},
    )
    handles = quality_axis.get_legend_handles_labels()[0] + latency_axis.get_legend_handles_labels()[0]
    labels = quality_axis.get_legend_handles_labels()[1] + latency_axis.get_legend_handles_labels()[1]
    quality_axis.legend(handles, labels, loc="center right", fontsize=8)
    quality_axis.set_title("Rerank depth: quality vs latency")
    fig.tight_layout()
    atomic.write_with(path, lambda temporary: fig.savefig(temporary, dpi=120, format="png"))
    plt.close(fig)


def write_outputs(output_dir: Path, result: dict[str, Any], budget_ms: float | None) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(output_dir / "sweep.json", json.dumps(result, indent=2))
    atomic.write_text(output_dir / "sweep.md", markdown(result, budget_ms))
    plot(result, output_dir / "sweep.png", budget_ms)
