"""
Indexing writes at bulk cost (issue 16, item 3): OpenSearch is refreshed once per `index` run, not per batch
(`OpenSearchStore.bulk_load`: refresh_interval -1 meanwhile, restored after, also after a failure or a crash);
embedded Qdrant syncs SQLite once per write call, not per point. Documents are searchable when indexing returns.
Real services: the OpenSearch node and embedded Qdrant; a small deterministic embedder stands in for the model.
"""

from __future__ import annotations

import shutil
import sqlite3
import zlib
from typing import Any

import numpy as np
import pytest
from haystack import Document

from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.document_stores.opensearch import BULK_LOAD_MARKER
from haystack_rerank.errors import ServiceUnavailableError
from haystack_rerank.indexing import index_documents

TOPICS = ("sodium", "insulin", "malaria", "vitamin", "protein")
DOCS = [Document(id=f"d{i}", content=f"document {i} about {TOPICS[i % 5]}") for i in range(40)]


class HashEmbedder:
    """Deterministic 384-d unit vectors from the text: what the writes need, without loading a model."""

    model = "hash-embedder"

    def run(self, documents: list[Document]) -> dict:
        out = []
        for doc in documents:
            vector = np.random.default_rng(zlib.crc32(doc.content.encode())).standard_normal(384)
            out.append(
                Document(id=doc.id, content=doc.content, meta=doc.meta, embedding=list(vector / np.linalg.norm(vector)))
            )
        return {"documents": out}


def refresh_interval(store: OpenSearchStore) -> str | None:
    answer = store._client.indices.get_settings(index=store._index, name="index.refresh_interval", flat_settings=True)
    return next(iter(answer.values()), {}).get("settings", {}).get("index.refresh_interval")


def mapping_meta(store: OpenSearchStore) -> dict:
    return store._mapping_meta()


def external_refreshes(store: OpenSearchStore) -> int:
    stats = store._client.indices.stats(index=store._index, metric="refresh")["_all"]["primaries"]["refresh"]
    return int(stats.get("external_total", stats["total"]))


@pytest.fixture
def vectors(tmp_path):
    folder = str(tmp_path / "q")
    yield QdrantStore(path=folder, index="bulk", embedding_dim=384)
    QdrantStore.close_embedded(folder)


def run_index(lexical: Any, vectors: Any, documents: list[Document] = DOCS) -> Any:
    return index_documents(
        documents,
        embedder=HashEmbedder(),
        lexical_store=lexical,
        vector_store=vectors,
        batch_size=5,
        progress_bar=False,
    )


@pytest.mark.integration
def test_documents_are_searchable_when_index_returns_after_one_refresh(opensearch_store, vectors):
    opensearch_store.write_documents([Document(id="d0", content="x")])  # the index exists: its stats can be read
    refreshes = external_refreshes(opensearch_store)
    report = run_index(opensearch_store, vectors)
    assert report.written == report.lexical_count == report.vector_count == 40
    # 8 batches: with a refresh per batch ("wait_for") there were at least 8; now a few per run (the manifest
    # reads before and after the writes, the end of the bulk load), however many batches
    assert external_refreshes(opensearch_store) - refreshes < 8
    # searchable at once, no waiting: a count, a BM25 search and a dense search all see every document
    assert opensearch_store.count_documents() == 40
    hits = opensearch_store._bm25_retrieval("malaria", top_k=40)
    assert sorted(d.id for d in hits) == sorted(d.id for d in DOCS if "malaria" in d.content)
    assert vectors.count_documents() == 40
    # the index is left as it was found: default refresh_interval, no bulk-load marker
    assert refresh_interval(opensearch_store) is None and BULK_LOAD_MARKER not in mapping_meta(opensearch_store)


