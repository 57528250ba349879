"""Lane-marking polygons → lane boundaries (centre lines, curves, ego-lane geometry).

An interim estimate from the region polygons that post-processing already gives, so the
``LaneBoundaryArray`` message carries boundaries now; richer lane post-processing (tracking,
types, colours) fills the same :class:`~seg_perception.geometry.LaneBoundary` fields.

- Centre line: the polygon is cut by up to ``max_rows`` horizontal lines; the midpoint of
  each cut is a point, ordered from the image bottom (near) to the top (far).
- Dashes of one line: regions whose curves meet the image bottom within
  ``merge_tolerance`` of the image width are one boundary.
- Position: by where each boundary's curve meets the image bottom, relative to the image
  centre (the camera is assumed to look along the vehicle's axis): the nearest on each side is
  the ego lane's boundary, the next one the adjacent lane's, the rest ``OTHER``.
- Ground curves and the ego lane (:func:`fit_ground_curve`, :func:`ego_lane`): a polynomial
  ``y(x)`` fitted to the metric points, width / offset / heading / curvature at ``x = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seg_perception.geometry import ImageCurve, LaneBoundary, Polygon
from seg_perception.interfaces import LanePosition

DEFAULT_MAX_ROWS = 16
DEFAULT_MERGE_TOLERANCE = 0.03  # fraction of the image width
MAX_CURVE_DEGREE = 2  # a cubic over a few dashes overshoots; the message keeps room for 3
CURVE_COEFFICIENTS = 4


@dataclass(frozen=True)
class EgoLane:
    """Ego-lane geometry at the vehicle origin (see ``LaneBoundaryArray.msg``); NaN where unknown."""

    width: float = float("nan")
    lateral_offset: float = float("nan")
    heading: float = float("nan")
    curvature: float = float("nan")

    @property
    def valid(self) -> bool:
        return bool(np.all(np.isfinite([self.width, self.lateral_offset, self.heading, self.curvature])))


def fit_polynomial(t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Coefficients ``c[0..3]`` (lowest power first) of a least-squares fit of degree ≤ 2; zeros beyond.

    The fit runs on ``t`` centred and scaled (pixel rows in the hundreds make the plain
    Vandermonde matrix ill-conditioned) and the coefficients are mapped back to ``t``.
    """
    t = np.asarray(t, dtype=np.float64).ravel()
    values = np.asarray(values, dtype=np.float64).ravel()
    coefficients = np.zeros(CURVE_COEFFICIENTS, dtype=np.float64)
    if t.size == 0:
        return coefficients
    centre = float(t.mean())
    scale = float(np.abs(t - centre).max())
    degree = min(MAX_CURVE_DEGREE, t.size - 1)
    if degree == 0 or scale == 0.0:
        coefficients[0] = float(values.mean())
        return coefficients
    s = (t - centre) / scale
    a = np.zeros(MAX_CURVE_DEGREE + 1)
    a[: degree + 1] = np.linalg.lstsq(np.vander(s, degree + 1, increasing=True), values, rcond=None)[0]
    # a0 + a1 (t - m)/k + a2 (t - m)²/k²  ->  c0 + c1 t + c2 t²
    m, k = centre, scale
    coefficients[0] = a[0] - a[1] * m / k + a[2] * m * m / (k * k)
    coefficients[1] = a[1] / k - 2.0 * a[2] * m / (k * k)
    coefficients[2] = a[2] / (k * k)
    return coefficients


