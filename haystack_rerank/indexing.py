"""Make the lexical and the vector store hold exactly a corpus (same ids), in batches, idempotently."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from haystack import Document
from haystack.document_stores.types import DuplicatePolicy
from tqdm.auto import tqdm

from haystack_rerank import beir, bm25_file, build, manifest, validation
from haystack_rerank.config import Settings
from haystack_rerank.errors import ConfigurationError, IndexConsistencyError

logger = logging.getLogger(__name__)

# embedded batches allowed to wait for the writer; 1 is enough to overlap embedding with writing
WRITES_AHEAD = 1


@dataclass
class IndexReport:
    received: int
    written: int
    duplicates_dropped: int
    empty_dropped: int
    lexical_count: int
    vector_count: int
    unchanged: int = 0  # already in both stores with the same content hash and embedding model
    removed: int = 0  # held by the stores but no longer in the corpus, deleted from both
    kept_removed: int = 0  # the same, kept (remove_missing=False)


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
    remove_missing: bool = True,
    embedding_model: str | None = None,
    embedding_dim: int | None = None,
) -> IndexReport:
    """
    Make both stores hold exactly `documents`: embed and write, in batches, the documents missing from either
    store or changed since (content hash or embedding model, see `haystack_rerank.manifest`), with
    `DuplicatePolicy.OVERWRITE`; delete from both the documents the corpus no longer holds (unless
    `remove_missing=False`); then read both stores' manifests back and check ids and hashes. Running it again
    (e.g. after an interruption) completes what is missing and rewrites nothing else.

    Every document is first checked against both stores' rules (`haystack_rerank.validation`): one that breaks
    one refuses the batch before anything is written. The lexical store gets the documents without their
    embeddings (BM25 does not need them). A document whose `meta` is None is indexed with empty meta.

    Writing overlaps embedding: a writer thread stores batch i while batch i+1 is embedded (the stores' clients
    wait on the network or on Qdrant's own work, not on the model). Batches are written in order, one at a time,
    so an interrupted run has stored a prefix of the batches. A failed write stops indexing with its error.

    A lexical store with a `bulk_load()` (`OpenSearchStore`) gets the batches through it: no refresh per batch,
    one when the writes end (also on an error), so the documents are searchable when this returns; an embedded
    `QdrantStore` syncs its SQLite file once per batch.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        msg = f"index_documents batch_size got {batch_size!r}; it must be a positive integer, e.g. 256."
        raise ConfigurationError(msg)
    mapped_types = getattr(lexical_store, "mapped_types", None)
    validation.check_documents(documents, mapping=mapped_types() if mapped_types else None)
    kept, duplicates, empty = deduplicate(documents)
    kept = [replace(doc, meta={}) if doc.meta is None else doc for doc in kept]
    if duplicates:
        logger.warning(
            "Indexing: %d documents repeat an earlier id and were dropped (the first copy is kept).", duplicates
        )
    if empty:
        logger.warning("Indexing: %d documents have no text and were not indexed.", empty)
    model = embedding_model or _model_name(embedder)
    expected = manifest.CorpusManifest.of(kept, embedding_model=model, embedding_dim=embedding_dim)
    difference = manifest.compare(
        expected, manifest.read_lexical(lexical_store), manifest.read_vectors(vector_store, embedding_dim)
    )
    to_write = [doc for doc in kept if doc.id in difference.stale]
    if to_write and hasattr(embedder, "warm_up"):
        embedder.warm_up()
    # producer/consumer: one writer thread stores batch i (both stores, in order) while batch i+1 is
    # embedded; at most WRITES_AHEAD embedded batches wait, so memory stays bounded. The lexical store's bulk load
    # (OpenSearch: no refresh per batch, one when it ends) ends after the writer has finished, even on an error.
    with (
        tqdm(total=len(to_write), desc="Indexing", unit="doc", disable=not progress_bar) as bar,
        _bulk_writer(lexical_store) if to_write else nullcontext(lexical_store.write_documents) as write_lexical,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer") as writer,
    ):
        pending: deque[Future[int]] = deque()
        for start in range(0, len(to_write), batch_size):
            batch = [_stamped(doc, expected.hashes[doc.id]) for doc in to_write[start : start + batch_size]]
            embedded = embedder.run(documents=batch)["documents"]
            pending.append(writer.submit(_write_batch, embedded, write_lexical, vector_store, model))
            while len(pending) > WRITES_AHEAD or (pending and pending[0].done()):
                _finished(pending.popleft(), bar)
        while pending:
            _finished(pending.popleft(), bar)
    if remove_missing:
        _delete(lexical_store, difference.extra_lexical)
        _delete(vector_store, difference.extra_vectors)
    lexical, vectors = manifest.read_lexical(lexical_store), manifest.read_vectors(vector_store, embedding_dim)
    after = manifest.compare(expected, lexical, vectors)
    if not after.matches(ignore_extra=not remove_missing):
        msg = (
            f"After indexing {len(kept)} documents the stores do not match the corpus: "
            f"{manifest.describe(after, expected, ignore_extra=not remove_missing)}; the lexical store holds "
            f"{len(lexical)} documents and the vector store {len(vectors)}. Run the same indexing again to complete "
            "both (writes are idempotent)."
        )
        raise IndexConsistencyError(msg)
    return IndexReport(
        received=len(documents),
        written=len(to_write),
        duplicates_dropped=duplicates,
        empty_dropped=empty,
        lexical_count=len(lexical),
        vector_count=len(vectors),
        unchanged=len(kept) - len(to_write),
        removed=len(difference.extra) if remove_missing else 0,
        kept_removed=0 if remove_missing else len(difference.extra),
    )


def _stamped(doc: Document, digest: str) -> Document:
    return replace(doc, meta={**doc.meta, manifest.CONTENT_HASH: digest})


def _delete(store: Any, ids: set[str]) -> None:
    ids_list = sorted(ids)
    for start in range(0, len(ids_list), 1_000):
        store.delete_documents(ids_list[start : start + 1_000])


def _model_name(embedder: Any) -> str:
    """The embedder's portable model name (a hub name or folder as configured), which the manifest records."""
    model = getattr(embedder, "model", None)
    return model if isinstance(model, str) else type(embedder).__name__


def _bulk_writer(store: Any) -> AbstractContextManager[Callable[..., int]]:
    """The store's `bulk_load()` (a writer that skips per-batch work, e.g. OpenSearch's refresh, and completes it
    when the block ends), or its `write_documents` as it is."""
    bulk_load = getattr(store, "bulk_load", None)
    return bulk_load() if callable(bulk_load) else nullcontext(store.write_documents)


def _write_batch(embedded: list[Document], write_lexical: Callable[..., int], vector_store: Any, model: str) -> int:
    """Store one embedded batch in both stores (the lexical one without embeddings); idempotent."""
    vector_store.write_documents(
        [replace(d, meta={**d.meta, manifest.EMBEDDING_MODEL: model}) for d in embedded],
        policy=DuplicatePolicy.OVERWRITE,
    )
    write_lexical([replace(d, embedding=None) for d in embedded], policy=DuplicatePolicy.OVERWRITE)
    return len(embedded)


def _finished(write: Future[int], bar: Any) -> int:
    """Wait for a batch write (re-raising its error) and count it."""
    count = write.result()
    bar.update(count)
    return count


def save_lexical_store(store: Any, path: Any) -> None:
    """Persist the in-memory BM25 store (the embedded default) atomically; OpenSearch persists by itself."""
    bm25_file.save(store, Path(path))


def index_into(
    settings: Settings,
    documents: Sequence[Document],
    *,
    lexical: Any = None,
    vectors: Any = None,
    batch_size: int = 256,
    progress_bar: bool = True,
    remove_missing: bool = True,
) -> IndexReport:
    """
    Make the stores `settings` name (or the `lexical`/`vectors` stores already open) hold exactly `documents`,
    embedded by the configured embedder, and save an in-memory BM25 store: what `index`, `eval`, `sweep`, the demo
    and `adapt` run.
    """
    lexical = lexical if lexical is not None else build.lexical_store(settings)
    report = index_documents(
        documents,
        embedder=build.document_embedder(settings, progress_bar=False),
        lexical_store=lexical,
        vector_store=vectors if vectors is not None else build.vector_store(settings),
        batch_size=batch_size,
        progress_bar=progress_bar,
        remove_missing=remove_missing,
        embedding_model=settings.embedding_model,
        embedding_dim=settings.resolved_embedding_dim,
    )
    if report.written or report.removed:
        save_lexical_store(lexical, settings.memory_bm25_file)
    return report


def ensure_indexed(settings: Settings, corpus: Path, *, quiet: bool) -> tuple[Any, Any, str | None]:
    """
    Open both stores; index the `corpus` file unless both already hold exactly its documents (ids, hashes, model).
    Returns the stores and, when nothing had to be written, the sentence that says so.
    """
    lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
    report = index_into(settings, beir.load_corpus(corpus), lexical=lexical, vectors=vectors, progress_bar=not quiet)
    reused = None
    if not (report.written or report.removed):
        reused = (
            f"Index {settings.index!r} / collection {settings.collection!r} already hold exactly the "
            f"{report.unchanged} documents of {corpus} (ids and content hashes): not re-indexing."
        )
    return lexical, vectors, reused
