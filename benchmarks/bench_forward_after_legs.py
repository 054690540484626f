"""
Does a first-stage leg slow the reranker's forward pass that follows it? The shipped ranker (no cache) reranks the
hybrid top 30 of each query alone and right after the lexical leg, the dense leg and the whole hybrid retriever,
interleaved per query; prints each condition's median and p95 of `meta["model_seconds"]`.

    python benchmarks/bench_forward_after_legs.py --index scifact --collection scifact --data-dir /tmp/hr-scifact \\
        --first-stage-run runs/dev_hybrid.trec
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--first-stage-run", type=Path, required=True, help="TREC run whose top 30 are reranked")
    parser.add_argument("--index", default="scifact")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--data-dir", type=Path, default=Path(".haystack-rerank"))
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from haystack_rerank import beir, build, config
    from haystack_rerank.config import Settings

    corpus = {d.id: d for d in beir.load_corpus(args.dataset / "corpus.jsonl")}
    queries = beir.load_queries(args.dataset / "queries_dev.jsonl")
    run = beir.read_trec_run(args.first_stage_run)
    ranker = build.ranker(top_k=10, cache=None)
    settings = Settings(index=args.index, collection=args.collection, data_dir=args.data_dir)
    retriever = build.hybrid_retriever(settings, top_k=config.RERANK_DEPTH)
    ranker.warm_up()
    retriever.warm_up()
    lists = []
    for qid in list(run)[: args.queries]:
        top = sorted(run[qid].items(), key=lambda kv: -kv[1])[: config.RERANK_DEPTH]
        lists.append((queries[qid], [corpus[doc_id] for doc_id, _ in top]))
    legs = {
        "alone": lambda query: None,
        "after the lexical leg": retriever.retrieve_lexical,
        "after the dense leg": retriever.retrieve_dense,
        "after hybrid": lambda query: retriever.run(query=query),
    }
    seconds: dict[str, list[float]] = {name: [] for name in legs}
    for _ in range(args.rounds):
        for query, documents in lists:
            for name, leg in legs.items():
                leg(query)
                seconds[name].append(ranker.run(query=query, documents=documents)["meta"]["model_seconds"])
    print(f"{ranker.model} ({ranker.backend} {ranker.precision}), {config.RERANK_DEPTH} candidates, "
          f"{len(lists)} queries x {args.rounds}")  # fmt: skip
    for name, values in seconds.items():
        ms = np.array(values) * 1000
        print(f"{name}: median {statistics.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms")


if __name__ == "__main__":
    main()
