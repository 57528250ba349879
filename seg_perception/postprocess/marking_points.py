"""Marking points from the parking model's ``marking_points`` map (NumPy/OpenCV only).

The map is ``(3, h, w)`` at 1/stride of the model input: heat in 0..1 and the unit direction
of the separating line (pointing into the slot). Peaks are local maxima of the heat above a
threshold; each is refined to sub-cell precision by the heat-weighted centroid of its 3x3
neighbourhood (the training target is a Gaussian centred on the exact point), its direction
is the heat-weighted mean direction there, and peaks closer than an NMS radius to a stronger
one are dropped. A map with sub-cell offsets (``(5, h, w)``, model option ``point_offsets``)
places each point by the heat-weighted mean of its 3x3 cells' votes (cell centre + offset)
instead of the centroid of the heat.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Columns of a decoded point row.
X, Y, DX, DY, SCORE = range(5)


def decode_marking_points(
    points_map: np.ndarray,
    *,
    stride: int,
    threshold: float,
    nms_radius_px: float,
    offsets: bool = False,
) -> np.ndarray:
    """Marking points of one map: ``(K, 5)`` float64 rows ``(x, y, dx, dy, score)``, best first.

    ``x, y`` are pixels of the model's input image (cell ``(i, j)`` is centred on pixel
    ``((j + 0.5) * stride - 0.5, (i + 0.5) * stride - 0.5)``).

    Args:
        points_map: ``(3, h, w)`` heat and unit direction.
        stride: Model input pixels per map cell.
        threshold: Minimum peak heat.
        nms_radius_px: A peak within this distance (input pixels) of a stronger one is dropped.
        offsets: The map has the two sub-cell offset channels (``(5, h, w)``), in cells.

    Raises:
        ValueError: the map's channel count is not the one ``offsets`` says.
    """
    channels = 5 if offsets else 3
    if points_map.shape[0] != channels:
        raise ValueError(
            f"marking-point map has {points_map.shape[0]} channels, expected {channels} "
            f"({'with' if offsets else 'without'} sub-cell offsets)"
        )
    heat = np.ascontiguousarray(points_map[0], dtype=np.float32)
    if heat.size == 0 or float(heat.max(initial=0.0)) < threshold:
        return np.zeros((0, 5))
    peaks = (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8))) & (heat >= threshold)
    rows, cols = np.nonzero(peaks)
    padded = np.pad(heat, 1)
    padded_dir = np.pad(np.asarray(points_map[1:3], dtype=np.float32), ((0, 0), (1, 1), (1, 1)))
    padded_offset = (
        np.pad(np.asarray(points_map[3:5], dtype=np.float32), ((0, 0), (1, 1), (1, 1))) if offsets else None
    )
    neighbours = np.array([-1, 0, 1])
    found = []
    for row, col in zip(rows, cols, strict=True):
        window = padded[row : row + 3, col : col + 3]
        weight = window.sum()
        if padded_offset is None:
            dy = float((window.sum(axis=1) * neighbours).sum() / weight)
            dx = float((window.sum(axis=0) * neighbours).sum() / weight)
        else:
            votes = padded_offset[:, row : row + 3, col : col + 3]
            dx = float(((votes[0] + neighbours[None, :]) * window).sum() / weight)
            dy = float(((votes[1] + neighbours[:, None]) * window).sum() / weight)
        direction = (padded_dir[:, row : row + 3, col : col + 3] * window).sum(axis=(1, 2))
        norm = float(np.hypot(*direction))
        if norm < 1e-6:
            continue
        x = (col + dx + 0.5) * stride - 0.5
        y = (row + dy + 0.5) * stride - 0.5
        found.append((x, y, direction[0] / norm, direction[1] / norm, float(heat[row, col])))
    if not found:
        return np.zeros((0, 5))
    points = np.array(found)
    points = points[np.argsort(-points[:, SCORE], kind="stable")]
    keep: list[int] = []
    for index in range(len(points)):
        if all(np.hypot(*(points[index, :2] - points[other, :2])) >= nms_radius_px for other in keep):
            keep.append(index)
    return points[keep]


def drop_weak_edge_points(
    points: np.ndarray, size: tuple[int, int], *, margin_px: float, threshold: float
) -> np.ndarray:
    """Points closer than ``margin_px`` to the frame's border need at least ``threshold`` heat.

    At the border the model sees only half a junction (a line that leaves the view, a car cut
    by the edge), and its weak peaks there are mostly false (``docs/parking_slots.md``).

    Args:
        points: ``(K, 5)`` decoded rows in frame pixels.
        size: Frame ``(height, width)``.
        margin_px: Width of the border band; 0 keeps every point.
        threshold: Minimum heat of a point inside the band.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 5)
    if margin_px <= 0 or len(points) == 0:
        return points
    height, width = size
    to_edge = np.minimum.reduce(
        [points[:, X] + 0.5, points[:, Y] + 0.5, width - 0.5 - points[:, X], height - 0.5 - points[:, Y]]
    )
    return points[(to_edge >= margin_px) | (points[:, SCORE] >= threshold)]


