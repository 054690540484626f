"""
Before and after, on queries no student was trained on: held-out pseudo-queries (label-free: the passage a
query was written from is its one relevant document) and, when given, a judged evaluation split.

Rows: the first stage before (`hybrid`, and its dense leg alone, `dense`), the teacher reranking it
(`teacher@N`), the cross-encoder student alone and in the teacher's ensemble (`student-ce@N`, `student-ce+fs@N`),
the first stage with the student bi-encoder at each dense RRF weight of `selection.DENSE_WEIGHTS`
(`hybrid-student-bi`, `hybrid-student-bi (dense weight 2)`, ...; its dense leg alone `dense-student-bi`), the
teacher and the cross-encoder students on the student first stage the held-out pseudo-queries rank best. Each row
gets ranx metrics and a paired test against `hybrid` and against the teacher, with the counts of queries better
and worse. The held-out pseudo-queries also choose what the written pipeline uses (`selection.pick`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from haystack_rerank.adapt import selection
from haystack_rerank.adapt.config import AdaptConfig
from haystack_rerank.adapt.pseudo_queries import PseudoQuery
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.evaluation.rerank import rerank_with_backfill

FIRST_STAGE_TOP_K = 100
HELD_OUT = "held-out pseudo-queries"


def query_sets(config: AdaptConfig, pseudo: list[PseudoQuery]) -> dict[str, tuple[dict, dict]]:
    """name -> (queries, qrels)."""
    from haystack_rerank.adapt.run import held_out_queries

    held = held_out_queries(pseudo)
    sets = {HELD_OUT: ({q.id: q.text for q in held}, {q.id: {q.source: 1} for q in held})}
    if config.eval_dataset:
        from haystack_rerank.beir import load_split

        split = load_split(Path(config.eval_dataset), config.eval_split)
        sets[f"{Path(config.eval_dataset).name} {config.eval_split}"] = (split.queries, split.qrels)
    return {name: value for name, value in sets.items() if value[0]}


def evaluate(
    config: AdaptConfig, stores: Any, pseudo: list[PseudoQuery], corpus: dict, out: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The before/after tables, and the choices made on the held-out pseudo-queries (`selection.pick`)."""
    students = {}
    ce_folder = out / "cross-encoder"
    if "cross-encoder" in config.students:
        shared = MemoryRerankCache(max_entries=1_000_000)
        students["student-ce"] = stores.ranker(str(ce_folder), alpha=None, cache=shared)
        if config.teacher_alpha is not None:
            students["student-ce+fs"] = stores.ranker(str(ce_folder), alpha=config.teacher_alpha, cache=shared)
    teacher = stores.ranker(config.teacher_model, alpha=config.teacher_alpha, cache=MemoryRerankCache(1_000_000))
    first_stages = {selection.HYBRID: stores.retriever(config.embedding_model, stores.collection)}
    if "bi-encoder" in config.students:
        from haystack_rerank.adapt.run import BI_ENCODER_DIR, fingerprint

        bi = out / BI_ENCODER_DIR
        collection = f"{stores.collection}-bi-{fingerprint(bi)}"
        for weight in selection.DENSE_WEIGHTS:
            first_stages[selection.student_stage(weight)] = stores.retriever(
                str(bi), collection, weights={"dense": weight}
            )

    results: dict[str, Any] = {}
    chosen: dict[str, Any] = {}
    rerank_on = [stage for stage in (selection.HYBRID, selection.STUDENT_STAGE) if stage in first_stages]
    for name, (queries, qrels) in query_sets(config, pseudo).items():  # the held-out set comes first
        fused, runs = _first_stage_runs(queries, first_stages, config)
        if name == HELD_OUT and len(first_stages) > 1:
            chosen["first_stage"] = selection.pick(qrels, runs, selection.HYBRID, list(first_stages)[1:])
            rerank_on = [selection.HYBRID, chosen["first_stage"]["best_candidate"]]
        runs.update(_reranked_runs(queries, {stage: fused[stage] for stage in rerank_on}, teacher, students, config))
        if name == HELD_OUT and students:
            stage = chosen.get("first_stage", {}).get("chosen", selection.HYBRID)
            suffix = _suffix(stage)
            student = "student-ce+fs" if config.teacher_alpha is not None else "student-ce"
            depth = config.eval_depth
            chosen["reranker"] = selection.pick(qrels, runs, f"teacher@{depth}{suffix}", [f"{student}@{depth}{suffix}"])
        results[name] = summarize(qrels, runs, teacher_row=f"teacher@{config.eval_depth}")
    return results, chosen


def _suffix(stage: str) -> str:
    return "" if stage == selection.HYBRID else f" on {stage}"


def _runs(queries: dict, first_stages: dict, teacher: Any, students: dict, config: AdaptConfig) -> dict[str, dict]:
    """Every first stage's rows, and the teacher's and students' reranking of each."""
    fused, runs = _first_stage_runs(queries, first_stages, config)
    return {**runs, **_reranked_runs(queries, fused, teacher, students, config)}


def _first_stage_runs(queries: dict, first_stages: dict, config: AdaptConfig) -> tuple[dict, dict[str, dict]]:
    """(stage -> qid -> fused documents, row -> run): each stage fused, and each distinct dense leg alone."""
    fused: dict[str, dict] = {stage: {} for stage in first_stages}
    runs: dict[str, dict] = {}
    for qid, text in tqdm(queries.items(), desc="First stages", unit="query", disable=not config.progress_bar):
        for stage, retriever in first_stages.items():
            fused[stage][qid] = retriever.run(query=text, top_k=FIRST_STAGE_TOP_K)["documents"]
            _record(runs, stage, qid, fused[stage][qid])
            dense = stage.split(" ", 1)[0].replace("hybrid", "dense")  # the student's weights share one dense leg
            if qid not in runs.get(dense, {}):
                _record(runs, dense, qid, retriever.retrieve_dense(text, top_k=FIRST_STAGE_TOP_K))
    return fused, runs


def _reranked_runs(queries: dict, fused: dict, teacher: Any, students: dict, config: AdaptConfig) -> dict[str, dict]:
    depth = config.eval_depth
    runs: dict[str, dict] = {}
    for qid, text in tqdm(queries.items(), desc="Before/after", unit="query", disable=not config.progress_bar):
        for stage, by_query in fused.items():
            suffix = _suffix(stage)
            _record(runs, f"teacher@{depth}{suffix}", qid, rerank_with_backfill(text, by_query[qid], teacher, depth))
            for row, ranker in students.items():
                _record(runs, f"{row}@{depth}{suffix}", qid, rerank_with_backfill(text, by_query[qid], ranker, depth))
    return runs


def _record(runs: dict, row: str, qid: str, documents: list) -> None:
    runs.setdefault(row, {})[qid] = {d.id: float(d.score or 0.0) for d in documents}


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
