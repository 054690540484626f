"""
Cascade and gating on SciFact: gate thresholds chosen on a slice of TRAIN queries, every row reported on DEV.

For each (N, M): a small cross-encoder scores the hybrid top N, the full one re-scores the top M (CascadeRanker);
for each gate margin: how often it fires and the nDCG@10 it costs. Rows without a small model gate on the
first-stage (RRF) scores. Quality comes from cached scores; latency (rerank only, no cache) from the first
--latency-queries queries.

    python benchmarks/bench_cascade.py --small-model /tmp/models/starter-l2 \
        --dev-run runs/dev_hybrid.trec --train-run runs/train200_hybrid.trec
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fused_lists(run: dict, corpus: dict, queries: dict) -> dict:
    from dataclasses import replace

    out = {}
    for qid in queries:
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: -kv[1])
        out[qid] = [replace(corpus[doc_id], score=score) for doc_id, score in ranked]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")
    parser.add_argument("--small-model", required=True)
    parser.add_argument("--dev-run", type=Path, required=True, help="TREC run of hybrid on dev (top 100)")
    parser.add_argument("--train-run", type=Path, required=True, help="TREC run of hybrid on a train slice")
    parser.add_argument("--train-queries", type=int, default=100)
    parser.add_argument(
        "--train-dataset", type=Path, help="BEIR folder of --train-run (default: --dataset); e.g. SciFact for CISI"
    )
    parser.add_argument("--backend", default="compiled")
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--small-backend", help="the small model's backend (default: --backend)")
    parser.add_argument("--small-precision", help="the small model's precision (default: --precision)")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-queries", type=int, default=10)
    parser.add_argument("--budget-ms", type=float, default=450.0)
    parser.add_argument("--cascades", default="100:10,100:20,100:30,50:20,50:15,30:15", help="N:M, small then full")
    parser.add_argument("--plain", default="50:50,100:100,50:30,100:30,30:30", help="N:M, the full model alone")
    parser.add_argument("--gates", default="0.1,0.2,0.3,0.5", help="gate margins tried (chosen on train)")
    parser.add_argument("--max-dev-queries", type=int, default=None, help="only the first N dev queries (smoke run)")
    parser.add_argument("--output", type=Path, default=Path("runs/bench_cascade.json"))
    args = parser.parse_args()

    import haystack_rerank  # noqa: F401
    from haystack_rerank import beir, build
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.components.rankers import CrossEncoderRanker
    from haystack_rerank.evaluation import cascade_sweep as cs

    def ranker(model: str, cached: bool, backend: str, precision: str) -> CrossEncoderRanker:
        made = build.ranker(
            model=model,
            backend=backend,
            precision=precision,
            alpha=args.alpha,
            threads=args.threads,
            top_k=100,
            cache=MemoryRerankCache(max_entries=1_000_000) if cached else None,
        )
        made.warm_up()
        return made

    train_dataset = args.train_dataset or args.dataset
    datasets = {args.dataset, train_dataset}
    corpora = {path: {d.id: d for d in beir.load_corpus(path / "corpus.jsonl")} for path in datasets}
    full = tuple(ranker(args.model, cached, args.backend, args.precision) for cached in (True, False))
    small_backend, small_precision = args.small_backend or args.backend, args.small_precision or args.precision
    small = tuple(ranker(args.small_model, cached, small_backend, small_precision) for cached in (True, False))

    cascades, gates = cs.parse_settings(args.cascades, args.gates)
    plain, _ = cs.parse_settings(args.plain)  # the full model alone (first-stage order, gate on RRF)
    result: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    splits = (
        ("train", train_dataset, args.train_run, args.train_queries),
        ("dev", args.dataset, args.dev_run, args.max_dev_queries),
    )
    for split, dataset, run_path, limit in splits:
        corpus = corpora[dataset]
        queries = beir.load_queries(dataset / f"queries_{split}.jsonl")
        qrels = beir.load_qrels(dataset / "qrels" / f"{split}.tsv")
        run = beir.read_trec_run(run_path)
        chosen = [qid for qid in queries if qid in run and qid in qrels][:limit]
        queries = {qid: queries[qid] for qid in chosen}
        qrels = {qid: qrels[qid] for qid in chosen}
        fused = fused_lists(run, corpus, queries)
        latency = args.latency_queries if split == "dev" else 0
        rows = cs.cascade_sweep(
            queries, qrels, fused, full=full, small=small, settings=cascades, gates=gates, latency_queries=latency
        )
        for row in rows:
            row["small"] = True
        plain_rows = cs.cascade_sweep(
            queries, qrels, fused, full=full, small=None, settings=plain, gates=gates, latency_queries=latency
        )
        result[split] = {"queries": len(queries), "rows": rows + [{**r, "small": False} for r in plain_rows]}
        print(f"{split}: {len(queries)} queries", flush=True)
    picks = cs.pick_gates(result["train"]["rows"])
    result["gate_picks_on_train"] = {f"{n},{m}": g for (n, m), g in picks.items()}
    dev_rows = result["dev"]["rows"]
    result["recommendation"] = cs.recommend(dev_rows, args.budget_ms)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(cs.markdown([r for r in dev_rows if r["small"]], f"DEV, small model {args.small_model} then the full one"))
    alone = "DEV, the full model alone (gate on first-stage scores)"
    print(cs.markdown([r for r in dev_rows if not r["small"]], alone))
    print("Gate margins chosen on TRAIN (max firing with <= 0.005 nDCG@10 loss):", result["gate_picks_on_train"])
    print("Recommendation for", args.budget_ms, "ms p95:", json.dumps(result["recommendation"]))


if __name__ == "__main__":
    main()
