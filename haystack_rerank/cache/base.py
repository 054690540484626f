"""The small interface every score cache implements, plus the fail-open guard the ranker goes through."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from haystack import default_from_dict

logger = logging.getLogger(__name__)

T = TypeVar("T", bound="RerankCache")


class RerankCache(ABC):
    """
    A key -> score store used by `CrossEncoderRanker`.

    Subclasses implement the four batch operations below; they may raise anything when their backend
    fails. The ranker never calls them directly: it calls :meth:`safe_get_many` / :meth:`safe_set_many`,
    which turn a failure into a bypass (the query is answered without the cache), log one warning per
    outage, and try the backend again on later calls, so caching resumes once the backend is back.

    :param retry_after_seconds: After a failure, skip the backend for this long before trying again
        (0 = try on every call). A cool-down keeps an unreachable network cache from adding its timeout
        to every query.
    """

    def __init__(self, *, retry_after_seconds: float = 0.0) -> None:
        self.retry_after_seconds = retry_after_seconds
        self._health_lock = threading.Lock()
        self._failing = False
        self._failed_at = 0.0

    @abstractmethod
    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        """Return the cached scores of the `keys` that are present (missing keys are left out)."""

    @abstractmethod
    def set_many(self, mapping: Mapping[str, float]) -> None:
        """Store every key -> score pair of `mapping`."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every entry this cache owns."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Serialise the configuration (never the contents) as {"type": ..., "init_parameters": ...}."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild a cache from the output of :meth:`to_dict`."""
        return default_from_dict(cls, data)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release connections or file handles; the cache reopens them on next use."""

    # -- fail-open wrappers used by the ranker -------------------------------------------------------

    @property
    def is_failing(self) -> bool:
        """True between a backend failure and the next successful operation."""
        return self._failing

    def safe_get_many(self, keys: Sequence[str]) -> tuple[dict[str, float], bool]:
        """Like :meth:`get_many`, but never raises: returns ``(found, bypassed)``."""
        if not keys:
            return {}, False
        if self._in_cool_down():
            return {}, True
        try:
            found = self.get_many(keys)
        except Exception as err:  # noqa: BLE001 - any backend failure must not fail the query
            self._record_failure("read", err)
            return {}, True
        self._record_success()
        return found, False

    def safe_set_many(self, mapping: Mapping[str, float]) -> bool:
        """Like :meth:`set_many`, but never raises: returns True when the write was bypassed."""
        if not mapping:
            return False
        if self._in_cool_down():
            return True
        try:
            self.set_many(mapping)
        except Exception as err:  # noqa: BLE001 - any backend failure must not fail the query
            self._record_failure("write", err)
            return True
        self._record_success()
        return False

    def _in_cool_down(self) -> bool:
        with self._health_lock:
            return self._failing and (time.monotonic() - self._failed_at) < self.retry_after_seconds

    def _record_failure(self, operation: str, err: Exception) -> None:
        with self._health_lock:
            first = not self._failing
            self._failing = True
            self._failed_at = time.monotonic()
        if first:
            logger.warning(
                "%s %s failed (%s: %s); reranking continues without the cache until it answers again. "
                "Check the cache backend (server running, disk writable) to restore caching.",
                type(self).__name__,
                operation,
                type(err).__name__,
                err,
            )
        else:
            logger.debug("%s %s still failing: %s", type(self).__name__, operation, err)

    def _record_success(self) -> None:
        if not self._failing:  # fast path without the lock; a stale read only delays the log line
            return
        with self._health_lock:
            recovered = self._failing
            self._failing = False
        if recovered:
            logger.info("%s answers again; caching resumed.", type(self).__name__)
