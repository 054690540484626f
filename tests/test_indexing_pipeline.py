"""Indexing overlaps embedding with writing (a writer thread), keeps batch order and stops on a failed write."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from corpus_small import DOCUMENTS
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from haystack_rerank.errors import ServiceUnavailableError
from haystack_rerank.indexing import index_documents


class RecordingEmbedder:
    """The real document embedder, announcing when each batch starts."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.started: list[threading.Event] = [threading.Event() for _ in range(32)]
        self.calls = 0

    def run(self, documents: list) -> dict:
        self.started[self.calls].set()
        self.calls += 1
        return self.embedder.run(documents=documents)


class WaitingStore(InMemoryDocumentStore):
    """
    A real in-memory BM25 store whose write of batch i waits for the embedding of batch i+1 to start: it returns
    at once when writes overlap embedding, and only after `patience` seconds when they do not.
    """

    def __init__(self, embedder: RecordingEmbedder, batches: int, patience: float = 20) -> None:
        super().__init__()
        self.embedder, self.batches, self.patience = embedder, batches, patience
        self.written: list[list[str]] = []
        self.overlapped: list[bool] = []
        self.threads: set[str] = set()

    def write_documents(self, documents: list, policy: Any = None) -> int:
        batch = len(self.written)
        self.threads.add(threading.current_thread().name)
        if batch + 1 < self.batches:
            self.overlapped.append(self.embedder.started[batch + 1].wait(timeout=self.patience))
        self.written.append([d.id for d in documents])
        return super().write_documents(documents, policy=policy)


def vector_store() -> QdrantDocumentStore:
    return QdrantDocumentStore(location=":memory:", index="t", embedding_dim=384, progress_bar=False)


def test_batch_writes_overlap_the_embedding_of_the_next_batch_in_order(document_embedder):
    embedder = RecordingEmbedder(document_embedder)
    lexical = WaitingStore(embedder, batches=3, patience=20)
    report = index_documents(
        DOCUMENTS[:6],
        embedder=embedder,
        lexical_store=lexical,
        vector_store=vector_store(),
        batch_size=2,
        progress_bar=False,
    )
    assert report.written == report.lexical_count == report.vector_count == 6
    assert lexical.overlapped == [True, True]  # each write waited for the next embedding, which had started
    assert lexical.written == [[d.id for d in DOCUMENTS[i : i + 2]] for i in (0, 2, 4)]  # in order, once each
    assert lexical.threads != {threading.current_thread().name}  # the writes ran beside the embedding


class FailingStore(InMemoryDocumentStore):
    """A real in-memory store whose second write fails the way an unreachable OpenSearch does."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write_documents(self, documents: list, policy: Any = None) -> int:
        self.writes += 1
        if self.writes == 2:
            raise ServiceUnavailableError("OpenSearch at http://127.0.0.1:1 did not answer")
        return super().write_documents(documents, policy=policy)


def test_a_failed_write_stops_indexing_with_its_error_after_at_most_one_more_batch(document_embedder):
    embedder = RecordingEmbedder(document_embedder)
    lexical = FailingStore()
    with pytest.raises(ServiceUnavailableError, match="did not answer"):
        index_documents(
            DOCUMENTS[:10],
            embedder=embedder,
            lexical_store=lexical,
            vector_store=vector_store(),
            batch_size=2,
            progress_bar=False,
        )
    # the batches before the failure are stored, and at most the one already queued after it
    stored = sorted(d.id for d in lexical.filter_documents())
    assert stored in (sorted(d.id for d in DOCUMENTS[:2]), sorted(d.id for d in DOCUMENTS[:2] + DOCUMENTS[4:6]))
    assert embedder.calls <= 4 and lexical.writes <= 3  # it stopped instead of embedding all 5 batches
