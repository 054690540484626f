"""The `haystack-rerank` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm.auto import tqdm

from haystack_rerank.adapt.cli import adapt_command
from haystack_rerank.errors import HaystackRerankError
from haystack_rerank.finetune.cli import finetune_command
from haystack_rerank.models import STARTER_RERANK_MODEL
from haystack_rerank.probes.cli import probe_command

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.command("finetune")(finetune_command)
app.command("adapt")(adapt_command)
app.command("probe")(probe_command)
logger = logging.getLogger("haystack_rerank")


class Lexical(str, Enum):
    opensearch = "opensearch"
    memory = "memory"


class OnBadLine(str, Enum):
    error = "error"
    skip = "skip"


OnBadLineOpt = Annotated[
    OnBadLine,
    typer.Option(help="A malformed JSONL line: stop with its file and line number (error), or skip and count it."),
]
SkipMalformedOpt = Annotated[bool, typer.Option(hidden=True, help="Same as --on-bad-line skip (older spelling).")]


class Stage(str, Enum):
    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"
    rerank = "rerank"


STARTER_MODEL_HELP = "Cross-encoder: hub name or local folder (default: the bundled SciFact starter model)."
RerankerModelOpt = Annotated[str, typer.Option(help=STARTER_MODEL_HELP)]
AlphaOpt = Annotated[
    float,
    typer.Option(
        min=0.0, max=1.0, help="Final score = alpha * cross-encoder + (1 - alpha) * fused score; 1 = CE only."
    ),
]


# Connection options shared by the commands; each also reads an environment variable.
LexicalOpt = Annotated[Lexical, typer.Option(help="BM25 backend: a real OpenSearch node, or in-process (embedded).")]
HostsOpt = Annotated[str, typer.Option(envvar="OPENSEARCH_HOSTS", help="OpenSearch URL(s), comma-separated.")]
IndexOpt = Annotated[
    str, typer.Option("--index", envvar="OPENSEARCH_INDEX", help="OpenSearch index / BM25 store name.")
]
QdrantUrlOpt = Annotated[
    str | None, typer.Option(envvar="QDRANT_URL", help="Qdrant server URL; unset = embedded Qdrant.")
]
QdrantPathOpt = Annotated[
    str | None, typer.Option(envvar="QDRANT_PATH", help="Embedded Qdrant folder (default DATA_DIR/qdrant).")
]
CollectionOpt = Annotated[str, typer.Option(envvar="QDRANT_COLLECTION", help="Qdrant collection.")]
DataDirOpt = Annotated[Path, typer.Option(envvar="HAYSTACK_RERANK_DATA", help="Folder for embedded stores.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")]


def _settings(
    lexical: Lexical,
    hosts: str,
    index: str,
    qdrant_url: str | None,
    qdrant_path: str | None,
    collection: str,
    data_dir: Path,
) -> Any:
    from haystack_rerank.settings import StoreSettings

    return StoreSettings(
        lexical=lexical.value,
        opensearch_hosts=hosts,
        index=index,
        qdrant_url=qdrant_url,
        qdrant_path=qdrant_path,
        collection=collection,
        data_dir=data_dir,
    )


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            typer.echo(f"{key}: {value}")


@app.command()
def index(
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl (_id, title, text) or a folder of .txt/.md.")],
    lexical: LexicalOpt = Lexical.opensearch,
    opensearch_hosts: HostsOpt = "http://127.0.0.1:9200",
    index_name: IndexOpt = "haystack_rerank",
    qdrant_url: QdrantUrlOpt = None,
    qdrant_path: QdrantPathOpt = None,
    collection: CollectionOpt = "haystack_rerank",
    data_dir: DataDirOpt = Path(".haystack-rerank"),
    batch_size: Annotated[int, typer.Option(min=1, help="Documents embedded and written per batch.")] = 256,
    keep_removed: Annotated[
        bool, typer.Option(help="Keep documents the stores hold but the corpus no longer does (default: delete).")
    ] = False,
    opensearch_shards: Annotated[
        int | None,
        typer.Option(envvar="OPENSEARCH_SHARDS", help="Primary shards of a new OpenSearch index (default 1)."),
    ] = None,
    opensearch_replicas: Annotated[
        int | None,
        typer.Option(
            envvar="OPENSEARCH_REPLICAS",
            help="Replicas per shard of a new OpenSearch index (0; 1 on a cluster).",
        ),
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
    from haystack_rerank import beir, stores
    from haystack_rerank.components.embedders import DocumentEmbedder
    from haystack_rerank.indexing import index_documents, save_lexical_store

    settings = _settings(lexical, opensearch_hosts, index_name, qdrant_url, qdrant_path, collection, data_dir)
    settings.opensearch_shards, settings.opensearch_replicas = opensearch_shards, opensearch_replicas
    skipped_lines: list[int] = []
    documents = beir.load_corpus(
        corpus, on_bad_line=on_bad_line.value, skip_malformed=skip_malformed, skipped_lines=skipped_lines
    )
    started = time.perf_counter()
    lexical_store = stores.lexical_store(settings)
    report = index_documents(
        documents,
        embedder=DocumentEmbedder(
            model=settings.embedding_model, progress_bar=False, model_kwargs=settings.embedding_model_kwargs
        ),
        lexical_store=lexical_store,
        vector_store=stores.vector_store(settings),
        batch_size=batch_size,
        remove_missing=not keep_removed,
        embedding_model=settings.embedding_model,
        embedding_dim=settings.embedding_dim,
    )
    save_lexical_store(lexical_store, settings.memory_bm25_file)
    seconds = time.perf_counter() - started
    summary = {
        **vars(report),
        "skipped_lines": len(skipped_lines),
        "seconds": round(seconds, 2),
        "docs_per_second": round(report.written / seconds, 1) if report.written else 0.0,
    }
    _report(summary, as_json)


@app.command()
def run(
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl (_id, text).")],
    output: Annotated[Path, typer.Option(help="TREC run file to write.")],
    stage: Annotated[Stage, typer.Option(help="Which retrieval to run.")] = Stage.hybrid,
    top_k: Annotated[int, typer.Option(min=1, help="Lines written per query.")] = 100,
    lexical: LexicalOpt = Lexical.opensearch,
    opensearch_hosts: HostsOpt = "http://127.0.0.1:9200",
    index_name: IndexOpt = "haystack_rerank",
    qdrant_url: QdrantUrlOpt = None,
    qdrant_path: QdrantPathOpt = None,
    collection: CollectionOpt = "haystack_rerank",
    data_dir: DataDirOpt = Path(".haystack-rerank"),
    depth: Annotated[int, typer.Option(min=1, help="Candidates per leg before fusion (hybrid).")] = 100,
    rrf_k: Annotated[int, typer.Option(min=0, help="RRF rank constant.")] = 60,
    rerank_depth: Annotated[int, typer.Option(min=1, help="Candidates reranked by the cross-encoder (rerank).")] = 50,
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
    from haystack_rerank import beir, stores
    from haystack_rerank.evaluation.latency import summarize_latencies

    settings = _settings(lexical, opensearch_hosts, index_name, qdrant_url, qdrant_path, collection, data_dir)
    skipped_lines: list[int] = []
    query_texts = beir.load_queries(
        queries, on_bad_line=on_bad_line.value, skip_malformed=skip_malformed, skipped_lines=skipped_lines
    )
    from haystack_rerank.manifest import require_documents

    lexical_store, vectors = stores.lexical_store(settings), stores.vector_store(settings)
    queried = (None if stage is Stage.dense else lexical_store, None if stage is Stage.bm25 else vectors)
    held = require_documents(*queried, settings.memory_bm25_file)
    # the reranker reads the top --rerank-depth fused candidates, so fuse at least that many
    fused = max(top_k, rerank_depth) if stage is Stage.rerank else top_k
    fused, depth = min(fused, held), min(max(depth, fused), held)  # no store can return more than it holds
    retriever = stores.hybrid_retriever(
        settings,
        lexical=lexical_store,
        vectors=vectors,
        top_k=fused,
        lexical_top_k=depth,
        dense_top_k=depth,
        rrf_k=rrf_k,
    )
    retriever.warm_up()
    retrieve = {
        Stage.bm25: lambda q: retriever.retrieve_lexical(q, top_k=min(top_k, held)),
        Stage.dense: lambda q: retriever.retrieve_dense(q, top_k=min(top_k, held)),
        Stage.hybrid: lambda q: retriever.run(query=q)["documents"],
    }.get(stage)
    if stage is Stage.rerank:
        from haystack_rerank.evaluation.rerank import rerank_with_backfill
        from haystack_rerank.pipelines import cross_encoder_ranker

        ranker = cross_encoder_ranker(model=reranker_model, top_k=rerank_depth, alpha=alpha)
        ranker.warm_up()

        def retrieve(q: str) -> list:
            return rerank_with_backfill(q, retriever.run(query=q)["documents"], ranker, rerank_depth)

    results, latencies = {}, []
    for qid, text in tqdm(query_texts.items(), desc=f"Retrieving ({stage.value})", unit="query"):
        started = time.perf_counter()
        documents = retrieve(text)
        latencies.append(time.perf_counter() - started)
        results[qid] = [(doc.id, doc.score or 0.0) for doc in documents[:top_k]]
    beir.write_trec_run(output, results, tag=f"haystack-rerank-{stage.value}")
    summary = {"queries": len(results), "skipped_lines": len(skipped_lines), "output": str(output)}
    _report({**summary, **summarize_latencies(latencies)}, as_json)


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
    corpus: Annotated[Path | None, typer.Option(help="Corpus to index (default: examples/passages.jsonl).")] = None,
    questions: Annotated[Path | None, typer.Option(help="Questions (default: examples/questions.jsonl).")] = None,
    data_dir: Annotated[Path, typer.Option(help="Folder for the embedded Qdrant store.")] = Path(
        ".haystack-rerank/demo"
    ),
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    rerank_depth: Annotated[int, typer.Option(min=1, help="Hybrid candidates reranked.")] = 20,
    top_k: Annotated[int, typer.Option(min=1, help="Reranked documents shown and read for answers.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Index the example corpus on embedded stores (no servers) and answer its questions, stage by stage."""
    from haystack_rerank.demo import run_demo

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
    question: Annotated[str, typer.Argument(help="The question.")],
    pipeline_file: Annotated[
        Path | None, typer.Option("--pipeline", help="A pipeline YAML (e.g. pipelines/rag_extractive.yaml).")
    ] = None,
    lexical: LexicalOpt = Lexical.opensearch,
    opensearch_hosts: HostsOpt = "http://127.0.0.1:9200",
    index_name: IndexOpt = "haystack_rerank",
    qdrant_url: QdrantUrlOpt = None,
    qdrant_path: QdrantPathOpt = None,
    collection: CollectionOpt = "haystack_rerank",
    data_dir: DataDirOpt = Path(".haystack-rerank"),
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    rerank_depth: Annotated[int, typer.Option(min=1, help="Hybrid candidates reranked.")] = 50,
    top_k: Annotated[int, typer.Option(min=1, help="Reranked documents kept.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Answer one question over an index built with `index` (or with the pipeline in --pipeline)."""
    from haystack_rerank import pipelines, stores
    from haystack_rerank.demo import ask as ask_pipeline
    from haystack_rerank.demo import format_result

    if pipeline_file is not None:
        result = _run_yaml(pipeline_file, question)
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    settings = _settings(lexical, opensearch_hosts, index_name, qdrant_url, qdrant_path, collection, data_dir)
    from haystack_rerank.manifest import require_documents

    lexical_store, vectors = stores.lexical_store(settings), stores.vector_store(settings)
    require_documents(lexical_store, vectors, settings.memory_bm25_file)  # a typo must not answer from nothing
    pipeline = pipelines.rag_extractive(
        rerank_depth=rerank_depth,
        top_k=top_k,
        reranker_model=reranker_model,
        retriever=stores.hybrid_retriever(settings, lexical=lexical_store, vectors=vectors),
    )
    result = ask_pipeline(pipeline, question)
    typer.echo(json.dumps(result, indent=2) if as_json else format_result(result, {}))


def _run_yaml(path: Path, question: str) -> dict[str, Any]:
    """Run a pipeline file, sending the question to the sockets its Hayhooks `inputs.query` names."""
    from haystack_rerank.pipeline_file import run_pipeline_file

    return run_pipeline_file(path, question)


def _ensure_indexed(settings: Any, corpus: Path, *, quiet: bool) -> tuple[Any, Any]:
    """Open both stores; index the corpus unless both already hold exactly its documents (ids, hashes, model)."""
    from haystack_rerank import beir, stores
    from haystack_rerank.components.embedders import DocumentEmbedder
    from haystack_rerank.indexing import index_documents, save_lexical_store

    lexical, vectors = stores.lexical_store(settings), stores.vector_store(settings)
    report = index_documents(
        beir.load_corpus(corpus),
        embedder=DocumentEmbedder(
            model=settings.embedding_model, progress_bar=False, model_kwargs=settings.embedding_model_kwargs
        ),
        lexical_store=lexical,
        vector_store=vectors,
        progress_bar=not quiet,
        embedding_model=settings.embedding_model,
        embedding_dim=settings.embedding_dim,
    )
    if report.written or report.removed:
        save_lexical_store(lexical, settings.memory_bm25_file)
    elif not quiet:
        typer.echo(
            f"Index {settings.index!r} / collection {settings.collection!r} already hold exactly the "
            f"{report.unchanged} documents of {corpus} (ids and content hashes): not re-indexing.",
            err=True,
        )
    return lexical, vectors


@app.command("eval")
def evaluate(
    dataset: Annotated[Path, typer.Option(help="BEIR folder: corpus.jsonl, queries[_SPLIT].jsonl, qrels/SPLIT.tsv.")],
    split: Annotated[str, typer.Option(help="Split to evaluate (qrels/SPLIT.tsv).")] = "dev",
    stages: Annotated[
        str, typer.Option(help="Comma-separated subset of bm25,dense,hybrid,rerank.")
    ] = "bm25,dense,hybrid,rerank",
    output_dir: Annotated[Path, typer.Option(help="Where runs, summary.json and summary.md go.")] = Path("runs/eval"),
    rerank_depth: Annotated[int, typer.Option(min=1, help="Hybrid candidates reranked (N).")] = 100,
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    alpha: AlphaOpt = 0.5,
    cache: Annotated[str, typer.Option(help="Reranker cache state for the timings: cold (no cache) or warm.")] = "cold",
    lexical: LexicalOpt = Lexical.opensearch,
    opensearch_hosts: HostsOpt = "http://127.0.0.1:9200",
    index_name: IndexOpt = "haystack_rerank",
    qdrant_url: QdrantUrlOpt = None,
    qdrant_path: QdrantPathOpt = None,
    collection: CollectionOpt = "haystack_rerank",
    data_dir: DataDirOpt = Path(".haystack-rerank"),
    probes: Annotated[
        bool, typer.Option("--probes", help="Add the behaviour probes of the reranker (see `probe`) as a section.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate every stage on a BEIR split: metrics (ranx), latency, the reranker's lift and a verdict."""
    from haystack_rerank import stores
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.errors import ConfigurationError
    from haystack_rerank.evaluation import harness
    from haystack_rerank.evaluation.dataset import load_split, refuse_training_overlap
    from haystack_rerank.pipelines import cross_encoder_ranker

    chosen = tuple(s.strip() for s in stages.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(harness.STAGES))
    if unknown or cache not in ("cold", "warm"):
        msg = (
            f"--stages got {unknown!r}: choose from {','.join(harness.STAGES)}."
            if unknown
            else f"--cache got {cache!r}: use cold or warm."
        )
        raise ConfigurationError(msg)
    settings = _settings(lexical, opensearch_hosts, index_name, qdrant_url, qdrant_path, collection, data_dir)
    data = load_split(dataset, split)
    ranker = None
    if "rerank" in chosen:
        refuse_training_overlap(reranker_model, set(data.queries), split)
        ranker = cross_encoder_ranker(model=reranker_model, top_k=rerank_depth, alpha=alpha)
        ranker.cache = MemoryRerankCache() if cache == "warm" else None
        ranker.warm_up()
    lexical_store, vectors = _ensure_indexed(settings, data.corpus, quiet=as_json)
    retriever = stores.hybrid_retriever(settings, lexical=lexical_store, vectors=vectors, top_k=100)
    retriever.warm_up()
    kwargs = {"stages": chosen, "ranker": ranker, "rerank_depth": rerank_depth}
    if cache == "warm" and ranker is not None:  # fill the cache first; the timed pass then only reads it
        harness.run_stages(data, retriever, **{**kwargs, "stages": ("rerank",)}, progress=False)
    results = harness.run_stages(data, retriever, **kwargs)
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


@app.command()
def sweep(
    dataset: Annotated[Path, typer.Option(help="BEIR folder: corpus.jsonl, queries[_SPLIT].jsonl, qrels/SPLIT.tsv.")],
    split: Annotated[str, typer.Option(help="Split to evaluate (qrels/SPLIT.tsv).")] = "dev",
    depths: Annotated[str, typer.Option(help="Comma-separated rerank depths N.")] = "5,10,20,50,100,200",
    budget_ms: Annotated[float | None, typer.Option(help="p95 rerank latency budget for the recommendation.")] = None,
    latency_queries: Annotated[int, typer.Option(min=1, help="Queries timed per N (no cache).")] = 20,
    alpha: AlphaOpt = 0.5,
    output_dir: Annotated[Path, typer.Option(help="Where sweep.json, sweep.md and sweep.png go.")] = Path("runs/sweep"),
    reranker_model: RerankerModelOpt = STARTER_RERANK_MODEL,
    lexical: LexicalOpt = Lexical.opensearch,
    opensearch_hosts: HostsOpt = "http://127.0.0.1:9200",
    index_name: IndexOpt = "haystack_rerank",
    qdrant_url: QdrantUrlOpt = None,
    qdrant_path: QdrantPathOpt = None,
    collection: CollectionOpt = "haystack_rerank",
    data_dir: DataDirOpt = Path(".haystack-rerank"),
    as_json: JsonOpt = False,
) -> None:
    """Rerank depth N vs nDCG@10, the first-stage recall ceiling and latency; plot, knee and a budget pick."""
    from haystack_rerank import stores
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.errors import ConfigurationError
    from haystack_rerank.evaluation import sweep as sweeping
    from haystack_rerank.evaluation.dataset import load_split, refuse_training_overlap
    from haystack_rerank.pipelines import cross_encoder_ranker

    try:
        chosen = tuple(int(d) for d in depths.split(","))
    except ValueError as err:
        raise ConfigurationError(f"--depths got {depths!r}: pass integers like 5,10,20,50,100,200.") from err
    if not chosen or min(chosen) < 1:
        raise ConfigurationError(f"--depths got {depths!r}: every depth must be >= 1.")
    settings = _settings(lexical, opensearch_hosts, index_name, qdrant_url, qdrant_path, collection, data_dir)
    data = load_split(dataset, split)
    refuse_training_overlap(reranker_model, set(data.queries), split)
    scoring = cross_encoder_ranker(model=reranker_model, top_k=max(chosen), alpha=alpha)
    scoring.cache = MemoryRerankCache(max_entries=max(100_000, len(data.queries) * max(chosen)))
    timing = cross_encoder_ranker(model=reranker_model, top_k=max(chosen), alpha=alpha)
    timing.cache = None
    lexical_store, vectors = _ensure_indexed(settings, data.corpus, quiet=as_json)
    retriever = stores.hybrid_retriever(
        settings,
        lexical=lexical_store,
        vectors=vectors,
        lexical_top_k=max(100, max(chosen)),
        dense_top_k=max(100, max(chosen)),
    )
    retriever.warm_up()
    scoring.warm_up()
    timing.warm_up()
    result = sweeping.sweep(data, retriever, scoring, timing, depths=chosen, latency_queries=latency_queries)
    if budget_ms is not None:
        result["budget_ms"] = budget_ms
        result["recommendation"] = sweeping.recommend(result["rows"], budget_ms)
    sweeping.write_outputs(output_dir, result, budget_ms)
    typer.echo(json.dumps(result, indent=2) if as_json else sweeping.markdown(result, budget_ms))


def _disable_haystack_telemetry() -> None:
    """No calls home from a CLI run (Haystack read HAYSTACK_TELEMETRY_ENABLED when it was imported, so the
    environment variable alone is too late here); HAYSTACK_TELEMETRY_ENABLED=True keeps it on."""
    if os.environ.get("HAYSTACK_TELEMETRY_ENABLED", "").lower() in ("true", "1"):
        return
    import haystack.telemetry._telemetry as haystack_telemetry

    haystack_telemetry.telemetry = None


def main() -> None:
    """Entry point: one clear line and a non-zero exit code on expected errors, not a traceback."""
    logging.basicConfig(
        level=os.environ.get("HAYSTACK_RERANK_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _disable_haystack_telemetry()
    try:
        app(standalone_mode=False)
    except (HaystackRerankError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
    except Exception as err:  # services down and similar: still one line; HAYSTACK_RERANK_DEBUG=1 shows the trace
        if os.environ.get("HAYSTACK_RERANK_DEBUG"):
            raise
        typer.echo(f"error: {type(err).__name__}: {err}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
