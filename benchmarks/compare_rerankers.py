"""
Two cross-encoders on the same hybrid candidates of a judged BEIR split, paired: nDCG@10 of each alone and in the
shipped ensemble (alpha 0.5) at several depths N, the paired t-test and the count of queries better / worse.
Also prints how confident each model is (the quartiles of its best candidate's probability per query).

    python benchmarks/compare_rerankers.py --dataset ../shared/data/scifact --index adapt_scifact \
        --data-dir runs/scifact-data --models haystack-rerank/scifact-minilm-l6-ce runs/scifact2/cross-encoder

The index and collection must hold the split's corpus (e.g. made by `haystack-rerank adapt`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy import stats

from haystack_rerank.adapt.stores import AdaptStores
from haystack_rerank.beir import load_split
from haystack_rerank.cache import MemoryRerankCache
from haystack_rerank.config import Settings
from haystack_rerank.evaluation.metrics import per_query
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL


def candidates(args: argparse.Namespace, split) -> dict[str, list]:
    settings = Settings(lexical="opensearch", index=args.index, collection=args.collection or args.index,
                        data_dir=Path(args.data_dir), qdrant_path=str(Path(args.data_dir) / "qdrant"))  # fmt: skip
    stores = AdaptStores(settings, progress_bar=False)
    retriever = stores.retriever(DEFAULT_EMBEDDING_MODEL, settings.collection)
    return {qid: retriever.run(query=text, top_k=100)["documents"] for qid, text in sorted(split.queries.items())}


def model_probabilities(model: str, split, fused: dict[str, list], depth: int) -> dict[str, list[float]]:
    stores = AdaptStores(Settings(lexical="memory"), progress_bar=False)
    ranker = stores.ranker(model, alpha=None, cache=MemoryRerankCache(1_000_000))
    out = {}
    for qid, docs in fused.items():
        scored = ranker.run(query=split.queries[qid], documents=docs[:depth], top_k=depth)["documents"]
        by_id = {d.id: d.score for d in scored}
        out[qid] = [by_id[d.id] for d in docs[:depth]]
    return out


# Per-query gates tried for out-of-domain protection: when one fires, the query keeps the first-stage order.
GATES = {
    "best probability < 0.1 (the low-confidence flag)": lambda probs: max(probs) < 0.1,
    "best probability < 0.5": lambda probs: max(probs) < 0.5,
    "more than 3 candidates over 0.9 (saturated)": lambda probs: sum(p > 0.9 for p in probs) > 3,
}


def reranked_run(
    fused: dict[str, list], probabilities: dict[str, list[float]], depth: int, alpha: float, gate=None
) -> dict:
    run = {}
    for qid, docs in fused.items():
        if gate is not None and gate(probabilities[qid][:depth]):
            run[qid] = {d.id: 1.0 - i / 1000 for i, d in enumerate(docs)}
            continue
        first = [d.score for d in docs[:depth]]
        lo, hi = min(first), max(first)
        normalised = [(s - lo) / (hi - lo) if hi > lo else 0.0 for s in first]
        final = [alpha * p + (1 - alpha) * f for p, f in zip(probabilities[qid][:depth], normalised, strict=True)]
        run[qid] = {d.id: 2.0 + s for d, s in zip(docs[:depth], final, strict=True)}  # above every backfilled doc
        run[qid].update({d.id: 1.0 - i / 1000 for i, d in enumerate(docs[depth:])})
    return run


def per_query_ndcg(qrels: dict, run: dict) -> list[float]:
    scores = per_query(qrels, run, "ndcg@10")
    return [scores[qid] for qid in sorted(run)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--index", required=True)
    parser.add_argument("--collection")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--models", nargs=2, required=True, metavar=("NEW", "OLD"))
    parser.add_argument("--depths", nargs="+", type=int, default=[50, 100])
    parser.add_argument("--output", help="write the per-query figures here (JSON)")
    parser.add_argument("--queries", type=int, help="only the first N queries (a quick check)")
    args = parser.parse_args()

    split = load_split(Path(args.dataset), args.split)
    if args.queries:
        split.queries = dict(sorted(split.queries.items())[: args.queries])
    qrels = {qid: split.qrels[qid] for qid in split.queries}
    fused = candidates(args, split)
    deepest = max(args.depths)
    probabilities = {model: model_probabilities(model, split, fused, deepest) for model in args.models}
    hybrid = {qid: {d.id: 1.0 - i / 1000 for i, d in enumerate(docs)} for qid, docs in fused.items()}
    base = per_query_ndcg(qrels, hybrid)
    print(f"{Path(args.dataset).name} {args.split}: {len(fused)} queries; hybrid nDCG@10 {sum(base) / len(base):.4f}")
    figures: dict = {"hybrid": base}
    for model, probs in probabilities.items():
        tops = sorted(max(p) for p in probs.values())
        print(
            f"  {model}: best-candidate probability quartiles",
            [round(tops[int(len(tops) * q)], 3) for q in (0.25, 0.5, 0.75)],
        )
    for depth in args.depths:
        for name, alpha in (("alone", 1.0), ("ensemble alpha 0.5", 0.5)):
            new, old = (per_query_ndcg(qrels, reranked_run(fused, probabilities[m], depth, alpha)) for m in args.models)
            diff = [a - b for a, b in zip(new, old, strict=True)]
            mean_new, mean_old, mean_base = (sum(v) / len(v) for v in (new, old, base))
            print(
                f"  N={depth} {name}: {mean_new:.4f} vs {mean_old:.4f} "
                f"({sum(diff) / len(diff):+.4f}, p={stats.ttest_rel(new, old).pvalue:.2g}, "
                f"+{sum(d > 1e-9 for d in diff)}/-{sum(d < -1e-9 for d in diff)}); vs hybrid "
                f"{mean_new - mean_base:+.4f} / {mean_old - mean_base:+.4f}"
            )
            figures[f"N={depth} {name}"] = {"new": new, "old": old}
        for gate_name, gate in GATES.items():
            runs = (reranked_run(fused, probabilities[m], depth, 0.5, gate) for m in args.models)
            gated = [per_query_ndcg(qrels, run) for run in runs]
            fired = [sum(gate(p[:depth]) for p in probabilities[m].values()) for m in args.models]
            line = ", ".join(
                f"{sum(g) / len(g):.4f} ({sum(g) / len(g) - sum(base) / len(base):+.4f} vs hybrid, "
                f"p={stats.ttest_rel(g, base).pvalue:.2g}; fired on {n})"
                for g, n in zip(gated, fired, strict=True)
            )
            print(f"  N={depth} ensemble gated by {gate_name}: new / old {line}")
    if args.output:
        Path(args.output).write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
