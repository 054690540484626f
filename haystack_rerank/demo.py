"""`haystack-rerank demo`: index the example corpus on embedded stores and answer its questions."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from haystack import Pipeline

from haystack_rerank import beir, build, pipelines
from haystack_rerank.config import Settings
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.indexing import index_into

_REPO_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def find_example(name: str) -> Path:
    """`examples/<name>` from the working directory, else from the source checkout."""
    for folder in (Path("examples"), _REPO_EXAMPLES):
        if (folder / name).is_file():
            return folder / name
    msg = f"demo: examples/{name} was not found. Run from the repository root or pass --corpus/--questions."
    raise ConfigurationError(msg)


def demo_settings(data_dir: Path) -> Settings:
    """The demo's stores: in-process BM25 and a fresh Qdrant collection `demo` in `data_dir/qdrant`."""
    return Settings(lexical="memory", data_dir=data_dir, qdrant_path=str(data_dir / "qdrant"), index="demo",
                    collection="demo")  # fmt: skip


def build_demo_pipeline(
    settings: Settings, *, reranker_model: str, rerank_depth: int, top_k: int
) -> tuple[Pipeline, Any, Any]:
    """The `rag_extractive` pipeline shape over embedded stores, emptied first."""
    lexical, vectors = build.lexical_store(settings, fresh=True), build.vector_store(settings, fresh=True)
    retriever = build.hybrid_retriever(settings, lexical=lexical, vectors=vectors, lexical_top_k=50, dense_top_k=50)
    pipeline = pipelines.rag_extractive(
        rerank_depth=rerank_depth, top_k=top_k, reranker_model=reranker_model, retriever=retriever
    )
    return pipeline, lexical, vectors


def run_demo(
    *,
    corpus: Path | None,
    questions: Path | None,
    data_dir: Path,
    reranker_model: str,
    rerank_depth: int,
    top_k: int,
    as_json: bool,
    echo: Any,
) -> list[dict[str, Any]]:
    corpus = corpus or find_example("passages.jsonl")
    questions = questions or find_example("questions.jsonl")
    documents = beir.load_corpus(corpus)
    settings = demo_settings(data_dir)
    pipeline, lexical, vectors = build_demo_pipeline(
        settings, reranker_model=reranker_model, rerank_depth=rerank_depth, top_k=top_k
    )
    started = time.perf_counter()
    report = index_into(settings, documents, lexical=lexical, vectors=vectors, progress_bar=not as_json)
    index_seconds = time.perf_counter() - started
    warm_started = time.perf_counter()
    pipeline.warm_up()
    if not as_json:
        echo(
            f"Indexed {report.written + report.unchanged} documents from {corpus} in {index_seconds:.1f} s "
            f"(in-process BM25 + embedded Qdrant at {data_dir / 'qdrant'}); models warmed up in "
            f"{time.perf_counter() - warm_started:.1f} s.\n"
        )
    titles = {doc.id: doc.meta.get("title", "") for doc in documents}
    results = []
    for qid, text in beir.load_queries(questions).items():
        result = ask(pipeline, text)
        result["id"] = qid
        results.append(result)
        if not as_json:
            echo(format_result(result, titles))
    if as_json:
        echo(
            json.dumps(
                {
                    "indexed": report.written + report.unchanged,
                    "index_seconds": round(index_seconds, 2),
                    "questions": results,
                },
                indent=2,
            )
        )
    return results


def ask(pipeline: Pipeline, question: str) -> dict[str, Any]:
    """Run one question through a hybrid → ranker → answerer pipeline and collect what each stage did."""
    started = time.perf_counter()
    inputs = {name: {"query": question} for name in ("retriever", "ranker", "answerer") if name in pipeline.graph.nodes}
    out = pipeline.run(inputs, include_outputs_from={"retriever", "ranker"})
    total = time.perf_counter() - started
    retrieved, reranked = out["retriever"], out["ranker"]
    answers = out.get("answerer", {}).get("answers", [])
    best = answers[0] if answers else None
    answer_seconds = out.get("answerer", {}).get("meta", {}).get("scoring", {}).get("model_seconds", 0.0)
    return {
        "question": question,
        "hybrid": [{"id": d.id, "score": round(d.score, 5)} for d in retrieved["documents"]],
        "reranked": [
            {"id": d.id, "score": round(d.score, 4) if d.score is not None else None} for d in reranked["documents"]
        ],
        "low_confidence": bool(reranked["meta"].get("low_confidence")),
        "top_relevance": _rounded(reranked["meta"].get("top_relevance")),
        "not_answered_because": None if best is None or best.data is not None else best.meta.get("reason"),
        "answer": None if best is None or best.data is None else best.data,
        "answer_source": None if best is None or best.document is None else best.document.id,
        "answer_score": None if best is None else round(best.score, 4),
        "seconds": {
            "retrieval": round(retrieved["meta"]["seconds"], 4),
            "lexical_leg": round(retrieved["meta"]["lexical"]["seconds"], 4),
            "dense_leg": round(retrieved["meta"]["dense"]["seconds"], 4),
            "rerank_model": round(reranked["meta"]["model_seconds"], 4),
            "answer_model": round(answer_seconds, 4),
            "total": round(total, 4),
        },
        "cache": {"hits": reranked["meta"]["cache_hits"], "misses": reranked["meta"]["cache_misses"]},
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def format_result(result: dict[str, Any], titles: dict[str, str]) -> str:
    lines = [f"Q: {result['question']}"]
    hybrid = ", ".join(h["id"] for h in result["hybrid"][:5])
    lines.append(f"  hybrid top-{len(result['hybrid'])} (first 5): {hybrid}")
    lines.append("  reranked:")
    for rank, item in enumerate(result["reranked"], start=1):
        before = next((i for i, h in enumerate(result["hybrid"], start=1) if h["id"] == item["id"]), None)
        lines.append(
            f"    {rank}. {item['score']:.3f}  {item['id']}  (hybrid rank {before})  {titles.get(item['id'], '')}"
        )
    if result["answer"] is None:
        lines.append(
            f"  A: I am not confident the corpus answers this ({result['not_answered_because']}: the cross-encoder's"
            f" best probability, before blending with the first stage, is {result['top_relevance']})."
        )
    else:
        lines.append(f"  A: {result['answer']}  [source: {result['answer_source']}, score {result['answer_score']}]")
    s = result["seconds"]
    lines.append(
        f"  time: retrieval {s['retrieval'] * 1000:.0f} ms (lexical {s['lexical_leg'] * 1000:.0f}, dense "
        f"{s['dense_leg'] * 1000:.0f}), rerank {s['rerank_model'] * 1000:.0f} ms, answer "
        f"{s['answer_model'] * 1000:.0f} ms, total {s['total'] * 1000:.0f} ms\n"
    )
    return "\n".join(lines)
