"""The README's first command, end to end: index the example corpus on embedded stores and answer."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_models import tiny_cross_encoder  # noqa: F401

from haystack_rerank import models

REPO = Path(__file__).resolve().parent.parent


STARTER = models.resolve_model(models.STARTER_RERANK_MODEL) != models.STARTER_RERANK_MODEL
QUESTIONS = [json.loads(line) for line in (REPO / "examples" / "questions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory, tiny_cross_encoder):
    args = [] if STARTER else ["--reranker-model", tiny_cross_encoder]
    data_dir = tmp_path_factory.mktemp("demo") / "d"
    result = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", "demo", "--json", "--data-dir", str(data_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_demo_runs_end_to_end(demo_report):
    starter, report, questions = STARTER, demo_report, QUESTIONS
    assert report["indexed"] == 40 and len(report["questions"]) == len(questions)
    for item in report["questions"]:
        assert len(item["hybrid"]) == 20 and 1 <= len(item["reranked"]) <= 3
        assert {r["id"] for r in item["reranked"]} <= {h["id"] for h in item["hybrid"]}
        assert item["answer"] is None or item["answer_source"] in {r["id"] for r in item["reranked"]}
        assert item["seconds"]["total"] >= item["seconds"]["retrieval"] > 0
        assert (item["answer"] is None) == bool(item["not_answered_because"])
        if item["low_confidence"]:  # the flag reads the cross-encoder's own probability, not the blended score
            assert item["top_relevance"] < 0.1 <= item["reranked"][0]["score"] or not starter
    if starter:
        # The starter model was trained on SciFact claims; these are everyday questions, so only a loose check:
        # the answering document is in the reranked top 3 for most of them, and the unanswerable one is flagged.
        expected = {q["_id"]: q["answer_doc"] for q in questions}
        found = sum(expected[item["id"]] in {r["id"] for r in item["reranked"]} for item in report["questions"])
        assert found >= sum(1 for doc in expected.values() if doc) - 2, report["questions"]
        unanswerable = [item for item in report["questions"] if expected[item["id"]] is None]
        assert all(item["low_confidence"] and item["answer"] is None for item in unanswerable)


@pytest.mark.skipif(not STARTER, reason="the bundled starter model is not installed")
@pytest.mark.xfail(
    strict=True,
    reason="issue 12, open: starter v2 gives heat-stroke, rightly first for q7, a probability (0.067) under the 0.1 "
    "low-confidence threshold and under that of the unanswerable q8's best passage (0.082): BENCHMARKS 'Answerable "
    "or not' finds no signal of this model that separates them",
)
def test_demo_puts_every_answer_first_quotes_it_and_flags_only_the_unanswerable(demo_report):
    expected = {q["_id"]: q["answer_doc"] for q in QUESTIONS}
    wrong = []
    for item in demo_report["questions"]:
        doc = expected[item["id"]]
        if doc is None:
            ok = item["low_confidence"] and item["answer"] is None
        else:
            ok = item["reranked"][0]["id"] == doc and item["answer_source"] == doc and not item["low_confidence"]
        if not ok:
            wrong.append((item["id"], doc, [r["id"] for r in item["reranked"]], item["answer_source"]))
    assert not wrong, wrong
