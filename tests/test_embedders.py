"""TextEmbedder's per-call torch thread setting: same embedding, scoped to the calling thread, serialised."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from haystack_rerank.components.embedders import DocumentEmbedder, TextEmbedder
from haystack_rerank.components.embedders.sentence_transformers import torch_threads
from haystack_rerank.errors import ConfigurationError


def test_one_thread_gives_the_same_embedding_and_restores_the_setting() -> None:
    query = "Does vitamin D lower the risk of colorectal cancer?"
    before = torch.get_num_threads()
    full = TextEmbedder(dtype="float32")  # bf16 sums in another order with other thread counts
    full.warm_up()
    default = np.array(full.run(text=query)["embedding"])
    single = TextEmbedder(threads=1, dtype="float32")
    single.warm_up()
    one = np.array(single.run(text=query)["embedding"])
    assert float(default @ one) > 0.99999
    assert torch.get_num_threads() == before


def test_thread_setting_stays_in_the_calling_thread() -> None:
    inside, outside = [], []
    entered, checked = threading.Event(), threading.Event()
    main_threads = torch.get_num_threads()
    other = 2 if main_threads == 1 else 1  # the suite may have pinned torch to one thread

    def worker() -> None:
        with torch_threads(other):
            inside.append(torch.get_num_threads())
            entered.set()
            checked.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(10)
    outside.append(torch.get_num_threads())  # while the worker holds its setting
    checked.set()
    thread.join()
    assert inside == [other]
    assert outside == [main_threads]


def test_threads_round_trip_and_validation() -> None:
    embedder = TextEmbedder(threads=1)
    data = embedder.to_dict()
    assert data["init_parameters"]["threads"] == 1
    assert TextEmbedder.from_dict(data).threads == 1
    with pytest.raises(ConfigurationError, match="threads got 0"):
        TextEmbedder(threads=0)


def test_embedding_dtype_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from haystack_rerank.components.rankers._inference import bf16_supported
    from haystack_rerank.config import Settings

    monkeypatch.delenv("HAYSTACK_RERANK_EMBEDDING_DTYPE", raising=False)
    expected = {"dtype": "bfloat16"} if bf16_supported() else None
    assert TextEmbedder().model_kwargs == expected and DocumentEmbedder().model_kwargs == expected
    assert TextEmbedder(dtype="float32").model_kwargs is None
    monkeypatch.setenv("HAYSTACK_RERANK_EMBEDDING_DTYPE", "float32")
    assert TextEmbedder().model_kwargs is None and DocumentEmbedder().model_kwargs is None
    monkeypatch.setenv("HAYSTACK_RERANK_EMBEDDING_DTYPE", "fp8")
    with pytest.raises(ConfigurationError, match="HAYSTACK_RERANK_EMBEDDING_DTYPE.*'fp8'"):
        Settings()
    with pytest.raises(ConfigurationError, match="HAYSTACK_RERANK_EMBEDDING_DTYPE.*'fp8'"):
        TextEmbedder()
