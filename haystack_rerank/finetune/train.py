"""Fine-tune a cross-encoder on a BEIR split with hard negatives mined from a first-stage run."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from haystack_rerank import beir
from haystack_rerank.atomic import atomic_folder
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require
from haystack_rerank.finetune import data as ftdata
from haystack_rerank.finetune.card import write_model_card
from haystack_rerank.finetune.model import build_cross_encoder, head_parameter_names, listwise_loss

logger = logging.getLogger(__name__)

LOSSES = ("listwise", "bce")
TRAINING_QUERIES_FILE = "training_queries.json"
TRAINING_LOG_FILE = "training_log.json"


@dataclass
class FinetuneConfig:
    """Everything that defines a run; written to the model card and `training_log.json`."""

    dataset_dir: str
    split: str = "train"
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    output_dir: str = "finetuned-cross-encoder"
    first_stage_run: str | None = None
    loss: Literal["listwise", "bce"] = "listwise"
    num_negatives: int = 7
    negatives_top_k: int = 30
    title_pairs: int = 0
    max_train_queries: int | None = None
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 192
    reinit_pooler: bool = True
    bf16: bool = True
    seed: int = 42
    eval_split: str | None = "dev"
    eval_run: str | None = None
    eval_queries: int = 50
    eval_top_k: int = 20
    eval_steps: int | None = None
    logging_steps: int = 10
    threads: int | None = 1
    keep_checkpoints: bool = False
    progress_bar: bool = True
    command: str | None = None


@dataclass
class FinetuneResult:
    """What `finetune` produced: the model folder, the training curve and the dev figures."""

    output_dir: Path
    training_queries: list[str]
    train_losses: list[tuple[int, float]]
    eval_history: list[dict[str, float]]
    best_checkpoint: str | None
    best_metric: float | None
    seconds: float
    steps: int
    train_rows: int
    config: dict[str, Any] = field(default_factory=dict)


def finetune(
    dataset_dir: str | Path,
    split: str = "train",
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2",
    output_dir: str | Path = "finetuned-cross-encoder",
    first_stage_run: str | Path | None = None,
    **options: Any,
) -> FinetuneResult:
    """
    Fine-tune `base_model` as a cross-encoder on `split` of a BEIR dataset and save it to `output_dir`.

    Negatives: per query, `num_negatives` documents sampled (seeded) from the top `negatives_top_k` of
    `first_stage_run` (a TREC run) minus the judged positives; without a run, a TF-IDF run over the
    corpus is used. `title_pairs` adds that many self-supervised (title -> own abstract) rows from the
    corpus. `loss="listwise"` is softmax cross-entropy over (positive, hard negatives); `loss="bce"` is
    pointwise binary cross-entropy. With `eval_split`, a CrossEncoderRerankingEvaluator reranks the top
    `eval_top_k` of `eval_run` for `eval_queries` queries every `eval_steps`, and the best checkpoint
    (nDCG@10) is the one saved. The folder gets a model card `README.md`, `training_queries.json`
    (ids of every training query; eval queries must not appear there) and `training_log.json`.
    See `FinetuneConfig` for every option and its default.
    """
    unknown = set(options) - set(FinetuneConfig.__dataclass_fields__)
    if unknown:
        msg = f"finetune got unknown option(s) {sorted(unknown)}; see FinetuneConfig."
        raise ConfigurationError(msg)
    config = FinetuneConfig(
        dataset_dir=str(dataset_dir),
        split=split,
        base_model=base_model,
        output_dir=str(output_dir),
        first_stage_run=str(first_stage_run) if first_stage_run else None,
        **options,
    )
    _validate(config)
    return _run(config)


def _validate(config: FinetuneConfig) -> None:
    if config.loss not in LOSSES:
        raise ConfigurationError(f"finetune loss={config.loss!r}; choose one of {', '.join(LOSSES)}.")
    if config.eval_split is not None and config.eval_split == config.split:
        raise ConfigurationError(f"eval_split={config.eval_split!r} is the training split; pick a held-out split.")
    for name in ("num_negatives", "negatives_top_k", "batch_size", "max_length", "logging_steps"):
        if getattr(config, name) < 1:
            raise ConfigurationError(f"finetune {name}={getattr(config, name)!r}; it must be >= 1.")
    if config.title_pairs < 0:
        raise ConfigurationError(f"finetune title_pairs={config.title_pairs!r}; it must be >= 0.")


def _run(config: FinetuneConfig) -> FinetuneResult:  # noqa: PLR0915 - one linear recipe reads best in one place
    require("train", "Fine-tuning (haystack-rerank finetune)")
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import set_seed

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if config.threads:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # -- data ------------------------------------------------------------------------------------------
    train = ftdata.load_split(config.dataset_dir, config.split)
    evaluation = (
        ftdata.load_split(config.dataset_dir, config.eval_split, corpus=train.corpus) if config.eval_split else None
    )
    train_qids = sorted(train.positives)
    if config.max_train_queries:
        train_qids = train_qids[: config.max_train_queries]
    if evaluation is not None:
        _check_no_eval_queries(train, train_qids, evaluation)
    queries = {qid: train.queries[qid] for qid in train_qids}
    positives = {qid: train.positives[qid] for qid in train_qids}

    run = (
        beir.read_trec_run(config.first_stage_run)
        if config.first_stage_run
        else ftdata.lexical_neighbours(train.corpus, queries, top_k=config.negatives_top_k)
    )
    missing = [qid for qid in train_qids if qid not in run]
    if len(missing) == len(train_qids):
        msg = (
            f"first_stage_run {config.first_stage_run} has none of the {config.split} queries; "
            "pass the run of that split."
        )
        raise ConfigurationError(msg)
    negatives = ftdata.mine_hard_negatives(
        run,
        train.qrels,
        num_negatives=config.num_negatives,
        top_k=config.negatives_top_k,
        seed=config.seed,
        queries=train_qids,
    )
    hidden: list[str] = []
    if config.title_pairs:
        excluded = set(evaluation.queries) if evaluation else set()
        t_queries, t_qrels = ftdata.title_queries(train.corpus, config.title_pairs, config.seed)
        t_queries = {qid: text for qid, text in t_queries.items() if text not in excluded}
        t_run = ftdata.lexical_neighbours(train.corpus, t_queries, top_k=config.negatives_top_k)
        negatives.update(
            ftdata.mine_hard_negatives(
                t_run,
                t_qrels,
                num_negatives=config.num_negatives,
                top_k=config.negatives_top_k,
                seed=config.seed,
            )
        )
        queries.update(t_queries)
        positives.update({qid: list(docs) for qid, docs in t_qrels.items() if qid in t_queries})
        hidden = list(t_queries)

    if config.loss == "listwise":
        rows = ftdata.listwise_rows(
            queries, positives, negatives, train.corpus, config.num_negatives, hide_title=hidden
        )
    else:
        rows = ftdata.pointwise_rows(queries, positives, negatives, train.corpus, hide_title=hidden)
    if not rows:
        raise ConfigurationError("finetune built no training rows: check the split, its qrels and the first-stage run.")
    dataset = Dataset.from_list(rows)
    used_query_ids = sorted({qid for qid in train_qids if negatives.get(qid) or config.loss == "bce"})

    # -- model, loss, evaluator --------------------------------------------------------------------------
    model = build_cross_encoder(
        config.base_model, max_length=config.max_length, reinit_pooler=config.reinit_pooler, seed=config.seed
    )
    if config.loss == "listwise":
        loss = listwise_loss(model)
    else:
        pos = sum(1 for row in rows if row["label"] == 1.0)
        loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor((len(rows) - pos) / max(pos, 1)))

    evaluator = None
    metric_name = None
    if evaluation is not None:
        eval_source = (
            beir.read_trec_run(config.eval_run)
            if config.eval_run
            else ftdata.lexical_neighbours(train.corpus, evaluation.queries, top_k=config.eval_top_k)
        )
        samples = ftdata.reranking_samples(
            evaluation, eval_source, top_k=config.eval_top_k, max_queries=config.eval_queries
        )
        name = f"{Path(config.dataset_dir).name}-{config.eval_split}"
        evaluator = CrossEncoderRerankingEvaluator(
            samples,
            at_k=10,
            always_rerank_positives=False,
            name=name,
            batch_size=32,
            show_progress_bar=False,
            write_csv=False,
        )
        metric_name = f"eval_{name}_ndcg@10"

    steps_per_epoch = -(-len(dataset) // config.batch_size)
    total_steps = config.max_steps if config.max_steps > 0 else int(steps_per_epoch * config.epochs + 0.999)
    eval_steps = config.eval_steps or max(1, total_steps // 4)
    checkpoints = output_dir / "checkpoints"

    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=int(config.warmup_ratio * total_steps),
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        bf16=config.bf16,
        use_cpu=True,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if evaluator else "no",
        eval_steps=eval_steps if evaluator else None,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=evaluator is not None,
        metric_for_best_model=metric_name,
        greater_is_better=True,
        report_to="none",
        disable_tqdm=not config.progress_bar,
        dataloader_num_workers=0,
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        evaluator=evaluator,
        optimizers=(_optimizer(model, config), None),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started

    # -- save --------------------------------------------------------------------------------------------
    history = trainer.state.log_history
    train_losses = [(int(entry["step"]), float(entry["loss"])) for entry in history if "loss" in entry]
    eval_history = [
        {
            "step": int(entry["step"]),
            **{k: float(v) for k, v in entry.items() if k.startswith("eval_") and isinstance(v, (int, float))},
        }
        for entry in history
        if metric_name and metric_name in entry
    ]
    best_checkpoint = trainer.state.best_model_checkpoint
    best_metric = trainer.state.best_metric

    result = FinetuneResult(
        output_dir=output_dir,
        training_queries=used_query_ids,
        train_losses=train_losses,
        eval_history=eval_history,
        best_checkpoint=best_checkpoint,
        best_metric=best_metric,
        seconds=seconds,
        steps=int(trainer.state.global_step),
        train_rows=len(rows),
        config=asdict(config),
    )
    summary = {
        **asdict(result),
        "output_dir": str(output_dir),
        "metric": metric_name,
        "title_pair_queries": len(hidden),
        "training_pairs": _pair_count(rows),
    }
    # the model folder is written whole beside the old one and swapped in: never half a model
    with atomic_folder(output_dir) as staging:
        model.save_pretrained(str(staging))
        queries = {"dataset": str(config.dataset_dir), "split": config.split, "query_ids": used_query_ids}
        (staging / TRAINING_QUERIES_FILE).write_text(json.dumps(queries, indent=1) + "\n", encoding="utf-8")
        (staging / TRAINING_LOG_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        write_model_card(staging, summary)
        _carry_over(output_dir, staging, keep_checkpoints=config.keep_checkpoints)
    return result


def _carry_over(old: Path, new: Path, *, keep_checkpoints: bool) -> None:
    """Move what the old folder holds besides the model (other files, kept checkpoints) into the new one."""
    stale = {"model.safetensors", "pytorch_model.bin"} | (set() if keep_checkpoints else {"checkpoints"})
    for entry in old.iterdir() if old.is_dir() else []:
        if entry.name not in stale and not (new / entry.name).exists():
            os.replace(entry, new / entry.name)


def _pair_count(rows: list[dict[str, Any]]) -> int:
    return sum(len([key for key in row if key != "query" and key != "label"]) for row in rows)


def _check_no_eval_queries(train: ftdata.SplitData, train_qids: list[str], evaluation: ftdata.SplitData) -> None:
    shared_ids = set(train_qids) & set(evaluation.queries)
    eval_texts = {text.strip().lower() for text in evaluation.queries.values()}
    shared_texts = [qid for qid in train_qids if train.queries[qid].strip().lower() in eval_texts]
    if shared_ids or shared_texts:
        msg = (
            f"{len(shared_ids | set(shared_texts))} training queries are also {evaluation.split} queries "
            f"(e.g. {sorted(shared_ids | set(shared_texts))[:3]}); never train on evaluation queries."
        )
        raise ConfigurationError(msg)


def _optimizer(model: Any, config: FinetuneConfig) -> Any:
    """AdamW with a higher learning rate for the freshly initialised head (pooler + classifier)."""
    import torch

    head_names = set(head_parameter_names(model.model))
    head, body_decay, body_no_decay = [], [], []
    for name, param in model.model.named_parameters():
        if not param.requires_grad:
            continue
        if name in head_names:
            head.append(param)
        elif "LayerNorm" in name or name.endswith(".bias"):
            body_no_decay.append(param)
        else:
            body_decay.append(param)
    groups = [
        {"params": body_decay, "lr": config.learning_rate, "weight_decay": config.weight_decay},
        {"params": body_no_decay, "lr": config.learning_rate, "weight_decay": 0.0},
        {"params": head, "lr": config.head_learning_rate, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([group for group in groups if group["params"]])
