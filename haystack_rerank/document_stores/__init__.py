"""
Document stores that take their connection settings from environment variables and never write them into
YAML: `OpenSearchStore` (OPENSEARCH_HOSTS, OPENSEARCH_INDEX) and `QdrantStore` (QDRANT_URL, QDRANT_PATH,
QDRANT_COLLECTION, QDRANT_API_KEY). Both are the official integrations' stores underneath. `EnglishInMemoryStore`
is the embedded BM25 store, analysing text like the OpenSearch index.
"""

from haystack_rerank.document_stores.memory import EnglishInMemoryStore
from haystack_rerank.document_stores.opensearch import OpenSearchStore
from haystack_rerank.document_stores.qdrant import QdrantStore

__all__ = ["EnglishInMemoryStore", "OpenSearchStore", "QdrantStore"]
