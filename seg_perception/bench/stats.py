"""Throughput and node overhead of timed calls (percentiles: :mod:`seg_perception.metrics.latency`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

# Node stages (``stage_ms.*`` in the node's diagnostics) that are not the engine's own work.
OVERHEAD_STAGES = ("conversion", "preprocess", "mask", "postprocess", "publish")
ENGINE_STAGE = "inference"


def throughput_fps(calls: int, wall_s: float) -> float:
    """Calls per second of wall time; NaN without calls or time."""
    if calls <= 0 or not wall_s > 0:
        return float("nan")
    return calls / wall_s


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
