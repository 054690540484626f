"""The model card (`README.md`) written next to a fine-tuned cross-encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack_rerank import atomic

EVALUATION_MARKER = "<!-- evaluation -->"


def folder_size_mb(folder: Path) -> float:
    """Size of the weight files in `folder` (MB)."""
    weights = [p for p in folder.glob("*.safetensors")] + [p for p in folder.glob("*.bin")]
    return round(sum(p.stat().st_size for p in weights) / 1e6, 1)


def write_model_card(output_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write `README.md` from a `training_log.json`-style summary; returns its path."""
    output_dir = Path(output_dir)
    config = summary["config"]
    queries = summary["training_queries"]
    losses = summary["train_losses"]
    evals = summary["eval_history"]
    metric = summary.get("metric")
    params = {
        k: config[k]
        for k in (
            "loss",
            "num_negatives",
            "negatives_top_k",
            "title_pairs",
            "epochs",
            "max_steps",
            "batch_size",
            "learning_rate",
            "head_learning_rate",
            "warmup_ratio",
            "weight_decay",
            "max_length",
            "reinit_pooler",
            "bf16",
            "seed",
            "threads",
        )
    }
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: text-ranking",
        "tags: [cross-encoder, reranker, haystack-rerank]",
        f"base_model: {config['base_model']}",
        "---",
        "",
        f"# Cross-encoder fine-tuned from `{config['base_model']}`",
        "",
        "A reranker for `haystack_rerank.components.rankers.CrossEncoderRanker`, trained with",
        "`haystack_rerank.finetune`. It loads as a standard `sentence_transformers.CrossEncoder(folder)`",
        "(BertForSequenceClassification, one logit). Documents were shown to it as",
        '`title + "\\n" + abstract`:',
        'use `CrossEncoderRanker(meta_fields_to_embed=["title"])` when documents carry a title.',
        "",
        "## Data and splits",
        "",
        f"- Dataset: `{config['dataset_dir']}`, trained on split `{config['split']}`: {len(queries)} queries "
        f"({summary['train_rows']} rows, {summary['training_pairs']} query-document pairs).",
        f"- Negatives: {config['num_negatives']} per query, sampled (seed {config['seed']}) from the top "
        f"{config['negatives_top_k']} of `{config['first_stage_run'] or 'a TF-IDF run over the corpus'}` "
        "minus the judged positives.",
        f"- Self-supervised title -> abstract queries from the corpus: {summary.get('title_pair_queries', 0)}.",
        f"- Model selection: split `{config['eval_split']}` (never trained on), reranking the top "
        f"{config['eval_top_k']} of `{config['eval_run'] or 'a TF-IDF run'}` "
        f"for {config['eval_queries']} queries.",
        f"- Training query ids: `{TRAINING_QUERIES}` (also listed at the end of this card). The project's",
        "  evaluation refuses to score these queries.",
        "",
        "## Hyperparameters",
        "",
        "| parameter | value |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in params.items()],
        "",
        "## Training",
        "",
        f"- Steps: {summary['steps']}, wall time {summary['seconds'] / 60:.1f} min "
        f"({config['threads'] or 'all'} CPU thread(s)).",
        f"- Training loss: first {losses[0][1]:.4f} (step {losses[0][0]}), last {losses[-1][1]:.4f} "
        f"(step {losses[-1][0]})."
        if losses
        else "- Training loss: not logged.",
        f"- Best checkpoint: {summary['best_checkpoint']} ({metric} = {summary['best_metric']})."
        if summary.get("best_checkpoint")
        else "- Best checkpoint: last step (no evaluator).",
        f"- Weights: {folder_size_mb(output_dir)} MB.",
    ]
    if evals and metric:
        lines += ["", "| step | dev nDCG@10 (reranking the eval top-k) |", "| --- | --- |"]
        lines += [f"| {e['step']} | {e[metric]:.4f} |" for e in evals]
    if config.get("command"):
        lines += ["", "## Rebuild", "", "```bash", config["command"], "```"]
    lines += ["", EVALUATION_MARKER, ""]
    lines += ["## Training query ids", "", ", ".join(queries) if queries else "(none)", ""]
    path = output_dir / "README.md"
    atomic.write_text(path, "\n".join(lines))
    return path


TRAINING_QUERIES = "training_queries.json"


def add_card_section(folder: str | Path, title: str, markdown: str) -> None:
    """Insert a section (e.g. the final reranking evaluation) into an existing card, before the query list."""
    path = Path(folder) / "README.md"
    text = path.read_text(encoding="utf-8")
    section = f"## {title}\n\n{markdown.strip()}\n\n"
    if EVALUATION_MARKER in text:
        text = text.replace(EVALUATION_MARKER, f"{section}{EVALUATION_MARKER}", 1)
    else:
        text += "\n" + section
    atomic.write_text(path, text)


def read_training_queries(folder: str | Path) -> list[str]:
    """Query ids a model in `folder` was trained on (empty when the folder has no training_queries.json)."""
    path = Path(folder) / TRAINING_QUERIES
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("query_ids", []))
