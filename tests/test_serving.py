"""The YAML pipelines served over HTTP by Hayhooks on 127.0.0.1, queried with a real HTTP client."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from corpus_small import DOCUMENTS

from haystack_rerank import models, pipelines
from haystack_rerank.document_stores import OpenSearchStore, QdrantStore

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(opensearch_hosts, unique_name, tmp_path, tiny_cross_encoder_if_needed):
    env = {
        **os.environ,
        "OPENSEARCH_HOSTS": opensearch_hosts,
        "OPENSEARCH_INDEX": unique_name,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "QDRANT_COLLECTION": unique_name,
        "HAYSTACK_DESERIALIZATION_ALLOWLIST": "haystack_rerank",
        "HAYSTACK_TELEMETRY_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:  # index with the shipped indexing pipeline, then free the embedded folder for the server
        from haystack import Pipeline

        Pipeline.loads((pipelines.PIPELINES_DIR / "indexing.yaml").read_text()).run(
            {"embedder": {"documents": DOCUMENTS}}
        )
        QdrantStore.close_embedded(str(tmp_path / "qdrant"))
    finally:
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    served_dir = tmp_path / "served"
    served_dir.mkdir()
    for name in ("hybrid", "rag_extractive"):
        text = (pipelines.PIPELINES_DIR / f"{name}.yaml").read_text()
        if tiny_cross_encoder_if_needed:
            text = text.replace(models.STARTER_RERANK_MODEL, tiny_cross_encoder_if_needed)
        (served_dir / f"{name}.yaml").write_text(text)
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hayhooks"),
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--pipelines-dir",
            str(served_dir),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"{url}/status", timeout=2).json()
                if set(status.get("pipelines", [])) >= {"hybrid", "rag_extractive"}:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read()
            time.sleep(1)
        else:
            pytest.fail("Hayhooks did not deploy the pipelines within 180 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        OpenSearchStore(hosts=opensearch_hosts, index=unique_name).delete_index()


@pytest.fixture
def tiny_cross_encoder_if_needed(tmp_path_factory):
    """None when the starter model ships; else a tiny model folder that stands in for it in the served YAML."""
    if models.resolve_model(models.STARTER_RERANK_MODEL) != models.STARTER_RERANK_MODEL:
        return None
    from fixtures_models import build_tiny_cross_encoder

    return str(build_tiny_cross_encoder(tmp_path_factory.mktemp("m") / "tiny"))


def test_hybrid_and_rag_answer_over_http(served):
    with httpx.Client(base_url=served, timeout=120) as client:
        hybrid = client.post("/hybrid/run", json={"query": "firmware checksum error code"})
        assert hybrid.status_code == 200, hybrid.text
        documents = hybrid.json()["result"]["retriever"]["documents"]
        assert documents[0]["id"] == "code-xq7"

        rag = client.post("/rag_extractive/run", json={"query": "What error appears when the firmware checksum fails?"})
        assert rag.status_code == 200, rag.text
        answers = rag.json()["result"]["answerer"]["answers"]
        cited = [a for a in answers if a.get("data")]
        assert cited, answers
        by_id = {d.id: d.content for d in DOCUMENTS}
        for answer in cited:  # every quoted answer is a sentence of the document it cites
            assert answer["data"] in by_id[answer["document"]["id"]]

        bad = client.post("/hybrid/run", json={"query": "   "})
        assert bad.status_code >= 400 and "query must be a non-empty string" in bad.text
