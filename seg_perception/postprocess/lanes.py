"""Lane-marking mask -> lane boundaries: dashes joined across gaps, fitted, typed and placed.

The steps, all plain NumPy/OpenCV:

1. **Runs.** In sampled rows (``rows`` over the height, denser towards the farthest paint), the
   lane-paint pixels of the row are split into runs
   (short holes closed). Runs whose width across the road exceeds ``transverse_width_m`` are
   transverse paint (stop lines), not lane lines.
2. **Tracklets.** Runs are linked from the bottom row upwards into tracklets (one dash, or a
   stretch of a solid line), following each tracklet's slope, so two lines that touch far
   away stay apart.
3. **Plane.** Run centres go to a ground plane ``(x forward, y left)``: metres through the
   camera's homography when calibrated; otherwise a *pseudo-ground* from the vanishing point
   ``(u0, v0)`` of the tracklets, ``x = F h / (v - v0)``, ``y = -(u - u0) h / (v - v0)`` with a
   nominal focal length ``F`` and camera height ``h``. For a camera with small pitch and roll
   that map is the true ground up to scale, so lane lines are parallel in it (the
   vanishing point, :mod:`seg_perception.postprocess.vanishing`, is re-estimated each frame and
   smoothed by the caller's ``hint``).
4. **Grouping.** One least-squares fit of all tracklets with a shared road shape
   ``c1 x + c2 x^2 + c3 x^3`` and one lateral offset per tracklet; the offsets are clustered
   (gap > ``cluster_gap_m`` starts a new line). Dashes of one line share an offset however
   long the gap between them, so a line is joined across its dash gaps.
5. **Fit.** Each line is fitted as ``y = c0 + c1 x + c2 x^2 + c3 x^3``, pulled towards the
   shared shape (short lines follow the road, long lines their own paint); the heading ``c1``
   only loosely (``heading_prior``), as a horizon a few rows off, or a camera pitched otherwise
   than its calibration, turns each line in the plane by its offset.
6. **Junctions.** A lane ends at the first stop line or crosswalk ahead (stop lines: the paint's
   row runs at least ``transverse_width_m`` across the road, apart from the lines they touch);
   paint beyond it is the road across the junction (used instead when the car is already at the
   junction: its marking begins within ``at_junction_m`` of the bottom row, or no line shows that
   much paint before it), whose boundaries all start where its nearest solid line does. With
   ``unmarked_junction_m`` a stretch of road that long without any line's paint, lines going on
   on both sides of it, is a junction too (one without markings, or whose markings were missed).
7. **Attributes.** Type from the coverage of the line by paint (dashed: gaps along it;
   double: two parallel tracklets 0.1-0.7 m apart), colour from the image under the paint
   (HSV), position from the lateral offset at the vehicle (``x = 0``), confidence from the
   paint support and fit residual; the ego lane from the two boundaries either side.

A boundary's valid range runs from the ground seen by the bottom image row to the farthest
paint of the frame, at least ``extend_to_m`` ahead (not past a junction): a line goes on where
a vehicle hides its paint or where it is too thin far away for the mask, as lane labels (and a
planner's lookahead) assume. ``painted_range`` keeps the stretch its own paint covers. Its image
polyline is the fitted curve projected back (clipped to the image).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import cv2
import numpy as np

from seg_perception.postprocess.camera_model import GroundMapper, horizon_row
from seg_perception.postprocess.hood import find_hood, hood_rows, paint_below
from seg_perception.postprocess.settings import settings_values
from seg_perception.postprocess.vanishing import VP_MIN_SPAN, intersect_lines, vanishing_lines

SOLID, DASHED, DOUBLE, UNKNOWN = "solid", "dashed", "double", "unknown"
HOOD_JSON_POINTS = 17  # the hood's edge in a frame's JSON: this many points, evenly across the width
WHITE, YELLOW = "white", "yellow"
YELLOW_EDGE_SIDES = ("", "left", "right")  # LaneSettings.yellow_edge_side
EGO_LEFT, EGO_RIGHT = "ego_left", "ego_right"
STOP_LINE, CROSSWALK = "stop_line", "crosswalk"
_X_SCALE = 50.0  # metres: normalises x in the fits so that all coefficients are of similar size
VP_SMOOTHING = 0.3  # weight of this frame's vanishing point against the hint
VP_JUMP = 0.08  # a per-frame estimate farther than this share of the height from the hint is ignored
# frames that confirmed the smoothed vanishing point count up to this many against refused estimates
# (vanishing_reanchor_frames): a horizon held for a second gives way to a second of agreeing others
VP_SUPPORT_CAP = 30
_RENDER_POINTS = 40  # samples along a drawn boundary
# the car is at a junction whose stop line or crosswalk begins less than this far beyond the bottom
# image row: the stretch of lane before it is too short to steer by, its lines are of the road across
# (LaneSettings.at_junction_m; the synthetic drives' truth, training.lane_eval, follows it)
AT_JUNCTION_M = 1.0


@dataclass(frozen=True)
class LaneSettings:
    """Thresholds of the lane-boundary extraction (the ``lanes`` block of a scenario config).

    Lengths in metres apply to the ground plane (pseudo-ground metres when uncalibrated).
    """

    lane_class: str = "lane_marking"
    crosswalk_class: str = "crosswalk"
    rows: int = 128  # sampled rows over the image height
    max_hole_px: int = 2
    transverse_width_m: float = 0.9
    cluster_gap_m: float = 0.7
    double_min_sep_m: float = 0.1
    double_max_sep_m: float = 0.75
    min_samples: int = 3
    min_painted_m: float = 1.0  # paint length along a boundary below which it is a blob, not a line
    max_range_m: float = 90.0
    dashed_max_coverage: float = 0.8
    min_gap_m: float = 1.0
    type_min_span_m: float = 10.0
    max_lines: int = 8
    shape_range_m: float = 30.0  # tracklets starting nearer than this fit the road shape
    max_shape_residual_m: float = 0.25  # tracklets farther from the shape are not lane lines
    shape_prior: float = 0.3
    shape_span_m: float = 20.0  # boundaries shorter than this lean on the shared road shape
    # the share of shape_prior that pulls a line's heading towards the road's (its curvature terms
    # get all of it). Lines are parallel in the plane only under the true horizon: an estimated
    # horizon a few rows off (uncalibrated), or a camera pitched otherwise than its calibration says
    # (braking, a load, a slope ahead), turns each line there by an amount proportional to its
    # offset, so an outer line pulled to the road's heading leaves its own paint near the car
    heading_prior: float = 0.01
    # calibrated cameras: the lines' vanishing point (smoothed over frames like the image space's) moves
    # the calibration's horizon by up to this share of the frame height (0: never): braking, a load or a
    # slope ahead pitch the camera away from its calibration, and the whole road shifts by as many rows
    pitch_from_lines: float = 0.0
    min_extrapolation_m: float = 8.0
    # paint that begins farther ahead than this (0: no limit) is not made a boundary: its offset at
    # the car is a long extrapolation (a far blob, or the far end of a curve the shared shape does
    # not follow), and ranked by that offset it would take the position of a line seen near the car
    max_paint_start_m: float = 0.0
    # paint spanning less than this along the road (0: no limit) is not made a boundary: a lone
    # fleck of paint, a glint or a kerb's corner seen over a metre or two, not a line. Measured on
    # the span from the first to the last paint, not on the painted length, so that Botts' dots
    # (little paint over a long span) stay lines
    min_paint_span_m: float = 0.0
    # calibrated cameras: paint that begins farther ahead than far_paint_start_m (0: no check) is
    # a boundary only if it spans at least far_paint_min_span_m: a few metres of paint far ahead
    # (a vehicle's edge, a bit of barrier, a line of another carriageway) give a boundary whose
    # offset at the car is extrapolated over several times their length. Not applied in image
    # space, whose pseudo-metres far ahead have no reliable scale
    far_paint_start_m: float = 0.0
    far_paint_min_span_m: float = 0.0
    # a boundary is continued along its curve to this distance ahead (0: only to its paint), as
    # lane labels run through paint hidden by vehicles or too thin far away for the mask; a
    # stop line or crosswalk ahead ends it first
    extend_to_m: float = 60.0
    # past the farthest paint of its line a boundary runs on along its tangent there instead of
    # its polynomial (False: the polynomial's curvature is extrapolated); a curvature fitted to a
    # few metres of paint grows sideways over tens of metres of run-on (hooks near the horizon)
    run_on_straight: bool = False
    # calibrated cameras: the nearest line on a side is an ego boundary only if the ego lane it
    # makes is at most this wide (with one side seen: it lies within this of the car); else it is
    # named one position out, so a missed ego line does not turn its neighbour into the ego
    # boundary, a lane away. Farther out likewise: a line more than this beyond its inner
    # neighbour is named a position further out per lane that fits in the gap (a missed line, or
    # a shoulder and median before another carriageway's lines) (0: no check)
    max_lane_width_m: float = 0.0
    # calibrated cameras: the car's own lane is at least this wide at the car (no car fits a narrower
    # one); of two nearest lines either side closer than this, the less confident is no lane line (a
    # seam, a shadow's edge or glare taken for paint) and is dropped (0: no check)
    min_lane_width_m: float = 0.0
    # "left" / "right" ("": neither): a solid yellow line on this side of the car is the edge of
    # its carriageway, and nothing beyond it is a lane boundary (right-hand traffic's divided
    # highways paint their left edge yellow; beyond it lie a shoulder, a barrier or a guardrail,
    # whose long bright edges a model takes for paint)
    yellow_edge_side: str = ""
    # paint is a stripe: brighter (HSV value) than the ground on both of its sides by at least
    # stripe_contrast. A boundary whose samples are such stripes in less than this share (0: no
    # check) is not made: the edge of snow on the road, of a sunlit kerb or of a wall is bright on
    # one side only, and a model takes its long straight edge for paint
    min_stripe_share: float = 0.0
    stripe_contrast: float = 8.0
    yellow_min_saturation: int = 70
    yellow_hue: tuple[int, int] = (10, 40)
    yellow_min_share: float = 0.4
    nominal_height_m: float = 1.4
    nominal_hfov_deg: float = 70.0
    # uncalibrated: the vanishing point of the paint lies within this pitch (rows) and this yaw
    # (columns) of the image centre for the nominal field of view; lane-line crossings farther
    # out (a shadow edge or a blob crossing a line) are not taken for it
    vanishing_max_pitch_deg: float = 12.0
    vanishing_max_yaw_deg: float = 15.0
    # uncalibrated: tracklets spanning at least this share of the image height vote for the
    # vanishing point first, the shorter ones only when those give none; a model's short paint
    # fragments (far dashes, blobs) have noisy directions that bias it (upwards, 6-32 px of 540 on
    # the held-out drives), but where a line is only dashes they are all there is
    vanishing_long_span: float = 0.05
    # uncalibrated: tracklets on one straight image line (within this share of the height, RMS)
    # are joined before they vote, so that a line's dashes vote with the direction of the whole
    # line (0: each tracklet alone); a model's short dashes have noisy directions of their own
    vanishing_join: float = 0.0
    # uncalibrated: two lines leaning the same way vote for the vanishing point when their
    # directions differ by at least this angle and a third line passes through their crossing
    # (within vanishing_join), only where no lines either side of the car give one (0: never), so
    # that a car at the road's edge, with all its lines on one side, still finds the horizon.
    # Both off in the code's defaults, on in config/highway.yaml: measured in docs/lanes.md
    # (better on most synthetic drives, on true masks and on 18 fresh highway drives)
    vanishing_same_side_deg: float = 0.0
    # uncalibrated: when nothing above gives a vanishing point, two long lines leaning the same
    # way whose directions differ by at least this angle vote without a third line through their
    # crossing (0: never), rather than the nominal guess; a camera that sees the lines of one side
    # only (a snow bank or an unpainted edge on the other) otherwise keeps a horizon it never found
    vanishing_pair_deg: float = 0.0
    # uncalibrated: this share of each tracklet's rows is left out at either end before it votes
    # (0: none); the end rows of a slanted dash cut its end at a slant, or are a model's rounded
    # caps, and their run centres pull the tracklet's direction towards the vertical, which moves
    # the crossing above the horizon (11-18 px of 540 on model masks of development drives)
    vanishing_trim: float = 0.0
    # uncalibrated, on a stream: a frame's estimate farther than VP_JUMP from the smoothed one is
    # ignored as an outlier; when at least this many frames in a row give such estimates that agree
    # with each other, and more of them than frames confirmed the smoothed one (up to
    # VP_SUPPORT_CAP), their median replaces it (0: never), so that a wrong first estimate cannot
    # hold for the rest of a drive against every later frame's paint, nor a few agreeing outliers
    # replace a horizon that many frames confirmed
    vanishing_reanchor_frames: int = 0
    stop_line_min_length_m: float = 1.5
    stop_line_max_depth_m: float = 1.2
    crosswalk_join_m: float = 1.5
    # a stop line or crosswalk ends the boundaries only when its lateral span comes within this
    # distance of the car's axis at its row (0: every one does); transverse paint off to the side,
    # such as a tail light or the edge of a lane two over, would otherwise cut every boundary
    junction_corridor_m: float = 0.0
    # with junction_corridor_m: whether transverse paint off the car's path is still reported as a
    # stop line (it ends no boundary either way); False where roads have no stop lines beside the
    # car's path (highways), so a far dash seen at a slant is not published as one
    off_path_stop_lines: bool = True
    # crossing a junction whose stop line or crosswalk has left the frame (the previous frame's
    # boundaries were across it), boundaries start at their first paint until paint comes within
    # this distance of the bottom image row: the car has reached the painted road
    junction_exit_m: float = 2.0
    # a stop line or crosswalk beginning less than this beyond the bottom image row is the junction
    # the car is at: boundaries are of the road across it
    at_junction_m: float = AT_JUNCTION_M
    # a junction with no stop line or crosswalk on the car's road (or one the model missed) shows as a
    # stretch of road at least this long with no lane paint on it while lines at least
    # min_lane_width_m apart go on both before and after it: the lines end there as at a marked one
    # (0: not looked for; calibrated cameras only, the length is in metres). Longer than the gaps
    # between dashes (9 m on US skip lines, whose dashes on neighbouring lines often line up)
    unmarked_junction_m: float = 0.0
    # a boundary starts where its curve enters the frame (the bottom row or a side) rather than at
    # its first rendered sample inside, up to one sample spacing (7 % of the distance) further on
    start_at_frame_edge: bool = False
    # the car's hood may cover up to this share of the frame's height (0: never looked for): where
    # the frame shows one (postprocess.hood), boundaries start at its edge, not on the car itself
    hood_max_share: float = 0.0

    def __post_init__(self) -> None:
        if self.yellow_edge_side not in YELLOW_EDGE_SIDES:
            raise ValueError(
                f"yellow_edge_side must be one of {YELLOW_EDGE_SIDES}, not {self.yellow_edge_side!r}"
            )
        if not 0.0 <= self.min_stripe_share <= 1.0:
            raise ValueError(f"min_stripe_share must lie in [0, 1], not {self.min_stripe_share}")
        if self.unmarked_junction_m < 0.0:
            raise ValueError(f"unmarked_junction_m must not be negative, not {self.unmarked_junction_m}")
        if self.unmarked_junction_m > 0.0 and self.min_lane_width_m <= 0.0:
            raise ValueError(
                "unmarked_junction_m needs min_lane_width_m (how far apart the lines it sees are)"
            )
        if self.heading_prior < 0.0:
            raise ValueError(f"heading_prior must not be negative, not {self.heading_prior}")
        if not 0.0 <= self.pitch_from_lines < 0.5:
            raise ValueError(
                f"pitch_from_lines must lie in [0, 0.5) (a share of the height), not {self.pitch_from_lines}"
            )

    def vanishing_region(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """``(u_min, u_max, v_min, v_max)`` pixels of a frame of ``size`` where the vanishing point can be."""
        height, width = size
        focal = (width / 2.0) / math.tan(math.radians(self.nominal_hfov_deg) / 2.0)
        du = focal * math.tan(math.radians(self.vanishing_max_yaw_deg))
        dv = focal * math.tan(math.radians(self.vanishing_max_pitch_deg))
        return width / 2.0 - du, width / 2.0 + du, height / 2.0 - dv, height / 2.0 + dv

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> LaneSettings:
        """From a config block; unknown keys are an error, so that typos do not go unnoticed.

        Raises:
            ValueError: an unknown key.
        """
        return cls(**settings_values(cls(), values, "lane settings"))


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
class _Plane:
    """Pixel <-> plane mapping of one frame (metric homography or vanishing-point pseudo-ground)."""

    mapper: GroundMapper | None
    vanishing_point: tuple[float, float]
    scale: float  # pseudo-ground: F * h
    height_m: float

    @property
    def metric(self) -> bool:
        return self.mapper is not None

    def to_plane(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if self.mapper is not None:
            return self.mapper.to_ground(uv)[0]
        u0, v0 = self.vanishing_point
        dv = uv[:, 1] - v0
        with np.errstate(divide="ignore", invalid="ignore"):
            dv = np.where(dv > 0.5, dv, np.nan)
            return np.column_stack([self.scale / dv, -(uv[:, 0] - u0) * self.height_m / dv])

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.mapper is not None:
            return self.mapper.to_image(xy)
        u0, v0 = self.vanishing_point
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(xy[:, 0] > 1e-6, xy[:, 0], np.nan)
            dv = self.scale / x
            return np.column_stack([u0 - xy[:, 1] * dv / self.height_m, v0 + dv])


@dataclass
class LaneResult:
    """One frame's lane boundaries, ego lane and road markings."""

    boundaries: list[LaneBoundary] = field(default_factory=list)
    ego_lane: EgoLane | None = None
    markings: list[RoadMarking] = field(default_factory=list)
    metric: bool = False
    vanishing_point: tuple[float, float] | None = None
    plane: _Plane | None = field(default=None, repr=False)
    frame_size: tuple[int, int] = (0, 0)
    # widest ego lane the positions allow (metres; 0: no check), for the tracker's renaming
    max_lane_width: float = 0.0
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


