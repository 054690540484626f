"""`haystack-rerank eval` and `haystack-rerank sweep`: the typer commands around `harness` and `sweep`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from haystack_rerank.cli_options import AlphaOpt, JsonOpt, RerankerModelOpt, settings_of
from haystack_rerank.config import RERANK_CACHE_ENTRIES
from haystack_rerank.models import STARTER_RERANK_MODEL

DatasetOpt = Annotated[Path, typer.Option(help="BEIR folder: corpus.jsonl, queries[_SPLIT].jsonl, qrels/SPLIT.tsv.")]
SplitOpt = Annotated[str, typer.Option(help="Split to evaluate (qrels/SPLIT.tsv).")]


def _indexed(settings: Any, corpus: Path, *, quiet: bool) -> tuple[Any, Any]:
    from haystack_rerank.indexing import ensure_indexed

    lexical, vectors, reused = ensure_indexed(settings, corpus, quiet=quiet)
    if reused and not quiet:
        typer.echo(reused, err=True)
    return lexical, vectors


def evaluate_command(
    ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt = "dev",
    stages: Annotated[
        str, typer.Option(help="Comma-separated subset of bm25,dense,hybrid,rerank.")
    ] = "bm25,dense,hybrid,rerank",
    output_dir: Annotated[Path, typer.Option(help="Where runs, summary.json and summary.md go.")] = Path("runs/eval"),
    rerank_depth: Annotated[int, typer.Option(min=1, help="Hybrid candidates reranked (N).")] = 100,
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    alpha: AlphaOpt = 0.5,
    cache: Annotated[str, typer.Option(help="Reranker cache state for the timings: cold (no cache) or warm.")] = "cold",
    probes: Annotated[
        bool, typer.Option("--probes", help="Add the behaviour probes of the reranker (see `probe`) as a section.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate every stage on a BEIR split: metrics (ranx), latency, the reranker's lift and a verdict."""
    from haystack_rerank import build
    from haystack_rerank.beir import load_split
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.evaluation import harness
    from haystack_rerank.evaluation.dataset import refuse_training_overlap

    chosen = harness.parse_stages(stages, cache)
    settings = settings_of(ctx)
    data = load_split(dataset, split)
    ranker = None
    if "rerank" in chosen:
        refuse_training_overlap(reranker_model, set(data.queries), split)
        scores = MemoryRerankCache() if cache == "warm" else None
        ranker = build.ranker(model=reranker_model, top_k=rerank_depth, alpha=alpha, cache=scores)
        ranker.warm_up()
    lexical_store, vectors = _indexed(settings, data.corpus_path, quiet=as_json)
    retriever = build.hybrid_retriever(settings, lexical=lexical_store, vectors=vectors, top_k=100)
    retriever.warm_up()
    kwargs = {"stages": chosen, "ranker": ranker, "rerank_depth": rerank_depth}
    if cache == "warm" and ranker is not None:  # fill the cache first; the timed pass then only reads it
        harness.run_stages(data.queries, retriever, **{**kwargs, "stages": ("rerank",)}, progress=False)
    results = harness.run_stages(data.queries, retriever, **kwargs)
    summary = harness.summarize(
        data,
        results,
        cache_state=cache,
        rerank_depth=rerank_depth if ranker else None,
        reranker_model=reranker_model if ranker else None,
    )
    if probes:
        from haystack_rerank.probes import run_probes

        summary["probes"] = run_probes([reranker_model])
    harness.write_outputs(output_dir, results, summary)
    typer.echo(json.dumps(summary, indent=2) if as_json else harness.markdown_table(summary))


def sweep_command(
    ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt = "dev",
    depths: Annotated[str, typer.Option(help="Comma-separated rerank depths N.")] = "5,10,20,50,100,200",
    budget_ms: Annotated[float | None, typer.Option(help="p95 rerank latency budget for the recommendation.")] = None,
    latency_queries: Annotated[int, typer.Option(min=1, help="Queries timed per N (no cache).")] = 20,
    alpha: AlphaOpt = 0.5,
    output_dir: Annotated[Path, typer.Option(help="Where sweep.json, sweep.md and sweep.png go.")] = Path("runs/sweep"),
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    as_json: JsonOpt = False,
) -> None:
    """Rerank depth N vs nDCG@10, the first-stage recall ceiling and latency; plot, knee and a budget pick."""
    from haystack_rerank import build
    from haystack_rerank.beir import load_split
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.evaluation import sweep as sweeping
    from haystack_rerank.evaluation.dataset import refuse_training_overlap

    chosen = sweeping.parse_depths(depths)
    settings = settings_of(ctx)
    data = load_split(dataset, split)
    refuse_training_overlap(reranker_model, set(data.queries), split)
    entries = max(RERANK_CACHE_ENTRIES, len(data.queries) * max(chosen))
    scoring = build.ranker(model=reranker_model, top_k=max(chosen), alpha=alpha, cache=MemoryRerankCache(entries))
    timing = build.ranker(model=reranker_model, top_k=max(chosen), alpha=alpha, cache=None)
    lexical_store, vectors = _indexed(settings, data.corpus_path, quiet=as_json)
    legs = max(100, max(chosen))
    retriever = build.hybrid_retriever(settings, lexical=lexical_store, vectors=vectors, lexical_top_k=legs,
                                       dense_top_k=legs)  # fmt: skip
    for component in (retriever, scoring, timing):
        component.warm_up()
    result = sweeping.sweep(data, retriever, scoring, timing, depths=chosen, latency_queries=latency_queries)
    if budget_ms is not None:
        result["budget_ms"] = budget_ms
        result["recommendation"] = sweeping.recommend(result["rows"], budget_ms)
    sweeping.write_outputs(output_dir, result, budget_ms)
    typer.echo(json.dumps(result, indent=2) if as_json else sweeping.markdown(result, budget_ms))
