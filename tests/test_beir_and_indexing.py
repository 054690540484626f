import json

import pytest
from corpus_small import DOCUMENTS
from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from haystack_rerank import beir
from haystack_rerank.errors import ConfigurationError, IndexConsistencyError
from haystack_rerank.indexing import deduplicate, index_documents, save_lexical_store
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, resolve_model


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestBeir:
    def test_corpus_ids_titles_and_text(self, tmp_path):
        corpus = write_lines(
            tmp_path / "corpus.jsonl",
            [
                json.dumps({"_id": 7, "title": "T", "text": "body"}),
                json.dumps({"_id": "x", "text": "no title"}),
            ],
        )
        docs = beir.load_corpus(corpus)
        assert [(d.id, d.content, d.meta) for d in docs] == [("7", "body", {"title": "T"}), ("x", "no title", {})]

    def test_malformed_line_refused_with_its_number_or_skipped(self, tmp_path):
        corpus = write_lines(
            tmp_path / "corpus.jsonl",
            [json.dumps({"_id": "a", "text": "ok"}), "{broken", json.dumps({"text": "no id"})],
        )
        with pytest.raises(ConfigurationError, match=r"corpus.jsonl:2: malformed line.*--skip-malformed"):
            beir.load_corpus(corpus)
        assert [d.id for d in beir.load_corpus(corpus, skip_malformed=True)] == ["a"]

    def test_text_folder(self, tmp_path):
        (tmp_path / "sub").mkdir()
        (tmp_path / "a.md").write_text("# Heading A\nBody", encoding="utf-8")
        (tmp_path / "sub" / "b.txt").write_text("Title B\nMore", encoding="utf-8")
        (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
        docs = beir.load_corpus(tmp_path)
        assert [(d.id, d.meta["title"]) for d in docs] == [("a.md", "Heading A"), ("sub/b.txt", "Title B")]

    def test_missing_files_name_the_path(self, tmp_path):
        with pytest.raises(ConfigurationError, match="does not exist"):
            beir.load_corpus(tmp_path / "nope.jsonl")
        with pytest.raises(ConfigurationError, match="queries"):
            beir.load_queries(tmp_path / "nope.jsonl")

    def test_queries_qrels_and_trec_round_trip(self, tmp_path):
        queries = write_lines(
            tmp_path / "q.jsonl", [json.dumps({"_id": "1", "text": "a?"}), json.dumps({"_id": "2", "text": "b?"})]
        )
        assert beir.load_queries(queries) == {"1": "a?", "2": "b?"}
        qrels = write_lines(tmp_path / "qrels.tsv", ["query-id\tcorpus-id\tscore", "1\td1\t1", "1\td2\t1", "2\td3\t1"])
        assert beir.load_qrels(qrels) == {"1": {"d1": 1, "d2": 1}, "2": {"d3": 1}}
        run_file = tmp_path / "run.trec"
        beir.write_trec_run(run_file, {"1": [("d2", 2.5), ("d1", 1.0)]}, tag="t")
        assert run_file.read_text().splitlines() == ["1 Q0 d2 1 2.500000 t", "1 Q0 d1 2 1.000000 t"]
        assert beir.read_trec_run(run_file) == {"1": {"d2": 2.5, "d1": 1.0}}


class TestIndexing:
    def test_deduplicate_keeps_first_and_drops_empty(self):
        docs = [Document(id="a", content="1"), Document(id="a", content="2"), Document(id="b", content="  ")]
        kept, duplicates, empty = deduplicate(docs)
        assert [(d.id, d.content) for d in kept] == [("a", "1")] and (duplicates, empty) == (1, 1)

    def test_both_stores_get_the_same_ids_and_lexical_gets_no_vectors(self, document_embedder):
        lexical = InMemoryDocumentStore()
        vectors = QdrantDocumentStore(location=":memory:", index="t", embedding_dim=384, progress_bar=False)
        report = index_documents(
            DOCUMENTS,
            embedder=document_embedder,
            lexical_store=lexical,
            vector_store=vectors,
            batch_size=4,
            progress_bar=False,
        )
        assert report.written == report.lexical_count == report.vector_count == len(DOCUMENTS)
        assert {d.id for d in lexical.filter_documents()} == {d.id for d in vectors.filter_documents()}
        assert all(d.embedding is None for d in lexical.filter_documents())

    def test_interrupted_indexing_completes_on_rerun(self, document_embedder):
        lexical = InMemoryDocumentStore()
        vectors = QdrantDocumentStore(location=":memory:", index="t", embedding_dim=384, progress_bar=False)
        # an interruption after the vector write of the first batch leaves the stores out of step
        vectors.write_documents(document_embedder.run(documents=DOCUMENTS[:3])["documents"])
        index_documents(
            DOCUMENTS, embedder=document_embedder, lexical_store=lexical, vector_store=vectors, progress_bar=False
        )
        assert lexical.count_documents() == vectors.count_documents() == len(DOCUMENTS)

    def test_verification_by_ids_catches_a_lost_write(self, document_embedder):
        class LosesOneWrite(InMemoryDocumentStore):  # a store that acknowledges a write it did not keep
            def write_documents(self, documents, policy=None):
                return super().write_documents([d for d in documents if d.id != DOCUMENTS[0].id], policy=policy)

        lexical = LosesOneWrite()
        lexical.write_documents([Document(id="stray", content="from another corpus")])
        vectors = QdrantDocumentStore(location=":memory:", index="t", embedding_dim=384, progress_bar=False)
        # counts alone would pass (6 == 6 with the stray document); ids and hashes do not
        with pytest.raises(IndexConsistencyError, match=rf"1 of the 6 corpus documents missing.*{DOCUMENTS[0].id}"):
            index_documents(
                DOCUMENTS,
                embedder=document_embedder,
                lexical_store=lexical,
                vector_store=vectors,
                progress_bar=False,
                remove_missing=False,
            )

    def test_memory_store_persists(self, tmp_path):
        store = InMemoryDocumentStore()
        store.write_documents(DOCUMENTS[:2])
        save_lexical_store(store, tmp_path / "d" / "bm25.json")
        assert InMemoryDocumentStore.load_from_disk(str(tmp_path / "d" / "bm25.json")).count_documents() == 2


class TestModels:
    def test_default_embedding_model_resolves_to_the_installed_copy(self):
        resolved = resolve_model(DEFAULT_EMBEDDING_MODEL)
        assert resolved != DEFAULT_EMBEDDING_MODEL and resolved.endswith("model")

    @pytest.mark.parametrize("name", ["BAAI/bge-small-en-v1.5", "/some/local/path", "cross-encoder/x"])
    def test_other_names_pass_through(self, name):
        assert resolve_model(name) == name

    def test_embedder_yaml_keeps_the_portable_name(self, text_embedder):
        from haystack_rerank.components.embedders import TextEmbedder

        # no model given: the YAML says nothing and the loader reads HAYSTACK_RERANK_EMBEDDING_MODEL
        assert text_embedder.to_dict()["init_parameters"]["model"] is None
        named = TextEmbedder(model=DEFAULT_EMBEDDING_MODEL)
        named.warm_up()
        assert len(named.run(text="hello")["embedding"]) == 384
        # the hub name, never the local folder it resolved to
        assert named.to_dict()["init_parameters"]["model"] == DEFAULT_EMBEDDING_MODEL
