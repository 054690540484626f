"""
Reranker backends on this machine, in one run, against plain `CrossEncoder.predict` fp32 as the reference:

  1. latency of reranking 100 candidates (long abstracts, with --with-titles title + abstract): p50/p95, pairs/s,
     speed-up, Spearman and Pearson correlation of the scores with fp32 `predict`, and the share of the CPU's
     bf16 limit (int8 rows: of the int8 limit, twice the bf16 one on AMX) from the model's FLOPs at the real
     token lengths (--peak-tflops per thread);
  2. the time `warm_up` took (the compile, for backend="compiled": run twice to see the first process on a
     machine, with an empty compile cache, and a later one);
  3. quality: nDCG@10 on SciFact dev after reranking the first stage's top --quality-depth with each backend
     (quality must stay within 0.005 of fp32).

    python benchmarks/bench_rerank_backends.py --first-stage-run runs/dev_hybrid.trec
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import time
from pathlib import Path

BACKENDS = [
    ("torch", "float32"),
    ("torch", "bfloat16"),
    ("compiled", "float32"),
    ("compiled", "bfloat16"),
    ("openvino", "float32"),
    ("openvino", "bfloat16"),
    ("openvino", "int8"),
    ("onnx", "float32"),
    ("onnx", "int8"),
]


def gflop(config, lengths: list[int]) -> float:
    """Forward FLOPs of a BERT encoder over pairs of these token lengths (matmuls: projections, FFN, attention)."""
    hidden, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = [2 * n * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * n * n * hidden for n in lengths]
    return layers * sum(per_layer) / 1e9


def pick_candidates(corpus: Path, count: int, seed: int, with_titles: bool = False) -> list:
    from haystack import Document

    rng = random.Random(seed)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    rng.shuffle(lines)
    docs = []
    for line in lines:
        record = json.loads(line)
        words = record["text"].split()
        if len(words) >= 170:
            meta = {"title": record["title"]} if with_titles else {}
            docs.append(Document(id=record["_id"], content=" ".join(words[:175]), meta=meta))
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
    parser.add_argument("--with-titles", action="store_true", help="pairs read title + abstract (as shipped)")
    parser.add_argument("--alpha", type=float, default=None, help="quality with this alpha (shipped: 0.5)")
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--first-stage-run", type=Path, help="TREC run of the first stage (for quality)")
    parser.add_argument("--queries", type=Path, help="queries of that run (default: the dataset's dev queries)")
    parser.add_argument("--qrels", type=Path, help="their judgements (default: the dataset's dev qrels)")
    parser.add_argument("--quality-depth", type=int, default=20)
    parser.add_argument("--save-runs", type=Path, help="folder for each row's reranked TREC run (for paired tests)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32, help="the rankers' batch_size (the reference keeps 32)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument(
        "--int8-model", help="folder written by `haystack-rerank quantize` from --model (the openvino:int8 row)"
    )
    parser.add_argument("--only", nargs="*", help="backend:precision pairs to run (default: all)")
    parser.add_argument("--peak-tflops", type=float, default=1.2, help="bf16 TFLOP/s per thread (AMX, findings)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from scipy.stats import spearmanr
    from sentence_transformers import CrossEncoder

    import haystack_rerank  # noqa: F401  (registers the starter model name)
    from haystack_rerank import beir, build
    from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
    from haystack_rerank.models import resolve_model

    torch.set_num_threads(args.threads)
    query = "Vitamin D deficiency increases the risk of colorectal cancer."
    docs = pick_candidates(args.dataset / "corpus.jsonl", args.pairs, seed=0, with_titles=args.with_titles)
    fields = ["title"] if args.with_titles else []
    pairs = [(query, "\n".join([*(d.meta[f] for f in fields), d.content])) for d in docs]

    reference = CrossEncoder(resolve_model(args.model), max_length=args.max_length)
    reference.predict(pairs[:4])
    ref_seconds = timed(lambda: reference.predict(pairs, batch_size=32, show_progress_bar=False), args.repeats)
    # raw logits, like the ranker with scale_score=False (predict applies a sigmoid by default)
    ref_scores = reference.predict(pairs, batch_size=32, show_progress_bar=False, activation_fn=torch.nn.Identity())
    ref_p50 = statistics.median(ref_seconds)
    queries, texts = [q for q, _ in pairs], [t for _, t in pairs]
    encoded = reference.tokenizer(queries, texts, truncation=True, max_length=args.max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    work = gflop(reference.model.config, lengths)

    quality_inputs = None
    if args.first_stage_run:
        corpus = {d.id: d for d in beir.load_corpus(args.dataset / "corpus.jsonl")}
        queries = beir.load_queries(args.queries or args.dataset / "queries_dev.jsonl")
        qrels = beir.load_qrels(args.qrels or args.dataset / "qrels" / "dev.tsv")
        qrels = {qid: judged for qid, judged in qrels.items() if qid in queries}  # a slice: its own queries only
        first = beir.read_trec_run(args.first_stage_run)
        quality_inputs = (corpus, queries, qrels, first)

    rows, runs = [], []
    limit_seconds = work / (args.peak_tflops * 1000 * args.threads)
    chosen = [(b, p) for b, p in BACKENDS if not args.only or f"{b}:{p}" in args.only]
    if ("openvino", "int8") in chosen and not args.int8_model:
        print("openvino:int8 skipped: pass --int8-model (a folder written by `haystack-rerank quantize`)")
        chosen.remove(("openvino", "int8"))
    for backend, precision in chosen:
        ranker = build.ranker(
            model=args.int8_model if (backend, precision) == ("openvino", "int8") else args.model,
            alpha=None,
            cache=None,
            max_length=args.max_length,
            backend=backend,
            precision=precision,
            threads=args.threads,
            top_k=args.pairs,
            scale_score=False,
            meta_fields_to_embed=fields,
            batch_size=args.batch_size,
        )
        started = time.perf_counter()
        ranker.warm_up()
        warm_up_seconds = time.perf_counter() - started
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
            "share_of_limit": limit_seconds / (2 if precision == "int8" else 1) / statistics.median(seconds),
            "score_corr_vs_fp32": float(np.corrcoef(mine, ref_scores)[0, 1]),
            "spearman_vs_fp32": float(spearmanr(mine, ref_scores)[0]),
            "warm_up_s": warm_up_seconds,
            "compile": getattr(ranker._scorer, "compile_stats", None),
        }
        if quality_inputs:
            corpus, queries, qrels, first = quality_inputs
            ranker.meta_fields_to_embed = ["title"]
            if args.alpha is not None:
                ranker.scale_score, ranker.alpha = True, args.alpha
            run = {}
            for qid, text in queries.items():
                top = sorted(first.get(qid, {}).items(), key=lambda kv: -kv[1])[: args.quality_depth]
                # with the first stage's scores, which the interpolation (--alpha) reads
                candidates = [dataclasses.replace(corpus[d], score=score) for d, score in top]
                reranked = ranker.run(query=text, documents=candidates)["documents"]
                run[qid] = {d.id: float(d.score) for d in reranked}
            row["ndcg@10"] = evaluate_run(qrels, run, ("ndcg@10",))["ndcg@10"]
            # paired against the first row (the fp32 reference when it runs): the per-query gains and losses
            runs.append(run)
            row["paired_vs_first_row"] = paired_test(qrels, runs[0], run) if len(runs) > 1 else None
            if args.save_runs:
                args.save_runs.mkdir(parents=True, exist_ok=True)
                ranked = {q: sorted(scored.items(), key=lambda kv: -kv[1]) for q, scored in run.items()}
                beir.write_trec_run(args.save_runs / f"{backend}-{precision}.trec", ranked, f"{backend}-{precision}")
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(
        f"\nReference: CrossEncoder.predict fp32, {args.pairs} pairs, {args.threads} threads: "
        f"p50 {ref_p50 * 1000:.0f} ms, p95 {np.percentile(ref_seconds, 95) * 1000:.0f} ms; "
        f"{work:.0f} GFLOP; bf16 compute limit ≈ {limit_seconds * 1000:.0f} ms\n"
    )
    header = (
        "| backend | precision | p50 ms | p95 ms | pairs/s | speed-up vs predict fp32 | share of bf16/int8 limit "
        "| Spearman vs fp32 | score corr | warm_up s |"
    )
    if quality_inputs:
        header += f" nDCG@10 (dev, top {args.quality_depth}) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['backend']} | {r['precision']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['pairs_per_s']:.0f} "
            f"| {r['speedup']:.2f}x | {r['share_of_limit']:.0%} | {r['spearman_vs_fp32']:.4f} "
            f"| {r['score_corr_vs_fp32']:.5f} | {r['warm_up_s']:.1f} |"
        )
        if quality_inputs:
            line += f" {r['ndcg@10']:.4f} |"
        print(line)


if __name__ == "__main__":
    main()
