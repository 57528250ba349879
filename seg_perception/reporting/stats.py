"""Summary statistics of latencies and rates."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def latency_summary(values: Iterable[float]) -> dict[str, float | int]:
    """Percentiles of a latency series (milliseconds in, milliseconds out).

    Non-finite values are ignored. With no finite value every statistic is NaN
    and ``count`` is 0, so a caller can report "no data" instead of crashing.

    Returns:
        ``{"count", "p50", "p95", "max", "mean"}``.
    """
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        nan = float("nan")
        return {"count": 0, "p50": nan, "p95": nan, "max": nan, "mean": nan}
    p50, p95 = np.percentile(array, [50, 95])
    return {
        "count": int(array.size),
        "p50": float(p50),
        "p95": float(p95),
        "max": float(array.max()),
        "mean": float(array.mean()),
    }


def rate_hz(times_s: Iterable[float]) -> float:
    """Events per second over the span of ``times_s``: ``(n - 1) / (last - first)``.

    Counting intervals rather than events makes a steady 30 Hz stream read 30.0
    whatever its length; fewer than two events (or a zero span) give NaN.
    """
    times = sorted(float(t) for t in times_s)
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - 1) / (times[-1] - times[0])
