"""Embedded Qdrant searches with one BLAS thread, so no OpenBLAS worker is left spinning beside the reranker."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from haystack import Document
from threadpoolctl import threadpool_info

from haystack_rerank.blas_threads import single_blas_thread
from haystack_rerank.document_stores import QdrantStore


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    """numpy's BLAS as a process starts it here: one thread per core (2)."""
    if not blas_threads() or set(blas_threads()) == {1}:
        pytest.skip("no multi-threaded BLAS library that threadpoolctl can see")
    before = set(blas_threads())
    yield
    assert set(blas_threads()) == before


def test_one_thread_inside_and_restored_after(two_blas_threads):
    with single_blas_thread():
        assert set(blas_threads()) == {1}
    assert set(blas_threads()) != {1}


def test_concurrent_blocks_take_turns_and_restore(two_blas_threads):
    inside: list[set[int]] = []

    def search() -> None:
        with single_blas_thread():
            inside.append(set(blas_threads()))

    workers = [threading.Thread(target=search) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert inside == [{1}] * 8
    assert set(blas_threads()) != {1}  # each block restored in the thread that lowered it


def test_embedded_qdrant_search_runs_on_one_blas_thread(two_blas_threads, monkeypatch):
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    store = QdrantStore(location=":memory:", index="blas", embedding_dim=4)
    rng = np.random.default_rng(0)
    store.write_documents([Document(id=str(i), content=f"d{i}", embedding=rng.random(4).tolist()) for i in range(20)])
    during: list[set[int]] = []
    search = QdrantDocumentStore._query_by_embedding

    def recording(self, *args, **kwargs):
        during.append(set(blas_threads()))
        return search(self, *args, **kwargs)

    monkeypatch.setattr(QdrantDocumentStore, "_query_by_embedding", recording)
    found = store._query_by_embedding(rng.random(4).tolist(), top_k=5)
    assert len(found) == 5
    assert during == [{1}]
    assert set(blas_threads()) != {1}
