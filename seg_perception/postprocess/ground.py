"""Pixel to ground-plane conversions for polygons and slots.

AVM (bird's-eye) images are metric: image up is the vehicle's forward direction
and image left is the vehicle's left, so a pixel ``(u, v)`` maps to the vehicle
frame (x forward, y left, metres; ROS REP 103) as::

    x = (v0 - v) * metres_per_pixel
    y = (u0 - u) * metres_per_pixel

where ``(u0, v0)`` is the pixel of the vehicle-frame origin. Front cameras need a
ground-plane homography from calibration, applied with :func:`apply_homography`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pixels_to_vehicle_metres(
    points: np.ndarray, metres_per_pixel: float, origin_px: Sequence[float]
) -> np.ndarray:
    """Convert (K, 2) pixel ``(u, v)`` points of a bird's-eye image to (K, 2) ``(x forward, y left)`` metres.

    Raises:
        ValueError: non-positive scale or points not of shape (K, 2).
    """
    if metres_per_pixel <= 0:
        raise ValueError(f"metres_per_pixel must be positive, got {metres_per_pixel}")
    pixels = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    origin = np.asarray(origin_px, dtype=np.float64).reshape(2)
    forward = (origin[1] - pixels[:, 1]) * metres_per_pixel
    left = (origin[0] - pixels[:, 0]) * metres_per_pixel
    return np.stack([forward, left], axis=1)


def apply_homography(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map (K, 2) points through a 3x3 homography (e.g. image pixels to ground metres).

    Raises:
        ValueError: the matrix is not 3x3, or a point maps to infinity (on the horizon).
    """
    matrix = np.asarray(homography, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f"a homography is a 3x3 matrix, got shape {matrix.shape}")
    pixels = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    projected = np.hstack([pixels, np.ones((len(pixels), 1))]) @ matrix.T
    scale = projected[:, 2:3]
    if np.any(np.abs(scale) < 1e-12):
        raise ValueError("a point maps to infinity under the homography (it lies on the horizon)")
    return projected[:, :2] / scale
