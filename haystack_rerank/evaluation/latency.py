"""Latency summaries: p50 / p95 / max in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize_latencies(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}
    values = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "max_ms": round(float(values.max()), 2),
    }
