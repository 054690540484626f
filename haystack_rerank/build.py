"""
The one place that builds components: document stores, embedders, retrievers, rankers and answerers.

`pipelines.py` (the YAML files), the CLI, the demo, `eval`/`sweep`, fine-tuning and the benchmarks all build
through these functions, so the same `Settings` give the same components on every path. `settings=None`
builds components that read the environment when they are built (what YAML needs: no host, path or model
written into the file); a `Settings` builds them from its values (argument > environment > default).
"""

from __future__ import annotations

from typing import Any

from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_rerank import bm25_file, config
from haystack_rerank.cache import MemoryRerankCache, RerankCache
from haystack_rerank.components.embedders import QUERY_EMBEDDING_THREADS, DocumentEmbedder, TextEmbedder
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.readers import ExtractiveAnswerer
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.config import Settings
from haystack_rerank.document_stores import EnglishInMemoryStore, OpenSearchStore, QdrantStore
from haystack_rerank.models import STARTER_RERANK_MODEL

_DEFAULT_CACHE: Any = object()  # "the shipped cache": a fresh MemoryRerankCache


def lexical_store(settings: Settings | None = None, *, fresh: bool = False) -> OpenSearchStore | InMemoryDocumentStore:
    """
    The BM25 store: OpenSearch, or Haystack's in-memory store (loaded from its JSON file unless `fresh`).
    """
    if settings is None:
        return OpenSearchStore()
    if settings.lexical == "memory":
        return EnglishInMemoryStore() if fresh else bm25_file.load(settings.memory_bm25_file)
    return OpenSearchStore(
        hosts=settings.opensearch_hosts,
        index=settings.index,
        timeout=settings.opensearch_timeout,
        max_retries=settings.opensearch_max_retries,
        shards=settings.opensearch_shards,
        replicas=settings.opensearch_replicas,
    )


def vector_store(
    settings: Settings | None = None, *, fresh: bool = False, collection: str | None = None, model: str | None = None
) -> QdrantStore:
    """
    The dense store: a Qdrant server when `qdrant_url` is set, else embedded Qdrant (a folder or `:memory:`).
    Without settings, `collection` and the vector size of `model` are written into YAML when given.
    """
    if settings is None:
        return QdrantStore(index=collection, embedding_dim=config.embedding_dim(None, model) if model else None)
    common: dict[str, Any] = {
        "index": settings.collection,
        "embedding_dim": settings.resolved_embedding_dim,
        "timeout": settings.qdrant_timeout,
        "recreate_index": fresh,
    }
    if settings.qdrant_url:
        return QdrantStore(url=settings.qdrant_url, **common)
    path = settings.resolved_qdrant_path
    if path == ":memory:":
        return QdrantStore(location=":memory:", **common)
    return QdrantStore(path=path, **common)


def lexical_retriever(store: Any) -> Any:
    """The BM25 retriever of `store`."""
    if isinstance(store, InMemoryDocumentStore):
        return InMemoryBM25Retriever(document_store=store)
    return OpenSearchBM25Retriever(document_store=store, raise_on_failure=True)


def text_embedder(settings: Settings | None = None, *, model: str | None = None) -> TextEmbedder:
    """The query embedder: one torch thread (a short query gains nothing from more; BENCHMARKS.md)."""
    if settings is None:
        return TextEmbedder(model=model, threads=QUERY_EMBEDDING_THREADS)
    return TextEmbedder(model=settings.embedding_model, dtype=settings.embedding_dtype, threads=QUERY_EMBEDDING_THREADS)


def document_embedder(settings: Settings | None = None, **options: Any) -> DocumentEmbedder:
    """The indexing embedder: the same model and dtype as the query embedder."""
    if settings is None:
        return DocumentEmbedder(**options)
    return DocumentEmbedder(model=settings.embedding_model, dtype=settings.embedding_dtype, **options)


def hybrid_retriever(
    settings: Settings | None = None,
    *,
    lexical: Any | None = None,
    vectors: QdrantStore | None = None,
    embedding_model: str | None = None,
    collection: str | None = None,
    **options: Any,
) -> HybridRetriever:
    """
    A `HybridRetriever` over the configured stores; pass `lexical`/`vectors` to reuse stores already open.
    Without settings (YAML), `embedding_model` and `collection` are written into the file when given.
    """
    if vectors is None:
        vectors = vector_store(settings, collection=collection, model=embedding_model)
    return HybridRetriever(
        lexical_retriever=lexical_retriever(lexical if lexical is not None else lexical_store(settings)),
        text_embedder=text_embedder(settings, model=embedding_model),
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        **options,
    )


def ranker(
    *,
    model: str = STARTER_RERANK_MODEL,
    top_k: int,
    low_confidence_threshold: float | None = None,
    alpha: float | None = config.RERANK_ALPHA,
    cache: RerankCache | None = _DEFAULT_CACHE,
    **options: Any,
) -> CrossEncoderRanker:
    """
    The shipped reranker configuration (pipelines, CLI, demo, `eval`, `sweep`); `cache=None` scores every pair.
    `options` (any `CrossEncoderRanker` parameter, e.g. `backend=`) replace the shipped values: benchmarks use it.
    """
    backend, precision = shipped_inference(model)
    shipped: dict[str, Any] = {
        "max_length": config.RERANK_MAX_LENGTH,
        "meta_fields_to_embed": ["title"],
        "backend": backend,
        "precision": precision,
    }
    return CrossEncoderRanker(
        model=model,
        top_k=top_k,
        low_confidence_threshold=low_confidence_threshold,
        alpha=alpha,
        cache=MemoryRerankCache(max_entries=config.RERANK_CACHE_ENTRIES) if cache is _DEFAULT_CACHE else cache,
        **{**shipped, **options},
    )


def shipped_inference(model: str) -> tuple[str, str]:
    """
    OpenVINO "auto" where the model folder holds a quantized model (the starter does: int8 on CPUs with int8
    units, float32 elsewhere); else torch bf16, or OpenVINO float32 on a CPU without bf16 units.
    """
    from haystack_rerank.components.rankers._inference import bf16_supported
    from haystack_rerank.models import resolve_model
    from haystack_rerank.quantize import int8_model_path

    if int8_model_path(resolve_model(model)).is_file():
        return config.RERANK_QUANTIZED_BACKEND, config.RERANK_QUANTIZED_PRECISION
    if not bf16_supported():
        return config.RERANK_NO_BF16_BACKEND, config.RERANK_NO_BF16_PRECISION
    return config.RERANK_BACKEND, config.RERANK_PRECISION


def answerer(shared_ranker: CrossEncoderRanker) -> ExtractiveAnswerer:
    """The extractive answerer, scoring sentences with the pipeline's own ranker (one model, one cache)."""
    return ExtractiveAnswerer(ranker=shared_ranker)
