"""
RRF weight of the dense leg when the first stage uses a bi-encoder student: choose it on a train slice (with a
student that never saw the slice), then report the same weights on an evaluation split (BENCHMARKS "RRF weights
with the student"). Needs the OpenSearch index and the student's collection that `adapt` filled.

    python benchmarks/rrf_weights.py --data-dir runs/adapt5k/data --index adapt5k \
        --slice train_slice150.jsonl --slice-student runs/bi-ib/model --student runs/adapt5k-ib/out/bi-encoder \
        --dataset ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bi_encoder_slice import dense_run
from haystack import Document

from haystack_rerank.adapt.run import fingerprint, load_corpus
from haystack_rerank.adapt.selection import DENSE_WEIGHTS
from haystack_rerank.adapt.stores import AdaptStores
from haystack_rerank.beir import load_qrels, load_split
from haystack_rerank.components.joiners.reciprocal_rank_fusion import ReciprocalRankFusion
from haystack_rerank.config import Settings
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL

WEIGHTS = DENSE_WEIGHTS  # the weights `adapt` chooses from


def fuse(lexical: dict[str, list[Document]], dense: dict[str, list[Document]], weight: float) -> dict:
    rrf = ReciprocalRankFusion(legs=["lexical", "dense"], k=60, weights={"dense": weight})
    return {
        q: {d.id: d.score for d in rrf.fuse({"lexical": lexical[q], "dense": dense[q]}, top_k=100)} for q in lexical
    }


def table(name: str, qrels: dict, lexical: dict, dense: dict) -> None:
    runs = {weight: fuse(lexical, dense, weight) for weight in WEIGHTS}
    for weight, run in runs.items():
        metrics = evaluate_run(qrels, run)
        line = f"{name} dense weight {weight}: nDCG@10 {metrics['ndcg@10']:.4f} Recall@100 {metrics['recall@100']:.4f}"
        if weight != 1.0:
            test = paired_test(qrels, runs[1.0], run)
            line += f" vs 1.0 {test['lift']:+.4f} (p={test['p_value']:.2g}, +{test['improved']}/-{test['hurt']})"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="HAYSTACK_RERANK_DATA of the adapt run")
    parser.add_argument("--index", required=True, help="OpenSearch index (and base collection) of the adapt run")
    parser.add_argument("--slice", type=Path, required=True, help="jsonl of train queries the slice student never saw")
    parser.add_argument("--slice-student", type=Path, required=True, help="bi-encoder trained without the slice")
    parser.add_argument("--student", type=Path, required=True, help="adapt's bi-encoder, indexed by adapt")
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR folder (qrels/train.tsv, the eval split)")
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()

    settings = Settings(lexical="opensearch", index=args.index, collection=args.index, data_dir=args.data_dir)
    stores = AdaptStores(settings, progress_bar=False)
    lexical_leg = stores.retriever(DEFAULT_EMBEDDING_MODEL, args.index)
    student = stores.retriever(str(args.student), f"{args.index}-bi-{fingerprint(args.student)}")

    held = {json.loads(line)["_id"]: json.loads(line)["text"] for line in args.slice.open(encoding="utf-8")}
    qrels = {qid: judged for qid, judged in load_qrels(args.dataset / "qrels" / "train.tsv").items() if qid in held}
    queries = {qid: text for qid, text in held.items() if qid in qrels}
    corpus = load_corpus(str(args.dataset / "corpus.jsonl"))
    dense = {
        qid: [Document(id=doc_id, score=score) for doc_id, score in sorted(run.items(), key=lambda item: -item[1])]
        for qid, run in dense_run(str(args.slice_student), corpus, queries).items()
    }
    table("train slice", qrels, {q: lexical_leg.retrieve_lexical(t) for q, t in queries.items()}, dense)

    split = load_split(args.dataset, args.split)
    lexical = {q: lexical_leg.retrieve_lexical(t) for q, t in split.queries.items()}
    table(args.split, split.qrels, lexical, {q: student.retrieve_dense(t) for q, t in split.queries.items()})


if __name__ == "__main__":
    main()
