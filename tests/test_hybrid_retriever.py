import asyncio
import threading

import pytest
from corpus_small import DOCUMENTS
from haystack import Document, Pipeline, component
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack_integrations.components.retrievers.opensearch import OpenSearchBM25Retriever
from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from haystack_rerank import build
from haystack_rerank.components.retrievers import HybridRetriever
from haystack_rerank.config import Settings
from haystack_rerank.errors import ConfigurationError, RetrievalLegError, ServiceUnavailableError
from haystack_rerank.indexing import index_documents

# -- pure logic, with stand-in legs -------------------------------------------------------------


@component
class ListRetriever:
    """Returns fixed documents; optionally waits at a barrier shared with the other leg, or fails."""

    def __init__(self, ids: list[str], barrier: threading.Barrier | None = None, fail: bool = False):
        self.ids, self.barrier, self.fail = ids, barrier, fail
        self.calls: list[dict] = []

    @component.output_types(documents=list[Document])
    def run(self, query: str = "", query_embedding: list[float] | None = None, filters=None, top_k: int | None = None):
        self.calls.append({"filters": filters, "top_k": top_k})
        if self.barrier is not None:
            self.barrier.wait()  # both legs must be inside run at the same time, else this times out
        if self.fail:
            raise ConnectionError("connection refused")
        return {"documents": [Document(id=i, content=i) for i in self.ids[:top_k]]}


@component
class ConstantEmbedder:
    @component.output_types(embedding=list[float])
    def run(self, text: str):
        return {"embedding": [1.0, 0.0]}


def hybrid(lexical, dense, **kwargs):
    return HybridRetriever(
        lexical_retriever=lexical, text_embedder=ConstantEmbedder(), embedding_retriever=dense, **kwargs
    )


class TestLogic:
    def test_legs_run_at_the_same_time(self):
        barrier = threading.Barrier(2, timeout=10)
        retriever = hybrid(ListRetriever(["a"], barrier), ListRetriever(["b"], barrier))
        out = retriever.run(query="q")  # sequential legs would break the barrier and fail
        assert {d.id for d in out["documents"]} == {"a", "b"}
        assert out["meta"]["lexical"]["status"] == out["meta"]["dense"]["status"] == "ok"

    def test_legs_run_at_the_same_time_async(self):
        barrier = threading.Barrier(2, timeout=10)
        retriever = hybrid(ListRetriever(["a"], barrier), ListRetriever(["b"], barrier))
        out = asyncio.run(retriever.run_async(query="q"))
        assert {d.id for d in out["documents"]} == {"a", "b"}

    def test_depths_filters_and_top_k_reach_the_legs(self):
        lexical, dense = ListRetriever(list("abcdef")), ListRetriever(list("fedcba"))
        retriever = hybrid(lexical, dense, top_k=3, lexical_top_k=5, dense_top_k=4)
        out = retriever.run(query="q", filters={"field": "meta.x", "operator": "==", "value": 1})
        assert len(out["documents"]) == 3
        assert lexical.calls[-1] == {"filters": {"field": "meta.x", "operator": "==", "value": 1}, "top_k": 5}
        assert dense.calls[-1]["top_k"] == 4
        retriever.run(query="q", top_k=0, lexical_top_k=2, dense_top_k=1)
        assert (lexical.calls[-1]["top_k"], dense.calls[-1]["top_k"]) == (2, 1)

    def test_zero_depth_switches_a_leg_off(self):
        lexical, dense = ListRetriever(["a"]), ListRetriever(["b"])
        out = hybrid(lexical, dense, dense_top_k=0).run(query="q")
        assert [d.id for d in out["documents"]] == ["a"]
        assert out["meta"]["dense"]["status"] == "off" and dense.calls == []

    def test_degrade_answers_from_the_surviving_leg_and_says_so(self):
        retriever = hybrid(ListRetriever(["a"], fail=True), ListRetriever(["b", "c"]), on_leg_failure="degrade")
        out = retriever.run(query="q")
        assert [d.id for d in out["documents"]] == ["b", "c"]
        assert out["meta"]["degraded"] is True
        assert out["meta"]["lexical"]["status"] == "failed"
        assert "ConnectionError: connection refused" in out["meta"]["lexical"]["error"]

    def test_raise_names_the_leg(self):
        retriever = hybrid(ListRetriever(["a"]), ListRetriever(["b"], fail=True), on_leg_failure="raise")
        with pytest.raises(RetrievalLegError, match="The dense leg of HybridRetriever failed"):
            retriever.run(query="q")

    def test_degrade_with_every_leg_failing_raises(self):
        retriever = hybrid(ListRetriever([], fail=True), ListRetriever([], fail=True), on_leg_failure="degrade")
        with pytest.raises(ServiceUnavailableError, match="every leg failed"):
            retriever.run(query="q")

    @pytest.mark.parametrize("query", ["", "   ", None])
    def test_empty_query_is_refused(self, query):
        with pytest.raises(ConfigurationError, match="query must be a non-empty string"):
            hybrid(ListRetriever([]), ListRetriever([])).run(query=query)

    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"on_leg_failure": "ignore"}, "on_leg_failure must be one of 'raise', 'degrade', got 'ignore'"),
            ({"top_k": -1}, "top_k must be an integer >= 0, got -1"),
            ({"lexical_top_k": "10"}, "lexical_top_k must be an integer >= 0, got '10'"),
            ({"weights": {"bm25": 1.0}}, "weights name legs ['bm25']"),
        ],
    )
    def test_invalid_init(self, kwargs, fragment):
        with pytest.raises(ConfigurationError) as err:
            hybrid(ListRetriever([]), ListRetriever([]), **kwargs)
        assert fragment in str(err.value)


