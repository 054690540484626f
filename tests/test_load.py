"""
Load: many concurrent queries (threads and `Pipeline.run_async`) on one hybrid + rerank pipeline with a shared
ranker and score cache, and two processes sharing one disk cache folder and one Redis.

Every concurrent answer must equal the answer of the same query run alone, bit for bit: each (query, document)
pair is scored once, in the same batch as in the sequential run (a query always gets the same candidates, the
misses of one query are scored together, in length-sorted batches), so no float tolerance is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fixtures_models import RedisServer, make_documents, redis_server, tiny_cross_encoder  # noqa: F401
from haystack import Document, Pipeline
from haystack.utils import ComponentDevice
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from haystack_rerank import beir, build, pipelines
from haystack_rerank.cache import DiskRerankCache, MemoryRerankCache, RedisRerankCache, RerankCache
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.config import Settings
from haystack_rerank.indexing import index_documents

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RERANK_DEPTH = 12
TOP_K = 5
REPEATS = 3  # each query runs this many times per concurrent round
THREADS = 8
HANG_GUARD_SECONDS = 300  # only catches a deadlock; no assert on speed
REDIS_PREFIX = "load:"


# -- the corpus, the pipeline and the sequential reference ---------------------------------------------


@pytest.fixture(scope="module")
def queries() -> list[str]:
    return list(beir.load_queries(EXAMPLES / "questions.jsonl").values())


@pytest.fixture(scope="module")
def retriever_parts(opensearch_hosts, document_embedder, text_embedder):
    """OpenSearch (fresh index) and embedded Qdrant (`:memory:`) holding examples/passages.jsonl."""
    index = f"test_load_{random.Random().getrandbits(40):x}"
    lexical = build.lexical_store(Settings(lexical="opensearch", opensearch_hosts=opensearch_hosts, index=index))
    vectors = QdrantDocumentStore(location=":memory:", index="load", embedding_dim=384, progress_bar=False)
    corpus = beir.load_corpus(EXAMPLES / "passages.jsonl")
    index_documents(corpus, embedder=document_embedder, lexical_store=lexical, vector_store=vectors, progress_bar=False)
    yield lexical, text_embedder, vectors
    lexical.delete_index()


def hybrid_rerank(parts, model: str, cache: RerankCache | None) -> Pipeline:
    """The shipped `hybrid_rerank` shape and ranker configuration, over the test stores, with `cache`."""
    lexical, embedder, vectors = parts
    retriever = HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(document_store=lexical),
        text_embedder=embedder,  # shared by every pipeline of this module, like the stores
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        lexical_top_k=20,
        dense_top_k=20,
        on_leg_failure="raise",
    )
    pipeline = pipelines.hybrid_rerank(
        rerank_depth=RERANK_DEPTH, top_k=TOP_K, reranker_model=model, retriever=retriever
    )
    pipeline.get_component("ranker").cache = cache
    return pipeline


def pipeline_input(query: str) -> dict[str, Any]:
    return {"retriever": {"query": query}, "ranker": {"query": query}}


def answer(output: dict[str, Any]) -> list[tuple[str, float]]:
    return [(doc.id, doc.score) for doc in output["ranker"]["documents"]]


def raw_ranker(model: str, cache: RerankCache | None) -> CrossEncoderRanker:
    """Same scoring as the pipeline's ranker (model, length, text, precision), returning the raw logits."""
    shipped = build.ranker(model=model, top_k=RERANK_DEPTH)
    return CrossEncoderRanker(
        model=model,
        max_length=shipped.max_length,
        meta_fields_to_embed=shipped.meta_fields_to_embed,
        precision=shipped.precision,
        backend=shipped.backend,
        top_k=RERANK_DEPTH,
        scale_score=False,
        alpha=None,
        cache=cache,
        device=ComponentDevice.from_str("cpu"),
    )


@pytest.fixture(scope="module")
def reference(retriever_parts, tiny_cross_encoder, queries):  # noqa: F811
    """Each query run alone without a cache: its answer, its candidates and their freshly computed logits."""
    pipeline = hybrid_rerank(retriever_parts, tiny_cross_encoder, cache=None)
    fresh = raw_ranker(tiny_cross_encoder, cache=None)
    answers, candidates, logits = {}, {}, {}
    for query in queries:
        output = pipeline.run(pipeline_input(query), include_outputs_from={"retriever"})
        answers[query] = answer(output)
        candidates[query] = output["retriever"]["documents"]
        assert len(candidates[query]) == RERANK_DEPTH and len(answers[query]) == TOP_K
        logits[query] = {d.id: d.score for d in fresh.run(query=query, documents=candidates[query])["documents"]}
    return {"answers": answers, "candidates": candidates, "logits": logits}


# -- checks shared by the tests ------------------------------------------------------------------------


