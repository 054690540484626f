"""
Reranker backends on this machine, in one run, against plain `CrossEncoder.predict` fp32 as the reference:

  1. latency of reranking 100 candidates (~230-token abstracts, max_length 256): p50/p95, pairs/s, speed-up,
     and the share of the bf16 compute limit (≈5.5 GFLOP per pair at this length; --peak-tflops per thread);
  2. quality: nDCG@10 on SciFact dev after reranking the first stage's top --quality-depth with each backend
     (quality must stay within 0.005 of fp32).

    python benchmarks/bench_rerank_backends.py --first-stage-run runs/dev_hybrid.trec
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

BACKENDS = [
    ("torch", "float32"),
    ("torch", "bfloat16"),
    ("openvino", "float32"),
    ("openvino", "bfloat16"),
    ("onnx", "float32"),
    ("onnx", "int8"),
]
GFLOP_PER_PAIR = 5.5  # MiniLM-L6, ~240 tokens per pair (findings)


def pick_candidates(corpus: Path, count: int, seed: int) -> list:
    from haystack import Document

    rng = random.Random(seed)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    rng.shuffle(lines)
    docs = []
    for line in lines:
        record = json.loads(line)
        words = record["text"].split()
        if len(words) >= 170:
            docs.append(Document(id=record["_id"], content=" ".join(words[:175])))
        if len(docs) == count:
            break
    return docs


def timed(call, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--first-stage-run", type=Path, help="TREC run of the first stage on dev (for quality)")
    parser.add_argument("--quality-depth", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--only", nargs="*", help="backend:precision pairs to run (default: all)")
    parser.add_argument("--peak-tflops", type=float, default=1.2, help="bf16 TFLOP/s per thread (AMX, findings)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    import haystack_rerank  # noqa: F401  (registers the starter model name)
    from haystack_rerank import beir
    from haystack_rerank.components.rankers import CrossEncoderRanker
    from haystack_rerank.evaluation.metrics import evaluate_run
    from haystack_rerank.models import resolve_model

    torch.set_num_threads(args.threads)
    query = "Vitamin D deficiency increases the risk of colorectal cancer."
    docs = pick_candidates(args.dataset / "corpus.jsonl", args.pairs, seed=0)
    pairs = [(query, d.content) for d in docs]

    reference = CrossEncoder(resolve_model(args.model), max_length=args.max_length)
    reference.predict(pairs[:4])
    ref_seconds = timed(lambda: reference.predict(pairs, batch_size=32, show_progress_bar=False), args.repeats)
    # raw logits, like the ranker with scale_score=False (predict applies a sigmoid by default)
    ref_scores = reference.predict(pairs, batch_size=32, show_progress_bar=False, activation_fn=torch.nn.Identity())
    ref_p50 = statistics.median(ref_seconds)

    quality_inputs = None
    if args.first_stage_run:
        corpus = {d.id: d for d in beir.load_corpus(args.dataset / "corpus.jsonl")}
        queries = beir.load_queries(args.dataset / "queries_dev.jsonl")
        qrels = beir.load_qrels(args.dataset / "qrels" / "dev.tsv")
        first = beir.read_trec_run(args.first_stage_run)
        quality_inputs = (corpus, queries, qrels, first)

    rows = []
    limit_seconds = args.pairs * GFLOP_PER_PAIR / (args.peak_tflops * 1000 * args.threads)
    chosen = [(b, p) for b, p in BACKENDS if not args.only or f"{b}:{p}" in args.only]
    for backend, precision in chosen:
        ranker = CrossEncoderRanker(
            model=args.model,
            max_length=args.max_length,
            backend=backend,
            precision=precision,
            threads=args.threads,
            top_k=args.pairs,
            scale_score=False,
            meta_fields_to_embed=[],
        )
        ranker.warm_up()
        seconds = timed(lambda r=ranker: r.run(query=query, documents=docs), args.repeats)
        scores = {d.id: d.score for d in ranker.run(query=query, documents=docs)["documents"]}
        mine = np.array([scores[d.id] for d in docs])
        row = {
            "backend": backend,
            "precision": precision,
            "p50_ms": statistics.median(seconds) * 1000,
            "p95_ms": float(np.percentile(seconds, 95)) * 1000,
            "pairs_per_s": args.pairs / statistics.median(seconds),
            "speedup": ref_p50 / statistics.median(seconds),
            "share_of_bf16_limit": limit_seconds / statistics.median(seconds),
            "score_corr_vs_fp32": float(np.corrcoef(mine, ref_scores)[0, 1]),
        }
        if quality_inputs:
            corpus, queries, qrels, first = quality_inputs
            ranker.meta_fields_to_embed = ["title"]
            run = {}
            for qid, text in queries.items():
                top = sorted(first.get(qid, {}).items(), key=lambda kv: -kv[1])[: args.quality_depth]
                reranked = ranker.run(query=text, documents=[corpus[d] for d, _ in top])["documents"]
                run[qid] = {d.id: float(d.score) for d in reranked}
            row["ndcg@10"] = evaluate_run(qrels, run, ("ndcg@10",))["ndcg@10"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(
        f"\nReference: CrossEncoder.predict fp32, {args.pairs} pairs, {args.threads} threads: "
        f"p50 {ref_p50 * 1000:.0f} ms, p95 {np.percentile(ref_seconds, 95) * 1000:.0f} ms; "
        f"bf16 compute limit ≈ {limit_seconds * 1000:.0f} ms\n"
    )
    header = (
        "| backend | precision | p50 ms | p95 ms | pairs/s | speed-up vs predict fp32 | share of bf16 limit "
        "| score corr |"
    )
    if quality_inputs:
        header += f" nDCG@10 (dev, top {args.quality_depth}) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['backend']} | {r['precision']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['pairs_per_s']:.0f} "
            f"| {r['speedup']:.2f}x | {r['share_of_bf16_limit']:.0%} | {r['score_corr_vs_fp32']:.5f} |"
        )
        if quality_inputs:
            line += f" {r['ndcg@10']:.4f} |"
        print(line)


if __name__ == "__main__":
    main()
