"""
The interpolation weight `alpha` checked without labels: keyword and question pseudo-queries written from the corpus
(their source passage is the relevant one; sources the shipped starter trained on are left out), the hybrid top N
scored once by the cross-encoder, then every alpha applied to the same scores (the ranker's own formula:
alpha * sigmoid(CE) + (1 - alpha) * min-max(fused score)). Prints nDCG@10 per alpha, paired against the shipped 0.5.

    python benchmarks/alpha_on_pseudo_queries.py --corpus ../shared/data/scifact/corpus.jsonl \\
        --index bench_scifact --collection bench_scifact --data-dir runs/cpu/data --queries 400
"""

from __future__ import annotations

import argparse
from pathlib import Path

ALPHAS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
STARTER_RUN = {"count": 300, "seed": 42}  # the starter's pseudo-queries (its card): their sources are excluded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from tqdm import tqdm

    from haystack_rerank import build
    from haystack_rerank.adapt import pseudo_queries
    from haystack_rerank.adapt.run import load_corpus
    from haystack_rerank.components.rankers._scoring import min_max_normalise
    from haystack_rerank.config import Settings
    from haystack_rerank.evaluation.metrics import evaluate_run, paired_test

    corpus = load_corpus(str(args.corpus))
    trained = {q.source for q in pseudo_queries.generate(corpus, **STARTER_RUN) if not q.held_out}
    fresh = {doc: text for doc, text in corpus.items() if doc not in trained}
    queries = pseudo_queries.generate(fresh, count=args.queries, strategies=("keywords", "question"), seed=args.seed)
    settings = Settings(index=args.index, collection=args.collection, data_dir=args.data_dir)
    retriever = build.hybrid_retriever(settings)
    retriever.warm_up()
    ranker = build.ranker(top_k=args.depth, cache=None, alpha=None)
    ranker.warm_up()
    scored = {}
    for query in tqdm(queries, desc="pseudo-queries", unit="query"):
        candidates = retriever.run(query=query.text, top_k=args.depth)["documents"]
        by_model = ranker.rank_by_model(query.text, candidates, top_k=len(candidates))["documents"]
        ce = {doc.id: doc.score for doc in by_model}
        fused = min_max_normalise([doc.score for doc in candidates])
        scored[query.id] = [(doc.id, ce[doc.id], fs) for doc, fs in zip(candidates, fused, strict=True)]
    qrels = {query.id: {query.source: 1} for query in queries}
    runs = {}
    for alpha in ALPHAS:
        runs[alpha] = {
            qid: {doc: alpha * ce + (1 - alpha) * fs for doc, ce, fs in rows} for qid, rows in scored.items()
        }
    print(f"{len(queries)} pseudo-queries ({len(trained)} starter training sources left out), top {args.depth}\n")
    print("| alpha | nDCG@10 | vs 0.5 |\n|---|---|---|")
    for alpha, run in runs.items():
        ndcg = evaluate_run(qrels, run, ("ndcg@10",))["ndcg@10"]
        test = paired_test(qrels, runs[0.5], run) if alpha != 0.5 else None
        versus = f"{test['lift']:+.4f} (p={test['p_value']:.2g}, +{test['improved']}/-{test['hurt']})" if test else ""
        print(f"| {alpha:g} | {ndcg:.4f} | {versus} |")


if __name__ == "__main__":
    main()
