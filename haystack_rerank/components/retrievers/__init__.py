from haystack_rerank.components.retrievers.hybrid import HybridRetriever, LegFailurePolicy
from haystack_rerank.components.retrievers.stores import OpenSearchBM25Retriever, QdrantEmbeddingRetriever

__all__ = ["HybridRetriever", "LegFailurePolicy", "OpenSearchBM25Retriever", "QdrantEmbeddingRetriever"]
