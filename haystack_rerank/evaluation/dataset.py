"""A BEIR dataset folder: corpus.jsonl, queries_<split>.jsonl or queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haystack_rerank import beir
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import resolve_model


@dataclass
class Split:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_split(dataset: Path, split: str) -> Split:
    """The judged queries of `split` and their qrels; the corpus path is returned for (lazy) indexing."""
    dataset = Path(dataset)
    corpus = dataset / "corpus.jsonl"
    if not corpus.is_file():
        msg = f"dataset: {dataset} has no corpus.jsonl. Pass a BEIR-format folder (corpus.jsonl, queries, qrels/)."
        raise ConfigurationError(msg)
    qrels = beir.load_qrels(dataset / "qrels" / f"{split}.tsv")
    for name in (f"queries_{split}.jsonl", "queries.jsonl"):
        if (dataset / name).is_file():
            all_queries = beir.load_queries(dataset / name)
            break
    else:
        msg = f"dataset: {dataset} has neither queries_{split}.jsonl nor queries.jsonl."
        raise ConfigurationError(msg)
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    if not queries:
        msg = f"dataset: no query of {dataset} has judgements in qrels/{split}.tsv; check the split name."
        raise ConfigurationError(msg)
    return Split(corpus=corpus, queries=queries, qrels={qid: qrels[qid] for qid in queries})


def training_queries(model: str) -> set[str]:
    """Query ids a fine-tuned model was trained on (its `training_queries.json`), empty for other models."""
    folder = Path(resolve_model(model))
    record = folder / "training_queries.json"
    if not record.is_file():
        return set()
    data: Any = json.loads(record.read_text(encoding="utf-8"))
    ids = data.get("query_ids", []) if isinstance(data, dict) else data
    return {str(i) for i in ids}


def refuse_training_overlap(model: str, query_ids: set[str], split: str) -> None:
    """Evaluating a model on queries it was trained on measures memory, not ranking: refuse it."""
    overlap = training_queries(model) & query_ids
    if overlap:
        sample = ", ".join(sorted(overlap)[:5])
        msg = (
            f"eval: the reranker {model!r} was trained on {len(overlap)} of the {len(query_ids)} queries of split "
            f"{split!r} (e.g. {sample}); its scores on them would measure memorisation, not ranking. Evaluate on "
            "a split it was not trained on (e.g. dev), or use a model trained without these queries."
        )
        raise ConfigurationError(msg)
