"""
Fault tests with real services really failing: a disposable OpenSearch node stopped, paused (SIGSTOP) and
restarted; an embedded Qdrant folder locked by another process; Qdrant and Redis servers that refuse or hang;
a read-only disk cache; an indexing process killed half-way.

The disposable node runs on port 9201 (`OPENSEARCH_PORT=9201 bash scripts/opensearch.sh start`), never on
the shared node of the other tests. The tests of one area run in file order and share that node: each puts
it in the state it needs, so a test run alone still works, only slower.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from corpus_small import DOCUMENTS
from fixtures_models import RedisServer, make_documents, redis_server, tiny_cross_encoder  # noqa: F401
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import ComponentDevice
from opensearchpy import OpenSearch, TransportError, Urllib3HttpConnection

from haystack_rerank import build
from haystack_rerank.beir import load_corpus
from haystack_rerank.cache import DiskRerankCache, RedisRerankCache
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.config import Settings
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.document_stores.opensearch import BULK_LOAD_MARKER
from haystack_rerank.errors import ConfigurationError, RetrievalLegError, ServiceUnavailableError
from haystack_rerank.indexing import index_documents

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[1]
FAULT_PORT = int(os.environ.get("HAYSTACK_RERANK_FAULT_PORT", "9201"))
FAULT_INDEX = "faults"
# every query matches some document of the small corpus in both legs
QUERIES = ["blood pressure and salt", "cats sleep", "error code XQ7-221", "caffeine and heart rate", "lava"]


# -- timeouts and retries from the environment ---------------------------------------------------------------


def test_timeout_and_retries_from_the_environment_reach_the_clients_not_yaml(
    monkeypatch, opensearch_hosts, unique_name
):
    monkeypatch.setenv("OPENSEARCH_TIMEOUT", "2.5")
    monkeypatch.setenv("OPENSEARCH_MAX_RETRIES", "0")
    monkeypatch.setenv("QDRANT_TIMEOUT", "4")
    settings = Settings(lexical="opensearch", opensearch_hosts=opensearch_hosts, index=unique_name)
    lexical = build.lexical_store(settings)
    vectors = build.vector_store(replace(settings, qdrant_url="http://127.0.0.1:6333"))
    try:
        lexical._ensure_initialized()  # the integration builds its opensearch-py client (no index is created)
        transport = lexical._client.transport
        assert (transport.get_connection().timeout, transport.max_retries) == (2.5, 0)
    finally:
        lexical.delete_index()
    assert vectors._prepare_client_params()["timeout"] == 4  # what qdrant-client is given
    for store in (lexical, vectors):
        params = store.to_dict()["init_parameters"]
        assert params["timeout"] is None and params.get("max_retries") is None


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("OPENSEARCH_TIMEOUT", "soon", "OPENSEARCH_TIMEOUT must be a number of seconds > 0, got 'soon'"),
        ("OPENSEARCH_TIMEOUT", "0", "OPENSEARCH_TIMEOUT must be a number of seconds > 0, got 0.0"),
        ("OPENSEARCH_MAX_RETRIES", "-1", "OPENSEARCH_MAX_RETRIES must be an integer >= 0, got -1"),
        ("OPENSEARCH_MAX_RETRIES", "2.5", "OPENSEARCH_MAX_RETRIES must be an integer >= 0, got '2.5'"),
        ("QDRANT_TIMEOUT", "-3", "QDRANT_TIMEOUT must be a number of seconds > 0, got -3.0"),
    ],
)
def test_bad_timeout_or_retries_are_refused_with_the_variable_and_the_fix(monkeypatch, variable, value, fragment):
    monkeypatch.setenv(variable, value)
    make = build.vector_store if variable.startswith("QDRANT") else build.lexical_store
    with pytest.raises(ConfigurationError) as err:
        make(Settings(lexical="opensearch", qdrant_url="http://127.0.0.1:6333"))
    assert fragment in str(err.value) and "Use e.g." in str(err.value)


# -- Qdrant: folder locked by another process, server refusing or hanging ------------------------------------


def bm25_hybrid(vector_store: QdrantStore, text_embedder, policy: str) -> HybridRetriever:
    lexical = InMemoryDocumentStore()
    lexical.write_documents(DOCUMENTS)
    return HybridRetriever(
        lexical_retriever=InMemoryBM25Retriever(document_store=lexical),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vector_store),
        top_k=4,
        on_leg_failure=policy,
    )


def assert_lexical_only(out: dict[str, Any], *fragments: str) -> None:
    meta = out["meta"]
    assert meta["degraded"] is True and meta["dense"]["status"] == "failed" and meta["lexical"]["status"] == "ok"
    assert out["documents"] and all(set(d.meta["rrf"]) == {"lexical"} for d in out["documents"])
    for fragment in fragments:
        assert fragment in meta["dense"]["error"]


HOLD_FOLDER = """
import sys
from qdrant_client import QdrantClient
client = QdrantClient(path=sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
client.close()
"""


def test_qdrant_folder_locked_by_another_process(tmp_path, document_embedder, text_embedder):
    folder = str(tmp_path / "qdrant")
    writer = QdrantStore(path=folder, index="c")
    writer.write_documents(document_embedder.run(documents=DOCUMENTS)["documents"])
    QdrantStore.close_embedded(folder)  # this process lets go of the folder

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FOLDER, folder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        degrade = bm25_hybrid(QdrantStore(path=folder, index="c"), text_embedder, "degrade")
        strict = bm25_hybrid(QdrantStore(path=folder, index="c"), text_embedder, "raise")
        assert_lexical_only(degrade.run(query=QUERIES[0]), os.path.realpath(folder), "QDRANT_URL")
        with pytest.raises(RetrievalLegError) as raised:
            strict.run(query=QUERIES[0])
        message = str(raised.value)
        assert raised.value.leg == "dense" and "dense leg" in message
        assert os.path.realpath(folder) in message and "one process per folder" in message and "QDRANT_URL" in message
    finally:
        holder.communicate(input="", timeout=30)  # the other process exits and unlocks the folder
    try:
        out = degrade.run(query=QUERIES[0])  # the next query opens the folder and uses both legs
        assert out["meta"]["degraded"] is False and out["meta"]["dense"]["count"] > 0
    finally:
        QdrantStore.close_embedded(folder)


@contextlib.contextmanager
def silent_server(accept: bool) -> Iterator[str]:
    """A loopback URL where nothing listens (refused), or where a socket listens but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if accept:
        sock.listen(16)  # the kernel completes connections; nobody reads or writes
    else:
        sock.close()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        sock.close()


@pytest.mark.parametrize("server", ["refusing", "hanging"])
def test_qdrant_server_down_degrades_or_raises_clearly(server, text_embedder):
    with silent_server(accept=server == "hanging") as url:
        degrade = bm25_hybrid(QdrantStore(url=url, index="c", timeout=1), text_embedder, "degrade")
        strict = bm25_hybrid(QdrantStore(url=url, index="c", timeout=1), text_embedder, "raise")
        # a hanging server never answers: these calls return only because the 1 s timeout fires
        assert_lexical_only(degrade.run(query=QUERIES[0]), f"Qdrant at {url} did not answer")
        with pytest.raises(RetrievalLegError) as raised:
            strict.run(query=QUERIES[0])
    message = str(raised.value)
    assert raised.value.leg == "dense" and url in message and "QDRANT_URL" in message and "QDRANT_TIMEOUT" in message
    assert ("refused" if server == "refusing" else "timed out") in message.lower()


# -- the score cache: Redis stopped mid-batch, a read-only disk cache ----------------------------------------


def ranker(model: str, cache: Any = None) -> CrossEncoderRanker:
    return CrossEncoderRanker(
        model=model, top_k=1000, max_length=128, device=ComponentDevice.from_str("cpu"), cache=cache
    )


@pytest.fixture
def rerank_docs():
    return make_documents(12, seed=7)


@pytest.fixture
def expected_scores(tiny_cross_encoder, rerank_docs) -> dict[str, float]:
    out = ranker(tiny_cross_encoder).run(query=QUERIES[0], documents=rerank_docs)
    return {d.id: d.score for d in out["documents"]}


def scores(out: dict[str, Any]) -> dict[str, float]:
    return {d.id: d.score for d in out["documents"]}


def test_redis_stopped_while_queries_run(
    tiny_cross_encoder,
    rerank_docs,
    expected_scores,
    redis_server: RedisServer,  # noqa: F811
):
    cached = ranker(tiny_cross_encoder, RedisRerankCache(url=redis_server.url, retry_after_seconds=0))
    started, stopped = threading.Event(), threading.Event()

    def stop_redis() -> None:
        started.wait(timeout=60)
        redis_server.stop()
        stopped.set()

    stopper = threading.Thread(target=stop_redis)
    stopper.start()
    results: list[tuple[bool, dict[str, Any]]] = []  # (Redis known stopped before the query began, result)
    try:
        while sum(before for before, _ in results) < 3 and len(results) < 500:
            before = stopped.is_set()
            results.append((before, cached.run(query=QUERIES[0], documents=rerank_docs)))
            if len(results) == 3:
                started.set()
    finally:
        started.set()
        stopper.join(timeout=60)

    for _, out in results:  # every query answers, with the scores the model gives
        assert scores(out) == pytest.approx(expected_scores, abs=1e-4)
    assert results[1][1]["meta"]["cache_hits"] == len(rerank_docs)  # cached while Redis ran
    for before, out in results:
        if before:  # Redis down for the whole query: read and write bypassed, and counted
            assert out["meta"]["cache_bypassed"] == 2 and out["meta"]["cache_hits"] == 0

    redis_server.start()  # same port, empty
    refill = cached.run(query=QUERIES[0], documents=rerank_docs)
    assert refill["meta"]["cache_bypassed"] == 0 and refill["meta"]["cache_misses"] == len(rerank_docs)
    again = cached.run(query=QUERIES[0], documents=rerank_docs)
    assert again["meta"]["cache_hits"] == len(rerank_docs) and again["meta"]["cache_bypassed"] == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """
    Make `folder` and its files unwritable, for root too: `chattr +i` when running as root (permissions do not
    stop root), file modes otherwise. Restored on exit.
    """
    as_root = os.geteuid() == 0
    paths = [folder, *folder.iterdir()]
    if as_root:
        done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot make a folder read-only for root here (chattr +i: {done.stderr.strip()})")
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True, capture_output=True)
        else:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)


