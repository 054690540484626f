"""Connection settings, read from flags or environment variables (never written into YAML)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL

# Environment variables, documented in the README.
ENV_OPENSEARCH_HOSTS = "OPENSEARCH_HOSTS"
ENV_OPENSEARCH_INDEX = "OPENSEARCH_INDEX"
ENV_OPENSEARCH_TIMEOUT = "OPENSEARCH_TIMEOUT"
ENV_OPENSEARCH_MAX_RETRIES = "OPENSEARCH_MAX_RETRIES"
ENV_OPENSEARCH_SHARDS = "OPENSEARCH_SHARDS"
ENV_OPENSEARCH_REPLICAS = "OPENSEARCH_REPLICAS"
ENV_QDRANT_URL = "QDRANT_URL"
ENV_QDRANT_PATH = "QDRANT_PATH"
ENV_QDRANT_COLLECTION = "QDRANT_COLLECTION"
ENV_QDRANT_API_KEY = "QDRANT_API_KEY"
ENV_QDRANT_TIMEOUT = "QDRANT_TIMEOUT"
ENV_DATA_DIR = "HAYSTACK_RERANK_DATA"
ENV_EMBEDDING_MODEL = "HAYSTACK_RERANK_EMBEDDING_MODEL"
ENV_EMBEDDING_DTYPE = "HAYSTACK_RERANK_EMBEDDING_DTYPE"
EMBEDDING_DTYPES = ("auto", "float32", "bfloat16", "float16")

DEFAULT_OPENSEARCH_HOSTS = "http://127.0.0.1:9200"
DEFAULT_INDEX = "haystack_rerank"
DEFAULT_OPENSEARCH_TIMEOUT = 30.0  # seconds per request
DEFAULT_OPENSEARCH_MAX_RETRIES = 3  # opensearch-py's default: connection errors and 502/503/504 are retried
# a new index: one primary shard, no replica (a single node cannot hold one); a cluster wants replicas >= 1
DEFAULT_OPENSEARCH_SHARDS = 1
DEFAULT_OPENSEARCH_REPLICAS = 0


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def without_credentials(url: str) -> str:
    """`url` for messages and logs: `http://user:secret@host:9200` becomes `http://host:9200`."""
    parts = urlsplit(url)
    if not parts.hostname or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_timeout(name: str, value: object) -> float:
    """A request timeout: a number of seconds > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        msg = f"{name} must be a number of seconds > 0, got {value!r}. Use e.g. 10 (a slow node needs more)."
        raise ConfigurationError(msg)
    return float(value)


def check_retries(name: str, value: object) -> int:
    """A retry count: an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{name} must be an integer >= 0, got {value!r}. Use e.g. 3, or 0 to fail on the first error."
        raise ConfigurationError(msg)
    return value


def check_shards(name: str, value: object) -> int:
    """A number of primary shards: an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be an integer >= 1, got {value!r}. Use e.g. 1, or one per ~10-50 GB of index."
        raise ConfigurationError(msg)
    return value


def check_replicas(name: str, value: object) -> int:
    """A number of replicas per shard: an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{name} must be an integer >= 0, got {value!r}. Use 0 on a single node, 1 on a cluster."
        raise ConfigurationError(msg)
    return value


def _env_number(name: str, parse: Callable[[str], Any], check: Callable[[str, Any], Any], default: Any) -> Any:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = raw  # reported by `check` with the text as given
    return check(name, value)


def opensearch_timeout_from_env() -> float:
    """`OPENSEARCH_TIMEOUT` (seconds per request), default 30."""
    return _env_number(ENV_OPENSEARCH_TIMEOUT, float, check_timeout, DEFAULT_OPENSEARCH_TIMEOUT)


def opensearch_max_retries_from_env() -> int:
    """`OPENSEARCH_MAX_RETRIES` (retries of a failed request), default 3."""
    return _env_number(ENV_OPENSEARCH_MAX_RETRIES, int, check_retries, DEFAULT_OPENSEARCH_MAX_RETRIES)


def opensearch_shards_from_env() -> int:
    """`OPENSEARCH_SHARDS` (primary shards of a new index), default 1."""
    return _env_number(ENV_OPENSEARCH_SHARDS, int, check_shards, DEFAULT_OPENSEARCH_SHARDS)


def opensearch_replicas_from_env() -> int:
    """`OPENSEARCH_REPLICAS` (replicas of each shard of a new index), default 0."""
    return _env_number(ENV_OPENSEARCH_REPLICAS, int, check_replicas, DEFAULT_OPENSEARCH_REPLICAS)


def qdrant_timeout_from_env() -> float | None:
    """`QDRANT_TIMEOUT` (seconds per request to a Qdrant server); unset keeps qdrant-client's default."""
    return _env_number(ENV_QDRANT_TIMEOUT, float, check_timeout, None)


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
    # None: the store reads OPENSEARCH_TIMEOUT / OPENSEARCH_MAX_RETRIES / QDRANT_TIMEOUT, so YAML carries no value
    opensearch_timeout: float | None = None
    opensearch_max_retries: int | None = None
    # None: the store reads OPENSEARCH_SHARDS / OPENSEARCH_REPLICAS when it creates the index
    opensearch_shards: int | None = None
    opensearch_replicas: int | None = None
    qdrant_timeout: float | None = None
    data_dir: Path = field(default_factory=lambda: Path(_env(ENV_DATA_DIR, ".haystack-rerank")))
    embedding_model: str = field(default_factory=lambda: _env(ENV_EMBEDDING_MODEL, DEFAULT_EMBEDDING_MODEL))
    embedding_dim: int = 384
    # "auto": bfloat16 on CPUs with bf16 units (~1.9x faster, cosine to fp32 >= 0.998, the same SciFact dev
    # nDCG@10 and Recall@100: BENCHMARKS.md), float32 elsewhere
    embedding_dtype: str = field(default_factory=lambda: _env(ENV_EMBEDDING_DTYPE, "auto"))

    @property
    def resolved_embedding_dtype(self) -> str:
        if self.embedding_dtype not in EMBEDDING_DTYPES:
            msg = (
                f"{ENV_EMBEDDING_DTYPE} (embedding_dtype) got {self.embedding_dtype!r}; "
                f"use one of {', '.join(EMBEDDING_DTYPES)}."
            )
            raise ConfigurationError(msg)
        if self.embedding_dtype != "auto":
            return self.embedding_dtype
        from haystack_rerank.components.rankers._inference import bf16_supported

        return "bfloat16" if bf16_supported() else "float32"

    @property
    def embedding_model_kwargs(self) -> dict | None:
        dtype = self.resolved_embedding_dtype
        return None if dtype == "float32" else {"dtype": dtype}

    @property
    def resolved_qdrant_path(self) -> str:
        return self.qdrant_path or str(self.data_dir / "qdrant")

    @property
    def memory_bm25_file(self) -> Path:
        return self.data_dir / f"bm25-{self.index}.json"
