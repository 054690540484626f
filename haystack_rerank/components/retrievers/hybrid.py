"""Hybrid retrieval: a lexical leg and a dense leg run concurrently, fused with Reciprocal Rank Fusion."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from enum import Enum
from typing import Any

from haystack import Document, component, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.utils.deserialization import deserialize_component_inplace

from haystack_rerank.components.joiners.reciprocal_rank_fusion import ReciprocalRankFusion
from haystack_rerank.config import LEG_DEPTH
from haystack_rerank.errors import ConfigurationError, MissingIndexError, RetrievalLegError, ServiceUnavailableError

logger = logging.getLogger(__name__)

LEXICAL, DENSE = "lexical", "dense"


class LegFailurePolicy(str, Enum):
    """What `HybridRetriever` does when one leg fails."""

    RAISE = "raise"
    DEGRADE = "degrade"

    @classmethod
    def from_str(cls, value: str) -> LegFailurePolicy:
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(p.value) for p in cls)
            msg = f"HybridRetriever: on_leg_failure must be one of {valid}, got {value!r}."
            raise ConfigurationError(msg) from None


def _check_depth(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"HybridRetriever: {name} must be an integer >= 0, got {value!r}. Use 0 to switch that part off."
        raise ConfigurationError(msg)


@component
class HybridRetriever:
    """
    Retrieves with a lexical retriever (BM25) and a dense retriever (text embedder + embedding retriever)
    at the same time, and fuses both ranked lists with Reciprocal Rank Fusion.

    Both legs run concurrently, so retrieval takes about as long as the slower leg plus fusion. Each leg
    fetches `lexical_top_k` / `dense_top_k` candidates (its recall depth); `top_k` fused documents are
    returned. With `on_leg_failure="degrade"` a failing leg is reported in `meta` and the other leg still
    answers; with `"raise"` the failure raises `RetrievalLegError`.

    The lexical retriever is any Haystack component with `run(query, filters, top_k)` returning
    `documents` (`OpenSearchBM25Retriever` in production, `InMemoryBM25Retriever` as the embedded
    default); the dense leg is a text embedder (`run(text) -> embedding`) and an embedding retriever
    (`run(query_embedding, filters, top_k)`), e.g. `QdrantEmbeddingRetriever`.

    `run_async` runs the same implementation on a worker thread. It deliberately uses the stores' sync
    clients: in qdrant-client's `:memory:` mode the async client is a separate, empty database.

    Usage example:
    ```python
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack_rerank.document_stores import EnglishInMemoryStore
    from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
    from haystack_rerank.components.embedders import TextEmbedder
    from haystack_rerank.components.retrievers import HybridRetriever

    retriever = HybridRetriever(
        lexical_retriever=InMemoryBM25Retriever(document_store=EnglishInMemoryStore()),
        text_embedder=TextEmbedder(),
        embedding_retriever=QdrantEmbeddingRetriever(
            document_store=QdrantDocumentStore(path="qdrant-data", embedding_dim=384)
        ),
        top_k=10,
    )
    retriever.warm_up()
    documents = retriever.run(query="What lowers blood pressure?")["documents"]
    ```
    """

    def __init__(
        self,
        *,
        lexical_retriever: Any,
        text_embedder: Any,
        embedding_retriever: Any,
        top_k: int = 10,
        lexical_top_k: int = LEG_DEPTH,
        dense_top_k: int = LEG_DEPTH,
        rrf_k: int = 60,
        weights: dict[str, float] | None = None,
        on_leg_failure: str = "raise",
    ) -> None:
        """
        :param lexical_retriever: A text retriever component (`run(query, filters, top_k)`).
        :param text_embedder: A text embedder component (`run(text)` -> `embedding`).
        :param embedding_retriever: An embedding retriever component (`run(query_embedding, filters, top_k)`).
        :param top_k: Number of fused documents returned.
        :param lexical_top_k: Candidates fetched by the lexical leg; 0 switches the leg off.
        :param dense_top_k: Candidates fetched by the dense leg; 0 switches the leg off.
        :param rrf_k: The RRF rank constant.
        :param weights: RRF weight per leg, keys `"lexical"` and `"dense"` (default 1.0 each).
        :param on_leg_failure: `"raise"` or `"degrade"` (answer from the surviving leg and say so in `meta`).
        """
        for name, value in (("top_k", top_k), ("lexical_top_k", lexical_top_k), ("dense_top_k", dense_top_k)):
            _check_depth(name, value)
        self.lexical_retriever = lexical_retriever
        self.text_embedder = text_embedder
        self.embedding_retriever = embedding_retriever
        self.top_k = top_k
        self.lexical_top_k = lexical_top_k
        self.dense_top_k = dense_top_k
        self.rrf_k = rrf_k
        self.weights = dict(weights or {})
        self.on_leg_failure = LegFailurePolicy.from_str(on_leg_failure)
        self._fusion = ReciprocalRankFusion(legs=[LEXICAL, DENSE], k=rrf_k, weights=self.weights)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the embedding model and start the worker threads; safe to call more than once."""
        for part in (self.lexical_retriever, self.text_embedder, self.embedding_retriever):
            if hasattr(part, "warm_up"):
                part.warm_up()
        with self._executor_lock:  # concurrent first runs (Pipeline.run warms up on every run) start one pool
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hybrid-lexical")

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            lexical_retriever=component_to_dict(self.lexical_retriever, "lexical_retriever"),
            text_embedder=component_to_dict(self.text_embedder, "text_embedder"),
            embedding_retriever=component_to_dict(self.embedding_retriever, "embedding_retriever"),
            top_k=self.top_k,
            lexical_top_k=self.lexical_top_k,
            dense_top_k=self.dense_top_k,
            rrf_k=self.rrf_k,
            weights=self.weights,
            on_leg_failure=self.on_leg_failure.value,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HybridRetriever:
        init_parameters = dict(data.get("init_parameters", {}))
        for key in ("lexical_retriever", "text_embedder", "embedding_retriever"):
            deserialize_component_inplace(init_parameters, key=key)  # checks Haystack's module allowlist
        return cls(**init_parameters)

    # -- the legs, usable alone (bm25-only / dense-only runs and benchmarks) -----------------------

    def retrieve_lexical(
        self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None
    ) -> list[Document]:
        """Run the lexical leg alone."""
        top_k = top_k if top_k is not None else self.lexical_top_k
        documents = self.lexical_retriever.run(query=query, filters=filters, top_k=top_k)["documents"]
        return documents or _refuse_empty_store(LEXICAL, self.lexical_retriever)

    def retrieve_dense(
        self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None
    ) -> list[Document]:
        """Run the dense leg alone: embed the query, then search the vector store."""
        top_k = top_k if top_k is not None else self.dense_top_k
        embedding = self.text_embedder.run(text=query)["embedding"]
        documents = self.embedding_retriever.run(query_embedding=embedding, filters=filters, top_k=top_k)["documents"]
        return documents or _refuse_empty_store(DENSE, self.embedding_retriever)

    # -- run ---------------------------------------------------------------------------------------

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(
        self,
        query: str,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
        lexical_top_k: int | None = None,
        dense_top_k: int | None = None,
    ) -> dict[str, Any]:
        """
        Retrieve with both legs at once and fuse.

        :param query: The query text.
        :param filters: Haystack metadata filters, passed to both legs.
        :param top_k: Fused documents to return; `None` means the init value.
        :param lexical_top_k: Lexical candidates for this call; `None` means the init value.
        :param dense_top_k: Dense candidates for this call; `None` means the init value.
        :returns: `documents` (fused, best first, `meta["rrf"]` holds each leg's rank and raw score) and
            `meta`: per leg `status` ("ok", "failed" or "off"), `error`, `seconds`, `count`; and
            `degraded` (True when a leg failed and its results are missing), `fusion_seconds` and `seconds`.
        """
        if not isinstance(query, str) or not query.strip():
            msg = f"HybridRetriever: query must be a non-empty string, got {query!r}. Pass the user's question."
            raise ConfigurationError(msg)
        top_k = top_k if top_k is not None else self.top_k
        depths = {
            LEXICAL: lexical_top_k if lexical_top_k is not None else self.lexical_top_k,
            DENSE: dense_top_k if dense_top_k is not None else self.dense_top_k,
        }
        _check_depth("top_k", top_k)
        for leg, depth in depths.items():
            _check_depth(f"{leg}_top_k", depth)
        if self._executor is None:
            self.warm_up()
        assert self._executor is not None
        started = time.perf_counter()

        legs = {LEXICAL: self.retrieve_lexical, DENSE: self.retrieve_dense}
        results: dict[str, list[Document]] = {}
        meta: dict[str, Any] = {}
        pending: dict[str, Future] = {}
        # the lexical leg goes to a worker thread; the dense leg runs here meanwhile
        for leg in (LEXICAL, DENSE):
            if depths[leg] == 0:
                meta[leg] = {"status": "off", "error": None, "seconds": 0.0, "count": 0}
                continue
            call = functools.partial(_timed, legs[leg], query, filters, depths[leg])
            pending[leg] = self._executor.submit(call) if leg == LEXICAL else _done(call)

        failures: dict[str, BaseException] = {}
        for leg, future in pending.items():
            documents, seconds, error = future.result()
            meta[leg] = {
                "status": "ok" if error is None else "failed",
                "error": _describe(error),
                "seconds": seconds,
                "count": len(documents),
            }
            if error is None:
                results[leg] = documents
            else:
                failures[leg] = error
        self._handle_failures(failures, active=list(pending))

        fusion_started = time.perf_counter()
        fused = self._fusion.fuse(results, top_k=top_k)
        meta["fusion_seconds"] = time.perf_counter() - fusion_started
        meta["seconds"] = time.perf_counter() - started
        meta["degraded"] = bool(failures)
        return {"documents": fused, "meta": meta}

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(
        self,
        query: str,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
        lexical_top_k: int | None = None,
        dense_top_k: int | None = None,
    ) -> dict[str, Any]:
        """Same as `run`, without blocking the event loop (the shared implementation runs on a thread)."""
        call = functools.partial(self.run, query, filters, top_k, lexical_top_k, dense_top_k)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def _handle_failures(self, failures: dict[str, BaseException], active: list[str]) -> None:
        if not failures:
            return
        if self.on_leg_failure is LegFailurePolicy.RAISE:
            leg, error = next(iter(failures.items()))
            raise RetrievalLegError(leg, error) from error
        if len(failures) == len(active):
            detail = "; ".join(f"{leg}: {_describe(err)}" for leg, err in failures.items())
            msg = f"HybridRetriever: every leg failed ({detail}). Check that OpenSearch and Qdrant are reachable."
            raise ServiceUnavailableError(msg) from next(iter(failures.values()))
        for leg, error in failures.items():
            logger.warning(
                "HybridRetriever: the %s leg failed, answering from the other leg: %s", leg, _describe(error)
            )


def _refuse_empty_store(leg: str, retriever: Any) -> list[Document]:
    """No hit because the leg's store holds nothing is a failure of that leg, not an answer ("0 hits")."""
    store = getattr(retriever, "document_store", None) or getattr(retriever, "_document_store", None)
    # OpenSearchStore and QdrantStore raise MissingIndexError by themselves, naming the index and the fix
    if store is not None and not hasattr(store, "_missing_index_error") and store.count_documents() == 0:
        msg = f"The {leg} leg's {type(store).__name__} holds no document. Index a corpus into it first."
        raise MissingIndexError(msg)
    return []


def _timed(leg: Any, query: str, filters: dict[str, Any] | None, top_k: int) -> tuple[list[Document], float, Any]:
    started = time.perf_counter()
    try:
        documents = leg(query, filters, top_k)
    except Exception as error:  # reported per leg; the policy decides whether it raises
        return [], time.perf_counter() - started, error
    return documents, time.perf_counter() - started, None


def _done(call: Any) -> Future:
    future: Future = Future()
    future.set_result(call())
    return future


def _describe(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"
