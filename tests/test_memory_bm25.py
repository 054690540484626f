"""The embedded BM25 store reads and weighs text like the package's OpenSearch index (`english` analyser, BM25)."""

import json
import math

from haystack import Document
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy

from haystack_rerank import bm25_file
from haystack_rerank.document_stores import EnglishInMemoryStore

DOCS = [
    Document(id="outdoors", content="Time spent outdoors reduced the onset of myopia.", meta={"title": "Daylight"}),
    Document(id="screens", content="Screens and near work are linked to myopia.", meta={"title": "Near work"}),
    Document(id="runners", content="A runner who collapsed was cooled in cold water.", meta={"title": "Heat stroke"}),
]


def _ids(store, query, top_k=10):
    return [doc.id for doc in store.bm25_retrieval(query, top_k=top_k)]


def test_english_analysis_stop_words_possessives_and_stems():
    store = EnglishInMemoryStore()
    assert store._tokenize_bm25("The patient's kids are Running; it was cooled") == ["patient", "kid", "run", "cool"]


def test_stems_match_and_stop_words_alone_match_nothing():
    store = EnglishInMemoryStore()
    store.write_documents(DOCS)
    assert _ids(store, "runners collapsing") == ["runners"]
    assert _ids(store, "the of and to was") == []  # Haystack's default store returns documents for these


def test_the_title_is_searched_but_the_document_is_kept_as_given():
    store = EnglishInMemoryStore()
    store.write_documents(DOCS)
    assert _ids(store, "daylight") == ["outdoors"]
    kept = {doc.id: doc for doc in store.filter_documents()}
    assert kept["outdoors"] == DOCS[0] and kept["outdoors"].content == DOCS[0].content


def test_lucene_idf_scores_a_two_document_corpus():
    """Okapi's own idf is 0 for a term in 1 of 2 documents; Lucene's is ln(1 + 1.5 / 1.5) = ln 2."""
    store = EnglishInMemoryStore()
    store.write_documents(DOCS[:2])
    (found,) = store.bm25_retrieval("outdoors", top_k=5)
    length = len(store._tokenize_bm25("Daylight\n" + DOCS[0].content))
    average = (length + len(store._tokenize_bm25("Near work\n" + DOCS[1].content))) / 2
    expected = math.log(2) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * length / average))
    assert found.id == "outdoors" and math.isclose(found.score, expected, rel_tol=1e-9)


def test_skip_policy_keeps_the_first_document():
    store = EnglishInMemoryStore()
    store.write_documents(DOCS)
    changed = Document(id="outdoors", content="Something else entirely.", meta={"title": "Other"})
    assert store.write_documents([changed], policy=DuplicatePolicy.SKIP) == 0
    assert store.filter_documents({"field": "id", "operator": "==", "value": "outdoors"})[0] == DOCS[0]
    assert _ids(store, "daylight") == ["outdoors"]


def test_a_file_saved_by_haystacks_store_loads_with_the_packages_analysis(tmp_path):
    old = InMemoryDocumentStore(bm25_algorithm="BM25L")
    old.write_documents(DOCS)
    path = tmp_path / "bm25.json"
    old.save_to_disk(str(path))
    loaded = bm25_file.load(path)
    assert isinstance(loaded, EnglishInMemoryStore) and loaded.bm25_algorithm == "BM25Okapi"
    assert _ids(loaded, "runners") == ["runners"] and loaded.count_documents() == 3
    bm25_file.save(loaded, path)
    assert json.loads(path.read_text())["init_parameters"]["bm25_parameters"] == {"k1": 1.2, "b": 0.75}


def test_the_retriever_round_trips_with_the_store():
    retriever = InMemoryBM25Retriever(document_store=EnglishInMemoryStore())
    again = InMemoryBM25Retriever.from_dict(retriever.to_dict())
    assert isinstance(again.document_store, EnglishInMemoryStore)
    assert again.document_store.bm25_parameters == {"k1": 1.2, "b": 0.75}
