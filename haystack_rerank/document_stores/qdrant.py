"""`QdrantDocumentStore` configured from the environment; embedded clients shared per folder."""

from __future__ import annotations

import atexit
import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import qdrant_client
from haystack import default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from haystack_rerank.errors import ServiceUnavailableError
from haystack_rerank.settings import (
    DEFAULT_INDEX,
    ENV_DATA_DIR,
    ENV_QDRANT_API_KEY,
    ENV_QDRANT_COLLECTION,
    ENV_QDRANT_PATH,
    ENV_QDRANT_TIMEOUT,
    ENV_QDRANT_URL,
    check_timeout,
    qdrant_timeout_from_env,
    without_credentials,
)

# Embedded Qdrant locks its folder: a second client on the same folder fails. Stores of one process that
# point at the same folder (e.g. an indexing and a query pipeline) share one client instead.
_EMBEDDED_CLIENTS: dict[str, qdrant_client.QdrantClient] = {}
_EMBEDDED_LOCK = threading.Lock()


F = TypeVar("F", bound=Callable[..., Any])


def _reports_unavailable(method: F) -> F:
    """Turn a locked folder or an unreachable server into one clear ServiceUnavailableError."""

    @functools.wraps(method)
    def wrapper(self: QdrantStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ServiceUnavailableError:
            raise
        except RuntimeError as err:
            if self.path and "already accessed by another instance" in str(err):
                raise ServiceUnavailableError(self._locked_message()) from err
            raise
        except (ResponseHandlingException, UnexpectedResponse) as err:
            if isinstance(err, UnexpectedResponse) and (err.status_code or 0) < 500:  # noqa: PLR2004
                raise
            raise ServiceUnavailableError(self._unreachable_message(err)) from err

    return wrapper  # type: ignore[return-value]


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

    The collection is `index`, or `QDRANT_COLLECTION`, or `haystack_rerank`. `to_dict` writes only what was
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
        embedding_dim: int = 384,
        similarity: str = "cosine",
        api_key: Secret | None = Secret.from_env_var(ENV_QDRANT_API_KEY, strict=False),  # noqa: B008
        timeout: float | None = None,
        progress_bar: bool = False,
        write_batch_size: int = 256,
        recreate_index: bool = False,
    ) -> None:
        self._declared = {"url": url, "path": path, "location": location, "index": index}
        self._declared_timeout = timeout
        timeout = check_timeout("timeout", timeout) if timeout is not None else qdrant_timeout_from_env()
        url = url or (None if location else os.environ.get(ENV_QDRANT_URL))
        if not (location or url):
            path = (
                path
                or os.environ.get(ENV_QDRANT_PATH)
                or str(Path(os.environ.get(ENV_DATA_DIR, ".haystack-rerank")) / "qdrant")
            )
        else:
            path = None
        super().__init__(
            location=location,
            url=url,
            path=path,
            api_key=api_key if url else None,
            index=index or os.environ.get(ENV_QDRANT_COLLECTION) or DEFAULT_INDEX,
            embedding_dim=embedding_dim,
            similarity=similarity,
            timeout=timeout,  # type: ignore[arg-type]  # float seconds work; the hint says int
            progress_bar=progress_bar,
            write_batch_size=write_batch_size,
            recreate_index=recreate_index,
        )
        self._api_key_declared = api_key

    @_reports_unavailable
    def _initialize_client(self) -> None:
        if self._client is not None:
            return
        if not self.path:
            try:
                super()._initialize_client()
            except Exception:
                self._client = None  # the collection was not set up: the next call starts over
                raise
            return
        folder = os.path.realpath(self.path)
        with _EMBEDDED_LOCK:
            client = _EMBEDDED_CLIENTS.get(folder)
            if client is None:
                client = qdrant_client.QdrantClient(**self._prepare_client_params())
                _EMBEDDED_CLIENTS[folder] = client
        self._client = client
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

    # the integration's methods, with a clear error when the folder is locked or the server does not answer
    _query_by_embedding = _reports_unavailable(QdrantDocumentStore._query_by_embedding)
    write_documents = _reports_unavailable(QdrantDocumentStore.write_documents)
    count_documents = _reports_unavailable(QdrantDocumentStore.count_documents)

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
            embedding_dim=self.embedding_dim,
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
