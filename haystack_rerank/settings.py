"""Connection settings, read from flags or environment variables (never written into YAML)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL

# Environment variables, documented in the README.
ENV_OPENSEARCH_HOSTS = "OPENSEARCH_HOSTS"
ENV_OPENSEARCH_INDEX = "OPENSEARCH_INDEX"
ENV_QDRANT_URL = "QDRANT_URL"
ENV_QDRANT_PATH = "QDRANT_PATH"
ENV_QDRANT_COLLECTION = "QDRANT_COLLECTION"
ENV_QDRANT_API_KEY = "QDRANT_API_KEY"
ENV_DATA_DIR = "HAYSTACK_RERANK_DATA"
ENV_EMBEDDING_MODEL = "HAYSTACK_RERANK_EMBEDDING_MODEL"
ENV_EMBEDDING_DTYPE = "HAYSTACK_RERANK_EMBEDDING_DTYPE"

DEFAULT_OPENSEARCH_HOSTS = "http://127.0.0.1:9200"
DEFAULT_INDEX = "haystack_rerank"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


@dataclass
class StoreSettings:
    """
    Where the two legs keep their documents.

    `lexical="opensearch"` uses the OpenSearch node at `opensearch_hosts`; `lexical="memory"` uses Haystack's
    in-process BM25 store, saved as JSON under `data_dir` (the embedded default: no server). The vector leg
    uses a Qdrant server when `qdrant_url` is set, else embedded Qdrant in the folder `qdrant_path`
    (`":memory:"` for a throw-away store).
    """

    lexical: str = "opensearch"
    opensearch_hosts: str = field(default_factory=lambda: _env(ENV_OPENSEARCH_HOSTS, DEFAULT_OPENSEARCH_HOSTS))
    index: str = field(default_factory=lambda: _env(ENV_OPENSEARCH_INDEX, DEFAULT_INDEX))
    qdrant_url: str | None = field(default_factory=lambda: _env(ENV_QDRANT_URL))
    qdrant_path: str | None = field(default_factory=lambda: _env(ENV_QDRANT_PATH))
    collection: str = field(default_factory=lambda: _env(ENV_QDRANT_COLLECTION, DEFAULT_INDEX))
    data_dir: Path = field(default_factory=lambda: Path(_env(ENV_DATA_DIR, ".haystack-rerank")))
    embedding_model: str = field(default_factory=lambda: _env(ENV_EMBEDDING_MODEL, DEFAULT_EMBEDDING_MODEL))
    embedding_dim: int = 384
    # "bfloat16" about doubles embedding speed on CPUs with bf16 units (cosine to fp32 >= 0.9999, BENCHMARKS.md)
    embedding_dtype: str = field(default_factory=lambda: _env(ENV_EMBEDDING_DTYPE, "float32"))

    @property
    def embedding_model_kwargs(self) -> dict | None:
        return None if self.embedding_dtype == "float32" else {"dtype": self.embedding_dtype}

    @property
    def resolved_qdrant_path(self) -> str:
        return self.qdrant_path or str(self.data_dir / "qdrant")

    @property
    def memory_bm25_file(self) -> Path:
        return self.data_dir / f"bm25-{self.index}.json"
