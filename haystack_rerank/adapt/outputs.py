"""What `adapt` leaves for the user: model cards, a report, and YAML pipelines pointing at the students."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack_rerank.adapt import selection
from haystack_rerank.adapt.config import AdaptConfig
from haystack_rerank.adapt.report import markdown
from haystack_rerank.adapt.run import BI_ENCODER_DIR, CROSS_ENCODER_DIR


def write_all(config: AdaptConfig, summary: dict[str, Any], out: Path, stores: Any) -> None:
    figures = markdown(summary["evaluation"])
    _write(
        out / "report.md",
        f"# adapt report\n\n{_data_section(config, summary)}\n## What pipelines/hybrid_rerank.yaml uses\n\n"
        f"{selection.markdown(summary['selection'])}\n## Before / after\n\n{figures}",
    )
    for kind, folder in (("cross-encoder", CROSS_ENCODER_DIR), ("bi-encoder", BI_ENCODER_DIR)):
        if kind in summary["students"]:
            _write(out / folder / "README.md", card(kind, config, summary, figures))
    _write_pipelines(config, summary, out, stores)


def card(kind: str, config: AdaptConfig, summary: dict[str, Any], figures: str) -> str:
    student = summary["students"][kind]
    base = config.teacher_model if kind == "cross-encoder" else config.embedding_model
    loss = (
        "ListNetLoss (cross-entropy to the teacher's softmax over each list = KL up to a constant)"
        if kind == "cross-encoder"
        else "KL divergence to the teacher's softmax over (query, positive, negatives), plus "
        f"{config.bi_encoder_in_batch_weight:g} x MultipleNegativesRankingLoss (in-batch negatives)"
    )
    use = (
        f'CrossEncoderRanker(model="{student["folder"]}", meta_fields_to_embed=["title"], '
        f"max_length={config.max_length})"
        if kind == "cross-encoder"
        else f'TextEmbedder(model="{student["folder"]}") / DocumentEmbedder(...); its vectors are in collection '
        f'"{student.get("collection")}"'
    )
    batch = getattr(config, kind.replace("-", "_") + "_batch_size")
    pipeline_tag = "text-ranking" if kind == "cross-encoder" else "sentence-similarity"
    return f"""---
library_name: sentence-transformers
pipeline_tag: {pipeline_tag}
tags: [{kind}, haystack-rerank, distillation]
base_model: {base}
---

# {kind} student distilled by `haystack-rerank adapt`

Use: `{use}`.

- Started from: `{base}`{f" (first {config.student_layers} layers)" if config.student_layers else ""}.
- Loss: {loss}; temperature {config.temperature}.
- Steps: {student["steps"]}, batch {batch}, learning rate {student.get("learning_rate", "?")}, training rows
  {student["rows"]}, {student["seconds"] / 60:.1f} minutes on CPU; loss {_num(student["first_loss"])} (first step)
  -> {_num(student["last_loss"])} (last).
{_interpolation(kind, config)}- Weights fingerprint: `{student["weights"]}`.

{_data_section(config, summary)}
## Before / after

{figures}

## Rebuild

```bash
{config.command or "haystack-rerank adapt ... (see adapt_log.json for every option)"}
```
"""


def _interpolation(kind: str, config: AdaptConfig) -> str:
    weight = config.bi_encoder_interpolation
    if kind != "bi-encoder" or weight == 1.0:
        return ""
    return (
        f"- Weights: {weight:g} x the trained student + {1 - weight:g} x `{config.embedding_model}` "
        "(WiSE-FT interpolation).\n"
    )


def _data_section(config: AdaptConfig, summary: dict[str, Any]) -> str:
    made = summary["pseudo_queries"]
    teacher = (
        f"`{config.teacher_model}` ensembled with the fused first-stage score (alpha {config.teacher_alpha})"
        if config.teacher_alpha is not None
        else f"`{config.teacher_model}` alone"
    )
    labelled = (
        f"{summary['labelled_queries']} labelled queries of `{config.labelled_dataset}` split `{config.labelled_split}`"
        if config.labelled_dataset
        else "none (label-free)"
    )
    return f"""## Data and teacher

- Corpus: `{config.corpus}` ({summary["corpus_documents"]} documents).
- Pseudo-queries: {made["made"]} (seed {config.seed}; strategies {json.dumps(made["by_strategy"])}; near-duplicates
  removed), of which {made["held_out"]} held out with their source passages (never trained on).
- Labelled queries: {labelled}.
- Candidates: the package's hybrid retriever (BM25 + `{config.embedding_model}`, RRF), top {config.depth} per query.
- Teacher: {teacher}; {summary["teacher_pairs"]} pairs scored, cached in `work/teacher-cache`.
- Filters: {json.dumps(summary["filters"])} (false negatives: within {config.margin} of the positive's teacher score;
  queries whose positive the teacher ranks below {config.max_positive_rank} dropped); lists of {config.list_size}.
- Wall time of the last `adapt` invocation (a resumed run skips finished phases): {summary.get("minutes", "?")} minutes.
"""


def _write_pipelines(config: AdaptConfig, summary: dict[str, Any], out: Path, stores: Any) -> None:
    from haystack_rerank import pipelines

    chosen = summary["selection"]
    weight = chosen["dense_weight"]
    pipeline = pipelines.hybrid_rerank(
        reranker_model=chosen["reranker_model"],
        embedding_model=chosen["embedding_model"],
        collection=chosen["collection"],
        weights=None if weight == 1.0 else {"dense": weight},
    )
    folder = out / "pipelines"
    folder.mkdir(exist_ok=True)
    _write(folder / "hybrid_rerank.yaml", pipeline.dumps())


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
