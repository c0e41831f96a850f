"""Timing helper shared by the benchmark scripts: median of repeated runs after a warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(
    fn: Callable[[], object], repeats: int = 7, warmup: int = 1, sync: Callable[[], None] | None = None
) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs (``sync`` is called after each, e.g. for CUDA)."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
