"""Polygon extraction on hand-drawn masks."""

import cv2
import numpy as np
import pytest

from seg_perception.postprocess import extract_polygons, region_pixel_area
from seg_perception.postprocess.polygons import outer_contours

CLASSES = ("background", "lane_marking", "crosswalk")


def shoelace(points):
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_two_rectangles_give_two_polygons_with_class_and_area():
    mask = np.zeros((100, 120), np.uint8)
    mask[10:30, 10:60] = 1  # 20 x 50
    mask[50:90, 70:110] = 2  # 40 x 40
    polygons = extract_polygons(mask, CLASSES, min_area_px=10, epsilon_px=1.0)
    assert [(p.class_id, p.class_name) for p in polygons] == [(1, "lane_marking"), (2, "crosswalk")]
    # Vertices sit on boundary pixel centres: the enclosed area is (h - 1) x (w - 1).
    assert shoelace(polygons[0].points) == pytest.approx(19 * 49)
    assert shoelace(polygons[1].points) == pytest.approx(39 * 39)
    assert len(polygons[0].points) == 4 and polygons[0].points.dtype == np.float32


def test_tiny_blobs_are_dropped_and_background_is_skipped():
    mask = np.zeros((50, 50), np.uint8)
    mask[5:8, 5:8] = 1  # 9 pixels
    mask[20:40, 20:40] = 1  # 400 pixels
    polygons = extract_polygons(mask, CLASSES, min_area_px=10, epsilon_px=1.0)
    assert len(polygons) == 1 and polygons[0].class_id == 1
    assert extract_polygons(np.zeros((20, 20), np.uint8), CLASSES, min_area_px=1, epsilon_px=1) == []


def test_region_pixel_area_counts_pixels():
    for draw in (
        lambda m: m.__setitem__((slice(3, 13), slice(4, 24)), 1),  # rectangle
        lambda m: m.__setitem__((5, slice(2, 30)), 1),  # one-pixel-wide line
        lambda m: cv2.circle(m, (16, 16), 9, 1, -1),  # disc
        lambda m: cv2.fillPoly(m, [np.array([[2, 2], [28, 6], [10, 28]])], 1),  # triangle
    ):
        mask = np.zeros((32, 32), np.uint8)
        draw(mask)
        (contour,) = outer_contours(mask)
        assert region_pixel_area(contour) == pytest.approx(np.count_nonzero(mask))


def test_simplification_bounds_vertex_count():
    mask = np.zeros((200, 200), np.uint8)
    cv2.circle(mask, (100, 100), 80, 1, -1)
    fine = extract_polygons(mask, CLASSES, min_area_px=1, epsilon_px=0.0)[0]
    coarse = extract_polygons(mask, CLASSES, min_area_px=1, epsilon_px=3.0)[0]
    assert len(coarse.points) < 30 < len(fine.points)
    # Each simplified vertex stays within epsilon (plus pixel rounding) of the raw outline.
    contour = fine.points.reshape(-1, 1, 2)
    distances = [abs(cv2.pointPolygonTest(contour, (float(x), float(y)), True)) for x, y in coarse.points]
    assert max(distances) <= 3.0 + 1e-6


def test_order_is_bottom_first_and_ids_count_per_class():
    mask = np.zeros((100, 100), np.uint8)
    mask[10:20, 10:20] = 1  # top
    mask[70:80, 60:70] = 1  # bottom
    mask[70:80, 10:20] = 1  # bottom, left of the previous one
    mask[40:50, 40:50] = 2
    polygons = extract_polygons(mask, CLASSES, min_area_px=1, epsilon_px=1.0)
    lanes = [p for p in polygons if p.class_id == 1]
    assert [p.instance_id for p in lanes] == [0, 1, 2]
    top_left_corners = [(int(p.points[:, 0].min()), int(p.points[:, 1].min())) for p in lanes]
    assert top_left_corners == [(10, 70), (60, 70), (10, 10)]
    assert [p.instance_id for p in polygons if p.class_id == 2] == [0]


def test_region_inside_a_hole_is_still_found():
    mask = np.zeros((60, 60), np.uint8)
    mask[5:55, 5:55] = 1
    mask[15:45, 15:45] = 0  # hole
    mask[25:35, 25:35] = 1  # island in the hole
    polygons = extract_polygons(mask, CLASSES, min_area_px=1, epsilon_px=1.0)
    assert len(polygons) == 2


def test_thin_region_still_gives_a_polygon():
    mask = np.zeros((20, 40), np.uint8)
    mask[10, 5:35] = 1
    (polygon,) = extract_polygons(mask, CLASSES, min_area_px=5, epsilon_px=2.0)
    assert len(polygon.points) >= 3


def test_rejects_non_uint8_masks():
    with pytest.raises(ValueError):
        extract_polygons(np.zeros((5, 5), np.int32), CLASSES, min_area_px=1, epsilon_px=1)
