"""
Where the CPU of an indexing write goes, per store and per document (issue 16: indexing vs embedding only).

The first `--docs` SciFact abstracts with random unit vectors (the writes do not look at the values) are
written in `--batch-size` batches, each step on its own, fresh index / folder every time:

- `convert`: the indexing's Document copies (meta stamp, no embedding for the lexical store) and the
  integrations' conversions (OpenSearch bulk actions via `Document.to_dict`, Qdrant points);
- `opensearch <refresh>`: `OpenSearchStore.write_documents` per batch with `refresh` "wait_for" (the store's
  default) or False, and `bulk_load` (refresh_interval -1, writes not refreshed, one refresh at the end);
- `qdrant_before` / `qdrant`: `QdrantStore.write_documents` per batch into embedded Qdrant, with SQLite's default
  journal (a sync per point, as before issue 16 item 3) / as shipped (write-ahead log, a checkpoint per call);
  `--profile` prints a cProfile summary.

Per step: wall seconds, CPU seconds of this process and of the OpenSearch JVM (`--jvm-pid`, from /proc), ms per
document. Run under the shared lock:

    flock /tmp/hr-heavy.lock python benchmarks/bench_write_cost.py --hosts http://127.0.0.1:9200 --docs 2000
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def jvm_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, docs: int, pid: int | None, run) -> dict:
    wall, cpu, jvm = time.perf_counter(), time.process_time(), jvm_cpu(pid)
    run()
    wall, cpu, jvm = time.perf_counter() - wall, time.process_time() - cpu, jvm_cpu(pid) - jvm
    row = {
        "step": name,
        "wall_s": round(wall, 2),
        "python_cpu_s": round(cpu, 2),
        "jvm_cpu_s": round(jvm, 2),
        "ms_per_doc_wall": round(1000 * wall / docs, 2),
        "ms_per_doc_cpu": round(1000 * (cpu + jvm) / docs, 2),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--hosts", default="http://127.0.0.1:9200")
    parser.add_argument("--jvm-pid", type=int, default=None, help="default: the java process listening on --hosts")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--steps", nargs="*", default=["convert", "wait_for", "false", "bulk_load", "qdrant_before", "qdrant"]
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary of the qdrant step")
    args = parser.parse_args()

    from haystack.document_stores.types import DuplicatePolicy
    from haystack_integrations.document_stores.qdrant.converters import convert_haystack_documents_to_qdrant_points

    from haystack_rerank import manifest
    from haystack_rerank.beir import load_corpus
    from haystack_rerank.document_stores import OpenSearchStore, QdrantStore

    pid = args.jvm_pid
    if pid is None:
        port = args.hosts.rsplit(":", 1)[1].split("/")[0]
        out = subprocess.run(["ss", "-ltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        pid = int(out.split("pid=")[1].split(",")[0]) if "pid=" in out else None
    rng = np.random.default_rng(16)
    vectors = rng.standard_normal((args.docs, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    corpus = load_corpus(args.data / "corpus.jsonl")[: args.docs]
    docs = [
        replace(
            d, embedding=v.tolist(), meta={**d.meta, manifest.CONTENT_HASH: "x" * 16, manifest.EMBEDDING_MODEL: "m"}
        )
        for d, v in zip(corpus, vectors, strict=False)
    ]
    batches = [docs[i : i + args.batch_size] for i in range(0, len(docs), args.batch_size)]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-write-cost-"))

    if "convert" in args.steps:
        from haystack_rerank.document_stores.opensearch import OpenSearchStore as _O

        def convert() -> None:
            for batch in batches:
                lexical = [replace(d, embedding=None) for d in batch]
                [d.to_dict() for d in lexical]
                convert_haystack_documents_to_qdrant_points(batch, use_sparse_embeddings=False)

        rows.append(measure("convert (Document copies, to_dict, Qdrant points)", len(docs), None, convert))
        del _O

    for step in ("wait_for", "false", "bulk_load"):
        if step not in args.steps:
            continue
        store = OpenSearchStore(hosts=args.hosts, index="bench_write_cost", timeout=60)
        store.delete_index()
        store = OpenSearchStore(hosts=args.hosts, index="bench_write_cost", timeout=60)
        store.write_documents([replace(docs[0], embedding=None)], policy=DuplicatePolicy.OVERWRITE)  # create index

        def write(store=store, step=step) -> None:
            if step == "bulk_load":
                with store.bulk_load() as writer:
                    for batch in batches:
                        writer([replace(d, embedding=None) for d in batch], policy=DuplicatePolicy.OVERWRITE)
                return
            refresh = "wait_for" if step == "wait_for" else False
            for batch in batches:
                store.write_documents(
                    [replace(d, embedding=None) for d in batch], policy=DuplicatePolicy.OVERWRITE, refresh=refresh
                )
            if step == "false":
                store._client.indices.refresh(index=store._index)

        rows.append(measure(f"opensearch refresh={step}", len(docs), pid, write))
        assert store.count_documents() == len(docs), store.count_documents()
        store.delete_index()

    for step in ("qdrant_before", "qdrant"):
        if step not in args.steps:
            continue
        folder = work / step
        vectors_store = QdrantStore(path=str(folder), index="bench", embedding_dim=384)
        if step == "qdrant_before":  # SQLite's default journal: a sync per point, as before issue 16 item 3
            vectors_store._one_sync_per_call = contextlib.nullcontext  # type: ignore[method-assign]
        vectors_store.write_documents(docs[:1], policy=DuplicatePolicy.OVERWRITE)  # client and collection set up
        profiler = cProfile.Profile()

        def qdrant(vectors_store=vectors_store, profiler=profiler) -> None:
            if args.profile:
                profiler.enable()
            for batch in batches:
                vectors_store.write_documents(batch, policy=DuplicatePolicy.OVERWRITE)
            profiler.disable()

        rows.append(measure(f"{step} embedded write_documents", len(docs), None, qdrant))
        assert vectors_store.count_documents() == len(docs)
        QdrantStore.close_embedded(str(folder))
        if args.profile:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
            print(text.getvalue())
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
