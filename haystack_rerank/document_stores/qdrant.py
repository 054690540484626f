"""`QdrantDocumentStore` configured from the environment; embedded clients shared per folder."""

from __future__ import annotations

import asyncio
import atexit
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import qdrant_client
from haystack import Document, default_from_dict, default_to_dict
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret, deserialize_secrets_inplace
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
from qdrant_client.http import models as rest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from haystack_rerank import config
from haystack_rerank.blas_threads import single_blas_thread
from haystack_rerank.config import without_credentials
from haystack_rerank.document_stores._unavailable import clear_errors, forgets_on_failure
from haystack_rerank.errors import ConfigurationError, MissingIndexError, ServiceUnavailableError

ENV_QDRANT_URL, ENV_QDRANT_PATH = "QDRANT_URL", "QDRANT_PATH"
ENV_QDRANT_COLLECTION, ENV_QDRANT_TIMEOUT = "QDRANT_COLLECTION", "QDRANT_TIMEOUT"

# Embedded Qdrant locks its folder: a second client on the same folder fails. Stores of one process that
# point at the same folder (e.g. an indexing and a query pipeline) share one client instead.
_EMBEDDED_CLIENTS: dict[str, qdrant_client.QdrantClient] = {}
_EMBEDDED_LOCK = threading.Lock()


def _clear_error(self: QdrantStore, err: Exception) -> Exception | None:
    """The package's error for a locked folder, a server that does not answer, or a URL that is not Qdrant."""
    if isinstance(err, (ServiceUnavailableError, MissingIndexError, ConfigurationError)):
        return None
    if isinstance(err, RuntimeError):
        locked = self.path and "already accessed by another instance" in str(err)
        return ServiceUnavailableError(self._locked_message()) if locked else None
    if not isinstance(err, (ResponseHandlingException, UnexpectedResponse)):
        return None
    client_error = isinstance(err, UnexpectedResponse) and (err.status_code or 0) < 500  # noqa: PLR2004
    # a server answered, but maybe not Qdrant: an HTTP 4xx, or a body qdrant-client cannot parse
    if self.url and (client_error or not _is_transport_error(err)) and self._answers_like_qdrant() is False:
        return ConfigurationError(self._not_qdrant_message(err))
    return None if client_error else ServiceUnavailableError(self._unreachable_message(err))


# sync and async methods alike: a clear error when the folder is locked or the server does not answer
_reports_unavailable = clear_errors(_clear_error)


def _is_transport_error(err: Exception) -> bool:
    """qdrant-client wraps connection errors and timeouts in ResponseHandlingException (`source`)."""
    import httpx

    source = getattr(err, "source", None)
    return isinstance(source, (httpx.TransportError, OSError)) or "timed out" in str(err).lower()


@atexit.register
def _close_embedded_clients() -> None:
    # closing at exit, before interpreter teardown, flushes the folder and avoids qdrant's noisy __del__
    with _EMBEDDED_LOCK:
        clients = list(_EMBEDDED_CLIENTS.values())
        _EMBEDDED_CLIENTS.clear()
    for client in clients:
        client.close()


