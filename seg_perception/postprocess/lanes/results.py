"""What the extraction returns: one frame's lane boundaries, ego lane and road markings, with their JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seg_perception.postprocess.hood import hood_rows
from seg_perception.postprocess.lanes.curves import polyval
from seg_perception.postprocess.lanes.plane import ExtractionPlane

SOLID, DASHED, DOUBLE, UNKNOWN = "solid", "dashed", "double", "unknown"
HOOD_JSON_POINTS = 17  # the hood's edge in a frame's JSON: this many points, evenly across the width
WHITE, YELLOW = "white", "yellow"
EGO_LEFT, EGO_RIGHT = "ego_left", "ego_right"
STOP_LINE, CROSSWALK = "stop_line", "crosswalk"


@dataclass
class LaneBoundary:
    """One lane line (or road edge) as a smooth curve.

    Attributes:
        id: Track id, stable over frames (a per-frame index before tracking).
        position: ``ego_left``, ``ego_right``, ``left_1``, ``right_1``, ... by lateral offset.
        position_index: +1 ego-left, +2 left-1, ...; -1 ego-right, -2 right-1, ...
        line_type: ``solid``, ``dashed``, ``double`` or ``unknown``.
        color: ``white`` or ``yellow`` (``unknown`` without an image).
        confidence: 0..1, from paint support and fit quality (decays while coasting).
        metric: True when ``coefficients`` and ``ground_points`` are metres on the ground.
        coefficients: metric: ``y(x) = c0 + c1 x + c2 x^2 + c3 x^3`` (x forward, y left, metres);
            otherwise ``u(v) = c0 + c1 v + c2 v^2`` in pixels (u column, v row).
        valid_range: metric: ``(x_near, x_far)`` metres; otherwise ``(v_top, v_bottom)`` rows.
        image_points: (K, 2) float32 pixel polyline ``(u, v)`` from near to far.
        ground_points: (K, 2) float32 ``(x, y)`` metres (metric) or None.
        plane_coefficients: The same curve in the extraction plane (metres or pseudo-metres),
            ``c0..c3``, used for tracking.
        plane_range: ``(x_near, x_far)`` in the extraction plane: the stretch drawn, which runs
            past the paint (``extend_to_m``).
        missed_frames: Frames since paint last supported it (tracking; 0 = seen now).
        painted_range: ``(x_near, x_far)`` of the paint it was fitted to, in the extraction
            plane (None: ``plane_range``); tracks are matched there.
    """

    id: int
    position: str
    position_index: int
    line_type: str
    color: str
    confidence: float
    metric: bool
    coefficients: np.ndarray
    valid_range: tuple[float, float]
    image_points: np.ndarray
    ground_points: np.ndarray | None
    plane_coefficients: np.ndarray
    plane_range: tuple[float, float]
    missed_frames: int = 0
    painted_range: tuple[float, float] | None = None

    @property
    def paint_range(self) -> tuple[float, float]:
        """``(x_near, x_far)`` of the paint behind the curve (``plane_range`` when not recorded)."""
        return self.painted_range if self.painted_range is not None else self.plane_range

    def lateral_at(self, x: float | np.ndarray) -> np.ndarray:
        """Lateral offset (plane units, left positive) at forward distance ``x``."""
        return polyval(x, self.plane_coefficients)

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "class": "lane_boundary",
            "id": int(self.id),
            "position": self.position,
            "position_index": int(self.position_index),
            "type": self.line_type,
            "color": self.color,
            "confidence": round(float(self.confidence), 3),
            "frame": "vehicle_ground" if self.metric else "image",
            "coefficients": [float(c) for c in self.coefficients],
            "valid_range": [round(float(v), 3) for v in self.valid_range],
            "missed_frames": int(self.missed_frames),
            "vertices": np.asarray(self.image_points, dtype=float).round(2).tolist(),
        }
        if self.ground_points is not None:
            record["points_m"] = np.asarray(self.ground_points, dtype=float).round(3).tolist()
        return record


@dataclass
class EgoLane:
    """The lane the vehicle is in (plane units: metres when calibrated).

    Attributes:
        width: Lateral distance between the ego boundaries at the vehicle (``x = 0``).
        lateral_offset: The vehicle's offset from the lane centre, positive to the left.
        heading_rad: The vehicle's heading relative to the lane, positive turned left.
        curvature: Of the lane centre at the vehicle, 1/m, positive curving left.
        left_id, right_id: Ids of the two boundaries.
        metric: True when the numbers are metres.
    """

    width: float
    lateral_offset: float
    heading_rad: float
    curvature: float
    left_id: int
    right_id: int
    metric: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "width": round(float(self.width), 3),
            "lateral_offset": round(float(self.lateral_offset), 3),
            "heading_rad": round(float(self.heading_rad), 4),
            "curvature": round(float(self.curvature), 6),
            "left_id": int(self.left_id),
            "right_id": int(self.right_id),
            "units": "m" if self.metric else "pseudo_m",
        }


@dataclass
class RoadMarking:
    """A stop line or a crosswalk, kept apart from the lane boundaries.

    Attributes:
        kind: ``stop_line`` or ``crosswalk``.
        id: Index within the frame, nearest first.
        image_points: (K, 2) float32 pixel outline.
        ground_points: (K, 2) float32 outline in metres, or None when uncalibrated.
        distance: Forward distance of its near edge (plane units).
        far_distance: Forward distance of its far edge (plane units).
        on_path: Whether it reaches the car's path (``junction_corridor_m``): only such a
            marking ends the lane boundaries.
    """

    kind: str
    id: int
    image_points: np.ndarray
    ground_points: np.ndarray | None
    distance: float
    far_distance: float = 0.0
    on_path: bool = True

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "class": self.kind,
            "id": int(self.id),
            "distance": round(float(self.distance), 3),
            "vertices": np.asarray(self.image_points, dtype=float).round(2).tolist(),
        }
        if self.ground_points is not None:
            record["points_m"] = np.asarray(self.ground_points, dtype=float).round(3).tolist()
        return record


@dataclass
class LaneResult:
    """One frame's lane boundaries, ego lane and road markings."""

    boundaries: list[LaneBoundary] = field(default_factory=list)
    ego_lane: EgoLane | None = None
    markings: list[RoadMarking] = field(default_factory=list)
    metric: bool = False
    vanishing_point: tuple[float, float] | None = None
    plane: ExtractionPlane | None = field(default=None, repr=False)
    frame_size: tuple[int, int] = (0, 0)
    # widest ego lane the positions allow (metres; 0: no check), for the tracker's renaming
    max_lane_width: float = 0.0
    # the farthest position either side that is published (LaneSettings.farthest_position; 0: all),
    # for the tracker's renaming
    farthest_position: int = 0
    # the tracker draws its tracks as the extractor drew the boundaries (start_at_frame_edge)
    start_at_frame_edge: bool = False
    # the boundaries are of the road across a junction the car is at: they start at their paint
    across_junction: bool = False
    # (W,) rows of the car's hood edge (postprocess.hood), or None: boundaries are drawn above it
    hood_edge: np.ndarray | None = field(default=None, repr=False)
    # the hood edge is the tracker's hint (held from earlier frames), not found in this frame
    hood_held: bool = False

    def boundary_at(self, position: str) -> LaneBoundary | None:
        return next((b for b in self.boundaries if b.position == position), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": bool(self.metric),
            "boundaries": [b.to_json() for b in self.boundaries],
            "ego_lane": self.ego_lane.to_json() if self.ego_lane is not None else None,
            "markings": [m.to_json() for m in self.markings],
            "hood_edge": None if self.hood_edge is None else _hood_vertices(self.hood_edge),
        }


def _hood_vertices(edge: np.ndarray) -> list[list[float]]:
    """The hood's edge (a row per column) as :data:`HOOD_JSON_POINTS` pixels ``[u, v]`` across the frame."""
    u = np.linspace(0.0, len(edge) - 1.0, HOOD_JSON_POINTS)
    return np.column_stack([u, hood_rows(edge, u)]).round(1).tolist()
