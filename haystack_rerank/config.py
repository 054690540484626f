"""
Every setting of the package in one place: its environment variable, its default and what is derived from it.

One resolution order everywhere: a value given in code (or on the command line), else the environment
variable, else the default. Stores and embedders built from YAML resolve the same way when they are built, so
YAML carries no host, path, model or key. `python -m haystack_rerank.config` prints the README table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, embedding_dimension

DEFAULT_DATA_DIR = ".haystack-rerank"
# The shipped reranker configuration, chosen with the starter model (BENCHMARKS.md): the final score mixes the
# cross-encoder's probability and the min-max scaled fused score half and half (alpha, chosen on dev in issue 6);
# the model was trained at 192 tokens. A model folder holding a static int8 model (`haystack-rerank quantize`; the
# starter ships one) runs it on OpenVINO: ~4.1x plain fp32 `predict`, nDCG@10 within 0.005 of float at 30
# candidates on 150 train claims and on dev (BENCHMARKS "Static int8"); precision "auto" runs float32 instead on a
# CPU without int8 dot-product units, where int8 is no faster (BENCHMARKS "int8 needs VNNI"). Other models run
# torch bf16 (2.0x fp32, nDCG@10 unchanged), or OpenVINO float32 on a CPU without bf16 units (1.3-1.4x torch
# float32 there).
RERANK_ALPHA = 0.5
# candidates each first-stage leg fetches before RRF: a document deep in both legs can then outrank one found by a
# single leg. Chosen on SciFact train among 100/200/300/500 by hybrid Recall@100 (0.957 -> 0.961; BENCHMARKS
# "Candidates per leg"); dev 0.915 -> 0.935, CISI 0.491 -> 0.502, nDCG@10 unchanged.
LEG_DEPTH = 200
# candidates the shipped pipelines, `run` and `ask` rerank, set by the latency budget: int8 at 30 serves a cold
# query end to end in ~0.4 s on 2 cores (BENCHMARKS "Static int8"; the sweep's table for other budgets)
RERANK_DEPTH = 30
RERANK_MAX_LENGTH = 192
RERANK_BACKEND = "torch"
RERANK_PRECISION = "bfloat16"
RERANK_QUANTIZED_BACKEND = "openvino"
RERANK_QUANTIZED_PRECISION = "auto"
RERANK_NO_BF16_BACKEND = "openvino"
RERANK_NO_BF16_PRECISION = "float32"
RERANK_CACHE_ENTRIES = 100_000
DEFAULT_INDEX = "haystack_rerank"
LEXICAL_BACKENDS = ("opensearch", "memory")
EMBEDDING_DTYPES = ("auto", "float32", "bfloat16", "float16")


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


def check_dtype(name: str, value: object) -> str:
    """An embedding dtype: one of EMBEDDING_DTYPES."""
    if value not in EMBEDDING_DTYPES:
        msg = f"{name} got {value!r}; use one of {', '.join(EMBEDDING_DTYPES)}."
        raise ConfigurationError(msg)
    return str(value)


@dataclass(frozen=True)
class Variable:
    """One environment variable: what it means, its default, and how its text is read and checked."""

    name: str
    meaning: str
    shown_default: str  # the default as the README shows it
    default: Any = None  # the value when unset (None: unset, or derived where it is used)
    parse: Callable[[str], Any] = str
    check: Callable[[str, Any], Any] | None = None


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("OPENSEARCH_HOSTS", "OpenSearch URL(s), comma-separated", "`http://127.0.0.1:9200`",
                 "http://127.0.0.1:9200"),
        Variable("OPENSEARCH_INDEX", "index name", "`haystack_rerank`", DEFAULT_INDEX),
        Variable("OPENSEARCH_USERNAME", "basic auth user (a Haystack `Secret` of the integration)", "unset"),
        Variable("OPENSEARCH_PASSWORD", "basic auth password (a `Secret`)", "unset"),
        Variable("OPENSEARCH_TIMEOUT", "seconds per OpenSearch request (see \"Operating it\")", "`30`", 30.0,
                 float, check_timeout),
        Variable("OPENSEARCH_MAX_RETRIES", "retries of a refused/reset request (see \"Operating it\")", "`3`", 3,
                 int, check_retries),
        Variable("OPENSEARCH_SHARDS", "primary shards of a **new** index (`index --opensearch-shards`, "
                 "`OpenSearchStore(shards=)`)", "`1`", 1, int, check_shards),
        Variable("OPENSEARCH_REPLICAS", "replicas per shard of a **new** index (`index --opensearch-replicas`); use "
                 "1 or more on a cluster (see \"Operating at scale\")", "`0`", 0, int, check_replicas),
        Variable("QDRANT_URL", "Qdrant server, e.g. `http://qdrant:6333`; wins over `QDRANT_PATH`",
                 "unset (embedded)"),
        Variable("QDRANT_API_KEY", "Qdrant Cloud / server key (a `Secret`)", "unset"),
        Variable("QDRANT_PATH", "embedded on-disk Qdrant folder", "`$HAYSTACK_RERANK_DATA/qdrant`"),
        Variable("QDRANT_COLLECTION", "collection name", "`haystack_rerank`", DEFAULT_INDEX),
        Variable("QDRANT_TIMEOUT", "seconds per request to a Qdrant server", "the client's", None, float,
                 check_timeout),
        Variable("HAYSTACK_RERANK_DATA", "folder for embedded stores (the demo uses its `demo/` subfolder)",
                 f"`{DEFAULT_DATA_DIR}`", DEFAULT_DATA_DIR),
        Variable("HAYSTACK_RERANK_EMBEDDING_MODEL",
                 "bi-encoder for indexing and queries (CLI, YAML and demo); the vector size is read from it",
                 f"`{DEFAULT_EMBEDDING_MODEL}`", DEFAULT_EMBEDDING_MODEL),
        Variable("HAYSTACK_RERANK_EMBEDDING_DTYPE",
                 "`bfloat16` embeds ~1.9x faster on CPUs with bf16 units (cosine to fp32 ≥ 0.998; SciFact dev "
                 "hybrid nDCG@10 and Recall@100 unchanged); `float32` forces full precision",
                 "`auto` (bf16 where the CPU has bf16 units)", "auto", str, check_dtype),
        Variable("HAYSTACK_RERANK_ONNX_CACHE", "where `backend=\"onnx\"` keeps exported models",
                 "`~/.cache/haystack-rerank/onnx`"),
        Variable("HAYSTACK_RERANK_COMPILE_CACHE", "where `backend=\"compiled\"` keeps compiled kernels (unless "
                 "`TORCHINDUCTOR_CACHE_DIR` is set)", "`~/.cache/haystack-rerank/inductor`"),
        Variable("REDIS_URL", "shared rerank cache (`RedisRerankCache`)", "`redis://127.0.0.1:6379/0`",
                 "redis://127.0.0.1:6379/0"),
        Variable("OPENAI_API_KEY", "answer generator of `rag.yaml` (a `Secret`)", "required for `rag.yaml`"),
        Variable("OPENAI_BASE_URL", "OpenAI-compatible server of `rag.yaml` (vLLM / Ollama / llama.cpp at `/v1`)",
                 "OpenAI's"),
        Variable("HF_API_TOKEN", "Hugging Face token for private models (a `Secret`), read before `HF_TOKEN`", "unset"),
        Variable("HF_TOKEN", "Hugging Face token for private models (a `Secret`)", "unset"),
        Variable("HAYSTACK_TELEMETRY_ENABLED", "`True` keeps Haystack's telemetry on in the command line",
                 "off in the CLI"),
        Variable("HAYSTACK_RERANK_LOG", "log level of the command line", "`WARNING`", "WARNING"),
        Variable("HAYSTACK_RERANK_DEBUG", "`1`: the command line shows the traceback of an error", "unset"),
    )
}  # fmt: skip


def resolve(name: str, given: Any = None, *, param: str | None = None) -> Any:
    """
    The value of setting `name`: `given` when not None (checked, errors naming `param`), else the environment
    variable `name` when set and not empty, else its default.
    """
    variable = VARIABLES[name]
    if given is not None:
        return variable.check(param or name, given) if variable.check else given
    raw = os.environ.get(name)
    if not raw:
        return variable.default
    try:
        value = variable.parse(raw)
    except ValueError:
        value = raw  # reported by `check` with the text as given
    return variable.check(name, value) if variable.check else value


def data_dir(given: str | Path | None = None) -> Path:
    """The folder of the embedded stores: `given`, else HAYSTACK_RERANK_DATA, else `.haystack-rerank`."""
    return Path(resolve("HAYSTACK_RERANK_DATA", None if given is None else str(given)))


def qdrant_path(given: str | None = None, folder: str | Path | None = None) -> str:
    """The embedded Qdrant folder: `given`, else QDRANT_PATH, else `<data folder>/qdrant`."""
    return resolve("QDRANT_PATH", given) or str(data_dir(folder) / "qdrant")


def embedding_dtype(given: str | None = None) -> str:
    """The embedding dtype that runs: "auto" becomes bfloat16 on CPUs with bf16 units, else float32."""
    dtype = resolve("HAYSTACK_RERANK_EMBEDDING_DTYPE", given, param="embedding dtype")
    if dtype != "auto":
        return dtype
    from haystack_rerank.components.rankers._inference import bf16_supported

    return "bfloat16" if bf16_supported() else "float32"


def embedding_dim(given: int | None = None, model: str | None = None) -> int:
    """The vector size: `given`, else the size the embedding model (`model` or the configured one) outputs."""
    if given is not None:
        return given
    return embedding_dimension(resolve("HAYSTACK_RERANK_EMBEDDING_MODEL", model))


def onnx_cache_dir() -> Path:
    """Where exported ONNX models live: HAYSTACK_RERANK_ONNX_CACHE, else ~/.cache/haystack-rerank/onnx."""
    return Path(resolve("HAYSTACK_RERANK_ONNX_CACHE") or Path.home() / ".cache" / "haystack-rerank" / "onnx")


def compile_cache_dir() -> Path:
    """Where compiled kernels live: HAYSTACK_RERANK_COMPILE_CACHE, else ~/.cache/haystack-rerank/inductor."""
    return Path(resolve("HAYSTACK_RERANK_COMPILE_CACHE") or Path.home() / ".cache" / "haystack-rerank" / "inductor")


def without_credentials(url: str) -> str:
    """`url` for messages and logs: `http://user:secret@host:9200` becomes `http://host:9200`."""
    parts = urlsplit(url)
    if not parts.hostname or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _env(name: str) -> Callable[[], Any]:
    return lambda: resolve(name)


@dataclass
class Settings:
    """
    Where the two legs keep their documents and which bi-encoder fills them; every field left out comes from
    its environment variable, else its default (`VARIABLES`).

    `lexical="opensearch"` uses the OpenSearch node at `opensearch_hosts`; `lexical="memory"` uses the
    in-process `EnglishInMemoryStore` (the index's English analysis and BM25), saved as JSON under `data_dir`.
    The vector leg uses a Qdrant server when `qdrant_url` is set, else embedded Qdrant in the folder
    `qdrant_path` (`":memory:"` for a throw-away store). Timeouts left at None are read by the stores when
    they are built, so YAML carries no value.
    """

    lexical: str = "opensearch"
    opensearch_hosts: str = field(default_factory=_env("OPENSEARCH_HOSTS"))
    index: str = field(default_factory=_env("OPENSEARCH_INDEX"))
    qdrant_url: str | None = field(default_factory=_env("QDRANT_URL"))
    qdrant_path: str | None = field(default_factory=_env("QDRANT_PATH"))
    collection: str = field(default_factory=_env("QDRANT_COLLECTION"))
    opensearch_timeout: float | None = None
    opensearch_max_retries: int | None = None
    opensearch_shards: int | None = None  # None: read when the store creates the index
    opensearch_replicas: int | None = None
    qdrant_timeout: float | None = None
    data_dir: Path = field(default_factory=data_dir)
    embedding_model: str = field(default_factory=_env("HAYSTACK_RERANK_EMBEDDING_MODEL"))
    embedding_dim: int | None = None  # None: read from the embedding model
    embedding_dtype: str = field(default_factory=_env("HAYSTACK_RERANK_EMBEDDING_DTYPE"))

    def __post_init__(self) -> None:
        if self.lexical not in LEXICAL_BACKENDS:
            msg = f"lexical must be one of {LEXICAL_BACKENDS}, got {self.lexical!r}."
            raise ConfigurationError(msg)
        self.data_dir = Path(self.data_dir)
        check_dtype("HAYSTACK_RERANK_EMBEDDING_DTYPE (embedding_dtype)", self.embedding_dtype)

    @classmethod
    def given(cls, **values: Any) -> Settings:
        """Settings from the values that were given (None: not given, so environment or default)."""
        return cls(**{name: value for name, value in values.items() if value is not None})

    @property
    def resolved_embedding_dtype(self) -> str:
        return embedding_dtype(self.embedding_dtype)

    @property
    def resolved_embedding_dim(self) -> int:
        return embedding_dim(self.embedding_dim, self.embedding_model)

    @property
    def resolved_qdrant_path(self) -> str:
        return self.qdrant_path or str(self.data_dir / "qdrant")

    @property
    def memory_bm25_file(self) -> Path:
        return self.data_dir / f"bm25-{self.index}.json"


def readme_table() -> str:
    """The README's table of environment variables, generated from `VARIABLES`."""
    lines = ["| variable | meaning | default |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {v.meaning} | {v.shown_default} |" for v in VARIABLES.values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(readme_table(), end="")