def test_read_only_disk_cache_is_bypassed_and_caching_resumes(
    tmp_path, tiny_cross_encoder, rerank_docs, expected_scores
):
    folder = tmp_path / "rerank-cache"
    warm = DiskRerankCache(str(folder))
    ranker(tiny_cross_encoder, warm).run(query=QUERIES[0], documents=rerank_docs)
    warm.close()
    snapshot = {path.name: path.read_bytes() for path in folder.iterdir()}

    cached = ranker(tiny_cross_encoder, DiskRerankCache(str(folder)))
    with read_only(folder):
        with pytest.raises(PermissionError):  # the mechanism works: nothing may write here
            (folder / "probe").write_text("x")
        during = [cached.run(query=QUERIES[0], documents=rerank_docs) for _ in range(2)]
        assert {path.name: path.read_bytes() for path in folder.iterdir()} == snapshot
    for out in during:
        assert scores(out) == pytest.approx(expected_scores, abs=1e-4)
        assert out["meta"]["cache_bypassed"] >= 1 and out["meta"]["model_scored"] == len(rerank_docs)

    after = cached.run(query=QUERIES[0], documents=rerank_docs)  # writable again: the cache answers
    assert after["meta"]["cache_bypassed"] == 0 and after["meta"]["cache_hits"] == len(rerank_docs)


