"""`OpenSearchDocumentStore` configured from the environment, with English analysis for BM25."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from haystack import Document
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.document_stores.opensearch import OpenSearchDocumentStore
from opensearchpy.exceptions import AuthorizationException, ConnectionTimeout, NotFoundError, TransportError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.helpers import scan

from haystack_rerank import config
from haystack_rerank.config import without_credentials
from haystack_rerank.document_stores._unavailable import clear_errors, forgets_on_failure
from haystack_rerank.errors import ConfigurationError, MissingIndexError, ServiceUnavailableError

logger = logging.getLogger(__name__)

ENV_OPENSEARCH_HOSTS, ENV_OPENSEARCH_INDEX = "OPENSEARCH_HOSTS", "OPENSEARCH_INDEX"
ENV_OPENSEARCH_TIMEOUT, ENV_OPENSEARCH_MAX_RETRIES = "OPENSEARCH_TIMEOUT", "OPENSEARCH_MAX_RETRIES"

# English analysis (stemming + stop words) on content and title.
OPENSEARCH_MAPPINGS: dict[str, Any] = {
    "properties": {
        "content": {"type": "text", "analyzer": "english"},
        "title": {"type": "text", "analyzer": "english"},
    },
    "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
}


def index_settings(shards: int, replicas: int) -> dict[str, Any]:
    """The settings of a new index: `shards` primary shards, `replicas` copies of each on other nodes."""
    return {"index": {"number_of_shards": shards, "number_of_replicas": replicas}}


NO_PARTIAL_RESULTS = {"allow_partial_search_results": "false"}
# answers of a node that is overloaded, starting or shutting down
UNAVAILABLE_STATUSES = (429, 502, 503, 504)
# a shard copy's node left (crashed, stopped) while it served a search: OpenSearch moves a failed query phase to
# another copy but not the fetch phase, so the search fails; run again, the copies that are left answer it
NODE_LEFT_ERRORS = frozenset(
    {
        "node_disconnected_exception",
        "node_not_connected_exception",
        "node_closed_exception",
        "connect_transport_exception",
    }
)


def _node_left(err: Exception) -> bool:
    """Did `err` fail a search only because a node holding a shard copy left while it ran?"""
    info = err.info if isinstance(err, TransportError) else None
    error = info.get("error") if isinstance(info, dict) else None
    causes = error.get("root_cause") if isinstance(error, dict) else None
    return bool(causes) and all(isinstance(c, dict) and c.get("type") in NODE_LEFT_ERRORS for c in causes)


def _clear_error(self: OpenSearchStore, err: Exception) -> Exception | None:
    """The package's error for a transport error: the node did not answer, or the index does not exist. The async
    client can let aiohttp's own errors through (e.g. while creating the index at first use)."""
    if isinstance(err, (aiohttp.ClientError, OSError)):
        err = OpenSearchConnectionError("N/A", str(err), err)
    if isinstance(err, NotFoundError) and "index_not_found" in str(err):
        return self._missing_index_error("does not exist")
    if (
        isinstance(err, OpenSearchConnectionError)
        or (isinstance(err, TransportError) and err.status_code in UNAVAILABLE_STATUSES)
        or _node_left(err)
    ):
        return ServiceUnavailableError(self._unavailable_message(err))
    return None


# sync and async methods alike: a clear error when the node does not answer or the index does not exist
_reports_unavailable = clear_errors(_clear_error)


# OpenSearch index names: lower case, no \ / * ? " < > | space , # :, not starting with _ - +, at most 255 bytes
_FORBIDDEN_INDEX_CHARACTERS = set('\\/*?"<>| ,#:')
MAX_RESULT_WINDOW = 10_000  # index.max_result_window: OpenSearch refuses to return more hits per search


def check_index_name(name: str) -> str:
    """Refuse an index name OpenSearch would refuse, naming the rule."""
    problem = None
    if name != name.lower():
        problem = "has upper-case letters (OpenSearch index names are lower case)"
    elif name[:1] in ("_", "-", "+") or name in (".", ".."):
        problem = "starts with _, - or + (or is . or ..)"
    elif any(c in _FORBIDDEN_INDEX_CHARACTERS for c in name):
        problem = 'holds one of \\ / * ? " < > | , # : or a space'
    elif len(name.encode("utf-8")) > 255:  # noqa: PLR2004
        problem = "is longer than 255 bytes"
    if problem:
        msg = (
            f"OpenSearch index name {name!r} {problem}. Pass a valid --index / {ENV_OPENSEARCH_INDEX}, "
            f"e.g. {name.lower().lstrip('_-+').replace(' ', '_')[:255] or 'haystack_rerank'!r}."
        )
        raise ConfigurationError(msg)
    return name


