"""`OpenSearchDocumentStore` configured from the environment, with English analysis for BM25."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from haystack_integrations.document_stores.opensearch import OpenSearchDocumentStore
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from haystack_rerank.errors import ServiceUnavailableError
from haystack_rerank.settings import (
    DEFAULT_INDEX,
    DEFAULT_OPENSEARCH_HOSTS,
    ENV_OPENSEARCH_HOSTS,
    ENV_OPENSEARCH_INDEX,
    ENV_OPENSEARCH_MAX_RETRIES,
    ENV_OPENSEARCH_TIMEOUT,
    check_retries,
    check_timeout,
    opensearch_max_retries_from_env,
    opensearch_timeout_from_env,
    without_credentials,
)

# English analysis (stemming + stop words) on content and title; a single node needs no replicas.
OPENSEARCH_MAPPINGS: dict[str, Any] = {
    "properties": {
        "content": {"type": "text", "analyzer": "english"},
        "title": {"type": "text", "analyzer": "english"},
    },
    "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
}
OPENSEARCH_SETTINGS: dict[str, Any] = {"index": {"number_of_shards": 1, "number_of_replicas": 0}}
# answers of a node that is overloaded, starting or shutting down
UNAVAILABLE_STATUSES = (429, 502, 503, 504)

F = TypeVar("F", bound=Callable[..., Any])


def _reports_unavailable(method: F) -> F:
    """Turn "the node did not answer" errors (after the client's retries) into one clear ServiceUnavailableError."""

    @functools.wraps(method)
    def wrapper(self: OpenSearchStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except TransportError as err:
            if not isinstance(err, OpenSearchConnectionError) and err.status_code not in UNAVAILABLE_STATUSES:
                raise
            raise ServiceUnavailableError(self._unavailable_message(err)) from err

    return wrapper  # type: ignore[return-value]


DEFAULT_POOL_MAXSIZE = 10  # concurrent requests per host that reuse an open connection


class OpenSearchStore(OpenSearchDocumentStore):
    """
    An `OpenSearchDocumentStore` whose `hosts` and `index`, when not given, come from `OPENSEARCH_HOSTS`
    (comma-separated; default `http://127.0.0.1:9200`) and `OPENSEARCH_INDEX` (default `haystack_rerank`)
    at construction time. `to_dict` writes what was given (usually `None`), so YAML carries no host names.
    Credentials stay the integration's `Secret`s (`OPENSEARCH_USERNAME` / `OPENSEARCH_PASSWORD`).

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
        embedding_dim: int = 384,
        mappings: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        """
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
        self._declared_pool_maxsize = "pool_maxsize" in kwargs
        kwargs.setdefault("pool_maxsize", DEFAULT_POOL_MAXSIZE)
        timeout = check_timeout("timeout", timeout) if timeout is not None else opensearch_timeout_from_env()
        max_retries = (
            check_retries("max_retries", max_retries) if max_retries is not None else opensearch_max_retries_from_env()
        )
        resolved_hosts = hosts or os.environ.get(ENV_OPENSEARCH_HOSTS) or DEFAULT_OPENSEARCH_HOSTS
        if isinstance(resolved_hosts, str):
            resolved_hosts = [h.strip() for h in resolved_hosts.split(",") if h.strip()]
        super().__init__(
            hosts=resolved_hosts,
            index=index or os.environ.get(ENV_OPENSEARCH_INDEX) or DEFAULT_INDEX,
            embedding_dim=embedding_dim,
            mappings=mappings if mappings is not None else OPENSEARCH_MAPPINGS,
            settings=settings if settings is not None else OPENSEARCH_SETTINGS,
            timeout=timeout,  # type: ignore[arg-type]  # float seconds work; the hint says int
            max_retries=max_retries,
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["init_parameters"]["hosts"] = self._declared_hosts
        data["init_parameters"]["index"] = self._declared_index
        data["init_parameters"]["timeout"] = self._declared_timeout
        data["init_parameters"]["max_retries"] = self._declared_max_retries
        if not self._declared_pool_maxsize:
            data["init_parameters"].pop("pool_maxsize", None)
        return data

    def _ensure_initialized(self) -> None:
        try:
            super()._ensure_initialized()
        except Exception:
            # the index was neither checked nor created: start over on the next call, or a write to a node that
            # was down at first use would let OpenSearch create the index without our mappings
            self._client = None
            raise

    # the integration's methods, with a clear error when the node does not answer
    _bm25_retrieval = _reports_unavailable(OpenSearchDocumentStore._bm25_retrieval)
    write_documents = _reports_unavailable(OpenSearchDocumentStore.write_documents)
    count_documents = _reports_unavailable(OpenSearchDocumentStore.count_documents)
    filter_documents = _reports_unavailable(OpenSearchDocumentStore.filter_documents)

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
