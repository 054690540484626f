"""
What the pipeline `adapt` writes uses, chosen on the held-out pseudo-queries only (never on an evaluation split):

- the first stage: hybrid with the base embedding model, or hybrid with the bi-encoder student at one of
  `DENSE_WEIGHTS` as the RRF weight of its dense leg (a student stronger than BM25 is pulled down by equal weights);
- the reranker: the teacher, or the cross-encoder student in the teacher's configuration (in its ensemble with the
  first stage when the teacher has one; the student alone is never shipped in place of an ensemble).

A student replaces what it was trained from only when its held-out nDCG@10 is higher: on a corpus whose held-out
queries the student does not serve better, the written pipeline keeps the models it started from.
"""

from __future__ import annotations

from typing import Any

from haystack_rerank.evaluation.metrics import evaluate_run, paired_test

DENSE_WEIGHTS = (1.0, 1.5, 2.0, 3.0)
METRIC = "ndcg@10"
HYBRID = "hybrid"
STUDENT_STAGE = "hybrid-student-bi"


def student_stage(weight: float) -> str:
    """The report row of hybrid retrieval with the bi-encoder student at dense RRF weight `weight`."""
    return STUDENT_STAGE if weight == 1.0 else f"{STUDENT_STAGE} (dense weight {weight:g})"


def stage_weight(stage: str) -> float:
    """The dense weight of a row named by `student_stage` (1.0 for the plain rows)."""
    return float(stage.rsplit(" ", 1)[1].rstrip(")")) if stage.endswith(")") else 1.0


def pick(qrels: dict, runs: dict[str, dict], baseline: str, candidates: list[str]) -> dict[str, Any]:
    """
    The candidate row with the highest mean nDCG@10 (the first listed on a tie) if it is higher than the
    baseline's, else the baseline; with every row's score and the paired test of the best candidate.
    """
    scores = {row: round(float(evaluate_run(qrels, runs[row])[METRIC]), 4) for row in (baseline, *candidates)}
    best = max(candidates, key=lambda row: scores[row]) if candidates else baseline
    return {
        "baseline": baseline,
        "best_candidate": best,
        "chosen": best if scores[best] > scores[baseline] else baseline,
        "metric": METRIC,
        "queries": len(qrels),
        "scores": scores,
        "test": paired_test(qrels, runs[baseline], runs[best]) if best != baseline else None,
    }


def markdown(selection: dict[str, Any]) -> str:
    """The report's account of what the written pipeline uses and why."""
    lines = [
        f"- First stage: `{selection['embedding_model']}` (collection `{selection['collection']}`), "
        f"dense RRF weight {selection['dense_weight']:g}.",
        f"- Reranker: `{selection['reranker_model']}`.",
    ]
    for part in ("first_stage", "reranker"):
        choice = selection.get(part)
        if not choice:
            continue
        scores = ", ".join(f"{row} {score:.4f}" for row, score in choice["scores"].items())
        test = choice["test"]
        versus = (
            f"; best candidate vs {choice['baseline']}: {test['lift']:+.4f} (p={test['p_value']:.2g}, "
            f"+{test['improved']}/-{test['hurt']})"
            if test
            else ""
        )
        lines.append(
            f"- {part.replace('_', ' ')}: chose **{choice['chosen']}** on {choice['queries']} held-out pseudo-queries "
            f"({choice['metric']}: {scores}{versus})."
        )
    return "\n".join(lines) + "\n"
