"""SQLite-backed score cache on local disk (diskcache): survives restarts, shared by threads and processes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import diskcache
from haystack import default_to_dict

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.errors import ConfigurationError

DEFAULT_DISK_CACHE_PATH = ".haystack-rerank/rerank-cache"


class DiskRerankCache(RerankCache):
    """
    Persistent cache of cross-encoder scores in a folder on local disk.

    Several processes may point at the same folder (diskcache serialises writers through SQLite).
    The folder is opened lazily on first use and reopened after a failure, so a cache that was
    unreadable (corrupt file, full or read-only disk) is retried on later queries.

    :param path: Folder of the cache; created when missing. Stored as given, so YAML stays portable.
    :param size_limit_bytes: Total size above which the oldest entries are culled.
    :param timeout_seconds: How long to wait for another writer's SQLite lock before bypassing the cache.
    """

    def __init__(
        self,
        path: str = DEFAULT_DISK_CACHE_PATH,
        size_limit_bytes: int = 1 << 30,
        timeout_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        if not isinstance(path, (str, Path)) or not str(path).strip():
            msg = f"DiskRerankCache path must be a folder path, got {path!r}. Pass e.g. path='.cache/rerank'."
            raise ConfigurationError(msg)
        if isinstance(size_limit_bytes, bool) or not isinstance(size_limit_bytes, int) or size_limit_bytes < 1:
            msg = (
                f"DiskRerankCache size_limit_bytes must be a positive integer, got {size_limit_bytes!r}. "
                "Pass e.g. size_limit_bytes=1 << 30 (1 GiB)."
            )
            raise ConfigurationError(msg)
        if not isinstance(timeout_seconds, (int, float)) or timeout_seconds <= 0:
            msg = f"DiskRerankCache timeout_seconds must be > 0, got {timeout_seconds!r}. Pass e.g. 2.0."
            raise ConfigurationError(msg)
        self.path = str(path)
        self.size_limit_bytes = size_limit_bytes
        self.timeout_seconds = float(timeout_seconds)
        self._open_lock = threading.Lock()
        self._cache: diskcache.Cache | None = None

    def _handle(self) -> diskcache.Cache:
        with self._open_lock:
            if self._cache is None:
                self._cache = diskcache.Cache(
                    str(Path(self.path).expanduser()),
                    size_limit=self.size_limit_bytes,
                    timeout=self.timeout_seconds,
                )
            return self._cache

    def _drop_handle(self) -> None:
        # After an error the handle may be unusable (file replaced or corrupted): reopen on next call.
        with self._open_lock:
            cache, self._cache = self._cache, None
        if cache is not None:
            with contextlib.suppress(Exception):  # closing a broken handle may fail too; nothing to do
                cache.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        try:
            cache = self._handle()
            found: dict[str, float] = {}
            for key in keys:
                value = cache.get(key)
                if value is not None:
                    found[key] = float(value)
            return found
        except Exception:
            self._drop_handle()
            raise

    def set_many(self, mapping: Mapping[str, float]) -> None:
        try:
            cache = self._handle()
            with cache.transact():  # one SQLite transaction for the whole batch
                for key, value in mapping.items():
                    cache.set(key, float(value))
        except Exception:
            self._drop_handle()
            raise

    def clear(self) -> None:
        self._handle().clear()

    def close(self) -> None:
        self._drop_handle()

    def __len__(self) -> int:
        return len(self._handle())

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self, path=self.path, size_limit_bytes=self.size_limit_bytes, timeout_seconds=self.timeout_seconds
        )
