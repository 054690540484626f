"""
The three scorers the probes compare, each returning (answer score, distractor score) per case:

- BM25 (Haystack's `InMemoryBM25Retriever`, BM25Okapi): a bag of words; IDF over every probe document,
  each case's two documents retrieved with a filter;
- a bi-encoder: the cosine of query and document embeddings computed apart (sentence-transformers);
- a cross-encoder (any sentence-transformers cross-encoder, e.g. a `finetune` output folder) reading query and
  document together: the sigmoid of its logit, in float32, at the ranker's shipped `max_length`.
"""

from __future__ import annotations

from collections.abc import Sequence

from haystack import Document

from haystack_rerank.probes.cases import ProbeCase

Pair = tuple[float, float]


def _documents(case: ProbeCase, prefix: str = "") -> tuple[Document, Document]:
    key = f"{prefix}{case.id}"
    return (
        Document(id=f"{key}/answer", content=case.answer, meta={"case": key}),
        Document(id=f"{key}/distractor", content=case.distractor, meta={"case": key}),
    )


def bm25_scores(cases: Sequence[ProbeCase]) -> list[Pair]:
    """BM25Okapi scores; IDF over the documents of `cases` plus every shipped case (so one case alone still has a
    collection behind it: over a single pair every shared word would get the same, negative, IDF)."""
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from haystack_rerank.probes.cases import load_cases

    given = set(cases)
    background = [case for case in load_cases() if case not in given]
    store = InMemoryDocumentStore(bm25_algorithm="BM25Okapi")
    store.write_documents([doc for case in cases for doc in _documents(case)])
    store.write_documents([doc for case in background for doc in _documents(case, prefix="background:")])
    retriever = InMemoryBM25Retriever(document_store=store, top_k=2, scale_score=False)
    pairs = []
    for case in cases:
        found = retriever.run(query=case.query, filters={"field": "meta.case", "operator": "==", "value": case.id})
        score = {doc.id: float(doc.score or 0.0) for doc in found["documents"]}
        pairs.append((score[f"{case.id}/answer"], score[f"{case.id}/distractor"]))
    return pairs


def bi_encoder_scores(cases: Sequence[ProbeCase], model: str) -> list[Pair]:
    from sentence_transformers import SentenceTransformer

    from haystack_rerank.models import resolve_model

    encoder = SentenceTransformer(resolve_model(model), device="cpu")
    encode = lambda texts: encoder.encode(  # noqa: E731
        list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=64, show_progress_bar=False
    )
    queries = encode(case.query for case in cases)
    answers = encode(case.answer for case in cases)
    distractors = encode(case.distractor for case in cases)
    return [(float(q @ a), float(q @ d)) for q, a, d in zip(queries, answers, distractors, strict=True)]


def cross_encoder_scores(cases: Sequence[ProbeCase], model: str, max_length: int | None = None) -> list[Pair]:
    """Sigmoid scores of sentence-transformers' `CrossEncoder.predict` (float32), all pairs in one batched call."""
    from sentence_transformers import CrossEncoder
    from torch.nn import Sigmoid

    from haystack_rerank.config import RERANK_MAX_LENGTH
    from haystack_rerank.models import resolve_model

    cross_encoder = CrossEncoder(resolve_model(model), device="cpu", max_length=max_length or RERANK_MAX_LENGTH)
    pairs = [(case.query, text) for case in cases for text in (case.answer, case.distractor)]
    scores = cross_encoder.predict(pairs, batch_size=64, activation_fn=Sigmoid(), show_progress_bar=False)
    return [(float(scores[2 * i]), float(scores[2 * i + 1])) for i in range(len(cases))]
