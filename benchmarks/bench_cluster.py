"""
Indexing throughput on a 3-node OpenSearch cluster and on one node, and query latency while a node fails.

1. Embedding only: the document embedder on the first `--docs` SciFact abstracts (no store), documents/s.
2. Write only: the same documents, already embedded, written by `index_documents` with an embedder that
   returns them as they are: what the stores (OpenSearch + embedded Qdrant) sustain. One node (1 shard,
   0 replicas) and the cluster (3 shards, 1 replica).
3. Indexing: `index_documents` with the real embedder (writes overlap embedding), one node and the cluster,
   as a share of (1).
4. Failover: hybrid queries (SciFact dev, `degrade`) against the cluster index of (3); node 1 is killed
   (SIGKILL), started again and rejoins; per phase p50/p95 latency, failed and degraded queries.
5. `--write-docs` (default 50,000) write-only on both, with SciFact plus synthetic passages embedded by
   composing real sentence embeddings (bench_scaling's ComposedEmbedder): is the write side still faster than
   embedding at that size? Indexing at that size with the real model is then extrapolated (stated as such).

`--targets one-node` measures one node only (no cluster needed; failover is then skipped). `--before` adds, in
the same run and between the same two embedding-only passes, write-only and indexing rows with the write path
before issue 16 item 3 (`before`): OpenSearch refreshed after every bulk batch (`refresh="wait_for"`, no
`bulk_load`) and embedded Qdrant syncing SQLite at every point (no write-ahead log); `--output-name` names the
JSON file (default `cluster.json`). `--index-docs N` indexes N documents with the real model (SciFact's 5,183, then
bench_scaling's synthetic passages); the embedding-only passes then embed a seeded sample of `--docs` of them.
`--rounds N` repeats the indexing runs N times (with `--before`, old and new in alternating order), each round
followed by an embedding-only pass; each indexing row is compared with the mean of the embedding-only passes just
before and after it, and the rounds are averaged.

    # 50,000 documents with the real model, one node, then the cluster (~25 minutes each here)
    OPENSEARCH_PORT=9260 bash scripts/opensearch.sh start
    python benchmarks/bench_cluster.py --single-port 9260 --targets one-node --docs 5000 --index-docs 50000 \\
        --skip write50k --output docs/cluster --output-name index_50k_one_node.json

    OPENSEARCH_CLUSTER_PORT=9250 bash scripts/opensearch-cluster.sh start
    OPENSEARCH_PORT=9260 bash scripts/opensearch.sh start
    flock /tmp/hr-heavy.lock python benchmarks/bench_cluster.py --cluster-port 9250 --single-port 9260 \\
        --output docs/cluster
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scaling import ComposedEmbedder, synthetic_passages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def before_stores(lexical, vectors):
    """The same stores with the write path before issue 16 item 3: OpenSearch refreshed per bulk batch (no
    `bulk_load`, so `index_documents` calls `write_documents`, whose refresh is "wait_for"), embedded Qdrant
    syncing SQLite at each point (its default journal, no checkpoint per call)."""
    from contextlib import nullcontext

    class LexicalBefore(type(lexical)):
        bulk_load = None

    class VectorsBefore(type(vectors)):
        def _one_sync_per_call(self):
            return nullcontext()

    lexical.__class__, vectors.__class__ = LexicalBefore, VectorsBefore
    return lexical, vectors


class AlreadyEmbedded:
    """An 'embedder' that returns the documents it is given (they carry their embeddings): writes only."""

    def run(self, documents: list) -> dict:
        return {"documents": documents}


def stores_for(hosts: str, index: str, shards: int, replicas: int, folder: Path):
    from haystack_rerank.document_stores import OpenSearchStore, QdrantStore

    lexical = OpenSearchStore(hosts=hosts, index=index, shards=shards, replicas=replicas, timeout=60)
    lexical.delete_index()
    lexical = OpenSearchStore(hosts=hosts, index=index, shards=shards, replicas=replicas, timeout=60)
    return lexical, QdrantStore(path=str(folder), index=index, embedding_dim=384)


def timed_index(
    documents: list, embedder, hosts: str, index: str, shards: int, replicas: int, folder: Path, before: bool = False
) -> dict:
    from haystack_rerank.document_stores import QdrantStore
    from haystack_rerank.indexing import index_documents

    shutil.rmtree(folder, ignore_errors=True)
    lexical, vectors = stores_for(hosts, index, shards, replicas, folder)
    if before:
        lexical, vectors = before_stores(lexical, vectors)
    started = time.perf_counter()
    report = index_documents(
        documents, embedder=embedder, lexical_store=lexical, vector_store=vectors, batch_size=256, progress_bar=False
    )
    seconds = time.perf_counter() - started
    QdrantStore.close_embedded(str(folder))
    assert report.lexical_count == report.vector_count == len(documents), report
    assert report.written == len(documents), report  # every document embedded and written, none skipped
    return {"docs": len(documents), "seconds": round(seconds, 1), "docs_per_s": round(len(documents) / seconds, 1)}


def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {"queries": 0}
    ms = np.array(seconds) * 1000
    return {
        "queries": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50))),
        "p95_ms": round(float(np.percentile(ms, 95))),
    }


def failover(hosts: str, port: int, index: str, folder: Path, queries: list[str], text_embedder) -> dict:
    """Queries in a loop while node 1 is killed, started again and rejoins; latency and outcome per phase."""
    from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
    from haystack_rerank.document_stores import OpenSearchStore, QdrantStore

    retriever = HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(
            document_store=OpenSearchStore(hosts=hosts, index=index, timeout=5), raise_on_failure=True
        ),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=QdrantStore(path=str(folder), index=index)),
        top_k=10,
        on_leg_failure="degrade",
    )
    env = {"OPENSEARCH_CLUSTER_PORT": str(port)}
    script = ["bash", str(ROOT / "scripts" / "opensearch-cluster.sh")]
    phase = ["before"]
    rows: dict[str, list] = {"before": [], "node down": [], "rejoining": [], "after": []}
    expected = {q: [d.id for d in retriever.run(query=q)["documents"]] for q in queries}

    errors: list[str] = []

    def chaos() -> None:
        try:
            time.sleep(15)
            subprocess.run([*script, "kill-node", "1"], env={**os.environ, **env}, check=True, capture_output=True)
            phase[0] = "node down"
            time.sleep(20)
            phase[0] = "rejoining"  # start-node returns when the node is back and the cluster green
            subprocess.run([*script, "start-node", "1"], env={**os.environ, **env}, check=True, capture_output=True)
        except subprocess.CalledProcessError as err:  # reported, and the query loop still ends
            errors.append(f"{err.cmd}: {err.stderr[-500:]!r}")
        finally:
            phase[0] = "after"

    worker = threading.Thread(target=chaos)
    worker.start()
    after_started, i = None, 0
    while True:
        current = phase[0]
        if current == "after":
            after_started = after_started or time.monotonic()
            if time.monotonic() - after_started > 15:
                break
        query = queries[i % len(queries)]
        i += 1
        started = time.perf_counter()
        try:
            out = retriever.run(query=query)
            outcome = "degraded" if out["meta"]["degraded"] else "ok"
            same = [d.id for d in out["documents"]] == expected[query]
        except Exception:
            outcome, same = "failed", False
        rows[current].append((time.perf_counter() - started, outcome, same))
    worker.join()
    QdrantStore.close_embedded(str(folder))
    report: dict = {
        name: {
            **percentiles([r[0] for r in items]),
            "failed": sum(r[1] == "failed" for r in items),
            "degraded": sum(r[1] == "degraded" for r in items),
            "answer_changed": sum(not r[2] for r in items),
        }
        for name, items in rows.items()
    }
    return {**report, "script_errors": errors} if errors else report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--cluster-port", type=int, default=9250)
    parser.add_argument("--single-port", type=int, default=9260)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--write-docs", type=int, default=50_000)
    parser.add_argument(
        "--index-docs",
        type=int,
        help="index this many documents with the real model (SciFact, then synthetic passages); the embedding-only"
        " passes then embed a seeded sample of --docs of them",
    )
    parser.add_argument("--failover-queries", type=int, default=30)
    parser.add_argument("--skip", nargs="*", default=[], choices=["index", "write50k", "failover"])
    parser.add_argument("--output", type=Path, default=Path("docs/cluster"))
    parser.add_argument("--output-name", default="cluster.json")
    parser.add_argument("--targets", nargs="+", default=["one-node", "cluster"], choices=["one-node", "cluster"])
    parser.add_argument("--before", action="store_true", help="also the write path before issue 16 item 3")
    parser.add_argument("--rounds", type=int, default=1, help="indexing rounds, each followed by embedding only")
    args = parser.parse_args()
    if "cluster" not in args.targets and "failover" not in args.skip:
        args.skip.append("failover")

    from haystack_rerank.beir import load_corpus, load_queries
    from haystack_rerank.components.embedders import DocumentEmbedder, TextEmbedder

    cluster = ",".join(f"http://127.0.0.1:{args.cluster_port + i}" for i in range(3))
    single = f"http://127.0.0.1:{args.single_port}"
    targets = {"one node": (single, 1, 0), "cluster": (cluster, 3, 1)}
    targets = {name: target for name, target in targets.items() if name.replace(" ", "-") in args.targets}
    variants = [("before", True), ("", False)] if args.before else [("", False)]
    corpus = load_corpus(args.data / "corpus.jsonl")
    docs = to_index = corpus[: args.docs]
    if args.index_docs:  # the real model on SciFact plus synthetic passages; embedding only on a sample of them
        to_index = corpus + synthetic_passages(corpus, args.index_docs - len(corpus), seed=16, pool=5_000)[0]
        docs = random.Random(16).sample(to_index, args.docs)
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    results: dict = {"docs": len(docs), "indexed_docs": len(to_index)}
    args.output.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (args.output / args.output_name).write_text(json.dumps(results, indent=2))
        print(json.dumps(results), flush=True)

    embedder = DocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    embedder.run(documents=docs[:16])

    def embed_only() -> tuple[list, float]:
        started, embedded = time.perf_counter(), []
        for start in range(0, len(docs), 256):
            embedded += embedder.run(documents=docs[start : start + 256])["documents"]
        return embedded, len(docs) / (time.perf_counter() - started)

    if "index" not in args.skip:
        # embedding only before and after the indexing runs (A-B-A): a shared machine's load drifts; the share of
        # embedding-only speed is taken against the mean of the two, and the 1-minute load average is recorded
        embedded, first = embed_only()
        results["embedding_only_docs_per_s"] = {"before": round(first, 1), "load_avg": os.getloadavg()[0]}
        save()
        for name, (hosts, shards, replicas) in targets.items():
            for label, before in variants:
                row = timed_index(
                    embedded, AlreadyEmbedded(), hosts, "bench_write", shards, replicas, work / "q", before
                )
                results[f"write_only {name}{' ' + label if label else ''}"] = row
                save()
        # each round: the indexing runs (with --before, old and new path in alternating order), then embedding only
        # again; a row's share is taken against the mean of the embedding-only passes just before and after it
        passes = [first]
        rounds: dict[str, list[dict]] = {}
        for round_ in range(args.rounds):
            rows: dict[str, dict] = {}
            for name, (hosts, shards, replicas) in targets.items():
                for label, before in variants if round_ % 2 == 0 else variants[::-1]:
                    index, folder = f"bench_index_{shards}", work / f"q{shards}"
                    key = f"{name}{' ' + label if label else ''}"
                    rows[key] = timed_index(to_index, embedder, hosts, index, shards, replicas, folder, before)
                    rows[key]["load_avg"] = os.getloadavg()[0]
            _, rate = embed_only()
            passes.append(rate)
            around = (passes[-2] + passes[-1]) / 2
            for key, row in rows.items():
                row["share_of_embedding_only"] = round(row["docs_per_s"] / around, 3)
                rounds.setdefault(key, []).append(row)
        results["embedding_only_docs_per_s"].update(
            after=round(passes[-1], 1), passes=[round(r, 1) for r in passes], mean=round(float(np.mean(passes)), 1)
        )
        for key, rows_of_key in rounds.items():
            results[f"index {key}"] = (
                rows_of_key[0]
                if len(rows_of_key) == 1
                else {
                    "rounds": rows_of_key,
                    "docs_per_s": round(float(np.mean([r["docs_per_s"] for r in rows_of_key])), 1),
                    "share_of_embedding_only": round(
                        float(np.mean([r["share_of_embedding_only"] for r in rows_of_key])), 3
                    ),
                }
            )
        save()
    # failover right after (3): it queries the cluster index (3) built
    if "failover" not in args.skip:
        queries = list(load_queries(args.data / "queries_dev.jsonl").values())[: args.failover_queries]
        text_embedder = TextEmbedder()
        text_embedder.warm_up()
        results["failover"] = failover(cluster, args.cluster_port, "bench_index_3", work / "q3", queries, text_embedder)
        save()
    if "write50k" not in args.skip:
        passages, sentences = synthetic_passages(corpus, args.write_docs - len(corpus), seed=16, pool=5_000)
        composed = ComposedEmbedder(embedder, sentences)
        real = embedder.run(documents=corpus)["documents"] if "index" in args.skip else None
        head = real or [*embedded, *embedder.run(documents=corpus[len(docs) :])["documents"]]
        big = head + composed.run(passages)["documents"]
        for name, (hosts, shards, replicas) in targets.items():
            row = timed_index(big, AlreadyEmbedded(), hosts, "bench_write", shards, replicas, work / "q")
            results[f"write_only {len(big)} {name}"] = row
            save()
    from opensearchpy import OpenSearch

    for hosts, _, _ in targets.values():
        OpenSearch(hosts=hosts.split(","), timeout=60).indices.delete(index="bench_*", ignore_unavailable=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
