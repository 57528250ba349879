"""Parking slots from marking points (DMPR-PS style), with metric priors (NumPy/OpenCV only).

Two marking points form a slot entrance when, in metres:

- their separating-line directions agree (within ``direction_agreement_deg``) and point to
  the same side of the line joining them;
- **perpendicular**: the lines are within ``perpendicular_tolerance_deg`` of the entrance
  normal and the entrance is ``perpendicular_width_m`` wide; **parallel**: same angle, but the
  entrance is ``parallel_length_m`` long (the car parks along it); **angled**: the lines lean
  further (up to ``max_angled_deg`` from the normal) and the slot, measured across the lines,
  is ``perpendicular_width_m`` wide;
- no third marking point lies on the entrance between them (that would make two slots; a
  point of a neighbour's double line or platform edge a few centimetres inside counts);
- a parallel slot's separating lines are not longer than a parallel slot is deep (else the
  two points are two slots apart in a perpendicular row whose middle point was missed).

Each point is the left corner of at most one slot and the right corner of at most one;
candidates are taken best first. The depth of a slot is the length of its separating-line
paint (``slot_line`` pixels walked from each entrance point along its direction, dashes
bridged up to ``paint_gap_m``) when it falls in the type's ``depth_range_m``, else the
type's ``default_depth_m``. A slot is occupied when less than ``min_free_fraction`` of it is
labelled ``free_slot`` by the segmentation (the free-space class measurably helps there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from seg_perception.geometry import ParkingSlot
from seg_perception.interfaces import SlotType
from seg_perception.postprocess.marking_points import DX, DY, SCORE, X, Y
from seg_perception.postprocess.settings import check_known

#: A third point further than this from both ends of an entrance lies between them.
END_MARGIN_M = 0.1


@dataclass(frozen=True)
class SlotPriors:
    """Metric priors and thresholds of slot assembly (``slots`` block of ``config/parking.yaml``)."""

    perpendicular_width_m: tuple[float, float] = (2.0, 3.5)
    parallel_length_m: tuple[float, float] = (4.5, 7.5)
    perpendicular_tolerance_deg: float = 15.0
    max_angled_deg: float = 60.0
    direction_agreement_deg: float = 25.0
    point_on_entrance_m: float = 0.3
    paint_gap_m: float = 0.35
    min_free_fraction: float = 0.5
    default_depth_m: dict[str, float] = field(
        default_factory=lambda: {"perpendicular": 5.0, "angled": 5.0, "parallel": 2.2}
    )
    depth_range_m: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"perpendicular": (3.5, 6.5), "angled": (3.5, 6.5), "parallel": (1.6, 3.2)}
    )

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None) -> SlotPriors:
        """Build from a config mapping; unknown keys raise ``ValueError`` naming them."""
        block = dict(block or {})
        check_known(cls, block, "slot prior(s)")
        values: dict[str, Any] = {}
        for key, value in block.items():
            if key in ("perpendicular_width_m", "parallel_length_m"):
                values[key] = (float(value[0]), float(value[1]))
            elif key == "default_depth_m":
                values[key] = {str(k): float(v) for k, v in dict(value).items()}
            elif key == "depth_range_m":
                values[key] = {str(k): (float(v[0]), float(v[1])) for k, v in dict(value).items()}
            else:
                values[key] = float(value)
        return cls(**values)


def _paint_length_px(
    line_mask: np.ndarray, start: np.ndarray, direction: np.ndarray, *, max_px: float, gap_px: float
) -> float:
    """Length of the paint run from ``start`` along ``direction`` (gaps up to ``gap_px`` bridged)."""
    height, width = line_mask.shape
    steps = np.arange(1.0, max_px + 1.0)
    samples = start[None, :] + steps[:, None] * direction[None, :]
    cols = np.rint(samples[:, 0]).astype(int)
    rows = np.rint(samples[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    painted = np.zeros(len(steps), bool)
    painted[inside] = line_mask[rows[inside], cols[inside]]
    if not inside.all():  # the view ends: the line may go on, paint says nothing past the edge
        painted[~inside] = False
    last, gap = 0.0, 0.0
    for step, hit in zip(steps, painted, strict=True):
        if hit:
            last, gap = step, 0.0
        else:
            gap += 1.0
            if gap > gap_px:
                break
    return last


def _free_fraction(free_mask: np.ndarray, corners: np.ndarray) -> float:
    """Fraction of the quadrilateral's visible pixels labelled free."""
    height, width = free_mask.shape
    polygon = np.rint(corners).astype(np.int32)
    x0, y0 = np.clip(polygon.min(axis=0), 0, [width, height])
    x1, y1 = np.clip(polygon.max(axis=0) + 1, 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    region = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(region, [polygon - [x0, y0]], 1)
    inside = region.astype(bool)
    if not inside.any():
        return 0.0
    return float(free_mask[y0:y1, x0:x1][inside].mean())


def _pair_kind(
    p: np.ndarray, q: np.ndarray, metres_per_pixel: float, priors: SlotPriors
) -> tuple[str, float, np.ndarray] | None:
    """The slot type two marking points' entrance fits -> (type, direction agreement, mean direction).

    None when their directions disagree or the entrance fits no type's width or length.
    """
    agree_cos = np.cos(np.deg2rad(priors.direction_agreement_deg))
    perp_sin = np.sin(np.deg2rad(priors.perpendicular_tolerance_deg))
    angled_sin = np.sin(np.deg2rad(priors.max_angled_deg))
    width_lo, width_hi = priors.perpendicular_width_m
    length_lo, length_hi = priors.parallel_length_m
    a, b = p[[DX, DY]], q[[DX, DY]]
    agreement = float(a @ b)
    if agreement < agree_cos:
        return None
    entrance = q[[X, Y]] - p[[X, Y]]
    length_px = float(np.hypot(*entrance))
    if length_px < 1e-6:
        return None
    unit = entrance / length_px
    mean_dir = (a + b) / np.linalg.norm(a + b)
    along = abs(float(unit @ mean_dir))  # sin of the lines' angle from the entrance normal
    length_m = length_px * metres_per_pixel
    across_m = length_m * np.sqrt(max(0.0, 1.0 - along * along))
    if along <= perp_sin and width_lo <= length_m <= width_hi:
        return "perpendicular", agreement, mean_dir
    if along <= perp_sin and length_lo <= length_m <= length_hi:
        return "parallel", agreement, mean_dir
    if perp_sin < along <= angled_sin and width_lo <= across_m <= width_hi:
        return "angled", agreement, mean_dir
    return None


def _point_between(points: np.ndarray, i: int, j: int, metres_per_pixel: float, priors: SlotPriors) -> bool:
    """Another marking point lies on the entrance from point ``i`` to ``j``: they are no slot's pair."""
    others = np.delete(points, [i, j], axis=0)
    if not len(others):
        return False
    p, q = points[i], points[j]
    entrance = q[[X, Y]] - p[[X, Y]]
    length_px = float(np.hypot(*entrance))
    unit = entrance / length_px
    offset = others[:, [X, Y]] - p[[X, Y]]
    t = offset @ unit / length_px
    distance = np.abs(offset @ np.array([-unit[1], unit[0]]))
    margin = END_MARGIN_M / metres_per_pixel / length_px  # twin points of a double line count
    on_line_px = priors.point_on_entrance_m / metres_per_pixel
    return bool(np.any((t > margin) & (t < 1.0 - margin) & (distance < on_line_px)))


def _deep_lines(
    line_mask: np.ndarray,
    starts: tuple[np.ndarray, np.ndarray],
    mean_dir: np.ndarray,
    metres_per_pixel: float,
    priors: SlotPriors,
) -> bool:
    """Separating lines longer than a parallel slot is deep run from the points.

    Then the pair is a perpendicular row with a missed marking point between them, not a parallel slot.
    """
    reach = priors.depth_range_m.get("parallel", (0.0, np.inf))[1] / metres_per_pixel
    gap = priors.paint_gap_m / metres_per_pixel
    return any(
        _paint_length_px(line_mask, start, mean_dir, max_px=reach + 2.0 / metres_per_pixel, gap_px=gap)
        > reach
        for start in starts
    )


def _candidates(
    points: np.ndarray, metres_per_pixel: float, priors: SlotPriors, line_mask: np.ndarray | None
) -> list[tuple[float, int, int, str, np.ndarray]]:
    """Every pair of points that could be a slot's entrance -> (confidence, left, right, type, direction)."""
    candidates: list[tuple[float, int, int, str, np.ndarray]] = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            p, q = points[i], points[j]
            fit = _pair_kind(p, q, metres_per_pixel, priors)
            if fit is None or _point_between(points, i, j, metres_per_pixel, priors):
                continue
            kind, agreement, mean_dir = fit
            if (
                kind == "parallel"
                and line_mask is not None
                and _deep_lines(line_mask, (p[[X, Y]], q[[X, Y]]), mean_dir, metres_per_pixel, priors)
            ):
                continue
            # corners[0] -> corners[1] left to right from the aisle: clockwise on screen.
            entrance = q[[X, Y]] - p[[X, Y]]
            left, right = (
                (i, j) if float(entrance[0] * mean_dir[1] - entrance[1] * mean_dir[0]) > 0 else (j, i)
            )
            confidence = float(np.sqrt(p[SCORE] * q[SCORE])) * (0.5 + 0.5 * agreement)
            candidates.append((confidence, left, right, kind, mean_dir))
    candidates.sort(key=lambda item: -item[0])
    return candidates


def _slot(
    entrance: tuple[np.ndarray, np.ndarray],
    kind: str,
    mean_dir: np.ndarray,
    confidence: float,
    *,
    instance_id: int,
    metres_per_pixel: float,
    priors: SlotPriors,
    line_mask: np.ndarray | None,
    free_mask: np.ndarray | None,
) -> ParkingSlot:
    """The slot behind an entrance: its depth from the separating lines' paint, its occupancy."""
    p0, p1 = entrance
    depth_m = priors.default_depth_m.get(kind, 5.0)
    depth_source = "default"
    if line_mask is not None:
        low, high = priors.depth_range_m.get(kind, (0.0, np.inf))
        reach = high / metres_per_pixel
        gap = priors.paint_gap_m / metres_per_pixel
        lengths = [
            _paint_length_px(line_mask, start, mean_dir, max_px=reach, gap_px=gap) * metres_per_pixel
            for start in (p0, p1)
        ]
        measured = [value for value in lengths if low <= value <= high]
        if measured:
            depth_m, depth_source = float(max(measured)), "paint"
    back = mean_dir * depth_m / metres_per_pixel
    corners = np.array([p0, p1, p1 + back, p0 + back], dtype=np.float32)
    free = True
    free_fraction = None
    occupancy_confidence = 0.0  # no free-space class: occupancy unknown, reported free
    if free_mask is not None:
        free_fraction = _free_fraction(free_mask, corners)
        free = free_fraction >= priors.min_free_fraction
        # How far the fraction is from the threshold, scaled to 0..1 on its side.
        threshold = priors.min_free_fraction
        span = (1.0 - threshold) if free else threshold
        occupancy_confidence = min(1.0, abs(free_fraction - threshold) / max(span, 1e-6))
    extra: dict[str, Any] = {"depth_m": round(depth_m, 3), "depth_from": depth_source}
    if free_fraction is not None:
        extra["free_fraction"] = round(free_fraction, 3)
    return ParkingSlot(
        corners=corners,
        free=free,
        instance_id=instance_id,
        slot_type=SlotType[kind.upper()],
        confidence=confidence,
        occupancy_confidence=occupancy_confidence,
        extra=extra,
    )


def assemble_slots(
    points: np.ndarray,
    *,
    metres_per_pixel: float,
    priors: SlotPriors,
    line_mask: np.ndarray | None = None,
    free_mask: np.ndarray | None = None,
) -> list[ParkingSlot]:
    """Pair marking points into slots (see the module docstring).

    Args:
        points: ``(K, 5)`` rows ``(x, y, dx, dy, score)`` in frame pixels
            (:func:`~seg_perception.postprocess.marking_points.decode_marking_points`).
        metres_per_pixel: Ground resolution of the frame.
        priors: Metric priors.
        line_mask: Optional (H, W) bool ``slot_line`` pixels of the frame, for the depth.
        free_mask: Optional (H, W) bool ``free_slot`` pixels of the frame, for occupancy.

    Returns:
        Slots best first, with ``slot_type``, ``confidence``, ``free`` and pixel corners;
        ``instance_id`` numbers them in that order.
    """
    if metres_per_pixel <= 0:
        raise ValueError(f"metres_per_pixel must be positive, got {metres_per_pixel}")
    points = np.asarray(points, dtype=np.float64).reshape(-1, 5)
    used_left: set[int] = set()
    used_right: set[int] = set()
    slots: list[ParkingSlot] = []
    # the most confident pairs first; a point is the left corner of one slot and the right of one
    for confidence, left, right, kind, mean_dir in _candidates(points, metres_per_pixel, priors, line_mask):
        if left in used_left or right in used_right:
            continue
        used_left.add(left)
        used_right.add(right)
        slots.append(
            _slot(
                (points[left, [X, Y]], points[right, [X, Y]]),
                kind,
                mean_dir,
                confidence,
                instance_id=len(slots),
                metres_per_pixel=metres_per_pixel,
                priors=priors,
                line_mask=line_mask,
                free_mask=free_mask,
            )
        )
    return slots
