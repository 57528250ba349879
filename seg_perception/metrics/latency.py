"""Latency statistics and event rates: the one summary every report uses (NumPy only, no ROS).

The node's ``/diagnostics``, the demo report, ``process``, ``predict``, ``eval-bag`` and ``bench``
all summarise a latency series as :class:`LatencyStats`: count, mean, the percentiles of
:data:`PERCENTILES` and the maximum, so their numbers can be compared side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

PERCENTILES = (50, 95, 99)
"""The percentiles reported everywhere (linear interpolation, NumPy's default)."""


@dataclass(frozen=True)
class LatencyStats:
    """Summary of a latency series in milliseconds (``count`` 0 and NaN everywhere else when empty)."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def to_json(self, digits: int | None = None) -> dict[str, float | int]:
        """``count``, ``mean``, ``p50``, ``p95``, ``p99`` and ``max``, rounded to ``digits`` when given."""
        values: dict[str, float | int] = {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
        }
        if digits is not None:
            values = {key: value if key == "count" else round(value, digits) for key, value in values.items()}
        return values


def summarize_latencies(values_ms: Iterable[float]) -> LatencyStats:
    """Summarise ``values_ms``; non-finite values (unknown latencies) are left out."""
    array = np.fromiter((float(value) for value in values_ms), dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        nan = float("nan")
        return LatencyStats(count=0, mean=nan, p50=nan, p95=nan, p99=nan, max=nan)
    p50, p95, p99 = (float(value) for value in np.percentile(array, PERCENTILES))
    return LatencyStats(
        count=int(array.size), mean=float(array.mean()), p50=p50, p95=p95, p99=p99, max=float(array.max())
    )


def stage_latencies(
    timings: Iterable[Mapping[str, float]], digits: int | None = None
) -> dict[str, dict[str, float | int]]:
    """:func:`summarize_latencies` per stage (``preprocess``, ``inference``, ..., ``total``), as JSON.

    Args:
        timings: One mapping stage -> milliseconds per frame (``FrameResult.timings_ms``);
            a stage missing from a frame is not counted for that frame.
        digits: Round the statistics to this many decimals.
    """
    series: dict[str, list[float]] = {}
    for frame in timings:
        for stage, value in frame.items():
            series.setdefault(stage, []).append(float(value))
    return {stage: summarize_latencies(series[stage]).to_json(digits) for stage in sorted(series)}


def rate_hz(times_s: Iterable[float]) -> float:
    """Events per second over the span of ``times_s``: ``(n - 1) / (last - first)``.

    Counting intervals rather than events makes a steady 30 Hz stream read 30.0
    whatever its length; fewer than two events (or a zero span) give NaN.
    """
    times = sorted(float(t) for t in times_s)
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - 1) / (times[-1] - times[0])
