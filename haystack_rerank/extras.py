"""Optional dependencies: which extra brings which packages, and one clear error when one is missing."""

from __future__ import annotations

import importlib.util

from haystack_rerank.errors import ConfigurationError

# extra -> the importable modules it installs (pyproject.toml [project.optional-dependencies])
EXTRAS: dict[str, tuple[str, ...]] = {
    "openvino": ("nncf",),
    "onnx": ("onnxruntime", "onnx"),
    "train": ("datasets", "accelerate", "sklearn"),
    "serve": ("hayhooks",),
}


def require(extra: str, feature: str) -> None:
    """Raise `ConfigurationError` naming the missing packages of `extra` and the pip command that adds them."""
    missing = [module for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]
    if missing:
        msg = (
            f"{feature} needs {', '.join(missing)}, which the default install leaves out: "
            f'pip install "haystack-rerank[{extra}]"'
        )
        raise ConfigurationError(msg)