# -- indexing killed half-way ------------------------------------------------------------------------------


def write_corpus(path: Path, count: int) -> list[str]:
    docs = make_documents(count, seed=11, min_words=4, max_words=12)
    with path.open("w") as out:
        for doc in docs:
            out.write(json.dumps({"_id": doc.id, "title": doc.meta["title"], "text": doc.content}) + "\n")
    return [doc.id for doc in docs]


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_indexing_killed_half_way_then_run_again_completes_without_duplicates(
    tmp_path, opensearch_hosts, unique_name, document_embedder
):
    corpus_ids = write_corpus(tmp_path / "corpus.jsonl", 200)
    batch = 20
    settings = Settings(
        lexical="opensearch",
        opensearch_hosts=opensearch_hosts,
        index=unique_name,
        qdrant_path=str(tmp_path / "qdrant"),
        collection="c",
    )
    command = [sys.executable, "-m", "haystack_rerank.cli", "index", "--corpus", str(tmp_path / "corpus.jsonl")]
    command += ["--opensearch-hosts", opensearch_hosts, "--index", unique_name, "--batch-size", str(batch)]
    command += ["--qdrant-path", settings.qdrant_path, "--collection", "c"]
    client = OpenSearch(hosts=opensearch_hosts, timeout=5)

    def lexical_writes() -> int:
        # documents written so far (an index run refreshes only when it ends, so a count would still read 0)
        try:
            stats = client.indices.stats(index=unique_name, metric="indexing")
            return stats["_all"]["primaries"]["indexing"]["index_total"]
        except TransportError:  # the index does not exist yet, or its shard is starting
            return 0

    indexer = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        landed = wait_until(lambda: lexical_writes() >= 2 * batch or indexer.poll() is not None, 240)
        still_running = indexer.poll() is None
        indexer.send_signal(signal.SIGKILL)
        indexer.communicate(timeout=30)
        assert landed and still_running, "indexing ended before it could be killed half-way"
        interrupted_at = lexical_writes()
        assert 2 * batch <= interrupted_at < len(corpus_ids)  # really half-way
        # killed inside the bulk load: refresh is still off, and the marker names the interval to restore
        settings_now = client.indices.get_settings(index=unique_name, flat_settings=True)[unique_name]["settings"]
        assert settings_now["index.refresh_interval"] == "-1"

        lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
        report = index_documents(
            load_corpus(tmp_path / "corpus.jsonl"),
            embedder=document_embedder,
            lexical_store=lexical,
            vector_store=vectors,
            batch_size=100,
            progress_bar=False,
        )
        assert report.lexical_count == report.vector_count == len(corpus_ids)
        assert lexical.count_documents() == vectors.count_documents() == len(corpus_ids)
        lexical_ids = [d.id for d in lexical.filter_documents()]
        vector_ids = [d.id for d in vectors.filter_documents()]
        assert sorted(lexical_ids) == sorted(vector_ids) == sorted(corpus_ids)  # no duplicate, none missing
        # the run again restored the index's refresh_interval (OpenSearch's default) and dropped the marker
        settings_now = client.indices.get_settings(index=unique_name, flat_settings=True)[unique_name]["settings"]
        assert "index.refresh_interval" not in settings_now
        assert BULK_LOAD_MARKER not in (
            client.indices.get_mapping(index=unique_name)[unique_name]["mappings"].get("_meta") or {}
        )
    finally:
        if indexer.poll() is None:
            indexer.kill()
        QdrantStore.close_embedded(settings.qdrant_path)
        client.indices.delete(index=unique_name, ignore_unavailable=True)


