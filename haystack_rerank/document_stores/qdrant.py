"""`QdrantDocumentStore` configured from the environment; embedded clients shared per folder."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

import qdrant_client
from haystack import default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from haystack_rerank.settings import (
    DEFAULT_INDEX,
    ENV_DATA_DIR,
    ENV_QDRANT_API_KEY,
    ENV_QDRANT_COLLECTION,
    ENV_QDRANT_PATH,
    ENV_QDRANT_URL,
)

# Embedded Qdrant locks its folder: a second client on the same folder fails. Stores of one process that
# point at the same folder (e.g. an indexing and a query pipeline) share one client instead.
_EMBEDDED_CLIENTS: dict[str, qdrant_client.QdrantClient] = {}
_EMBEDDED_LOCK = threading.Lock()


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
    given, so YAML carries no URL, path or key.

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
        timeout: int | None = None,
        progress_bar: bool = False,
        write_batch_size: int = 256,
        recreate_index: bool = False,
    ) -> None:
        self._declared = {"url": url, "path": path, "location": location, "index": index}
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
            timeout=timeout,
            progress_bar=progress_bar,
            write_batch_size=write_batch_size,
            recreate_index=recreate_index,
        )
        self._api_key_declared = api_key

    def _initialize_client(self) -> None:
        if self._client is not None or not self.path:
            super()._initialize_client()
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
            timeout=self.timeout,
            progress_bar=self.progress_bar,
            write_batch_size=self.write_batch_size,
            recreate_index=self.recreate_index,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QdrantStore:
        deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
        return default_from_dict(cls, data)
