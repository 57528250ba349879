"""Junctions: transverse paint (stop lines, crosswalks), stretches of road without lines, and which lines
hold before a junction and which across it (step 6 of :mod:`seg_perception.postprocess.lanes`)."""

from __future__ import annotations

import cv2
import numpy as np

from seg_perception.postprocess.lanes.paint import GroundSamples, row_runs
from seg_perception.postprocess.lanes.plane import ExtractionPlane
from seg_perception.postprocess.lanes.results import RoadMarking


def transverse_paint(
    paint: np.ndarray, plane: ExtractionPlane, scale: np.ndarray, min_width: float, max_hole: int
) -> np.ndarray:
    """``paint`` (mask pixels) with only its row runs at least ``min_width`` across the road (plane
    units; holes of ``max_hole`` pixels closed): stop lines apart from the lines they touch.

    A stop line usually meets a solid line or the centre line; as one component with it, it is as
    tall as the line and would be taken for no stop line at all.
    """
    row, start, end = row_runs(paint, max_hole)
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


def wide_components(binary: np.ndarray) -> list[tuple[int, int, int, int, np.ndarray]]:
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


def reaches_axis(marking: RoadMarking, plane: ExtractionPlane, width: float, corridor: float) -> bool:
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


def unmarked_junctions(
    ground: GroundSamples, x_bottom: float, min_gap: float, min_spread: float
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


def before_junction(
    ground: GroundSamples, junctions: list[tuple[float, float]], x_bottom: float, at_junction_m: float
) -> tuple[GroundSamples, bool]:
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
    trimmed = GroundSamples(
        samples=[samples[k][keep[k]] for k in tracklets],
        weights=[ground.weights[k][keep[k]] for k in tracklets],
        spans=spans,
        reach=[ground.reach[k][keep[k]] for k in tracklets],
        kept=[(ground.kept[k][0][keep[k]], ground.kept[k][1][keep[k]]) for k in tracklets],
        stripes=None if stripes is None else [stripes[k][keep[k]] for k in tracklets],
        transverse_found=ground.transverse_found,
    )
    return trimmed, across
