"""
Load: the shipped hybrid + rerank pipeline (starter model, `pipelines.hybrid_rerank` defaults: rerank depth and
backend from `config`, alpha 0.5, one shared ranker and memory cache) driven by C concurrent clients for a fixed time
each, as threads calling `Pipeline.run` and as asyncio tasks awaiting `Pipeline.run_async`. Prints a Markdown table:
concurrency, queries/s, p50/p95/max latency, errors, cache hit rate, and the ratios to the single-client run of the
same invocation; then where a query's time goes (first stage, reranker forwards, the rest).

Every client takes the next query of one shared stream (the queries in a seeded order, cycled); the cache is cleared
before each level, so levels are comparable and a hit only comes from a query repeated within the level (`--hot-queries`
limits the stream to that many distinct queries to model repeated traffic).

    # SciFact, on the index and Qdrant folder built as in "First stage on SciFact dev" (read only)
    python benchmarks/bench_load.py --index scifact --collection scifact --data-dir /tmp/hr-scifact \\
        --queries ../shared/data/scifact/queries_dev.jsonl --duration 20
    # or the example corpus, indexed into a temporary OpenSearch index and an in-memory Qdrant
    python benchmarks/bench_load.py --corpus examples/passages.jsonl --queries ../shared/data/scifact/queries_dev.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=Path("../shared/data/scifact/queries_dev.jsonl"))
    parser.add_argument("--corpus", type=Path, help="index this BEIR corpus.jsonl into a temporary index first")
    parser.add_argument("--index", default="scifact", help="existing OpenSearch index (without --corpus)")
    parser.add_argument("--collection", default="scifact", help="existing Qdrant collection (without --corpus)")
    parser.add_argument("--data-dir", type=Path, default=Path(".haystack-rerank"), help="holds the Qdrant folder")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8], help="thread clients per level")
    parser.add_argument("--async-concurrency", type=int, nargs="*", default=[8], help="asyncio clients per level")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each level keeps starting queries")
    parser.add_argument("--hot-queries", type=int, default=0, help="use only this many distinct queries (0 = all)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--reranker-model", help="cross-encoder (default: the shipped starter)")
    parser.add_argument("--backend", help="ranker backend (default: the shipped one)")
    parser.add_argument("--precision", help="ranker precision (default: the shipped one)")
    parser.add_argument("--rerank-depth", type=int, help="candidates reranked (default: config.RERANK_DEPTH)")
    parser.add_argument(
        "--blas-spinning",
        action="store_true",
        help="as before blas_threads.py: embedded Qdrant searches with numpy's default BLAS threads",
    )
    return parser.parse_args()


@dataclass
class Level:
    """What one concurrency level measured."""

    mode: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hits: int = 0
    scored: int = 0
    first_stage: list[float] = field(default_factory=list)  # the hybrid retriever's own seconds per query
    model: list[float] = field(default_factory=list)  # the reranker's forward passes per query
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, output: dict[str, Any] | None, error: BaseException | None) -> None:
        latency = time.perf_counter() - started
        with self.lock:
            if error is not None:
                self.errors.append(f"{type(error).__name__}: {error}")
                return
            assert output is not None
            self.latencies.append(latency)
            meta = output["ranker"]["meta"]
            self.hits += meta["cache_hits"]
            self.scored += meta["scored"]
            self.model.append(meta["model_seconds"])
            self.first_stage.append(output.get("retriever", {}).get("meta", {}).get("seconds", float("nan")))

    @property
    def qps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float, seconds: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if seconds is None else seconds)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000


class QueryStream:
    """The next query for whichever client asks, thread-safe, cycling over the queries in a seeded order."""

    def __init__(self, queries: list[str], seed: int) -> None:
        ordered = list(queries)
        random.Random(seed).shuffle(ordered)
        self._queries = ordered
        self._next = 0
        self._lock = threading.Lock()

    def __next__(self) -> str:
        with self._lock:
            query = self._queries[self._next % len(self._queries)]
            self._next += 1
            return query

    def __iter__(self) -> Iterator[str]:
        return self


def pipeline_input(query: str) -> dict[str, Any]:
    return {"retriever": {"query": query}, "ranker": {"query": query}}


def run_threads(pipeline: Any, level: Level, stream: QueryStream, duration: float, tick: Callable[[], None]) -> None:
    deadline = time.perf_counter() + duration

    def client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                output = pipeline.run(pipeline_input(next(stream)))
            except Exception as error:  # noqa: BLE001 - counted in the table
                level.record(started, None, error)
            else:
                level.record(started, output, None)
            tick()

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(level.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_tasks(pipeline: Any, level: Level, stream: QueryStream, duration: float, tick: Callable[[], None]) -> None:
    async def client(deadline: float) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                output = await pipeline.run_async(pipeline_input(next(stream)))
            except Exception as error:  # noqa: BLE001 - counted in the table
                level.record(started, None, error)
            else:
                level.record(started, output, None)
            tick()

    async def main() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(client(deadline) for _ in range(level.clients)))

    asyncio.run(main())


def pipeline_options(args: argparse.Namespace) -> dict[str, Any]:
    """The shipped pipeline's settings, with only what the command line names replaced."""
    options: dict[str, Any] = {}
    if args.reranker_model:
        options["reranker_model"] = args.reranker_model
    if args.rerank_depth:
        options["rerank_depth"] = args.rerank_depth
    ranker = {name: getattr(args, name) for name in ("backend", "precision") if getattr(args, name)}
    if ranker:
        options["reranker_options"] = ranker
    return options


