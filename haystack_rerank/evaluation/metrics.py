"""Relevance metrics computed with ranx (a maintained IR evaluation library), never by hand."""

from __future__ import annotations

import numpy as np
from ranx import Qrels, Run, evaluate
from scipy import stats

DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def _ranx_inputs(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> tuple[Qrels, Run]:
    judged = {qid: docs for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())}
    # every judged query is scored; ranx refuses empty rankings, so a query with no result gets a placeholder
    full_run = {qid: (run.get(qid) or {"__no_result__": 0.0}) for qid in judged}
    return Qrels(judged), Run(full_run)


def evaluate_run(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metrics: tuple[str, ...] = DEFAULT_METRICS
) -> dict[str, float]:
    """Mean of each metric over the queries that have judgements (queries missing from the run score 0)."""
    scores = evaluate(*_ranx_inputs(qrels, run), list(metrics), make_comparable=True)
    if isinstance(scores, float):
        scores = {metrics[0]: scores}
    return {name: round(float(value), 4) for name, value in scores.items()}


def per_query(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metric: str) -> dict[str, float]:
    """`query id -> metric` for every judged query, in sorted query order."""
    ranx_qrels, ranx_run = _ranx_inputs(qrels, run)
    values = evaluate(ranx_qrels, ranx_run, metric, return_mean=False, make_comparable=True)
    return dict(zip(sorted(ranx_qrels.keys()), (float(v) for v in values), strict=True))


def paired_test(
    qrels: dict[str, dict[str, int]],
    baseline: dict[str, dict[str, float]],
    candidate: dict[str, dict[str, float]],
    metric: str = "ndcg@10",
) -> dict[str, float]:
    """Lift of `candidate` over `baseline` on `metric`, with a paired two-sided t-test and Wilcoxon test."""
    base, cand = per_query(qrels, baseline, metric), per_query(qrels, candidate, metric)
    a = np.array([base[q] for q in base])
    b = np.array([cand[q] for q in base])
    differences = b - a
    if not differences.any():
        return {
            "metric": metric,
            "lift": 0.0,
            "p_value": 1.0,
            "wilcoxon_p_value": 1.0,
            "queries": len(a),
            "improved": 0,
            "hurt": 0,
        }
    return {
        "metric": metric,
        "lift": round(float(differences.mean()), 4),
        "p_value": float(stats.ttest_rel(b, a).pvalue),
        "wilcoxon_p_value": float(stats.wilcoxon(b, a).pvalue),
        "queries": len(a),
        "improved": int((differences > 0).sum()),
        "hurt": int((differences < 0).sum()),
    }
