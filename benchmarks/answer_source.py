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

from judged_splits import add_arguments, judged_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()

    from scipy.stats import binomtest
    from tqdm import tqdm

    from haystack_rerank import build
    from haystack_rerank.components.readers import ExtractiveAnswerer

    ranker = build.ranker(model=args.model, top_k=3)
    ranker.warm_up()
    answerers = {mode: ExtractiveAnswerer(ranker=ranker, quote_top_document=mode) for mode in (True, False)}
    print("| split | queries | quoted from a relevant document: top document / best sentence | differ | "
          "top better / worse | McNemar p |\n| --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for split in judged_splits(args):
        hits = {True: [], False: []}
        for qid in tqdm(split.qids, desc=split.name):
            query, relevant = split.queries[qid], split.relevant(qid)
            reranked = ranker.run(query=query, documents=split.candidates(qid, depth=args.depth))
            for mode, answerer in answerers.items():
                answers = answerer.run(query=query, documents=reranked["documents"])["answers"]
                source = next((a.document.id for a in answers if a.document is not None), None)
                hits[mode].append(source in relevant)
        better = sum(a and not b for a, b in zip(hits[True], hits[False], strict=True))
        worse = sum(b and not a for a, b in zip(hits[True], hits[False], strict=True))
        p_value = binomtest(better, better + worse).pvalue if better + worse else 1.0
        n = len(split.qids)
        print(f"| {split.name} | {n} | {sum(hits[True]) / n:.3f} / {sum(hits[False]) / n:.3f} | "
              f"{better + worse} | +{better} / -{worse} | {p_value:.2g} |")  # fmt: skip


if __name__ == "__main__":
    main()
