"""
Bad input at every public entry point: each case gets a clear error (field, value, fix) or the documented
behaviour of the "Input rules" table in README.md. Models and services are real: the tiny cross-encoder,
the local bi-encoder, the OpenSearch node, an embedded Qdrant, a redis-server.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import subprocess
import sys

import pytest
from corpus_small import DOCUMENTS
from fixtures_models import WORDS, redis_server, tiny_cross_encoder  # noqa: F401
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.core.errors import DeserializationError, PipelineError
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import ComponentDevice, Secret
from haystack_integrations.components.retrievers.opensearch import (
    OpenSearchBM25Retriever as IntegrationBM25Retriever,
)
from typer.testing import CliRunner

from haystack_rerank import beir, pipelines
from haystack_rerank.cache import RedisRerankCache
from haystack_rerank.cli import app
from haystack_rerank.components.joiners import ReciprocalRankFusion
from haystack_rerank.components.rankers import CrossEncoderRanker
from haystack_rerank.components.readers import ExtractiveAnswerer
from haystack_rerank.components.readers.extractive_answerer import MAX_SENTENCES_PER_DOCUMENT, split_sentences
from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.components.retrievers.integrations import MAX_QUERY_TERMS
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.errors import ConfigurationError, ServiceUnavailableError
from haystack_rerank.indexing import index_documents

# Awkward but legal documents: no content, None meta, a repeated id, other scripts.
AWKWARD = [
    Document(id="no-content", content=None),
    Document(id="blank", content=" \n\t "),
    Document(id="meta-none", content="Sodium intake and blood pressure in older adults.", meta=None),
    Document(id="dup", content="First copy: exercise lowers blood pressure.", score=1.0),
    Document(id="dup", content="Second copy: exercise lowers blood pressure.", score=2.0),
    Document(id="greek", content="Η αρτηριακή πίεση μειώνεται με λιγότερο αλάτι.", meta={"title": "Πίεση"}),
    Document(id="cjk", content="减少盐的摄入可以降低血压。", meta={"title": "血压"}),
    Document(id="mixed", content="Blood pressure (кровяное давление, ضغط الدم) 🩺 naïve café e\u0301.", meta={}),
]
TEXT_IDS = {"meta-none", "dup", "greek", "cjk", "mixed"}
MEGABYTE = 1_000_000
MARKER = "Zebrafish telomerase drives fin regeneration."
BLANK_QUERIES = ["", "   ", "\n\t"]


def one_megabyte_document() -> Document:
    """A 1 MB document of ~12-word sentences; its first sentence holds words found nowhere else."""
    rng = random.Random(7)
    parts, size = [MARKER], len(MARKER)
    while size < MEGABYTE:
        sentence = " ".join(rng.choices(WORDS, k=12)).capitalize() + "."
        parts.append(sentence)
        size += len(sentence) + 1
    return Document(id="one-megabyte", content=" ".join(parts)[:MEGABYTE], meta={"title": "Huge"})


def long_query(chars: int = 20_000) -> str:
    """A pasted-paragraph query: the vocabulary in random order, far more than 1,024 terms."""
    rng = random.Random(3)
    text = "blood pressure " + " ".join(rng.choices(WORDS, k=chars // 4))
    return text[:chars]


@pytest.fixture(scope="module")
def ranker(tiny_cross_encoder):  # noqa: F811
    ranker = CrossEncoderRanker(model=tiny_cross_encoder, device=ComponentDevice.from_str("cpu"), max_length=128)
    ranker.warm_up()
    return ranker


@pytest.fixture(scope="module")
def indexed(opensearch_hosts, document_embedder, text_embedder):
    """A real OpenSearch index and an embedded Qdrant holding the small corpus, the awkward and the 1 MB document."""
    import uuid

    name = f"test_bad_{uuid.uuid4().hex[:10]}"
    lexical = OpenSearchStore(hosts=opensearch_hosts, index=name)
    vectors = QdrantStore(location=":memory:", index=name)
    report = index_documents(
        [*DOCUMENTS, *AWKWARD, one_megabyte_document()],
        embedder=document_embedder,
        lexical_store=lexical,
        vector_store=vectors,
        progress_bar=False,
    )
    retriever = HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(document_store=lexical, raise_on_failure=True),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        top_k=20,
        lexical_top_k=20,
        dense_top_k=20,
    )
    retriever.warm_up()
    yield {"report": report, "lexical": lexical, "vectors": vectors, "retriever": retriever}
    lexical.delete_index()


# -- queries --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [*BLANK_QUERIES, None, 42])
def test_blank_or_non_string_query_is_refused_by_every_entry_point(query, ranker, text_embedder):
    retriever = HybridRetriever(
        lexical_retriever=InMemoryBM25Retriever(document_store=InMemoryDocumentStore()),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=QdrantStore(location=":memory:", index="q")),
    )
    calls = {
        "CrossEncoderRanker query": lambda: ranker.run(query=query, documents=DOCUMENTS),
        "ExtractiveAnswerer query": lambda: ExtractiveAnswerer(ranker=ranker).run(query=query, documents=DOCUMENTS),
        "TextEmbedder text": lambda: text_embedder.run(text=query),
        "HybridRetriever: query": lambda: retriever.run(query=query),
    }
    for field, call in calls.items():
        with pytest.raises(ConfigurationError) as caught:
            call()
        message = str(caught.value)
        assert field in message and repr(query) in message and "non-empty string" in message, message


def test_20000_character_query_runs_on_opensearch_the_embedder_and_the_ranker(indexed, ranker, text_embedder):
    query = long_query()
    assert len(query) == 20_000 and len(query.split()) > 2 * MAX_QUERY_TERMS
    lexical = indexed["lexical"]
    # the limit is real: the integration's retriever sends the whole query and OpenSearch refuses it
    with pytest.raises(Exception, match="maxClauseCount"):
        IntegrationBM25Retriever(document_store=lexical, raise_on_failure=True).run(query=query)

    found = OpenSearchBM25Retriever(document_store=lexical, raise_on_failure=True).run(query=query, top_k=5)
    assert found["documents"], "the first 1,000 terms of the query match the blood pressure documents"
    fused = indexed["retriever"].run(query=query)
    assert fused["meta"]["lexical"]["status"] == fused["meta"]["dense"]["status"] == "ok"
    assert not fused["meta"]["degraded"] and fused["documents"]

    assert len(text_embedder.run(text=query)["embedding"]) == 384
    ranked = ranker.run(query=query, documents=DOCUMENTS, top_k=100)
    assert len(ranked["documents"]) == len(DOCUMENTS) and all(d.score is not None for d in ranked["documents"])


def test_long_query_is_cut_at_the_analysed_term_limit(indexed, caplog):
    retriever = OpenSearchBM25Retriever(document_store=indexed["lexical"], raise_on_failure=True)
    exact = " ".join(["pressure"] * MAX_QUERY_TERMS)  # exactly the limit: sent whole, no warning
    with caplog.at_level(logging.WARNING):
        retriever.run(query=exact)
    assert not [r for r in caplog.records if "BM25 searches its first" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        retriever.run(query=exact + " pressure")
    assert [r for r in caplog.records if f"BM25 searches its first {len(exact)} " in r.getMessage()]


# -- documents ------------------------------------------------------------------------------------------


def test_awkward_documents_through_the_ranker(ranker):
    out = ranker.run(query="blood pressure", documents=AWKWARD, top_k=100)
    ids = [d.id for d in out["documents"]]
    assert len(ids) == len(set(ids)) == len(AWKWARD) - 1, "a repeated id comes back once"
    scored = {d.id for d in out["documents"] if d.score is not None}
    assert scored == TEXT_IDS and ids[-2:] == ["no-content", "blank"], "documents without text come last"
    assert out["meta"]["duplicates"] == 1 and out["meta"]["unscored"] == 2
    by_id = {d.id: d for d in out["documents"]}
    assert by_id["dup"].content.startswith("Second copy"), "the copy with the higher first-stage score is kept"
    assert by_id["meta-none"].meta == {"retrieval_score": None}
    with pytest.raises(ConfigurationError, match="CrossEncoderRanker documents got str"):
        ranker.run(query="blood pressure", documents="not a list")


def test_awkward_documents_through_fusion_and_the_answerer(ranker):
    fused = ReciprocalRankFusion(legs=["a", "b"]).run(a=AWKWARD, b=list(reversed(AWKWARD)))["documents"]
    assert {d.id for d in fused} == {d.id for d in AWKWARD} and len(fused) == len(AWKWARD) - 1
    assert next(d for d in fused if d.id == "meta-none").meta["rrf"]["a"]["rank"] == 3
    with pytest.raises(ConfigurationError, match="input 'a' got Document"):
        ReciprocalRankFusion(legs=["a"]).run(a=AWKWARD[0])

    answerer = ExtractiveAnswerer(ranker=ranker, documents_to_read=10, min_sentence_chars=5, top_k=20)
    out = answerer.run(query="blood pressure", documents=AWKWARD)
    sources = [a.meta["source_id"] for a in out["answers"] if a.data is not None]
    assert set(sources) == TEXT_IDS and sources.count("dup") == 1, "each readable document read once"
    assert next(a for a in out["answers"] if a.meta.get("source_id") == "dup").data.startswith("First copy")


def test_awkward_documents_through_the_embedder_and_indexing(indexed, document_embedder):
    embedded = document_embedder.run(documents=AWKWARD)["documents"]
    assert [len(d.embedding) for d in embedded] == [384] * len(AWKWARD)
    assert embedded[2].meta == {}, "a meta of None is embedded as empty meta"

    report = indexed["report"]
    expected = len(DOCUMENTS) + len(AWKWARD) + 1
    assert (report.received, report.duplicates_dropped, report.empty_dropped) == (expected, 1, 2)
    assert report.lexical_count == report.vector_count == report.written == expected - 3
    stored = {d.id: d for d in indexed["lexical"].filter_documents()}
    assert stored["dup"].content.startswith("First copy")
    assert stored["meta-none"].meta.keys() == {"content_hash"}, "empty meta, plus the manifest's content hash"
    bm25 = OpenSearchBM25Retriever(document_store=indexed["lexical"], raise_on_failure=True)
    for query, doc_id in [("αρτηριακή πίεση", "greek"), ("血压", "cjk"), ("кровяное давление", "mixed")]:
        assert bm25.run(query=query, top_k=1)["documents"][0].id == doc_id, query


def test_one_megabyte_document_is_indexed_retrieved_and_reranked_whole(indexed, ranker):
    candidates = indexed["retriever"].run(query="zebrafish telomerase fin regeneration")["documents"]
    assert candidates[0].id == "one-megabyte" and len(candidates[0].content) == MEGABYTE
    assert candidates[0].meta["rrf"].keys() == {"lexical", "dense"}, "both legs found it"

    ranked = ranker.run(query="zebrafish telomerase fin regeneration", documents=candidates, top_k=len(candidates))
    huge = [d for d in ranked["documents"] if d.id == "one-megabyte"]
    assert len(huge) == 1 and isinstance(huge[0].score, float) and len(huge[0].content) == MEGABYTE
    assert len(ranked["documents"]) == len(candidates)

    answerer = ExtractiveAnswerer(ranker=ranker, documents_to_read=1, top_k=1)
    out = answerer.run(query="zebrafish telomerase", documents=[huge[0]])
    sentences = len(split_sentences(huge[0].content))
    assert out["meta"]["sentences_scored"] == MAX_SENTENCES_PER_DOCUMENT
    assert out["meta"]["sentences_not_read"] == sentences - MAX_SENTENCES_PER_DOCUMENT > 9_000
    assert out["answers"][-1].document.id == "one-megabyte"


# -- top_k ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top_k", [0, 3, 1000])
def test_top_k_zero_some_or_more_than_the_candidates(top_k, indexed, ranker):
    hybrid = indexed["retriever"].run(query="blood pressure", top_k=top_k)
    candidates = indexed["retriever"].run(query="blood pressure", top_k=1000)["documents"]
    assert 3 < len(candidates) <= 40  # both legs fetch 20
    expected = min(top_k, len(candidates))
    assert [d.id for d in hybrid["documents"]] == [d.id for d in candidates[:expected]]
    reranked = ranker.run(query="blood pressure", documents=candidates, top_k=top_k)["documents"]
    assert len(reranked) == expected
    fused = ReciprocalRankFusion(legs=["a"]).run(a=candidates, top_k=top_k)["documents"]
    assert len(fused) == expected


@pytest.mark.parametrize("top_k", [-1, 2.5, "5", True])
def test_invalid_top_k_is_refused_naming_it(top_k, indexed, ranker):
    calls = [
        lambda: indexed["retriever"].run(query="blood pressure", top_k=top_k),
        lambda: indexed["retriever"].run(query="blood pressure", lexical_top_k=top_k),
        lambda: ranker.run(query="blood pressure", documents=DOCUMENTS, top_k=top_k),
        lambda: ReciprocalRankFusion(legs=["a"]).run(a=DOCUMENTS, top_k=top_k),
        lambda: ExtractiveAnswerer(ranker=ranker, top_k=top_k),
    ]
    for call in calls:
        with pytest.raises(ConfigurationError, match=r"top_k.*" + repr(top_k).replace(".", r"\.")):
            call()


def test_index_documents_refuses_a_batch_size_below_one():
    with pytest.raises(ConfigurationError, match="batch_size got 0; it must be a positive integer"):
        index_documents(DOCUMENTS, embedder=None, lexical_store=None, vector_store=None, batch_size=0)


# -- corpus and query files -----------------------------------------------------------------------------

BAD_LINES = [
    ("{broken", "Expecting property name"),
    ('["a", "list"]', "not a JSON object"),
    (json.dumps({"text": "no id"}), "missing key(s) ['_id']"),
    (json.dumps({"_id": " ", "text": "blank id"}), "empty ['_id']"),
    (b"\xff\xfe not utf-8", "utf-8"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_malformed_corpus_line_is_refused_with_file_and_line_or_skipped_and_counted(tmp_path, line, reason):
    corpus = tmp_path / "corpus.jsonl"
    good = [json.dumps({"_id": "a", "text": "first"}), "", json.dumps({"_id": "b", "text": "last"})]
    bad = line if isinstance(line, bytes) else line.encode()
    corpus.write_bytes(b"\n".join([good[0].encode(), good[1].encode(), bad, good[2].encode()]) + b"\n")
    with pytest.raises(ConfigurationError) as caught:
        beir.load_corpus(corpus)
    message = str(caught.value)
    assert f"{corpus}:3: malformed line" in message and reason in message and "--on-bad-line skip" in message
    skipped: list[int] = []
    documents = beir.load_corpus(corpus, on_bad_line="skip", skipped_lines=skipped)
    assert [d.id for d in documents] == ["a", "b"] and skipped == [3]


def test_query_lines_without_text_are_bad_lines_and_the_policy_is_checked(tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join([json.dumps({"_id": "1", "text": "ok?"}), json.dumps({"_id": "2", "text": "  "})]) + "\n"
    )
    with pytest.raises(ConfigurationError, match=r"queries.jsonl:2: malformed line \(empty \['text'\]\)"):
        beir.load_queries(queries)
    skipped: list[int] = []
    assert beir.load_queries(queries, on_bad_line="skip", skipped_lines=skipped) == {"1": "ok?"} and skipped == [2]
    with pytest.raises(ConfigurationError, match="on_bad_line got 'ignore'; use 'error'"):
        beir.load_queries(queries, on_bad_line="ignore")


@pytest.fixture
def corpus_with_bad_lines(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": d.id, "title": d.meta["title"], "text": d.content}) for d in DOCUMENTS]
    lines[1:1] = ["{broken"]
    lines[4:4] = [json.dumps({"title": "no id"})]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return corpus


def test_cli_index_stops_at_a_bad_line_by_default(tmp_path, corpus_with_bad_lines):
    result = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", "index", "--corpus", str(corpus_with_bad_lines)]
        + ["--lexical", "memory", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert f"error: {corpus_with_bad_lines}:2: malformed line" in result.stderr
    assert "--on-bad-line skip" in result.stderr
    assert not (tmp_path / "data").exists(), "nothing was written"


def test_cli_index_skips_and_reports_bad_lines(tmp_path, corpus_with_bad_lines):
    data = tmp_path / "data"
    args = ["index", "--corpus", str(corpus_with_bad_lines), "--lexical", "memory", "--data-dir", str(data)]
    result = CliRunner().invoke(app, [*args, "--qdrant-path", str(data / "q"), "--on-bad-line", "skip", "--json"])
    QdrantStore.close_embedded(str(data / "q"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["skipped_lines"] == 2 and summary["written"] == summary["lexical_count"] == len(DOCUMENTS)
    wrong = CliRunner().invoke(app, [*args, "--on-bad-line", "ignore"])
    assert wrong.exit_code == 2 and "'ignore'" in wrong.output and "--on-bad-line" in wrong.output


# -- YAML -----------------------------------------------------------------------------------------------

RANKER = "haystack_rerank.components.rankers.cross_encoder.CrossEncoderRanker"
CACHE = "haystack_rerank.cache.memory.MemoryRerankCache"
STORE = "haystack_rerank.document_stores.opensearch.OpenSearchStore"
LEXICAL = "haystack_rerank.components.retrievers.integrations.OpenSearchBM25Retriever"
EMBEDDER = "haystack_rerank.components.embedders.sentence_transformers.TextEmbedder"


@pytest.mark.parametrize("replaced", [RANKER, CACHE, STORE, LEXICAL, EMBEDDER])
def test_yaml_with_a_type_outside_the_allowlist_is_refused_naming_its_module(replaced):
    text = (pipelines.PIPELINES_DIR / "hybrid_rerank.yaml").read_text(encoding="utf-8")
    assert replaced in text
    with pytest.raises(DeserializationError, match="module 'subprocess': the module is not on the trusted-module"):
        Pipeline.loads(text.replace(replaced, "subprocess.Popen"))


@pytest.mark.parametrize(("replaced", "error"), [(RANKER, PipelineError), (CACHE, DeserializationError)])
def test_yaml_with_an_unknown_type_is_refused_naming_it(replaced, error):
    text = (pipelines.PIPELINES_DIR / "hybrid_rerank.yaml").read_text(encoding="utf-8")
    unknown = replaced.rsplit(".", 1)[0] + ".NoSuchThing"
    with pytest.raises(error, match="NoSuchThing"):
        Pipeline.loads(text.replace(replaced, unknown))


# -- environment variables and secrets ------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: nothing listens there


def test_missing_secret_variables_are_named(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rag = Pipeline.loads((pipelines.PIPELINES_DIR / "rag.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        rag.get_component("llm").warm_up()

    monkeypatch.delenv("HRR_TEST_REDIS_URL", raising=False)
    cache = RedisRerankCache(url=Secret.from_env_var("HRR_TEST_REDIS_URL"))
    with pytest.raises(ValueError, match="HRR_TEST_REDIS_URL"):
        cache.get_many(["key"])

    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    store = QdrantStore(url=f"http://127.0.0.1:{closed_port()}", api_key=Secret.from_env_var("QDRANT_API_KEY"))
    with pytest.raises(ValueError, match="QDRANT_API_KEY"):
        store.count_documents()


def test_unset_host_variables_fall_back_to_loopback_and_unreachable_hosts_name_their_variable(monkeypatch):
    for name in ("OPENSEARCH_HOSTS", "QDRANT_URL"):
        monkeypatch.delenv(name, raising=False)
    assert OpenSearchStore()._hosts == ["http://127.0.0.1:9200"]
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("OPENSEARCH_HOSTS", url)
    with pytest.raises(ServiceUnavailableError) as caught:
        OpenSearchStore(index="nowhere", max_retries=0).count_documents()
    assert "OPENSEARCH_HOSTS" in str(caught.value) and url in str(caught.value)


CANARIES = {
    "OPENAI_API_KEY": "sk-canary-openai-7f3a91",
    "QDRANT_API_KEY": "canary-qdrant-5be02c",
    "OPENSEARCH_PASSWORD": "canary-opensearch-d41e77",
    "HF_TOKEN": "hf_canarytoken9c2d",
}
REDIS_PASSWORD = "canary-redis-a8812f"


def assert_no_canary(text: str, where: str) -> None:
    for secret in [*CANARIES.values(), REDIS_PASSWORD]:
        assert secret not in text, f"{secret} leaked into {where}"


def test_secrets_stay_out_of_yaml_logs_and_errors(monkeypatch, caplog, redis_server, tiny_cross_encoder):  # noqa: F811
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENSEARCH_USERNAME", "admin")
    # every service unreachable, except a real redis-server that refuses the password
    redis_server.client().config_set("requirepass", "the-real-password")
    monkeypatch.setenv("OPENSEARCH_HOSTS", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("QDRANT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    monkeypatch.setenv("REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_server.port}/0")

    pipeline = pipelines.rag(reranker_model=tiny_cross_encoder)
    ranker = pipeline.get_component("ranker")
    ranker.cache = RedisRerankCache()  # url: Secret.from_env_var("REDIS_URL")
    dumped = pipeline.dumps()
    assert "OPENAI_API_KEY" in dumped and "REDIS_URL" in dumped and "QDRANT_API_KEY" in dumped
    assert_no_canary(dumped, "Pipeline.dumps()")

    errors = []
    query = "blood pressure"
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(Exception) as caught:
            pipeline.get_component("retriever").run(query=query)
        errors.append(caught.value)
        ranked = ranker.run(query=query, documents=DOCUMENTS)
        assert ranked["meta"]["cache_bypassed"] >= 1, "redis refused the password: the cache was bypassed"
        assert all(d.score is not None for d in ranked["documents"])
        with pytest.raises(Exception) as caught:
            redis_cache = RedisRerankCache()
            redis_cache.get_many(["key"])
        errors.append(caught.value)
        llm = pipeline.get_component("llm")
        llm.warm_up()
        with pytest.raises(Exception) as caught:
            llm.run(messages=pipeline.get_component("prompt_builder").run(query=query, documents=[])["prompt"])
        errors.append(caught.value)

    for error in errors:
        chain, cause = [], error
        while cause is not None:
            chain.append(f"{type(cause).__name__}: {cause!r} {cause}")
            cause = cause.__cause__ or cause.__context__
        assert_no_canary("\n".join(chain), f"the error {type(error).__name__}")
    formatter = logging.Formatter("%(message)s %(exc_text)s")
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "WRONGPASS" in logged or "invalid username-password" in logged, "the redis refusal was logged"
    assert_no_canary(logged, "the log records")