class QdrantStore(QdrantDocumentStore):
    """
    A `QdrantDocumentStore` that finds its database from the environment when not told:

    1. `location=":memory:"` if given (tests; a store rebuilt from YAML in this mode starts empty),
    2. else `url`, or `QDRANT_URL`: a Qdrant server (production), with `QDRANT_API_KEY` as a Secret,
    3. else `path`, or `QDRANT_PATH`, or `$HAYSTACK_RERANK_DATA/qdrant` (default `.haystack-rerank/qdrant`):
       embedded on-disk Qdrant. Stores in one process that name the same folder share one client.

    The collection is `index`, or `QDRANT_COLLECTION`, or `haystack_rerank`; the vector size is `embedding_dim`,
    or the size of the configured embedding model (`HAYSTACK_RERANK_EMBEDDING_MODEL`). `to_dict` writes only what was
    given, so YAML carries no URL, path or key. Requests to a server wait at most `timeout` seconds, or
    `QDRANT_TIMEOUT` (unset: qdrant-client's default).

    A folder locked by another process (embedded Qdrant allows one process per folder) or a server that does
    not answer raises `ServiceUnavailableError` naming the folder or URL and the fix; the next call tries again.

    Usage example:
    ```python
    from haystack_rerank.document_stores import QdrantStore

    store = QdrantStore()  # QDRANT_URL or QDRANT_PATH, QDRANT_COLLECTION
    print(store.count_documents())
    ```
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        path: str | None = None,
        location: str | None = None,
        index: str | None = None,
        embedding_dim: int | None = None,
        similarity: str = "cosine",
        api_key: Secret | None = Secret.from_env_var("QDRANT_API_KEY", strict=False),  # noqa: B008
        timeout: float | None = None,
        progress_bar: bool = False,
        write_batch_size: int = 256,
        recreate_index: bool = False,
    ) -> None:
        self._declared = {"url": url, "path": path, "location": location, "index": index}
        self._declared_timeout = timeout
        self._declared_embedding_dim = embedding_dim
        url = url or (None if location else config.resolve(ENV_QDRANT_URL))
        path = None if (location or url) else config.qdrant_path(path)
        super().__init__(
            location=location,
            url=url,
            path=path,
            api_key=api_key if url else None,
            index=config.resolve(ENV_QDRANT_COLLECTION, index or None),
            embedding_dim=config.embedding_dim(embedding_dim),
            similarity=similarity,
            # float seconds work; the hint says int
            timeout=config.resolve(ENV_QDRANT_TIMEOUT, timeout, param="timeout"),  # type: ignore[arg-type]
            progress_bar=progress_bar,
            write_batch_size=write_batch_size,
            recreate_index=recreate_index,
        )
        self._api_key_declared = api_key

    @_reports_unavailable
    def _initialize_client(self, *, create: bool = False) -> None:
        """Open the client; only a write (`create=True`) creates a missing collection or embedded folder."""
        if self._client is not None:
            return
        self._may_create = create
        if not self.path:
            try:
                super()._initialize_client()
            except Exception:
                self._client = None  # the collection was not set up: the next call starts over
                raise
            return
        folder = os.path.realpath(self.path)
        if not create and not os.path.isdir(folder):
            raise self._missing_index_error(f"(its embedded Qdrant folder {folder} does not exist)")
        with _EMBEDDED_LOCK:
            client = _EMBEDDED_CLIENTS.get(folder)
            if client is None:
                client = qdrant_client.QdrantClient(**self._prepare_client_params())
                _EMBEDDED_CLIENTS[folder] = client
        self._client = client
        try:
            self._set_up_collection(
                self.index,
                self.embedding_dim,
                self.recreate_index,
                self.similarity,
                self.use_sparse_embeddings,
                self.sparse_idf,
                self.on_disk,
                self.payload_fields_to_index,
            )
        except Exception:
            self._client = None  # release this store's handle; the next call starts over
            raise

    def _set_up_collection(self, collection_name: str, *args: Any, **kwargs: Any) -> None:
        # the integration creates a missing collection at first use, even for a search or a count
        if not getattr(self, "_may_create", True) and not self._client.collection_exists(collection_name):
            raise self._missing_index_error("does not exist")
        try:
            super()._set_up_collection(collection_name, *args, **kwargs)
        except ValueError as err:  # the integration's "configured with a vector size ..." and similar
            msg = (
                f"The collection {collection_name!r} does not fit this store: {err} Its vectors come from another "
                f"embedding model: index into another collection (--collection / {ENV_QDRANT_COLLECTION}) or "
                "delete this one and index again."
            )
            raise ConfigurationError(msg) from err

    def _missing_index_error(self, state: str) -> MissingIndexError:
        where = f"Qdrant at {without_credentials(str(self.url))}" if self.url else "embedded Qdrant"
        return MissingIndexError(
            f"The collection {self.index!r} of {where} {state}. Index a corpus into it first (`haystack-rerank "
            f"index --collection {self.index}`), or check the name (--collection / {ENV_QDRANT_COLLECTION}) "
            f"and {ENV_QDRANT_URL if self.url else ENV_QDRANT_PATH}."
        )

    @_reports_unavailable
    def write_documents(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.FAIL) -> int:
        self._initialize_client(create=True)
        with self._one_sync_per_call():
            return super().write_documents(documents, policy=policy)

    @_reports_unavailable
    def delete_documents(self, document_ids: list[str]) -> None:
        self._initialize_client()
        with self._one_sync_per_call():
            QdrantDocumentStore.delete_documents(self, document_ids)

    @contextmanager
    def _one_sync_per_call(self) -> Iterator[None]:
        """
        Embedded Qdrant (qdrant-client's local mode) stores each point in its own SQLite transaction, and SQLite's
        default journal syncs the disk at every commit: ~8 ms per document here, most of a write's time. In
        write-ahead-log mode with `synchronous=NORMAL` a commit does not sync (it survives a crash of the process,
        not yet a power loss); the checkpoint at the end of the call syncs the log and the database once, so
        what a call wrote is on disk when it returns, as before. A server (`url`) or `:memory:` is left as it is.
        """
        connection = self._embedded_sqlite()
        if connection is None:
            yield
            return
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            connection.execute("PRAGMA wal_checkpoint(FULL)")

    def _embedded_sqlite(self) -> sqlite3.Connection | None:
        """The SQLite connection of this collection in embedded Qdrant (qdrant-client's local mode), if any."""
        local = getattr(self._client, "_client", None)  # QdrantClient -> QdrantLocal
        collection = getattr(local, "collections", {}).get(self.index) if self.path else None
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        return connection if isinstance(connection, sqlite3.Connection) else None

    @_reports_unavailable
    async def write_documents_async(
        self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.FAIL
    ) -> int:
        if self.path or self.location:  # embedded: share the sync client (a second client would lock the folder)
            return await asyncio.to_thread(self.write_documents, documents, policy)
        await self._initialize_async_client()  # a server: the integration's async client
        return await super().write_documents_async(documents, policy=policy)

    @_reports_unavailable
    @forgets_on_failure("_async_client")  # as in _initialize_client: the next call sets the collection up again
    async def _initialize_async_client(self) -> None:
        if self._async_client is None:
            self._may_create = True  # only writes reach the async client of a server (queries run sync)
        await super()._initialize_async_client()

    @_reports_unavailable
    def _query_by_embedding(self, query_embedding: list[float], *args: Any, **kwargs: Any) -> list[Document]:
        # embedded: numpy scores the query here; with one BLAS thread no thread is left spinning after it
        with single_blas_thread() if self.path or self.location else nullcontext():
            documents = QdrantDocumentStore._query_by_embedding(self, query_embedding, *args, **kwargs)
        if not documents and self.count_documents() == 0:  # no hit because there is nothing to search
            raise self._missing_index_error("is empty")
        return documents

    async def _query_by_embedding_async(self, query_embedding: list[float], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._query_by_embedding, query_embedding, *args, **kwargs)

    async def count_documents_async(self) -> int:
        return await asyncio.to_thread(self.count_documents)

    @_reports_unavailable
    def manifest_entries(self) -> list[tuple[str, dict[str, Any]]]:
        """`(id, meta)` of every point, read without texts or vectors."""
        self._initialize_client()
        entries, offset = [], None
        while True:
            records, offset = self._client.scroll(
                collection_name=self.index,
                limit=5_000,
                offset=offset,
                with_payload=rest.PayloadSelectorExclude(exclude=["content"]),
                with_vectors=False,
            )
            entries += [(record.payload["id"], record.payload.get("meta") or {}) for record in records]
            if offset is None:
                return entries

    @_reports_unavailable
    def vector_size(self) -> int | None:
        """The dimension of the collection's vectors."""
        self._initialize_client()
        vectors = self._client.get_collection(self.index).config.params.vectors
        return getattr(vectors, "size", None)

    # the integration's methods, with a clear error when the folder is locked or the server does not answer
    count_documents = _reports_unavailable(QdrantDocumentStore.count_documents)

    def _answers_like_qdrant(self) -> bool | None:
        """Whether the server at `url` answers Qdrant's root endpoint (`{"title": "qdrant - ...", ...}`);
        None when it does not answer at all."""
        import httpx

        try:
            answer = httpx.get(str(self.url).rstrip("/") + "/", timeout=self.timeout or 5)
        except httpx.HTTPError:
            return None
        try:
            return "qdrant" in str(answer.json().get("title", "")).lower()
        except Exception:  # noqa: BLE001 - not JSON, not an object: not Qdrant
            return False

    def _not_qdrant_message(self, err: Exception) -> str:
        url = without_credentials(str(self.url))
        first_line = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return (
            f"{ENV_QDRANT_URL}={url} answered, but not as a Qdrant server ({type(err).__name__}: {first_line}). "
            f"Point {ENV_QDRANT_URL} at Qdrant's REST port (6333 by default), or unset it for embedded Qdrant."
        )

    def _locked_message(self) -> str:
        return (
            f"The embedded Qdrant folder {os.path.realpath(str(self.path))} is in use by another process (embedded "
            f"Qdrant allows one process per folder). Stop the other process, give this one its own "
            f"{ENV_QDRANT_PATH}, or run a Qdrant server and set {ENV_QDRANT_URL} so several processes can share it."
        )

    def _unreachable_message(self, err: Exception) -> str:
        timeout = f"{self.timeout:g} s timeout" if self.timeout else "qdrant-client's default timeout"
        url = without_credentials(str(self.url))
        return (
            f"Qdrant at {url} did not answer ({type(err).__name__}: {err}; {timeout}). Start the server or "
            f"point {ENV_QDRANT_URL} at a running one; if it is only slow, raise {ENV_QDRANT_TIMEOUT}."
        )

    def close(self) -> None:
        if self.path:  # shared embedded client: release this store's handle only
            self._client = None
            return
        super().close()

    @staticmethod
    def close_embedded(path: str) -> None:
        """Close the shared embedded client of `path`, unlocking the folder for another process."""
        with _EMBEDDED_LOCK:
            client = _EMBEDDED_CLIENTS.pop(os.path.realpath(path), None)
        if client is not None:
            client.close()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            **self._declared,
            embedding_dim=self._declared_embedding_dim,
            similarity=self.similarity,
            api_key=self._api_key_declared.to_dict() if self._api_key_declared else None,
            timeout=self._declared_timeout,
            progress_bar=self.progress_bar,
            write_batch_size=self.write_batch_size,
            recreate_index=self.recreate_index,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QdrantStore:
        deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
        return default_from_dict(cls, data)
