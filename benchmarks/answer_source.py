"""
Which document should the extractive answer quote? For every judged query, the shipped ranker reranks the top N
first-stage candidates and the `ExtractiveAnswerer` reads the top 3; counted is how often the quoted sentence comes
from a relevant document when the answer quotes the top document (`quote_top_document=True`) and when it quotes
the best-scored sentence of any document read (False). Paired: McNemar's exact test on the queries where the two
disagree.

    python benchmarks/answer_source.py \
        --split scifact:train:runs/mem/after_scifact_train_hybrid.trec \
        --split scifact:dev:runs/mem/after_scifact_dev_hybrid.trec \
        --split cisi:dev:runs/mem/after_cisi_dev_hybrid.trec --train-queries 200
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace
from pathlib import Path

DATASETS = {"scifact": Path("../shared/data/scifact"), "cisi": Path("../shared/data/cisi")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", action="append", required=True, help="dataset:split:first-stage TREC run")
    parser.add_argument("--depth", type=int, default=30, help="candidates reranked (the shipped depth)")
    parser.add_argument("--train-queries", type=int, default=200, help="seeded sample of the first split")
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")
    args = parser.parse_args()

    from scipy.stats import binomtest
    from tqdm import tqdm

    from haystack_rerank import beir, build
    from haystack_rerank.components.readers import ExtractiveAnswerer

    ranker = build.ranker(model=args.model, top_k=3)
    ranker.warm_up()
    answerers = {mode: ExtractiveAnswerer(ranker=ranker, quote_top_document=mode) for mode in (True, False)}
    print("| split | queries | quoted from a relevant document: top document / best sentence | differ | "
          "top better / worse | McNemar p |\n| --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for index, spec in enumerate(args.split):
        name, split_name, run_path = spec.split(":", 2)
        split = beir.load_split(DATASETS[name], split_name)
        corpus = {doc.id: doc for doc in beir.load_corpus(split.corpus_path)}
        first = beir.read_trec_run(run_path)
        qids = sorted(qid for qid in split.queries if qid in first)
        if index == 0 and args.train_queries < len(qids):
            qids = sorted(random.Random(13).sample(qids, args.train_queries))
        hits = {True: [], False: []}
        for qid in tqdm(qids, desc=spec.split(":")[0] + " " + split_name):
            query = split.queries[qid]
            top = sorted(first[qid].items(), key=lambda kv: -kv[1])[: args.depth]
            reranked = ranker.run(query=query, documents=[replace(corpus[d], score=s) for d, s in top])
            relevant = {doc for doc, grade in split.qrels[qid].items() if grade > 0}
            for mode, answerer in answerers.items():
                answers = answerer.run(query=query, documents=reranked["documents"])["answers"]
                source = next((a.document.id for a in answers if a.document is not None), None)
                hits[mode].append(source in relevant)
        better = sum(a and not b for a, b in zip(hits[True], hits[False], strict=True))
        worse = sum(b and not a for a, b in zip(hits[True], hits[False], strict=True))
        p_value = binomtest(better, better + worse).pvalue if better + worse else 1.0
        n = len(qids)
        print(f"| {name} {split_name} | {n} | {sum(hits[True]) / n:.3f} / {sum(hits[False]) / n:.3f} | "
              f"{better + worse} | +{better} / -{worse} | {p_value:.2g} |")  # fmt: skip


if __name__ == "__main__":
    main()
