"""Shared fixtures: offline model loading, the real OpenSearch node, unique index/collection names."""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"  # tests talk to loopback only

import pytest  # noqa: E402

import haystack_rerank  # noqa: E402,F401  (registers the deserialization allowlist)

OPENSEARCH_HOSTS = os.environ.get("OPENSEARCH_HOSTS", "http://127.0.0.1:9200")


def _opensearch_up() -> bool:
    from opensearchpy import OpenSearch

    try:
        return bool(OpenSearch(hosts=OPENSEARCH_HOSTS, timeout=2).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def opensearch_hosts() -> str:
    """The node started by `scripts/opensearch.sh start` (CI starts it). Outside CI a missing node skips."""
    if not _opensearch_up():
        message = f"OpenSearch is not reachable at {OPENSEARCH_HOSTS}: run `bash scripts/opensearch.sh start`."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return OPENSEARCH_HOSTS


@pytest.fixture
def unique_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def opensearch_store(opensearch_hosts, unique_name):
    """An OpenSearchDocumentStore on a fresh index, deleted after the test."""
    from haystack_rerank import build
    from haystack_rerank.config import Settings

    store = build.lexical_store(Settings(lexical="opensearch", opensearch_hosts=opensearch_hosts, index=unique_name))
    yield store
    store.delete_index()


@pytest.fixture(scope="session")
def document_embedder():
    from haystack_rerank.components.embedders import DocumentEmbedder

    embedder = DocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def text_embedder():
    from haystack_rerank.components.embedders import TextEmbedder

    embedder = TextEmbedder()
    embedder.warm_up()
    return embedder
