"""
The embedded BM25 stores side by side, one run: Haystack's `InMemoryDocumentStore` as it comes (the store before
2026-12-04) and `EnglishInMemoryStore`; seconds to write the corpus, per-query latency and quality.

    python benchmarks/bench_memory_bm25.py --dataset ../shared/data/scifact --split dev
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--top-k", type=int, default=200)
    args = parser.parse_args()

    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from haystack_rerank import beir
    from haystack_rerank.document_stores import EnglishInMemoryStore
    from haystack_rerank.evaluation.metrics import evaluate_run

    split = beir.load_split(args.dataset, args.split)
    documents = beir.load_corpus(split.corpus_path)
    print(f"{len(documents)} documents, {len(split.queries)} queries, top {args.top_k}\n")
    print("| store | write s | p50 ms | p95 ms | nDCG@10 | Recall@100 |\n|---|---|---|---|---|---|")
    for name, store in (
        ("InMemoryDocumentStore()", InMemoryDocumentStore()),
        ("EnglishInMemoryStore()", EnglishInMemoryStore()),
    ):
        started = time.perf_counter()
        store.write_documents(documents)
        written = time.perf_counter() - started
        run, latencies = {}, []
        for qid, text in split.queries.items():
            started = time.perf_counter()
            found = store.bm25_retrieval(text, top_k=args.top_k)
            latencies.append(1000 * (time.perf_counter() - started))
            run[qid] = {doc.id: doc.score for doc in found}
        scores = evaluate_run(split.qrels, run, ("ndcg@10", "recall@100"))
        p95 = statistics.quantiles(latencies, n=20)[-1]
        print(f"| {name} | {written:.1f} | {statistics.median(latencies):.1f} | {p95:.1f} | "
              f"{scores['ndcg@10']:.4f} | {scores['recall@100']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
