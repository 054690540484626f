"""`OpenSearchDocumentStore` configured from the environment, with English analysis for BM25."""

from __future__ import annotations

import os
from typing import Any

from haystack_integrations.document_stores.opensearch import OpenSearchDocumentStore

from haystack_rerank.settings import DEFAULT_INDEX, DEFAULT_OPENSEARCH_HOSTS, ENV_OPENSEARCH_HOSTS, ENV_OPENSEARCH_INDEX

# English analysis (stemming + stop words) on content and title; a single node needs no replicas.
OPENSEARCH_MAPPINGS: dict[str, Any] = {
    "properties": {
        "content": {"type": "text", "analyzer": "english"},
        "title": {"type": "text", "analyzer": "english"},
    },
    "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
}
OPENSEARCH_SETTINGS: dict[str, Any] = {"index": {"number_of_shards": 1, "number_of_replicas": 0}}


class OpenSearchStore(OpenSearchDocumentStore):
    """
    An `OpenSearchDocumentStore` whose `hosts` and `index`, when not given, come from `OPENSEARCH_HOSTS`
    (comma-separated; default `http://127.0.0.1:9200`) and `OPENSEARCH_INDEX` (default `haystack_rerank`)
    at construction time. `to_dict` writes what was given (usually `None`), so YAML carries no host names.
    Credentials stay the integration's `Secret`s (`OPENSEARCH_USERNAME` / `OPENSEARCH_PASSWORD`).

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
        timeout: int | None = 30,
        **kwargs: Any,
    ) -> None:
        self._declared_hosts = hosts
        self._declared_index = index
        resolved_hosts = hosts or os.environ.get(ENV_OPENSEARCH_HOSTS) or DEFAULT_OPENSEARCH_HOSTS
        if isinstance(resolved_hosts, str):
            resolved_hosts = [h.strip() for h in resolved_hosts.split(",") if h.strip()]
        super().__init__(
            hosts=resolved_hosts,
            index=index or os.environ.get(ENV_OPENSEARCH_INDEX) or DEFAULT_INDEX,
            embedding_dim=embedding_dim,
            mappings=mappings if mappings is not None else OPENSEARCH_MAPPINGS,
            settings=settings if settings is not None else OPENSEARCH_SETTINGS,
            timeout=timeout,
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["init_parameters"]["hosts"] = self._declared_hosts
        data["init_parameters"]["index"] = self._declared_index
        return data

    def delete_index(self) -> None:
        """Delete this store's index (tests and benchmarks clean up with it)."""
        self._ensure_initialized()
        self._client.indices.delete(index=self._index, ignore_unavailable=True)