def entry_count(cache: RerankCache, redis: RedisServer | None) -> int:
    if isinstance(cache, RedisRerankCache):
        assert redis is not None
        return len(redis.client().keys(REDIS_PREFIX + "*"))
    return len(cache)  # type: ignore[arg-type]  # memory and disk caches have __len__


def assert_cache_holds_fresh_scores(
    cache: RerankCache, model: str, candidates: dict[str, list[Document]], logits: dict[str, dict[str, float]]
) -> None:
    """Every pair is in the cache with exactly its freshly computed logit (read back through a new ranker)."""
    reader = raw_ranker(model, cache=cache)
    for query, documents in candidates.items():
        out = reader.run(query=query, documents=documents)
        assert out["meta"]["cache_hits"] == len(documents), f"pairs of {query!r} missing from the cache"
        assert out["meta"]["model_scored"] == 0
        assert {d.id: d.score for d in out["documents"]} == logits[query]


def assert_round(outputs: list[dict[str, Any]], jobs: list[str], reference: dict[str, Any], *, cold: bool) -> None:
    """Answers equal the sequential ones; per run and in total the cache counts add up exactly."""
    for query, output in zip(jobs, outputs, strict=True):
        assert answer(output) == reference["answers"][query], f"concurrent answer differs for {query!r}"
        meta = output["ranker"]["meta"]
        assert meta["cache_hits"] + meta["cache_misses"] == meta["scored"] == RERANK_DEPTH
        assert meta["model_scored"] == meta["cache_misses"] and meta["cache_bypassed"] == 0
    misses = sum(output["ranker"]["meta"]["cache_misses"] for output in outputs)
    hits = sum(output["ranker"]["meta"]["cache_hits"] for output in outputs)
    distinct_pairs = len(set(jobs)) * RERANK_DEPTH
    # cold: every distinct pair is scored exactly once, however many runs asked for it at the same moment
    assert misses == (distinct_pairs if cold else 0)
    assert hits == len(jobs) * RERANK_DEPTH - misses


def run_threads(pipeline: Pipeline, jobs: list[str]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="load") as pool:
        futures = [pool.submit(pipeline.run, pipeline_input(query)) for query in jobs]
        return [future.result(timeout=HANG_GUARD_SECONDS) for future in futures]  # re-raises any error


def run_gather(pipeline: Pipeline, jobs: list[str]) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        runs = asyncio.gather(*(pipeline.run_async(pipeline_input(query)) for query in jobs))
        return await asyncio.wait_for(runs, HANG_GUARD_SECONDS)

    return asyncio.run(main())


