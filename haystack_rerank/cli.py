"""
The `haystack-rerank` command line. The connection options (--lexical, --opensearch-hosts, --index, --qdrant-url,
--qdrant-path, --collection, --data-dir) go before or after the command name.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from click.core import ParameterSource

from haystack_rerank import config
from haystack_rerank.adapt.cli import adapt_command
from haystack_rerank.cli_options import (
    AlphaOpt,
    ConnectionGroup,
    JsonOpt,
    Lexical,
    OnBadLine,
    OnBadLineOpt,
    RerankerModelOpt,
    SkipMalformedOpt,
    connection_options,
    report,
    settings_of,
)
from haystack_rerank.errors import HaystackRerankError
from haystack_rerank.evaluation.cli import evaluate_command, sweep_command
from haystack_rerank.finetune.cli import finetune_command
from haystack_rerank.models import STARTER_RERANK_MODEL
from haystack_rerank.probes.cli import probe_command
from haystack_rerank.quantize import quantize_command

app = typer.Typer(cls=ConnectionGroup, add_completion=False, no_args_is_help=True, help=__doc__)
app.callback()(connection_options)

__all__ = ["Lexical", "OnBadLine", "app", "main"]


class Stage(str, Enum):
    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"
    rerank = "rerank"


DatasetOpt = Annotated[Path, typer.Option(help="BEIR folder: corpus.jsonl, queries[_SPLIT].jsonl, qrels/SPLIT.tsv.")]
SplitOpt = Annotated[str, typer.Option(help="Split to evaluate (qrels/SPLIT.tsv).")]


@app.command()
def index(
    ctx: typer.Context,
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl (_id, title, text) or a folder of .txt/.md.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Documents embedded and written per batch.")] = 256,
    keep_removed: Annotated[
        bool, typer.Option(help="Keep documents the stores hold but the corpus no longer does (default: delete).")
    ] = False,
    opensearch_shards: Annotated[
        int | None, typer.Option(help="Primary shards of a new OpenSearch index (env: OPENSEARCH_SHARDS; default 1).")
    ] = None,
    opensearch_replicas: Annotated[
        int | None,
        typer.Option(help="Replicas per shard of a new OpenSearch index (env: OPENSEARCH_REPLICAS; default 0)."),
    ] = None,
    on_bad_line: OnBadLineOpt = OnBadLine.error,
    skip_malformed: SkipMalformedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """
    Make both stores hold exactly the corpus (same ids), idempotently, and check ids and content hashes.

    Only new or changed documents are embedded and written (unchanged counts the others); documents the
    corpus no longer holds are deleted from both stores (removed), unless --keep-removed (kept_removed).
    The summary also counts what was not indexed: skipped_lines (malformed lines, with --on-bad-line skip),
    duplicates_dropped (a repeated _id: the first copy is kept) and empty_dropped (no text).
    """
    from haystack_rerank import beir
    from haystack_rerank.indexing import index_into

    settings = replace(settings_of(ctx), opensearch_shards=opensearch_shards, opensearch_replicas=opensearch_replicas)
    skipped_lines: list[int] = []
    documents = beir.load_corpus(
        corpus, on_bad_line=on_bad_line.value, skip_malformed=skip_malformed, skipped_lines=skipped_lines
    )
    started = time.perf_counter()
    indexed = index_into(settings, documents, batch_size=batch_size, remove_missing=not keep_removed)
    seconds = time.perf_counter() - started
    summary = {
        **vars(indexed),
        "skipped_lines": len(skipped_lines),
        "seconds": round(seconds, 2),
        "docs_per_second": round(indexed.written / seconds, 1) if indexed.written else 0.0,
    }
    report(summary, as_json)


@app.command()
def run(
    ctx: typer.Context,
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl (_id, text).")],
    output: Annotated[Path, typer.Option(help="TREC run file to write.")],
    stage: Annotated[Stage, typer.Option(help="Which retrieval to run.")] = Stage.hybrid,
    top_k: Annotated[int, typer.Option(min=1, help="Lines written per query.")] = 100,
    depth: Annotated[int, typer.Option(min=1, help="Candidates per leg before fusion (hybrid).")] = config.LEG_DEPTH,
    rrf_k: Annotated[int, typer.Option(min=0, help="RRF rank constant.")] = 60,
    rerank_depth: Annotated[int, typer.Option(min=1, help="Candidates reranked by the cross-encoder (rerank).")] = (
        config.RERANK_DEPTH
    ),
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    alpha: AlphaOpt = 0.5,
    on_bad_line: OnBadLineOpt = OnBadLine.error,
    skip_malformed: SkipMalformedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """
    Retrieve for every query and write a TREC run (qid Q0 docid rank score tag), best first.

    With --stage rerank the top --rerank-depth fused candidates are reranked; the lines below them come
    from the fused list (with scores under the reranked ones), so recall at --top-k is not cut.
    """
    from haystack_rerank import beir, build
    from haystack_rerank.evaluation.harness import run_stages
    from haystack_rerank.evaluation.latency import summarize_latencies
    from haystack_rerank.manifest import require_documents

    skipped_lines: list[int] = []
    query_texts = beir.load_queries(
        queries, on_bad_line=on_bad_line.value, skip_malformed=skip_malformed, skipped_lines=skipped_lines
    )
    settings = settings_of(ctx)
    lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
    queried = (None if stage is Stage.dense else lexical, None if stage is Stage.bm25 else vectors)
    held = require_documents(*queried, settings.memory_bm25_file)
    # the reranker reads the top --rerank-depth fused candidates, so fuse at least that many
    fused = max(top_k, rerank_depth) if stage is Stage.rerank else top_k
    fused, depth = min(fused, held), min(max(depth, fused), held)  # no store can return more than it holds
    retriever = build.hybrid_retriever(settings, lexical=lexical, vectors=vectors, top_k=fused, lexical_top_k=depth,
                                       dense_top_k=depth, rrf_k=rrf_k)  # fmt: skip
    retriever.warm_up()
    ranker = build.ranker(model=reranker_model, top_k=rerank_depth, alpha=alpha) if stage is Stage.rerank else None
    if ranker is not None:
        ranker.warm_up()
    results = run_stages(query_texts, retriever, stages=(stage.value,), top_k=min(top_k, held), fused_k=fused,
                         ranker=ranker, rerank_depth=rerank_depth, desc=f"Retrieving ({stage.value})")  # fmt: skip
    result = results[stage.value]
    beir.write_trec_run(output, result.run, tag=f"haystack-rerank-{stage.value}")
    summary = {"queries": len(result.run), "skipped_lines": len(skipped_lines), "output": str(output)}
    report({**summary, **summarize_latencies(result.seconds)}, as_json)


@app.command()
def score(
    qrels: Annotated[Path, typer.Option(help="BEIR qrels TSV (query-id, corpus-id, score).")],
    runs: Annotated[list[Path], typer.Argument(help="TREC run files to score.")],
    as_json: JsonOpt = False,
) -> None:
    """Score TREC runs against qrels: nDCG@10, Recall@10/100, MRR@10 (ranx)."""
    from haystack_rerank import beir
    from haystack_rerank.evaluation.metrics import evaluate_run

    judgements = beir.load_qrels(qrels)
    table = {str(run_file): evaluate_run(judgements, beir.read_trec_run(run_file)) for run_file in runs}
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    metrics = list(next(iter(table.values())))
    typer.echo("| run | " + " | ".join(metrics) + " |")
    typer.echo("|---|" + "---|" * len(metrics))
    for name, values in table.items():
        typer.echo(f"| {name} | " + " | ".join(f"{values[m]:.4f}" for m in metrics) + " |")


@app.command()
def demo(
    ctx: typer.Context,
    corpus: Annotated[Path | None, typer.Option(help="Corpus to index (default: examples/passages.jsonl).")] = None,
    questions: Annotated[Path | None, typer.Option(help="Questions (default: examples/questions.jsonl).")] = None,
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    rerank_depth: Annotated[int, typer.Option(min=1, help="Hybrid candidates reranked.")] = 20,
    top_k: Annotated[int, typer.Option(min=1, help="Reranked documents shown and read for answers.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """
    Index the example corpus on embedded stores (no servers) and answer its questions, stage by stage.

    The stores live in --data-dir when given, else in the `demo` folder of the data folder.
    """
    from haystack_rerank.demo import run_demo

    data_dir = settings_of(ctx).data_dir
    if ctx.find_root().get_parameter_source("data_dir") is not ParameterSource.COMMANDLINE:
        data_dir = data_dir / "demo"
    run_demo(
        corpus=corpus,
        questions=questions,
        data_dir=data_dir,
        reranker_model=reranker_model,
        rerank_depth=rerank_depth,
        top_k=top_k,
        as_json=as_json,
        echo=typer.echo,
    )


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    pipeline_file: Annotated[
        Path | None, typer.Option("--pipeline", help="A pipeline YAML (e.g. pipelines/rag_extractive.yaml).")
    ] = None,
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    rerank_depth: Annotated[int, typer.Option(min=1, help="Hybrid candidates reranked.")] = config.RERANK_DEPTH,
    top_k: Annotated[int, typer.Option(min=1, help="Reranked documents kept.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Answer one question over an index built with `index` (or with the pipeline in --pipeline)."""
    from haystack_rerank import build, pipelines
    from haystack_rerank.demo import ask as ask_pipeline
    from haystack_rerank.demo import format_result

    if pipeline_file is not None:
        from haystack_rerank.pipeline_file import run_pipeline_file

        typer.echo(json.dumps(run_pipeline_file(pipeline_file, question), indent=2, default=str))
        return
    from haystack_rerank.manifest import require_documents

    settings = settings_of(ctx)
    lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
    require_documents(lexical, vectors, settings.memory_bm25_file)  # a typo must not answer from nothing
    pipeline = pipelines.rag_extractive(
        rerank_depth=rerank_depth,
        top_k=top_k,
        reranker_model=reranker_model,
        retriever=build.hybrid_retriever(settings, lexical=lexical, vectors=vectors),
    )
    result = ask_pipeline(pipeline, question)
    report(result, as_json, lambda answered: format_result(answered, {}))