# -- real stores ---------------------------------------------------------------------------------


def memory_hybrid(vector_store, text_embedder, lexical_store=None, **kwargs):
    lexical_store = lexical_store if lexical_store is not None else InMemoryDocumentStore()
    return HybridRetriever(
        lexical_retriever=InMemoryBM25Retriever(document_store=lexical_store),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vector_store),
        **kwargs,
    ), lexical_store


@pytest.mark.parametrize("mode", [":memory:", "path"])
def test_qdrant_document_written_is_found_by_run_and_run_async(mode, tmp_path, document_embedder, text_embedder):
    kwargs = {"location": ":memory:"} if mode == ":memory:" else {"path": str(tmp_path / "qdrant")}
    vectors = QdrantDocumentStore(**kwargs, index="t", embedding_dim=384, progress_bar=False)
    retriever, lexical = memory_hybrid(vectors, text_embedder, top_k=3)
    index_documents(
        DOCUMENTS, embedder=document_embedder, lexical_store=lexical, vector_store=vectors, progress_bar=False
    )
    query = "What reduces hypertension?"
    sync = retriever.run(query=query, lexical_top_k=0)["documents"]
    asynchronous = asyncio.run(retriever.run_async(query=query, lexical_top_k=0))["documents"]
    assert sync and sync[0].id in {"bp-salt", "bp-exercise"}
    assert [d.id for d in asynchronous] == [d.id for d in sync]


