"""How steady a stream's lane output is, without labels: a measure for real recordings.

A car keeps its lane width and drifts in its lane slowly, so on a recording of ordinary lane keeping
the ego lane's width should hardly vary and its lateral offset should move a few centimetres from one
frame to the next. Jumps there are errors of the output (a false blob joining a line, a line lost and
found), whatever the truth: this scores ``predict`` / ``process`` output (``predictions.jsonl``) of a
real drive that has no lane labels. It says nothing of whether the lines are in the right place.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# a frame-to-frame step of the lateral offset larger than this is a jump (lane keeping at 25-30 fps)
JUMP_M = 0.12


@dataclass
class LaneStability:
    """Steadiness of a stream's ego lane (metres and radians where the boundaries are metric).

    Attributes:
        frames: Frames read.
        ego_frames: Frames with an ego lane.
        metric: Whether the ego lanes are in metres (a calibrated camera) rather than the pseudo-metres of
            an uncalibrated one.
        width_mean: Mean ego-lane width.
        width_sd: Its standard deviation.
        offset_step_median: Median absolute change of the lateral offset between consecutive frames that
            both have an ego lane.
        offset_step_p95: Its 95th percentile.
        offset_step_max: Its largest.
        jumps: Steps larger than ``jump``.
        jump: The step counted as a jump.
        heading_sd: Standard deviation of the car's heading in its lane.
        ids: Per position (``ego_left``, ...), how many frames each boundary id held it.
    """

    frames: int = 0
    ego_frames: int = 0
    metric: bool = False
    width_mean: float = float("nan")
    width_sd: float = float("nan")
    offset_step_median: float = float("nan")
    offset_step_p95: float = float("nan")
    offset_step_max: float = float("nan")
    jumps: int = 0
    jump: float = JUMP_M
    heading_sd: float = float("nan")
    ids: dict[str, dict[int, int]] = field(default_factory=dict)

    def format(self) -> str:
        """The report ``scripts/lane_stability.py`` prints."""
        unit = "m" if self.metric else "pseudo-m"
        lines = [
            f"frames {self.frames}, with an ego lane {self.ego_frames}"
            + ("" if self.metric else " (no calibration: pseudo-metres of an assumed camera)"),
            f"ego lane width: mean {self.width_mean:.3f} {unit}, sd {self.width_sd:.3f} {unit}",
            f"lateral offset, step between frames: median {self.offset_step_median:.3f} {unit}, "
            f"p95 {self.offset_step_p95:.3f} {unit}, max {self.offset_step_max:.3f} {unit}; "
            f"{self.jumps} steps > {self.jump:g} {unit}",
            f"heading in the lane: sd {self.heading_sd:.4f} rad",
        ]
        for position, counts in self.ids.items():
            held = ", ".join(f"id {i}: {n}" for i, n in sorted(counts.items(), key=lambda item: -item[1]))
            lines.append(f"{position}: {held} frames")
        return "\n".join(lines)


def lane_stability(records: Iterable[Mapping[str, Any]], jump: float = JUMP_M) -> LaneStability:
    """The steadiness of the ego lane over a stream's records, in order.

    Args:
        records: ``predictions.jsonl`` records (``predict``, ``process``): each with a ``lanes`` block
            (``ego_lane``: ``width``, ``lateral_offset``, ``heading_rad``; ``boundaries``: ``position``,
            ``id``). Records without a ``lanes`` block count as frames without an ego lane.
        jump: A step of the lateral offset larger than this is a jump (the records' units).
    """
    result = LaneStability(jump=jump)
    widths: list[float] = []
    headings: list[float] = []
    steps: list[float] = []
    previous: float | None = None
    ids: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for record in records:
        result.frames += 1
        lanes = record.get("lanes") or {}
        result.metric = result.metric or bool(lanes.get("metric"))
        for boundary in lanes.get("boundaries", []):
            ids[str(boundary["position"])][int(boundary["id"])] += 1
        ego = lanes.get("ego_lane")
        if not ego:
            previous = None  # a step is only measured between consecutive frames
            continue
        result.ego_frames += 1
        widths.append(float(ego["width"]))
        headings.append(float(ego["heading_rad"]))
        offset = float(ego["lateral_offset"])
        if previous is not None:
            steps.append(abs(offset - previous))
        previous = offset
    if widths:
        result.width_mean, result.width_sd = float(np.mean(widths)), float(np.std(widths))
        result.heading_sd = float(np.std(headings))
    if steps:
        step = np.asarray(steps)
        result.offset_step_median = float(np.median(step))
        result.offset_step_p95 = float(np.percentile(step, 95))
        result.offset_step_max = float(step.max())
        result.jumps = int((step > jump).sum())
    result.ids = {position: dict(counts) for position, counts in ids.items()}
    return result
