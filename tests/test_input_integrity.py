"""
Input that would leave the stores out of step or a result silently wrong (issue 17, cases 6-11): each gets a
`file:line` (or file) error that `--on-bad-line skip` can skip and count, or is handled as README's
"Input rules" table says. Real services: the OpenSearch node, embedded Qdrant, the local bi-encoder.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from corpus_small import DOCUMENTS
from haystack import Document, Pipeline
from test_index_integrity import invoke, ok, write_corpus, write_queries

from haystack_rerank import beir, pipelines
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.errors import ConfigurationError, MissingIndexError, ServiceUnavailableError
from haystack_rerank.indexing import index_documents


@pytest.fixture
def on_node(tmp_path, unique_name, opensearch_hosts):
    yield ["--opensearch-hosts", opensearch_hosts, "--index", unique_name, "--collection", unique_name,
           "--data-dir", str(tmp_path / "data")]  # fmt: skip
    OpenSearchStore(hosts=opensearch_hosts, index=unique_name).delete_index()


def causes(err: BaseException) -> list[BaseException]:
    chain = []
    while err is not None and err not in chain:
        chain.append(err)
        err = err.__cause__ or err.__context__
    return chain


# -- 6. ids with whitespace never break a TREC run ---------------------------------------------------------------


def test_folder_ids_with_whitespace_keep_trec_runs_valid(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "my notes.md").write_text("# Zebrafish\nZebrafish regenerate their fins.", encoding="utf-8")
    (folder / "two  spaces.txt").write_text("Volcanoes\nBasaltic lava from shield volcanoes.", encoding="utf-8")
    (folder / "100%.txt").write_text("Percent\nA file with a percent sign.", encoding="utf-8")
    data = ["--lexical", "memory", "--data-dir", str(tmp_path / "data"), "--index", "notes", "--collection", "notes"]
    ok("index", "--corpus", str(folder), *data)
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "zebrafish fins", "q2": "basaltic lava volcanoes"})
    run_file = tmp_path / "run.trec"
    result = invoke("run", "--queries", str(queries), "--output", str(run_file), "--stage", "bm25", *data)
    assert result.exit_code == 0, result.exception
    assert all(len(line.split()) == 6 for line in run_file.read_text().splitlines())
    assert "my%20notes.md" in run_file.read_text() and "two%20%20spaces.txt" in run_file.read_text()
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tmy%20notes.md\t1\nq2\ttwo%20%20spaces.txt\t1\n")
    scores = json.loads(invoke("score", "--qrels", str(qrels), str(run_file), "--json").stdout)
    assert scores[str(run_file)]["ndcg@10"] == 1.0


def test_jsonl_ids_with_whitespace_are_refused_with_file_and_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps(r) for r in [{"_id": "ok", "text": "a"}, {"_id": "my doc", "text": "b"}]) + "\n"
    )
    with pytest.raises(ConfigurationError, match=r"corpus.jsonl:2: .*'my doc' holds whitespace.*TREC"):
        beir.load_corpus(corpus)
    skipped: list = []
    assert [d.id for d in beir.load_corpus(corpus, on_bad_line="skip", skipped_lines=skipped)] == ["ok"]
    assert skipped == [2]


def test_a_run_line_with_extra_columns_is_refused_not_misread(tmp_path):
    run_file = tmp_path / "run.trec"
    run_file.write_text("q1 Q0 my notes.md 1 2.0 tag\n")
    with pytest.raises(ConfigurationError, match=r"run.trec:1: malformed TREC run line \(7 columns"):
        beir.read_trec_run(run_file)


# -- 7. async indexing shares the process's embedded Qdrant and reports OpenSearch down clearly ---------------


def test_async_indexing_then_query_in_the_same_process(tmp_path, unique_name, opensearch_hosts, monkeypatch):
    monkeypatch.setenv("OPENSEARCH_HOSTS", opensearch_hosts)
    monkeypatch.setenv("OPENSEARCH_INDEX", unique_name)
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "qdrant"))
    monkeypatch.setenv("QDRANT_COLLECTION", unique_name)
    try:
        indexing = Pipeline.loads(pipelines.pipeline_yaml("indexing"))
        written = asyncio.run(indexing.run_async({"embedder": {"documents": DOCUMENTS}}))
        assert written["qdrant_writer"]["documents_written"] == len(DOCUMENTS)
        hybrid = Pipeline.loads(pipelines.pipeline_yaml("hybrid"))
        result = hybrid.run({"retriever": {"query": "firmware checksum error"}})["retriever"]
        assert result["meta"]["degraded"] is False, result["meta"]
        assert result["meta"]["dense"]["count"] == len(DOCUMENTS)
    finally:
        OpenSearchStore(hosts=opensearch_hosts, index=unique_name).delete_index()


def test_async_indexing_with_opensearch_down_names_the_host(tmp_path, unique_name, monkeypatch):
    monkeypatch.setenv("OPENSEARCH_HOSTS", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("OPENSEARCH_MAX_RETRIES", "0")
    monkeypatch.setenv("OPENSEARCH_INDEX", unique_name)
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "qdrant"))
    monkeypatch.setenv("QDRANT_COLLECTION", unique_name)
    indexing = Pipeline.loads(pipelines.pipeline_yaml("indexing"))
    with pytest.raises(Exception) as raised:  # noqa: PT011 - Haystack wraps it; the cause is checked below
        asyncio.run(indexing.run_async({"embedder": {"documents": DOCUMENTS[:2]}}))
    clear = [e for e in causes(raised.value) if isinstance(e, ServiceUnavailableError)]
    assert clear and "OpenSearch at http://127.0.0.1:9 did not answer" in str(clear[0])


# -- 8. a document one store would refuse is refused before either is written --------------------------------


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"_id": "x" * 600, "text": "long id"}, "600 bytes long; OpenSearch ids are at most 512 bytes"),
        ({"_id": "t", "title": {"a": 1}, "text": "object title"}, "title must be a string, got an object"),
    ],
)
def test_what_one_store_refuses_is_written_to_neither(tmp_path, on_node, unique_name, record, reason):
    corpus = tmp_path / "corpus.jsonl"
    good = [json.dumps({"_id": d.id, "text": d.content}) for d in DOCUMENTS]
    corpus.write_text("\n".join([*good[:3], json.dumps(record), *good[3:]]) + "\n", encoding="utf-8")
    result = invoke("index", "--corpus", str(corpus), *on_node)
    assert isinstance(result.exception, ConfigurationError), result.output
    assert "corpus.jsonl:4: malformed line (" in str(result.exception) and reason in str(result.exception)
    vectors = QdrantStore(path=str(tmp_path / "data" / "qdrant"), index=unique_name)
    with pytest.raises(MissingIndexError):  # nothing written, not even the valid lines before it
        vectors.count_documents()
    summary = ok("index", "--corpus", str(corpus), "--on-bad-line", "skip", *on_node)
    assert summary["skipped_lines"] == 1
    assert summary["lexical_count"] == summary["vector_count"] == len(DOCUMENTS)


def test_meta_that_conflicts_with_the_opensearch_mapping_is_refused_before_writing(
    opensearch_store, document_embedder, unique_name
):
    vectors = QdrantStore(location=":memory:", index=unique_name)
    first = [Document(id="a", content="blood pressure", meta={"year": 2020})]
    index_documents(first, embedder=document_embedder, lexical_store=opensearch_store, vector_store=vectors,
                    progress_bar=False)  # fmt: skip
    clashing = [*first, Document(id="b", content="salt intake", meta={"year": "twenty twenty"})]
    with pytest.raises(ConfigurationError, match=r"id 'b'.*meta\['year'\].*maps it as long"):
        index_documents(clashing, embedder=document_embedder, lexical_store=opensearch_store, vector_store=vectors,
                        progress_bar=False)  # fmt: skip
    assert opensearch_store.count_documents() == vectors.count_documents() == 1


# -- 9. depths beyond what the index holds, and index names OpenSearch refuses ----------------------------------


def test_top_k_above_the_result_window_is_capped(tmp_path, on_node):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *on_node)
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "blood pressure"})
    for stage in ("bm25", "hybrid"):
        out = tmp_path / f"{stage}.trec"
        result = invoke("run", "--queries", str(queries), "--output", str(out), "--stage", stage,
                        "--top-k", "20000", "--depth", "20000", *on_node)  # fmt: skip
        assert result.exit_code == 0, result.exception
        assert 0 < len(out.read_text().splitlines()) <= len(DOCUMENTS)


def test_bm25_retriever_with_top_k_above_the_result_window(opensearch_store):
    from haystack_rerank.components.retrievers import OpenSearchBM25Retriever

    opensearch_store.write_documents(DOCUMENTS)
    found = OpenSearchBM25Retriever(document_store=opensearch_store).run(query="blood pressure", top_k=50_000)
    assert found["documents"]


def test_upper_case_index_name_is_refused_with_the_rule(tmp_path, opensearch_hosts):
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "blood pressure"})
    result = invoke("run", "--queries", str(queries), "--output", str(tmp_path / "r.trec"),
                    "--opensearch-hosts", opensearch_hosts, "--index", "MyIndex")  # fmt: skip
    assert isinstance(result.exception, ConfigurationError), result.output
    assert "'MyIndex' has upper-case letters" in str(result.exception) and "'myindex'" in str(result.exception)
    assert "service is running" not in str(result.exception)


# -- 10. values that pass the line check but are wrong -----------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"_id": "a", "text": 42}, "text must be a string, got a number 42"),
        ({"_id": "a", "text": ["x", "y"]}, "text must be a string, got a list"),
        ({"_id": None, "text": "no id"}, "_id must be a string (or an integer), got null"),
        ({"_id": True, "text": "bool id"}, "_id must be a string (or an integer), got a boolean"),
    ],
)
def test_corpus_values_of_the_wrong_type(tmp_path, record, reason):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "ok", "text": "fine"}) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(ConfigurationError, match=r"corpus.jsonl:2: malformed line") as raised:
        beir.load_corpus(corpus)
    assert reason in str(raised.value)
    skipped: list = []
    assert [d.id for d in beir.load_corpus(corpus, on_bad_line="skip", skipped_lines=skipped)] == ["ok"]
    assert skipped == [2]


def test_two_null_ids_are_not_indexed_as_none(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": None, "text": t}) for t in ("one", "two")) + "\n")
    skipped: list = []
    assert beir.load_corpus(corpus, on_bad_line="skip", skipped_lines=skipped) == [] and skipped == [1, 2]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([{"_id": "q1", "text": None}], "text must be a string, got null"),
        ([{"_id": "q1", "text": 7}], "text must be a string, got a number"),
        ([{"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}], "query id 'q1' repeats the one of line 1"),
    ],
)
def test_queries_with_null_text_or_a_repeated_id(tmp_path, lines, reason):
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(ConfigurationError, match=rf"queries.jsonl:{len(lines)}: malformed line") as raised:
        beir.load_queries(queries)
    assert reason in str(raised.value)
    skipped: list = []
    assert len(beir.load_queries(queries, on_bad_line="skip", skipped_lines=skipped)) == len(lines) - 1
    assert skipped == [len(lines)]


def test_null_query_text_through_run_bm25_names_the_line(tmp_path, on_node):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *on_node)
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"_id": "q1", "text": "salt"}) + "\n" + json.dumps({"_id": "q2", "text": None}))
    args = ["run", "--queries", str(queries), "--output", str(tmp_path / "r.trec"), "--stage", "bm25", *on_node]
    result = invoke(*args)
    assert isinstance(result.exception, ConfigurationError) and "q.jsonl:2: malformed line" in str(result.exception)
    summary = ok(*args, "--on-bad-line", "skip")
    assert (summary["queries"], summary["skipped_lines"]) == (1, 1)


def test_a_non_utf8_file_in_a_folder_corpus_is_named(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.txt").write_text("Good\nText.", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(ConfigurationError, match=r"latin1.txt: not UTF-8 text.*--on-bad-line skip"):
        beir.load_corpus(folder)
    skipped: list = []
    assert [d.id for d in beir.load_corpus(folder, on_bad_line="skip", skipped_lines=skipped)] == ["good.txt"]
    assert len(skipped) == 1 and skipped[0].endswith("latin1.txt")


# -- 11. a malformed pipeline file; QDRANT_URL at a server that is not Qdrant ---------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("- a\n- b\n", "is a list, not a mapping"),
        ("components: {}\ninputs: 5\n", "declares no `inputs: query:` targets"),
        ("components: {}\ninputs:\n  query: 5\n", "`inputs: query:` got 5;"),
        ("components: {}\ninputs:\n  query: retriever\n", "`inputs: query:` got ['retriever']"),
        ("components: {}\ninputs:\n  query: retriever.query\n", "names 'retriever', which is not a component"),
        ("components: [\n", "is not valid YAML"),
    ],
)
def test_ask_with_a_malformed_pipeline_file_names_it(tmp_path, text, reason):
    path = tmp_path / "pipe.yaml"
    path.write_text(text, encoding="utf-8")
    result = invoke("ask", "what lowers blood pressure?", "--pipeline", str(path))
    assert isinstance(result.exception, ConfigurationError), repr(result.exception)
    assert str(result.exception).startswith(f"--pipeline {path}: ") and reason in str(result.exception)


def test_qdrant_url_at_a_server_that_is_not_qdrant(opensearch_hosts):
    store = QdrantStore(url=opensearch_hosts, index="x")  # a real HTTP server that is not Qdrant
    with pytest.raises(ConfigurationError, match=rf"QDRANT_URL={opensearch_hosts} answered, but not as a Qdrant"):
        store.count_documents()
