"""
The index manifest: which documents the stores hold and in which version, kept with the stores themselves.

Every indexed document carries `meta["content_hash"]` (a hash of its text and meta) in both stores, and in the
vector store also `meta["embedding_model"]`; the collection records the vector dimension. Reading these back
gives each store's manifest (`id -> stamp`), which `index` compares with the corpus to write only what changed,
remove what the corpus no longer holds and prove, by ids and hashes, that both stores match it; `eval` reuses an
index only when both manifests match the corpus exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_rerank.errors import ConfigurationError, MissingIndexError

CONTENT_HASH = "content_hash"
EMBEDDING_MODEL = "embedding_model"
MANIFEST_KEYS = (CONTENT_HASH, EMBEDDING_MODEL)


def content_hash(document: Document) -> str:
    """A hash of what both stores keep of `document`: its text and its meta (without the manifest's own keys)."""
    meta = {key: value for key, value in (document.meta or {}).items() if key not in MANIFEST_KEYS}
    payload = json.dumps({"content": document.content, "meta": meta}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def vector_stamp(digest: str | None, model: str | None) -> str:
    """What the vector store must hold for a document: its content hash, embedded by this model."""
    return f"{digest}@{model}"


@dataclass
class CorpusManifest:
    """The corpus as the stores should hold it: `id -> content hash`, the embedding model and dimension."""

    hashes: dict[str, str]
    embedding_model: str
    embedding_dim: int | None = None

    @classmethod
    def of(cls, documents: Sequence[Document], *, embedding_model: str, embedding_dim: int | None = None) -> Any:
        return cls({doc.id: content_hash(doc) for doc in documents}, embedding_model, embedding_dim)

    def lexical(self) -> dict[str, str]:
        return dict(self.hashes)

    def vectors(self) -> dict[str, str]:
        return {doc_id: vector_stamp(digest, self.embedding_model) for doc_id, digest in self.hashes.items()}


@dataclass
class Difference:
    """How the stores differ from the corpus: ids to (re)write, ids the corpus no longer holds."""

    stale: set[str] = field(default_factory=set)
    extra_lexical: set[str] = field(default_factory=set)
    extra_vectors: set[str] = field(default_factory=set)

    @property
    def extra(self) -> set[str]:
        return self.extra_lexical | self.extra_vectors

    def matches(self, *, ignore_extra: bool = False) -> bool:
        return not self.stale and (ignore_extra or not self.extra)


def compare(expected: CorpusManifest, lexical: dict[str, str], vectors: dict[str, str]) -> Difference:
    """Compare the stores' manifests with the corpus manifest."""
    want_lexical, want_vectors = expected.lexical(), expected.vectors()
    stale = {
        doc_id
        for doc_id in want_lexical
        if lexical.get(doc_id) != want_lexical[doc_id] or vectors.get(doc_id) != want_vectors[doc_id]
    }
    return Difference(stale, set(lexical) - set(want_lexical), set(vectors) - set(want_vectors))


def describe(difference: Difference, expected: CorpusManifest, *, ignore_extra: bool = False) -> str:
    """One sentence naming what does not match, with example ids."""
    parts = []
    if difference.stale:
        parts.append(f"{len(difference.stale)} of the {len(expected.hashes)} corpus documents missing or outdated")
    if difference.extra and not ignore_extra:
        parts.append(f"{len(difference.extra)} documents the corpus does not hold")
    examples = sorted(difference.stale or difference.extra)[:5]
    return "; ".join(parts) + f" (e.g. {', '.join(map(repr, examples))})"


# -- reading a store's manifest -------------------------------------------------------------------------------


def stamp_documents(documents: Iterable[Document]) -> dict[str, str]:
    """`id -> content hash` of documents read from a lexical store."""
    return {doc.id: str((doc.meta or {}).get(CONTENT_HASH)) for doc in documents}


def read_lexical(store: Any) -> dict[str, str]:
    """The lexical store's manifest, `id -> content hash` (empty when its index does not exist yet)."""
    if isinstance(store, InMemoryDocumentStore):
        return stamp_documents(store.storage.values())
    if hasattr(store, "manifest_entries"):  # OpenSearchStore: ids and hashes only, not the texts
        return store.manifest_entries(CONTENT_HASH)
    return stamp_documents(store.filter_documents())


def read_vectors(store: Any, expected_dim: int | None = None) -> dict[str, str]:
    """The vector store's manifest, `id -> content hash @ embedding model` (empty when it does not exist yet)."""
    if hasattr(store, "manifest_entries"):  # QdrantStore: payload without texts or vectors
        try:
            entries = store.manifest_entries()
        except MissingIndexError:
            return {}
        _check_dimension(store, expected_dim)
        return {doc_id: vector_stamp(meta.get(CONTENT_HASH), meta.get(EMBEDDING_MODEL)) for doc_id, meta in entries}
    documents = store.filter_documents()
    return {
        doc.id: vector_stamp((doc.meta or {}).get(CONTENT_HASH), (doc.meta or {}).get(EMBEDDING_MODEL))
        for doc in documents
    }


def _check_dimension(store: Any, expected_dim: int | None) -> None:
    held = store.vector_size() if hasattr(store, "vector_size") else None
    if expected_dim is not None and held is not None and held != expected_dim:
        msg = (
            f"The collection {store.index!r} holds {held}-dimensional vectors, but the embedding model makes "
            f"{expected_dim}. Index into another collection (--collection / QDRANT_COLLECTION), or delete this one."
        )
        raise ConfigurationError(msg)


def require_documents(lexical: Any, vectors: Any, memory_file: Any = None) -> int:
    """
    Before querying: the stores (None: not queried) must exist and hold documents (a typo in a name must not
    answer "no hits"). Returns how many documents the smaller one holds, the most a search can return.
    Creates nothing.
    """
    if isinstance(lexical, InMemoryDocumentStore) and lexical.count_documents() == 0:
        where = f"{memory_file} does not exist or is empty" if memory_file else "is empty"
        msg = (
            f"The in-process BM25 store {where}. Index a corpus first (`haystack-rerank index --lexical memory` "
            "with the same --index and --data-dir), or check those two options."
        )
        raise MissingIndexError(msg)
    counts = []
    for store in (s for s in (lexical, vectors) if s is not None):
        count = store.count_documents()
        if count == 0:
            if hasattr(store, "_missing_index_error"):  # OpenSearchStore, QdrantStore: named with the fix
                raise store._missing_index_error("is empty")
            raise MissingIndexError(f"The document store {type(store).__name__} is empty. Index a corpus first.")
        counts.append(count)
    return min(counts)
