"""
The integrations' retrievers, accepting any subclass of their document store in YAML.

`OpenSearchBM25Retriever.from_dict` and `QdrantEmbeddingRetriever.from_dict` rebuild the store with the base
class, which would turn `OpenSearchStore` / `QdrantStore` (and their environment-driven settings) back into
the base class. These subclasses rebuild the store from its serialized `type`, checked against Haystack's
module allowlist; everything else is the integration's code. YAML written before this module was renamed names
`haystack_rerank.components.retrievers.stores`, which stays an alias of it.
"""

from __future__ import annotations

import logging
from typing import Any

from haystack import Document, component, default_from_dict
from haystack.core.serialization import generate_qualified_class_name, import_class_by_name
from haystack.document_stores.types import FilterPolicy
from haystack_integrations.components.retrievers.opensearch import (
    OpenSearchBM25Retriever as _OpenSearchBM25Retriever,
)
from haystack_integrations.components.retrievers.qdrant import (
    QdrantEmbeddingRetriever as _QdrantEmbeddingRetriever,
)

logger = logging.getLogger(__name__)


def _from_dict_keeping_store_type(cls: type, data: dict[str, Any]) -> Any:
    data = {**data, "type": generate_qualified_class_name(cls)}  # also read under the older module path
    init_parameters = data["init_parameters"]
    store_data = init_parameters["document_store"]
    store_class = import_class_by_name(store_data["type"])  # refuses modules outside the allowlist
    init_parameters["document_store"] = store_class.from_dict(store_data)  # type: ignore[attr-defined]
    if init_parameters.get("filter_policy"):
        init_parameters["filter_policy"] = FilterPolicy.from_str(init_parameters["filter_policy"])
    return default_from_dict(cls, data)


# OpenSearch refuses a query of more than `indices.query.bool.max_clause_count` (1024) clauses per field, one
# per analysed term: "failed to create query: maxClauseCount is set to 1024". Longer queries are cut.
MAX_QUERY_TERMS = 1000
_ANALYZED_CHARS = 10_000  # _analyze refuses more than index.analyze.max_token_count (10,000) tokens; a term >= 1 char


def _cut(query: str, tokens: list[dict[str, Any]]) -> str:
    """The query up to its MAX_QUERY_TERMS-th analysed term (and at most _ANALYZED_CHARS characters)."""
    head = query[:_ANALYZED_CHARS]
    kept = head if len(tokens) <= MAX_QUERY_TERMS else head[: tokens[MAX_QUERY_TERMS - 1]["end_offset"]]
    if kept != query:
        logger.warning(
            "OpenSearchBM25Retriever: the query has %d characters; BM25 searches its first %d (at most %d terms).",
            len(query),
            len(kept),
            MAX_QUERY_TERMS,
        )
    return kept


def _analyze_body(query: str) -> dict[str, Any]:
    return {"field": "content", "text": query[:_ANALYZED_CHARS]}


@component
class OpenSearchBM25Retriever(_OpenSearchBM25Retriever):
    """
    The integration's `OpenSearchBM25Retriever`; keeps an `OpenSearchStore` an `OpenSearchStore` in YAML, and
    searches a query longer than 1,000 characters by its first `MAX_QUERY_TERMS` terms, as the index's `content`
    analyser cuts them (a longer query would exceed OpenSearch's clause limit and fail).
    """

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenSearchBM25Retriever:
        return _from_dict_keeping_store_type(cls, data)

    @component.output_types(documents=list[Document])
    def run(  # noqa: PLR0913 - the integration's signature
        self,
        query: str,
        filters: dict[str, Any] | None = None,
        all_terms_must_match: bool | None = None,
        top_k: int | None = None,
        fuzziness: int | str | None = None,
        scale_score: bool | None = None,
        custom_query: dict[str, Any] | None = None,
        document_store: Any = None,
    ) -> dict[str, list[Document]]:
        if isinstance(query, str) and len(query) > MAX_QUERY_TERMS:  # shorter ones cannot hold more terms
            store = document_store or self._document_store
            try:
                store._ensure_initialized()
                analyzed = store._client.indices.analyze(index=store._index, body=_analyze_body(query))
                query = _cut(query, analyzed["tokens"])
            except Exception as err:  # noqa: BLE001 - OpenSearch unreachable: the search below reports it
                logger.debug("Cannot analyse the query: %s", err)
        return _OpenSearchBM25Retriever.run(
            self, query, filters, all_terms_must_match, top_k, fuzziness, scale_score, custom_query, document_store
        )

    @component.output_types(documents=list[Document])
    async def run_async(  # noqa: PLR0913 - the integration's signature
        self,
        query: str,
        filters: dict[str, Any] | None = None,
        all_terms_must_match: bool | None = None,
        top_k: int | None = None,
        fuzziness: int | str | None = None,
        scale_score: bool | None = None,
        custom_query: dict[str, Any] | None = None,
        document_store: Any = None,
    ) -> dict[str, list[Document]]:
        if isinstance(query, str) and len(query) > MAX_QUERY_TERMS:
            store = document_store or self._document_store
            try:
                await store._ensure_initialized_async()
                analyzed = await store._async_client.indices.analyze(index=store._index, body=_analyze_body(query))
                query = _cut(query, analyzed["tokens"])
            except Exception as err:  # noqa: BLE001 - OpenSearch unreachable: the search below reports it
                logger.debug("Cannot analyse the query: %s", err)
        return await _OpenSearchBM25Retriever.run_async(
            self, query, filters, all_terms_must_match, top_k, fuzziness, scale_score, custom_query, document_store
        )


@component
class QdrantEmbeddingRetriever(_QdrantEmbeddingRetriever):
    """The integration's `QdrantEmbeddingRetriever`; keeps a `QdrantStore` a `QdrantStore` in YAML."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QdrantEmbeddingRetriever:
        return _from_dict_keeping_store_type(cls, data)