DEFAULT_POOL_MAXSIZE = 10  # concurrent requests per host that reuse an open connection
# while `bulk_load` runs, the index mapping's `_meta` holds this key with the refresh_interval to restore, so a load
# interrupted by a crash (the index left with refresh_interval -1) is repaired by the next one
BULK_LOAD_MARKER = "haystack_rerank_bulk_load"


class OpenSearchStore(OpenSearchDocumentStore):
    """
    An `OpenSearchDocumentStore` whose `hosts` and `index`, when not given, come from `OPENSEARCH_HOSTS`
    (comma-separated; default `http://127.0.0.1:9200`) and `OPENSEARCH_INDEX` (default `haystack_rerank`)
    at construction time. `to_dict` writes what was given (usually `None`), so YAML carries no host names.
    Credentials stay the integration's `Secret`s (`OPENSEARCH_USERNAME` / `OPENSEARCH_PASSWORD`).

    A new index gets `shards` primary shards (`OPENSEARCH_SHARDS`, default 1) and `replicas` copies of each
    (`OPENSEARCH_REPLICAS`, default 0: a single node cannot hold a replica; use 1 on a cluster so a lost node
    loses no document). Both apply when the index is created; an existing index keeps its own.

    With several hosts the client sends each request to the next host in turn and, when one does not answer
    (connection refused or reset), marks it dead for a while and retries the request on another host.
    A search never returns partial results: if a shard has no live copy it fails (and a `degrade` hybrid
    retriever answers from the dense leg) instead of silently missing that shard's documents. A search that
    failed because a node left while it ran (its shard copies had been chosen) is run again, up to `max_retries`
    times, and answered by the copies that are left.

    Each request waits at most `timeout` seconds (`OPENSEARCH_TIMEOUT`, default 30). opensearch-py retries a
    request up to `max_retries` times (`OPENSEARCH_MAX_RETRIES`, default 3) on connection errors and 502/503/504
    answers, and on timeouts too when `retry_on_timeout=True`; its sync client retries at once (no back-off
    between attempts). When the node still does not answer, searches, writes and counts raise
    `ServiceUnavailableError` naming the hosts and the settings to check.

    Usage example:
    ```python
    from haystack_rerank.document_stores import OpenSearchStore

    store = OpenSearchStore()  # OPENSEARCH_HOSTS, OPENSEARCH_INDEX
    print(store.count_documents())
    ```
    """

    def __init__(
        self,
        *,
        hosts: str | list[str] | None = None,
        index: str | None = None,
        embedding_dim: int | None = None,
        mappings: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        shards: int | None = None,
        replicas: int | None = None,
        **kwargs: Any,
    ) -> None:
        """
        :param settings: The full settings of a new index; when given, `shards` and `replicas` are not used.
        :param shards: Primary shards of a new index; `None` reads `OPENSEARCH_SHARDS` (default 1).
        :param replicas: Replicas of each shard of a new index; `None` reads `OPENSEARCH_REPLICAS` (default 0).
        :param timeout: Seconds per request; `None` reads `OPENSEARCH_TIMEOUT` (default 30).
        :param max_retries: Retries of a failed request; `None` reads `OPENSEARCH_MAX_RETRIES` (default 3).
        :param kwargs: Any other `opensearchpy.OpenSearch` option, e.g. `retry_on_timeout=True`. `pool_maxsize`
            (connections kept open per host) defaults to 10 so concurrent queries reuse connections; the client's
            own default keeps one and opens a new connection for every concurrent request.
        """
        self._declared_hosts = hosts
        self._declared_index = index
        self._declared_timeout = timeout
        self._declared_max_retries = max_retries
        self._declared_settings = settings
        self._declared_shards = shards
        self._declared_replicas = replicas
        self._declared_pool_maxsize = "pool_maxsize" in kwargs
        kwargs.setdefault("pool_maxsize", DEFAULT_POOL_MAXSIZE)
        self._declared_embedding_dim = embedding_dim
        if embedding_dim is not None:  # only the integration's default mappings use it; ours hold no vectors
            kwargs["embedding_dim"] = embedding_dim
        if settings is None:
            settings = index_settings(
                config.resolve("OPENSEARCH_SHARDS", shards, param="shards"),
                config.resolve("OPENSEARCH_REPLICAS", replicas, param="replicas"),
            )
        resolved_hosts = config.resolve(ENV_OPENSEARCH_HOSTS, hosts or None)
        if isinstance(resolved_hosts, str):
            resolved_hosts = [h.strip() for h in resolved_hosts.split(",") if h.strip()]
        super().__init__(
            hosts=resolved_hosts,
            index=check_index_name(config.resolve(ENV_OPENSEARCH_INDEX, index or None)),
            mappings=mappings if mappings is not None else OPENSEARCH_MAPPINGS,
            settings=settings,
            # float seconds work; the hint says int
            timeout=config.resolve(ENV_OPENSEARCH_TIMEOUT, timeout, param="timeout"),  # type: ignore[arg-type]
            max_retries=config.resolve(ENV_OPENSEARCH_MAX_RETRIES, max_retries, param="max_retries"),
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["init_parameters"]["hosts"] = self._declared_hosts
        data["init_parameters"]["index"] = self._declared_index
        data["init_parameters"]["timeout"] = self._declared_timeout
        data["init_parameters"]["max_retries"] = self._declared_max_retries
        data["init_parameters"]["embedding_dim"] = self._declared_embedding_dim
        data["init_parameters"]["settings"] = self._declared_settings
        data["init_parameters"]["shards"] = self._declared_shards
        data["init_parameters"]["replicas"] = self._declared_replicas
        if not self._declared_pool_maxsize:
            data["init_parameters"].pop("pool_maxsize", None)
        return data

    # a node down at first use: the index was neither checked nor created, so start over on the next call, or a
    # write would let OpenSearch create the index without our mappings
    _ensure_initialized = forgets_on_failure("_client")(OpenSearchDocumentStore._ensure_initialized)
    _ensure_initialized_async = forgets_on_failure("_async_client")(OpenSearchDocumentStore._ensure_initialized_async)

    # The integration creates a missing index at first use, even for a search or a count. Here only a write
    # creates it (with our mappings); a search on a missing or empty index raises MissingIndexError.
    def _ensure_index_exists(self) -> None:
        if self._client.indices.exists(index=self._index):
            super()._ensure_index_exists()

    async def _ensure_index_exists_async(self) -> None:
        if await self._async_client.indices.exists(index=self._index):
            await super()._ensure_index_exists_async()

    def _index_body(self) -> dict[str, Any]:
        return {"mappings": self._mappings, "settings": self._settings}

    @_reports_unavailable
    def write_documents(
        self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE, refresh: Any = "wait_for"
    ) -> int:
        self._ensure_initialized()
        if self._create_index and not self._client.indices.exists(index=self._index):
            self._client.indices.create(index=self._index, body=self._index_body())
        return super().write_documents(documents, policy=policy, refresh=refresh)

    @_reports_unavailable
    async def write_documents_async(
        self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE, refresh: Any = "wait_for"
    ) -> int:
        await self._ensure_initialized_async()
        if self._create_index and not await self._async_client.indices.exists(index=self._index):
            await self._async_client.indices.create(index=self._index, body=self._index_body())
        return await super().write_documents_async(documents, policy=policy, refresh=refresh)

    @contextmanager
    def bulk_load(self) -> Iterator[Callable[..., int]]:
        """
        Write many batches at the cost of one refresh: yields `write(documents, policy)`, which writes like
        `write_documents` but without waiting for a refresh (`refresh=False`). Meanwhile the index's
        `refresh_interval` is -1 (OpenSearch builds no small segments to merge later). On leaving the block, also
        on an error, the interval is restored and the index refreshed: everything written is searchable when the
        block ends. The interval to restore is kept in the mapping's `_meta` while the load runs, so after a crash
        the next `bulk_load` (the next `index` run) restores the right one.

        Do not write with `refresh="wait_for"` (`write_documents`' default) to the index inside the block: with
        refresh_interval -1 such a write waits until the request times out.
        """
        original = self._begin_bulk_load()
        try:
            yield self._write_unrefreshed
        except BaseException:
            try:
                self._end_bulk_load(original)
            except Exception as err:  # noqa: BLE001 - the load's own error is the one to raise
                logger.error(
                    "Could not restore refresh_interval %r of OpenSearch index %r after a failed bulk load (%s); the "
                    "next `index` run restores it.",
                    original,
                    self._index,
                    err,
                )
            raise
        self._end_bulk_load(original)

    def _write_unrefreshed(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        return self.write_documents(documents, policy=policy, refresh=False)

    @_reports_unavailable
    def _begin_bulk_load(self) -> str | None:
        """Create the index if missing, record its refresh_interval in `_meta` and set it to -1; returns it."""
        self._ensure_initialized()
        client = self._client
        assert client is not None
        if self._create_index and not client.indices.exists(index=self._index):
            client.indices.create(index=self._index, body=self._index_body())
        meta = self._mapping_meta()
        if BULK_LOAD_MARKER in meta:
            original = meta[BULK_LOAD_MARKER].get("refresh_interval")
            logger.warning(
                "OpenSearch index %r was left by an interrupted bulk load (refresh_interval -1); this one restores "
                "refresh_interval %r when it ends.",
                self._index,
                original,
            )
        else:
            answer = client.indices.get_settings(index=self._index, name="index.refresh_interval", flat_settings=True)
            # an index without its own refresh_interval is left out of the answer: None, OpenSearch's default
            found: dict[str, Any] = {}
            for index in answer.values():  # one index (or the one an alias names)
                found = index.get("settings", {})
            original = found.get("index.refresh_interval")
            # recorded before it changes: a crash in between leaves a marker naming the unchanged interval
            marker = {BULK_LOAD_MARKER: {"refresh_interval": original}}
            client.indices.put_mapping(index=self._index, body={"_meta": {**meta, **marker}})
        client.indices.put_settings(index=self._index, body={"index": {"refresh_interval": "-1"}})
        return original

    @_reports_unavailable
    def _end_bulk_load(self, original: str | None) -> None:
        """Restore refresh_interval (None: OpenSearch's default), refresh, and drop the `_meta` marker."""
        client = self._client
        assert client is not None
        client.indices.put_settings(index=self._index, body={"index": {"refresh_interval": original}})
        client.indices.refresh(index=self._index)
        meta = self._mapping_meta()
        if meta.pop(BULK_LOAD_MARKER, None) is not None:
            client.indices.put_mapping(index=self._index, body={"_meta": meta})

    def _mapping_meta(self) -> dict[str, Any]:
        assert self._client is not None
        mapping = self._client.indices.get_mapping(index=self._index)
        return dict(next(iter(mapping.values()))["mappings"].get("_meta") or {})

    @_reports_unavailable
    def _bm25_retrieval(self, query: str, **kwargs: Any) -> list[Document]:
        kwargs["top_k"] = min(kwargs.get("top_k", 10), MAX_RESULT_WINDOW)
        documents = OpenSearchDocumentStore._bm25_retrieval(self, query, **kwargs)
        if not documents and self.count_documents() == 0:  # no hit because there is nothing to search
            raise self._missing_index_error("is empty")
        return documents

    @_reports_unavailable
    async def _bm25_retrieval_async(self, query: str, **kwargs: Any) -> list[Document]:
        kwargs["top_k"] = min(kwargs.get("top_k", 10), MAX_RESULT_WINDOW)
        documents = await OpenSearchDocumentStore._bm25_retrieval_async(self, query, **kwargs)
        if not documents and await self.count_documents_async() == 0:
            raise self._missing_index_error("is empty")
        return documents

    def _prepare_bm25_search_request(self, **kwargs: Any) -> dict[str, Any]:
        body = super()._prepare_bm25_search_request(**kwargs)
        # equal scores in id order: the same answer whichever copy of a shard (primary or replica) served it
        body.setdefault("sort", [{"_score": "desc"}, {"id": "asc"}])
        return body

    def _search_documents(self, request_body: dict[str, Any]) -> list[Document]:
        # the integration's search, refusing partial results: a shard with no live copy fails the search
        assert self._client is not None
        for attempt in itertools.count():
            try:
                answer = self._client.search(index=self._index, body=request_body, params=NO_PARTIAL_RESULTS)
                return OpenSearchDocumentStore._deserialize_search_hits(answer["hits"]["hits"])
            except TransportError as err:
                self._raise_unless_node_left(err, attempt)
        raise AssertionError  # unreachable: the loop returns or raises

    async def _search_documents_async(self, request_body: dict[str, Any]) -> list[Document]:
        assert self._async_client is not None
        for attempt in itertools.count():
            try:
                answer = await self._async_client.search(
                    index=self._index, body=request_body, params=NO_PARTIAL_RESULTS
                )
                return OpenSearchDocumentStore._deserialize_search_hits(answer["hits"]["hits"])
            except TransportError as err:
                self._raise_unless_node_left(err, attempt)
        raise AssertionError

    def _raise_unless_node_left(self, err: TransportError, attempt: int) -> None:
        """Let the search run again if a node left while it ran and retries are left; otherwise raise `err`."""
        if not _node_left(err) or attempt >= self._kwargs["max_retries"]:
            raise err
        logger.warning("OpenSearch search run again: a node left while it ran (%s)", err)

    # the integration's methods, with a clear error when the node does not answer or the index does not exist
    count_documents = _reports_unavailable(OpenSearchDocumentStore.count_documents)
    count_documents_async = _reports_unavailable(OpenSearchDocumentStore.count_documents_async)
    filter_documents = _reports_unavailable(OpenSearchDocumentStore.filter_documents)
    filter_documents_async = _reports_unavailable(OpenSearchDocumentStore.filter_documents_async)
    delete_documents = _reports_unavailable(OpenSearchDocumentStore.delete_documents)

    @_reports_unavailable
    def manifest_entries(self, key: str) -> dict[str, str]:
        """`id -> meta[key]` of every document (only those two fields are read); empty if the index is missing.
        The index is refreshed first, so documents written without a refresh (e.g. by a bulk load that was
        interrupted) are read too; credentials that may read but not refresh read what is searchable."""
        self._ensure_initialized()
        if not self._client.indices.exists(index=self._index):
            return {}
        try:
            self._client.indices.refresh(index=self._index)
        except AuthorizationException:
            logger.debug("No permission to refresh OpenSearch index %r; reading what is searchable", self._index)
        hits = scan(self._client, index=self._index, query={"_source": ["id", key]}, size=5_000)
        return {hit["_source"].get("id", hit["_id"]): str(hit["_source"].get(key)) for hit in hits}

    @_reports_unavailable
    def mapped_types(self) -> dict[str, str]:
        """`field -> OpenSearch type` of the index's top-level fields (empty if the index does not exist yet)."""
        self._ensure_initialized()
        if not self._client.indices.exists(index=self._index):
            return {}
        mapping = self._client.indices.get_mapping(index=self._index)
        properties = next(iter(mapping.values()))["mappings"].get("properties", {})
        return {name: str(spec.get("type", "object")) for name, spec in properties.items()}

    def _missing_index_error(self, state: str) -> MissingIndexError:
        hosts = ", ".join(without_credentials(str(host)) for host in self._hosts or [])
        return MissingIndexError(
            f"The OpenSearch index {self._index!r} at {hosts} {state}. Index a corpus into it first "
            f"(`haystack-rerank index --index {self._index}`), or check the name (--index / {ENV_OPENSEARCH_INDEX})."
        )

    def _unavailable_message(self, err: TransportError) -> str:
        hosts = ", ".join(without_credentials(str(host)) for host in self._hosts or [])
        what = "timed out" if isinstance(err, ConnectionTimeout) else "did not answer"
        retries = self._kwargs["max_retries"]
        return (
            f"OpenSearch at {hosts} {what} ({_cause(err)}; {self._timeout:g} s timeout, {retries} retries). "
            f"Start the node (e.g. `bash scripts/opensearch.sh start`) or point {ENV_OPENSEARCH_HOSTS} at a running "
            f"one; if it is only slow, raise {ENV_OPENSEARCH_TIMEOUT} or {ENV_OPENSEARCH_MAX_RETRIES}."
        )

    def delete_index(self) -> None:
        """Delete this store's index (tests and benchmarks clean up with it)."""
        self._ensure_initialized()
        self._client.indices.delete(index=self._index, ignore_unavailable=True)


def _cause(err: TransportError) -> str:
    """The low-level reason, e.g. "[Errno 111] Connection refused" or "Read timed out. (read timeout=1.0)"."""
    cause = err.info if isinstance(err.info, BaseException) else err
    text = str(cause)
    return f"{type(err).__name__}: {text.rsplit('): ', 1)[-1].rsplit('>: ', 1)[-1]}"
