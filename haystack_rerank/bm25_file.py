"""The in-process BM25 store's JSON file: loaded with a clear error when corrupt, saved atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy

from haystack_rerank import atomic
from haystack_rerank.document_stores.memory import EnglishInMemoryStore
from haystack_rerank.errors import ConfigurationError


def load(path: Path) -> EnglishInMemoryStore:
    """
    The store saved at `path`, or an empty one when there is no file yet (the first `index`). The documents are
    re-analysed on load with the package's BM25 (a file written by an older version gets today's analysis).
    """
    if not path.is_file():
        return EnglishInMemoryStore()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        documents = [Document.from_dict(doc) for doc in saved["documents"]]
    except Exception as err:  # a truncated or edited file: JSON, key or document errors
        msg = (
            f"The BM25 store file {path} is corrupt ({type(err).__name__}: {err}). Delete it and run "
            "`haystack-rerank index` again with the same corpus, --index and --data-dir (the vector store is "
            "checked and completed in the same run)."
        )
        raise ConfigurationError(msg) from err
    store = EnglishInMemoryStore()
    store.write_documents(documents, policy=DuplicatePolicy.OVERWRITE)
    return store


def save(store: Any, path: Path) -> None:
    """Persist the in-memory BM25 store atomically (a temporary file renamed over the old one)."""
    if isinstance(store, InMemoryDocumentStore):
        atomic.write_with(path, store.save_to_disk)