# -- a disposable OpenSearch node ------------------------------------------------------------------------


class DisposableNode:
    """A second OpenSearch node that the tests stop, pause (SIGSTOP) and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._paused_pid: int | None = None
        default_cache = "/var/cache/haystack-rerank" if os.geteuid() == 0 else "~/.cache/haystack-rerank"
        cache = Path(os.environ.get("HAYSTACK_RERANK_CACHE") or default_cache).expanduser()
        self.pid_file = cache / f"opensearch-run-{port}" / "opensearch.pid"  # where the script keeps it

    def _script(self, action: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OPENSEARCH_PORT": str(self.port)}
        return subprocess.run(
            ["bash", str(ROOT / "scripts" / "opensearch.sh"), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    def client(self, timeout: float = 5) -> OpenSearch:
        return OpenSearch(hosts=self.url, timeout=timeout, max_retries=0)

    def start(self) -> None:
        result = self._script("start")
        if result.returncode != 0:
            raise RuntimeError(f"opensearch.sh start on port {self.port} failed: {result.stderr[-2000:]}")

    def stop(self) -> None:
        self.resume()  # a stopped JVM would not see SIGTERM
        self._script("stop")

    def jvm_pid(self) -> int:
        # the pid file of the script holds runuser's pid when run as root: ask the node for the JVM's own
        nodes = self.client().nodes.info(node_id="_local", metric="process")["nodes"]
        return int(next(iter(nodes.values()))["process"]["id"])

    def pause(self) -> None:
        """SIGSTOP the JVM: connections are accepted by the kernel, nothing answers."""
        self._paused_pid = self.jvm_pid()
        os.kill(self._paused_pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._paused_pid is None:
            return
        os.kill(self._paused_pid, signal.SIGCONT)
        # as root the script starts the JVM through runuser, which stops itself when its child stops:
        # continue it too, or it would ignore the SIGTERM of `opensearch.sh stop`
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            launcher = int(self.pid_file.read_text().strip())
            if launcher != self._paused_pid:
                os.kill(launcher, signal.SIGCONT)
        self._paused_pid = None

    def wait_green(self) -> None:
        self.client(timeout=60).cluster.health(wait_for_status="green")  # the node waits up to 30 s


@pytest.fixture(scope="module")
def node() -> Iterator[DisposableNode]:
    """The disposable node holding the small corpus, started once for the module and always stopped at the end."""
    disposable = DisposableNode(FAULT_PORT)
    try:
        disposable.start()
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        disposable.stop()
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    try:
        # the index lives in the node's data folder: it survives the stops and restarts of the tests
        OpenSearchStore(hosts=disposable.url, index=FAULT_INDEX).write_documents(
            DOCUMENTS, policy=DuplicatePolicy.OVERWRITE
        )
        yield disposable
    finally:
        disposable.resume()
        with contextlib.suppress(Exception):
            disposable.client().indices.delete(index=FAULT_INDEX, ignore_unavailable=True)
        disposable.stop()


@pytest.fixture(scope="module")
def vectors(document_embedder) -> QdrantStore:
    store = QdrantStore(location=":memory:", index="faults", embedding_dim=384)
    store.write_documents(document_embedder.run(documents=DOCUMENTS)["documents"])
    return store


@pytest.fixture
def running(node: DisposableNode) -> DisposableNode:
    """The node, running (started again if an earlier test stopped it)."""
    node.resume()
    if not _answers(node):
        node.start()
    node.wait_green()
    return node


def _answers(node: DisposableNode) -> bool:
    try:
        return bool(node.client(timeout=2).ping())
    except Exception:
        return False


def counting_connection() -> type[Urllib3HttpConnection]:
    """opensearch-py's own HTTP connection, recording the outcome of every attempt it makes."""

    class Counting(Urllib3HttpConnection):
        attempts: list[str] = []
        failed = threading.Event()

        def perform_request(self, *args: Any, **kwargs: Any) -> Any:
            try:
                answer = super().perform_request(*args, **kwargs)
            except Exception as err:
                Counting.attempts.append(type(err).__name__)
                Counting.failed.set()
                raise
            Counting.attempts.append("ok")
            return answer

    return Counting


