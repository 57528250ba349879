"""Pixel to vehicle-frame metres and homographies."""

import numpy as np
import pytest

from seg_perception.postprocess import apply_homography, pixels_to_vehicle_metres


def test_bird_eye_pixels_map_to_forward_and_left():
    origin = (320.0, 320.0)
    points = np.array([[320, 320], [320, 220], [220, 320], [420, 420]], np.float32)
    metres = pixels_to_vehicle_metres(points, 0.02, origin)
    # origin; 100 px up = 2 m forward; 100 px left = 2 m left; down-right = behind and right.
    np.testing.assert_allclose(metres, [[0, 0], [2, 0], [0, 2], [-2, -2]], atol=1e-9)
    with pytest.raises(ValueError):
        pixels_to_vehicle_metres(points, 0.0, origin)


def test_homography_round_trip_and_projection():
    homography = np.array([[2.0, 0.1, 5.0], [0.0, 1.5, -3.0], [0.001, 0.002, 1.0]])
    points = np.array([[10.0, 20.0], [100.0, 50.0], [0.0, 0.0]])
    mapped = apply_homography(points, homography)
    x, y = points[:, 0], points[:, 1]
    w = 0.001 * x + 0.002 * y + 1.0
    np.testing.assert_allclose(mapped[:, 0], (2 * x + 0.1 * y + 5) / w)
    np.testing.assert_allclose(mapped[:, 1], (1.5 * y - 3) / w)
    np.testing.assert_allclose(apply_homography(mapped, np.linalg.inv(homography)), points, atol=1e-9)
    with pytest.raises(ValueError):
        apply_homography(points, np.eye(2))
    with pytest.raises(ValueError, match="infinity"):
        apply_homography(np.array([[0.0, 0.0]]), np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 0]]))
