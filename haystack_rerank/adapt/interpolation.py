"""
Weight interpolation (WiSE-FT, Wortsman et al. 2022): a fine-tuned student's weights averaged with the weights it
started from. The average keeps most of the student's gain on the corpus it was trained for and much of what the
start model knew elsewhere (measured for the SciFact bi-encoder: BENCHMARKS "The bi-encoder student averaged with
its start").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack_rerank.errors import ConfigurationError


def interpolate_bi_encoder(start_model: str, student_folder: Path, weight: float) -> None:
    """
    Replace the bi-encoder in `student_folder` by `weight * student + (1 - weight) * start_model`, tensor by
    tensor, saved atomically (readers see the old folder or the new one). `weight` 1 leaves it unchanged.
    """
    from sentence_transformers import SentenceTransformer

    from haystack_rerank.adapt.students import save_atomically
    from haystack_rerank.models import resolve_model

    check_weight(weight)
    if weight == 1.0:
        return
    student = SentenceTransformer(str(student_folder), device="cpu")
    start = SentenceTransformer(resolve_model(start_model), device="cpu")
    student.load_state_dict(mix(start.state_dict(), student.state_dict(), weight, start_model))
    save_atomically(student, student_folder)


def mix(start: dict[str, Any], trained: dict[str, Any], weight: float, start_name: str = "start") -> dict[str, Any]:
    """`weight * trained + (1 - weight) * start` for every floating-point tensor; others are taken from `trained`."""
    if start.keys() != trained.keys() or any(start[k].shape != trained[k].shape for k in trained):
        msg = (
            f"adapt: cannot interpolate with {start_name!r}: its tensors differ from the student's. The student "
            "must have been trained from it (same architecture); pass the model the student started from."
        )
        raise ConfigurationError(msg)
    return {
        name: (weight * tensor.float() + (1.0 - weight) * start[name].float()).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in trained.items()
    }


def check_weight(weight: float) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 < weight <= 1.0:
        msg = (
            f"adapt bi_encoder_interpolation got {weight!r}; use a weight in (0, 1]: 1 keeps the trained student, "
            "0.5 averages it with the model it started from."
        )
        raise ConfigurationError(msg)