@pytest.mark.integration
class TestOpenSearchAndQdrant:
    @pytest.fixture
    def indexed(self, opensearch_store, document_embedder, text_embedder):
        vectors = QdrantDocumentStore(location=":memory:", index="t", embedding_dim=384, progress_bar=False)
        index_documents(
            DOCUMENTS,
            embedder=document_embedder,
            lexical_store=opensearch_store,
            vector_store=vectors,
            progress_bar=False,
        )
        retriever = HybridRetriever(
            lexical_retriever=OpenSearchBM25Retriever(document_store=opensearch_store),
            text_embedder=text_embedder,
            embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
            top_k=4,
        )
        return retriever, opensearch_store, vectors

    def test_fuses_both_legs_with_the_same_ids(self, indexed):
        retriever, _, _ = indexed
        # "XQ7-221" is an exact code only BM25 can match; "hypertension" paraphrases favour the dense leg
        out = retriever.run(query="error XQ7-221 and lowering high blood pressure")
        ids = [d.id for d in out["documents"]]
        assert "code-xq7" in ids and ("bp-salt" in ids or "bp-exercise" in ids)
        code = next(d for d in out["documents"] if d.id == "code-xq7")
        assert code.meta["rrf"]["lexical"]["rank"] <= 2
        both = [d for d in out["documents"] if set(d.meta["rrf"]) == {"lexical", "dense"}]
        assert both, "documents found by both legs are merged into one"
        assert len(ids) == len(set(ids))

    def test_run_async_matches_run(self, indexed):
        retriever, _, _ = indexed
        query = "Why do cats sleep so long?"
        assert [d.id for d in asyncio.run(retriever.run_async(query=query))["documents"]] == [
            d.id for d in retriever.run(query=query)["documents"]
        ]

    def test_stemming_on_lexical_leg(self, indexed):
        retriever, _, _ = indexed
        # "sleeping" only matches "sleep" with the english analyzer
        docs = retriever.retrieve_lexical("sleeping felines", top_k=3)
        assert docs and docs[0].id == "cats"

    def test_filters_apply_to_both_legs(self, indexed):
        retriever, _, _ = indexed
        flt = {"field": "meta.title", "operator": "==", "value": "Coffee"}
        out = retriever.run(query="blood pressure", filters=flt)
        assert [d.id for d in out["documents"]] == ["coffee"]

    def test_reindexing_is_idempotent(self, indexed, document_embedder):
        _, lexical, vectors = indexed
        report = index_documents(
            DOCUMENTS + DOCUMENTS[:2],
            embedder=document_embedder,
            lexical_store=lexical,
            vector_store=vectors,
            progress_bar=False,
        )
        assert report.duplicates_dropped == 2
        assert lexical.count_documents() == vectors.count_documents() == len(DOCUMENTS)

    def test_unreachable_opensearch_degrades_or_raises(self, indexed, text_embedder):
        _, _, vectors = indexed
        down = build.lexical_store(Settings(lexical="opensearch", opensearch_hosts="http://127.0.0.1:9", index="x"))
        kwargs = {
            "lexical_retriever": OpenSearchBM25Retriever(document_store=down),
            "text_embedder": text_embedder,
            "embedding_retriever": QdrantEmbeddingRetriever(document_store=vectors),
            "top_k": 3,
        }
        out = HybridRetriever(**kwargs, on_leg_failure="degrade").run(query="blood pressure")
        assert out["meta"]["degraded"] and out["meta"]["lexical"]["status"] == "failed"
        assert out["documents"] and all(set(d.meta["rrf"]) == {"dense"} for d in out["documents"])
        with pytest.raises(RetrievalLegError, match="lexical leg"):
            HybridRetriever(**kwargs, on_leg_failure="raise").run(query="blood pressure")

    def test_yaml_round_trip_runs(self, opensearch_hosts, unique_name, tmp_path, document_embedder):
        settings = Settings(
            lexical="opensearch",
            opensearch_hosts=opensearch_hosts,
            index=unique_name,
            qdrant_path=str(tmp_path / "q"),
            collection="c",
        )
        lexical, vectors = build.lexical_store(settings), build.vector_store(settings)
        try:
            index_documents(
                DOCUMENTS, embedder=document_embedder, lexical_store=lexical, vector_store=vectors, progress_bar=False
            )
            pipeline = Pipeline()
            pipeline.add_component("retriever", build.hybrid_retriever(settings, top_k=2))
            text = pipeline.dumps()
            assert str(tmp_path) in text and "site-packages" not in text
            assert "sentence-transformers/all-MiniLM-L6-v2" in text
            loaded = Pipeline.loads(text)
            assert loaded.dumps() == text
            out = loaded.run({"retriever": {"query": "firmware checksum error"}})["retriever"]
            assert out["documents"][0].id == "code-xq7"
        finally:
            lexical.delete_index()


def test_from_dict_refuses_modules_outside_the_allowlist():
    data = hybrid(ListRetriever([]), ListRetriever([])).to_dict()
    data["init_parameters"]["lexical_retriever"]["type"] = "os.system"
    with pytest.raises(Exception, match="allowlist|os"):
        HybridRetriever.from_dict(data)
