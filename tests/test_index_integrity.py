"""
Index integrity (issue 17): the two stores always agree with the corpus, and nothing is silently wrong.
Real services: the OpenSearch node, embedded Qdrant, the local bi-encoder and a tiny cross-encoder; the
command line runs in-process (typer's CliRunner), so a failure is the exception itself.
"""

from __future__ import annotations

import json
import random

import pytest
from corpus_small import DOCUMENTS
from fixtures_models import WORDS, tiny_cross_encoder  # noqa: F401
from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from typer.testing import CliRunner

from haystack_rerank import build
from haystack_rerank.cli import app
from haystack_rerank.config import Settings
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore
from haystack_rerank.errors import ConfigurationError, MissingIndexError
from haystack_rerank.indexing import save_lexical_store


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def ok(*args: str) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return json.loads(result.stdout[result.stdout.index("{") :])


def write_corpus(path, documents):
    lines = [json.dumps({"_id": d.id, "title": d.meta.get("title", ""), "text": d.content}) for d in documents]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_queries(path, queries: dict[str, str]):
    path.write_text("\n".join(json.dumps({"_id": q, "text": t}) for q, t in queries.items()) + "\n", encoding="utf-8")
    return path


def synthetic(n: int, seed: int = 1, prefix: str = "s") -> list[Document]:
    rng = random.Random(seed)
    return [
        Document(id=f"{prefix}{i}", content=" ".join(rng.choices(WORDS, k=25)) + ".", meta={"title": f"T {i}"})
        for i in range(n)
    ]


@pytest.fixture
def embedded(tmp_path, unique_name):
    """Options for `--lexical memory` on embedded Qdrant in a fresh folder."""
    return ["--lexical", "memory", "--data-dir", str(tmp_path / "data"), "--index", unique_name,
            "--collection", unique_name]  # fmt: skip


@pytest.fixture
def on_node(tmp_path, unique_name, opensearch_hosts):
    """Options for OpenSearch + embedded Qdrant; the index is deleted afterwards."""
    yield ["--opensearch-hosts", opensearch_hosts, "--index", unique_name, "--collection", unique_name,
           "--data-dir", str(tmp_path / "data")]  # fmt: skip
    OpenSearchStore(hosts=opensearch_hosts, index=unique_name).delete_index()


# -- 1. a failed save never truncates the BM25 store; a corrupt one is named with the fix -----------------------


class DiskFullStore(InMemoryDocumentStore):
    """Writes half of its JSON, then fails like a full disk."""

    def save_to_disk(self, path: str) -> None:
        with open(path, "w") as handle:
            handle.write('{"documents": [')
        raise OSError(28, "No space left on device")


def test_failed_save_keeps_the_previous_bm25_store(tmp_path):
    path = tmp_path / "bm25-x.json"
    good = InMemoryDocumentStore()
    good.write_documents(DOCUMENTS)
    save_lexical_store(good, path)
    failing = DiskFullStore()
    failing.write_documents(DOCUMENTS[:2])
    with pytest.raises(OSError, match="No space left"):
        save_lexical_store(failing, path)
    settings = Settings(lexical="memory", data_dir=tmp_path, index="x")
    assert build.lexical_store(settings).count_documents() == len(DOCUMENTS)
    assert [p.name for p in tmp_path.iterdir()] == ["bm25-x.json"]  # no temporary file left behind


def test_corrupt_bm25_store_is_named_with_the_fix(tmp_path):
    (tmp_path / "bm25-x.json").write_text('{"documents": [{"id": "a", "cont', encoding="utf-8")
    settings = Settings(lexical="memory", data_dir=tmp_path, index="x")
    with pytest.raises(ConfigurationError, match=r"bm25-x.json is corrupt .*Delete it and run `haystack-rerank index`"):
        build.lexical_store(settings)


# -- 2. a missing or empty index or collection is an error naming it, and nothing is created --------------------


