"""Run the probes and summarise them: accuracy, ties and mean margin per category and scorer; findings; plot."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from haystack_rerank import atomic
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, STARTER_RERANK_MODEL
from haystack_rerank.probes import scorers
from haystack_rerank.probes.cases import (
    CATEGORIES,
    CATEGORY_TITLES,
    PROBES_VERSION,
    SEED_CASE_ID,
    ProbeCase,
    load_cases,
)

TIE_TOLERANCE = 1e-6  # scores closer than this count as a tie (the scorer cannot tell the two apart)
WEAK_ACCURACY = 0.8  # below this a category is reported as a weakness; at or below 0.5, as a failure
BM25 = "bm25"


def run_probes(
    models: Sequence[str] = (STARTER_RERANK_MODEL,),
    *,
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    cases: Sequence[ProbeCase] | None = None,
    max_length: int | None = None,
) -> dict[str, Any]:
    """
    Score every case with BM25, the bi-encoder `embedding_model` and each cross-encoder in `models` (hub names or
    local folders) and return the report (JSON-serialisable; `markdown(report)` renders it).
    """
    cases = list(cases) if cases is not None else load_cases()
    started = time.perf_counter()
    scored: dict[str, list[tuple[float, float]]] = {BM25: scorers.bm25_scores(cases)}
    kinds = {BM25: "bag of words"}
    scored[f"bi-encoder {embedding_model}"] = scorers.bi_encoder_scores(cases, embedding_model)
    kinds[f"bi-encoder {embedding_model}"] = "bi-encoder"
    for model in models:
        scored[f"cross-encoder {model}"] = scorers.cross_encoder_scores(cases, model, max_length)
        kinds[f"cross-encoder {model}"] = "cross-encoder"
    report: dict[str, Any] = {
        "version": PROBES_VERSION,
        "cases": len(cases),
        "categories": [c for c in CATEGORIES if any(case.category == c for case in cases)]
        + sorted({case.category for case in cases} - set(CATEGORIES)),
        "scorers": {name: {"kind": kinds[name], **summarise(cases, pairs)} for name, pairs in scored.items()},
        "per_case": [
            {"id": case.id, "category": case.category, "query": case.query}
            | {name: [round(pairs[i][0], 6), round(pairs[i][1], 6)] for name, pairs in scored.items()}
            for i, case in enumerate(cases)
        ],
    }
    report["findings"] = findings(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def summarise(cases: Sequence[ProbeCase], pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Per category and overall: cases, accuracy (answer strictly above), ties and mean margin (answer - distractor)."""
    groups: dict[str, list[float]] = {}
    for case, (answer, distractor) in zip(cases, pairs, strict=True):
        groups.setdefault(case.category, []).append(answer - distractor)
        groups.setdefault("all", []).append(answer - distractor)
    return {"per_category": {category: _stats(margins) for category, margins in groups.items()}}


def _stats(margins: list[float]) -> dict[str, Any]:
    correct = sum(margin > TIE_TOLERANCE for margin in margins)
    ties = sum(abs(margin) <= TIE_TOLERANCE for margin in margins)
    return {
        "cases": len(margins),
        "accuracy": round(correct / len(margins), 4),
        "ties": ties,
        "mean_margin": round(sum(margins) / len(margins), 5),
    }


def findings(report: dict[str, Any]) -> list[str]:
    """Plain sentences: what each scorer does on the seed case, and where each cross-encoder is weak or fails."""
    lines = []
    seed = next((case for case in report["per_case"] if case["id"] == SEED_CASE_ID), None)
    if seed is not None:
        parts = []
        for name in report["scorers"]:
            answer, distractor = seed[name]
            margin = answer - distractor
            verdict = (
                "ties"
                if abs(margin) <= TIE_TOLERANCE
                else ("prefers the answer" if margin > 0 else "prefers the distractor")
            )
            parts.append(f"{name} {verdict} ({answer:.4f} vs {distractor:.4f}, margin {margin:+.4f})")
        lines.append(f"Seed case {SEED_CASE_ID} ({seed['query']!r}): " + "; ".join(parts) + ".")
    bi_encoder = next((s for n, s in report["scorers"].items() if s["kind"] == "bi-encoder"), None)
    for name, scorer in report["scorers"].items():
        if scorer["kind"] != "cross-encoder":
            continue
        weak = []
        for category in report["categories"]:
            stats = scorer["per_category"][category]
            title = CATEGORY_TITLES.get(category, category)
            baseline = bi_encoder["per_category"][category]["accuracy"] if bi_encoder else None
            versus = f", bi-encoder {baseline:.0%}" if baseline is not None else ""
            if stats["accuracy"] <= 0.5:
                weak.append(f"FAILS {title} ({stats['accuracy']:.0%}, no better than chance{versus})")
            elif stats["accuracy"] < WEAK_ACCURACY:
                weak.append(f"is weak on {title} ({stats['accuracy']:.0%}{versus})")
        overall = scorer["per_category"]["all"]["accuracy"]
        summary = "; ".join(weak) if weak else f"passes every category (each >= {WEAK_ACCURACY:.0%})"
        lines.append(f"{name}: {overall:.0%} of all cases; {summary}.")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (accuracy / ties / mean margin per category and scorer) and the findings."""
    names = list(report["scorers"])
    header = "| category | " + " | ".join(names) + " |"
    lines = [
        f"Behaviour probes {report['version']}: {report['cases']} cases; each cell is accuracy (answer scored above "
        "its distractor) / ties / mean margin.",
        "",
        header,
        "|---|" + "---|" * len(names),
    ]
    for category in [*report["categories"], "all"]:
        cells = []
        for name in names:
            stats = report["scorers"][name]["per_category"][category]
            cells.append(f"{stats['accuracy']:.0%} / {stats['ties']} / {stats['mean_margin']:+.3f}")
        title = CATEGORY_TITLES.get(category, category)
        count = report["scorers"][names[0]]["per_category"][category]["cases"]
        lines.append(f"| {title} ({count}) | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {line}" for line in report["findings"]]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy per category and scorer as grouped bars; ties hatched on top (neither right nor wrong)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    categories = [*report["categories"], "all"]
    names = list(report["scorers"])
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(2.0 + 1.6 * len(categories), 4.5))
    for offset, name in enumerate(names):
        stats = [report["scorers"][name]["per_category"][c] for c in categories]
        xs = [i + (offset - (len(names) - 1) / 2) * width for i in range(len(categories))]
        accuracy = [s["accuracy"] for s in stats]
        bars = axes.bar(xs, accuracy, width, label=name)
        ties = [s["ties"] / s["cases"] for s in stats]
        axes.bar(xs, ties, width, bottom=accuracy, color=bars[0].get_facecolor(), alpha=0.35, hatch="//")
    axes.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    axes.set_xticks(range(len(categories)), [CATEGORY_TITLES.get(c, c).replace(" ", "\n", 1) for c in categories])
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("accuracy (hatched: ties)")
    axes.set_title(f"Behaviour probes {report['version']} ({report['cases']} cases)")
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path = Path(path)
    atomic.write_with(path, lambda temporary: figure.savefig(temporary, dpi=120, format=path.suffix[1:] or "png"))
    plt.close(figure)
    return path


__all__ = ["load_cases", "markdown", "plot", "run_probes"]
