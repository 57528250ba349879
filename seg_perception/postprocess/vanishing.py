"""The vanishing point of a frame's lane paint, for lane boundaries without a calibrated camera.

Each tracklet of paint (a dash, a stretch of a line) is taken as a straight image line ``u =
intercept + slope v``; optionally a line's collinear dashes are joined first, so that they vote with
the direction of the whole line. Lines leaning opposite ways cross at the horizon; the crossings
inside the region where a forward camera's vanishing point can lie are combined by a weighted median.
Where all lines lean one way (a car at the road's edge), three lines through one point give it, or,
asked for, two. Plain NumPy; used by :mod:`seg_perception.postprocess.lanes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

VP_MIN_SPAN = 0.015  # share of the height a tracklet must span to vote for the vanishing point at all
MIN_VP_SLOPE = 0.2  # |du/dv| of tracklets used for the vanishing point
VP_ROWS = (0.05, 1.0)  # rows of the vanishing point, shares of the height (and above the paint)
# two lines whose paint reaches the horizon cross at their top rows: a crossing up to this share of
# the height below the higher top is still above the paint, within the noise of the two fits
VP_TOP_SLACK = 0.01
# a dash joins a line only if the joined line runs within this angle of the dash's own direction and
# of the line's: a short dash's direction is noisy (a few degrees), but two dashes of different
# lines, each short enough to lie within the join's tolerance of one fit, make a line turned far
# from at least one of them (26-31 degrees in two real frames; in one it put the horizon in a tree)
JOIN_MAX_TURN_DEG = 20.0


class _StraightLine:
    """Running sums of ``(u, v)`` samples and their least-squares line ``u = intercept + slope v``.

    Plain floats: joining a frame's few dozen tracklets compares each pair a few times, where
    NumPy calls on small arrays would cost more than the arithmetic.
    """

    def __init__(self, u: np.ndarray, v: np.ndarray) -> None:
        self.count = float(len(v))
        self.su, self.sv = float(u.sum()), float(v.sum())
        self.suu, self.suv, self.svv = float(u @ u), float(u @ v), float(v @ v)
        self.top, self.bottom = float(v.min()), float(v.max())
        self.slope, self.intercept = self._fit(self)

    @staticmethod
    def _fit(sums: _StraightLine) -> tuple[float, float]:
        n = sums.count
        spread = sums.svv - sums.sv * sums.sv / n
        slope = (sums.suv - sums.su * sums.sv / n) / spread if spread > 0 else 0.0
        return slope, (sums.su - slope * sums.sv) / n

    def rms_from(self, slope: float, intercept: float) -> float:
        """Root mean square of this line's samples' distance (in u) from ``u = intercept + slope v``."""
        n = self.count
        squares = (
            self.suu
            - 2.0 * intercept * self.su
            - 2.0 * slope * self.suv
            + intercept * intercept * n
            + 2.0 * intercept * slope * self.sv
            + slope * slope * self.svv
        )
        return math.sqrt(max(squares, 0.0) / n)

    def joined(self, other: _StraightLine) -> _StraightLine:
        line = object.__new__(_StraightLine)
        line.count, line.su, line.sv = self.count + other.count, self.su + other.su, self.sv + other.sv
        line.suu, line.suv, line.svv = self.suu + other.suu, self.suv + other.suv, self.svv + other.svv
        line.top, line.bottom = min(self.top, other.top), max(self.bottom, other.bottom)
        line.slope, line.intercept = self._fit(line)
        return line


def _turn_deg(slope_a: float, slope_b: float) -> float:
    """Angle (degrees) between two image directions ``du/dv``."""
    return abs(math.degrees(math.atan(slope_a) - math.atan(slope_b)))


def _join_collinear(lines: list[_StraightLine], tolerance: float) -> list[_StraightLine]:
    """Tracklets' lines joined where they lie on one straight image line: the dashes of a lane line.

    Greedy, the longest line first, growing towards the nearest rows: a tracklet joins when one
    straight fit of the joined samples stays within ``tolerance`` pixels (RMS) of both its own
    samples and the line's, and runs within ``JOIN_MAX_TURN_DEG`` of the directions of both. A
    dash's own direction is poorly known (a model's dash is a short blob); a line through several
    dashes is not.
    """
    free = list(lines)
    joined = []
    while free:
        line = free.pop(max(range(len(free)), key=lambda k: free[k].bottom - free[k].top))
        grown = True
        while grown:
            grown = False
            free.sort(key=lambda other: max(line.top - other.bottom, other.top - line.bottom, 0.0))
            for k, other in enumerate(free):
                if other.slope * line.slope <= 0:
                    continue
                union = line.joined(other)
                if (
                    line.rms_from(union.slope, union.intercept) <= tolerance
                    and other.rms_from(union.slope, union.intercept) <= tolerance
                    and _turn_deg(line.slope, union.slope) <= JOIN_MAX_TURN_DEG
                    and _turn_deg(other.slope, union.slope) <= JOIN_MAX_TURN_DEG
                ):
                    line = union
                    del free[k]
                    grown = True
                    break
        joined.append(line)
    return joined


def vanishing_lines(
    tracklets: Sequence[tuple[np.ndarray, np.ndarray]],
    size: tuple[int, int],
    *,
    join: float = 0.0,
    trim: float = 0.0,
) -> list[_StraightLine]:
    """Straight image lines of the tracklets that can vote for the vanishing point.

    Args:
        tracklets: ``(u, v)`` sample arrays of each tracklet, in row order.
        size: (height, width) of the image.
        join: Tracklets on one straight line within this share of the height (RMS) are joined
            into one line, so that a line's dashes vote together with the direction of the
            whole line; 0: every tracklet is a line of its own.
        trim: Share of each tracklet's samples left out at either end (its slanted or rounded
            ends, whose centres lean towards the vertical); 0: all of them.
    """
    height, _ = size
    if trim > 0:
        cut = [int(trim * len(v)) for _, v in tracklets]
        tracklets = [(u[k : len(u) - k], v[k : len(v) - k]) for (u, v), k in zip(tracklets, cut, strict=True)]
    lines = [
        _StraightLine(u, v) for u, v in tracklets if len(v) >= 4 and v.max() - v.min() >= VP_MIN_SPAN * height
    ]
    # nearly horizontal in the image: no lane line
    lines = [line for line in lines if abs(line.slope) >= MIN_VP_SLOPE]
    return _join_collinear(lines, join * height) if join > 0 else lines


def intersect_lines(
    lines: Sequence[_StraightLine],
    size: tuple[int, int],
    region: tuple[float, float, float, float] | None = None,
    *,
    min_span: float = VP_MIN_SPAN,
    same_side_angle_deg: float | None = None,
    tolerance: float = 0.0,
    third_line: bool = True,
) -> tuple[float, float] | None:
    """Weighted median of the pairwise intersections of straight image lines ``u = a + b v``.

    Args:
        lines: From :func:`vanishing_lines`.
        size: (height, width) of the image.
        region: ``(u_min, u_max, v_min, v_max)`` pixels where the camera's vanishing point can
            be (``lanes.LaneSettings.vanishing_region``); intersections outside it are not
            candidates (a shadow edge or a blob crossing a lane line far from the horizon).
            None: any column, rows ``VP_ROWS``.
        min_span: Lines spanning fewer rows than this share of the height do not vote.
        same_side_angle_deg: Two lines leaning the same way (both left or both right of the
            car) vote when their directions differ by at least this angle and a third line
            passes within ``tolerance`` pixels (along the row) of their crossing; None: only
            lines leaning opposite ways vote together.
        tolerance: Pixels, see ``same_side_angle_deg``.
        third_line: False: same-side pairs vote without a third line through their crossing.

    Returns:
        ``(u0, v0)`` or None when no two lines meet where a vanishing point can be.
    """
    height, _ = size
    fits = [
        (line.intercept, line.slope, line.top, line.count * (line.bottom - line.top))
        for line in lines
        if line.bottom - line.top >= min_span * height
    ]
    min_angle = math.radians(same_side_angle_deg) if same_side_angle_deg is not None else math.inf
    candidates, weights = [], []
    for i in range(len(fits)):
        a_i, b_i, top_i, w_i = fits[i]
        for j in range(i + 1, len(fits)):
            a_j, b_j, top_j, w_j = fits[j]
            # a line left of the car leans one way, a line right of it the other: such pairs meet
            # at the horizon; two lines on one side only where their directions differ enough
            # (nearly parallel, they meet anywhere along it)
            same_side = b_i * b_j > 0
            if same_side and abs(math.atan(b_i) - math.atan(b_j)) < min_angle:
                continue
            v_cross = (a_j - a_i) / (b_i - b_j)
            if not (VP_ROWS[0] * height < v_cross < min(top_i, top_j) + VP_TOP_SLACK * height):
                continue
            u_cross = a_i + b_i * v_cross
            if region is not None and not (
                region[0] <= u_cross <= region[1] and region[2] <= v_cross <= region[3]
            ):
                continue
            # two lines on one side cross somewhere in any case: their crossing is the vanishing
            # point only where a third line passes through it too
            if (
                same_side
                and third_line
                and not any(
                    k != i and k != j and abs(fits[k][0] + fits[k][1] * v_cross - u_cross) <= tolerance
                    for k in range(len(fits))
                )
            ):
                continue
            candidates.append((u_cross, v_cross))
            weights.append(np.sqrt(w_i * w_j))
    if not candidates:
        return None
    points = np.asarray(candidates)
    w = np.asarray(weights)

    def weighted_median(values: np.ndarray) -> float:
        order = np.argsort(values)
        cumulative = np.cumsum(w[order])
        return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])

    return weighted_median(points[:, 0]), weighted_median(points[:, 1])


def estimate_vanishing_point(
    tracklets: Sequence[tuple[np.ndarray, np.ndarray]],
    size: tuple[int, int],
    region: tuple[float, float, float, float] | None = None,
    *,
    min_span: float = VP_MIN_SPAN,
    join: float = 0.0,
    same_side_angle_deg: float | None = None,
    trim: float = 0.0,
) -> tuple[float, float] | None:
    """The vanishing point of tracklets: :func:`vanishing_lines`, then :func:`intersect_lines`."""
    lines = vanishing_lines(tracklets, size, join=join, trim=trim)
    return intersect_lines(
        lines,
        size,
        region,
        min_span=min_span,
        same_side_angle_deg=same_side_angle_deg,
        tolerance=join * size[0],
    )
