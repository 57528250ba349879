"""Marking points of parking slots: ground truth from slot corners, and the training target.

A marking point is where a slot's separating line meets its entrance line (the T or L
junction of the paint, or the free end of a line of an open slot). ps2.0 / DMPR-PS label
exactly these points; here they are the entrance corners of every slot (free or occupied),
each with the unit direction of its separating line, pointing from the entrance into the slot.
Two slots that share a separating line share the marking point.

The training target is a map at ``1/stride`` of the image: a Gaussian heat per point
(peak 1 at the exact sub-cell position, so a weighted centroid recovers it) and, where a
point's Gaussian dominates, that point's direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from seg_perception.geometry import ParkingSlot

#: A point this close to an earlier one (pixels) is the same physical junction.
MERGE_PX = 3.0


def slot_marking_points(slots: Sequence[ParkingSlot], *, merge_px: float = MERGE_PX) -> np.ndarray:
    """Marking points of slots: ``(K, 4)`` float32 rows ``(x, y, dx, dy)`` in pixels, unit direction.

    ``corners[0]`` and ``corners[1]`` of each slot are its entrance; ``corners[3]`` and
    ``corners[2]`` the back ends of their separating lines.
    """
    rows: list[np.ndarray] = []
    for slot in slots:
        corners = np.asarray(slot.corners, dtype=np.float64)
        for entrance, back in ((0, 3), (1, 2)):
            point = corners[entrance]
            direction = corners[back] - point
            norm = float(np.hypot(*direction))
            if norm < 1e-6:
                continue
            direction = direction / norm
            if any(np.hypot(*(row[:2] - point)) < merge_px for row in rows):
                continue
            rows.append(np.array([point[0], point[1], direction[0], direction[1]]))
    if not rows:
        return np.zeros((0, 4), np.float32)
    return np.stack(rows).astype(np.float32)


def marking_point_rows(marks: Sequence[Any], *, include_occluded: bool = False) -> np.ndarray:
    """A generator's own marking points (objects with ``position``, ``direction`` in radians,
    image axes, and ``occluded``) as ``(K, 4)`` rows ``(x, y, dx, dy)``.

    Occluded junctions are left out by default: the image does not show them, so the model
    should not be taught to see them.
    """
    rows = [
        (
            float(mark.position[0]),
            float(mark.position[1]),
            float(np.cos(mark.direction)),
            float(np.sin(mark.direction)),
        )
        for mark in marks
        if include_occluded or not getattr(mark, "occluded", False)
    ]
    return np.array(rows, np.float32).reshape(-1, 4)


def scene_marking_points(sample: Any) -> np.ndarray:
    """Marking points of a synthetic scene: its own ``marking_points`` when the generator gives
    them (they include junctions of slots cut by the view's edge), else its slots' entrance corners."""
    marks = getattr(sample, "marking_points", None)
    if marks:
        return marking_point_rows(marks)
    return slot_marking_points(sample.slots)


def marking_point_target(
    points: np.ndarray,
    size: tuple[int, int],
    *,
    stride: int,
    sigma_px: float,
    offsets: bool = False,
) -> np.ndarray:
    """Training target ``(3, ceil(H/stride), ceil(W/stride))`` float32 of an ``(H, W)`` image.

    Channel 0 is the heat (max over points of a Gaussian of ``sigma_px`` image pixels),
    channels 1-2 the unit direction of the point whose Gaussian is largest there (0 elsewhere).
    Cell ``(i, j)`` covers image pixels ``[j*stride, (j+1)*stride)``; its centre is
    ``(j + 0.5) * stride - 0.5`` in pixel coordinates. With ``offsets`` two more channels
    (5 in all): that point's position relative to the cell centre, in cells.
    """
    height, width = size
    rows, cols = -(-int(height) // stride), -(-int(width) // stride)
    target = np.zeros((5 if offsets else 3, rows, cols), np.float32)
    if len(points) == 0:
        return target
    ys = (np.arange(rows, dtype=np.float32) + 0.5) * stride - 0.5
    xs = (np.arange(cols, dtype=np.float32) + 0.5) * stride - 0.5
    best = target[0]
    for x, y, dx, dy in np.asarray(points, dtype=np.float32):
        gaussian = np.exp(
            -((xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2) / np.float32(2.0 * sigma_px * sigma_px)
        )
        wins = gaussian > best
        best[wins] = gaussian[wins]
        target[1][wins] = dx
        target[2][wins] = dy
        if offsets:
            target[3][wins] = ((x - xs[None, :]) / stride * np.ones_like(gaussian))[wins]
            target[4][wins] = ((y - ys[:, None]) / stride * np.ones_like(gaussian))[wins]
    return target


def to_albumentations(points: np.ndarray) -> np.ndarray:
    """``(x, y, dx, dy)`` rows → albumentations ``xya`` keypoints (angle in radians).

    albumentations measures angles counter-clockwise as seen on screen, i.e. of ``(dx, -dy)``
    in image coordinates (checked against a rotated drawing in the tests).
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 4)
    return np.stack([points[:, 0], points[:, 1], np.arctan2(-points[:, 3], points[:, 2])], axis=1)


def from_albumentations(keypoints: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_albumentations`."""
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, 3)
    angle = keypoints[:, 2]
    return np.stack([keypoints[:, 0], keypoints[:, 1], np.cos(angle), -np.sin(angle)], axis=1).astype(
        np.float32
    )
