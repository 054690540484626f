"""`haystack-rerank eval`: every stage over a BEIR split, with metrics, latency, significance and a verdict."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from haystack_rerank import atomic, beir
from haystack_rerank.beir import Split
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.evaluation.latency import summarize_latencies
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.evaluation.rerank import rerank_with_backfill

STAGES = ("bm25", "dense", "hybrid", "rerank")


@dataclass
class StageResult:
    run: dict[str, list[tuple[str, float]]]
    seconds: list[float]


def run_stages(
    queries: dict[str, str],
    retriever: Any,
    *,
    stages: tuple[str, ...],
    top_k: int = 100,
    ranker: Any = None,
    rerank_depth: int = 100,
    progress: bool = True,
    desc: str = "Evaluating",
    fused_k: int | None = None,
) -> dict[str, StageResult]:
    """
    Run each stage for every query (`eval`, and `run` with one stage); latency is per query per stage (rerank =
    hybrid + reranking). Rerank reranks the top `rerank_depth` fused documents and keeps the rest below them;
    `fused_k` documents are fused (default: `top_k`, or `rerank_depth` when more are reranked).
    """
    if fused_k is None:
        fused_k = max(top_k, rerank_depth) if "rerank" in stages else top_k
    results = {stage: StageResult({}, []) for stage in stages}
    legs: dict[str, Callable[[str], list]] = {
        "bm25": lambda q: retriever.retrieve_lexical(q, top_k=top_k),
        "dense": lambda q: retriever.retrieve_dense(q, top_k=top_k),
    }
    for qid, text in tqdm(queries.items(), desc=desc, unit="query", disable=not progress):
        for stage in ("bm25", "dense"):
            if stage in stages:
                started = time.perf_counter()
                documents = legs[stage](text)
                _record(results[stage], qid, documents, time.perf_counter() - started, top_k)
        if "hybrid" in stages or "rerank" in stages:
            started = time.perf_counter()
            fused = retriever.run(query=text, top_k=fused_k)["documents"]
            hybrid_seconds = time.perf_counter() - started
            if "hybrid" in stages:
                _record(results["hybrid"], qid, fused, hybrid_seconds, top_k)
            if "rerank" in stages:
                started = time.perf_counter()
                reranked = rerank_with_backfill(text, fused, ranker, rerank_depth)
                _record(results["rerank"], qid, reranked, hybrid_seconds + time.perf_counter() - started, top_k)
    return results


def _record(result: StageResult, qid: str, documents: list, seconds: float, top_k: int) -> None:
    result.run[qid] = [(doc.id, float(doc.score or 0.0)) for doc in documents[:top_k]]
    result.seconds.append(seconds)


def parse_stages(stages: str, cache: str) -> tuple[str, ...]:
    """`--stages` (comma-separated) and `--cache` (cold or warm), checked."""
    chosen = tuple(s.strip() for s in stages.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        raise ConfigurationError(f"--stages got {unknown!r}: choose from {','.join(STAGES)}.")
    if cache not in ("cold", "warm"):
        raise ConfigurationError(f"--cache got {cache!r}: use cold or warm.")
    return chosen


def summarize(
    split: Split,
    results: dict[str, StageResult],
    *,
    alpha: float = 0.05,
    cache_state: str = "cold",
    rerank_depth: int | None = None,
    reranker_model: str | None = None,
) -> dict[str, Any]:
    """Metrics and latency per stage, and the lift of reranking over hybrid with its p-value and a verdict."""
    as_dict = {stage: {qid: dict(ranked) for qid, ranked in r.run.items()} for stage, r in results.items()}
    summary: dict[str, Any] = {
        "queries": len(split.queries),
        "cache": cache_state,
        "rerank_depth": rerank_depth,
        "reranker_model": reranker_model,
        "stages": {
            stage: {**evaluate_run(split.qrels, as_dict[stage]), **summarize_latencies(r.seconds)}
            for stage, r in results.items()
        },
    }
    if "hybrid" in results and "rerank" in results:
        test = paired_test(split.qrels, as_dict["hybrid"], as_dict["rerank"], "ndcg@10")
        added = summary["stages"]["rerank"]["p50_ms"] - summary["stages"]["hybrid"]["p50_ms"]
        keep = test["lift"] > 0 and test["p_value"] < alpha
        summary["rerank_vs_hybrid"] = {**test, "added_p50_ms": round(added, 1)}
        summary["verdict"] = (
            f"keep the reranker: nDCG@10 {test['lift']:+.4f} over hybrid (paired t-test p={test['p_value']:.2g}, "
            f"{test['improved']} queries better, {test['hurt']} worse) for +{added:.0f} ms p50 per query"
            if keep
            else f"the reranker does not pay for its latency on this data: nDCG@10 {test['lift']:+.4f} "
            f"(p={test['p_value']:.2g}) for +{added:.0f} ms p50 per query"
        )
    return summary


def markdown_table(summary: dict[str, Any]) -> str:
    lines = [
        f"Queries: {summary['queries']}; reranker: {summary.get('reranker_model')} at N={summary.get('rerank_depth')}; "
        f"cache: {summary['cache']}.",
        "",
        "| stage | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage, m in summary["stages"].items():
        lines.append(
            f"| {stage} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} | "
            f"{m['mrr@10']:.4f} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} | {m['max_ms']:.1f} |"
        )
    if "verdict" in summary:
        lines += ["", f"Verdict: {summary['verdict']}."]
    if "probes" in summary:  # `eval --probes`
        from haystack_rerank.probes import markdown

        lines += ["", "## Behaviour probes", "", markdown(summary["probes"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_outputs(output_dir: Path, results: dict[str, StageResult], summary: dict[str, Any]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    for stage, result in results.items():
        beir.write_trec_run(output_dir / f"run_{stage}.trec", result.run, tag=f"haystack-rerank-{stage}")
    atomic.write_text(output_dir / "summary.json", json.dumps(summary, indent=2))
    atomic.write_text(output_dir / "summary.md", markdown_table(summary))