def evaluate(coefficients: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    return np.polynomial.polynomial.polyval(t, coefficients)


def centre_line(points: np.ndarray, max_rows: int = DEFAULT_MAX_ROWS) -> np.ndarray:
    """(N, 2) midpoints of horizontal cuts through a closed polygon, bottom (largest v) first.

    All cuts at once: every row against every edge (rows × edges), the cut's ends being the
    leftmost and rightmost crossings.
    """
    polygon = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(polygon) < 3:
        return polygon[np.argsort(-polygon[:, 1])].astype(np.float32)
    v_min, v_max = float(polygon[:, 1].min()), float(polygon[:, 1].max())
    if v_max - v_min < 1.0:
        return np.array([[polygon[:, 0].mean(), (v_min + v_max) / 2]], dtype=np.float32)
    rows = np.linspace(v_max, v_min, max_rows + 2)[1:-1, None]  # bottom first, strictly inside
    (u0, v0), (u1, v1) = polygon.T, np.roll(polygon, -1, axis=0).T
    crosses = (v0 <= rows) != (v1 <= rows)
    dv = np.where(v1 != v0, v1 - v0, 1.0)
    u = u0 + (rows - v0) / dv * (u1 - u0)
    left = np.where(crosses, u, np.inf).min(axis=1)
    right = np.where(crosses, u, -np.inf).max(axis=1)
    cut = crosses.any(axis=1)
    return np.column_stack([(left[cut] + right[cut]) / 2, rows[cut, 0]]).astype(np.float32)


def boundaries_from_polygons(
    polygons: Sequence[Polygon],
    image_size: tuple[int, int],
    *,
    class_ids: Sequence[int],
    max_rows: int = DEFAULT_MAX_ROWS,
    merge_tolerance: float = DEFAULT_MERGE_TOLERANCE,
) -> list[LaneBoundary]:
    """One :class:`LaneBoundary` per line of lane-marking regions (see the module docstring).

    Args:
        polygons: Region polygons of one frame.
        image_size: ``(height, width)`` of the frame.
        class_ids: Classes that are lane markings (others are ignored).
        max_rows: Horizontal cuts per region.
        merge_tolerance: Regions meeting the image bottom this close (fraction of the width) are one line.
    """
    height, width = image_size
    bottom = float(height - 1)
    lines = []
    for polygon in polygons:
        if polygon.class_id not in class_ids:
            continue
        points = centre_line(polygon.points, max_rows)
        if len(points) == 0:
            continue
        lines.append((_bottom_intercept(points, bottom), points, polygon.class_id))
    lines.sort(key=lambda line: line[0])
    groups: list[list[tuple[float, np.ndarray, int]]] = []
    for line in lines:
        if groups and abs(line[0] - groups[-1][-1][0]) <= merge_tolerance * width:
            groups[-1].append(line)
        else:
            groups.append([line])
    boundaries = []
    for group in groups:
        points = np.concatenate([line[1] for line in group])
        points = points[np.argsort(-points[:, 1], kind="stable")]
        curve = ImageCurve(
            fit_polynomial(points[:, 1], points[:, 0]), float(points[:, 1].min()), float(points[:, 1].max())
        )
        boundaries.append(
            LaneBoundary(points=points, instance_id=len(boundaries), image_curve=curve, class_id=group[0][2])
        )
    _assign_positions(boundaries, bottom, width / 2.0)
    return boundaries


def _bottom_intercept(points: np.ndarray, bottom: float) -> float:
    """Column where the line through a centre line's nearest and farthest points meets row ``bottom``."""
    (u_near, v_near), (u_far, v_far) = points[0], points[-1]
    if v_near - v_far < 1e-6:
        return float(u_near)
    return float(u_near + (bottom - v_near) * (u_far - u_near) / (v_far - v_near))


def _assign_positions(boundaries: list[LaneBoundary], bottom: float, centre: float) -> None:
    intercepts = [
        float(evaluate(b.image_curve.coefficients, bottom)) if b.image_curve else np.nan for b in boundaries
    ]
    left = sorted((i for i, u in enumerate(intercepts) if u < centre), key=lambda i: -intercepts[i])
    right = sorted((i for i, u in enumerate(intercepts) if u >= centre), key=lambda i: intercepts[i])
    for side, (ego, adjacent) in (
        (left, (LanePosition.EGO_LEFT, LanePosition.ADJACENT_LEFT)),
        (right, (LanePosition.EGO_RIGHT, LanePosition.ADJACENT_RIGHT)),
    ):
        for rank, index in enumerate(side):
            boundaries[index].position = (ego, adjacent)[rank] if rank < 2 else LanePosition.OTHER


def fit_ground_curve(points_xy: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """``(c[0..3], x_min, x_max)`` of ``y(x)`` through finite metric points; None for fewer than 2."""
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(np.unique(points[:, 0])) < 2:
        return None
    return fit_polynomial(points[:, 0], points[:, 1]), float(points[:, 0].min()), float(points[:, 0].max())


def ego_lane(left: np.ndarray | None, right: np.ndarray | None) -> EgoLane:
    """Ego-lane geometry from the ground curves ``y(x)`` of its left and right boundaries.

    Width and offset are taken at ``x = 0``; heading and curvature average the two sides.
    """
    if left is None or right is None:
        return EgoLane()
    centre = (left + right) / 2.0
    return EgoLane(
        width=float(left[0] - right[0]),
        lateral_offset=float(-centre[0]),
        heading=float(np.arctan(centre[1])),
        curvature=float(2.0 * centre[2]),
    )
