"""
Choose the reranker's `low_confidence_threshold` on a dev split: for each candidate threshold, how often the
top-1 document is relevant when the cross-encoder's best score (`meta["top_relevance"]`) is under it vs over it.

    python benchmarks/calibrate_confidence.py --first-stage-run runs/dev_hybrid.trec --depth 20
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--first-stage-run", type=Path, required=True)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")
    args = parser.parse_args()

    import haystack_rerank  # noqa: F401
    from haystack_rerank import beir
    from haystack_rerank.beir import load_split
    from haystack_rerank.build import ranker as shipped_ranker

    split = load_split(args.dataset, args.split)
    corpus = {d.id: d for d in beir.load_corpus(split.corpus_path)}
    first = beir.read_trec_run(args.first_stage_run)
    ranker = shipped_ranker(model=args.model, top_k=args.depth)
    rows = []
    for qid, text in split.queries.items():
        top = sorted(first.get(qid, {}).items(), key=lambda kv: -kv[1])[: args.depth]
        candidates = [replace(corpus[d], score=s) for d, s in top]
        out = ranker.run(query=text, documents=candidates)
        relevant = out["documents"][0].id in split.qrels[qid]
        rows.append((out["meta"]["top_relevance"], relevant))
    print(f"{len(rows)} queries; top-1 relevant overall: {sum(r for _, r in rows) / len(rows):.2f}\n")
    print("| threshold | queries under it | top-1 relevant under | top-1 relevant over |")
    print("|---|---|---|---|")
    for threshold in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        under = [r for s, r in rows if s < threshold]
        over = [r for s, r in rows if s >= threshold]
        print(f"| {threshold} | {len(under)} | {_share(under)} | {_share(over)} |")


def _share(flags: list[bool]) -> str:
    return f"{sum(flags) / len(flags):.2f}" if flags else "–"


if __name__ == "__main__":
    main()
