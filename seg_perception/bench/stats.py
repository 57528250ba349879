"""Statistics of timed calls: percentiles, throughput and node overhead (pure NumPy)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Node stages (``stage_ms.*`` in the node's diagnostics) that are not the engine's own work.
OVERHEAD_STAGES = ("conversion", "preprocess", "mask", "postprocess", "publish")
ENGINE_STAGE = "inference"


@dataclass(frozen=True)
class LatencyStats:
    """Summary of a latency series in milliseconds (NaN everywhere when empty)."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize_latencies(values_ms: Iterable[float]) -> LatencyStats:
    """Mean, p50/p95/p99 (linear interpolation, NumPy's default) and max; non-finite values ignored."""
    array = np.asarray([float(v) for v in values_ms], dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        nan = float("nan")
        return LatencyStats(count=0, mean=nan, p50=nan, p95=nan, p99=nan, max=nan)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return LatencyStats(
        count=int(array.size),
        mean=float(array.mean()),
        p50=float(p50),
        p95=float(p95),
        p99=float(p99),
        max=float(array.max()),
    )


def throughput_fps(calls: int, wall_s: float) -> float:
    """Calls per second of wall time; NaN without calls or time."""
    if calls <= 0 or not wall_s > 0:
        return float("nan")
    return calls / wall_s


def rate_in_window(times_ns: Iterable[int]) -> float:
    """Events per second from their timestamps: ``(n - 1) / span`` (NaN for fewer than two)."""
    times = sorted(int(t) for t in times_ns)
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - 1) / ((times[-1] - times[0]) / 1e9)


def node_overhead(stage_ms: Mapping[str, float]) -> dict[str, float]:
    """Node time spent outside the engine, in ms and as a percentage of the engine's time.

    Args:
        stage_ms: Mean milliseconds per stage, as in the node's ``stage_ms.*`` diagnostics.

    Returns:
        ``engine_ms``, ``overhead_ms`` (sum of :data:`OVERHEAD_STAGES` present) and
        ``overhead_percent`` (NaN when the engine time is unknown or zero).
    """
    engine_ms = float(stage_ms.get(ENGINE_STAGE, float("nan")))
    overhead_ms = float(sum(float(stage_ms[name]) for name in OVERHEAD_STAGES if name in stage_ms))
    percent = 100.0 * overhead_ms / engine_ms if engine_ms > 0 else float("nan")
    return {"engine_ms": engine_ms, "overhead_ms": overhead_ms, "overhead_percent": percent}


def finite(value: float | None) -> bool:
    """True for a real number (not None, NaN or infinite)."""
    return value is not None and math.isfinite(value)
