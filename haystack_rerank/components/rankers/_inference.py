"""
How the ranker turns (query, text) pairs into logits, per backend.

The torch and OpenVINO scorers tokenize every pair once (fast tokenizer, one batch call, no padding), batch
pairs of similar length, pad each batch only to its own longest pair, and run the model directly (the ONNX
scorer in `_onnx.py` does the same).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from haystack_rerank.components.rankers._scoring import batches_by_length
from haystack_rerank.errors import ConfigurationError

logger = logging.getLogger(__name__)


def bf16_supported() -> bool:
    """True when this CPU runs bfloat16 matrix multiplies natively (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def int8_supported(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """
    True when this CPU has int8 dot-product units (AVX512-VNNI, AVX-VNNI or AMX-INT8). Without them the starter's
    int8 model is no faster than float32 (an AVX2 EPYC: float32 p50 0.93-1.25x int8's speed over five runs) and
    drifts further from it (SciFact dev -0.006 nDCG@10). A CPU whose flags cannot be read counts as having them.
    """
    try:
        flags = set(cpuinfo.read_text(encoding="utf-8").split())
    except OSError:
        return True
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


class TokenizedScorer:
    """Shared part of the direct scorers: tokenize once, length-sorted batches, per-batch padding."""

    def __init__(self, cross_encoder: Any) -> None:
        self.tokenizer = cross_encoder.tokenizer
        self.max_length = cross_encoder.max_length

    def __call__(self, query: str, texts: Sequence[str], batch_size: int, length_sort: bool) -> tuple[list[float], int]:
        encoded = self.tokenizer(
            [query] * len(texts), list(texts), truncation=True, max_length=self.max_length, padding=False
        )
        lengths = [len(ids) for ids in encoded["input_ids"]]
        batches = batches_by_length(lengths, batch_size, sort=length_sort)
        logits = [0.0] * len(texts)
        for batch in batches:
            features = self.tokenizer.pad(
                {key: [encoded[key][i] for i in batch] for key in encoded}, return_tensors="pt"
            )
            for index, logit in zip(batch, self.forward(features), strict=True):
                logits[index] = logit
        return logits, len(batches)

    def forward(self, features: dict[str, Any]) -> list[float]:
        raise NotImplementedError


class TorchScorer(TokenizedScorer):
    def __init__(self, cross_encoder: Any) -> None:
        super().__init__(cross_encoder)
        self.model = cross_encoder.model
        self.device = next(self.model.parameters()).device

    def forward(self, features: dict[str, Any]) -> list[float]:
        import torch

        with torch.inference_mode():
            output = self.model(**{key: value.to(self.device) for key, value in features.items()})
        return output.logits[:, 0].float().tolist()


class OpenVINOScorer(TokenizedScorer):
    """
    The torch model converted in memory with `openvino.convert_model` (no files, no export step), compiled for
    the CPU with a latency hint; OpenVINO runs it in bf16 on CPUs with AMX/AVX512-BF16, fp32 elsewhere.
    precision="int8" reads the static int8 model `haystack-rerank quantize` wrote into the model folder instead
    (int8 matrix multiplies; the other ops in bf16 where the CPU has it).
    """

    def __init__(self, cross_encoder: Any, threads: int | None, precision: str, location: str) -> None:
        super().__init__(cross_encoder)
        import openvino as ov

        core = ov.Core()
        if precision == "int8":
            model = core.read_model(str(_int8_model(location)))
        else:
            model = _converted(cross_encoder, self.tokenizer)
        self.input_names = [port.get_any_name() for port in model.inputs]
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "INFERENCE_PRECISION_HINT": "f32" if precision == "float32" or not bf16_supported() else "bf16",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, "CPU", config)

    def forward(self, features: dict[str, Any]) -> list[float]:
        result = self.compiled({name: features[name].numpy() for name in self.input_names})
        return [float(row[0]) for row in result[0]]


def _converted(cross_encoder: Any, tokenizer: Any) -> Any:
    import warnings

    import openvino as ov
    import torch

    example = tokenizer(["warm up"], ["warm up"], return_tensors="pt")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warnings about shapes; the model is converted with dynamic ones
        return ov.convert_model(cross_encoder.model.float().eval(), example_input=dict(example))


def _int8_model(location: str) -> Path:
    from haystack_rerank.quantize import int8_model_path

    path = int8_model_path(location)
    if not path.is_file():
        msg = (
            f"CrossEncoderRanker precision got 'int8' with backend='openvino', but {location!r} has no "
            f"{path.relative_to(location) if Path(location).is_dir() else path.name}; write one with "
            f"`haystack-rerank quantize --model {location} --corpus <your corpus.jsonl> --output-dir <folder>` "
            "and pass model=<folder>."
        )
        raise ConfigurationError(msg)
    return path
