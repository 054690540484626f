"""
The integrations' retrievers, accepting any subclass of their document store in YAML.

`OpenSearchBM25Retriever.from_dict` and `QdrantEmbeddingRetriever.from_dict` rebuild the store with the base
class, which would turn `OpenSearchStore` / `QdrantStore` (and their environment-driven settings) back into
the base class. These subclasses rebuild the store from its serialized `type`, checked against Haystack's
module allowlist; everything else is the integration's code.
"""

from __future__ import annotations

from typing import Any

from haystack import component, default_from_dict
from haystack.core.serialization import import_class_by_name
from haystack.document_stores.types import FilterPolicy
from haystack_integrations.components.retrievers.opensearch import (
    OpenSearchBM25Retriever as _OpenSearchBM25Retriever,
)
from haystack_integrations.components.retrievers.qdrant import (
    QdrantEmbeddingRetriever as _QdrantEmbeddingRetriever,
)


def _from_dict_keeping_store_type(cls: type, data: dict[str, Any]) -> Any:
    init_parameters = data["init_parameters"]
    store_data = init_parameters["document_store"]
    store_class = import_class_by_name(store_data["type"])  # refuses modules outside the allowlist
    init_parameters["document_store"] = store_class.from_dict(store_data)  # type: ignore[attr-defined]
    if init_parameters.get("filter_policy"):
        init_parameters["filter_policy"] = FilterPolicy.from_str(init_parameters["filter_policy"])
    return default_from_dict(cls, data)


@component
class OpenSearchBM25Retriever(_OpenSearchBM25Retriever):
    """The integration's `OpenSearchBM25Retriever`; keeps an `OpenSearchStore` an `OpenSearchStore` in YAML."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenSearchBM25Retriever:
        return _from_dict_keeping_store_type(cls, data)


@component
class QdrantEmbeddingRetriever(_QdrantEmbeddingRetriever):
    """The integration's `QdrantEmbeddingRetriever`; keeps a `QdrantStore` a `QdrantStore` in YAML."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QdrantEmbeddingRetriever:
        return _from_dict_keeping_store_type(cls, data)