def opensearch_hybrid(node, vectors, text_embedder, policy: str, **store_options: Any) -> HybridRetriever:
    store = OpenSearchStore(hosts=node.url, index=FAULT_INDEX, **store_options)
    retriever = HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(document_store=store, raise_on_failure=True),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        top_k=4,
        on_leg_failure=policy,
    )
    return retriever


def assert_both_legs(out: dict[str, Any]) -> None:
    meta = out["meta"]
    assert meta["degraded"] is False, meta
    assert meta["lexical"]["status"] == meta["dense"]["status"] == "ok"
    assert meta["lexical"]["count"] > 0 and meta["dense"]["count"] > 0


def assert_dense_only(out: dict[str, Any], *fragments: str) -> None:
    meta = out["meta"]
    assert meta["degraded"] is True and meta["lexical"]["status"] == "failed" and meta["dense"]["status"] == "ok"
    assert out["documents"] and all(set(d.meta["rrf"]) == {"dense"} for d in out["documents"])
    for fragment in fragments:
        assert fragment in meta["lexical"]["error"]


def assert_clear_lexical_error(error: RetrievalLegError, node: DisposableNode, *fragments: str) -> None:
    message = str(error)
    assert error.leg == "lexical"
    assert "lexical leg" in message and node.url in message, message
    assert "OPENSEARCH_HOSTS" in message and "OPENSEARCH_TIMEOUT" in message  # the fix
    for fragment in fragments:
        assert fragment in message


