"""
Out of domain check of `adapt` students: rerank a BEIR split's hybrid top N with the cross-encoder student and
with the shipped starter (the teacher), alone and in the shipped ensemble; with `--bi-encoder`, also retrieve with
the bi-encoder student (its vectors in a collection of their own, indexed on first use), dense alone and hybrid.
Paired tests throughout (the tables "... out of domain on CISI dev" in BENCHMARKS.md).

    python benchmarks/adapt_ood_check.py --dataset ../shared/data/cisi --student runs/scifact/cross-encoder \
        --index adapt_cisi --collection adapt_cisi --data-dir runs/cisi-data [--bi-encoder runs/scifact/bi-encoder]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from haystack_rerank.adapt.config import AdaptConfig
from haystack_rerank.adapt.report import _runs, markdown, summarize
from haystack_rerank.adapt.run import load_corpus
from haystack_rerank.adapt.stores import AdaptStores
from haystack_rerank.beir import load_split
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.config import Settings
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, STARTER_RERANK_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--student", help="cross-encoder student folder")
    parser.add_argument("--bi-encoder", help="bi-encoder student folder")
    parser.add_argument("--index", required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(".haystack-rerank"))
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    stores = AdaptStores(
        Settings(lexical="opensearch", index=args.index, collection=args.collection, data_dir=args.data_dir),
        progress_bar=False,
    )
    split = load_split(args.dataset, args.split)
    shared = MemoryRerankCache(max_entries=1_000_000)
    if not (args.student or args.bi_encoder):
        parser.error("give --student, --bi-encoder or both")
    students = {}
    if args.student:
        students = {
            "student-ce": stores.ranker(args.student, alpha=None, cache=shared),
            "student-ce+fs": stores.ranker(args.student, alpha=0.5, cache=shared),
        }
    teacher = stores.ranker(STARTER_RERANK_MODEL, alpha=0.5, cache=MemoryRerankCache(max_entries=1_000_000))
    config = AdaptConfig(corpus="", output_dir="", eval_depth=args.depth, progress_bar=False)
    first_stage = {"hybrid": stores.retriever(DEFAULT_EMBEDDING_MODEL, args.collection)}
    if args.bi_encoder:
        collection = stores.reindex(load_corpus(str(args.dataset / "corpus.jsonl")), args.bi_encoder)
        first_stage["hybrid-student-bi"] = stores.retriever(args.bi_encoder, collection)
    runs = _runs(split.queries, first_stage, teacher, students, config)
    result = {f"{args.dataset.name} {args.split}": summarize(split.qrels, runs, teacher_row=f"teacher@{args.depth}")}
    if args.output:
        args.output.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
