"""Class-id mask → simplified polygons, one per connected region (the contest's JSON clusters)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from seg_perception.geometry import Polygon


def region_pixel_area(contour: np.ndarray) -> float:
    """Number of pixels enclosed by an OpenCV outer contour (holes included).

    ``cv2.contourArea`` measures the polygon through boundary pixel centres, which
    undercounts by about half the perimeter (a 1-pixel-wide line has area 0). Pick's
    theorem recovers the pixel count: ``pixels = area + boundary_points / 2 + 1``,
    where the boundary points are the chain steps between contour vertices (exact
    for ``CHAIN_APPROX_SIMPLE`` and ``CHAIN_APPROX_NONE`` contours).
    """
    points = contour.reshape(-1, 2).astype(np.int64)
    steps = np.abs(np.diff(np.vstack([points, points[:1]]), axis=0)).max(axis=1).sum()
    return float(cv2.contourArea(contour)) + float(steps) / 2.0 + 1.0


def outer_contours(binary: np.ndarray) -> list[np.ndarray]:
    """Outer boundaries of the connected regions of a 0/1 uint8 image.

    ``RETR_CCOMP`` rather than ``RETR_EXTERNAL`` so that a region lying inside the
    hole of another region is still reported.
    """
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    parents = hierarchy[0][:, 3]
    return [contour for contour, parent in zip(contours, parents, strict=True) if parent < 0]


def _order_key(points: np.ndarray) -> tuple[float, float]:
    """Bottom-most region first (nearest the ego vehicle in both cameras), then left to right."""
    return (-float(points[:, 1].max()), float(points[:, 0].min()))


def extract_polygons(
    mask: np.ndarray,
    class_names: Sequence[str],
    *,
    min_area_px: float,
    epsilon_px: float,
    ignore: Iterable[str] = ("background",),
) -> list[Polygon]:
    """One simplified polygon per connected region of every class not in ``ignore``.

    Ordering is stable frame to frame as far as the scene allows: by class id, then
    bottom-most region first, then left to right; ``instance_id`` counts regions of
    a class in that order (unique per class within a frame).

    Args:
        mask: (H, W) uint8 class ids.
        class_names: Names by class id.
        min_area_px: Regions with fewer pixels (holes included) are dropped.
        epsilon_px: ``cv2.approxPolyDP`` tolerance; 0 keeps every contour vertex.
        ignore: Class names not turned into polygons.

    Returns:
        Polygons with (K >= 3, 2) float32 ``(x, y)`` pixel vertices, counter-clockwise
        or clockwise as OpenCV traces them, not repeated at the end.
    """
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 mask, got shape {mask.shape} dtype {mask.dtype}")
    skipped = set(ignore)
    polygons: list[Polygon] = []
    present = np.bincount(mask.ravel(), minlength=len(class_names))  # skip absent classes cheaply
    for class_id, class_name in enumerate(class_names):
        if class_name in skipped or present[class_id] == 0:
            continue
        binary = (mask == class_id).view(np.uint8)
        found: list[np.ndarray] = []
        for contour in outer_contours(binary):
            if region_pixel_area(contour) < min_area_px:
                continue
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