# -- OpenSearch slow (paused), then transiently paused -------------------------------------------------------


def test_slow_node_degrade_answers_after_the_timeout_raise_fails_clearly(running, vectors, text_embedder):
    connection = counting_connection()
    options = {"timeout": 1, "connection_class": connection}
    degrade = opensearch_hybrid(running, vectors, text_embedder, "degrade", **options)
    strict = opensearch_hybrid(running, vectors, text_embedder, "raise", **options)
    for retriever in (degrade, strict):
        assert_both_legs(retriever.run(query=QUERIES[0]))
    connection.attempts.clear()

    running.pause()
    try:
        # a paused node never answers: these calls return only because the 1 s request timeout fires
        out = degrade.run(query=QUERIES[1])
        with pytest.raises(RetrievalLegError) as raised:
            strict.run(query=QUERIES[1])
    finally:
        running.resume()
    assert_dense_only(out, "timed out", running.url)
    assert_clear_lexical_error(raised.value, running, "timed out")
    # opensearch-py does not retry timeouts unless told to (retry_on_timeout=True): one attempt per query
    assert connection.attempts == ["ConnectionTimeout", "ConnectionTimeout"]

    running.wait_green()
    assert_both_legs(degrade.run(query=QUERIES[2]))  # the next query after the node continues uses both legs


def test_transient_timeout_is_retried_by_the_client(running, vectors, text_embedder):
    connection = counting_connection()
    retriever = opensearch_hybrid(
        running,
        vectors,
        text_embedder,
        "raise",
        timeout=1,
        max_retries=3,
        retry_on_timeout=True,
        connection_class=connection,
    )
    assert_both_legs(retriever.run(query=QUERIES[0]))
    connection.attempts.clear()
    connection.failed.clear()

    def continue_after_first_failure() -> None:
        connection.failed.wait(timeout=60)
        running.resume()

    running.pause()
    resumer = threading.Thread(target=continue_after_first_failure)
    resumer.start()
    try:
        out = retriever.run(query=QUERIES[3])  # "raise": any lexical failure would fail the test
    finally:
        resumer.join(timeout=70)
        running.resume()
    assert_both_legs(out)
    assert connection.attempts[0] == "ConnectionTimeout"
    assert connection.attempts[-1] == "ok"
    assert 2 <= len(connection.attempts) <= 4  # bounded by max_retries=3