def test_run_on_a_misspelt_index_fails_and_creates_nothing(tmp_path, on_node, unique_name, opensearch_hosts):
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "blood pressure"})
    output = tmp_path / "run.trec"
    result = invoke("run", "--queries", str(queries), "--output", str(output), *on_node)
    assert isinstance(result.exception, MissingIndexError), result.output
    assert f"OpenSearch index {unique_name!r}" in str(result.exception) and "does not exist" in str(result.exception)
    assert not output.exists()
    store = OpenSearchStore(hosts=opensearch_hosts, index=unique_name)
    store._ensure_initialized()
    assert not store._client.indices.exists(index=unique_name)
    assert not (tmp_path / "data" / "qdrant").exists()


def test_run_on_a_misspelt_collection_fails_and_creates_nothing(tmp_path, on_node, unique_name):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *on_node)
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "blood pressure"})
    misspelt = [*on_node[:-3], "typo_" + unique_name, *on_node[-2:]]
    assert misspelt[misspelt.index("--collection") + 1] == "typo_" + unique_name
    result = invoke("run", "--queries", str(queries), "--output", str(tmp_path / "r.trec"), *misspelt)
    assert isinstance(result.exception, MissingIndexError), result.output
    assert f"collection 'typo_{unique_name}'" in str(result.exception)
    vectors = QdrantStore(path=str(tmp_path / "data" / "qdrant"), index="typo_" + unique_name)
    with pytest.raises(MissingIndexError):  # still missing: the failed run did not create it
        vectors.count_documents()


def test_run_after_the_index_was_deleted_fails_instead_of_answering_dense_only(
    tmp_path, on_node, unique_name, opensearch_hosts
):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *on_node)
    OpenSearchStore(hosts=opensearch_hosts, index=unique_name).delete_index()
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "blood pressure"})
    result = invoke("run", "--queries", str(queries), "--output", str(tmp_path / "r.trec"), "--stage", "hybrid",
                    *on_node)  # fmt: skip
    assert isinstance(result.exception, MissingIndexError), result.output
    assert unique_name in str(result.exception)


def test_memory_lexical_with_a_forgotten_index_fails(tmp_path, embedded):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *embedded)
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "blood pressure"})
    without_index = [a for i, a in enumerate(embedded) if a != "--index" and embedded[i - 1] != "--index"]
    result = invoke("run", "--queries", str(queries), "--output", str(tmp_path / "r.trec"), *without_index)
    assert isinstance(result.exception, MissingIndexError), result.output
    assert "bm25-haystack_rerank.json does not exist" in str(result.exception)


def test_an_empty_index_is_a_failed_leg_not_zero_hits(opensearch_store, text_embedder, tmp_path, unique_name):
    from haystack_rerank.components.retrievers import HybridRetriever, OpenSearchBM25Retriever, QdrantEmbeddingRetriever

    opensearch_store.write_documents([Document(id="x", content="blood pressure")])
    opensearch_store.delete_documents(["x"])  # the index exists and is empty
    vectors = QdrantStore(path=str(tmp_path / "qdrant"), index=unique_name)
    vectors.write_documents(
        [Document(id="x", content="blood pressure", embedding=text_embedder.run(text="blood pressure")["embedding"])]
    )
    retriever = HybridRetriever(
        lexical_retriever=OpenSearchBM25Retriever(document_store=opensearch_store),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        on_leg_failure="degrade",
    )
    meta = retriever.run(query="blood pressure")["meta"]
    assert meta["lexical"]["status"] == "failed" and meta["degraded"] is True
    assert f"index {opensearch_store._index!r}" in meta["lexical"]["error"] and "is empty" in meta["lexical"]["error"]


# -- 3. eval reuses an index only when it holds exactly the corpus -----------------------------------------------


