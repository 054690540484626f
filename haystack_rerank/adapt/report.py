"""
Before and after, on queries no student was trained on: held-out pseudo-queries (label-free: the passage a
query was written from is its one relevant document) and, when given, a judged evaluation split.

Rows: the first stage before (`hybrid`, and its dense leg alone, `dense`), the teacher reranking it
(`teacher@N`), the cross-encoder student alone and in the teacher's ensemble (`student-ce@N`, `student-ce+fs@N`),
the first stage with the student bi-encoder (`hybrid-student-bi`, its dense leg alone `dense-student-bi`), the
teacher and the cross-encoder students on that first stage. Each row gets ranx metrics and a paired test
against `hybrid` and against the teacher, with the counts of queries better and worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from haystack_rerank.adapt.config import AdaptConfig
from haystack_rerank.adapt.pseudo_queries import PseudoQuery
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.evaluation.rerank import rerank_with_backfill

FIRST_STAGE_TOP_K = 100


def query_sets(config: AdaptConfig, pseudo: list[PseudoQuery]) -> dict[str, tuple[dict, dict]]:
    """name -> (queries, qrels)."""
    from haystack_rerank.adapt.run import held_out_queries

    held = held_out_queries(pseudo)
    sets = {"held-out pseudo-queries": ({q.id: q.text for q in held}, {q.id: {q.source: 1} for q in held})}
    if config.eval_dataset:
        from haystack_rerank.beir import load_split

        split = load_split(Path(config.eval_dataset), config.eval_split)
        sets[f"{Path(config.eval_dataset).name} {config.eval_split}"] = (split.queries, split.qrels)
    return {name: value for name, value in sets.items() if value[0]}


def evaluate(config: AdaptConfig, stores: Any, pseudo: list[PseudoQuery], corpus: dict, out: Path) -> dict[str, Any]:
    students = {}
    ce_folder = out / "cross-encoder"
    if "cross-encoder" in config.students:
        shared = MemoryRerankCache(max_entries=1_000_000)
        students["student-ce"] = stores.ranker(str(ce_folder), alpha=None, cache=shared)
        if config.teacher_alpha is not None:
            students["student-ce+fs"] = stores.ranker(str(ce_folder), alpha=config.teacher_alpha, cache=shared)
    teacher = stores.ranker(config.teacher_model, alpha=config.teacher_alpha, cache=MemoryRerankCache(1_000_000))
    first_stages = {"hybrid": stores.retriever(config.embedding_model, stores.collection)}
    if "bi-encoder" in config.students:
        from haystack_rerank.adapt.run import BI_ENCODER_DIR, fingerprint

        bi = out / BI_ENCODER_DIR
        collection = f"{stores.collection}-bi-{fingerprint(bi)}"
        first_stages["hybrid-student-bi"] = stores.retriever(str(bi), collection)

    results = {}
    for name, (queries, qrels) in query_sets(config, pseudo).items():
        runs = _runs(queries, first_stages, teacher, students, config)
        results[name] = summarize(qrels, runs, teacher_row=f"teacher@{config.eval_depth}")
    return results


def _runs(queries: dict, first_stages: dict, teacher: Any, students: dict, config: AdaptConfig) -> dict[str, dict]:
    depth = config.eval_depth
    runs: dict[str, dict] = {}

    def record(row: str, qid: str, documents: list) -> None:
        runs.setdefault(row, {})[qid] = {d.id: float(d.score or 0.0) for d in documents}

    for qid, text in tqdm(queries.items(), desc="Before/after", unit="query", disable=not config.progress_bar):
        for stage, retriever in first_stages.items():
            fused = retriever.run(query=text, top_k=FIRST_STAGE_TOP_K)["documents"]
            record(stage, qid, fused)
            record(stage.replace("hybrid", "dense"), qid, retriever.retrieve_dense(text, top_k=FIRST_STAGE_TOP_K))
            suffix = "" if stage == "hybrid" else " on hybrid-student-bi"
            record(f"teacher@{depth}{suffix}", qid, rerank_with_backfill(text, fused, teacher, depth))
            for row, ranker in students.items():
                record(f"{row}@{depth}{suffix}", qid, rerank_with_backfill(text, fused, ranker, depth))
    return runs


def summarize(qrels: dict, runs: dict[str, dict], *, teacher_row: str) -> dict[str, Any]:
    rows = {}
    for row, run in runs.items():
        entry: dict[str, Any] = dict(evaluate_run(qrels, run))
        if row != "hybrid":
            entry["vs_hybrid"] = paired_test(qrels, runs["hybrid"], run)
        if row not in ("hybrid", teacher_row) and teacher_row in runs:
            entry["vs_teacher"] = paired_test(qrels, runs[teacher_row], run)
        rows[row] = entry
    return {"queries": len(next(iter(runs.values()))), "rows": rows}


def markdown(evaluation: dict[str, Any]) -> str:
    lines = []
    for name, result in evaluation.items():
        lines += [
            f"**{name}** ({result['queries']} queries; p = paired t-test on nDCG@10, +/- = queries better/worse)",
            "",
            "| run | nDCG@10 | Recall@100 | MRR@10 | vs hybrid | vs teacher |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row, entry in result["rows"].items():
            lines.append(
                f"| {row} | {entry['ndcg@10']:.4f} | {entry['recall@100']:.4f} | {entry['mrr@10']:.4f} "
                f"| {_test(entry.get('vs_hybrid'))} | {_test(entry.get('vs_teacher'))} |"
            )
        lines.append("")
    return "\n".join(lines)


def _test(test: dict | None) -> str:
    if not test:
        return ""
    return f"{test['lift']:+.4f} (p={test['p_value']:.2g}, +{test['improved']}/-{test['hurt']})"
