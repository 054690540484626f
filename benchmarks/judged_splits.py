"""
The judged splits the answer-stage benchmarks read: `--split dataset:split:first-stage TREC run` (repeatable), the
first split sampled (seeded) to `--train-queries` queries: it is the one thresholds and defaults are chosen on.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DATASETS = {"scifact": Path("../shared/data/scifact"), "cisi": Path("../shared/data/cisi")}
SAMPLE_SEED = 13


@dataclass
class JudgedSplit:
    name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus: dict[str, Any]
    first_stage: dict[str, dict[str, float]]
    qids: list[str]

    def candidates(self, qid: str, exclude: frozenset[str] | set[str] = frozenset(), depth: int = 30) -> list[Any]:
        """The first stage's top `depth` documents of `qid` (without `exclude`), with their first-stage scores."""
        ranked = sorted(self.first_stage[qid].items(), key=lambda kv: -kv[1])
        kept = [(doc, score) for doc, score in ranked if doc not in exclude][:depth]
        return [replace(self.corpus[doc], score=score) for doc, score in kept]

    def relevant(self, qid: str) -> set[str]:
        return {doc for doc, grade in self.qrels[qid].items() if grade > 0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", action="append", required=True, help="dataset:split:first-stage TREC run")
    parser.add_argument("--depth", type=int, default=30, help="candidates reranked (the shipped depth)")
    parser.add_argument("--train-queries", type=int, default=200, help="seeded sample of the first split")
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")


def judged_splits(args: argparse.Namespace) -> Iterator[JudgedSplit]:
    """Each `--split` in turn, loaded; the first one sampled to `--train-queries` queries."""
    from haystack_rerank import beir

    for index, spec in enumerate(args.split):
        dataset, split_name, run_path = spec.split(":", 2)
        split = beir.load_split(DATASETS[dataset], split_name)
        first_stage = beir.read_trec_run(run_path)
        qids = sorted(qid for qid in split.queries if qid in first_stage)
        if index == 0 and args.train_queries < len(qids):
            qids = sorted(random.Random(SAMPLE_SEED).sample(qids, args.train_queries))
        corpus = {doc.id: doc for doc in beir.load_corpus(split.corpus_path)}
        yield JudgedSplit(f"{dataset} {split_name}", split.queries, split.qrels, corpus, first_stage, qids)
