"""Redis score cache: shared by every ranker process that points at the same server, with a TTL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from haystack import default_to_dict
from haystack.utils import Secret

from haystack_rerank.cache.base import RerankCache
from haystack_rerank.config import VARIABLES
from haystack_rerank.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_REDIS_URL = VARIABLES["REDIS_URL"].default


class RedisRerankCache(RerankCache):
    """
    Cross-encoder scores in Redis, read with one MGET and written with one pipelined batch of SET ... EX.

    The client is created on first use and fails fast (no client-side retries, short socket timeouts):
    when Redis is down the ranker answers without the cache and tries Redis again after
    `retry_after_seconds`, so caching resumes by itself once the server is back.

    :param url: Redis URL. Default: the `REDIS_URL` environment variable, else `redis://127.0.0.1:6379/0`.
        Pass a `Secret` (e.g. `Secret.from_env_var("MY_REDIS_URL")`) to keep a password out of YAML; a
        plain string with a password works but cannot be serialised (`to_dict` refuses, as Haystack does for
        token secrets).
    :param ttl_seconds: Lifetime of each entry; None keeps entries until Redis evicts them.
    :param prefix: Prepended to every key, so several applications can share one database.
        `clear()` deletes only keys with this prefix.
    :param socket_timeout: Seconds to wait for a connection or a reply before bypassing the cache.
    :param retry_after_seconds: After a failure, skip Redis for this long before trying again.
    """

    def __init__(
        self,
        url: Secret | str | None = Secret.from_env_var("REDIS_URL", strict=False),  # noqa: B008
        ttl_seconds: int | None = 7 * 24 * 3600,
        prefix: str = "hrr:",
        socket_timeout: float = 0.5,
        retry_after_seconds: float = 1.0,
    ) -> None:
        super().__init__(retry_after_seconds=_non_negative("retry_after_seconds", retry_after_seconds))
        if url is not None and not isinstance(url, (Secret, str)):
            msg = (
                f"RedisRerankCache url must be a Secret or a string, got {type(url).__name__}. "
                "Pass e.g. Secret.from_env_var('REDIS_URL')."
            )
            raise ConfigurationError(msg)
        if ttl_seconds is not None and (
            isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1
        ):
            msg = (
                f"RedisRerankCache ttl_seconds must be a positive integer or None, got {ttl_seconds!r}. "
                "Pass e.g. ttl_seconds=86400 (one day), or None for no expiry."
            )
            raise ConfigurationError(msg)
        if not isinstance(prefix, str):
            msg = f"RedisRerankCache prefix must be a string, got {prefix!r}. Pass e.g. prefix='hrr:'."
            raise ConfigurationError(msg)
        if not isinstance(socket_timeout, (int, float)) or socket_timeout <= 0:
            msg = f"RedisRerankCache socket_timeout must be > 0 seconds, got {socket_timeout!r}. Pass e.g. 0.5."
            raise ConfigurationError(msg)
        if isinstance(url, str) and urlsplit(url).password:
            logger.warning(
                "RedisRerankCache got a URL with a password as a plain string; a pipeline holding it cannot be "
                "serialised. Pass url=Secret.from_env_var('REDIS_URL') instead."
            )
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self.socket_timeout = float(socket_timeout)
        self._client_lock = threading.Lock()
        self._client: Any = None

    def resolved_url(self) -> str:
        """The URL the client connects to (the secret's value, or the loopback default)."""
        if isinstance(self.url, Secret):
            return self.url.resolve_value() or DEFAULT_REDIS_URL
        return self.url or DEFAULT_REDIS_URL

    def _redis(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import redis  # absolute import: the redis-py package, not this module
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                self._client = redis.Redis.from_url(
                    self.resolved_url(),
                    socket_timeout=self.socket_timeout,
                    socket_connect_timeout=self.socket_timeout,
                    # Fail fast: the ranker bypasses the cache instead of waiting on retries.
                    retry=Retry(NoBackoff(), 0),
                )
            return self._client

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        values = self._redis().mget([self.prefix + key for key in keys])
        return {key: float(value) for key, value in zip(keys, values, strict=True) if value is not None}

    def set_many(self, mapping: Mapping[str, float]) -> None:
        pipe = self._redis().pipeline(transaction=False)
        for key, value in mapping.items():
            pipe.set(self.prefix + key, repr(float(value)), ex=self.ttl_seconds)
        pipe.execute()

    def clear(self) -> None:
        client = self._redis()
        batch: list[bytes] = []
        for key in client.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def to_dict(self) -> dict[str, Any]:
        # Secret.to_dict refuses token secrets, so a password given as a Secret never lands in YAML.
        if isinstance(self.url, str) and urlsplit(self.url).password:
            msg = (
                "RedisRerankCache url holds a password as a plain string and is not serialised (it would land "
                "in YAML). Pass url=Secret.from_env_var('REDIS_URL') and set the variable instead."
            )
            raise ConfigurationError(msg)
        return default_to_dict(
            self,
            url=self.url,
            ttl_seconds=self.ttl_seconds,
            prefix=self.prefix,
            socket_timeout=self.socket_timeout,
            retry_after_seconds=self.retry_after_seconds,
        )


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        msg = f"RedisRerankCache {name} must be >= 0 seconds, got {value!r}. Pass e.g. {name}=1.0."
        raise ConfigurationError(msg)
    return float(value)
