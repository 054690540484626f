"""`haystack-rerank probe`: the behaviour probes from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from haystack_rerank import atomic
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, STARTER_RERANK_MODEL


def probe_command(
    model: Annotated[
        list[str] | None,
        typer.Option(help="Cross-encoder to probe: hub name or local folder; repeat to compare several."),
    ] = None,
    embedding_model: Annotated[str, typer.Option(help="Bi-encoder scored by cosine.")] = DEFAULT_EMBEDDING_MODEL,
    cases: Annotated[
        Path | None, typer.Option(help="JSONL of cases (id, category, query, answer, distractor); default: shipped.")
    ] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only this category; repeat for several.")] = None,
    max_length: Annotated[
        int | None, typer.Option(min=8, help="Cross-encoder tokens per pair (default: shipped).")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads (default: torch's own).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a bar chart of accuracy per category here (.png).")] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the full JSON report (every case) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report instead of the table.")] = False,
) -> None:
    """
    Contrastive behaviour probes: does a scorer rank the document that answers above one with (nearly) the same
    words that does not? BM25, the bi-encoder and each cross-encoder, per category: accuracy, ties, mean margin.
    """
    from haystack_rerank.cli_options import report
    from haystack_rerank.probes import load_cases, markdown, run_probes
    from haystack_rerank.probes import plot as draw

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    selected = load_cases(cases, tuple(category) if category else None)
    probed = run_probes(
        model or [STARTER_RERANK_MODEL], embedding_model=embedding_model, cases=selected, max_length=max_length
    )
    if output is not None:
        atomic.write_text(output, json.dumps(probed, indent=2))
    if plot is not None:
        probed["plot"] = str(draw(probed, plot))
    report(probed, as_json, markdown)
