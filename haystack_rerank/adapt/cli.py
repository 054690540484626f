"""`haystack-rerank adapt`: the typer command around `haystack_rerank.adapt.adapt`."""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from haystack_rerank.adapt.config import AdaptConfig
from haystack_rerank.models import DEFAULT_EMBEDDING_MODEL, STARTER_RERANK_MODEL

_DEFAULTS = AdaptConfig(corpus="", output_dir="")


def adapt_command(  # noqa: PLR0913 - one option per knob, as on the command line
    ctx: typer.Context,
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl (or a BEIR folder) of the corpus to adapt to.")],
    output_dir: Annotated[Path, typer.Option(help="Folder for the students, their cards, pipelines and report.")],
    teacher_model: Annotated[str, typer.Option(help="Teacher cross-encoder (hub name or folder).")] = (
        STARTER_RERANK_MODEL
    ),
    teacher_alpha: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Teacher = alpha * CE + (1 - alpha) * first stage; 1 = CE alone.")
    ] = 0.5,
    embedding_model: Annotated[str, typer.Option(help="Bi-encoder of the first stage, start of its student.")] = (
        DEFAULT_EMBEDDING_MODEL
    ),
    pseudo_queries: Annotated[int, typer.Option(min=1, help="Pseudo-queries written from the corpus.")] = (
        _DEFAULTS.pseudo_queries
    ),
    strategies: Annotated[str, typer.Option(help="Comma-separated: title,sentence,keywords,question.")] = ",".join(
        _DEFAULTS.strategies
    ),
    labelled_dataset: Annotated[
        Path | None, typer.Option(help="BEIR folder whose qrels/<labelled-split>.tsv labels extra training queries.")
    ] = None,
    labelled_split: Annotated[str, typer.Option(help="Split of --labelled-dataset to train on.")] = "train",
    eval_dataset: Annotated[Path | None, typer.Option(help="BEIR folder to report before/after on.")] = None,
    eval_split: Annotated[str, typer.Option(help="Split of --eval-dataset (never trained on).")] = "dev",
    students: Annotated[str, typer.Option(help="Comma-separated: cross-encoder,bi-encoder.")] = ",".join(
        _DEFAULTS.students
    ),
    student_layers: Annotated[
        int | None,
        typer.Option(min=1, help="Keep the first N layers of the cross-encoder student (a cascade's small model)."),
    ] = None,
    depth: Annotated[int, typer.Option(min=2, help="Hybrid candidates per query scored by the teacher.")] = (
        _DEFAULTS.depth
    ),
    cross_encoder_steps: Annotated[int, typer.Option(min=1)] = _DEFAULTS.cross_encoder_steps,
    bi_encoder_steps: Annotated[int, typer.Option(min=1)] = _DEFAULTS.bi_encoder_steps,
    bi_encoder_in_batch_weight: Annotated[
        float, typer.Option(min=0.0, help="Weight of in-batch negatives (MNRL) added to the bi-encoder's KL.")
    ] = _DEFAULTS.bi_encoder_in_batch_weight,
    bi_encoder_interpolation: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Keep weight * student + (1 - weight) * its start model (WiSE-FT)."),
    ] = _DEFAULTS.bi_encoder_interpolation,
    cross_encoder_learning_rate: Annotated[
        float | None,
        typer.Option(help="Cross-encoder student's learning rate (default 2e-5; 2e-4 with --student-layers)."),
    ] = None,
    eval_depth: Annotated[int, typer.Option(min=1, help="Candidates reranked in the before/after report.")] = (
        _DEFAULTS.eval_depth
    ),
    seed: Annotated[int, typer.Option()] = _DEFAULTS.seed,
    threads: Annotated[int, typer.Option(min=0, help="torch threads (0 = torch's default).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary.")] = False,
) -> None:
    """Adapt to a corpus: pseudo-queries, teacher soft labels, cross-encoder and bi-encoder students."""
    from haystack_rerank.adapt import adapt
    from haystack_rerank.adapt.report import markdown
    from haystack_rerank.adapt.stores import AdaptStores
    from haystack_rerank.cli_options import report, settings_of

    config = AdaptConfig(
        corpus=str(corpus),
        output_dir=str(output_dir),
        teacher_model=teacher_model,
        teacher_alpha=None if teacher_alpha >= 1.0 else teacher_alpha,
        embedding_model=embedding_model,
        pseudo_queries=pseudo_queries,
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        labelled_dataset=str(labelled_dataset) if labelled_dataset else None,
        labelled_split=labelled_split,
        eval_dataset=str(eval_dataset) if eval_dataset else None,
        eval_split=eval_split,
        students=tuple(s.strip() for s in students.split(",") if s.strip()),
        student_layers=student_layers,
        depth=depth,
        cross_encoder_steps=cross_encoder_steps,
        bi_encoder_steps=bi_encoder_steps,
        bi_encoder_in_batch_weight=bi_encoder_in_batch_weight,
        bi_encoder_interpolation=bi_encoder_interpolation,
        cross_encoder_learning_rate=cross_encoder_learning_rate,
        eval_depth=eval_depth,
        seed=seed,
        threads=threads or None,
        command=shlex.join(["haystack-rerank", *sys.argv[1:]]),
    )
    settings = replace(settings_of(ctx), embedding_model=embedding_model)  # the app's connection options
    summary = adapt(config, AdaptStores(settings))
    report(summary, as_json, lambda done: markdown(done["evaluation"]))
