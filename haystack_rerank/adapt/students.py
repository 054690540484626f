"""
Students trained on the teacher's soft labels, with sentence-transformers' trainers and losses.

- Cross-encoder: `ListNetLoss` (cross-entropy to the teacher's softmax over each candidate list, i.e. KL up
  to a constant), labels = teacher score / temperature. It starts from the teacher's weights (or their
  first `layers` layers, without dropout, for a small first-pass model of a cascade).
- Bi-encoder: `DistillKLDivLoss` over (query, positive, negatives...) with the teacher's scores as targets,
  without its temperature-squared factor (`teacher_kl_loss`).

Training runs in a `checkpoints/` folder and resumes from its last checkpoint; the finished model is saved to
a temporary folder and renamed into place, so a failed run never leaves a half-written model folder.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haystack_rerank.errors import ConfigurationError

logger = logging.getLogger(__name__)


@dataclass
class TrainingRun:
    steps: int
    seconds: float
    first_loss: float | None
    last_loss: float | None
    rows: int


def cross_encoder_rows(lists: Sequence[dict[str, Any]], temperature: float) -> list[dict[str, Any]]:
    return [
        {
            "query": item["query"],
            "docs": [text for _, text, _ in item["docs"]],
            "labels": [score / temperature for _, _, score in item["docs"]],
        }
        for item in lists
    ]


def bi_encoder_rows(lists: Sequence[dict[str, Any]], ways: int, seed: int) -> list[dict[str, Any]]:
    """(query, positive, negative_1..ways-1, label=[teacher scores]); negatives sampled from the hard ones."""
    rng = random.Random(seed)
    rows = []
    for item in lists:
        positive, negatives = item["docs"][0], item["docs"][1:]
        if len(negatives) < ways - 1:
            continue
        picked = sorted(rng.sample(range(len(negatives)), ways - 1))
        chosen = [positive, *(negatives[i] for i in picked)]
        row = {"query": item["query"]}
        row.update({f"text_{i}": text for i, (_, text, _) in enumerate(chosen)})
        row["label"] = [score for _, _, score in chosen]
        rows.append(row)
    return rows


def teacher_kl_loss(
    model: Any, *, student_temperature: float, teacher_temperature: float, in_batch_weight: float = 0.0
) -> Any:
    """
    sentence-transformers' `DistillKLDivLoss` without its final `* student_temperature**2`. That factor (Hinton's,
    for temperatures > 1) shrinks the gradient of a cosine student at temperature 0.05 by 400x against MNRL's
    scale 20: measured, first-step gradient norm 0.024 with it, 5.9 without, and a loss that did not move.

    `in_batch_weight` > 0 adds `MultipleNegativesRankingLoss` on the same embeddings: each query against every
    passage of the batch, not only the row's few hard negatives. Measured on SciFact: a sharper student (dense dev
    nDCG@10 +0.018 over KL alone), Recall@100 about the same (BENCHMARKS "In-batch negatives ...").
    """
    from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss, MultipleNegativesRankingLoss

    class TeacherKLDivLoss(DistillKLDivLoss):
        def __init__(self) -> None:
            super().__init__(model, student_temperature=student_temperature, teacher_temperature=teacher_temperature)
            self.in_batch = MultipleNegativesRankingLoss(model) if in_batch_weight > 0 else None

        def compute_loss_from_embeddings(self, embeddings: list[Any], labels: Any) -> Any:
            loss = super().compute_loss_from_embeddings(embeddings, labels) / self.student_temperature**2
            if self.in_batch is not None:
                loss = loss + in_batch_weight * self.in_batch.compute_loss_from_embeddings(embeddings, labels)
            return loss

    return TeacherKLDivLoss()


def check_model_kind(model: str, kind: str) -> None:
    """Refuse a local folder that is not a `kind` ("cross-encoder" or "bi-encoder"), naming what it is."""
    import json

    from haystack_rerank.models import resolve_model

    folder = Path(resolve_model(model))
    if not folder.is_dir():
        return  # a hub name: sentence-transformers says what it is when it loads
    config = folder / "config.json"
    architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures", []) if config.is_file() else []
    classifier = any(name.endswith("ForSequenceClassification") for name in architectures)
    sentence_model = (folder / "modules.json").is_file() and not classifier
    if kind == "cross-encoder" and not classifier:
        msg = (
            f"adapt: {model!r} is not a cross-encoder (config.json architectures {architectures}); the teacher and "
            "the cross-encoder student need a *ForSequenceClassification reranker, e.g. the shipped starter model."
        )
        raise ConfigurationError(msg)
    if kind == "bi-encoder" and not sentence_model:
        msg = (
            f"adapt: {model!r} is not a bi-encoder (needs a sentence-transformers folder with modules.json and an "
            f"encoder, found architectures {architectures}); pass the embedding model, e.g. all-MiniLM-L6-v2."
        )
        raise ConfigurationError(msg)


def load_cross_encoder(model: str, *, max_length: int, layers: int | None = None) -> Any:
    """The teacher's weights as a trainable `CrossEncoder`; `layers` keeps only the first n encoder layers."""
    from sentence_transformers import CrossEncoder

    from haystack_rerank.models import resolve_model

    check_model_kind(model, "cross-encoder")
    try:
        student = CrossEncoder(resolve_model(model), max_length=max_length)
    except (OSError, ValueError) as err:
        msg = f"adapt: {model!r} does not load as a cross-encoder ({err}). Pass a cross-encoder folder or hub name."
        raise ConfigurationError(msg) from err
    if student.num_labels != 1:
        msg = f"adapt: {model!r} has {student.num_labels} output labels; a reranker has 1. Pass a reranker."
        raise ConfigurationError(msg)
    if layers is not None:
        encoder = getattr(student.model, student.model.base_model_prefix).encoder
        total = len(encoder.layer)
        if not 1 <= layers <= total:
            msg = f"adapt student_layers got {layers}; {model!r} has {total} layers, choose 1..{total}."
            raise ConfigurationError(msg)
        encoder.layer = encoder.layer[:layers]
        student.model.config.num_hidden_layers = layers
        _without_dropout(student.model)
    return student


