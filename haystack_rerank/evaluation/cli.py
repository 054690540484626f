"""`haystack-rerank eval` and `haystack-rerank sweep`: the typer commands around `harness` and `sweep`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from haystack_rerank.cli_options import AlphaOpt, JsonOpt, RerankerModelOpt, report, settings_of
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
    report(summary, as_json, harness.markdown_table)


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
    cascades: Annotated[
        str, typer.Option(help="Cascade rows: comma-separated N:M (the full model re-scores the top M of N).")
    ] = "",
    small_model: Annotated[
        str | None, typer.Option(help="The cascade's small cross-encoder; unset: the first-stage order picks M.")
    ] = None,
    gates: Annotated[str, typer.Option(help="Gate margins (0..1) tried on each cascade row, comma-separated.")] = "",
    gated_rescore_top: Annotated[int, typer.Option(min=1, help="Documents re-scored when a gate fires.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Rerank depth N vs nDCG@10, the first-stage recall ceiling and latency; plot, knee and a budget pick.
    With --cascades (and --small-model, --gates): cascade and gating rows, and their pick for the budget."""
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
    cascade_rows = _cascade_rows(
        data, cascades, small_model, gates, gated_rescore_top, (scoring, timing), alpha, latency_queries
    )
    result = sweeping.sweep(
        data, retriever, scoring, timing, depths=chosen, latency_queries=latency_queries, cascade_rows=cascade_rows
    )
    if budget_ms is not None:
        result["budget_ms"] = budget_ms
        result["recommendation"] = sweeping.recommend(result["rows"], budget_ms)
    sweeping.write_outputs(output_dir, result, budget_ms)
    report(result, as_json, lambda swept: sweeping.markdown(swept, budget_ms))


def _cascade_rows(
    data: Any,
    cascades: str,
    small_model: str | None,
    gates: str,
    gated_rescore_top: int,
    full: tuple[Any, Any],
    alpha: float,
    latency_queries: int,
) -> Any:
    """The `cascade_rows` hook of `sweep` for --cascades/--small-model/--gates (None without --cascades)."""
    from haystack_rerank import build
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.evaluation import cascade_sweep

    if not cascades.strip():
        return None
    settings, margins = cascade_sweep.parse_settings(cascades, gates)
    small = None
    if small_model:  # a cached ranker for quality, an uncached one for latency, as for the full model
        cached = MemoryRerankCache(max_entries=1_000_000)
        small = tuple(build.ranker(model=small_model, top_k=100, alpha=alpha, cache=c) for c in (cached, None))

    def rows(fused: dict) -> list:
        return cascade_sweep.cascade_sweep(
            data.queries,
            data.qrels,
            fused,
            full=full,
            small=small,
            settings=settings,
            gates=margins,
            gated_rescore_top=gated_rescore_top,
            latency_queries=latency_queries,
        )

    return rows