def make_cache(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[RerankCache, RedisServer | None]:
    if kind == "memory":
        return MemoryRerankCache(), None
    if kind == "disk":
        return DiskRerankCache(str(tmp_path / "scores")), None
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisRerankCache(url=server.url, prefix=REDIS_PREFIX), server


# -- one process, many concurrent queries -----------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["memory", "disk", "redis"])
def test_concurrent_queries_match_sequential_and_keep_the_cache_exact(
    kind,
    retriever_parts,
    tiny_cross_encoder,
    queries,
    reference,
    tmp_path,
    request,  # noqa: F811
):
    cache, redis = make_cache(kind, tmp_path, request)
    pipeline = hybrid_rerank(retriever_parts, tiny_cross_encoder, cache)  # not warmed: the first runs race to load
    configuration = pipeline.to_dict()
    jobs = queries * REPEATS
    random.Random(kind).shuffle(jobs)
    distinct_pairs = len(queries) * RERANK_DEPTH

    # cold cache, 8 threads, then a warm cache, asyncio.gather over run_async (components' run_async)
    assert_round(run_threads(pipeline, jobs), jobs, reference, cold=True)
    assert entry_count(cache, redis) == distinct_pairs
    assert_round(run_gather(pipeline, jobs), jobs, reference, cold=False)

    # and the other way round: cold with asyncio.gather, warm with threads
    cache.clear()
    assert entry_count(cache, redis) == 0
    assert_round(run_gather(pipeline, jobs), jobs, reference, cold=True)
    assert_round(run_threads(pipeline, jobs), jobs, reference, cold=False)

    assert entry_count(cache, redis) == distinct_pairs  # no stray or duplicated entry
    assert_cache_holds_fresh_scores(cache, tiny_cross_encoder, reference["candidates"], reference["logits"])
    assert pipeline.to_dict() == configuration  # concurrent warm-ups left the configuration (model names) as given


# -- two processes sharing one disk cache folder and one Redis --------------------------------------------

PROCESS_ROUNDS = 3


def _rerank_process(spec: dict[str, Any], barrier: Any, result_file: str) -> None:
    """Rerank the assigned queries with a disk-cached and a Redis-cached ranker; write every run's meta."""
    try:
        from fixtures_models import _single_torch_thread

        _single_torch_thread()
        rankers = {
            "disk": raw_ranker(spec["model"], DiskRerankCache(spec["disk"])),
            "redis": raw_ranker(spec["model"], RedisRerankCache(url=spec["redis"], prefix=REDIS_PREFIX)),
        }
        for ranker in rankers.values():
            ranker.warm_up()
        documents = {query: [Document.from_dict(d) for d in docs] for query, docs in spec["candidates"].items()}
        rng = random.Random(spec["seed"])
        runs = []
        barrier.wait(timeout=120)  # both processes start reranking together
        for round_ in range(PROCESS_ROUNDS):
            order = list(spec["queries"])  # round 0: the shared queries first, so both processes miss them at once
            if round_ > 0:
                rng.shuffle(order)
            for query in order:
                for kind, ranker in rankers.items():
                    out = ranker.run(query=query, documents=documents[query])
                    scores = {d.id: d.score for d in out["documents"]}
                    runs.append({"round": round_, "cache": kind, "query": query, "meta": out["meta"], "scores": scores})
        Path(result_file).write_text(json.dumps({"runs": runs}), encoding="utf-8")
    except BaseException:
        Path(result_file).write_text(json.dumps({"error": traceback.format_exc()}), encoding="utf-8")
        raise


@pytest.mark.integration
def test_two_processes_share_disk_cache_and_redis_without_corruption(
    tiny_cross_encoder,
    redis_server: RedisServer,
    tmp_path,  # noqa: F811
):
    pool = make_documents(60, seed=11)
    queries = [f"immune response to {word} in patients" for word in ("virus", "tumour", "vaccine", "drug", "gene")]
    # overlapping documents between queries; queries 1-3 are asked by both processes
    candidates = {query: pool[n * 8 : n * 8 + 20] for n, query in enumerate(queries)}
    fresh = raw_ranker(tiny_cross_encoder, cache=None)
    logits = {
        q: {d.id: d.score for d in fresh.run(query=q, documents=docs)["documents"]} for q, docs in candidates.items()
    }
    assigned = {"A": queries[1:4] + queries[:1], "B": queries[1:]}

    disk_folder = str(tmp_path / "shared-scores")
    specs, result_files = {}, {}
    for name, own in assigned.items():
        specs[name] = {
            "model": tiny_cross_encoder,
            "disk": disk_folder,
            "redis": redis_server.url,
            "queries": own,
            "candidates": {q: [d.to_dict() for d in candidates[q]] for q in own},
            "seed": name,
        }
        result_files[name] = str(tmp_path / f"result-{name}.json")
    # process A is a fresh interpreter, process B this one; they start reranking together at the barrier
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    child = context.Process(target=_rerank_process, args=(specs["A"], barrier, result_files["A"]))
    child.start()
    try:
        with contextlib.suppress(Exception):  # reported through its result file, checked below
            _rerank_process(specs["B"], barrier, result_files["B"])
    finally:
        child.join(timeout=HANG_GUARD_SECONDS)
        if child.is_alive():
            child.kill()
    results = {
        name: json.loads(Path(path).read_text(encoding="utf-8"))
        if Path(path).is_file()
        else {"error": f"no result file (child exit code {child.exitcode})"}
        for name, path in result_files.items()
    }
    for name in assigned:
        assert "error" not in results[name], f"process {name} failed:\n{results[name].get('error')}"
    assert child.exitcode == 0

    for kind in ("disk", "redis"):
        misses: Counter[str] = Counter()
        for name in assigned:
            for run in (r for r in results[name]["runs"] if r["cache"] == kind):
                meta = run["meta"]
                assert meta["cache_hits"] + meta["cache_misses"] == meta["scored"] == 20
                assert meta["model_scored"] == meta["cache_misses"] and meta["cache_bypassed"] == 0
                assert run["scores"] == logits[run["query"]], f"{kind}: process {name} got a wrong score"
                if run["round"] > 0:  # the process scored or read every pair of its queries in round 0
                    assert meta["cache_misses"] == 0
                misses[run["query"]] += meta["cache_misses"]
        for query in queries:
            if query in assigned["A"] and query in assigned["B"]:  # both may score a pair at the same moment
                assert 20 <= misses[query] <= 40
            else:
                assert misses[query] == 20  # one process, each pair scored once

        cache: RerankCache
        if kind == "disk":
            cache = DiskRerankCache(disk_folder)
            assert len(cache) == len(queries) * 20
        else:
            cache = RedisRerankCache(url=redis_server.url, prefix=REDIS_PREFIX)
            assert len(redis_server.client().keys(REDIS_PREFIX + "*")) == len(queries) * 20
        assert_cache_holds_fresh_scores(cache, tiny_cross_encoder, candidates, logits)