def _sample_rows(paint: np.ndarray, target: int) -> np.ndarray:
    """Rows to scan, ascending: ``target`` over the height at the bottom, denser towards the
    topmost paint (far away, where a dash spans few rows), every row there."""
    height = paint.shape[0]
    painted = np.flatnonzero(paint.any(axis=1))
    if painted.size == 0:
        return np.zeros(0, np.int64)
    return _rows_from(int(painted[0]), height, target)


@functools.lru_cache(maxsize=1024)
def _rows_from(top: int, height: int, target: int) -> np.ndarray:
    """:func:`_sample_rows` for paint from row ``top`` down (read-only; the same few per camera)."""
    bottom = height - 1
    base = max(1.0, height / target)
    rows, v = [], float(bottom)
    while v >= top:
        rows.append(round(v))
        fraction = (v - top) / max(bottom - top, 1)
        v -= max(1.0, base * (0.25 + 0.75 * fraction))
    sampled = np.unique(np.asarray(rows, dtype=np.int64))
    sampled.flags.writeable = False
    return sampled


def polyval(x: np.ndarray | float, coefficients: np.ndarray) -> np.ndarray:
    """``c0 + c1 x + c2 x^2 + ...`` by Horner's rule (several times cheaper than NumPy's on small arrays)."""
    x = np.asarray(x, dtype=np.float64)
    result = np.full(x.shape, float(coefficients[-1]))
    for c in coefficients[-2::-1]:
        result = result * x + float(c)
    return result


