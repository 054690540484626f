"""
The "compiled" backend: the torch model compiled by `torch.compile` (inductor, weights frozen into the graph),
with every batch padded to a length bucket so a handful of shapes is compiled once, in `warm_up`.

Once the matrix multiplies run on the CPU's bf16 units, eager PyTorch spends most of a forward pass in per-op
overhead (softmax, layer norm, GELU, dispatch); inductor fuses those ops. Compiling costs ~40 s for a MiniLM-L6
the first time on a machine; the compiled artefacts (inductor's FX graph cache and AOTAutograd cache) are kept
in `compile_cache_dir()`, so a later process on the same machine reuses them.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from haystack_rerank.components.rankers._inference import TokenizedScorer
from haystack_rerank.config import compile_cache_dir

logger = logging.getLogger(__name__)

LENGTH_BUCKET = 64  # batches are padded to a multiple of this many tokens (capped at max_length)
MIN_BATCH = 2  # torch.compile specialises a dimension of size 1: a single pair is padded to two


def use_persistent_compile_cache() -> Path:
    """
    Point inductor's on-disk caches at `compile_cache_dir()` (unless TORCHINDUCTOR_CACHE_DIR is already set:
    the user's choice wins) and make sure the FX graph and AOTAutograd caches are on. Process-wide, like
    inductor's own cache directory.
    """
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # inductor writes its own default into the variable on first use: that one is not a user's choice
    folder = Path(chosen) if chosen and chosen != default_cache_dir() else compile_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    inductor_config.fx_graph_cache = True
    functorch_config.enable_autograd_cache = True
    return folder


def length_buckets(max_length: int) -> list[int]:
    """The padded lengths a batch can have: multiples of LENGTH_BUCKET below max_length, then max_length."""
    buckets = list(range(LENGTH_BUCKET, max_length, LENGTH_BUCKET))
    return [*buckets, max_length]


def bucketed_length(length: int, max_length: int) -> int:
    """The smallest bucket holding `length` tokens."""
    return min(-(-length // LENGTH_BUCKET) * LENGTH_BUCKET, max_length)


def _cache_counters() -> dict[str, int]:
    from torch._dynamo.utils import counters

    inductor = counters["inductor"]
    return {"fx_cache_hits": inductor["fxgraph_cache_hit"], "fx_cache_misses": inductor["fxgraph_cache_miss"]}


class CompiledScorer(TokenizedScorer):
    """
    `torch.compile(model, dynamic=True)` with inductor freezing. Batches are padded to a length bucket and to at
    least two rows, so one dynamic graph serves every batch and no query triggers a recompile; the constructor
    runs every bucket once (at the smallest and the configured batch size) so `warm_up` pays the compile.

    `compile_stats` records the compile time and the FX graph cache hits/misses of that warm-up.
    """

    def __init__(self, cross_encoder: Any, precision: str, batch_size: int) -> None:
        super().__init__(cross_encoder)
        import torch

        self.cache_dir = use_persistent_compile_cache()
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
        model = cross_encoder.model.to(dtype).eval()
        self.device = next(model.parameters()).device
        self.pad_token_id = self.tokenizer.pad_token_id or 0
        self.compiled = torch.compile(model, dynamic=True, options={"freezing": True})
        self.max_length = self.max_length or self.tokenizer.model_max_length
        before = _cache_counters()
        started = time.perf_counter()
        for length in length_buckets(self.max_length):
            for rows in sorted({MIN_BATCH, max(batch_size, MIN_BATCH)}):
                self._run(self._dummy(rows, length))
        after = _cache_counters()
        self.compile_stats = {
            "seconds": time.perf_counter() - started,
            **{name: after[name] - before[name] for name in after},
            "cache_dir": str(self.cache_dir),
        }
        logger.info("Compiled the cross-encoder: %s", self.compile_stats)

    def _dummy(self, rows: int, length: int) -> dict[str, Any]:
        """A batch of `rows` pairs padded to `length` tokens, with the keys the tokenizer really returns."""
        short = self.tokenizer(["warm up"] * rows, ["warm up"] * rows, return_tensors="pt")
        return self._padded(short, length)

    def _padded(self, features: dict[str, Any], length: int) -> dict[str, Any]:
        """Pad columns to `length` (pad token, mask 0) and rows to MIN_BATCH (copies of the first row)."""
        import torch
        import torch.nn.functional as F  # noqa: N812 - the usual alias

        rows, current = features["input_ids"].shape
        extra_columns, extra_rows = length - current, max(MIN_BATCH - rows, 0)
        if not extra_columns and not extra_rows:
            return features
        padded = {}
        for key, value in features.items():
            fill = self.pad_token_id if key == "input_ids" else 0
            value = F.pad(value, (0, extra_columns), value=fill)
            if extra_rows:
                value = torch.cat([value, value[:1].expand(extra_rows, -1)])
            padded[key] = value
        return padded

    def _run(self, features: dict[str, Any]) -> Any:
        import torch

        with torch.inference_mode():
            output = self.compiled(**{key: value.to(self.device) for key, value in features.items()})
        return output.logits[:, 0].float()

    def forward(self, features: dict[str, Any]) -> list[float]:
        rows, length = features["input_ids"].shape
        features = self._padded(features, bucketed_length(length, self.max_length))
        return self._run(features)[:rows].tolist()
