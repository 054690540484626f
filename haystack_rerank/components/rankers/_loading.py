"""Loading CrossEncoderRanker's model: the CrossEncoder, the scorer of its backend and the scope of its cache keys."""

from __future__ import annotations

import copy
import hashlib
import logging
from pathlib import Path
from typing import Any

from haystack.utils import ComponentDevice

from haystack_rerank.cache.keys import ScoringScope, fingerprint_model_folder
from haystack_rerank.components.rankers._compiled import CompiledScorer
from haystack_rerank.components.rankers._inference import OpenVINOScorer, TorchScorer, bf16_supported, int8_supported
from haystack_rerank.components.rankers._onnx import OnnxScorer
from haystack_rerank.errors import ConfigurationError
from haystack_rerank.extras import require
from haystack_rerank.models import resolve_model

logger = logging.getLogger(__name__)


def load(ranker: Any) -> tuple[Any, Any, str, str]:
    """
    The ranker's CrossEncoder, its warmed-up scorer, the digest of the scope its cache keys belong to, and the
    precision that runs.
    """
    cross_encoder, location, precision = load_model(ranker)
    fingerprint = model_fingerprint(cross_encoder, location)
    scorer = make_scorer(ranker, cross_encoder, precision, fingerprint, location)
    scope_digest = ScoringScope(
        model=ranker.model,
        fingerprint=fingerprint,
        max_length=cross_encoder.max_seq_length,
        backend=ranker.backend,
        precision=precision,
    ).digest()
    # The first forwards pay for lazy initialisation (and OpenVINO's shape specialisation); pay it
    # here, with a short and a long pair, rather than in the first query.
    scorer("warm up", ["warm up", "warm up " * 200], 2, True)
    return cross_encoder, scorer, scope_digest, precision


def make_scorer(ranker: Any, cross_encoder: Any, precision: str, fingerprint: str, location: str) -> Any:
    if ranker.backend == "openvino":
        return OpenVINOScorer(cross_encoder, ranker.threads, precision, location)
    if ranker.backend == "onnx":
        require("onnx", "CrossEncoderRanker backend='onnx'")
        return OnnxScorer(cross_encoder, ranker.threads, precision, fingerprint)
    if ranker.backend == "compiled":
        return CompiledScorer(cross_encoder, precision, ranker.batch_size)
    return TorchScorer(cross_encoder)


def load_model(ranker: Any) -> tuple[Any, str, str]:
    """The CrossEncoder, the folder or name it came from, and the precision that will actually run."""
    import torch
    from sentence_transformers import CrossEncoder

    if ranker.threads is not None and ranker.backend in ("torch", "compiled"):
        torch.set_num_threads(ranker.threads)
    location = resolve_model(ranker.model)
    device = ComponentDevice.resolve_device(ranker.device)
    try:
        cross_encoder = CrossEncoder(
            location,
            device=device.to_torch_str(),
            token=ranker.token.resolve_value() if ranker.token else None,
            trust_remote_code=ranker.trust_remote_code,
            model_kwargs=copy.deepcopy(ranker.model_kwargs),
            processor_kwargs=copy.deepcopy(ranker.tokenizer_kwargs),
            backend="torch",  # openvino converts the torch model, onnx exports it
            max_length=ranker.max_length,
        )
    except ImportError as err:
        msg = (
            f"CrossEncoderRanker backend={ranker.backend!r} needs extra packages ({err}). "
            f"Install sentence-transformers[{ranker.backend}] or use backend='torch'."
        )
        raise ConfigurationError(msg) from err
    precision = automatic_precision(ranker.backend, location) if ranker.precision == "auto" else ranker.precision
    if precision == "bfloat16" and not bf16_supported():
        logger.warning("CrossEncoderRanker: this CPU has no native bfloat16; running float32 instead.")
        precision = "float32"
    if precision == "bfloat16" and ranker.backend == "torch":
        cross_encoder.to(torch.bfloat16)
    logger.info(
        "Loaded cross-encoder %s from %s (backend=%s, precision=%s, max_length=%s)",
        ranker.model,
        location,
        ranker.backend,
        precision,
        cross_encoder.max_seq_length,
    )
    return cross_encoder, location, precision


def automatic_precision(backend: str, location: str) -> str:
    """precision="auto": the fastest precision this CPU runs for `backend` without the quality loss."""
    from haystack_rerank.quantize import int8_model_path

    if backend == "openvino":
        return "int8" if int8_model_path(location).is_file() and int8_supported() else "float32"
    if backend in ("torch", "compiled"):
        return "bfloat16" if bf16_supported() else "float32"
    return "float32"


def model_fingerprint(cross_encoder: Any, location: str) -> str:
    """Fingerprint of the loaded weights: the local folder's files, else the hub snapshot, else the config."""
    folders = [Path(location)]
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(location, "config.json")
        if isinstance(cached, str):
            folders.append(Path(cached).parent)  # snapshots/<revision>/: the revision pins the weights
    except Exception as err:  # noqa: BLE001 - an invalid repo id just means there is no hub snapshot
        logger.debug("No hub snapshot for %s: %s", location, err)
    for folder in folders:
        fingerprint = fingerprint_model_folder(folder)
        if fingerprint is not None:
            return fingerprint
    config = getattr(getattr(cross_encoder, "model", None), "config", None)
    described = config.to_json_string() if config is not None else location
    logger.warning("Cannot locate the weight files of %s; cache keys use its config only.", location)
    return "config:" + hashlib.blake2b(described.encode("utf-8"), digest_size=16).hexdigest()