def polyval_at(x: float, coefficients: np.ndarray) -> float:
    """:func:`polyval` at one point, in plain floats (the same operations, a fraction of the cost)."""
    values = coefficients.tolist()
    result = float(values[-1])
    for c in values[-2::-1]:
        result = result * x + float(c)
    return result


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array without NaNs (the same value; its generality costs more than the sort)."""
    ordered = np.sort(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[half])
    return (float(ordered[half - 1]) + float(ordered[half])) / 2.0


@functools.cache
def _unit_spacing(points: int) -> np.ndarray:
    """``points`` exponents from 0 to 1: ``low * (high / low) ** t`` is ``np.geomspace(low, high)``."""
    spacing = np.linspace(0.0, 1.0, points)
    spacing.flags.writeable = False
    return spacing


def _geometric_samples(near: float, far: float, points: int) -> np.ndarray:
    """``points`` distances from ``near`` to ``far``, denser near (``np.geomspace``, ~10x cheaper)."""
    low = max(near, 1e-3)
    return np.asarray(low * (max(far, near + 1e-3) / low) ** _unit_spacing(points), dtype=np.float64)


def fit_polynomial(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares ``c0 + c1 x + ... + c_degree x^degree`` (lowest order first).

    What ``np.polynomial.polynomial.polyfit`` computes (columns scaled to unit norm for
    conditioning), without its argument checks: those cost more than the fit on a few dozen points.
    """
    design = np.asarray(x, dtype=np.float64)[:, None] ** np.arange(degree + 1)
    norms = np.sqrt(np.einsum("ij,ij->j", design, design))
    norms[norms == 0] = 1.0
    solution, *_ = np.linalg.lstsq(design / norms, np.asarray(y, dtype=np.float64), rcond=None)
    return np.asarray(solution / norms, dtype=np.float64)


def _row_runs(binary_rows: np.ndarray, max_hole: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row_index, start, end)`` of the runs of each row (end exclusive), holes <= ``max_hole`` closed.

    From the painted pixels alone (``cv2.findNonZero``, row-major), not from every pixel of
    the rows: a run starts at a pixel whose left neighbour in its row is more than
    ``max_hole`` pixels away.
    """
    pixels = cv2.findNonZero(np.ascontiguousarray(binary_rows, dtype=np.uint8))
    if pixels is None or len(pixels) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    points = pixels.reshape(-1, 2).astype(np.int64)  # (x, y), row-major
    columns, rows = points[:, 0], points[:, 1]
    starts_here = np.ones(len(columns), bool)
    starts_here[1:] = (rows[1:] != rows[:-1]) | (columns[1:] - columns[:-1] > max_hole + 1)
    first = np.flatnonzero(starts_here)
    last = np.r_[first[1:], len(columns)] - 1
    return rows[first], columns[first], columns[last] + 1


def _link_tracklets(
    rows: np.ndarray, runs: tuple[np.ndarray, np.ndarray, np.ndarray], step: float, pixel: float
) -> list[list[int]]:
    """Link runs row by row from the bottom up; a tracklet ends after two rows without a run.

    ``runs`` are ``(row index, left edge, right edge)`` (right edge exclusive) in frame pixels,
    ordered by row and then column (as ``np.nonzero`` gives them); ``step`` is the frame-pixel
    distance between sampled rows, ``pixel`` the width of a mask pixel. A tracklet is the list of
    its runs' indices, from the bottom up.

    Plain Python floats and lists throughout: a frame has a few hundred runs, where the per-call
    cost of NumPy (and of NumPy scalars) would be most of the time.
    """
    row_index, starts, ends = runs
    # runs of sampled row i: first[i] .. first[i + 1] - 1
    first = np.searchsorted(row_index, np.arange(len(rows) + 1)).tolist()
    lefts, rights, row_v = starts.tolist(), ends.tolist(), rows.tolist()
    centres = [(left + right) / 2.0 - 0.5 for left, right in zip(lefts, rights, strict=True)]
    run_v = [row_v[i] for i in row_index.tolist()]
    slack = 2.0 * step + pixel
    active: list[list[int]] = []
    idle: list[int] = []  # rows since each active tracklet was last seen
    done: list[list[int]] = []
    for row_i in range(len(row_v) - 1, -1, -1):
        v = row_v[row_i]
        lo, hi = first[row_i], first[row_i + 1]
        if lo == hi and not active:
            continue
        pairs = []
        if lo < hi and active:  # each track's prediction and width once per row, not once per run
            predicted = []
            widths = []
            for track in active:
                last = track[-1]
                if len(track) >= 3:
                    third = track[-3]
                    slope = (centres[last] - centres[third]) / (run_v[last] - run_v[third])
                    predicted.append(centres[last] + slope * (v - run_v[last]))
                else:
                    predicted.append(centres[last])
                widths.append(rights[last] - lefts[last])
            for k in range(lo, hi):
                u, run_width = centres[k], rights[k] - lefts[k]
                for track_i, track_u in enumerate(predicted):
                    distance = abs(track_u - u)
                    width = widths[track_i]
                    if distance <= slack + 0.75 * (run_width if run_width >= width else width):
                        pairs.append((distance, k, track_i))
            pairs.sort()
        taken: set[int] = set()
        used_tracks: set[int] = set()
        for _, k, track_i in pairs:
            if k in taken or track_i in used_tracks:
                continue
            taken.add(k)
            used_tracks.add(track_i)
            active[track_i].append(k)
        next_active: list[list[int]] = []
        next_idle: list[int] = []
        for track_i, track in enumerate(active):
            if track_i in used_tracks:
                next_active.append(track)
                next_idle.append(0)
            elif idle[track_i] + 1 <= 2:
                next_active.append(track)
                next_idle.append(idle[track_i] + 1)
            else:
                done.append(track)
        for k in range(lo, hi):
            if k not in taken:
                next_active.append([k])
                next_idle.append(0)
        active, idle = next_active, next_idle
    done.extend(active)
    return done


def _solve_shared(
    samples: list[np.ndarray], degree: int, weights: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``y = a_k + sum_j s_j (x/X)^j``: per-tracklet offsets ``a`` and shared shape ``s``."""
    count = len(samples)
    xy = np.concatenate(samples)
    xs = xy[:, 0] / _X_SCALE
    matrix = np.zeros((len(xy), count + degree))
    matrix[np.arange(len(xy)), np.repeat(np.arange(count), [len(s) for s in samples])] = 1.0
    for j in range(1, degree + 1):
        matrix[:, count + j - 1] = xs**j
    root_w = np.sqrt(np.concatenate(weights))
    solution, *_ = np.linalg.lstsq(matrix * root_w[:, None], xy[:, 1] * root_w, rcond=None)
    return solution[:count], solution[count:]