# -- OpenSearch stopped during a batch, before a batch, and started again -------------------------------------


def test_stopped_during_a_batch_every_query_answers_or_fails_clearly(running, vectors, text_embedder):
    degrade = opensearch_hybrid(running, vectors, text_embedder, "degrade", timeout=2)
    strict = opensearch_hybrid(running, vectors, text_embedder, "raise", timeout=2)
    started, stopped = threading.Event(), threading.Event()

    def stop_node() -> None:
        started.wait(timeout=60)
        running.stop()
        stopped.set()

    stopper = threading.Thread(target=stop_node)
    stopper.start()
    degraded_outcomes: list[dict[str, Any]] = []
    strict_outcomes: list[dict[str, Any] | RetrievalLegError] = []
    after_stop = 0
    deadline = time.monotonic() + 120
    try:
        while after_stop < 3 and time.monotonic() < deadline:
            after_stop += stopped.is_set()
            query = QUERIES[len(degraded_outcomes) % len(QUERIES)]
            degraded_outcomes.append(degrade.run(query=query))
            try:
                strict_outcomes.append(strict.run(query=query))
            except RetrievalLegError as err:
                strict_outcomes.append(err)
            if len(degraded_outcomes) == 3:
                started.set()
    finally:
        started.set()
        stopper.join(timeout=120)
    assert stopped.is_set() and after_stop == 3, "the node did not stop within the batch"

    # none is lost: each query answered with both legs, or from the dense leg saying why
    for out in degraded_outcomes:
        if out["meta"]["degraded"]:
            assert_dense_only(out, running.url)
        else:
            assert_both_legs(out)
    for outcome in strict_outcomes:
        if isinstance(outcome, RetrievalLegError):
            assert_clear_lexical_error(outcome, running)
        else:
            assert_both_legs(outcome)
    assert not degraded_outcomes[0]["meta"]["degraded"] and degraded_outcomes[-1]["meta"]["degraded"]
    assert not isinstance(strict_outcomes[0], RetrievalLegError) and isinstance(strict_outcomes[-1], RetrievalLegError)


def test_stopped_before_a_batch_degrade_answers_raise_fails_after_bounded_retries(node, vectors, text_embedder):
    node.stop()
    connection = counting_connection()
    options = {"timeout": 2, "max_retries": 2, "connection_class": connection}
    degrade = opensearch_hybrid(node, vectors, text_embedder, "degrade", **options)
    strict = opensearch_hybrid(node, vectors, text_embedder, "raise", **options)
    for query in QUERIES:
        assert_dense_only(degrade.run(query=query), node.url, "Connection refused")
        with pytest.raises(RetrievalLegError) as raised:
            strict.run(query=query)
        assert_clear_lexical_error(raised.value, node, "Connection refused", "2 retries")
    # every request was tried 1 + max_retries times, then given up
    assert connection.attempts == ["ConnectionError"] * 3 * 2 * len(QUERIES)


def test_after_a_restart_the_next_query_uses_both_legs(node, vectors, text_embedder):
    node.stop()  # already stopped when the tests above ran
    retriever = opensearch_hybrid(node, vectors, text_embedder, "degrade", timeout=2)
    assert_dense_only(retriever.run(query=QUERIES[0]), "Connection refused")
    fresh = OpenSearchStore(hosts=node.url, index=f"{FAULT_INDEX}_fresh", max_retries=0)
    with pytest.raises(ServiceUnavailableError, match="Connection refused"):
        fresh.count_documents()  # first use while the node is down

    node.start()
    assert_both_legs(retriever.run(query=QUERIES[0]))  # same retriever, same client: it reconnects
    fresh.write_documents(DOCUMENTS)  # the index is created now, with the english analysis of OpenSearchStore
    mappings = node.client().indices.get_mapping(index=fresh._index)[fresh._index]["mappings"]
    node.client().indices.delete(index=fresh._index)
    assert mappings["properties"]["content"]["analyzer"] == "english"
