"""
Hybrid retrieval latency: each leg alone and both together, on the same queries in one run.
Goal: hybrid ≤ 1.15 × the slower leg (the legs overlap; fusion costs well under a millisecond).

    python benchmarks/bench_hybrid.py --index scifact --collection scifact --data-dir /tmp/hr-scifact
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=Path("../shared/data/scifact/queries_dev.jsonl"))
    parser.add_argument("--index", default="scifact")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--data-dir", type=Path, default=Path(".haystack-rerank"))
    parser.add_argument("--lexical", default="opensearch", choices=["opensearch", "memory"])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--query-threads", type=int, default=1, help="compared with torch's default")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries, legs interleaved")
    args = parser.parse_args()

    import torch

    from haystack_rerank import beir, build
    from haystack_rerank.config import Settings

    settings = Settings(lexical=args.lexical, index=args.index, collection=args.collection, data_dir=args.data_dir)
    retriever = build.hybrid_retriever(settings, top_k=args.depth, lexical_top_k=args.depth, dense_top_k=args.depth)
    retriever.warm_up()
    queries = list(beir.load_queries(args.queries).values())
    embedder = retriever.text_embedder

    def with_threads(threads: int | None, call):
        def run(query: str):
            embedder.threads = threads
            return call(query)

        return run

    calls = {}
    for label, threads in (
        (f"torch default ({torch.get_num_threads()})", None),
        (str(args.query_threads), args.query_threads),
    ):
        calls[(label, "lexical")] = with_threads(threads, lambda q: retriever.retrieve_lexical(q))
        calls[(label, "dense")] = with_threads(threads, lambda q: retriever.retrieve_dense(q))
        calls[(label, "hybrid")] = with_threads(threads, lambda q: retriever.run(query=q))
    for call in calls.values():  # warm every path once
        call(queries[0])
    seconds: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    fusion: list[float] = []
    for _ in range(args.rounds):
        for query in queries:
            for key, call in calls.items():  # interleaved, so drift on a noisy machine hits all paths alike
                started = time.perf_counter()
                out = call(query)
                seconds[key].append(time.perf_counter() - started)
                if isinstance(out, dict):
                    fusion.append(out["meta"]["fusion_seconds"])
    print(f"{len(queries)} queries x {args.rounds} rounds, {args.depth} candidates per leg, lexical={args.lexical}\n")
    print(
        "| query-embedding threads | lexical alone p50 / p95 ms | dense alone p50 / p95 ms | hybrid p50 / p95 ms "
        "| hybrid / slower leg (median per query) | hybrid / (lexical + dense) |"
    )
    print("|---|---|---|---|---|---|")
    for label in dict.fromkeys(label for label, _ in calls):
        ms = {path: np.array(seconds[(label, path)]) * 1000 for path in ("lexical", "dense", "hybrid")}
        slower = np.maximum(ms["lexical"], ms["dense"])
        cells = [f"{np.percentile(v, 50):.1f} / {np.percentile(v, 95):.1f}" for v in ms.values()]
        print(
            f"| {label} | {' | '.join(cells)} | {statistics.median(ms['hybrid'] / slower):.3f} "
            f"| {statistics.median(ms['hybrid'] / (ms['lexical'] + ms['dense'])):.3f} |"
        )
    print(f"\nRRF fusion p50 {np.percentile(fusion, 50) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
