"""Relevance metrics computed with ranx (a maintained IR evaluation library), never by hand."""

from __future__ import annotations

from ranx import Qrels, Run, evaluate

DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def evaluate_run(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metrics: tuple[str, ...] = DEFAULT_METRICS
) -> dict[str, float]:
    """Mean of each metric over the queries that have judgements (queries missing from the run score 0)."""
    judged = {qid: docs for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())}
    full_run = {qid: run.get(qid) or {} for qid in judged}
    # ranx refuses empty rankings: give a query with no results a single non-relevant placeholder
    full_run = {qid: docs if docs else {"__no_result__": 0.0} for qid, docs in full_run.items()}
    scores = evaluate(Qrels(judged), Run(full_run), list(metrics), make_comparable=True)
    if isinstance(scores, float):
        scores = {metrics[0]: scores}
    return {name: round(float(value), 4) for name, value in scores.items()}
