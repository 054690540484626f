"""
One BLAS thread for the small vector searches of embedded Qdrant.

Embedded Qdrant scores a query with numpy, whose OpenBLAS runs a 5k x 384 product on every core and then leaves its
worker threads spinning for new work (~0.1 s). The reranker's forward pass, which starts right after the first stage,
then shares the CPU with them: measured here, +42 ms median on a ~300 ms int8 forward (BENCHMARKS "Where a query's
time goes"). One thread computes such a product in well under a millisecond and leaves no thread spinning.

The BLAS thread count is process-wide and OpenBLAS only takes it back up from the thread that lowered it, so the
blocks run one at a time (embedded Qdrant's search is Python holding the GIL anyway), each setting and restoring the
count in its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

_lock = threading.Lock()


@cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspects the loaded libraries once (~0.3 ms); a limit then costs ~0.02 ms


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (numpy's OpenBLAS/MKL); the previous count is restored after it."""
    with _lock, _controller().limit(limits=1, user_api="blas"):
        yield