class FailingVectors(QdrantStore):
    """Embedded Qdrant whose third write fails like a lost server; it records the lexical index's refresh_interval
    seen while the indexing runs."""

    def __init__(self, lexical: OpenSearchStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lexical, self.writes, self.seen = lexical, 0, []

    def write_documents(self, documents: list, policy: Any = None) -> int:
        self.writes += 1
        self.seen.append(refresh_interval(self.lexical))
        if self.writes == 3:
            raise ServiceUnavailableError("Qdrant at http://127.0.0.1:1 did not answer")
        return super().write_documents(documents, policy=policy)


@pytest.mark.integration
def test_a_failed_indexing_restores_refresh_interval_and_leaves_what_it_wrote_searchable(opensearch_store, tmp_path):
    opensearch_store.write_documents([Document(id="d0", content="x")])
    opensearch_store._client.indices.put_settings(
        index=opensearch_store._index, body={"index": {"refresh_interval": "7s"}}
    )
    vectors = FailingVectors(opensearch_store, path=str(tmp_path / "q"), index="bulk", embedding_dim=384)
    try:
        with pytest.raises(ServiceUnavailableError, match="did not answer"):
            run_index(opensearch_store, vectors)
    finally:
        QdrantStore.close_embedded(str(tmp_path / "q"))
    assert vectors.seen[0] == "-1"  # refresh was off during the load
    assert refresh_interval(opensearch_store) == "7s"  # and is the index's own again after the failure
    assert BULK_LOAD_MARKER not in mapping_meta(opensearch_store)
    # the batches written before the failure (and the one already queued after it, as in test_indexing_pipeline)
    # are searchable without waiting for the 7 s refresh
    assert opensearch_store.count_documents() == 5 * (vectors.writes - 1)


@pytest.mark.integration
def test_a_bulk_load_interrupted_by_a_crash_is_repaired_by_the_next_index_run(opensearch_hosts, unique_name, vectors):
    store = OpenSearchStore(hosts=opensearch_hosts, index=unique_name, timeout=10)
    try:
        store.write_documents([Document(id="d0", content="x")])
        client = store._client
        # what a process killed during a bulk load leaves: the marker naming the interval to restore, and -1
        client.indices.put_settings(index=unique_name, body={"index": {"refresh_interval": "5s"}})
        client.indices.put_mapping(index=unique_name, body={"_meta": {BULK_LOAD_MARKER: {"refresh_interval": "5s"}}})
        client.indices.put_settings(index=unique_name, body={"index": {"refresh_interval": "-1"}})
        report = run_index(store, vectors)
        assert report.lexical_count == 40
        assert refresh_interval(store) == "5s" and BULK_LOAD_MARKER not in mapping_meta(store)
        # a write that waits for a refresh returns again (with -1 left in place it would time out)
        store.write_documents([Document(id="late", content="late document")])
        assert store.count_documents() == 41
    finally:
        store.delete_index()


@pytest.mark.integration
def test_the_bulk_load_keeps_other_meta_of_the_mapping(opensearch_store):
    opensearch_store.write_documents([Document(id="d0", content="x")])
    opensearch_store._client.indices.put_mapping(index=opensearch_store._index, body={"_meta": {"owner": "team-a"}})
    with opensearch_store.bulk_load() as write:
        assert mapping_meta(opensearch_store) == {"owner": "team-a", BULK_LOAD_MARKER: {"refresh_interval": None}}
        write([Document(id="d1", content="y")])
    assert mapping_meta(opensearch_store) == {"owner": "team-a"}
    assert opensearch_store.count_documents() == 2


def test_embedded_qdrant_writes_are_on_disk_when_the_call_returns(tmp_path):
    folder = tmp_path / "q"
    store = QdrantStore(path=str(folder), index="bulk", embedding_dim=384)
    try:
        store.write_documents(HashEmbedder().run(DOCS)["documents"])
        database = next(folder.rglob("storage.sqlite"))
        connection = store._embedded_sqlite()
        # write-ahead log with one sync per call, not SQLite's default journal with one sync per point
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        # checkpointed: the database file alone (without its log) holds every point
        copy = tmp_path / "copy.sqlite"
        shutil.copy(database, copy)
        assert sqlite3.connect(copy).execute("SELECT COUNT(*) FROM points").fetchone()[0] == 40
        store.delete_documents(["d0", "d1"])
        shutil.copy(database, copy)
        assert sqlite3.connect(copy).execute("SELECT COUNT(*) FROM points").fetchone()[0] == 38
    finally:
        QdrantStore.close_embedded(str(folder))
    reopened = QdrantStore(path=str(folder), index="bulk", embedding_dim=384)
    try:
        assert reopened.count_documents() == 38
    finally:
        QdrantStore.close_embedded(str(folder))


@pytest.mark.integration
def test_documents_an_interrupted_load_wrote_unrefreshed_are_seen_and_removed(opensearch_store, vectors):
    """A run killed inside its bulk load leaves documents written but never refreshed; the next run's manifest
    must see them (it refreshes before reading), or it could not remove those the corpus no longer holds."""
    opensearch_store.write_documents([Document(id="d0", content="x")])
    client, index = opensearch_store._client, opensearch_store._index
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})
    client.indices.put_mapping(index=index, body={"_meta": {BULK_LOAD_MARKER: {"refresh_interval": None}}})
    gone = [Document(id=f"gone{i}", content="a document the corpus no longer holds") for i in range(3)]
    opensearch_store.write_documents(gone, refresh=False)
    report = run_index(opensearch_store, vectors)
    assert report.removed == 3 and report.lexical_count == 40
    assert sorted(d.id for d in opensearch_store.filter_documents()) == sorted(d.id for d in DOCS)


@pytest.mark.integration
def test_a_manifest_read_without_permission_to_refresh_reads_what_is_searchable(opensearch_store, monkeypatch):
    from opensearchpy.exceptions import AuthorizationException

    opensearch_store.write_documents([Document(id="a", content="x", meta={"content_hash": "h"})])

    def refused(**_: Any) -> None:
        raise AuthorizationException(403, "security_exception", {"error": "no permission for indices:admin/refresh"})

    monkeypatch.setattr(opensearch_store._client.indices, "refresh", refused)
    assert opensearch_store.manifest_entries("content_hash") == {"a": "h"}
