"""Connected regions of a binary mask: outer contours and their exact pixel counts."""

from __future__ import annotations

import cv2
import numpy as np


def region_pixel_area(contour: np.ndarray) -> float:
    """Number of pixels enclosed by an OpenCV outer contour (holes included).

    ``cv2.contourArea`` measures the polygon through boundary pixel centres, which
    undercounts by about half the perimeter (a 1-pixel-wide line has area 0). Pick's
    theorem recovers the pixel count: ``pixels = area + boundary_points / 2 + 1``,
    where the boundary points are the chain steps between contour vertices (exact
    for ``CHAIN_APPROX_SIMPLE`` and ``CHAIN_APPROX_NONE`` contours).
    """
    points = contour.reshape(-1, 2).astype(np.int64)
    steps = np.abs(np.concatenate([points[1:], points[:1]]) - points).max(axis=1).sum()
    return float(cv2.contourArea(contour)) + float(steps) / 2.0 + 1.0


def has_min_area(contour: np.ndarray, min_area_px: float) -> bool:
    """``region_pixel_area(contour) >= min_area_px``, cheap for the many specks of a mask.

    A region has at most as many pixels as its bounding box, so a box smaller than
    ``min_area_px`` rejects it without the exact count.
    """
    _, _, width, height = cv2.boundingRect(contour)
    if width * height < min_area_px:
        return False
    return region_pixel_area(contour) >= min_area_px


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
