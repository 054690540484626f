import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_models import tiny_cross_encoder  # noqa: F401

from haystack_rerank.beir import load_split
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.evaluation.dataset import refuse_training_overlap
from haystack_rerank.evaluation.metrics import evaluate_run, paired_test
from haystack_rerank.evaluation.sweep import knee, markdown, plot, recommend

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def dataset(tmp_path):
    """A BEIR folder from the example corpus: the answerable questions, judged by their answer document."""
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "passages.jsonl", folder / "corpus.jsonl")
    questions = [json.loads(line) for line in (REPO / "examples" / "questions.jsonl").read_text().splitlines()]
    answerable = [q for q in questions if q["answer_doc"]]
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": q["_id"], "text": q["text"]}) for q in questions)
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q['_id']}\t{q['answer_doc']}\t1\n" for q in answerable)
    )
    return folder


def test_metrics_against_hand_computed_values():
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": {"a": 3.0, "x": 2.0, "b": 1.0}}
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / 1.5849625007211562)
    scores = evaluate_run(qrels, run, ("ndcg@10", "recall@10", "mrr@10"))
    assert scores == {"ndcg@10": round(expected, 4), "recall@10": 1.0, "mrr@10": 1.0}
    assert evaluate_run({"q": {"a": 1}, "r": {"z": 1}}, {"q": {"a": 1.0}}, ("recall@10",)) == {"recall@10": 0.5}


def test_paired_test_sees_a_consistent_lift():
    qrels = {f"q{i}": {"good": 1} for i in range(20)}
    worse = {q: {"bad": 2.0, "good": 1.0} for q in qrels}
    better = {q: {"good": 2.0, "bad": 1.0} for q in qrels}
    result = paired_test(qrels, worse, better)
    assert result["lift"] > 0.3 and result["p_value"] < 1e-6 and result["improved"] == 20
    assert paired_test(qrels, worse, worse)["p_value"] == 1.0


def test_split_loading_and_training_overlap_refusal(dataset, tiny_cross_encoder, tmp_path):
    split = load_split(dataset, "test")
    assert sorted(split.queries) == ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]  # q8 has no judgement
    with pytest.raises(ConfigurationError, match="qrels"):
        load_split(dataset, "nosuchsplit")
    trained = tmp_path / "trained"
    shutil.copytree(tiny_cross_encoder, trained)
    (trained / "training_queries.json").write_text(json.dumps({"query_ids": ["q3", "x9"]}))
    with pytest.raises(ConfigurationError, match="trained on 1 of the 7 queries of split 'test'.*memorisation"):
        refuse_training_overlap(str(trained), set(split.queries), "test")
    refuse_training_overlap(tiny_cross_encoder, set(split.queries), "test")  # no record: allowed


def test_knee_and_budget_pick(tmp_path):
    rows = [
        {"depth": d, "ndcg@10": q, "mrr@10": q, "first_stage_recall": r, "p50_ms": t / 2, "p95_ms": t}
        for d, q, r, t in [
            (5, 0.50, 0.6, 10),
            (10, 0.60, 0.7, 20),
            (20, 0.66, 0.8, 40),
            (50, 0.67, 0.9, 100),
            (100, 0.675, 0.95, 200),
        ]
    ]
    assert knee(rows) == 20
    assert recommend(rows, 45)["depth"] == 20 and recommend(rows, 5) is None
    result = {"queries": 7, "latency_queries": 3, "hybrid_ndcg@10": 0.55, "rows": rows, "knee": 20}
    assert "For a budget of 45 ms p95, rerank N = 20" in markdown(result, 45)
    plot(result, tmp_path / "sweep.png", 45)
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_and_sweep_commands_end_to_end(dataset, tiny_cross_encoder, tmp_path):
    common = [
        "--dataset",
        str(dataset),
        "--split",
        "test",
        "--lexical",
        "memory",
        "--data-dir",
        str(tmp_path / "d"),
        "--index",
        "ev",
        "--collection",
        "ev",
        "--reranker-model",
        tiny_cross_encoder,
    ]
    out = tmp_path / "eval"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "haystack_rerank.cli",
            "eval",
            *common,
            "--rerank-depth",
            "5",
            "--output-dir",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert set(summary["stages"]) == {"bm25", "dense", "hybrid", "rerank"} and summary["queries"] == 7
    for stage, values in summary["stages"].items():
        assert 0.0 <= values["ndcg@10"] <= 1.0 and values["p95_ms"] >= values["p50_ms"] > 0
        assert (out / f"run_{stage}.trec").is_file()
    # reranking only the top 5 and backfilling from the fused list keeps hybrid's recall at 100
    assert summary["stages"]["rerank"]["recall@100"] == summary["stages"]["hybrid"]["recall@100"]
    assert "verdict" in summary and summary["rerank_vs_hybrid"]["queries"] == 7
    assert (out / "summary.md").read_text().startswith("Queries: 7")
    assert (
        "already hold exactly the 40 documents"
        in subprocess.run(
            [
                sys.executable,
                "-m",
                "haystack_rerank.cli",
                "eval",
                *common,
                "--stages",
                "bm25",
                "--output-dir",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        ).stderr
    )  # indexed once, reused
    with_probes = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", "eval", *common, "--stages", "bm25"]
        + ["--output-dir", str(out), "--probes", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert with_probes.returncode == 0, with_probes.stderr[-2000:]
    probes = json.loads(with_probes.stdout)["probes"]
    assert probes["cases"] >= 125 and f"cross-encoder {tiny_cross_encoder}" in probes["scorers"]
    assert "## Behaviour probes" in (out / "summary.md").read_text()

    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "haystack_rerank.cli",
            "sweep",
            *common,
            "--depths",
            "2,5,10",
            "--latency-queries",
            "2",
            "--budget-ms",
            "10000",
            "--cascades",
            "10:3,5:5",
            "--small-model",
            tiny_cross_encoder,
            "--gates",
            "0.0,1.0",
            "--gated-rescore-top",
            "2",
            "--output-dir",
            str(sweep_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    swept = json.loads(result.stdout)
    assert [r["depth"] for r in swept["rows"]] == [2, 5, 10] and swept["recommendation"]["depth"] in (2, 5, 10)
    recalls = [r["first_stage_recall"] for r in swept["rows"]]
    assert recalls == sorted(recalls)  # the ceiling can only grow with N
    assert (sweep_dir / "sweep.png").is_file() and (sweep_dir / "sweep.md").is_file()
    # cascade rows: (10, 3) and (5, 5) without a gate, and (10, 3) with each gate (gated M 2 < 3)
    cascade = swept["cascade_rows"]
    assert [(r["depth"], r["rescore_top"], r["gate_margin"]) for r in cascade] == [
        (10, 3, None),
        (10, 3, 0.0),
        (10, 3, 1.0),
        (5, 5, None),
        (5, 5, 0.0),
        (5, 5, 1.0),
    ]
    assert cascade[1]["gate_fired"] == 1.0 and cascade[1]["mean_rescored"] == 2  # margin >= 0 always fires
    assert cascade[0]["gate_fired"] == 0.0 and cascade[0]["mean_rescored"] == 3
    assert all(0.0 <= r["ndcg@10"] <= 1.0 and r["p95_ms"] >= r["p50_ms"] > 0 for r in cascade)
    assert "Cascade pick for 10000 ms p95" in (sweep_dir / "sweep.md").read_text()