def build_pipeline(args: argparse.Namespace) -> tuple[Any, Callable[[], None], str]:
    """The shipped hybrid_rerank pipeline over the chosen stores, a clean-up function and a description."""
    from haystack_rerank import beir, build, pipelines
    from haystack_rerank.config import Settings
    from haystack_rerank.indexing import index_documents

    if args.corpus is None:
        settings = Settings(index=args.index, collection=args.collection, data_dir=args.data_dir)
        lexical = build.lexical_store(settings)
        retriever = build.hybrid_retriever(settings, lexical=lexical)
        described = f"index {args.index!r} ({lexical.count_documents():,} documents), Qdrant in {args.data_dir}"
        return pipelines.hybrid_rerank(retriever=retriever, **pipeline_options(args)), lambda: None, described

    index = f"bench_load_{uuid.uuid4().hex[:8]}"
    settings = Settings(index=index, collection=index, qdrant_path=":memory:")
    lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
    documents = beir.load_corpus(args.corpus)

    index_documents(documents, embedder=build.document_embedder(settings), lexical_store=lexical, vector_store=vectors)
    retriever = build.hybrid_retriever(settings, lexical=lexical, vectors=vectors)
    described = f"{args.corpus} ({len(documents)} documents) in a temporary index and in-memory Qdrant"
    return pipelines.hybrid_rerank(retriever=retriever, **pipeline_options(args)), lexical.delete_index, described


def main() -> None:
    args = parse_args()
    from tqdm import tqdm

    from haystack_rerank import beir

    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # "pool is full" under concurrency
    queries = list(beir.load_queries(args.queries).values())
    if args.hot_queries:
        queries = random.Random(args.seed).sample(queries, args.hot_queries)
    if args.blas_spinning:
        from contextlib import nullcontext

        from haystack_rerank.document_stores import qdrant

        qdrant.single_blas_thread = nullcontext
    pipeline, clean_up, described = build_pipeline(args)
    try:
        pipeline.warm_up()
        pipeline.run(pipeline_input("warm up the pipeline"))  # first forwards pay for lazy initialisation
        ranker = pipeline.get_component("ranker")
        levels = [Level("threads", c) for c in args.concurrency]
        levels += [Level("asyncio", c) for c in args.async_concurrency]
        for level in levels:
            ranker.cache.clear()
            stream = QueryStream(queries, args.seed)
            run = run_threads if level.mode == "threads" else run_tasks
            with tqdm(desc=f"{level.mode} x{level.clients}", unit="query", leave=False) as bar:
                tick_lock = threading.Lock()

                def tick(bar: Any = bar, tick_lock: threading.Lock = tick_lock) -> None:
                    with tick_lock:
                        bar.update(1)

                started = time.perf_counter()
                run(pipeline, level, stream, args.duration, tick)
                level.seconds = time.perf_counter() - started
    finally:
        clean_up()
    print_table(args, levels, len(queries), described, pipeline)


def print_table(args: argparse.Namespace, levels: list[Level], query_count: int, described: str, pipeline: Any) -> None:
    import torch

    ranker, depth = pipeline.get_component("ranker"), pipeline.get_component("retriever").top_k
    base = next((lv for lv in levels if lv.mode == "threads" and lv.clients == 1), levels[0])
    print(
        f"\n{described}; {query_count} distinct queries; {args.duration:.0f} s per level; reranker {ranker.model} "
        f"({ranker.backend} {ranker.precision}, {depth} candidates, top {ranker.top_k}); "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| clients | queries | queries/s | p50 ms | p95 ms | max ms | errors | cache hit rate "
        f"| queries/s vs {base.mode} x{base.clients} | p95 vs {base.mode} x{base.clients} |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for level in levels:
        hit_rate = level.hits / level.scored if level.scored else 0.0
        print(
            f"| {level.mode} x{level.clients} | {len(level.latencies)} | {level.qps:.2f} | {level.percentile(0.5):.0f} "
            f"| {level.percentile(0.95):.0f} | {max(level.latencies, default=0) * 1000:.0f} | {len(level.errors)} "
            f"| {hit_rate:.1%} | {level.qps / base.qps:.2f} | {level.percentile(0.95) / base.percentile(0.95):.2f} |"
        )
    print("\nWhere a query's time goes (per query, ms): the first stage (hybrid retriever) and the reranker's forwards")
    print("| clients | first stage p50 / p95 | reranker forwards p50 / p95 | rest (end to end − both) p50 / p95 |")
    print("|---|---|---|---|")
    for level in levels:
        rest = [t - f - m for t, f, m in zip(level.latencies, level.first_stage, level.model, strict=True)]
        cells = [
            f"{level.percentile(0.5, part):.0f} / {level.percentile(0.95, part):.0f}"
            for part in (level.first_stage, level.model, rest)
        ]
        print(f"| {level.mode} x{level.clients} | {' | '.join(cells)} |")
    for level in levels:
        for error in sorted(set(level.errors))[:3]:
            print(f"{level.mode} x{level.clients}: {error}")


if __name__ == "__main__":
    main()
