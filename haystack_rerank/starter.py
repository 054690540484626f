"""The starter reranker shipped in the package, registered as `haystack-rerank/scifact-minilm-l6-ce`."""

from __future__ import annotations

from pathlib import Path

from haystack_rerank.models import register_local_model

STARTER_MODEL = "haystack-rerank/scifact-minilm-l6-ce"


def starter_model_path() -> Path | None:
    """Folder of the shipped starter cross-encoder (None when the package was installed without it)."""
    folder = Path(__file__).resolve().parent / "starter_model"
    return folder if (folder / "config.json").is_file() else None


register_local_model(STARTER_MODEL, starter_model_path)
