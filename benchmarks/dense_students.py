"""
Dense leg alone: the start bi-encoder against `adapt`'s bi-encoder students, with paired tests (BENCHMARKS "The
whole adaptation on 5,183 passages" and "In-batch negatives for the bi-encoder student").

Stored vectors (the collections `adapt` filled; needs its OpenSearch index and data dir):

    python benchmarks/dense_students.py --dataset ../shared/data/scifact --split dev --data-dir runs/adapt5k/data \
        --index adapt5k runs/adapt5k/out/bi-encoder runs/adapt5k-ib/out/bi-encoder

In memory (students never indexed, e.g. trained without a train slice), on that slice:

    python benchmarks/dense_students.py --dataset ../shared/data/scifact --split train --slice train_slice150.jsonl \
        runs/bi-kl/model runs/bi-ib/model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bi_encoder_slice import dense_run

from haystack_rerank.adapt.run import fingerprint, load_corpus
from haystack_rerank.adapt.stores import AdaptStores
from haystack_rerank.beir import load_split
from haystack_rerank.config import Settings
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, resolve_model


def stored_runs(args: argparse.Namespace, queries: dict[str, str]) -> dict[str, dict]:
    settings = Settings(lexical="opensearch", index=args.index, collection=args.index, data_dir=args.data_dir)
    stores = AdaptStores(settings, progress_bar=False)
    legs = {"start": stores.retriever(DEFAULT_EMBEDDING_MODEL, args.index)}
    legs.update({str(s): stores.retriever(str(s), f"{args.index}-bi-{fingerprint(s)}") for s in args.students})
    return {
        name: {
            qid: {d.id: float(d.score) for d in leg.retrieve_dense(text, top_k=100)} for qid, text in queries.items()
        }
        for name, leg in legs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("students", type=Path, nargs="+", help="bi-encoder folders, compared in this order")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--slice", type=Path, help="jsonl of queries: evaluate on these only, embedded in memory")
    parser.add_argument("--data-dir", type=Path, help="HAYSTACK_RERANK_DATA of the adapt run (stored vectors)")
    parser.add_argument("--index", help="OpenSearch index and base collection of the adapt run (stored vectors)")
    args = parser.parse_args()

    split = load_split(args.dataset, args.split)
    if args.slice:
        held = {json.loads(line)["_id"] for line in args.slice.open(encoding="utf-8")}
        queries = {qid: text for qid, text in split.queries.items() if qid in held}
        corpus = load_corpus(str(args.dataset / "corpus.jsonl"))
        models = {"start": DEFAULT_EMBEDDING_MODEL, **{str(s): str(s) for s in args.students}}
        runs = {name: dense_run(resolve_model(path), corpus, queries) for name, path in models.items()}
    elif args.data_dir and args.index:
        queries = split.queries
        runs = stored_runs(args, queries)
    else:
        parser.error("pass --slice (in memory) or --data-dir and --index (the vectors adapt stored)")
    qrels = {qid: judged for qid, judged in split.qrels.items() if qid in queries}
    names = list(runs)
    for index, name in enumerate(names):
        line = f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in evaluate_run(qrels, runs[name]).items())
        for other in dict.fromkeys(["start", *names[max(0, index - 1) : index]]):
            if other != name:
                test = paired_test(qrels, runs[other], runs[name])
                line += (
                    f"; vs {other} {test['lift']:+.4f} (p={test['p_value']:.2g}, +{test['improved']}/-{test['hurt']})"
                )
        print(line, flush=True)


if __name__ == "__main__":
    main()
