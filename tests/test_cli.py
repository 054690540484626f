import json
import subprocess
import sys

import pytest
from corpus_small import DOCUMENTS
from fixtures_models import tiny_cross_encoder  # noqa: F401


def cli(*args, cwd, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def dataset(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"_id": d.id, "title": d.meta["title"], "text": d.content}) for d in DOCUMENTS),
        encoding="utf-8",
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(
            [
                json.dumps({"_id": "q1", "text": "lower blood pressure"}),
                json.dumps({"_id": "q2", "text": "firmware checksum error"}),
            ]
        ),
        encoding="utf-8",
    )
    return corpus, queries


def read_run(path):
    by_query = {}
    for qid, _, doc_id, _rank, score, _ in (line.split() for line in path.read_text().splitlines()):
        by_query.setdefault(qid, []).append((doc_id, float(score)))
    return by_query


def test_index_then_run_every_stage_embedded(tmp_path, dataset, tiny_cross_encoder):
    corpus, queries = dataset
    common = ["--lexical", "memory", "--data-dir", str(tmp_path / "data"), "--index", "t", "--collection", "t"]
    summary = json.loads(cli("index", "--corpus", str(corpus), *common, "--json", cwd=tmp_path).stdout)
    assert summary["written"] == summary["lexical_count"] == summary["vector_count"] == len(DOCUMENTS)
    # indexing again is idempotent
    again = json.loads(cli("index", "--corpus", str(corpus), *common, "--json", cwd=tmp_path).stdout)
    assert again["lexical_count"] == again["vector_count"] == len(DOCUMENTS)
    for stage in ("bm25", "dense", "hybrid"):
        out = tmp_path / f"{stage}.trec"
        cli(
            "run",
            "--queries",
            str(queries),
            "--output",
            str(out),
            "--stage",
            stage,
            "--top-k",
            "3",
            *common,
            cwd=tmp_path,
        )
        lines = [line.split() for line in out.read_text().splitlines()]
        by_query = {}
        for qid, q0, doc_id, rank, score, tag in lines:
            assert q0 == "Q0" and tag == f"haystack-rerank-{stage}"
            by_query.setdefault(qid, []).append((int(rank), float(score), doc_id))
        assert set(by_query) == {"q1", "q2"}
        for ranked in by_query.values():
            assert [r for r, _, _ in ranked] == list(range(1, len(ranked) + 1)) and len(ranked) <= 3
            assert [s for _, s, _ in ranked] == sorted((s for _, s, _ in ranked), reverse=True)
        assert by_query["q2"][0][2] == "code-xq7"

    # rerank the top 2 of the fused list; the rest is backfilled in fused order, so nothing is lost
    reranked_file = tmp_path / "rerank.trec"
    cli(
        "run",
        "--queries",
        str(queries),
        "--output",
        str(reranked_file),
        "--stage",
        "rerank",
        "--top-k",
        "5",
        "--rerank-depth",
        "2",
        "--reranker-model",
        tiny_cross_encoder,
        *common,
        cwd=tmp_path,
    )
    cli(
        "run",
        "--queries",
        str(queries),
        "--output",
        str(tmp_path / "hybrid5.trec"),
        "--stage",
        "hybrid",
        "--top-k",
        "5",
        *common,
        cwd=tmp_path,
    )
    fused, reranked = read_run(tmp_path / "hybrid5.trec"), read_run(reranked_file)
    for qid in fused:
        fused_ids = [d for d, _ in fused[qid]]
        reranked_ids = [d for d, _ in reranked[qid]]
        assert sorted(reranked_ids) == sorted(fused_ids)
        assert set(reranked_ids[:2]) == set(fused_ids[:2]) and reranked_ids[2:] == fused_ids[2:]
        assert all(0.0 <= s <= 1.0 for _, s in reranked[qid][:2]) and reranked[qid][2][1] < reranked[qid][1][1]


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    result = cli("index", "--corpus", str(tmp_path / "missing.jsonl"), "--lexical", "memory", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: corpus:") and "does not exist" in result.stderr
