"""Build the lexical and vector document stores, and the hybrid retriever over them, from `StoreSettings`."""

from __future__ import annotations

import logging
from typing import Any

from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret
from haystack_integrations.components.retrievers.opensearch import OpenSearchBM25Retriever
from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever
from haystack_integrations.document_stores.opensearch import OpenSearchDocumentStore
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from haystack_rerank.components.embedders import TextEmbedder
from haystack_rerank.components.retrievers import HybridRetriever
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.settings import ENV_QDRANT_API_KEY, StoreSettings

logger = logging.getLogger(__name__)

# English analysis (stemming + stop words) on content and title; single node, so no replicas.
OPENSEARCH_MAPPINGS: dict[str, Any] = {
    "properties": {
        "content": {"type": "text", "analyzer": "english"},
        "title": {"type": "text", "analyzer": "english"},
    },
    "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
}
OPENSEARCH_SETTINGS: dict[str, Any] = {"index": {"number_of_shards": 1, "number_of_replicas": 0}}

LEXICAL_BACKENDS = ("opensearch", "memory")


def lexical_store(settings: StoreSettings) -> OpenSearchDocumentStore | InMemoryDocumentStore:
    """The BM25 store: OpenSearch, or Haystack's in-memory store loaded from its JSON file if present."""
    if settings.lexical == "opensearch":
        return OpenSearchDocumentStore(
            hosts=settings.opensearch_hosts,
            index=settings.index,
            embedding_dim=settings.embedding_dim,
            mappings=OPENSEARCH_MAPPINGS,
            settings=OPENSEARCH_SETTINGS,
        )
    if settings.lexical == "memory":
        if settings.memory_bm25_file.is_file():
            return InMemoryDocumentStore.load_from_disk(str(settings.memory_bm25_file))
        return InMemoryDocumentStore()
    msg = f"lexical must be one of {LEXICAL_BACKENDS}, got {settings.lexical!r}."
    raise ConfigurationError(msg)


def vector_store(settings: StoreSettings) -> QdrantDocumentStore:
    """The dense store: a Qdrant server when `qdrant_url` is set, else embedded Qdrant (`path=` or `:memory:`)."""
    common: dict[str, Any] = {
        "index": settings.collection,
        "embedding_dim": settings.embedding_dim,
        "similarity": "cosine",
        "progress_bar": False,
        "write_batch_size": 256,
    }
    if settings.qdrant_url:
        return QdrantDocumentStore(
            url=settings.qdrant_url, api_key=Secret.from_env_var(ENV_QDRANT_API_KEY, strict=False), **common
        )
    path = settings.resolved_qdrant_path
    if path == ":memory:":
        return QdrantDocumentStore(location=":memory:", **common)
    return QdrantDocumentStore(path=path, **common)


def lexical_retriever(store: Any) -> Any:
    if isinstance(store, InMemoryDocumentStore):
        return InMemoryBM25Retriever(document_store=store)
    return OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)


def hybrid_retriever(
    settings: StoreSettings,
    *,
    lexical: Any | None = None,
    vectors: QdrantDocumentStore | None = None,
    **options: Any,
) -> HybridRetriever:
    """
    A `HybridRetriever` over the configured stores. Pass `lexical`/`vectors` to reuse store objects already
    open in this process (embedded Qdrant allows one client per folder).
    """
    return HybridRetriever(
        lexical_retriever=lexical_retriever(lexical if lexical is not None else lexical_store(settings)),
        text_embedder=TextEmbedder(model=settings.embedding_model),
        embedding_retriever=QdrantEmbeddingRetriever(
            document_store=vectors if vectors is not None else vector_store(settings)
        ),
        **options,
    )