def _shape_residuals(
    xy: np.ndarray, weight: np.ndarray, owner: np.ndarray, count: int, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, rms)`` of every tracklet from the shape: its mean lateral distance and the spread.

    ``xy`` and ``weight`` are all tracklets' samples one after the other, ``owner`` the tracklet
    of each sample (one pass for all tracklets, not a few NumPy calls per tracklet).
    """
    xs = xy[:, 0] / _X_SCALE
    along = polyval(xs, np.concatenate([[0.0], shape])) if len(shape) else np.zeros_like(xs)
    distance = xy[:, 1] - along
    total = np.bincount(owner, weight, count)
    offset = np.bincount(owner, distance * weight, count) / total
    spread = distance - offset[owner]
    return offset, np.sqrt(np.bincount(owner, spread * spread * weight, count) / total)


def _fit_line(
    xy: np.ndarray, weight: np.ndarray, shape: np.ndarray, prior: float, heading_share: float
) -> np.ndarray:
    """Cubic in normalised x pulled towards the shared shape by ``prior`` (relative to the data weight).

    The heading (linear) term is pulled by ``heading_share`` of it, the curvature terms by all of it.
    """
    degree = 3
    count = len(xy)
    xs = xy[:, 0] / _X_SCALE
    root_w = np.sqrt(weight)
    lam = np.sqrt(prior * float(weight.sum())) * np.array([math.sqrt(heading_share), 1.0, 1.0])
    # rows: the weighted samples (x^0 .. x^3), then one prior row per shape term: only the shape
    # terms the road fit had are pulled towards it; unfitted higher terms are pulled to zero
    matrix = np.zeros((count + degree, degree + 1))
    matrix[:count, 0] = root_w
    matrix[:count, 1] = xs * root_w
    matrix[:count, 2] = xs**2 * root_w
    matrix[:count, 3] = xs**3 * root_w
    matrix[np.arange(count, count + degree), np.arange(1, degree + 1)] = lam
    target = np.zeros(count + degree)
    target[:count] = xy[:, 1] * root_w
    target[count : count + len(shape)] = shape * lam[: len(shape)]
    solution, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    return np.asarray(solution, dtype=np.float64)


def _straight_past(coefficients: np.ndarray, near: float, far_paint: float, end: float) -> np.ndarray:
    """The polynomial ``coefficients`` on ``[near, far_paint]`` continued along its tangent to ``end``.

    One polynomial of the same degree fitted to both pieces, sampled like the rendering
    (geometric spacing: the near road, where lateral error matters most, weighs most).
    """
    degree = len(coefficients) - 1
    if degree < 2:
        return coefficients
    xs = _geometric_samples(near, end, 4 * _RENDER_POINTS)
    slope = float(polyval_at(far_paint, np.polynomial.polynomial.polyder(coefficients)))
    tangent = polyval_at(far_paint, coefficients) + slope * (xs - far_paint)
    ys = np.where(xs <= far_paint, polyval(xs, coefficients), tangent)
    return fit_polynomial(xs, ys, degree)


def _to_metric_coefficients(normalised: np.ndarray) -> np.ndarray:
    return np.asarray(normalised / _X_SCALE ** np.arange(len(normalised)), dtype=np.float64)


def _pitched(plane: _Plane, vanishing: tuple[float, float], max_rows: float) -> _Plane:
    """``plane`` with its calibration's horizon moved to the lines' vanishing point (undistorted
    pixels), when that lies within ``max_rows`` of it: a camera pitched otherwise than its
    calibration (braking, a load, a slope ahead) sees the road shifted by about as many rows."""
    assert plane.mapper is not None
    shift = vanishing[1] - horizon_row(plane.mapper.image_to_ground, vanishing[0])
    if abs(shift) > max_rows:
        return plane
    rows = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -shift], [0.0, 0.0, 1.0]])
    mapper = GroundMapper(plane.mapper.image_to_ground @ rows, plane.mapper.camera)
    return replace(plane, mapper=mapper)


def _intervals_union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(a, b) for a, b in merged]


def _stripe_samples(
    image_bgr: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    settings: LaneSettings,
) -> np.ndarray:
    """Per paint sample (centre ``u``, row ``v``, run edges ``left``/``right``, frame pixels): whether
    the image there is a bright stripe, brighter (HSV value) than the ground one run width beyond
    each edge by at least ``settings.stripe_contrast``."""
    height, width = image_bgr.shape[:2]
    gap = np.maximum(right - left, 2.0)
    rows_ = np.clip(np.round(v).astype(np.int64), 0, height - 1)

    def value(columns: np.ndarray) -> np.ndarray:
        cols = np.clip(np.round(columns).astype(np.int64), 0, width - 1)
        return image_bgr[rows_, cols].max(axis=-1).astype(np.float32)

    centre, outside_left, outside_right = value(u), value(left - 0.5 - gap), value(right - 0.5 + gap)
    return (centre - np.maximum(outside_left, outside_right)) >= settings.stripe_contrast


@dataclass(frozen=True)
class _Tracklets:
    """A frame's paint as row runs linked into tracklets; every tracklet's runs one after the other."""

    lengths: list[int]  # runs per tracklet
    u: np.ndarray  # run centres (frame pixels)
    v: np.ndarray  # their rows
    left: np.ndarray  # run edges
    right: np.ndarray
    rows: np.ndarray  # the sampled rows (frame pixels)
    spacing: np.ndarray  # frame pixels between each sampled row and the next one


@dataclass(frozen=True)
class _GroundSamples:
    """Per tracklet (those with usable runs), its samples on the extraction plane."""

    samples: list[np.ndarray]  # (n, 2) plane (x, y)
    weights: list[np.ndarray]  # (n,) nearer ground weighs more
    spans: list[tuple[float, float]]  # the stretch of ground its rows stand for
    reach: list[np.ndarray]  # per sample (n, 2): the near and far end of the ground its row stands for
    kept: list[tuple[np.ndarray, np.ndarray]]  # the samples' frame pixels (u, v)
    stripes: list[np.ndarray] | None  # per sample: on a bright stripe (the stripe check); None: unchecked
    transverse_found: bool  # some run crossed transverse paint (a stop line may be in view)


class LaneExtractor:
    """Lane boundaries and road markings of single frames (no state; see :class:`LaneTracker`).

    Args:
        class_names: The scenario's class names (the lane and crosswalk classes are looked up).
        settings: Thresholds.
        mapper: Pixel <-> ground mapping of a calibrated camera (for frames of ``mapper_size``),
            or None for image-space boundaries.
        mapper_size: (height, width) the mapper was made for; frames of another size are
            scaled to it (None: the size of the mapper's camera model, when it has one).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        settings: LaneSettings | None = None,
        *,
        mapper: GroundMapper | None = None,
        mapper_size: tuple[int, int] | None = None,
    ) -> None:
        self.settings = settings or LaneSettings()
        names = list(class_names)
        if self.settings.lane_class not in names:
            raise ValueError(f"lane class {self.settings.lane_class!r} is not in the class map {names}")
        self.lane_id = names.index(self.settings.lane_class)
        self.crosswalk_id = (
            names.index(self.settings.crosswalk_class) if self.settings.crosswalk_class in names else None
        )
        self.mapper = mapper
        # a camera model knows its own size: frames of another size (a CameraInfo or calibration file
        # for another resolution of the camera) are mapped through the camera resized to them
        if mapper_size is None and mapper is not None and mapper.camera is not None:
            mapper_size = (mapper.camera.height, mapper.camera.width)
        self.mapper_size = mapper_size
        self._bottom_cache: dict[tuple[int, int], tuple[GroundMapper, tuple[float, float]]] = {}
        self._scaled: dict[tuple[int, int], tuple[GroundMapper, GroundMapper]] = {}
        # consecutive vanishing-point estimates refused as jumps from the hint (vanishing_reanchor_frames)
        self._refused: list[tuple[float, float]] = []
        # frames whose estimates set or confirmed the hint since it was last set
        self._support = 0

    @property
    def metric(self) -> bool:
        return self.mapper is not None

    def _reanchor(
        self, estimate: tuple[float, float], hint: tuple[float, float], frames: int, height: int
    ) -> tuple[float, float]:
        """The hint, or the median of the refused estimates in a row once they agree and outnumber
        (and number at least ``frames``) the frames that confirmed the hint."""
        needed = max(frames, min(self._support, VP_SUPPORT_CAP) + 1)
        self._refused = [*self._refused[-(needed - 1) :], estimate] if needed > 1 else [estimate]
        if len(self._refused) < needed:
            return hint
        refused = np.asarray(self._refused)
        median = np.median(refused, axis=0)
        if np.max(np.hypot(*(refused - median).T)) >= VP_JUMP * height / 2.0:
            return hint  # scattered: outliers, not a horizon the hint missed
        self._support = len(self._refused)
        self._refused.clear()
        return float(median[0]), float(median[1])

    def _tracklets(self, paint: np.ndarray, scale: tuple[float, float]) -> _Tracklets:
        """The paint's row runs on the sampled rows, linked row to row into tracklets (frame pixels)."""
        settings = self.settings
        scale_u, scale_v = scale
        rows = _sample_rows(paint, settings.rows)
        row_index, starts, ends = _row_runs(paint[rows], settings.max_hole_px)
        # to frame pixels: a mask pixel k covers frame pixels [k * s, (k + 1) * s)
        runs = (row_index, starts * scale_u, ends * scale_u)
        rows_frame = (rows + 0.5) * scale_v - 0.5
        # frame pixels between each sampled row and the next one (the bottom row: as its neighbour)
        spacing = np.diff(rows_frame, prepend=rows_frame[0] - scale_v) if len(rows) else rows_frame
        if len(spacing) > 1:
            spacing[0] = spacing[1]
        linked = _link_tracklets(rows_frame, runs, float(np.max(spacing, initial=scale_v)), scale_u)
        tracklets = [t for t in linked if len(t) >= 2]  # a lone run is a speck, not a dash
        # every tracklet's runs one after the other: centres, rows and edges in frame pixels
        run_ids = np.concatenate(tracklets) if tracklets else np.zeros(0, np.int64)
        left_all, right_all = runs[1][run_ids], runs[2][run_ids]
        u_all = (left_all + right_all) / 2.0 - 0.5
        v_all = rows_frame[row_index[run_ids]]
        return _Tracklets([len(t) for t in tracklets], u_all, v_all, left_all, right_all, rows_frame, spacing)

    def _horizon(
        self, runs: _Tracklets, size: tuple[int, int], vanishing_hint: tuple[float, float] | None
    ) -> tuple[_Plane, tuple[float, float], bool, float]:
        """The frame's extraction plane and its vanishing point from the tracklets' runs (frame pixels).

        Returns:
            ``(plane, vanishing point, found, pitch rows)``: found is False where neither the paint nor
            ``vanishing_hint`` placed the vanishing point (uncalibrated: a nominal guess); pitch rows is
            how far (rows) ``pitch_from_lines`` may move a calibration's horizon (0: off).
        """
        settings = self.settings
        height, width = size
        u_all, v_all, lengths = runs.u, runs.v, runs.lengths
        vanishing = (width / 2.0, 0.42 * height) if vanishing_hint is None else vanishing_hint
        # calibrated, with pitch_from_lines: the lines' vanishing point moves the calibration's horizon
        pitch_rows = settings.pitch_from_lines * height if self.metric else 0.0
        plane = self._plane((height, width), vanishing)
        found = vanishing_hint is not None
        if not self.metric or pitch_rows > 0:
            u_vp, v_vp = u_all, v_all
            region = settings.vanishing_region((height, width))
            if plane.mapper is not None:
                # in the calibration's undistorted pixels, near its horizon
                if plane.mapper.camera is not None and len(u_all):
                    u_vp, v_vp = plane.mapper.camera.undistort(np.column_stack([u_all, v_all])).T
                horizon = horizon_row(plane.mapper.image_to_ground, width / 2.0)
                region = (region[0], region[1], horizon - pitch_rows, horizon + pitch_rows)
            cuts = np.cumsum(lengths)[:-1]
            arrays = list(zip(np.split(u_vp, cuts), np.split(v_vp, cuts), strict=True))
            straight = vanishing_lines(
                arrays, (height, width), join=settings.vanishing_join, trim=settings.vanishing_trim
            )
            # long lines first (a model's short fragments have noisy directions), then all; lines
            # leaning opposite ways first (they cross at a wide angle), same-side pairs (a narrow
            # angle: an error in either direction moves their crossing far) only when those give none
            min_spans = [max(settings.vanishing_long_span, VP_MIN_SPAN), VP_MIN_SPAN]
            same_side = [None, settings.vanishing_same_side_deg or None]
            estimate = None
            for angle, span in dict.fromkeys(itertools.product(same_side, min_spans)):
                estimate = intersect_lines(
                    straight,
                    (height, width),
                    region,
                    min_span=span,
                    same_side_angle_deg=angle,
                    tolerance=settings.vanishing_join * height,
                )
                if estimate is not None:
                    break
            if estimate is None and settings.vanishing_pair_deg > 0:
                estimate = intersect_lines(
                    straight,
                    (height, width),
                    region,
                    min_span=min_spans[0],
                    same_side_angle_deg=settings.vanishing_pair_deg,
                    third_line=False,
                )
            if vanishing_hint is None:
                self._refused.clear()
            if estimate is not None and vanishing_hint is None:
                vanishing = estimate
                found = True
                self._support = 1
            elif (
                estimate is not None
                and vanishing_hint is not None
                and np.hypot(*np.subtract(estimate, vanishing_hint)) < VP_JUMP * height
            ):
                # smoothed, so that the pseudo-ground (and the tracked curves in it) stays put
                vanishing = (
                    vanishing_hint[0] + VP_SMOOTHING * (estimate[0] - vanishing_hint[0]),
                    vanishing_hint[1] + VP_SMOOTHING * (estimate[1] - vanishing_hint[1]),
                )
                self._refused.clear()
                self._support += 1
            elif estimate is not None and settings.vanishing_reanchor_frames > 0:
                vanishing = self._reanchor(estimate, vanishing, settings.vanishing_reanchor_frames, height)
            if plane.mapper is None:
                plane = self._plane((height, width), vanishing)
            elif found:
                plane = _pitched(plane, vanishing, pitch_rows)
        return plane, vanishing, found, pitch_rows

    def _ground_samples(
        self, runs: _Tracklets, plane: _Plane, image_bgr: np.ndarray | None
    ) -> _GroundSamples:
        """Each tracklet's runs on the extraction plane: the usable ones, the ground they stand for."""
        settings = self.settings
        lengths, u_all, v_all, left_all, right_all = runs.lengths, runs.u, runs.v, runs.left, runs.right
        samples, spans, reach, weights, kept = [], [], [], [], []
        # per tracklet, per sample: on a bright stripe (the stripe check)
        stripes: list[np.ndarray] | None = None
        transverse_found = False
        if lengths:
            half = np.interp(v_all, runs.rows, runs.spacing) / 2.0
            # one mapping call for all centres, edges and the ends of the rows' ground strips
            mapped = plane.to_plane(
                np.column_stack(
                    [
                        np.concatenate([u_all, left_all, right_all, u_all, u_all]),
                        np.concatenate([v_all, v_all, v_all, v_all + half, v_all - half]),
                    ]
                )
            )
            centre_all, left_m, right_m, near_all, far_all = np.split(mapped, 5)
            across_all = np.abs(left_m[:, 1] - right_m[:, 1])
            transverse = across_all >= settings.transverse_width_m
            transverse_found = bool(transverse.any())
            ok_all = (
                np.isfinite(centre_all).all(axis=1)
                & (centre_all[:, 0] > 0)
                & (centre_all[:, 0] < settings.max_range_m)
                & ~transverse
            )
            # per tracklet, its usable samples: one pass over all samples, then split (a loop of
            # small NumPy calls per tracklet cost more than the rest of this step)
            tracklet_of = np.repeat(np.arange(len(lengths)), lengths)[ok_all]
            counts = np.bincount(tracklet_of, minlength=len(lengths))
            xy_ok = centre_all[ok_all]
            # a sample stands for the ground between its row and the next sampled rows
            near_ok = np.where(np.isfinite(near_all[ok_all, 0]), near_all[ok_all, 0], xy_ok[:, 0])
            far_ok = np.where(np.isfinite(far_all[ok_all, 0]), far_all[ok_all, 0], xy_ok[:, 0])
            weight_ok = 1.0 / (1.0 + xy_ok[:, 0] / 30.0) ** 2
            present = counts[counts > 0]
            if len(present):
                starts = np.concatenate([[0], np.cumsum(present)[:-1]])
                cuts = starts[1:]
                near_min = np.minimum.reduceat(near_ok, starts)
                far_max = np.maximum.reduceat(far_ok, starts)
                samples = np.split(xy_ok, cuts)
                weights = np.split(weight_ok, cuts)
                spans = [(float(a), float(b)) for a, b in zip(near_min, far_max, strict=True)]
                reach = np.split(np.column_stack([near_ok, far_ok]), cuts)
                kept = list(zip(np.split(u_all[ok_all], cuts), np.split(v_all[ok_all], cuts), strict=True))
                if settings.min_stripe_share > 0 and image_bgr is not None:
                    stripe = _stripe_samples(image_bgr, u_all, v_all, left_all, right_all, settings)
                    stripes = np.split(stripe[ok_all], cuts)
        return _GroundSamples(samples, weights, spans, reach, kept, stripes, transverse_found)

    def _plane(self, size: tuple[int, int], vanishing_point: tuple[float, float]) -> _Plane:
        height, width = size
        focal = (width / 2.0) / np.tan(np.deg2rad(self.settings.nominal_hfov_deg) / 2.0)
        mapper = self.mapper
        if mapper is not None and self.mapper_size is not None and tuple(self.mapper_size) != tuple(size):
            scaled = self._scaled.get(size)
            if scaled is None or scaled[0] is not mapper:  # made once per frame size (and mapper)
                if mapper.camera is not None:  # the camera resized: its lens model goes with it
                    scaled = (mapper, GroundMapper.from_camera(mapper.camera.scaled(size)))
                else:
                    sy, sx = self.mapper_size[0] / height, self.mapper_size[1] / width
                    scale = np.diag([sx, sy, 1.0])  # frame pixels -> mapper pixels
                    scaled = (mapper, GroundMapper(mapper.image_to_ground @ scale, None))
                self._scaled[size] = scaled
            mapper = scaled[1]
        return _Plane(
            mapper, vanishing_point, focal * self.settings.nominal_height_m, self.settings.nominal_height_m
        )

    def extract(
        self,
        mask: np.ndarray,
        image_bgr: np.ndarray | None = None,
        *,
        vanishing_hint: tuple[float, float] | None = None,
        junction_hint: bool = False,
        hood_hint: np.ndarray | None = None,
        frame_size: tuple[int, int] | None = None,
    ) -> LaneResult:
        """Boundaries (ids = per-frame indices, near-left first), ego lane and markings of one mask.

        Args:
            mask: (h, w) uint8 class ids: the frame's mask, or a smaller one it is the
                upscale of (e.g. the model-resolution mask, several times cheaper).
            image_bgr: The frame, for paint colour; None gives colour ``unknown``.
            vanishing_hint: Vanishing point (frame pixels) to use when this frame's paint cannot
                give one (uncalibrated cameras; e.g. the tracker's smoothed estimate).
            junction_hint: The previous frame's boundaries were across a junction (the
                tracker's ``across_junction``): with its markings out of sight, the car is still
                crossing it until paint comes within ``junction_exit_m`` of the bottom row.
            hood_hint: A hood edge held from earlier frames (the tracker's ``hood``): used when
                this frame finds none and shows no lane paint below it.
            frame_size: (H, W) of the frame when ``mask`` is smaller; all outputs are in
                frame pixels.
        """
        settings = self.settings
        mask_h, mask_w = mask.shape[:2]
        height, width = frame_size if frame_size is not None else (mask_h, mask_w)
        scale_u, scale_v = width / mask_w, height / mask_h
        paint = (mask == self.lane_id).view(np.uint8)
        runs = self._tracklets(paint, (scale_u, scale_v))
        plane, vanishing, found, pitch_rows = self._horizon(runs, (height, width), vanishing_hint)
        # uncalibrated, with neither a hint nor paint to place the horizon: a nominal guess, which
        # is not passed on (a wrong guess as the next frame's hint would outvote good estimates)
        guessed = not self.metric and not found
        ground = self._ground_samples(runs, plane, image_bgr)
        # stop lines are searched where a sampled row crossed transverse paint, and always in
        # scenarios with crosswalks (urban roads), where a thin far stop line can fall between rows
        look_for_stop_lines = ground.transverse_found or self.crosswalk_id is not None
        markings = self._markings(mask, paint if look_for_stop_lines else None, plane, (scale_u, scale_v))
        result = LaneResult(
            metric=plane.metric,
            # uncalibrated, or calibrated with pitch_from_lines: passed on as the next frame's hint
            vanishing_point=vanishing if found and (not plane.metric or pitch_rows > 0) else None,
            markings=markings,
            plane=plane,
            frame_size=(height, width),
            max_lane_width=settings.max_lane_width_m if plane.metric else 0.0,
            start_at_frame_edge=settings.start_at_frame_edge,
            hood_edge=None if image_bgr is None else find_hood(image_bgr, paint, settings.hood_max_share),
        )
        if result.hood_edge is None and hood_hint is not None and image_bgr is not None:
            # a hood the detector missed in this frame (glare, a shadow on it) is still there, unless
            # the road shows below its edge
            if not paint_below(hood_hint, paint, height):
                result.hood_edge, result.hood_held = hood_hint, True
        x_bottom = self._bottom_distance(plane, (height, width), result.hood_edge)
        junctions = [(m.distance, m.far_distance) for m in markings if m.on_path]
        if settings.unmarked_junction_m > 0 and plane.metric:
            junctions += _unmarked_junctions(
                ground, x_bottom, settings.unmarked_junction_m, settings.min_lane_width_m
            )
        ground, result.across_junction = _before_junction(ground, junctions, x_bottom, settings.at_junction_m)
        samples, weights, spans = ground.samples, ground.weights, ground.spans
        kept, stripes = ground.kept, ground.stripes
        if not samples:
            return result
        # boundaries run on to the farthest paint of the frame (the road is seen that far), at
        # least to extend_to_m, but never past the junction ahead of the paint
        paint_far = max(span[1] for span in spans)
        junction = min((near for near, _ in junctions if near >= paint_far), default=np.inf)
        extend_to = 0.0
        if settings.extend_to_m > 0 and not guessed:  # a guessed horizon says nothing of the far road
            extend_to = min(max(settings.extend_to_m, paint_far), settings.max_range_m, junction)

        # each tracklet's stretch of road: [x_first[k], x_last[k]]
        firsts = np.r_[0, np.cumsum([len(xy) for xy in samples])[:-1]]
        all_x = np.concatenate([xy[:, 0] for xy in samples])
        x_first, x_last = np.minimum.reduceat(all_x, firsts), np.maximum.reduceat(all_x, firsts)
        lines = self._group(samples, weights, x_first, x_last)
        extents = list(zip(x_first.tolist(), x_last.tolist(), strict=True))
        yellow = self._yellow_samples(image_bgr, kept)

        def fit(nearest_start: float) -> list[LaneBoundary]:
            fitted = []
            for members, shape in lines:
                on_stripe = None if stripes is None else sum(int(stripes[k].sum()) for k in members)
                if on_stripe is not None and on_stripe < settings.min_stripe_share * sum(
                    len(samples[k]) for k in members
                ):
                    continue  # an edge, not a stripe of paint
                boundary = self._boundary(
                    members, shape, samples, weights, extents, spans, yellow, plane, nearest_start, extend_to
                )
                if boundary is not None:
                    fitted.append(boundary)
            return fitted

        # no lane runs across a junction: the road beyond it starts at its paint (infinite start)
        crossing = result.across_junction or junction_hint
        # from where a line can enter the frame: through a lens that bends straight lines (barrel
        # distortion) or a rolled camera, a corner of the bottom row sees nearer ground than its centre
        x_start = x_bottom
        if settings.start_at_frame_edge and result.hood_edge is None:
            x_start = self._bottom_row(plane, (height, width))[1]
        fitted = fit(np.inf if crossing else x_start)
        if crossing and not result.across_junction:  # its markings out of sight: on while the lines'
            # paint stays off the bottom rows (a speck of paint there does not end it)
            reached = min(
                (b.painted_range[0] for b in fitted if b.painted_range is not None), default=-np.inf
            )
            result.across_junction = reached > x_bottom + settings.junction_exit_m
            if not result.across_junction:
                fitted = fit(x_start)
        if result.across_junction:
            # a solid line's paint starts where the road across does, a dashed line's first dash may
            # lie metres on: every boundary starts at the nearest solid line's start (if there is one)
            road_start = min(
                (
                    b.painted_range[0]
                    for b in fitted
                    if b.painted_range is not None and b.line_type in (SOLID, DOUBLE)
                ),
                default=np.inf,
            )
            if any(b.painted_range is not None and b.painted_range[0] > road_start for b in fitted):
                fitted = fit(max(road_start, x_bottom))
        boundaries = []
        curves = [(b.plane_coefficients, b.plane_range) for b in fitted]
        drawn = render_curves(
            plane,
            curves,
            (height, width),
            from_frame_edge=settings.start_at_frame_edge,
            hood=result.hood_edge,
        )
        for boundary, rendered in zip(fitted, drawn, strict=True):
            if rendered is not None:  # a curve with fewer than two points in the image is dropped
                boundary.image_points, boundary.ground_points, boundary.coefficients, boundary.valid_range = (
                    rendered
                )
                boundaries.append(boundary)
        boundaries.sort(key=lambda b: -float(b.plane_coefficients[0]))
        boundaries = within_yellow_edge(boundaries, settings.yellow_edge_side)
        if plane.metric:
            boundaries = without_narrow_ego_lane(boundaries, settings.min_lane_width_m)
        boundaries = (
            boundaries[: settings.max_lines]
            if len(boundaries) <= settings.max_lines
            else sorted(boundaries, key=lambda b: -b.confidence)[: settings.max_lines]
        )
        for index, boundary in enumerate(boundaries):
            boundary.id = index
        assign_positions(boundaries, result.max_lane_width)
        result.boundaries = boundaries
        result.ego_lane = ego_lane(boundaries, metric=plane.metric)
        return result

    def _bottom_distance(self, plane: _Plane, size: tuple[int, int], hood: np.ndarray | None = None) -> float:
        """Forward distance of the ground seen by the bottom row's centre (fixed for a calibrated
        camera), or by the hood edge's lowest point above it (the curves are drawn from there; where
        the edge is higher, the drawing clips them)."""
        if hood is not None:
            lowest = int(np.argmax(hood))
            x = plane.to_plane(np.array([[float(lowest), float(hood[lowest])]]))[0, 0]
            if np.isfinite(x) and x > 0:
                return max(float(x), self._bottom_row(plane, size)[0])
        return self._bottom_row(plane, size)[0]

    def _bottom_row(self, plane: _Plane, size: tuple[int, int]) -> tuple[float, float]:
        """Forward distances of the ground the bottom row sees: at its centre, and the nearest across its
        whole width (a corner's, through a barrel lens or a rolled camera). Fixed for a calibrated camera
        (cached); on an uncalibrated camera's pseudo-ground distance depends on the row only."""
        cached = self._bottom_cache.get(size)
        if cached is not None and plane.mapper is not None and cached[0] is plane.mapper:
            return cached[1]
        height, width = size
        columns = np.array([width / 2.0])
        if plane.mapper is not None:
            columns = np.r_[columns, np.linspace(0.0, width - 1.0, _RENDER_POINTS)]
        x = plane.to_plane(np.column_stack([columns, np.full_like(columns, height - 1.0)]))[:, 0]
        centre = float(x[0]) if np.isfinite(x[0]) and x[0] > 0 else 0.5
        seen = x[np.isfinite(x) & (x > 0)]
        distances = (centre, min(centre, float(seen.min())) if seen.size else centre)
        if plane.mapper is not None:
            self._bottom_cache[size] = (plane.mapper, distances)
        return distances

    def _group(
        self, samples: list[np.ndarray], weights: list[np.ndarray], x_min: np.ndarray, x_max: np.ndarray
    ) -> list[tuple[list[int], np.ndarray]]:
        """Clusters of tracklet indices sharing one lateral offset, with the road shape.

        The shape is fitted on the reliable tracklets (starting within ``shape_range_m``, at
        least three samples), where paint is large and sharp; every tracklet's offset is then
        its mean distance from that shape, and tracklets that do not follow it (arrows, blobs,
        far noise) are left out.
        """
        settings = self.settings
        count = len(samples)
        lengths = np.array([len(xy) for xy in samples])
        xy_all, weight_all = np.concatenate(samples), np.concatenate(weights)
        owner = np.repeat(np.arange(count), lengths)
        reliable = [k for k in range(count) if lengths[k] >= 3 and x_min[k] < settings.shape_range_m]
        active = reliable or list(range(count))
        shape = np.zeros(0)
        for attempt in range(3):
            spread = float(x_max[active].max() - x_min[active].min())
            degree = min(1 if spread < 10.0 else 2, max(0, int(lengths[active].sum()) - len(active) - 1))
            if degree == 0:
                shape = np.zeros(0)
                break
            _, shape = _solve_shared([samples[k] for k in active], degree, [weights[k] for k in active])
            residuals = _shape_residuals(xy_all, weight_all, owner, count, shape)[1][active]
            # tracklets that do not follow the road (arrows, blobs) are dropped and the shape refitted
            bad = residuals > 0.3 + 3.0 * _median(residuals)
            if not bad.any() or bad.all() or attempt == 2:
                break
            active = [k for k, b in zip(active, bad.tolist(), strict=True) if not b]
        offsets_all, rms_all = _shape_residuals(xy_all, weight_all, owner, count, shape)
        limits = settings.max_shape_residual_m * (
            1.0 + np.bincount(owner, xy_all[:, 0], count) / lengths / _X_SCALE
        )
        kept = np.flatnonzero(rms_all <= limits).tolist()
        offsets = offsets_all[kept]
        order = np.argsort(offsets)
        clusters: list[list[int]] = []
        last = None
        for position, offset in zip(order.tolist(), offsets[order].tolist(), strict=True):
            if last is None or offset - last > settings.cluster_gap_m:
                clusters.append([])
            clusters[-1].append(kept[position])
            last = offset
        # the shape again with one offset per line: a line spans far more road than its dashes
        usable = [c for c in clusters if int(lengths[c].sum()) >= settings.min_samples]
        if usable:
            members = [k for c in usable for k in c]
            spread = float(x_max[members].max() - x_min[members].min())
            degree = 1 if spread < 10.0 else (2 if spread < 35.0 else 3)
            degree = min(degree, max(0, int(lengths[members].sum()) - len(usable) - 1))
            if degree > 0:
                _, shape = _solve_shared(
                    [np.concatenate([samples[k] for k in c]) for c in usable],
                    degree,
                    [np.concatenate([weights[k] for k in c]) for c in usable],
                )
        return [(cluster, shape) for cluster in clusters]

    def _boundary(
        self,
        members: list[int],
        shape: np.ndarray,
        samples: list[np.ndarray],
        weights: list[np.ndarray],
        extents: list[tuple[float, float]],
        spans: list[tuple[float, float]],
        yellow: list[int] | None,
        plane: _Plane,
        x_bottom: float,
        extend_to: float,
    ) -> LaneBoundary | None:
        """The line of the tracklets ``members``: fitted, typed, coloured; not drawn yet (no image points)."""
        settings = self.settings
        xy = np.concatenate([samples[k] for k in members])
        weight = np.concatenate([weights[k] for k in members])
        if len(xy) < settings.min_samples:
            return None
        # a short stretch of paint says little about curvature: the shorter, the more it follows the road
        own_span = max(extents[k][1] for k in members) - min(extents[k][0] for k in members)
        prior = settings.shape_prior * (1.0 + (settings.shape_span_m / max(own_span, 1.0)) ** 2)
        normalised = _fit_line(xy, weight, shape, prior, settings.heading_prior)
        coefficients = _to_metric_coefficients(normalised)
        residuals = xy[:, 1] - polyval(xy[:, 0], coefficients)
        rms = math.sqrt(float((residuals**2 * weight).sum() / weight.sum()))  # np.average
        covered = _intervals_union([spans[k] for k in members])
        x_near, x_far = covered[0][0], covered[-1][1]
        span = x_far - x_near
        covered_length = sum(b - a for a, b in covered)
        if covered_length < settings.min_painted_m:
            return None
        if 0.0 < settings.max_paint_start_m < x_near or span < settings.min_paint_span_m:
            return None
        far = 0.0 < settings.far_paint_start_m < x_near
        if plane.metric and far and span < settings.far_paint_min_span_m:
            return None
        gaps = [b0 - a1 for (_, a1), (b0, _) in pairwise(covered)]
        long_gaps = [g for g in gaps if g >= settings.min_gap_m]
        coverage = covered_length / max(span, 1e-6)
        if self._is_double(members, samples, extents, residuals):
            line_type = DOUBLE
        elif long_gaps and coverage < settings.dashed_max_coverage:
            line_type = DASHED
        elif span >= settings.type_min_span_m:
            line_type = SOLID
        else:
            line_type = UNKNOWN
        color = self._color(yellow, members, samples)
        confidence = min(max(min(1.0, covered_length / 6.0) * float(np.exp(-rms / 0.15)), 0.0), 1.0)

        # drawn from the bottom image row, but never extrapolated nearer by more than the painted span
        start = max(min(x_bottom, x_near), x_near - max(settings.min_extrapolation_m, span), 0.3)
        x_range = (start, max(x_far, extend_to, start + 0.1))
        if settings.run_on_straight and x_range[1] > x_far:
            coefficients = _straight_past(coefficients, start, x_far, x_range[1])
        # drawn by the caller, all boundaries of the frame at once (render_curves)
        return LaneBoundary(
            id=0,
            position="",
            position_index=0,
            line_type=line_type,
            color=color,
            confidence=confidence,
            metric=plane.metric,
            coefficients=coefficients,
            valid_range=x_range,
            image_points=np.zeros((0, 2), np.float32),
            ground_points=None,
            plane_coefficients=coefficients,
            plane_range=x_range,
            painted_range=(x_near, x_far),
        )

    def _is_double(
        self,
        members: list[int],
        samples: list[np.ndarray],
        extents: list[tuple[float, float]],
        residuals: np.ndarray,
    ) -> bool:
        """Two tracklets side by side (overlapping along the road) a paint-gap apart.

        ``residuals``: the members' samples' lateral distances from the line's fit, member after member.
        """
        settings = self.settings
        if len(members) < 2:
            return False
        info = []  # (x_min, x_max, first sample, end) of the members with three samples or more
        start = 0
        for k in members:
            count = len(samples[k])
            if count >= 3:
                info.append((*extents[k], start, start + count))
            start += count
        medians: dict[int, float] = {}  # median residual of a member, computed when first needed

        def median(i: int) -> float:
            if i not in medians:
                medians[i] = _median(residuals[info[i][2] : info[i][3]])
            return medians[i]

        for i in range(len(info)):
            for j in range(i + 1, len(info)):
                lo = max(info[i][0], info[j][0])
                hi = min(info[i][1], info[j][1])
                shorter = min(info[i][1] - info[i][0], info[j][1] - info[j][0])
                if hi - lo > 0.3 * max(shorter, 1e-6) and (
                    settings.double_min_sep_m <= abs(median(i) - median(j)) <= settings.double_max_sep_m
                ):
                    return True
        return False

    def _yellow_samples(
        self, image_bgr: np.ndarray | None, pixels: list[tuple[np.ndarray, np.ndarray]]
    ) -> list[int] | None:
        """Per tracklet, how many of its samples lie on yellow paint in the image (None without an image).

        One colour conversion for all tracklets of the frame (one per boundary cost more than the fits).
        """
        if image_bgr is None or not pixels:
            return None
        u = np.concatenate([p[0] for p in pixels])
        v = np.concatenate([p[1] for p in pixels])
        height, width = image_bgr.shape[:2]
        cols = np.clip(np.round(u).astype(np.int64), 0, width - 1)
        rows_ = np.clip(np.round(v).astype(np.int64), 0, height - 1)
        bgr = image_bgr[rows_, cols].reshape(-1, 1, 3)
        hsv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2HSV).reshape(-1, 3)
        low, high = self.settings.yellow_hue
        yellow = (hsv[:, 0] >= low) & (hsv[:, 0] <= high) & (hsv[:, 1] >= self.settings.yellow_min_saturation)
        owner = np.repeat(np.arange(len(pixels)), [len(p[0]) for p in pixels])
        return [int(c) for c in np.bincount(owner, yellow, len(pixels)).tolist()]

    def _color(self, yellow: list[int] | None, members: list[int], samples: list[np.ndarray]) -> str:
        if yellow is None:
            return "unknown"
        share = sum(yellow[k] for k in members) / sum(len(samples[k]) for k in members)
        return YELLOW if share >= self.settings.yellow_min_share else WHITE

    def _markings(
        self, mask: np.ndarray, paint: np.ndarray | None, plane: _Plane, scale: tuple[float, float]
    ) -> list[RoadMarking]:
        """Stop lines (transverse lane paint) and crosswalks (stripes of the crosswalk class joined).

        ``paint`` is None when there is no stop line to look for.
        """
        settings = self.settings
        to_frame = np.array(scale)
        found: list[RoadMarking] = []
        candidates = []
        components = (
            []
            if paint is None
            else _wide_components(
                _transverse_paint(paint, plane, to_frame, settings.transverse_width_m, settings.max_hole_px)
            )
        )
        for x0, y0, w, h, component in components:
            ys, xs = np.nonzero(component)
            if len(xs) < 10:
                continue
            pixels = (np.column_stack([xs + x0, ys + y0])[:: max(1, len(xs) // 400)] + 0.5) * to_frame - 0.5
            candidates.append((x0, y0, w, h, pixels))
        if candidates:  # one mapping call for all candidates' pixels
            mapped = plane.to_plane(np.concatenate([c[4] for c in candidates]))
            cuts = np.cumsum([len(c[4]) for c in candidates])[:-1]
            for (x0, y0, w, h, _), ground in zip(candidates, np.split(mapped, cuts), strict=True):
                ground = ground[np.isfinite(ground).all(axis=1)]
                if len(ground) < 3:
                    continue
                along = float(ground[:, 0].max() - ground[:, 0].min())
                across = float(ground[:, 1].max() - ground[:, 1].min())
                near = float(ground[:, 0].min())
                if (
                    across >= settings.stop_line_min_length_m
                    and along <= settings.stop_line_max_depth_m
                    and near < settings.max_range_m  # near the horizon a few pixels span metres
                ):
                    outline = (
                        np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float64)
                        * to_frame
                    )
                    found.append(self._marking(STOP_LINE, outline, plane, near))
        if self.crosswalk_id is not None:
            found.extend(self._crosswalks(mask, plane, to_frame))
        found.sort(key=lambda m: m.distance)
        if settings.junction_corridor_m > 0 and found:
            width = mask.shape[1] * to_frame[0]
            for marking in found:
                marking.on_path = _reaches_axis(marking, plane, width, settings.junction_corridor_m)
            if not settings.off_path_stop_lines:
                found = [m for m in found if m.on_path or m.kind != STOP_LINE]
        for index, marking in enumerate(found):
            marking.id = index
        return found

    def _marking(self, kind: str, outline: np.ndarray, plane: _Plane, distance: float) -> RoadMarking:
        ground = None
        in_plane = plane.to_plane(outline)
        if plane.metric:
            ground = in_plane.astype(np.float32)
        far = float(np.nanmax(in_plane[:, 0])) if np.isfinite(in_plane[:, 0]).any() else distance
        return RoadMarking(kind, 0, outline.astype(np.float32), ground, distance, far)

    def _crosswalks(self, mask: np.ndarray, plane: _Plane, to_frame: np.ndarray) -> list[RoadMarking]:
        binary = (mask == self.crosswalk_id).view(np.uint8)
        if not cv2.countNonZero(binary):
            return []
        count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        boxes = []
        for label in range(1, count):
            x0, y0, w, h, area = stats[label]
            if area < 10:
                continue
            corners = (
                np.array([[x0, y0 + h], [x0 + w, y0 + h], [x0 + w, y0], [x0, y0]], np.float64) * to_frame
            )
            ground = plane.to_plane(corners)
            if not np.isfinite(ground).all():
                continue
            boxes.append((corners, ground))
        groups: list[list[int]] = []
        for index, (_, ground) in enumerate(boxes):
            lo, hi = ground.min(axis=0), ground.max(axis=0)
            for group in groups:
                g_lo = np.min([boxes[k][1].min(axis=0) for k in group], axis=0)
                g_hi = np.max([boxes[k][1].max(axis=0) for k in group], axis=0)
                gap = np.maximum(np.maximum(lo - g_hi, g_lo - hi), 0.0)
                if float(np.max(gap)) <= self.settings.crosswalk_join_m:
                    group.append(index)
                    break
            else:
                groups.append([index])
        found = []
        for group in groups:
            corners = np.concatenate([boxes[k][0] for k in group]).astype(np.float32)
            hull = cv2.convexHull(corners).reshape(-1, 2)
            distance = float(np.min([boxes[k][1][:, 0].min() for k in group]))
            found.append(self._marking(CROSSWALK, hull, plane, distance))
        return found


def _transverse_paint(
    paint: np.ndarray, plane: _Plane, scale: np.ndarray, min_width: float, max_hole: int
) -> np.ndarray:
    """``paint`` (mask pixels) with only its row runs at least ``min_width`` across the road (plane
    units; holes of ``max_hole`` pixels closed): stop lines apart from the lines they touch.

    A stop line usually meets a solid line or the centre line; as one component with it, it is as
    tall as the line and would be taken for no stop line at all.
    """
    row, start, end = _row_runs(paint, max_hole)
    transverse = np.zeros_like(paint)
    if not len(row):
        return transverse
    v = (row + 0.5) * scale[1] - 0.5
    edges = plane.to_plane(np.column_stack([np.r_[start, end] * scale[0], np.r_[v, v]]))
    left, right = np.split(edges[:, 1], 2)
    with np.errstate(invalid="ignore"):
        wide = np.abs(left - right) >= min_width  # False where either edge is above the horizon
    for r, s, e in zip(row[wide].tolist(), start[wide].tolist(), end[wide].tolist(), strict=True):
        transverse[r, s:e] = 1
    return transverse


def _wide_components(binary: np.ndarray) -> list[tuple[int, int, int, int, np.ndarray]]:
    """``(x0, y0, w, h, pixels)`` of the 8-connected components at least twice as wide as tall.

    ``pixels`` is the component's mask within its box; components in raster order of their first
    pixel. Boxes come from the components' outer
    borders (``cv2.findContours``), and only the wide ones are labelled, within their box: labelling
    the whole mask with statistics cost several times more.
    """
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    wide = []
    for contour, parent in zip(contours, hierarchy.reshape(-1, 4)[:, 3].tolist(), strict=True):
        if parent >= 0:  # the border of a hole
            continue
        x0, y0, w, h = cv2.boundingRect(contour)
        if w < 2 * h:
            continue
        points = contour.reshape(-1, 2)
        first_x = int(points[points[:, 1] == y0, 0].min())  # the component's first pixel in raster order
        wide.append((y0, first_x, x0, w, h))
    found = []
    for y0, first_x, x0, w, h in sorted(wide):
        _, labels = cv2.connectedComponents(binary[y0 : y0 + h, x0 : x0 + w], connectivity=8)
        found.append((x0, y0, w, h, labels == labels[0, first_x - x0]))
    return found


def _reaches_axis(marking: RoadMarking, plane: _Plane, width: float, corridor: float) -> bool:
    """Whether the marking's lateral span comes within ``corridor`` of the car's axis (the frame's
    centre column) at the marking's middle row, in plane units."""
    outline = np.asarray(marking.image_points, np.float64)
    row = float(outline[:, 1].mean())
    lateral = plane.to_plane(outline)[:, 1]
    axis = plane.to_plane(np.array([[(width - 1) / 2.0, row]]))[0, 1]
    lateral = lateral[np.isfinite(lateral)]
    if not lateral.size or not np.isfinite(axis):
        return True  # cannot place it: keep the old behaviour, it ends the lanes
    return bool(lateral.min() - corridor <= axis <= lateral.max() + corridor)


def _unmarked_junctions(
    ground: _GroundSamples, x_bottom: float, min_gap: float, min_spread: float
) -> list[tuple[float, float]]:
    """Stretches of road ahead with no lane paint at least ``min_gap`` long, with lines at least
    ``min_spread`` apart across the road going on both before and after them: junctions without a
    marking on the car's road (their near and far edge).

    One missed dash leaves a hole in its own line only; a stretch without any line's paint that
    several lines reach from both sides is where the road is crossed.
    """
    if not ground.samples:
        return []
    reach = np.concatenate(ground.reach)
    x, y = np.concatenate(ground.samples).T
    order = np.argsort(reach[:, 0])
    near, far = reach[order, 0], np.maximum.accumulate(reach[order, 1])
    # a hole in the union of the samples' ground: the next sample's ground begins past all before it
    holes = np.flatnonzero(near[1:] - far[:-1] >= min_gap)
    found = []
    for k in holes:
        start, end = float(far[k]), float(near[k + 1])
        if start <= x_bottom:
            continue
        before = y[(x <= start) & (x >= start - min_gap)]
        after = y[(x >= end) & (x <= end + min_gap)]
        if before.size and after.size and np.ptp(before) >= min_spread and np.ptp(after) >= min_spread:
            found.append((start, end))
    return found


def _before_junction(
    ground: _GroundSamples, junctions: list[tuple[float, float]], x_bottom: float, at_junction_m: float
) -> tuple[_GroundSamples, bool]:
    """Tracklet samples of the road up to the first junction (a stop line, a crosswalk or an unmarked
    one: its near and far edge ahead; a junction ends the lane), and whether they are of the road across it.

    When the car is at the junction (it begins within ``at_junction_m`` of the bottom row, or no
    tracklet shows ``at_junction_m`` of paint before it), the road beyond it is kept instead.
    """
    # a junction the bottom image row already crosses is the one the car is entering
    ahead = sorted((near, far) for near, far in junctions if far > x_bottom)
    samples = ground.samples
    if not ahead or not samples:
        return ground, False
    near_edge, far_edge = ahead[0]
    before = [xy[:, 0] < near_edge for xy in samples]
    # the longest stretch of one line's paint the frame shows before the junction: a stub of a dash is
    # no lane to steer by (the drives' truth, too, wants a line seen for at_junction_m)
    stretches = [xy[mask, 0] for xy, mask in zip(samples, before, strict=True) if mask.any()]
    seen = max((float(np.ptp(forward)) for forward in stretches), default=0.0)
    across = (
        near_edge - x_bottom < at_junction_m
        or sum(int(mask.sum()) for mask in before) < 3
        or seen < at_junction_m
    )
    keep = [xy[:, 0] > far_edge for xy in samples] if across else before
    # a tracklet left without samples goes, and its stripe flags with it (they stay one per sample)
    tracklets = [k for k, mask in enumerate(keep) if mask.any()]
    spans = []
    for k in tracklets:
        xy, mask, span = samples[k], keep[k], ground.spans[k]
        if not mask.all():
            span = (max(span[0], float(xy[mask, 0].min())), min(span[1], float(xy[mask, 0].max())))
        spans.append(span)
    stripes = ground.stripes
    trimmed = _GroundSamples(
        samples=[samples[k][keep[k]] for k in tracklets],
        weights=[ground.weights[k][keep[k]] for k in tracklets],
        spans=spans,
        reach=[ground.reach[k][keep[k]] for k in tracklets],
        kept=[(ground.kept[k][0][keep[k]], ground.kept[k][1][keep[k]]) for k in tracklets],
        stripes=None if stripes is None else [stripes[k][keep[k]] for k in tracklets],
        transverse_found=ground.transverse_found,
    )
    return trimmed, across


Rendered = tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[float, float]]


def render_curve(
    plane: _Plane,
    coefficients: np.ndarray,
    x_range: tuple[float, float],
    size: tuple[int, int],
    points: int = _RENDER_POINTS,
    *,
    from_frame_edge: bool = False,
) -> Rendered | None:
    """``(image_points, ground_points, public coefficients, valid range)`` of a plane curve in the image.

    None when fewer than two of its points fall inside the image. ``from_frame_edge``: it starts
    where it enters the frame, not at its first sample inside.
    """
    return render_curves(plane, [(coefficients, x_range)], size, points, from_frame_edge=from_frame_edge)[0]


def render_curves(
    plane: _Plane,
    curves: Sequence[tuple[np.ndarray, tuple[float, float]]],
    size: tuple[int, int],
    points: int = _RENDER_POINTS,
    *,
    from_frame_edge: bool = False,
    hood: np.ndarray | None = None,
) -> list[Rendered | None]:
    """:func:`render_curve` of several ``(coefficients, x_range)`` curves: one projection for all.

    With ``hood`` (the rows of the car's hood edge per column), the frame ends at the hood: samples
    below its edge are outside, and a curve entering from under it starts on its edge.
    """
    if not curves:
        return []
    xs = np.empty((len(curves), points))
    for k, (_, (near, far)) in enumerate(curves):
        xs[k] = _geometric_samples(near, far, points)
    ys = _polyval_rows(xs, [coefficients for coefficients, _ in curves])
    image_all = plane.to_image(np.column_stack([xs.ravel(), ys.ravel()])).reshape(len(curves), points, 2)
    height, width = size
    u, v = image_all[..., 0], image_all[..., 1]
    inside = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)  # False for NaN
    if hood is not None:
        inside &= v <= hood_rows(hood, u)
    rendered: list[Rendered | None] = []
    for k, count in enumerate(inside.sum(axis=1).tolist()):
        if count < 2:
            rendered.append(None)
            continue
        image_points = image_all[k][inside[k]]
        first = int(np.argmax(inside[k]))
        entry: tuple[int, float] | None = None  # (first sample inside, fraction back to the edge)
        if from_frame_edge and first > 0 and np.isfinite(image_all[k, first - 1]).all():
            # the curve enters the frame between two samples (from below it or a side): start it
            # where it crosses the frame's edge, not at the first sample inside, which lies up to
            # one sample spacing (7 % of the distance) further on
            t = frame_entry_fraction(image_all[k, first - 1], image_all[k, first], width, height, hood)
            entry = (first, t)
            image_points = np.vstack([_between(image_all[k], first, t), image_points])
        if plane.metric:
            curve_x, curve_y = xs[k][inside[k]], ys[k][inside[k]]
            if entry is not None:
                curve_x = np.r_[_between(xs[k], *entry), curve_x]
                curve_y = np.r_[_between(ys[k], *entry), curve_y]
            rendered.append(
                (
                    image_points.astype(np.float32),
                    np.column_stack([curve_x, curve_y]).astype(np.float32),
                    np.asarray(curves[k][0], dtype=np.float64),
                    (float(curve_x[0]), float(curve_x[-1])),
                )
            )
            continue
        degree = 2 if len(image_points) >= 3 else 1
        public = fit_polynomial(image_points[:, 1], image_points[:, 0], degree)
        valid = (float(image_points[:, 1].min()), float(image_points[:, 1].max()))
        rendered.append((image_points.astype(np.float32), None, np.asarray(public, dtype=np.float64), valid))
    return rendered


