"""Write documents to the lexical and the vector store with the same ids, in batches, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy
from tqdm.auto import tqdm

from haystack_rerank.errors import ConfigurationError, IndexConsistencyError

logger = logging.getLogger(__name__)


@dataclass
class IndexReport:
    received: int
    written: int
    duplicates_dropped: int
    empty_dropped: int
    lexical_count: int
    vector_count: int


def deduplicate(documents: Sequence[Document]) -> tuple[list[Document], int, int]:
    """Keep the first document of each id; drop documents with no text. Returns (kept, duplicates, empty)."""
    seen: set[str] = set()
    kept, duplicates, empty = [], 0, 0
    for doc in documents:
        if doc.id in seen:
            duplicates += 1
            continue
        seen.add(doc.id)
        if not (doc.content or "").strip():
            empty += 1
            continue
        kept.append(doc)
    return kept, duplicates, empty


def index_documents(
    documents: Sequence[Document],
    *,
    embedder: Any,
    lexical_store: Any,
    vector_store: Any,
    batch_size: int = 256,
    progress_bar: bool = True,
) -> IndexReport:
    """
    Embed `documents` in batches and write each batch to both stores with `DuplicatePolicy.OVERWRITE`, so
    running it again (e.g. after an interruption) completes the corpus without duplicates. Ends with a count
    check: both stores must hold the same number of documents, at least as many as were given.

    The lexical store gets the documents without their embeddings (BM25 does not need them). A document whose
    `meta` is None is indexed with empty meta.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        msg = f"index_documents batch_size got {batch_size!r}; it must be a positive integer, e.g. 256."
        raise ConfigurationError(msg)
    kept, duplicates, empty = deduplicate(documents)
    kept = [replace(doc, meta={}) if doc.meta is None else doc for doc in kept]
    if duplicates:
        logger.warning(
            "Indexing: %d documents repeat an earlier id and were dropped (the first copy is kept).", duplicates
        )
    if empty:
        logger.warning("Indexing: %d documents have no text and were not indexed.", empty)
    if hasattr(embedder, "warm_up"):
        embedder.warm_up()
    written = 0
    with tqdm(total=len(kept), desc="Indexing", unit="doc", disable=not progress_bar) as bar:
        for start in range(0, len(kept), batch_size):
            batch = kept[start : start + batch_size]
            embedded = embedder.run(documents=batch)["documents"]
            vector_store.write_documents(embedded, policy=DuplicatePolicy.OVERWRITE)
            lexical_store.write_documents(
                [replace(d, embedding=None) for d in embedded], policy=DuplicatePolicy.OVERWRITE
            )
            written += len(batch)
            bar.update(len(batch))
    lexical_count, vector_count = lexical_store.count_documents(), vector_store.count_documents()
    if lexical_count != vector_count or lexical_count < len(kept):
        msg = (
            f"After indexing {len(kept)} documents the lexical store holds {lexical_count} and the vector store "
            f"{vector_count}. Run the same indexing again to complete both (writes are idempotent), or clear "
            "the index and collection if they hold documents from another corpus."
        )
        raise IndexConsistencyError(msg)
    return IndexReport(len(documents), written, duplicates, empty, lexical_count, vector_count)


def save_lexical_store(store: Any, path: Any) -> None:
    """Persist the in-memory BM25 store (the embedded default); OpenSearch persists by itself."""
    if isinstance(store, InMemoryDocumentStore):
        path.parent.mkdir(parents=True, exist_ok=True)
        store.save_to_disk(str(path))
