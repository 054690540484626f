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
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries, legs interleaved")
    args = parser.parse_args()

    from haystack_rerank import beir, stores
    from haystack_rerank.settings import StoreSettings

    settings = StoreSettings(lexical=args.lexical, index=args.index, collection=args.collection, data_dir=args.data_dir)
    retriever = stores.hybrid_retriever(settings, top_k=args.depth, lexical_top_k=args.depth, dense_top_k=args.depth)
    retriever.warm_up()
    queries = list(beir.load_queries(args.queries).values())
    calls = {
        "lexical leg alone": lambda q: retriever.retrieve_lexical(q),
        "dense leg alone (embed + search)": lambda q: retriever.retrieve_dense(q),
        "hybrid (both legs + RRF)": lambda q: retriever.run(query=q),
    }
    for call in calls.values():  # warm every path once
        call(queries[0])
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    fusion: list[float] = []
    for _ in range(args.rounds):
        for query in queries:
            for name, call in calls.items():  # interleaved, so drift on a noisy machine hits all three alike
                started = time.perf_counter()
                out = call(query)
                seconds[name].append(time.perf_counter() - started)
                if isinstance(out, dict):
                    fusion.append(out["meta"]["fusion_seconds"])
    slower = np.maximum(seconds["lexical leg alone"], seconds["dense leg alone (embed + search)"])
    ratios = np.array(seconds["hybrid (both legs + RRF)"]) / slower
    print(f"{len(queries)} queries x {args.rounds} rounds, {args.depth} candidates per leg, lexical={args.lexical}\n")
    print("| path | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        ms = np.array(values) * 1000
        print(f"| {name} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} | {ms.mean():.1f} |")
    print(
        f"\nhybrid / slower leg, same query: median {statistics.median(ratios):.3f}, "
        f"p95 {np.percentile(ratios, 95):.3f}; RRF fusion p50 {np.percentile(fusion, 50) * 1000:.2f} ms"
    )
    sequential = np.array(seconds["lexical leg alone"]) + np.array(seconds["dense leg alone (embed + search)"])
    print(
        f"hybrid / (lexical + dense run one after the other): median "
        f"{statistics.median(np.array(seconds['hybrid (both legs + RRF)']) / sequential):.3f}"
    )


if __name__ == "__main__":
    main()