def test_eval_reindexes_a_same_size_index_of_other_documents(tmp_path, on_node):
    other = write_corpus(tmp_path / "other.jsonl", synthetic(len(DOCUMENTS)))
    ok("index", "--corpus", str(other), *on_node)
    dataset = tmp_path / "dataset"
    (dataset / "qrels").mkdir(parents=True)
    write_corpus(dataset / "corpus.jsonl", DOCUMENTS)
    write_queries(dataset / "queries.jsonl", {"q1": "firmware checksum error XQ7", "q2": "how long do cats sleep"})
    (dataset / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tcode-xq7\t1\nq2\tcats\t1\n")
    summary = ok("eval", "--dataset", str(dataset), "--stages", "bm25", "--output-dir", str(tmp_path / "out"),
                 *on_node)  # fmt: skip
    assert summary["stages"]["bm25"]["ndcg@10"] == 1.0
    again = invoke("eval", "--dataset", str(dataset), "--stages", "bm25", "--output-dir", str(tmp_path / "o2"),
                   *on_node)  # fmt: skip
    assert again.exit_code == 0 and "already hold exactly the 6 documents" in again.output


# -- 4. documents removed from the corpus leave both stores (or are kept on request, and counted) -------------


def test_reindexing_a_smaller_corpus_removes_what_it_no_longer_holds(tmp_path, on_node, opensearch_hosts):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *on_node)
    write_corpus(corpus, [d for d in DOCUMENTS if d.id != "code-xq7"])
    kept = ok("index", "--corpus", str(corpus), "--keep-removed", *on_node)
    assert (kept["kept_removed"], kept["removed"], kept["written"]) == (1, 0, 0)
    assert kept["lexical_count"] == kept["vector_count"] == len(DOCUMENTS)
    summary = ok("index", "--corpus", str(corpus), *on_node)
    assert (summary["removed"], summary["written"], summary["unchanged"]) == (1, 0, len(DOCUMENTS) - 1)
    assert summary["lexical_count"] == summary["vector_count"] == len(DOCUMENTS) - 1
    queries = write_queries(tmp_path / "q.jsonl", {"q1": "Firmware errors XQ7-221 widget firmware checksum"})
    for stage in ("bm25", "dense"):
        out = tmp_path / f"{stage}.trec"
        result = invoke("run", "--queries", str(queries), "--output", str(out), "--stage", stage, *on_node)
        assert result.exit_code == 0, result.exception
        assert "code-xq7" not in out.read_text()


def test_an_edited_document_is_rewritten_in_both_stores(tmp_path, embedded):
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCUMENTS)
    ok("index", "--corpus", str(corpus), *embedded)
    edited = [
        Document(id=d.id, content=d.content + " Edited.", meta=d.meta) if d.id == "cats" else d for d in DOCUMENTS
    ]
    write_corpus(corpus, edited)
    summary = ok("index", "--corpus", str(corpus), *embedded)
    assert (summary["written"], summary["unchanged"], summary["removed"]) == (1, len(DOCUMENTS) - 1, 0)


# -- 5. --rerank-depth candidates are reranked whatever --top-k is ------------------------------------------------


def test_rerank_reads_rerank_depth_candidates_whatever_top_k(tmp_path, embedded, tiny_cross_encoder):  # noqa: F811
    corpus = write_corpus(tmp_path / "corpus.jsonl", synthetic(40, seed=5))
    ok("index", "--corpus", str(corpus), *embedded)
    queries = write_queries(
        tmp_path / "q.jsonl", {f"q{i}": " ".join(random.Random(i).choices(WORDS, k=4)) for i in range(6)}
    )
    runs = {}
    for top_k in ("3", "20"):
        out = tmp_path / f"top{top_k}.trec"
        result = invoke("run", "--queries", str(queries), "--output", str(out), "--stage", "rerank", "--top-k", top_k,
                        "--rerank-depth", "20", "--reranker-model", tiny_cross_encoder, *embedded)  # fmt: skip
        assert result.exit_code == 0, result.exception
        runs[top_k] = {}
        for line in out.read_text().splitlines():
            qid, _, doc_id, *_ = line.split()
            runs[top_k].setdefault(qid, []).append(doc_id)
    assert {q: ids[:3] for q, ids in runs["20"].items()} == runs["3"]


