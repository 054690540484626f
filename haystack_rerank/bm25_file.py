"""The in-process BM25 store's JSON file: loaded with a clear error when corrupt, saved atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_rerank import atomic
from haystack_rerank.errors import ConfigurationError


def load(path: Path) -> InMemoryDocumentStore:
    """The store saved at `path`, or an empty one when there is no file yet (the first `index`)."""
    if not path.is_file():
        return InMemoryDocumentStore()
    try:
        return InMemoryDocumentStore.load_from_disk(str(path))
    except Exception as err:  # a truncated or edited file: JSON, key or document errors
        cause = err.__cause__ if isinstance(err.__cause__, (json.JSONDecodeError, UnicodeDecodeError)) else err
        msg = (
            f"The BM25 store file {path} is corrupt ({type(cause).__name__}: {cause}). Delete it and run "
            "`haystack-rerank index` again with the same corpus, --index and --data-dir (the vector store is "
            "checked and completed in the same run)."
        )
        raise ConfigurationError(msg) from err


def save(store: Any, path: Path) -> None:
    """Persist the in-memory BM25 store atomically (a temporary file renamed over the old one)."""
    if isinstance(store, InMemoryDocumentStore):
        atomic.write_with(path, store.save_to_disk)
