"""In-process LRU score cache: fastest, lost on restart, not shared between processes."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from cachetools import LRUCache
from haystack import default_to_dict

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.errors import ConfigurationError


class MemoryRerankCache(RerankCache):
    """
    Thread-safe LRU cache of cross-encoder scores held in process memory.

    :param max_entries: Entries kept before the least recently used are evicted (about 150 bytes each).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        super().__init__()
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            msg = (
                f"MemoryRerankCache max_entries must be a positive integer, got {max_entries!r}. "
                "Pass e.g. max_entries=100_000."
            )
            raise ConfigurationError(msg)
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._store: LRUCache[str, float] = LRUCache(maxsize=max_entries)

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        with self._lock:  # LRUCache reorders on read, so reads need the lock too
            for key in keys:
                value = self._store.get(key)
                if value is not None:
                    found[key] = value
        return found

    def set_many(self, mapping: Mapping[str, float]) -> None:
        with self._lock:
            for key, value in mapping.items():
                self._store[key] = float(value)

    def clear(self) -> None:
        with self._lock:
            self._store.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, max_entries=self.max_entries)
