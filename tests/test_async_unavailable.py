"""The async paths of the stores and retrievers report a service that does not answer as clearly as the sync ones."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from haystack import Document

from haystack_rerank.components.retrievers import OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.errors import ServiceUnavailableError


@contextmanager
def silent_port(listen: bool) -> Iterator[str]:
    """A loopback URL where nothing listens (refused), or where a socket accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if listen:
        sock.listen(16)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    if not listen:
        sock.close()
    try:
        yield url
    finally:
        sock.close()


@pytest.mark.parametrize("server", ["refusing", "hanging"])
async def test_opensearch_async_paths_raise_service_unavailable(server):
    with silent_port(listen=server == "hanging") as url:
        store = OpenSearchStore(hosts=url, index="x", timeout=1, max_retries=0)
        retriever = OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)
        calls = {
            "count_documents_async": store.count_documents_async(),
            "write_documents_async": store.write_documents_async([Document(id="a", content="text")]),
            "filter_documents_async": store.filter_documents_async(),
            "retriever.run_async": retriever.run_async(query="blood pressure"),
        }
        for name, call in calls.items():
            with pytest.raises(ServiceUnavailableError) as raised:
                await call
            message = str(raised.value)
            assert f"OpenSearch at {url}" in message and "OPENSEARCH_HOSTS" in message, name
            assert ("timed out" if server == "hanging" else "did not answer") in message, name


async def test_opensearch_async_paths_work_on_the_real_node(opensearch_hosts, unique_name):
    store = OpenSearchStore(hosts=opensearch_hosts, index=unique_name)
    try:
        assert await store.write_documents_async([Document(id="a", content="salt raises blood pressure")]) == 1
        assert await store.count_documents_async() == 1  # written with refresh="wait_for"
        found = await OpenSearchBM25Retriever(document_store=store).run_async(query="blood pressure")
        assert [d.id for d in found["documents"]] == ["a"]
    finally:
        store.delete_index()


@pytest.mark.parametrize("server", ["refusing", "hanging"])
async def test_qdrant_server_async_paths_raise_service_unavailable(server):
    with silent_port(listen=server == "hanging") as url:
        store = QdrantStore(url=url, index="c", timeout=1, embedding_dim=4)
        calls = {
            "count_documents_async": store.count_documents_async(),
            "write_documents_async": store.write_documents_async([Document(id="a", content="x", embedding=[1.0] * 4)]),
            "retriever.run_async": QdrantEmbeddingRetriever(document_store=store).run_async(query_embedding=[1.0] * 4),
        }
        for name, call in calls.items():
            with pytest.raises(ServiceUnavailableError) as raised:
                await call
            message = str(raised.value)
            assert f"Qdrant at {url} did not answer" in message and "QDRANT_URL" in message, name
