"""Which queries a fine-tuned reranker was trained on, so evaluation never scores it on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack_rerank.errors import ConfigurationError
from haystack_rerank.models import resolve_model


def training_queries(model: str) -> set[str]:
    """Query ids a fine-tuned model was trained on (its `training_queries.json`), empty for other models."""
    folder = Path(resolve_model(model))
    record = folder / "training_queries.json"
    if not record.is_file():
        return set()
    data: Any = json.loads(record.read_text(encoding="utf-8"))
    ids = data.get("query_ids", []) if isinstance(data, dict) else data
    return {str(i) for i in ids}


def refuse_training_overlap(model: str, query_ids: set[str], split: str) -> None:
    """Evaluating a model on queries it was trained on measures memory, not ranking: refuse it."""
    overlap = training_queries(model) & query_ids
    if overlap:
        sample = ", ".join(sorted(overlap)[:5])
        msg = (
            f"eval: the reranker {model!r} was trained on {len(overlap)} of the {len(query_ids)} queries of split "
            f"{split!r} (e.g. {sample}); its scores on them would measure memorisation, not ranking. Evaluate on "
            "a split it was not trained on (e.g. dev), or use a model trained without these queries."
        )
        raise ConfigurationError(msg)
