import pytest
from haystack import Document, Pipeline

from haystack_rerank.components.retrievers import OpenSearchBM25Retriever, QdrantEmbeddingRetriever
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore


def test_qdrant_settings_come_from_the_environment_and_stay_out_of_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "q"))
    monkeypatch.setenv("QDRANT_COLLECTION", "from_env")
    monkeypatch.setenv("QDRANT_API_KEY", "secret-key-123")
    store = QdrantStore()
    assert (store.path, store.index, store.url) == (str(tmp_path / "q"), "from_env", None)
    pipeline = Pipeline()
    pipeline.add_component("retriever", QdrantEmbeddingRetriever(document_store=store))
    text = pipeline.dumps()
    assert str(tmp_path) not in text and "from_env" not in text and "secret-key-123" not in text
    assert "QDRANT_API_KEY" in text
    loaded = Pipeline.loads(text).get_component("retriever")
    assert isinstance(loaded._document_store, QdrantStore) and loaded._document_store.path == str(tmp_path / "q")


def test_qdrant_url_wins_over_path_and_memory_wins_over_url(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:6333")
    assert (QdrantStore().url, QdrantStore().path) == ("http://127.0.0.1:6333", None)
    assert QdrantStore(location=":memory:").url is None


def test_embedded_stores_on_one_folder_share_a_client(tmp_path):
    first = QdrantStore(path=str(tmp_path / "q"), index="c")
    second = QdrantStore(path=str(tmp_path / "q"), index="c")  # a second client on the folder would fail
    first.write_documents([Document(id="a", content="x", embedding=[0.1] * 384)])
    assert second.count_documents() == 1
    first.close()
    assert second.count_documents() == 1
    QdrantStore.close_embedded(str(tmp_path / "q"))


@pytest.mark.integration
def test_opensearch_settings_come_from_the_environment(opensearch_hosts, unique_name, monkeypatch):
    monkeypatch.setenv("OPENSEARCH_HOSTS", opensearch_hosts)
    monkeypatch.setenv("OPENSEARCH_INDEX", unique_name)
    store = OpenSearchStore()
    try:
        store.write_documents([Document(id="a", content="running shoes")])
        pipeline = Pipeline()
        pipeline.add_component("bm25", OpenSearchBM25Retriever(document_store=store))
        text = pipeline.dumps()
        assert opensearch_hosts not in text and unique_name not in text
        loaded = Pipeline.loads(text)
        assert isinstance(loaded.get_component("bm25")._document_store, OpenSearchStore)
        out = loaded.run({"bm25": {"query": "run"}})["bm25"]["documents"]  # english stemming: run ~ running
        assert [d.id for d in out] == ["a"]
    finally:
        store.delete_index()


def test_concurrent_bm25_queries_reuse_pooled_connections(opensearch_store, caplog):
    """Eight threads searching at once: every query answers and urllib3 never discards a connection."""
    import logging
    from concurrent.futures import ThreadPoolExecutor

    opensearch_store.write_documents([Document(id=str(i), content=f"vitamin d trial number {i}") for i in range(20)])
    retriever = OpenSearchBM25Retriever(document_store=opensearch_store, top_k=5)
    with caplog.at_level(logging.WARNING, logger="urllib3"), ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: retriever.run(query=f"vitamin trial {n}")["documents"], range(64)))
    assert all(len(docs) == 5 for docs in answers)
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert "pool_maxsize" not in opensearch_store.to_dict()["init_parameters"]  # a default, not configuration
