"""
A real 3-node OpenSearch cluster (scripts/opensearch-cluster.sh, ports 9250-9252 unless
HAYSTACK_RERANK_CLUSTER_PORT says otherwise), started by these tests and stopped at the end: an index with one
replica survives a node killed (SIGKILL) while queries run and while indexing runs, and a paused (SIGSTOP)
node holds no query past its timeout. The dense leg is embedded Qdrant; the lexical leg is under test.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_node import Cluster
from fixtures_models import WORDS, make_documents
from opensearchpy import TransportError

from haystack_rerank import build
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.config import Settings
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.indexing import IndexReport, index_documents

pytestmark = pytest.mark.cluster

INDEX = "cluster_corpus"
CORPUS_SIZE = 200
# three-word queries over the corpus vocabulary: each matches many documents in both legs
QUERIES = [" ".join(WORDS[i : i + 3]) for i in range(0, 32, 4)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    nodes = Cluster()
    try:
        nodes.start()
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        nodes.stop()
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def green(cluster: Cluster) -> Cluster:
    """The cluster with every node up and every shard copy assigned (an earlier test may have killed one)."""
    cluster.heal()
    return cluster


@pytest.fixture(scope="module")
def corpus() -> list:
    return make_documents(CORPUS_SIZE, seed=16, min_words=8, max_words=60)


@pytest.fixture(scope="module")
def indexed(cluster: Cluster, corpus, document_embedder) -> Iterator[QdrantStore]:
    """The corpus in a fresh 3-shard, 1-replica index on the cluster, and in embedded Qdrant."""
    cluster.heal()
    # an interrupted run leaves its index in the nodes' data folders; indexing into it again would overwrite every
    # document, and the deleted copies count in each shard copy's BM25 statistics until merged, differently on a
    # primary and its replica, so the scores would depend on the copy that answers
    cluster.client(timeout=120).indices.delete(index=INDEX, ignore_unavailable=True)
    vectors = QdrantStore(location=":memory:", index="cluster", embedding_dim=384)
    index_documents(
        corpus,
        embedder=document_embedder,
        lexical_store=OpenSearchStore(hosts=cluster.hosts, index=INDEX, shards=3, replicas=1),
        vector_store=vectors,
        batch_size=100,
        progress_bar=False,
    )
    yield vectors
    cluster.client(timeout=120).indices.delete(index=INDEX, ignore_unavailable=True)


def hybrid(cluster: Cluster, vectors: QdrantStore, text_embedder, timeout: float = 15) -> HybridRetriever:
    store = OpenSearchStore(hosts=cluster.hosts, index=INDEX, timeout=timeout)
    return HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(document_store=store, raise_on_failure=True),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        top_k=10,
        on_leg_failure="degrade",
    )


def answer(out: dict[str, Any]) -> list[tuple[str, float]]:
    return [(d.id, round(d.score, 9)) for d in out["documents"]]


def both_legs(out: dict[str, Any]) -> list[tuple[str, float]]:
    assert out["meta"]["degraded"] is False, out["meta"]
    return answer(out)


def stored_ids(cluster: Cluster, index: str) -> list[str]:
    """Every document id in the index, as often as it is stored (a duplicate would appear twice)."""
    client = cluster.client(timeout=30)
    client.indices.refresh(index=index)
    hits = client.search(index=index, body={"size": 10_000, "_source": False, "query": {"match_all": {}}})
    return [hit["_id"] for hit in hits["hits"]["hits"]]


def test_index_with_one_replica_puts_each_shard_on_two_nodes(green, indexed, corpus):
    copies = green.shard_copies(INDEX)
    assert len(copies) == 6 and {c["state"] for c in copies} == {"STARTED"}
    for shard in ("0", "1", "2"):
        nodes = [c["node"] for c in copies if c["shard"] == shard]
        assert len(set(nodes)) == 2  # a primary and its replica never share a node
    assert sorted(stored_ids(green, INDEX)) == sorted(d.id for d in corpus)


def test_node_killed_while_queries_run_every_query_answered_with_the_same_results(
    green, indexed, corpus, text_embedder
):
    retriever = hybrid(green, indexed, text_embedder)
    before = {q: both_legs(retriever.run(query=q)) for q in QUERIES}
    killed = threading.Event()
    answers: list[tuple[str, dict[str, Any], bool]] = []  # (query, result, node known dead before it began)

    def run_queries() -> None:
        deadline = time.monotonic() + 120
        after_kill = 0
        while after_kill < 2 * len(QUERIES) and time.monotonic() < deadline:
            dead = killed.is_set()
            query = QUERIES[len(answers) % len(QUERIES)]
            answers.append((query, retriever.run(query=query), dead))
            after_kill += dead

    worker = threading.Thread(target=run_queries)
    worker.start()
    while len(answers) < len(QUERIES) and worker.is_alive():
        time.sleep(0.01)
    green.kill(1)
    killed.set()
    worker.join(timeout=180)

    assert sum(dead for _, _, dead in answers) >= 2 * len(QUERIES), "too few queries after the kill"
    for query, out, _ in answers:  # every query answered from both legs, with the answer of the full cluster
        assert out["meta"]["degraded"] is False, out["meta"]
        assert answer(out) == before[query], query

    green.start_node(1)  # rejoins on its data folder; its shard copies recover from the survivors
    ids = stored_ids(green, INDEX)
    assert len(ids) == len(set(ids)) == CORPUS_SIZE and set(ids) == {d.id for d in corpus}
    assert {q: answer(retriever.run(query=q)) for q in QUERIES} == before


def test_paused_node_holds_no_query_past_the_timeout(green, indexed, text_embedder):
    timeout = 2.0
    retriever = hybrid(green, indexed, text_embedder, timeout=timeout)
    patient = hybrid(green, indexed, text_embedder, timeout=30)  # the answers of the healthy cluster
    before = {q: both_legs(patient.run(query=q)) for q in QUERIES[:6]}
    green.pause(2)
    try:
        outcomes = []
        for query in before:  # round robin: node 2 coordinates some queries and holds shard copies for others
            started = time.monotonic()
            out = retriever.run(query=query)
            outcomes.append((query, out, time.monotonic() - started))
    finally:
        green.resume(2)
    for query, out, seconds in outcomes:
        assert out["documents"], query  # answered: from both legs, or from the dense leg saying why
        # without the timeout a paused node holds a request for ever; 2 s of slack for the dense leg
        assert seconds < timeout + 2.0, (query, seconds)
        if out["meta"]["degraded"]:
            assert "timed out" in out["meta"]["lexical"]["error"]
        else:
            assert answer(out) == before[query]
    assert any(out["meta"]["degraded"] for _, out, _ in outcomes), "the paused node was never asked"
    green.wait_green()
    assert {q: both_legs(patient.run(query=q)) for q in before} == before


def test_node_killed_during_indexing_running_index_again_stores_every_document_once(green, tmp_path, document_embedder):
    documents = make_documents(240, seed=61, min_words=8, max_words=40)
    settings = Settings(
        opensearch_hosts=green.hosts,
        index="cluster_indexing",
        opensearch_shards=3,
        opensearch_replicas=1,
        qdrant_path=str(tmp_path / "qdrant"),
        collection="c",
    )
    lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
    client = green.client(timeout=5)
    green.client(timeout=120).indices.delete(index=settings.index, ignore_unavailable=True)  # an interrupted run's

    def lexical_writes() -> int:
        # documents written so far (an index run refreshes only when it ends, so a count would still read 0)
        try:
            stats = client.indices.stats(index=settings.index, metric="indexing")
            return stats["_all"]["primaries"]["indexing"]["index_total"]
        except TransportError:  # no index yet
            return 0

    def index() -> IndexReport:
        return index_documents(
            documents,
            embedder=document_embedder,
            lexical_store=lexical,
            vector_store=vectors,
            batch_size=10,
            progress_bar=False,
        )

    first: list[IndexReport | BaseException] = []

    def index_once() -> None:
        try:
            first.append(index())
        except Exception as err:  # the kill may stop it; running it again must complete
            first.append(err)

    try:
        indexer = threading.Thread(target=index_once)
        indexer.start()
        deadline = time.monotonic() + 240
        while lexical_writes() < 30 and indexer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert indexer.is_alive(), "indexing ended before a node could be killed"
        green.kill(0)
        # node 0 back before `index` runs again (started while the first run goes on, which keeps the test short):
        # a fresh index may not have placed every replica yet when the node died, and a shard with no live copy
        # fails the manifest read (a clear error, not a silent gap)
        restart = threading.Thread(target=green.start_node, args=(0,))
        restart.start()
        indexer.join(timeout=300)
        restart.join(timeout=420)
        green.wait_green()  # raises if the restart did not bring node 0 back
        report = index()  # running `index` again
        assert report.lexical_count == report.vector_count == len(documents)

        ids = stored_ids(green, settings.index)
        assert not [i for i, n in Counter(ids).items() if n > 1]  # no duplicate
        assert sorted(ids) == sorted(d.id for d in documents)  # none lost
        assert sorted(d.id for d in vectors.filter_documents()) == sorted(d.id for d in documents)
    finally:
        green.client(timeout=120).indices.delete(index=settings.index, ignore_unavailable=True)
        QdrantStore.close_embedded(settings.qdrant_path)
