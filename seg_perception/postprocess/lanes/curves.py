"""Polynomial curves on the extraction plane: the shared road shape, each line's fit, and drawing the
curves back into the image (steps 4-5 of :mod:`seg_perception.postprocess.lanes`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from seg_perception.postprocess.hood import hood_rows
from seg_perception.postprocess.lanes.plane import ExtractionPlane

X_SCALE = 50.0  # metres: normalises x in the fits so that all coefficients are of similar size
RENDER_POINTS = 40  # samples along a drawn boundary


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


def sorted_median(values: np.ndarray) -> float:
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


def geometric_samples(near: float, far: float, points: int) -> np.ndarray:
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


def solve_shared(
    samples: list[np.ndarray], degree: int, weights: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``y = a_k + sum_j s_j (x/X)^j``: per-tracklet offsets ``a`` and shared shape ``s``."""
    count = len(samples)
    xy = np.concatenate(samples)
    xs = xy[:, 0] / X_SCALE
    matrix = np.zeros((len(xy), count + degree))
    matrix[np.arange(len(xy)), np.repeat(np.arange(count), [len(s) for s in samples])] = 1.0
    for j in range(1, degree + 1):
        matrix[:, count + j - 1] = xs**j
    root_w = np.sqrt(np.concatenate(weights))
    solution, *_ = np.linalg.lstsq(matrix * root_w[:, None], xy[:, 1] * root_w, rcond=None)
    return solution[:count], solution[count:]


def shape_residuals(
    xy: np.ndarray, weight: np.ndarray, owner: np.ndarray, count: int, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, rms)`` of every tracklet from the shape: its mean lateral distance and the spread.

    ``xy`` and ``weight`` are all tracklets' samples one after the other, ``owner`` the tracklet
    of each sample (one pass for all tracklets, not a few NumPy calls per tracklet).
    """
    xs = xy[:, 0] / X_SCALE
    along = polyval(xs, np.concatenate([[0.0], shape])) if len(shape) else np.zeros_like(xs)
    distance = xy[:, 1] - along
    total = np.bincount(owner, weight, count)
    offset = np.bincount(owner, distance * weight, count) / total
    spread = distance - offset[owner]
    return offset, np.sqrt(np.bincount(owner, spread * spread * weight, count) / total)


def fit_line(
    xy: np.ndarray, weight: np.ndarray, shape: np.ndarray, prior: float, heading_share: float
) -> np.ndarray:
    """Cubic in normalised x pulled towards the shared shape by ``prior`` (relative to the data weight).

    The heading (linear) term is pulled by ``heading_share`` of it, the curvature terms by all of it.
    """
    degree = 3
    count = len(xy)
    xs = xy[:, 0] / X_SCALE
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


def straight_past(
    coefficients: np.ndarray,
    near: float,
    end: float,
    *,
    near_paint: float | None = None,
    far_paint: float | None = None,
) -> np.ndarray:
    """The polynomial ``coefficients`` on ``[near, end]`` continued along its tangent past ``far_paint``
    and before ``near_paint`` (None: the polynomial there).

    One polynomial of the same degree fitted to the pieces, sampled like the rendering
    (geometric spacing: the near road, where lateral error matters most, weighs most).
    """
    degree = len(coefficients) - 1
    if degree < 2:
        return coefficients
    xs = geometric_samples(near, end, 4 * RENDER_POINTS)
    derivative = np.polynomial.polynomial.polyder(coefficients)

    def tangent(at: float) -> np.ndarray:
        return polyval_at(at, coefficients) + float(polyval_at(at, derivative)) * (xs - at)

    ys = polyval(xs, coefficients)
    if far_paint is not None:
        ys = np.where(xs > far_paint, tangent(far_paint), ys)
    if near_paint is not None:
        ys = np.where(xs < near_paint, tangent(near_paint), ys)
    return fit_polynomial(xs, ys, degree)


def to_metric_coefficients(normalised: np.ndarray) -> np.ndarray:
    return np.asarray(normalised / X_SCALE ** np.arange(len(normalised)), dtype=np.float64)


def clipped_intervals(intervals: list[tuple[float, float]], end: float) -> list[tuple[float, float]]:
    """The parts of sorted, disjoint ``intervals`` that lie before ``end``."""
    return [(a, min(b, end)) for a, b in intervals if a < end]


def intervals_union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(a, b) for a, b in merged]


Rendered = tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[float, float]]


def render_curve(
    plane: ExtractionPlane,
    coefficients: np.ndarray,
    x_range: tuple[float, float],
    size: tuple[int, int],
    points: int = RENDER_POINTS,
    *,
    from_frame_edge: bool = False,
) -> Rendered | None:
    """``(image_points, ground_points, public coefficients, valid range)`` of a plane curve in the image.

    None when fewer than two of its points fall inside the image. ``from_frame_edge``: it starts
    where it enters the frame, not at its first sample inside.
    """
    return render_curves(plane, [(coefficients, x_range)], size, points, from_frame_edge=from_frame_edge)[0]


def render_curves(
    plane: ExtractionPlane,
    curves: Sequence[tuple[np.ndarray, tuple[float, float]]],
    size: tuple[int, int],
    points: int = RENDER_POINTS,
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
        xs[k] = geometric_samples(near, far, points)
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
