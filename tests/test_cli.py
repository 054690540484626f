import json
import subprocess
import sys

import pytest

from corpus_small import DOCUMENTS


def cli(*args, cwd, check=True):
    result = subprocess.run([sys.executable, "-m", "haystack_rerank.cli", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def dataset(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": d.id, "title": d.meta["title"], "text": d.content})
                                for d in DOCUMENTS), encoding="utf-8")
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join([json.dumps({"_id": "q1", "text": "lower blood pressure"}),
                                  json.dumps({"_id": "q2", "text": "firmware checksum error"})]), encoding="utf-8")
    return corpus, queries


def test_index_then_run_every_stage_embedded(tmp_path, dataset):
    corpus, queries = dataset
    common = ["--lexical", "memory", "--data-dir", str(tmp_path / "data"), "--index", "t", "--collection", "t"]
    summary = json.loads(cli("index", "--corpus", str(corpus), *common, "--json", cwd=tmp_path).stdout)
    assert summary["written"] == summary["lexical_count"] == summary["vector_count"] == len(DOCUMENTS)
    # indexing again is idempotent
    again = json.loads(cli("index", "--corpus", str(corpus), *common, "--json", cwd=tmp_path).stdout)
    assert again["lexical_count"] == again["vector_count"] == len(DOCUMENTS)
    for stage in ("bm25", "dense", "hybrid"):
        out = tmp_path / f"{stage}.trec"
        cli("run", "--queries", str(queries), "--output", str(out), "--stage", stage, "--top-k", "3", *common,
            cwd=tmp_path)
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


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    result = cli("index", "--corpus", str(tmp_path / "missing.jsonl"), "--lexical", "memory", cwd=tmp_path,
                 check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: corpus:") and "does not exist" in result.stderr