#: Test-time flips by count: (horizontal, vertical) of each copy of the frame, the frame first.
#: A bird's-eye view stays a valid view when mirrored; the shipped model was trained with
#: horizontal flips and sees 180-degree turns of rows, but not 90-degree turns (rows run along
#: the car), so rotations by 90 degrees are not used.
TEST_TIME_FLIPS: dict[int, tuple[tuple[bool, bool], ...]] = {
    1: ((False, False),),
    2: ((False, False), (True, False)),
    4: ((False, False), (True, False), (False, True), (True, True)),
}


def flip_frame(image: np.ndarray, flip: tuple[bool, bool]) -> np.ndarray:
    """``image`` mirrored left-right (``flip[0]``) and / or upside down (``flip[1]``), contiguous."""
    horizontal, vertical = flip
    out = image[:, ::-1] if horizontal else image
    out = out[::-1] if vertical else out
    return np.ascontiguousarray(out)


def merge_flipped_maps(maps: np.ndarray, flips: tuple[tuple[bool, bool], ...]) -> np.ndarray:
    """One marking-point map from the maps of flipped copies of a frame (test-time flips).

    Each map is flipped back (its directions and sub-cell offsets mirrored with it); the heat
    is the mean over the copies, the direction and the offsets their heat-weighted means (the
    direction renormalised). Exact for maps of an input whose size is a multiple of the stride:
    a mirrored cell is a cell.

    Args:
        maps: ``(F, C, h, w)`` maps of the copies (C = 3, or 5 with offsets), in ``flips`` order.
        flips: ``(horizontal, vertical)`` of each copy.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if len(maps) != len(flips):
        raise ValueError(f"{len(maps)} maps for {len(flips)} flips")
    back = []
    for points_map, (horizontal, vertical) in zip(maps, flips, strict=True):
        restored = points_map.copy()
        if horizontal:
            restored = restored[:, :, ::-1]
            restored[1] = -restored[1]
            if len(restored) > 3:
                restored[3] = -restored[3]
        if vertical:
            restored = restored[:, ::-1]
            restored[2] = -restored[2]
            if len(restored) > 3:
                restored[4] = -restored[4]
        back.append(restored)
    stack = np.stack(back)
    heat = stack[:, 0]
    weight = heat / np.maximum(heat.sum(axis=0), 1e-12)
    merged = np.empty_like(stack[0])
    merged[0] = heat.mean(axis=0)
    direction = (stack[:, 1:3] * weight[:, None]).sum(axis=0)
    merged[1:3] = direction / np.maximum(np.linalg.norm(direction, axis=0), 1e-12)
    merged[3:] = (stack[:, 3:] * weight[:, None]).sum(axis=0)
    return merged


def scale_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map decoded points through a 2x3 affine (positions; directions rotate, renormalised)."""
    points = np.array(points, dtype=np.float64, copy=True)
    if len(points) == 0:
        return points
    linear = np.asarray(affine, dtype=np.float64)[:, :2]
    points[:, :2] = points[:, :2] @ linear.T + np.asarray(affine, dtype=np.float64)[:, 2]
    direction = points[:, 2:4] @ linear.T
    points[:, 2:4] = direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    return points