def _between(values: np.ndarray, index: int, t: float) -> np.ndarray:
    """The point ``t`` of the way from ``values[index - 1]`` to ``values[index]``."""
    return values[index - 1] + t * (values[index] - values[index - 1])


def frame_entry_fraction(
    outside: np.ndarray, inside: np.ndarray, width: int, height: int, hood: np.ndarray | None = None
) -> float:
    """Fraction of the way from a pixel outside the frame ``[0, width - 1] x [0, height - 1]`` to
    one inside it where the segment between them enters the frame (the last edge it crosses).

    A polyline sampled along a line keeps its samples inside the frame; this places its first
    point on the frame's edge instead of up to one sample spacing inside (lane boundaries and the
    lanes they are scored against both start there). With ``hood`` (its edge's row per column),
    the frame's lower edge is the hood's.
    """
    fraction = 0.0
    for axis, limit in ((0, width - 1.0), (1, height - 1.0)):
        start, end = float(outside[axis]), float(inside[axis])
        for edge in (0.0, limit):
            if (start - edge) * (end - edge) < 0:  # this edge lies between them
                fraction = max(fraction, (start - edge) / (start - end))
    if hood is not None:  # below the hood's edge: where the segment crosses it (the edge is locally straight)
        below = float(outside[1]) - float(hood_rows(hood, np.array([outside[0]]))[0])
        above = float(inside[1]) - float(hood_rows(hood, np.array([inside[0]]))[0])
        if below > 0 >= above:
            fraction = max(fraction, below / (below - above))
    return min(fraction, 1.0)


def _polyval_rows(x: np.ndarray, coefficients: Sequence[np.ndarray]) -> np.ndarray:
    """``polyval(x[k], coefficients[k])`` for every row ``k`` (Horner's rule on all rows at once)."""
    if len({len(c) for c in coefficients}) != 1:
        return np.array([polyval(row, c) for row, c in zip(x, coefficients, strict=True)])
    table = np.asarray(coefficients, dtype=np.float64)
    result = np.repeat(table[:, -1:], x.shape[1], axis=1)
    for j in range(table.shape[1] - 2, -1, -1):
        result = result * x + table[:, j : j + 1]
    return result


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
