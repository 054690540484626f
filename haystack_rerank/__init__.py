"""
haystack-rerank: hybrid retrieval (BM25 on OpenSearch + dense vectors in Qdrant, fused with RRF) and a
cached cross-encoder reranker, as Haystack components.

Importing the package puts `haystack_rerank` on Haystack's deserialization allowlist, so
`Pipeline.loads(yaml_text)` accepts its components. Without the import, pass
`Pipeline.loads(yaml_text, allowed_modules=["haystack_rerank"])` or set
`HAYSTACK_DESERIALIZATION_ALLOWLIST=haystack_rerank`.
"""

from haystack.core.serialization_security import allow_deserialization_module

from haystack_rerank.errors import (
    ConfigurationError,
    HaystackRerankError,
    IndexConsistencyError,
    RetrievalLegError,
    ServiceUnavailableError,
)

allow_deserialization_module("haystack_rerank")

from haystack_rerank import starter  # noqa: E402,F401  (registers the bundled starter cross-encoder's name)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "HaystackRerankError",
    "IndexConsistencyError",
    "RetrievalLegError",
    "ServiceUnavailableError",
    "__version__",
]
