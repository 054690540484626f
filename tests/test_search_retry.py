"""
A search that failed because a node left while it ran (OpenSearch moves a failed query phase to another shard
copy, not the fetch phase) is run again; other failures are not. The real node answers; the lost node's error is
injected (the real one is raced in tests/test_cluster.py, a node killed while queries run).
"""

from __future__ import annotations

import pytest
from corpus_small import DOCUMENTS
from opensearchpy.exceptions import TransportError

from haystack_rerank.components.retrievers import OpenSearchBM25Retriever
from haystack_rerank.errors import ServiceUnavailableError


def search_failure(cause: str) -> TransportError:
    """The error opensearch-py raises for a search whose shard failed with `cause` (the body OpenSearch sends)."""
    body = {
        "error": {
            "root_cause": [{"type": cause, "reason": f"[node-1][127.0.0.1:9351][indices:data/read/search] {cause}"}],
            "type": "search_phase_execution_exception",
            "reason": "Partial shards failure",
            "phase": "fetch",
        },
        "status": 500,
    }
    return TransportError(500, "search_phase_execution_exception", body)


def failing_first(search, failures: list[TransportError], calls: list[int]):
    """`search` that raises `failures` one by one on its first calls, then searches."""

    def wrapped(*args, **kwargs):
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return search(*args, **kwargs)

    return wrapped


def failing_first_async(search, failures: list[TransportError], calls: list[int]):
    async def wrapped(*args, **kwargs):
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return await search(*args, **kwargs)

    return wrapped


@pytest.fixture
def store(opensearch_store):
    opensearch_store.write_documents(DOCUMENTS)
    return opensearch_store


def ids(out) -> list[str]:
    return [d.id for d in out["documents"]]


def test_search_whose_node_left_is_run_again_with_the_same_answer(store, monkeypatch):
    retriever = OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)
    expected = ids(retriever.run(query="blood pressure"))
    calls: list[int] = []
    failures = [search_failure("node_disconnected_exception"), search_failure("node_not_connected_exception")]
    monkeypatch.setattr(store._client, "search", failing_first(store._client.search, failures, calls))
    assert ids(retriever.run(query="blood pressure")) == expected and expected
    assert len(calls) == 3


async def test_async_search_whose_node_left_is_run_again_with_the_same_answer(store, monkeypatch):
    retriever = OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)
    expected = ids(await retriever.run_async(query="blood pressure"))
    calls: list[int] = []
    failures = [search_failure("node_disconnected_exception")]
    client = store._async_client
    monkeypatch.setattr(client, "search", failing_first_async(client.search, failures, calls))
    assert ids(await retriever.run_async(query="blood pressure")) == expected and expected
    assert len(calls) == 2


def test_node_left_on_every_attempt_is_a_clear_error_after_the_retries(store, monkeypatch):
    retriever = OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)
    retriever.run(query="blood pressure")  # the client is made
    calls: list[int] = []
    failures = [search_failure("node_disconnected_exception") for _ in range(10)]
    monkeypatch.setattr(store._client, "search", failing_first(store._client.search, failures, calls))
    with pytest.raises(ServiceUnavailableError, match="did not answer"):
        retriever.run(query="blood pressure")
    assert len(calls) == 1 + store._kwargs["max_retries"]


def test_other_search_failures_are_not_run_again(store, monkeypatch):
    retriever = OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)
    retriever.run(query="blood pressure")
    calls: list[int] = []
    failures = [search_failure("query_shard_exception")]
    monkeypatch.setattr(store._client, "search", failing_first(store._client.search, failures, calls))
    with pytest.raises(TransportError, match="query_shard_exception"):
        retriever.run(query="blood pressure")
    assert len(calls) == 1
