"""The speed targets of the product brief, and whether a benchmark run met them.

A target names what it measures (model, size, engines, metric) and a bound; each
status reads ``met``, ``missed by <amount>`` or ``not measured here (<why>)``.
The numbers are the issue's acceptance bars, kept here beside the code that checks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seg_perception.bench.stats import ENGINE_STAGE, OVERHEAD_STAGES

GPU_ENGINES = ("onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda")
CPU_ENGINES = ("onnxruntime-cpu", "torch-cpu")
MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"


@dataclass(frozen=True)
class EngineTarget:
    """A bound on a benchmark row's metric.

    Attributes:
        key: Short id.
        text: The target as people say it.
        models: Registry names that qualify.
        sizes: (height, width) sizes that qualify.
        engines: Benchmark engines that qualify.
        metric: ``engine_only`` (model on a prepared tensor) or ``predict`` (frame → mask).
        minimum: The metric must be at least this.
        aggregate: ``best`` (one qualifying row suffices) or ``worst`` (every row must pass).
        precision: Only rows of this precision qualify (None: any).
        max_threads: Only rows run with at most this many CPU threads qualify.
    """

    key: str
    text: str
    models: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    engines: tuple[str, ...]
    metric: str
    minimum: float
    aggregate: str = "best"
    precision: str | None = None
    max_threads: int | None = None


@dataclass(frozen=True)
class NodeTarget:
    """A bound on the node benchmark's per-camera figure (worst camera counts)."""

    key: str
    text: str
    metric: str
    maximum: float
    strict: bool = False  # ``<`` rather than ``<=``
    unit: str = ""


ENGINE_TARGETS = (
    EngineTarget(
        "icnet_r50_trt_fp16",
        "ICNet (ResNet-50) at 1024x2048, TensorRT FP16: >= 200 fps",
        ("icnet_r50",),
        ((1024, 2048),),
        ("onnxruntime-tensorrt",),
        "engine_only",
        200.0,
        precision="fp16",
    ),
    EngineTarget(
        "hrnetv2_w48_gpu",
        "HRNetV2-W48 at 1024x2048 on one GPU: >= 60 fps",
        ("hrnetv2_w48",),
        ((1024, 2048),),
        GPU_ENGINES,
        "engine_only",
        60.0,
    ),
    EngineTarget(
        "hrnetv2_w18_small_v2_gpu",
        "HRNetV2-W18-Small-v2 at 1024x2048 on one GPU: >= 200 fps",
        ("hrnetv2_w18_small_v2",),
        ((1024, 2048),),
        GPU_ENGINES,
        "engine_only",
        200.0,
    ),
    EngineTarget(
        "cpu_default_models",
        "CPU, 2 threads, default models (icnet_lite 256x512 / 320x320), frame to mask: >= 15 fps",
        ("icnet_lite",),
        ((256, 512), (320, 320)),
        ("onnxruntime-cpu",),
        "predict",
        15.0,
        aggregate="worst",
        max_threads=2,
    ),
)
NODE_TARGETS = (
    NodeTarget(
        "node_p99",
        "node latency stamp -> mask p99 < 33 ms per camera (GPU)",
        "latency_p99_ms",
        33.0,
        strict=True,
        unit=" ms",
    ),
    NodeTarget("node_drops", "node: no dropped frames with both cameras at 30 Hz (GPU)", "dropped", 0.0),
    NodeTarget(
        "node_overhead",
        "node overhead (conversion, pre/post-processing, publishing) <= 15% of the engine's time (GPU)",
        "overhead_percent",
        15.0,
        unit="%",
    ),
)


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def _row_qualifies(target: EngineTarget, row: dict[str, Any]) -> bool:
    size = tuple(row.get("input_size") or ())
    threads = row.get("threads")
    return (
        row.get("model") in target.models
        and size in target.sizes
        and row.get("engine") in target.engines
        and (target.precision is None or row.get("precision") == target.precision)
        and (target.max_threads is None or (threads is not None and threads <= target.max_threads))
    )


