"""
End to end (hybrid + rerank N=100 + extractive answer) on SciFact, and how it grows with the corpus.

The corpus grows in steps (default 5,183 → 50,000 → 200,000 documents) in ONE OpenSearch index and ONE embedded
Qdrant folder: SciFact's abstracts first (embedded by the model), then seeded synthetic distractors (see
`synthetic_passages`; embedded by composing real sentence embeddings, see `ComposedEmbedder`, because the model
embeds ~40-90 docs/s here and 200k passages would take hours). At each step it records the indexing time of the
new documents (batched embedding, bulk writes to both stores), the
first-stage quality on all dev queries (the distractors carry no qrels, so nDCG@10 and Recall@100 show what the
extra documents cost), retrieval latency, and the end-to-end latency per stage on `--e2e-queries` dev queries
(reranker cache off), plus the RSS of this process (models + embedded Qdrant) and of the OpenSearch node.
Before that, embedding throughput fp32 vs bf16 on the same SciFact abstracts.

    bash scripts/opensearch.sh start
    python benchmarks/bench_scaling.py --data-dir /tmp/hr-scale --output docs/scaling
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import time
from pathlib import Path

import numpy as np
import psutil

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def synthetic_passages(corpus: list, count: int, seed: int, pool: int) -> tuple[list, list[str]]:
    """
    `count` distractor passages, reproducible from `seed`: each takes the title of one random SciFact abstract
    and 3-6 sentences drawn from a seeded pool of `pool` sentences of other abstracts, so vocabulary and length
    look like the domain while no passage repeats a real abstract. Ids are `syn<seed>-<n>`; meta carries
    `synthetic: True` and the pool indices of the sentences (`sentences`). Returns (passages, pool sentences).
    """
    from haystack import Document

    rng = random.Random(seed)
    sentences = [s for d in corpus for s in SENTENCE_END.split(d.content or "") if len(s.split()) >= 6]
    sentences = rng.sample(sentences, min(pool, len(sentences)))
    titles = [d.meta.get("title", "") for d in corpus]
    passages = []
    for n in range(count):
        picked = [rng.randrange(len(sentences)) for _ in range(rng.randint(3, 6))]
        passages.append(
            Document(
                id=f"syn{seed}-{n}",
                content=" ".join(sentences[i] for i in picked),
                meta={"title": rng.choice(titles), "synthetic": True, "sentences": picked},
            )
        )
    return passages, sentences


class ComposedEmbedder:
    """
    Embeds a synthetic passage as the normalised mean of its sentences' real embeddings (each pool sentence is
    embedded once by the real model). Same space and neighbourhood as the passage's own embedding at a fraction
    of the cost: on 2 cores, embedding 200k passages with the model would take hours (BENCHMARKS.md).
    """

    def __init__(self, embedder, sentences: list[str]) -> None:
        from haystack import Document

        docs = embedder.run(documents=[Document(content=s) for s in sentences])["documents"]
        self.vectors = np.array([d.embedding for d in docs], dtype=np.float32)

    def run(self, documents: list) -> dict:
        from dataclasses import replace

        out = []
        for doc in documents:
            vector = self.vectors[doc.meta["sentences"]].mean(axis=0)
            meta = {k: v for k, v in doc.meta.items() if k != "sentences"}
            out.append(replace(doc, embedding=(vector / np.linalg.norm(vector)).tolist(), meta=meta))
        return {"documents": out}


def opensearch_rss(hosts: str) -> int | None:
    """RSS of the OpenSearch JVM listening at `hosts` (found by its HTTP port)."""
    port = int(hosts.rsplit(":", 1)[1].strip("/"))
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid).memory_info().rss
    return None


def embedding_throughput(docs: list, dtypes: list[str]) -> list[dict]:
    """docs/s of the document embedder per dtype on the same documents, and the worst cosine to fp32."""
    from haystack_rerank import build
    from haystack_rerank.config import Settings

    rows, reference = [], None
    for dtype in dtypes:
        embedder = build.document_embedder(Settings(embedding_dtype=dtype), progress_bar=False)
        embedder.warm_up()
        embedder.run(documents=docs[:8])
        started = time.perf_counter()
        vectors = np.array([d.embedding for d in embedder.run(documents=docs)["documents"]])
        seconds = time.perf_counter() - started
        reference = vectors if reference is None else reference
        rows.append(
            {
                "dtype": dtype,
                "docs": len(docs),
                "docs_per_s": len(docs) / seconds,
                "min_cosine_to_first": float((vectors * reference).sum(axis=1).min()),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(seconds, q)) * 1000 if seconds else float("nan")


def measure_step(size: int, retriever, ranker, answerer, split, e2e_queries: int, depth: int) -> dict:
    from haystack_rerank.evaluation.metrics import evaluate_run

    first_stage, retrieval_s = {}, []
    for qid, text in split.queries.items():
        started = time.perf_counter()
        docs = retriever.run(query=text)["documents"]
        retrieval_s.append(time.perf_counter() - started)
        first_stage[qid] = {d.id: float(d.score) for d in docs}
    quality = evaluate_run(split.qrels, first_stage, ("ndcg@10", "recall@100"))

    stages: dict[str, list[float]] = {"retrieval": [], "rerank": [], "answer": [], "total": []}
    reranked = {}
    for qid, text in list(split.queries.items())[:e2e_queries]:
        t0 = time.perf_counter()
        candidates = retriever.run(query=text)["documents"]
        t1 = time.perf_counter()
        ranked = ranker.run(query=text, documents=candidates[:depth])
        t2 = time.perf_counter()
        answerer.run(query=text, documents=ranked["documents"], meta=ranked["meta"])
        t3 = time.perf_counter()
        for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
            stages[stage].append(seconds)
        reranked[qid] = {d.id: float(d.score) for d in ranked["documents"]}
    subset = {qid: split.qrels[qid] for qid in reranked if qid in split.qrels}
    first_subset = {qid: first_stage[qid] for qid in reranked}
    row = {
        "docs": size,
        "hybrid_ndcg@10": quality["ndcg@10"],
        "hybrid_recall@100": quality["recall@100"],
        "retrieval_p50_ms": percentile_ms(retrieval_s, 50),
        "retrieval_p95_ms": percentile_ms(retrieval_s, 95),
        "e2e_queries": len(reranked),
        "hybrid_ndcg@10_e2e_subset": evaluate_run(subset, first_subset, ("ndcg@10",))["ndcg@10"],
        "rerank_ndcg@10_e2e_subset": evaluate_run(subset, reranked, ("ndcg@10",))["ndcg@10"],
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
    }
    for stage, seconds in stages.items():
        row[f"{stage}_p50_ms"] = percentile_ms(seconds, 50)
        row[f"{stage}_p95_ms"] = percentile_ms(seconds, 95)
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["docs"] for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = [
        (axes[0][0], "indexing time (cumulative, s)", [("index_seconds_cumulative", "index time", "o-")]),
        (
            axes[0][1],
            "latency per query (ms)",
            [
                ("retrieval_p50_ms", "hybrid retrieval p50", "o-"),
                ("retrieval_p95_ms", "hybrid retrieval p95", "o--"),
                ("rerank_p50_ms", "rerank N=100 p50", "s-"),
                ("total_p50_ms", "end to end p50", "^-"),
                ("total_p95_ms", "end to end p95", "^--"),
            ],
        ),
        (
            axes[1][0],
            "memory (RSS, MB)",
            [("rss_mb", "this process (models + embedded Qdrant)", "o-"), ("opensearch_rss_mb", "OpenSearch", "s-")],
        ),
        (
            axes[1][1],
            "SciFact dev quality",
            [
                ("hybrid_recall@100", "hybrid Recall@100 (all dev)", "o-"),
                ("hybrid_ndcg@10", "hybrid nDCG@10 (all dev)", "s-"),
                ("rerank_ndcg@10_e2e_subset", "reranked nDCG@10 (e2e queries)", "^-"),
            ],
        ),
    ]
    for axis, title, series in panels:
        for key, label, style in series:
            axis.plot(sizes, [r.get(key) for r in rows], style, label=label)
        axis.set_xscale("log")
        if "latency" in title:
            axis.set_yscale("log")
        axis.set_xlabel("documents in the index")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("haystack-rerank: scaling with the corpus (2 cores, CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[5183, 50_000, 200_000])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--corpus-limit", type=int, default=None, help="SciFact abstracts to use (smoke runs)")
    parser.add_argument("--sentence-pool", type=int, default=8000, help="sentences the synthetic passages use")
    parser.add_argument("--e2e-queries", type=int, default=30)
    parser.add_argument("--rerank-depth", type=int, default=100)
    parser.add_argument("--throughput-docs", type=int, default=512, help="abstracts for the fp32 vs bf16 check")
    parser.add_argument("--embedding-dtype", default="bfloat16", help="dtype used to index the corpus")
    parser.add_argument("--hosts", default="http://127.0.0.1:9200")
    parser.add_argument("--index", default="scaling-bench")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/hr-scale"))
    parser.add_argument("--output", type=Path, default=Path("docs/scaling"))
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    import haystack_rerank  # noqa: F401
    from haystack_rerank import beir, build
    from haystack_rerank.beir import load_split
    from haystack_rerank.config import Settings
    from haystack_rerank.indexing import index_documents
    from haystack_rerank.models import STARTER_RERANK_MODEL

    args.output.mkdir(parents=True, exist_ok=True)
    corpus = beir.load_corpus(args.dataset / "corpus.jsonl")[: args.corpus_limit]
    split = load_split(args.dataset, "dev")
    throughput = embedding_throughput(corpus[: args.throughput_docs], ["float32", "bfloat16"])

    shutil.rmtree(args.data_dir, ignore_errors=True)
    settings = Settings(
        lexical="opensearch",
        opensearch_hosts=args.hosts,
        index=args.index,
        collection=args.index,
        data_dir=args.data_dir,
        embedding_dtype=args.embedding_dtype,
    )
    lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
    lexical.delete_index()
    lexical = build.lexical_store(settings)
    embedder = build.document_embedder(settings, progress_bar=False, batch_size=64)
    retriever = build.hybrid_retriever(
        settings, lexical=lexical, vectors=vectors, top_k=args.rerank_depth, lexical_top_k=100, dense_top_k=100
    )
    retriever.warm_up()
    ranker = build.ranker(model=STARTER_RERANK_MODEL, top_k=10, cache=None)  # latency of the model, not the cache
    answerer = build.answerer(ranker)
    ranker.warm_up()
    answerer.warm_up()

    synthetic, pool = synthetic_passages(corpus, max(0, max(args.sizes) - len(corpus)), args.seed, args.sentence_pool)
    started = time.perf_counter()
    composed = ComposedEmbedder(embedder, pool) if synthetic else None
    pool_seconds = time.perf_counter() - started
    everything = corpus + synthetic
    rows, indexed, index_total = [], 0, 0.0
    for size in sorted(args.sizes):
        new = everything[indexed:size]
        real = [d for d in new if not d.meta.get("synthetic")]
        fake = [d for d in new if d.meta.get("synthetic")]
        started = time.perf_counter()
        if real:
            index_documents(real, embedder=embedder, lexical_store=lexical, vector_store=vectors, progress_bar=True)
        real_seconds = time.perf_counter() - started
        if fake:
            index_documents(
                fake, embedder=composed, lexical_store=lexical, vector_store=vectors, batch_size=2048, progress_bar=True
            )
        seconds = time.perf_counter() - started
        index_total += seconds
        indexed = size
        row = {
            "index_seconds_step": seconds,
            "index_docs_per_s_step": len(new) / seconds,
            "real_docs_step": len(real),
            "real_docs_per_s": len(real) / real_seconds if real else None,
            "synthetic_docs_step": len(fake),
            "synthetic_write_docs_per_s": len(fake) / (seconds - real_seconds) if fake else None,
            "sentence_pool_embed_seconds": pool_seconds,
        }
        row["index_seconds_cumulative"] = index_total
        row.update(measure_step(size, retriever, ranker, answerer, split, args.e2e_queries, args.rerank_depth))
        os_rss = opensearch_rss(args.hosts)
        row["opensearch_rss_mb"] = os_rss / 2**20 if os_rss else None
        stats = OpenSearch(hosts=args.hosts).indices.stats(index=args.index)
        row["opensearch_store_mb"] = stats["_all"]["primaries"]["store"]["size_in_bytes"] / 2**20
        rows.append(row)
        print(json.dumps(row), flush=True)

    result = {"embedding_throughput": throughput, "steps": rows, "args": {k: str(v) for k, v in vars(args).items()}}
    (args.output / "scaling.json").write_text(json.dumps(result, indent=2))
    plot(rows, args.output / "scaling.png")
    print(markdown(result))
    (args.output / "scaling.md").write_text(markdown(result))


def markdown(result: dict) -> str:
    lines = ["| embedding dtype | docs/s | min cosine to fp32 |", "|---|---|---|"]
    for r in result["embedding_throughput"]:
        lines.append(f"| {r['dtype']} | {r['docs_per_s']:.1f} | {r['min_cosine_to_first']:.5f} |")
    lines += [
        "",
        "| docs | index s (step, docs/s) | hybrid nDCG@10 / R@100 (all dev) | retrieval p50 / p95 ms | rerank N=100 "
        "p50 / p95 ms | answer p50 ms | end to end p50 / p95 ms | reranked nDCG@10 (e2e queries, hybrid) | RSS MB "
        "(process / OpenSearch) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["steps"]:
        lines.append(
            f"| {r['docs']:,} | {r['index_seconds_step']:.0f} ({r['index_docs_per_s_step']:.0f}) "
            f"| {r['hybrid_ndcg@10']:.4f} / {r['hybrid_recall@100']:.4f} "
            f"| {r['retrieval_p50_ms']:.0f} / {r['retrieval_p95_ms']:.0f} "
            f"| {r['rerank_p50_ms']:.0f} / {r['rerank_p95_ms']:.0f} | {r['answer_p50_ms']:.0f} "
            f"| {r['total_p50_ms']:.0f} / {r['total_p95_ms']:.0f} "
            f"| {r['rerank_ndcg@10_e2e_subset']:.4f} ({r['hybrid_ndcg@10_e2e_subset']:.4f}) "
            f"| {r['rss_mb']:.0f} / {r['opensearch_rss_mb'] or float('nan'):.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
