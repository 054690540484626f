import sys

from haystack_rerank.components.retrievers import integrations
from haystack_rerank.components.retrievers.hybrid import HybridRetriever, LegFailurePolicy
from haystack_rerank.components.retrievers.integrations import OpenSearchBM25Retriever, QdrantEmbeddingRetriever

# YAML `type:` paths written before the module was renamed (`...retrievers.stores.OpenSearchBM25Retriever`)
sys.modules[f"{__name__}.stores"] = integrations

__all__ = ["HybridRetriever", "LegFailurePolicy", "OpenSearchBM25Retriever", "QdrantEmbeddingRetriever"]