def _without_dropout(model: Any) -> None:
    """
    A truncated student starts with a near-constant output (the classifier reads layer n's CLS as if it were the
    last layer's); dropout noise then drowns the small differences it must grow from, and its loss stays flat
    (measured, 3 layers at 2e-4: loss 2.09 after 150 steps with dropout, 1.36 after 80 without). Train it without.
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
        if getattr(model.config, name, None):
            setattr(model.config, name, 0.0)


def load_bi_encoder(model: str, *, max_seq_length: int) -> Any:
    from sentence_transformers import SentenceTransformer

    from haystack_rerank.models import output_dimension, resolve_model

    check_model_kind(model, "bi-encoder")
    try:
        student = SentenceTransformer(resolve_model(model), device="cpu")
    except (OSError, ValueError) as err:
        msg = f"adapt: {model!r} does not load as a bi-encoder ({err}). Pass a sentence-transformers folder."
        raise ConfigurationError(msg) from err
    if output_dimension(student) is None:
        msg = f"adapt: {model!r} has no sentence-embedding output; pass a sentence-transformers bi-encoder."
        raise ConfigurationError(msg)
    student.max_seq_length = max_seq_length
    return student


def train(
    kind: str,
    model: Any,
    rows: list[dict[str, Any]],
    loss: Any,
    *,
    work_dir: Path,
    output_dir: Path,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress_bar: bool = True,
) -> TrainingRun:
    """Train `model` on `rows` for `steps` (resuming from `work_dir`'s last checkpoint) and save it atomically."""
    from datasets import Dataset

    if not rows:
        msg = f"adapt: no training rows for the {kind} student (every list was filtered out); see the filter counts."
        raise ConfigurationError(msg)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    dataset = Dataset.from_list(rows)
    checkpoints = work_dir / "checkpoints"
    common = {
        "output_dir": str(checkpoints),
        "max_steps": steps,
        "per_device_train_batch_size": batch_size,
        "learning_rate": learning_rate,
        "warmup_steps": max(1, steps // 10),
        "weight_decay": 0.01,
        "lr_scheduler_type": "linear",
        "bf16": _bf16(),
        "use_cpu": True,
        "seed": seed,
        "data_seed": seed,
        "logging_steps": max(1, min(10, steps // 10)),
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": max(1, steps // 4),
        "save_total_limit": 1,
        "report_to": "none",
        "disable_tqdm": not progress_bar,
        "dataloader_num_workers": 0,
    }
    if kind == "cross-encoder":
        from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments

        trainer = CrossEncoderTrainer(
            model=model, args=CrossEncoderTrainingArguments(**common), train_dataset=dataset, loss=loss
        )
    else:
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

        trainer = SentenceTransformerTrainer(
            model=model, args=SentenceTransformerTrainingArguments(**common), train_dataset=dataset, loss=loss
        )
    resume = any(checkpoints.glob("checkpoint-*"))
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - started
    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    save_atomically(model, output_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return TrainingRun(
        steps=int(trainer.state.global_step),
        seconds=seconds,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        rows=len(rows),
    )


def save_atomically(model: Any, output_dir: Path) -> None:
    """Save into `<output_dir>.tmp`, then swap it in: readers see the old folder or the new one, never half."""
    partial = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    if output_dir.exists():
        shutil.rmtree(output_dir)
    partial.rename(output_dir)


def _bf16() -> bool:
    from haystack_rerank.components.rankers._inference import bf16_supported

    return bool(bf16_supported())