app.command("finetune")(finetune_command)
app.command("eval")(evaluate_command)
app.command("sweep")(sweep_command)
app.command("adapt")(adapt_command)
app.command("probe")(probe_command)
app.command("quantize")(quantize_command)


def _disable_haystack_telemetry() -> None:
    """No calls home from a CLI run (Haystack read HAYSTACK_TELEMETRY_ENABLED when it was imported, so the
    environment variable alone is too late here); HAYSTACK_TELEMETRY_ENABLED=True keeps it on."""
    from haystack_rerank.config import resolve

    if str(resolve("HAYSTACK_TELEMETRY_ENABLED") or "").lower() in ("true", "1"):
        return
    import haystack.telemetry._telemetry as haystack_telemetry

    haystack_telemetry.telemetry = None


def main() -> None:
    """Entry point: one clear line and a non-zero exit code on expected errors, not a traceback."""
    from haystack_rerank.config import resolve

    logging.basicConfig(level=resolve("HAYSTACK_RERANK_LOG"), format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _disable_haystack_telemetry()
    try:
        app(standalone_mode=False)
    except (HaystackRerankError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
    except Exception as err:  # services down and similar: still one line; HAYSTACK_RERANK_DEBUG=1 shows the trace
        if resolve("HAYSTACK_RERANK_DEBUG"):
            raise
        typer.echo(f"error: {type(err).__name__}: {err}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
