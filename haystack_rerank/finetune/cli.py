"""`haystack-rerank finetune`: the typer command around `haystack_rerank.finetune.finetune`."""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from haystack_rerank.cli_options import report


class Loss(str, Enum):
    listwise = "listwise"
    bce = "bce"


def finetune_command(  # noqa: PLR0913 - one option per training knob, as on the command line
    dataset_dir: Annotated[
        Path, typer.Option(help="BEIR folder: corpus.jsonl, queries_<split>.jsonl, qrels/<split>.tsv.")
    ],
    output_dir: Annotated[Path, typer.Option(help="Folder for the fine-tuned model and its card.")],
    first_stage_run: Annotated[
        Path | None,
        typer.Option(help="TREC run of the training split to mine hard negatives from (else TF-IDF)."),
    ] = None,
    split: Annotated[str, typer.Option(help="Split to train on.")] = "train",
    base_model: Annotated[str, typer.Option(help="Hub name or folder of the starting model.")] = (
        "sentence-transformers/all-MiniLM-L6-v2"
    ),
    loss: Annotated[Loss, typer.Option(help="listwise: softmax over positive + hard negatives; bce: pointwise.")] = (
        Loss.listwise
    ),
    num_negatives: Annotated[int, typer.Option(min=1, help="Hard negatives per query.")] = 7,
    negatives_top_k: Annotated[int, typer.Option(min=1, help="Sample negatives from this many top ranks.")] = 30,
    title_pairs: Annotated[int, typer.Option(min=0, help="Extra self-supervised title -> abstract queries.")] = 0,
    epochs: Annotated[float, typer.Option(help="Training epochs (ignored when --max-steps > 0).")] = 1.0,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (-1: use --epochs).")] = -1,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per step (a listwise row = 1 + negatives pairs).")] = 4,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate of the encoder.")] = 5e-5,
    head_learning_rate: Annotated[float, typer.Option(help="Learning rate of the new pooler + classifier.")] = 1e-3,
    warmup_ratio: Annotated[float, typer.Option(help="Linear warm-up share of the steps.")] = 0.1,
    max_length: Annotated[int, typer.Option(min=8, help="Tokens per (query, document) pair.")] = 192,
    reinit_pooler: Annotated[
        bool, typer.Option(help="Identity pooler + fresh classifier (for bi-encoder bases).")
    ] = True,
    bf16: Annotated[bool, typer.Option(help="bf16 autocast on CPU.")] = True,
    seed: Annotated[int, typer.Option(help="Seed for negatives, data order and the head init.")] = 42,
    eval_split: Annotated[str, typer.Option(help="Held-out split for model selection ('' = none).")] = "dev",
    eval_run: Annotated[Path | None, typer.Option(help="TREC run of the eval split whose top-k is reranked.")] = None,
    eval_queries: Annotated[int, typer.Option(min=1, help="Eval queries used during training.")] = 50,
    eval_top_k: Annotated[int, typer.Option(min=1, help="Candidates reranked per eval query.")] = 20,
    eval_steps: Annotated[
        int | None, typer.Option(help="Evaluate (and checkpoint) every N steps (default: 4 times).")
    ] = None,
    max_train_queries: Annotated[
        int | None, typer.Option(help="Use only the first N training queries (a slice).")
    ] = None,
    threads: Annotated[int, typer.Option(min=0, help="torch threads (0 = torch's default).")] = 1,
    keep_checkpoints: Annotated[bool, typer.Option(help="Keep OUTPUT_DIR/checkpoints after training.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")] = False,
) -> None:
    """Fine-tune a cross-encoder on a BEIR split with hard negatives; keep the best dev checkpoint."""
    from haystack_rerank.finetune import finetune

    result = finetune(
        dataset_dir,
        split,
        base_model,
        output_dir,
        first_stage_run,
        loss=loss.value,
        num_negatives=num_negatives,
        negatives_top_k=negatives_top_k,
        title_pairs=title_pairs,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        head_learning_rate=head_learning_rate,
        warmup_ratio=warmup_ratio,
        max_length=max_length,
        reinit_pooler=reinit_pooler,
        bf16=bf16,
        seed=seed,
        eval_split=eval_split or None,
        eval_run=str(eval_run) if eval_run else None,
        eval_queries=eval_queries,
        eval_top_k=eval_top_k,
        eval_steps=eval_steps,
        max_train_queries=max_train_queries,
        threads=threads or None,
        keep_checkpoints=keep_checkpoints,
        command=shlex.join(["haystack-rerank", *sys.argv[1:]]),
    )
    summary = {
        "output_dir": str(result.output_dir),
        "training_queries": len(result.training_queries),
        "train_rows": result.train_rows,
        "steps": result.steps,
        "minutes": round(result.seconds / 60, 1),
        "first_loss": result.train_losses[0][1] if result.train_losses else None,
        "last_loss": result.train_losses[-1][1] if result.train_losses else None,
        "best_dev_ndcg@10": result.best_metric,
    }
    report(summary, as_json)
