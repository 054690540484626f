"""
nDCG@10, Recall@30 (the shipped rerank depth) and Recall@100 of TREC runs; each run's nDCG@10 is paired against
the first run's (t-test, queries better / worse). A run cut at depth N has Recall@100 = Recall@N.

    python benchmarks/paired_runs.py --qrels ../shared/data/scifact/qrels/dev.tsv base.trec candidate.trec ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from haystack_rerank import beir
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("runs", type=Path, nargs="+", help="the first one is the baseline")
    args = parser.parse_args()
    qrels = beir.load_qrels(args.qrels)
    runs = {path: beir.read_trec_run(path) for path in args.runs}
    baseline = args.runs[0]
    print(f"| run | nDCG@10 | Recall@30 | Recall@100 | nDCG@10 vs {baseline.name} |\n|---|---|---|---|---|")
    for path, run in runs.items():
        scores = evaluate_run(qrels, run, ("ndcg@10", "recall@30", "recall@100"))
        versus = ""
        if path != baseline:
            test = paired_test(qrels, runs[baseline], run)
            versus = f"{test['lift']:+.4f} (p={test['p_value']:.2g}, +{test['improved']}/-{test['hurt']})"
        recalls = f"{scores['recall@30']:.3f} | {scores['recall@100']:.3f}"
        print(f"| {path.name} | {scores['ndcg@10']:.4f} | {recalls} | {versus} |")


if __name__ == "__main__":
    main()
