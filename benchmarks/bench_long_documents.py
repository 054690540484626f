"""
Long documents, built from SciFact without new data: every document becomes `--fillers` unrelated abstracts
followed by its own title and abstract, so the first `max_length` tokens the ranker reads by default
(truncation) hold none of it. The shipped ranker (starter model, max_length 192, bf16, alpha 0.5) reranks the
first stage's top `--depth` (shipped: 50) of each dev query:

  - on the original short abstracts (the reference),
  - on the long documents with long_documents="truncate" (today's default),
  - on the long documents with long_documents="windows" and each aggregation.

Reports nDCG@10 (alpha 0.5 as shipped, and the cross-encoder alone), the share of the short-abstract nDCG@10
each recovers, paired tests, the windows formed, and the rerank latency per query (cold cache, on the first
`--latency-queries` queries). Fillers never include a document judged for any query of the split.

    flock /tmp/hr-heavy.lock python benchmarks/bench_long_documents.py --dataset ../shared/data/scifact \\
        --first-stage-run runs/dev_hybrid.trec --output runs/long_documents.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

STRATEGIES: dict[str, dict[str, Any]] = {
    "short abstracts (reference)": {"long_documents": "truncate"},
    "long, truncate (default)": {"long_documents": "truncate"},
    "long, windows max": {"long_documents": "windows", "window_aggregation": "max"},
    "long, windows first_k_mean (k=3)": {
        "long_documents": "windows",
        "window_aggregation": "first_k_mean",
        "window_first_k": 3,
    },
    "long, windows first_over_threshold (0.5)": {
        "long_documents": "windows",
        "window_aggregation": "first_over_threshold",
        "window_threshold": 0.5,
    },
}


def long_corpus(documents: list, judged: set[str], fillers: int, seed: int) -> dict[str, Any]:
    """Each document after `fillers` unrelated abstracts (never judged ones), title inline, no title meta."""
    from haystack import Document

    pool = [doc for doc in documents if doc.id not in judged]
    as_text = lambda doc: f"{doc.meta.get('title', '')}. {doc.content}".strip(". ")  # noqa: E731
    result = {}
    for doc in documents:
        rng = random.Random(f"{seed}:{doc.id}")
        chosen = [f for f in rng.sample(pool, fillers + 1) if f.id != doc.id][:fillers]
        content = "\n\n".join([*(as_text(f) for f in chosen), as_text(doc)])
        result[doc.id] = Document(id=doc.id, content=content)
    return result


def main() -> None:  # noqa: PLR0915 - one linear benchmark script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--first-stage-run", type=Path, required=True, help="TREC run of the hybrid first stage.")
    parser.add_argument("--model", default="haystack-rerank/scifact-minilm-l6-ce")
    parser.add_argument("--depth", type=int, default=50, help="Candidates reranked (shipped rerank_depth).")
    parser.add_argument("--fillers", type=int, default=1, help="Unrelated abstracts before each document.")
    parser.add_argument("--latency-queries", type=int, default=5, help="0: quality only.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--latency-only", action="store_true", help="Skip the quality runs.")
    parser.add_argument("--max-queries", type=int, default=None, help="Only the first N queries (a smoke run).")
    parser.add_argument("--output", type=Path, default=Path("runs/long_documents.json"))
    args = parser.parse_args()

    import torch
    from haystack import Document

    from haystack_rerank import beir
    from haystack_rerank.beir import load_split
    from haystack_rerank.build import ranker as cross_encoder_ranker
    from haystack_rerank.cache import MemoryRerankCache
    from haystack_rerank.evaluation.metrics import evaluate_run, paired_test

    torch.set_num_threads(args.threads)
    split = load_split(args.dataset, args.split)
    documents = beir.load_corpus(split.corpus_path)
    short = {doc.id: doc for doc in documents}
    judged = {doc_id for judgements in split.qrels.values() for doc_id in judgements}
    long = long_corpus(documents, judged, args.fillers, args.seed)
    first_stage = beir.read_trec_run(args.first_stage_run)
    queries = {qid: text for qid, text in split.queries.items() if qid in first_stage}
    queries = dict(list(queries.items())[: args.max_queries])
    qrels = {qid: split.qrels[qid] for qid in queries}

    def candidates(qid: str, corpus: dict[str, Document]) -> list[Document]:
        ranked = sorted(first_stage[qid].items(), key=lambda item: -item[1])
        return [Document(id=i, content=corpus[i].content, meta=corpus[i].meta, score=s) for i, s in ranked]

    cache = MemoryRerankCache(max_entries=1_000_000)  # shared: the three aggregations score the same windows
    report: dict[str, Any] = {
        "queries": len(queries),
        "depth": args.depth,
        "fillers": args.fillers,
        "model": args.model,
        "threads": args.threads,
        "rows": {},
    }
    runs: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for name, options in STRATEGIES.items():
        corpus = short if name.startswith("short") else long
        rows: dict[str, Any] = {}
        for alpha_name, alpha in () if args.latency_only else (("alpha 0.5", 0.5), ("cross-encoder alone", None)):
            ranker = cross_encoder_ranker(model=args.model, top_k=args.depth, alpha=alpha)
            for key, value in options.items():
                setattr(ranker, key, value)
            ranker._validate_params()
            ranker.cache = cache
            ranker.warm_up()
            run, windows, capped = {}, 0, 0
            for qid, text in queries.items():
                result = ranker.run(query=text, documents=candidates(qid, corpus)[: args.depth])
                run[qid] = {doc.id: float(doc.score or 0.0) for doc in result["documents"]}  # nDCG@10 <= depth
                windows += result["meta"].get("windows", result["meta"]["scored"])
                capped += result["meta"].get("windows_capped", 0)
            runs.setdefault(name, {})[alpha_name] = run
            rows[alpha_name] = evaluate_run(qrels, run, ("ndcg@10",))["ndcg@10"]
        if not args.latency_only:
            rows["windows_per_document"] = round(windows / (len(queries) * args.depth), 2)
            rows["documents_capped"] = capped
        if not args.latency_queries:
            report["rows"][name] = rows
            print(name, json.dumps(rows), flush=True)
            continue
        # latency: a fresh ranker without cache, first latency-queries queries, rerank only
        timing = cross_encoder_ranker(model=args.model, top_k=args.depth, alpha=0.5)
        for key, value in options.items():
            setattr(timing, key, value)
        timing.cache = None
        timing.warm_up()
        seconds = []
        for qid, text in list(queries.items())[: args.latency_queries]:
            docs = candidates(qid, corpus)[: args.depth]
            started = time.perf_counter()
            timing.run(query=text, documents=docs)
            seconds.append(time.perf_counter() - started)
        rows["p50_ms"] = round(statistics.median(seconds) * 1000, 1)
        rows["mean_ms"] = round(statistics.mean(seconds) * 1000, 1)
        report["rows"][name] = rows
        print(name, json.dumps(rows), flush=True)

    if args.latency_only:
        args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
        return
    reference = report["rows"]["short abstracts (reference)"]
    for name, rows in report["rows"].items():
        for alpha_name in ("alpha 0.5", "cross-encoder alone"):
            rows[f"recovered {alpha_name}"] = round(rows[alpha_name] / max(reference[alpha_name], 1e-9), 3)
            if not name.startswith("short"):
                test = paired_test(qrels, runs["short abstracts (reference)"][alpha_name], runs[name][alpha_name])
                rows[f"vs short {alpha_name}"] = {k: test[k] for k in ("lift", "p_value", "improved", "hurt")}
    lengths = [len(doc.content) for doc in long.values()]
    report["long_document_characters_median"] = int(statistics.median(lengths))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"SciFact {report['queries']} queries, top {report['depth']} reranked, {report['fillers']} unrelated "
        f"abstracts before each document (median {report['long_document_characters_median']} characters).",
        "",
        "| documents, strategy | nDCG@10 (alpha 0.5) | recovered | nDCG@10 (CE alone) | recovered | windows / doc "
        "| capped | rerank p50 ms | vs short (alpha 0.5): lift, p, better/worse |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["rows"].items():
        versus = r.get("vs short alpha 0.5")
        shown = (
            f"{versus['lift']:+.4f}, p={versus['p_value']:.2g}, {versus['improved']}/{versus['hurt']}" if versus else ""
        )
        lines.append(
            f"| {name} | {r['alpha 0.5']:.4f} | {r['recovered alpha 0.5']:.1%} | {r['cross-encoder alone']:.4f} | "
            f"{r['recovered cross-encoder alone']:.1%} | {r['windows_per_document']} | {r['documents_capped']} | "
            f"{r.get('p50_ms', 'n/a')} | {shown} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
