"""Tests of the score caches on their own: key layout, backends, fail-open guard, serialisation."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fixtures_models import RedisServer, redis_server  # noqa: F401 - fixture used by name
from haystack import default_to_dict
from haystack.utils import Secret

import haystack_rerank  # noqa: F401 - registers the package on the deserialization allowlist
from haystack_rerank.cache import (
    DiskRerankCache,
    MemoryRerankCache,
    RedisRerankCache,
    RerankCache,
    ScoringScope,
    fingerprint_model_folder,
    make_cache_key,
)
from haystack_rerank.errors import ConfigurationError

SCOPE = ScoringScope(model="m", fingerprint="f", max_length=512, backend="torch", precision="float32")


# -- keys ---------------------------------------------------------------------------------------------


def test_key_changes_with_every_part() -> None:
    base = make_cache_key(SCOPE.digest(), "query", "doc-1", "text")
    variants = [
        make_cache_key(SCOPE.digest(), "query ", "doc-1", "text"),
        make_cache_key(SCOPE.digest(), "query", "doc-2", "text"),
        make_cache_key(SCOPE.digest(), "query", "doc-1", "text!"),
        # Moving characters between fields must not collide.
        make_cache_key(SCOPE.digest(), "quer", "ydoc-1", "text"),
    ]
    for field, value in [
        ("model", "m2"),
        ("fingerprint", "f2"),
        ("max_length", 256),
        ("backend", "onnx"),
        ("precision", "bfloat16"),
    ]:
        scope = ScoringScope(**{**SCOPE.__dict__, field: value})
        variants.append(make_cache_key(scope.digest(), "query", "doc-1", "text"))
    assert len({base, *variants}) == len(variants) + 1
    assert base == make_cache_key(SCOPE.digest(), "query", "doc-1", "text")
    assert len(base) == 64 and "query" not in base


def test_fingerprint_tracks_weight_files(tmp_path: Path) -> None:
    assert fingerprint_model_folder(tmp_path / "missing") is None
    (tmp_path / "config.json").write_text('{"hidden_size": 32}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 3000)
    first = fingerprint_model_folder(tmp_path)
    assert first == fingerprint_model_folder(tmp_path)
    weights.write_bytes(b"a" * 2999 + b"b")  # same size, different bytes
    second = fingerprint_model_folder(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 64}')
    third = fingerprint_model_folder(tmp_path)
    (tmp_path / "README.md").write_text("docs do not count")
    assert len({first, second, third}) == 3
    assert fingerprint_model_folder(tmp_path) == third


# -- memory --------------------------------------------------------------------------------------------


def test_memory_cache_roundtrip_and_lru_eviction() -> None:
    cache = MemoryRerankCache(max_entries=3)
    cache.set_many({"a": 1.0, "b": -2.5, "c": 0.0})
    assert cache.get_many(["a", "b", "c", "z"]) == {"a": 1.0, "b": -2.5, "c": 0.0}
    cache.get_many(["a"])  # a becomes most recent, so b is evicted next
    cache.set_many({"d": 4.0})
    assert cache.get_many(["a", "b", "c", "d"]) == {"a": 1.0, "c": 0.0, "d": 4.0}
    cache.clear()
    assert cache.get_many(["a", "d"]) == {} and len(cache) == 0


def test_memory_cache_is_thread_safe() -> None:
    cache = MemoryRerankCache(max_entries=10_000)
    errors: list[BaseException] = []

    def worker(worker_id: int) -> None:
        try:
            for round_ in range(50):
                mapping = {f"{worker_id}-{round_}-{i}": float(worker_id * 1000 + i) for i in range(10)}
                cache.set_many(mapping)
                assert cache.get_many(list(mapping)) == mapping
        except BaseException as err:  # noqa: BLE001 - reported to the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) == 8 * 50 * 10


# -- disk ----------------------------------------------------------------------------------------------


def test_disk_cache_persists_across_instances(tmp_path: Path) -> None:
    first = DiskRerankCache(str(tmp_path / "cache"))
    first.set_many({"k1": 0.25, "k2": -3.5})
    first.close()
    second = DiskRerankCache(str(tmp_path / "cache"))
    assert second.get_many(["k1", "k2", "k3"]) == {"k1": 0.25, "k2": -3.5}
    second.clear()
    assert second.get_many(["k1"]) == {}


def _disk_worker(path: str, worker_id: int, rounds: int) -> None:
    cache = DiskRerankCache(path)
    for round_ in range(rounds):
        own = {f"w{worker_id}-{round_}-{i}": worker_id * 10_000.0 + round_ * 100 + i for i in range(20)}
        cache.set_many(own)
        if cache.get_many(list(own)) != own:
            raise AssertionError(f"worker {worker_id} read back wrong values in round {round_}")
        # Read what the other worker wrote so far: values must be exact when present.
        other = 1 - worker_id
        keys = [f"w{other}-{r}-{i}" for r in range(round_ + 1) for i in range(20)]
        for key, value in cache.get_many(keys).items():
            _, r, i = key.split("-")
            if value != other * 10_000.0 + int(r) * 100 + int(i):
                raise AssertionError(f"corrupt value {value} for {key}")
    cache.close()


@pytest.mark.integration
def test_disk_cache_shared_by_two_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_disk_worker, args=(path, n, 30)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    cache = DiskRerankCache(path)
    expected = {f"w{w}-{r}-{i}": w * 10_000.0 + r * 100 + i for w in range(2) for r in range(30) for i in range(20)}
    assert cache.get_many(list(expected)) == expected


def test_corrupt_disk_cache_is_bypassed_then_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"this is not a sqlite database" * 100)
    cache = DiskRerankCache(str(folder))
    with caplog.at_level(logging.WARNING, logger="haystack_rerank.cache.base"):
        assert cache.safe_get_many(["a"]) == ({}, True)
        assert cache.safe_set_many({"a": 1.0}) is True
        assert cache.safe_get_many(["a"]) == ({}, True)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert cache.is_failing
    (folder / "cache.db").unlink()  # the operator repairs the folder: the cache reopens it
    assert cache.safe_set_many({"a": 1.0}) is False
    assert cache.safe_get_many(["a"]) == ({"a": 1.0}, False)
    assert not cache.is_failing


# -- fail-open guard -----------------------------------------------------------------------------------


class FlakyCache(RerankCache):
    """A cache whose backend can be switched off; stores in a dict otherwise."""

    def __init__(self, retry_after_seconds: float = 0.0) -> None:
        super().__init__(retry_after_seconds=retry_after_seconds)
        self.down = False
        self.attempts = 0
        self.store: dict[str, float] = {}

    def _check(self) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("backend down")

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        self._check()
        return {k: self.store[k] for k in keys if k in self.store}

    def set_many(self, mapping: Mapping[str, float]) -> None:
        self._check()
        self.store.update(mapping)

    def clear(self) -> None:
        self.store.clear()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self)


def test_guard_warns_once_per_outage_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    cache = FlakyCache()
    cache.down = True
    with caplog.at_level(logging.INFO, logger="haystack_rerank.cache.base"):
        for _ in range(5):
            assert cache.safe_get_many(["a"]) == ({}, True)
            assert cache.safe_set_many({"a": 1.0}) is True
        cache.down = False
        assert cache.safe_set_many({"a": 1.0}) is False
        assert cache.safe_get_many(["a"]) == ({"a": 1.0}, False)
        cache.down = True
        assert cache.safe_get_many(["a"]) == ({}, True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per outage, not one per call
    assert "ConnectionError" in warnings[0].getMessage()
    assert any("caching resumed" in r.getMessage() for r in caplog.records)
    assert cache.attempts == 13  # retried on every call: retry_after_seconds=0


def test_guard_skips_backend_during_cool_down() -> None:
    cache = FlakyCache(retry_after_seconds=3600)
    cache.down = True
    assert cache.safe_get_many(["a"]) == ({}, True)
    cache.down = False
    assert cache.safe_get_many(["a"]) == ({}, True)  # still cooling down: backend not asked
    assert cache.attempts == 1
    cache.retry_after_seconds = 0
    assert cache.safe_get_many(["a"]) == ({}, False)
    assert cache.attempts == 2


def test_guard_ignores_empty_requests() -> None:
    cache = FlakyCache()
    cache.down = True
    assert cache.safe_get_many([]) == ({}, False)
    assert cache.safe_set_many({}) is False
    assert cache.attempts == 0


# -- redis ---------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_redis_cache_roundtrip_ttl_and_prefix(redis_server: RedisServer) -> None:  # noqa: F811
    cache = RedisRerankCache(url=redis_server.url, ttl_seconds=120, prefix="t1:")
    other = RedisRerankCache(url=redis_server.url, ttl_seconds=None, prefix="t2:")
    cache.set_many({"a": 0.125, "b": -7.0})
    other.set_many({"a": 99.0})
    assert cache.get_many(["a", "b", "c"]) == {"a": 0.125, "b": -7.0}
    assert other.get_many(["a"]) == {"a": 99.0}
    client = redis_server.client()
    assert 0 < client.ttl("t1:a") <= 120
    assert client.ttl("t2:a") == -1  # no expiry
    cache.clear()
    assert cache.get_many(["a", "b"]) == {}
    assert other.get_many(["a"]) == {"a": 99.0}  # clear() only touches its own prefix
    cache.close()
    other.close()


def test_redis_cache_down_is_bypassed_fast() -> None:
    # Nothing listens on port 1: connection refused, handled by the guard.
    cache = RedisRerankCache(url="redis://127.0.0.1:1/0", retry_after_seconds=0)
    assert cache.safe_get_many(["a"]) == ({}, True)
    assert cache.safe_set_many({"a": 1.0}) is True


def test_redis_url_defaults_to_env_var_then_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert RedisRerankCache().resolved_url() == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@cache.internal:6380/2")
    cache = RedisRerankCache()
    assert cache.resolved_url() == "redis://:hunter2@cache.internal:6380/2"
    assert "hunter2" not in str(cache.to_dict())


# -- serialisation and validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "cache",
    [
        MemoryRerankCache(max_entries=123),
        DiskRerankCache("some/folder", size_limit_bytes=10_000, timeout_seconds=1.5),
        RedisRerankCache(url=Secret.from_env_var("MY_REDIS"), ttl_seconds=60, prefix="x:", socket_timeout=0.2),
        RedisRerankCache(url="redis://localhost:6379/3", retry_after_seconds=0),
    ],
    ids=["memory", "disk", "redis-secret", "redis-str"],
)
def test_cache_to_dict_from_dict_roundtrip(cache: RerankCache) -> None:
    data = cache.to_dict()
    assert data["type"].startswith("haystack_rerank.cache.")
    rebuilt = type(cache).from_dict(data)
    assert type(rebuilt) is type(cache)
    assert rebuilt.to_dict() == data


def test_redis_token_secret_is_never_serialised() -> None:
    cache = RedisRerankCache(url=Secret.from_token("redis://:pw@host:6379/0"))
    with pytest.raises(ValueError, match="token"):
        cache.to_dict()


def test_redis_plain_url_with_password_is_never_serialised() -> None:
    cache = RedisRerankCache(url="redis://:hunter2-canary@127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError, match="Secret.from_env_var") as info:
        cache.to_dict()
    assert "hunter2-canary" not in str(info.value)
    # without a password the URL is plain configuration and stays in YAML
    assert RedisRerankCache(url="redis://127.0.0.1:6379/1").to_dict()["init_parameters"]["url"].endswith("/1")


@pytest.mark.parametrize(
    ("factory", "parameter", "value"),
    [
        (lambda: MemoryRerankCache(max_entries=0), "max_entries", "0"),
        (lambda: DiskRerankCache(""), "path", "''"),
        (lambda: DiskRerankCache("x", size_limit_bytes=-1), "size_limit_bytes", "-1"),
        (lambda: RedisRerankCache(ttl_seconds=0), "ttl_seconds", "0"),
        (lambda: RedisRerankCache(socket_timeout=0), "socket_timeout", "0"),
        (lambda: RedisRerankCache(retry_after_seconds=-1), "retry_after_seconds", "-1"),
    ],
)
def test_cache_rejects_bad_parameters(factory: Any, parameter: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        factory()
    assert parameter in str(info.value) and value in str(info.value)
