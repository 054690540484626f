"""
The ONNX Runtime backend: the torch model exported once to a local ONNX file (and quantized to int8 on request),
then run by ONNX Runtime with the same tokenize-once, per-batch-padding loop as the other direct scorers.

sentence-transformers' own `backend="onnx"` needs optimum, which does not install next to transformers 5.x; the
export here uses `torch.onnx.export` directly (eager attention, dynamic batch and sequence axes).
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from haystack_rerank.components.rankers._inference import TokenizedScorer
from haystack_rerank.config import onnx_cache_dir

logger = logging.getLogger(__name__)

OPSET = 17


def export_onnx(cross_encoder: Any, path: Path) -> None:
    """Export the fp32 torch model to `path` (written to a temporary name first, then renamed)."""
    import torch

    model = cross_encoder.model.float().eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # the legacy exporter does not trace SDPA's masking reliably
    example = cross_encoder.tokenizer(["warm up query"], ["warm up document text"], return_tensors="pt")
    # graph inputs follow the forward signature's order, whatever the tokenizer's key order is
    names = [name for name in inspect.signature(model.forward).parameters if name in example]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dict(example),),
            str(partial),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    partial.replace(path)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization, per output channel (per-tensor int8 damaged the scores: findings)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_suffix(f".{os.getpid()}.partial")
    quantize_dynamic(str(source), str(partial), per_channel=True, weight_type=QuantType.QInt8)
    partial.replace(target)


def exported_model(cross_encoder: Any, fingerprint: str, precision: str) -> Path:
    """The ONNX file for this model and precision, exported (and quantized) on first use."""
    folder = onnx_cache_dir() / fingerprint
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        logger.info("Exporting the cross-encoder to ONNX: %s", fp32)
        export_onnx(cross_encoder, fp32)
    if precision != "int8":
        return fp32
    int8 = folder / "model_int8.onnx"
    if not int8.is_file():
        logger.info("Quantizing the ONNX model to int8: %s", int8)
        quantize_int8(fp32, int8)
    return int8


class OnnxScorer(TokenizedScorer):
    """ONNX Runtime on the CPU; idle worker threads sleep instead of spinning (spinning slowed torch by 16 %)."""

    def __init__(self, cross_encoder: Any, threads: int | None, precision: str, fingerprint: str) -> None:
        super().__init__(cross_encoder)
        import onnxruntime as ort

        path = exported_model(cross_encoder, fingerprint, precision)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def forward(self, features: dict[str, Any]) -> list[float]:
        (logits,) = self.session.run(["logits"], {name: features[name].numpy() for name in self.input_names})
        return [float(row[0]) for row in logits]
