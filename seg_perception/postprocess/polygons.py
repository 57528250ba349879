"""Class-id mask → simplified polygons, one per connected region (the contest's JSON clusters)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from seg_perception.geometry import Polygon
from seg_perception.postprocess.coarse import trace_source
from seg_perception.postprocess.regions import has_min_area, outer_contours, region_pixel_area

__all__ = ["extract_polygons", "has_min_area", "outer_contours", "region_pixel_area"]


def _order_key(points: np.ndarray) -> tuple[float, float]:
    """Bottom-most region first (nearest the ego vehicle in both cameras), then left to right."""
    return (-float(points[:, 1].max()), float(points[:, 0].min()))


def extract_polygons(
    mask: np.ndarray,
    class_names: Sequence[str],
    *,
    min_area_px: float,
    epsilon_px: float,
    background: Iterable[int] = (0,),
    coarse_mask: np.ndarray | None = None,
) -> list[Polygon]:
    """One simplified polygon per connected region of every class not in ``background``.

    Ordering is stable frame to frame as far as the scene allows: by class id, then
    bottom-most region first, then left to right; ``instance_id`` counts regions of
    a class in that order (unique per class within a frame).

    Args:
        mask: (H, W) uint8 class ids.
        class_names: Names by class id.
        min_area_px: Regions with fewer pixels (holes included) are dropped.
        epsilon_px: ``cv2.approxPolyDP`` tolerance; 0 keeps every contour vertex.
        background: Class ids not turned into polygons (the scenario's ``background`` role).
        coarse_mask: Optional (h, w) mask that ``mask`` is the nearest-neighbour upscale
            of (the model-resolution mask): regions are traced on it, (H/h)·(W/w) times
            fewer pixels, and their outlines mapped to ``mask`` pixels before
            simplification. The regions and the area threshold are exactly those of
            ``mask``; vertices lie on block centres, within half a block
            (``(H/h - 1) / 2`` px) of the outline traced on ``mask``.

    Returns:
        Polygons with (K >= 3, 2) float32 ``(x, y)`` pixel vertices, counter-clockwise
        or clockwise as OpenCV traces them, not repeated at the end.
    """
    source, grid = trace_source(mask, coarse_mask)
    skipped = set(background)
    polygons: list[Polygon] = []
    for class_id, class_name in enumerate(class_names):
        if class_id in skipped:
            continue
        binary = (source == class_id).view(np.uint8)
        if not cv2.countNonZero(binary):  # absent class: skip the contour scan
            continue
        found: list[np.ndarray] = []
        for contour in outer_contours(binary):
            if grid is None:
                if not has_min_area(contour, min_area_px):
                    continue
            else:
                if not grid.has_min_area(contour, min_area_px):
                    continue
                contour = grid.to_fine(contour).astype(np.float32).reshape(-1, 1, 2)
            simplified = cv2.approxPolyDP(contour, epsilon_px, True) if epsilon_px > 0 else contour
            points = simplified.reshape(-1, 2).astype(np.float32)
            if len(points) < 3:  # a line or dot after simplification: keep the raw outline
                points = contour.reshape(-1, 2).astype(np.float32)
            if len(points) < 3:  # a one-pixel-wide region: its (degenerate) bounding rectangle
                points = cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float32)
            found.append(points)
        found.sort(key=_order_key)
        polygons.extend(
            Polygon(class_id=class_id, class_name=class_name, points=points, instance_id=index)
            for index, points in enumerate(found)
        )
    return polygons
