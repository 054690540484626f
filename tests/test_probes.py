"""Behaviour probes: the shipped cases, the scorers on real models, the report, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_models import tiny_cross_encoder  # noqa: F401 - fixtures are used by name

from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import STARTER_RERANK_MODEL
from haystack_rerank.probes import CATEGORIES, load_cases, markdown, run_probes
from haystack_rerank.probes.cases import SEED_CASE_ID
from haystack_rerank.probes.report import summarise

WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def test_shipped_cases_are_contrastive_and_cover_every_category() -> None:
    cases = load_cases()
    for category in CATEGORIES:
        assert sum(case.category == category for case in cases) >= 25, category
    assert len({case.id for case in cases}) == len(cases)
    assert len({case.query for case in cases}) == len(cases)
    seed = next(case for case in cases if case.id == SEED_CASE_ID)
    assert seed.query == "small fast car"
    assert words(seed.answer) == words(seed.distractor)  # the same words, bound differently
    for case in cases:
        shared = words(case.answer) & words(case.distractor)
        assert len(shared) / len(words(case.answer) | words(case.distractor)) >= 0.5, case.id  # nearly the same words
    # binding and order categories are written as the same bag of words, so a bag-of-words scorer must tie
    same_bag = [c for c in cases if c.category in ("attribute_binding", "role_binding")]
    assert (
        sum(sorted(WORD.findall(c.answer.lower())) == sorted(WORD.findall(c.distractor.lower())) for c in same_bag)
        >= 50
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ('["a list"]', "each line is one object"),
        ('{"id": "x", "category": "negation", "query": "q", "answer": "a"}', "'distractor' got None"),
        ('{"id": "x", "category": "negation", "query": " ", "answer": "a", "distractor": "b"}', "'query' got ' '"),
        ('{"id": "x", "category": "negation", "query": "q", "answer": "a", "distractor": "a"}', "same text"),
    ],
)
def test_bad_case_files_name_the_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "ok", "category": "negation", "query": "q", "answer": "a", "distractor": "b"}\n' + line)
    with pytest.raises(ConfigurationError, match=re.escape(message)) as info:
        load_cases(path)
    assert f"{path}:2" in str(info.value)


def test_repeated_ids_and_unknown_categories_are_refused(tmp_path: Path) -> None:
    line = '{"id": "x", "category": "negation", "query": "q", "answer": "a", "distractor": "b"}\n'
    path = tmp_path / "cases.jsonl"
    path.write_text(line + line)
    with pytest.raises(ConfigurationError, match="id 'x' repeats"):
        load_cases(path)
    with pytest.raises(ConfigurationError, match="categories got \\['sarcasm'\\]"):
        load_cases(categories=("sarcasm",))


def test_summary_counts_accuracy_ties_and_margin() -> None:
    negation = load_cases(categories=("negation",))
    cases = [negation[0], negation[1], load_cases(categories=("direction",))[0]]
    # negation: one right by 0.5 and one tie; direction: one wrong by 0.25
    stats = summarise(cases, [(1.0, 0.5), (0.3, 0.3), (0.5, 0.75)])["per_category"]
    assert stats["negation"] == {"cases": 2, "accuracy": 0.5, "ties": 1, "mean_margin": 0.25}
    assert stats["direction"] == {"cases": 1, "accuracy": 0.0, "ties": 0, "mean_margin": -0.25}
    assert stats["all"] == {"cases": 3, "accuracy": pytest.approx(1 / 3, abs=1e-4), "ties": 1, "mean_margin": 0.08333}


@pytest.mark.slow
def test_seed_case_with_the_real_models() -> None:
    """BM25 ties on "small fast car", the bi-encoder barely separates the two, the report says what the CE does."""
    seed = [case for case in load_cases() if case.id == SEED_CASE_ID]
    report = run_probes([STARTER_RERANK_MODEL], cases=seed)
    bm25, bi_encoder, cross_encoder = (report["per_case"][0][name] for name in report["scorers"])
    assert bm25[0] == pytest.approx(bm25[1], abs=1e-9) and bm25[0] > 0  # same words, same score
    assert abs(bi_encoder[0] - bi_encoder[1]) < 0.02  # summaries computed apart barely differ
    assert report["scorers"]["bm25"]["per_category"]["attribute_binding"]["ties"] == 1
    margin = cross_encoder[0] - cross_encoder[1]
    verdict = "prefers the answer" if margin > 0 else "prefers the distractor"
    expected = f"cross-encoder {STARTER_RERANK_MODEL} {verdict} ({cross_encoder[0]:.4f} vs {cross_encoder[1]:.4f}"
    assert expected in report["findings"][0] and "bm25 ties" in report["findings"][0]
    assert expected in markdown(report)


@pytest.mark.slow
def test_probe_command_json_plot_and_any_model_folder(tmp_path: Path, tiny_cross_encoder: str) -> None:  # noqa: F811
    plot = tmp_path / "probes.png"
    result = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", "probe", "--model", STARTER_RERANK_MODEL]
        + ["--model", tiny_cross_encoder, "--plot", str(plot), "--json", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["version"] == "v1" and report["cases"] == len(load_cases())
    assert list(report["scorers"]) == [
        "bm25",
        "bi-encoder sentence-transformers/all-MiniLM-L6-v2",
        f"cross-encoder {STARTER_RERANK_MODEL}",
        f"cross-encoder {tiny_cross_encoder}",
    ]
    for name, scorer in report["scorers"].items():  # the table is what the per-case scores say
        for category in CATEGORIES:
            margins = [c[name][0] - c[name][1] for c in report["per_case"] if c["category"] == category]
            assert scorer["per_category"][category]["accuracy"] == pytest.approx(
                sum(m > 1e-6 for m in margins) / len(margins), abs=1e-4
            )
    assert report["scorers"]["bm25"]["per_category"]["attribute_binding"]["ties"] >= 25  # bag of words: ties
    assert len(report["findings"]) == 3  # the seed case, then one line per cross-encoder
    assert plot.read_bytes()[:4] == b"\x89PNG"
    table = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", "probe", "--model", tiny_cross_encoder]
        + ["--category", "negation", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert table.returncode == 0, table.stderr[-2000:]
    assert "| negation (27) |" in table.stdout and "attribute binding" not in table.stdout.split("\n- ")[0]


def test_probe_command_refuses_a_bad_cases_file(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("{broken\n")
    result = subprocess.run(
        [sys.executable, "-m", "haystack_rerank.cli", "probe", "--cases", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and f"{path}:1: not valid JSON" in result.stderr
