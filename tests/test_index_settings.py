"""Shards and replicas of a new OpenSearch index: from arguments or OPENSEARCH_SHARDS / OPENSEARCH_REPLICAS."""

from __future__ import annotations

import pytest
from corpus_small import DOCUMENTS

from haystack_rerank import build
from haystack_rerank.config import Settings
from haystack_rerank.document_stores import OpenSearchStore
from haystack_rerank.errors import ConfigurationError


def created_settings(store: OpenSearchStore) -> tuple[int, int]:
    store.write_documents(DOCUMENTS[:2])
    index = store._client.indices.get_settings(index=store._index)[store._index]["settings"]["index"]
    return int(index["number_of_shards"]), int(index["number_of_replicas"])


def test_default_is_one_shard_no_replica(opensearch_store):
    assert created_settings(opensearch_store) == (1, 0)


def test_environment_sets_shards_and_replicas_yaml_keeps_none(monkeypatch, opensearch_hosts, unique_name):
    monkeypatch.setenv("OPENSEARCH_SHARDS", "3")
    monkeypatch.setenv("OPENSEARCH_REPLICAS", "0")
    store = build.lexical_store(Settings(opensearch_hosts=opensearch_hosts, index=unique_name))
    try:
        assert created_settings(store) == (3, 0)
        params = store.to_dict()["init_parameters"]
        assert params["shards"] is None and params["replicas"] is None and params["settings"] is None
    finally:
        store.delete_index()


def test_arguments_win_over_the_environment(monkeypatch, opensearch_hosts, unique_name):
    monkeypatch.setenv("OPENSEARCH_SHARDS", "3")
    settings = Settings(opensearch_hosts=opensearch_hosts, index=unique_name, opensearch_shards=2)
    store = build.lexical_store(settings)
    try:
        assert created_settings(store) == (2, 0)
        assert store.to_dict()["init_parameters"]["shards"] == 2
        assert OpenSearchStore.from_dict(store.to_dict())._settings["index"]["number_of_shards"] == 2
    finally:
        store.delete_index()


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("OPENSEARCH_SHARDS", "0", "OPENSEARCH_SHARDS must be an integer >= 1, got 0"),
        ("OPENSEARCH_SHARDS", "two", "OPENSEARCH_SHARDS must be an integer >= 1, got 'two'"),
        ("OPENSEARCH_REPLICAS", "-1", "OPENSEARCH_REPLICAS must be an integer >= 0, got -1"),
    ],
)
def test_bad_environment_values_name_the_variable_and_the_fix(monkeypatch, variable, value, fragment):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match="Use") as err:
        OpenSearchStore()
    assert fragment in str(err.value)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ConfigurationError, match="replicas must be an integer >= 0, got 1.5"):
        OpenSearchStore(replicas=1.5)
    with pytest.raises(ConfigurationError, match="shards must be an integer >= 1, got True"):
        OpenSearchStore(shards=True)