def test_a_run_file_cut_short_by_a_file_size_limit_leaves_the_previous_run(tmp_path):
    """A real short write: the child process may not write files over 4 kB (RLIMIT_FSIZE), like a full disk."""
    import subprocess
    import sys

    run_file = tmp_path / "run.trec"
    run_file.write_text("q1 Q0 d1 1 1.000000 previous\n")
    child = (
        "import resource, signal, sys\n"
        "from haystack_rerank import beir\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "beir.write_trec_run(sys.argv[1], {f'q{i}': [(f'd{j}', 1.0) for j in range(100)] for i in range(50)}, 't')\n"
    )
    result = subprocess.run([sys.executable, "-c", child, str(run_file)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "File too large" in result.stderr
    assert run_file.read_text() == "q1 Q0 d1 1 1.000000 previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.trec"]


def test_a_model_folder_is_replaced_whole_or_not_at_all(tmp_path):
    from haystack_rerank.atomic import atomic_folder

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(folder) as staging:
        (staging / "config.json").write_text("new")
        raise RuntimeError("killed while saving the weights")
    assert (folder / "config.json").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model"]
    with atomic_folder(folder) as staging:
        (staging / "config.json").write_text("new")
    assert (folder / "config.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_the_manifest_records_the_embedding_model_and_dimension(tmp_path, document_embedder, unique_name):
    from haystack_rerank.indexing import index_documents

    lexical, vectors = InMemoryDocumentStore(), QdrantStore(path=str(tmp_path / "q"), index=unique_name)
    common = {"embedder": document_embedder, "lexical_store": lexical, "vector_store": vectors, "progress_bar": False}
    first = index_documents(DOCUMENTS, embedding_model="model-a", embedding_dim=384, **common)
    again = index_documents(DOCUMENTS, embedding_model="model-a", embedding_dim=384, **common)
    other = index_documents(DOCUMENTS, embedding_model="model-b", embedding_dim=384, **common)
    assert (first.written, again.written, again.unchanged, other.written) == (6, 0, 6, 6)
    assert {d.meta["embedding_model"] for d in vectors.filter_documents()} == {"model-b"}
    smaller = QdrantStore(path=str(tmp_path / "q"), index=unique_name, embedding_dim=8)
    with pytest.raises(ConfigurationError, match=rf"collection '{unique_name}' does not fit.*vector size '384'"):
        index_documents(DOCUMENTS, embedding_model="model-b", embedding_dim=8, **{**common, "vector_store": smaller})


def test_ask_on_a_store_that_was_never_indexed_fails_naming_it(tmp_path):
    result = invoke("ask", "what lowers blood pressure?", "--lexical", "memory", "--data-dir", str(tmp_path / "d"))
    assert isinstance(result.exception, MissingIndexError), result.output
    assert "bm25-haystack_rerank.json does not exist" in str(result.exception)
    assert not (tmp_path / "d" / "qdrant").exists()


def test_an_empty_in_process_bm25_store_is_a_failed_leg(tmp_path, text_embedder, unique_name):
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever

    from haystack_rerank.components.retrievers import HybridRetriever, QdrantEmbeddingRetriever

    vectors = QdrantStore(path=str(tmp_path / "qdrant"), index=unique_name)
    vectors.write_documents(
        [Document(id="x", content="blood pressure", embedding=text_embedder.run(text="blood pressure")["embedding"])]
    )
    retriever = HybridRetriever(
        lexical_retriever=InMemoryBM25Retriever(document_store=InMemoryDocumentStore()),
        text_embedder=text_embedder,
        embedding_retriever=QdrantEmbeddingRetriever(document_store=vectors),
        on_leg_failure="degrade",
    )
    meta = retriever.run(query="blood pressure")["meta"]
    assert (
        meta["lexical"]["status"] == "failed" and "InMemoryDocumentStore holds no document" in meta["lexical"]["error"]
    )
