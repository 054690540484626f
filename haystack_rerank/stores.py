"""Build the lexical and vector document stores, and the hybrid retriever over them, from `StoreSettings`."""

from __future__ import annotations

import logging
from typing import Any

from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_rerank import bm25_file
from haystack_rerank.components.embedders import QUERY_EMBEDDING_THREADS, TextEmbedder
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.settings import StoreSettings

logger = logging.getLogger(__name__)

LEXICAL_BACKENDS = ("opensearch", "memory")


def lexical_store(settings: StoreSettings) -> OpenSearchStore | InMemoryDocumentStore:
    """The BM25 store: OpenSearch, or Haystack's in-memory store loaded from its JSON file if present."""
    if settings.lexical == "opensearch":
        return OpenSearchStore(
            hosts=settings.opensearch_hosts,
            index=settings.index,
            embedding_dim=settings.embedding_dim,
            timeout=settings.opensearch_timeout,
            max_retries=settings.opensearch_max_retries,
            shards=settings.opensearch_shards,
            replicas=settings.opensearch_replicas,
        )
    if settings.lexical == "memory":
        return bm25_file.load(settings.memory_bm25_file)
    msg = f"lexical must be one of {LEXICAL_BACKENDS}, got {settings.lexical!r}."
    raise ConfigurationError(msg)


def vector_store(settings: StoreSettings) -> QdrantStore:
    """The dense store: a Qdrant server when `qdrant_url` is set, else embedded Qdrant (`path=` or `:memory:`)."""
    common: dict[str, Any] = {
        "index": settings.collection,
        "embedding_dim": settings.embedding_dim,
        "timeout": settings.qdrant_timeout,
    }
    if settings.qdrant_url:
        return QdrantStore(url=settings.qdrant_url, **common)
    path = settings.resolved_qdrant_path
    if path == ":memory:":
        return QdrantStore(location=":memory:", **common)
    return QdrantStore(path=path, **common)


def lexical_retriever(store: Any) -> Any:
    if isinstance(store, InMemoryDocumentStore):
        return InMemoryBM25Retriever(document_store=store)
    return OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)


def hybrid_retriever(
    settings: StoreSettings,
    *,
    lexical: Any | None = None,
    vectors: QdrantStore | None = None,
    **options: Any,
) -> HybridRetriever:
    """
    A `HybridRetriever` over the configured stores; pass `lexical`/`vectors` to reuse stores already open.
    """
    return HybridRetriever(
        lexical_retriever=lexical_retriever(lexical if lexical is not None else lexical_store(settings)),
        text_embedder=TextEmbedder(
            model=settings.embedding_model,
            model_kwargs=settings.embedding_model_kwargs,
            threads=QUERY_EMBEDDING_THREADS,
        ),
        embedding_retriever=QdrantEmbeddingRetriever(
            document_store=vectors if vectors is not None else vector_store(settings)
        ),
        **options,
    )