def evaluate_engine_target(target: EngineTarget, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Status of one engine target against benchmark rows (see :func:`evaluate_targets`)."""
    candidates = [row for row in rows if _row_qualifies(target, row)]
    measured = [
        row
        for row in candidates
        if row.get("status") == "ok" and math.isfinite(row.get(target.metric, {}).get("fps", math.nan))
    ]
    result: dict[str, Any] = {"key": target.key, "target": target.text, "value": None}
    if not measured:
        why = (
            "; ".join(
                sorted({f"{row['engine']}: {row['status']}: {row.get('reason', '')}" for row in candidates})
            )
            or "no qualifying configuration in this run"
        )
        return {**result, "status": NOT_MEASURED, "text": f"not measured here ({why})"}
    values = [(row[target.metric]["fps"], row) for row in measured]
    value, row = (max if target.aggregate == "best" else min)(values, key=lambda item: item[0])
    where = f"{row['label']} {row['input_size'][0]}x{row['input_size'][1]} {row['engine']} {row['precision']}"
    result |= {"value": value, "where": where}
    if value >= target.minimum:
        return {**result, "status": MET, "text": f"met: {_fmt(value)} fps ({where})"}
    short = target.minimum - value
    text = f"missed by {_fmt(short)} fps: {_fmt(value)} vs >= {_fmt(target.minimum)} ({where})"
    return {**result, "status": MISSED, "text": text + _dominant(row.get("predict_stages_ms"), "frame")}


def _dominant(stage_ms: Any, what: str) -> str:
    """``; frame time: inference 6.1 ms of 8.3 ms, then ...``: which part of the time dominates."""
    if not isinstance(stage_ms, dict):
        return ""
    stages = sorted(
        ((name, float(ms)) for name, ms in stage_ms.items() if math.isfinite(float(ms)) and float(ms) > 0),
        key=lambda item: -item[1],
    )
    if not stages:
        return ""
    total = sum(ms for _, ms in stages)
    parts = ", ".join(f"{name} {ms:.1f}" for name, ms in stages[:3])
    return f"; {what} time {total:.1f} ms, largest parts: {parts} ms"


def evaluate_node_target(target: NodeTarget, node: dict[str, Any] | None) -> dict[str, Any]:
    """Status of one node target; the worst camera decides."""
    result: dict[str, Any] = {"key": target.key, "target": target.text, "value": None}
    if not node or node.get("status") != "ok":
        why = (node or {}).get("reason") or "run with --node"
        return {**result, "status": NOT_MEASURED, "text": f"not measured here ({why})"}
    values = [
        (float(camera[target.metric]), name)
        for name, camera in node.get("cameras", {}).items()
        if camera.get(target.metric) is not None and math.isfinite(float(camera[target.metric]))
    ]
    if not values:
        return {**result, "status": NOT_MEASURED, "text": "not measured here (no figure from the node)"}
    value, camera = max(values)
    device = node.get("device", "?")
    note = "" if str(device).startswith("cuda") else f"; node ran on {device}, the target is for one GPU"
    result["value"] = value
    ok = value < target.maximum if target.strict else value <= target.maximum
    bound = f"{'<' if target.strict else '<='} {_fmt(target.maximum)}{target.unit}"
    if ok:
        return {**result, "status": MET, "text": f"met: {_fmt(value)}{target.unit} ({camera}){note}"}
    excess = value - target.maximum
    stage_ms = node.get("cameras", {}).get(camera, {}).get("stage_ms") or {}
    # Only the disjoint stages: "pipeline" and the like are sums of them.
    stages = {name: ms for name, ms in stage_ms.items() if name in (ENGINE_STAGE, *OVERHEAD_STAGES)}
    return {
        **result,
        "status": MISSED,
        "text": (
            f"missed by {_fmt(excess)}{target.unit}: {_fmt(value)}{target.unit} vs {bound} ({camera}){note}"
            + _dominant(stages, f"{camera} node")
        ),
    }


def evaluate_targets(rows: Sequence[dict[str, Any]], node: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each target's ``key``, ``target``, ``status`` (met, missed, not measured), ``text`` and ``value``.

    Args:
        rows: Engine rows of :func:`seg_perception.bench.runner.run_bench`.
        node: The node benchmark's result, or None when it was not run.
    """
    return [evaluate_engine_target(target, rows) for target in ENGINE_TARGETS] + [
        evaluate_node_target(target, node) for target in NODE_TARGETS
    ]
