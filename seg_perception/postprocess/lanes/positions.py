"""Where boundaries lie around the car: positions (ego-left, right-1, ...), the ego lane, and the
filters that need them (step 7 of :mod:`seg_perception.postprocess.lanes`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seg_perception.postprocess.lanes.curves import polyval_at
from seg_perception.postprocess.lanes.results import EGO_LEFT, EGO_RIGHT, SOLID, YELLOW, EgoLane, LaneBoundary


def without_narrow_ego_lane(boundaries: list[LaneBoundary], min_width: float) -> list[LaneBoundary]:
    """``boundaries`` without the less confident of the two nearest lines either side of the car, for as
    long as those lie closer together at the car than ``min_width`` (metres; 0: all kept)."""
    kept = list(boundaries)
    while min_width > 0:
        left, right = _sides_at_vehicle(kept)
        if not left or not right or left[0][0] - right[0][0] >= min_width:
            break
        weaker = left[0][1] if left[0][1].confidence < right[0][1].confidence else right[0][1]
        kept = [b for b in kept if b is not weaker]
    return kept


def _sides_at_vehicle(
    boundaries: list[LaneBoundary],
) -> tuple[list[tuple[float, LaneBoundary]], list[tuple[float, LaneBoundary]]]:
    """``(offset at the vehicle, boundary)`` of the lines left of the car and right of it, nearest first."""
    at_vehicle = [(polyval_at(0.0, b.plane_coefficients), b) for b in boundaries]
    left = sorted((item for item in at_vehicle if item[0] >= 0), key=lambda item: item[0])
    right = sorted((item for item in at_vehicle if item[0] < 0), key=lambda item: -item[0])
    return left, right


def within_yellow_edge(boundaries: list[LaneBoundary], side: str) -> list[LaneBoundary]:
    """``boundaries`` (left to right) without those beyond the solid yellow line nearest the car on ``side``.

    Args:
        boundaries: Sorted by lateral offset at the car, leftmost first.
        side: ``left``, ``right`` or empty (every boundary is kept).
    """
    if not side:
        return boundaries
    offsets = [float(b.plane_coefficients[0]) for b in boundaries]
    edges = [
        index
        for index, (boundary, offset) in enumerate(zip(boundaries, offsets, strict=True))
        if boundary.color == YELLOW and boundary.line_type == SOLID and (offset > 0.0) == (side == "left")
    ]
    if side == "left" and edges:
        return boundaries[edges[-1] :]
    if side == "right" and edges:
        return boundaries[: edges[0] + 1]
    return boundaries


def assign_positions(boundaries: list[LaneBoundary], max_lane_width: float = 0.0) -> None:
    """Name boundaries by their lateral offset at the vehicle: ego-left/right, then left-1/right-1, ...

    With ``max_lane_width`` (> 0, same units as the offsets), a nearest line that would make the
    ego lane wider than that (or, alone on its side of an empty other side, lies farther than that
    from the vehicle) is taken for the next line out: its side's names start one position further.
    Farther out, a gap between two neighbouring lines wider than that moves the outer line (and
    those beyond it) one position further for each further lane that fits in the gap.
    """
    left, right = _sides_at_vehicle(boundaries)
    skip_left = skip_right = 0
    if max_lane_width > 0:
        if left and right and left[0][0] - right[0][0] > max_lane_width:
            if left[0][0] > -right[0][0]:
                skip_left = 1
            else:
                skip_right = 1
        elif left and not right and left[0][0] > max_lane_width:
            skip_left = 1
        elif right and not left and -right[0][0] > max_lane_width:
            skip_right = 1
    for rank, boundary in zip(_ranks(left, skip_left, max_lane_width), (b for _, b in left), strict=True):
        boundary.position_index = rank + 1
        boundary.position = EGO_LEFT if rank == 0 else f"left_{rank}"
    for rank, boundary in zip(_ranks(right, skip_right, max_lane_width), (b for _, b in right), strict=True):
        boundary.position_index = -(rank + 1)
        boundary.position = EGO_RIGHT if rank == 0 else f"right_{rank}"


def within_farthest_position(boundaries: list[LaneBoundary], farthest: int) -> list[LaneBoundary]:
    """``boundaries`` (positions assigned) without those beyond left_``farthest`` / right_``farthest``
    (0: all kept)."""
    if farthest <= 0:
        return boundaries
    # position_index: +-1 the ego boundaries, +-(N + 1) left_N / right_N
    return [b for b in boundaries if abs(b.position_index) <= farthest + 1]


def _ranks(side: list[tuple[float, LaneBoundary]], first: int, max_lane_width: float) -> list[int]:
    """Position ranks (0: the ego boundary) of one side's lines, nearest first, the first at ``first``.

    With ``max_lane_width`` > 0, a gap between neighbouring lines wider than a lane skips one rank
    for each further lane that could fit in it (``ceil(gap / max_lane_width) - 1``): a line missed
    between them, or the shoulder and median before another carriageway, so the line beyond is not
    named the next lane's boundary.
    """
    ranks: list[int] = []
    rank = first
    for index, (offset, _) in enumerate(side):
        if index > 0:
            gap = abs(offset - side[index - 1][0])
            rank += 1 + (int(np.ceil(gap / max_lane_width)) - 1 if 0 < max_lane_width < gap else 0)
        ranks.append(rank)
    return ranks


def ego_lane(boundaries: Sequence[LaneBoundary], *, metric: bool) -> EgoLane | None:
    """Width, offset, heading and curvature of the lane between the ego boundaries (None without both)."""
    left = next((b for b in boundaries if b.position == EGO_LEFT), None)
    right = next((b for b in boundaries if b.position == EGO_RIGHT), None)
    if left is None or right is None:
        return None
    cl, cr = left.plane_coefficients, right.plane_coefficients
    slope = (cl[1] + cr[1]) / 2.0
    second = (cl[2] + cr[2]) / 2.0 if len(cl) > 2 else 0.0
    return EgoLane(
        width=float(cl[0] - cr[0]),
        lateral_offset=float(-(cl[0] + cr[0]) / 2.0),
        heading_rad=float(-np.arctan(slope)),
        curvature=float(2.0 * second / (1.0 + slope**2) ** 1.5),
        left_id=int(left.id),
        right_id=int(right.id),
        metric=metric,
    )
