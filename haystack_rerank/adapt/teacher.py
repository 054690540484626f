"""
Candidates from the package's hybrid retriever, and the teacher's soft labels over each candidate list.

The teacher is the current cross-encoder, optionally ensembled with the fused first-stage score (its own
``alpha``: ``alpha * sigmoid(logit) + (1 - alpha) * min-max(first-stage)``, the shipped reranking score).
Every pair goes through the ranker's score cache (a `DiskRerankCache` in the work folder), so a re-run
costs nothing.

False negatives: a candidate that is not a positive but that the teacher scores within ``margin`` of the
positive (or above it) is probably relevant too (an unjudged or near-duplicate passage): it is dropped from
that training list rather than trained as a negative. A pseudo-query whose source passage the teacher
ranks below ``max_positive_rank`` is dropped as a bad query (the teacher and the query disagree).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from haystack import Document
from tqdm.auto import tqdm

from haystack_rerank.finetune.data import corpus_text


@dataclass
class TrainingQuery:
    """A query to learn from: a pseudo-query (one source) or a labelled query (its judged positives)."""

    id: str
    text: str
    positives: list[str]
    hide_title: bool = False
    removed_sentence: str | None = None


@dataclass
class ScoredList:
    """A query's candidates, best teacher score first: (doc id, teacher score, first-stage score)."""

    query_id: str
    query: str
    positives: list[str]
    candidates: list[tuple[str, float, float]]
    texts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "query": self.query,
            "positives": self.positives,
            "candidates": [list(item) for item in self.candidates],
            "texts": self.texts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoredList:
        return cls(
            query_id=data["query_id"],
            query=data["query"],
            positives=list(data["positives"]),
            candidates=[(str(d), float(t), float(f)) for d, t, f in data["candidates"]],
            texts=dict(data["texts"]),
        )


def shown_text(corpus: Mapping[str, tuple[str, str]], doc_id: str, query: TrainingQuery) -> str:
    """The text the teacher and the students read for `doc_id` under `query` (title hidden, sentence removed)."""
    title, text = corpus[doc_id]
    if query.removed_sentence and doc_id in query.positives:
        text = " ".join(text.replace(query.removed_sentence, " ").split())
    return text if query.hide_title else corpus_text(title, text)


def score_candidates(
    queries: Sequence[TrainingQuery],
    corpus: Mapping[str, tuple[str, str]],
    *,
    retriever: Any,
    ranker: Any,
    depth: int,
    progress_bar: bool = True,
) -> list[ScoredList]:
    """
    For each query: the hybrid top `depth` (its positives added when the first stage missed them), scored by
    the teacher `ranker` (a `CrossEncoderRanker`; its `alpha` makes it the ensemble). Cached pairs are free.
    """
    scored: list[ScoredList] = []
    for query in tqdm(queries, desc="Teacher scores", unit="query", disable=not progress_bar):
        fused = retriever.run(query=query.text, top_k=depth)["documents"]
        floor = min((d.score for d in fused if d.score is not None), default=0.0)
        present = {d.id for d in fused}
        fused = list(fused) + [Document(id=p, score=floor, content="") for p in query.positives if p not in present]
        documents = [
            replace(d, content=shown_text(corpus, d.id, query), meta={}, embedding=None)
            for d in fused
            if d.id in corpus
        ]
        first_stage = {d.id: float(d.score or 0.0) for d in documents}
        ranked = ranker.run(query=query.text, documents=documents, top_k=len(documents))["documents"]
        scored.append(
            ScoredList(
                query_id=query.id,
                query=query.text,
                positives=list(query.positives),
                candidates=[(d.id, float(d.score or 0.0), first_stage[d.id]) for d in ranked],
                texts={d.id: d.content or "" for d in documents},
            )
        )
    return scored


@dataclass
class FilterReport:
    kept_lists: int = 0
    dropped_positive_rank: int = 0
    dropped_too_short: int = 0
    false_negatives_removed: int = 0


def training_lists(
    scored: Iterable[ScoredList],
    *,
    margin: float,
    max_positive_rank: int,
    list_size: int,
) -> tuple[list[dict[str, Any]], FilterReport]:
    """
    One training list per (query, positive): the positive first, then up to `list_size - 1` negatives (the
    teacher's ranking order), suspected false negatives removed. Each item is (doc id, text, teacher score).
    """
    report = FilterReport()
    lists: list[dict[str, Any]] = []
    for item in scored:
        order = [doc for doc, _, _ in item.candidates]
        teacher = {doc: score for doc, score, _ in item.candidates}
        for positive in item.positives:
            if positive not in teacher:
                continue
            if order.index(positive) >= max_positive_rank:
                report.dropped_positive_rank += 1
                continue
            negatives = []
            for doc in order:
                if doc in item.positives:
                    continue
                if teacher[doc] >= teacher[positive] - margin:
                    report.false_negatives_removed += 1
                    continue
                negatives.append(doc)
            if len(negatives) < 2:
                report.dropped_too_short += 1
                continue
            chosen = [positive, *negatives[: list_size - 1]]
            lists.append(
                {
                    "query_id": item.query_id,
                    "query": item.query,
                    "docs": [(doc, item.texts[doc], teacher[doc]) for doc in chosen],
                }
            )
    report.kept_lists = len(lists)
    return lists, report
