"""Parking-slot extraction: corners, entrance side and the fallbacks of the entrance rule."""

import cv2
import numpy as np
import pytest

from seg_perception.postprocess import extract_parking_slots
from seg_perception.postprocess.slots import (
    clockwise_on_screen,
    clockwise_quadrilaterals,
    grow_quadrilateral,
    grow_quadrilaterals,
    paint_coverage_of_slots,
    side_paint_coverage,
)

LINE, FREE = 1, 2


def painted_slot(open_side, shape=(200, 200), box=(60, 40, 100, 120), width=6):
    """A free slot x0..x1, y0..y1 with slot-line paint on every side but ``open_side``."""
    x0, y0, x1, y1 = box
    mask = np.zeros(shape, np.uint8)
    mask[y0:y1, x0:x1] = FREE
    sides = {
        "top": (slice(y0 - width, y0), slice(x0 - width, x1 + width)),
        "bottom": (slice(y1, y1 + width), slice(x0 - width, x1 + width)),
        "left": (slice(y0 - width, y1 + width), slice(x0 - width, x0)),
        "right": (slice(y0 - width, y1 + width), slice(x1, x1 + width)),
    }
    for name, region in sides.items():
        if name != open_side:
            mask[region] = LINE
    return mask


def slots_of(mask, **options):
    return extract_parking_slots(mask, slot_line_id=LINE, free_slot_id=FREE, min_area_px=100, **options)


def entrance_midpoint(slot):
    return slot.corners[:2].mean(axis=0)


@pytest.mark.parametrize(
    ("open_side", "expected_midpoint"),
    [("bottom", (80, 120)), ("top", (80, 40)), ("left", (60, 80)), ("right", (100, 80))],
)
def test_entrance_is_the_unpainted_side(open_side, expected_midpoint):
    (slot,) = slots_of(painted_slot(open_side))
    np.testing.assert_allclose(entrance_midpoint(slot), expected_midpoint, atol=1.0)
    assert slot.extra["entrance_rule"] == "open_side"
    assert slot.free is True


def test_corners_span_the_slot_clockwise_from_the_entrance():
    (slot,) = slots_of(painted_slot("bottom"))
    # Clockwise on screen from the entrance: bottom-right, bottom-left, top-left, top-right.
    np.testing.assert_allclose(slot.corners, [[100, 120], [60, 120], [60, 40], [100, 40]], atol=1.0)
    assert slot.corners.shape == (4, 2) and slot.corners.dtype == np.float32


def test_rotated_slot_entrance_is_the_open_short_side():
    mask = np.zeros((240, 240), np.uint8)
    rect = ((120.0, 120.0), (50.0, 100.0), 30.0)
    inner = cv2.boxPoints(rect).astype(np.int32)
    outer = cv2.boxPoints(((120.0, 120.0), (64.0, 114.0), 30.0)).astype(np.int32)
    cv2.fillPoly(mask, [outer], LINE)
    cv2.fillPoly(mask, [inner], FREE)
    # Open the short side nearest the bottom of the image by erasing its paint.
    sides = [(inner[i], inner[(i + 1) % 4]) for i in range(4)]
    short = [s for s in sides if np.linalg.norm(s[0] - s[1]) < 75]
    open_side = max(short, key=lambda s: s[0][1] + s[1][1])
    centre = np.array([120.0, 120.0])
    direction = (open_side[0] + open_side[1]) / 2 - centre
    beyond = direction * 0.4
    erase = [open_side[0], open_side[1], open_side[1] + beyond, open_side[0] + beyond]
    cv2.fillPoly(mask, [np.array(erase).astype(np.int32)], 0)
    (slot,) = slots_of(mask)
    np.testing.assert_allclose(entrance_midpoint(slot), (open_side[0] + open_side[1]) / 2, atol=3.0)


def test_without_paint_the_side_facing_the_ego_wins():
    mask = np.zeros((200, 200), np.uint8)
    mask[40:120, 60:100] = FREE
    (slot,) = slots_of(mask, ego_px=(80, 190))
    np.testing.assert_allclose(entrance_midpoint(slot), (80, 120), atol=1.0)
    assert slot.extra["entrance_rule"] == "faces_ego"
    (slot,) = slots_of(mask, ego_px=(80, 0))
    np.testing.assert_allclose(entrance_midpoint(slot), (80, 40), atol=1.0)


def test_two_open_sides_tie_break_to_the_ego():
    mask = painted_slot("bottom")
    mask[34:40, 54:106] = 0  # erase the top line too
    (slot,) = slots_of(mask, ego_px=(80, 0))
    np.testing.assert_allclose(entrance_midpoint(slot), (80, 40), atol=1.0)


def test_small_regions_are_dropped_and_slots_are_numbered():
    mask = painted_slot("bottom")
    mask[150:190, 20:40] = FREE  # a second slot lower in the image
    mask[5:8, 5:8] = FREE  # speck
    slots = slots_of(mask)
    assert [slot.instance_id for slot in slots] == [0, 1]
    assert slots[0].corners[:, 1].max() > slots[1].corners[:, 1].max()  # bottom-most first
    assert slots_of(np.zeros((10, 10), np.uint8)) == []


def test_clockwise_on_screen_reverses_counter_clockwise_input():
    square = np.array([[0, 0], [0, 1], [1, 1], [1, 0]], np.float64)  # counter-clockwise on screen
    np.testing.assert_array_equal(clockwise_on_screen(square), square[::-1])
    np.testing.assert_array_equal(clockwise_on_screen(square[::-1]), square[::-1])


def test_angled_slot_keeps_its_parallelogram_shape():
    mask = np.zeros((200, 200), np.uint8)
    slot = np.array([[60, 150], [100, 150], [140, 50], [100, 50]], np.int32)  # leaning parallelogram
    cv2.polylines(mask, [slot], True, LINE, thickness=9)
    cv2.line(mask, (60, 150), (100, 150), 0, thickness=9)  # open entrance at the bottom
    cv2.fillPoly(mask, [slot], FREE)
    (found,) = slots_of(mask)
    # The region is the parallelogram; corners within a few pixels of the drawn ones, entrance first.
    expected = np.array([[100, 150], [60, 150], [100, 50], [140, 50]], np.float32)
    np.testing.assert_allclose(found.corners, expected, atol=3.0)
    assert found.extra["entrance_rule"] == "open_side"


def test_tiny_and_degenerate_regions_do_not_crash():
    mask = np.zeros((20, 20), np.uint8)
    mask[5, 5:9] = FREE  # one-pixel-wide run
    mask[10:12, 10:11] = FREE
    slots = extract_parking_slots(mask, slot_line_id=LINE, free_slot_id=FREE, min_area_px=1)
    assert all(slot.corners.shape == (4, 2) for slot in slots) and len(slots) == 2


def reference_grow(corners, distance):
    """Each corner as the intersection of its two shifted sides, one 2x2 solve at a time."""
    directions = np.roll(corners, -1, axis=0) - corners
    normals = np.stack([directions[:, 1], -directions[:, 0]], axis=1)
    shifted = corners + normals / np.linalg.norm(normals, axis=1, keepdims=True) * distance
    grown = np.empty_like(corners)
    for index in range(4):
        matrix = np.stack([directions[index - 1], -directions[index]], axis=1)
        step = np.linalg.solve(matrix, shifted[index] - shifted[index - 1])
        grown[index] = shifted[index - 1] + step[0] * directions[index - 1]
    return grown


def test_batched_slot_geometry_equals_the_per_slot_functions():
    rng = np.random.default_rng(7)
    mask = painted_slot("left", shape=(220, 220))
    line = mask == LINE
    quads = []
    for _ in range(6):  # convex quadrilaterals, some counter-clockwise, some leaving the image
        centre, half = rng.uniform(20, 200, 2), rng.uniform(8, 40, 2)
        angle = rng.uniform(0, np.pi)
        corners = cv2.boxPoints(((*centre,), (*(2 * half),), np.degrees(angle))).astype(np.float64)
        quads.append(corners if rng.random() < 0.5 else corners[::-1].copy())
    stacked = np.stack(quads)
    ordered = clockwise_quadrilaterals(stacked)
    grown = grow_quadrilaterals(ordered, 0.5)
    depths = rng.uniform(1.0, 9.0, len(quads))
    coverages = paint_coverage_of_slots(line, grown, depths)
    for index, corners in enumerate(quads):
        single = grow_quadrilateral(clockwise_on_screen(corners), 0.5)
        np.testing.assert_array_equal(grown[index], single)
        np.testing.assert_allclose(single, reference_grow(clockwise_on_screen(corners), 0.5), atol=1e-9)
        np.testing.assert_array_equal(coverages[index], side_paint_coverage(line, single, depths[index]))
    assert (coverages > 0).any() and (coverages < 1).any()  # the probe saw paint and gaps


def test_slot_whose_entrance_is_cut_by_the_image_border_is_dropped():
    # open at the bottom, and the bottom of the free region reaches the image edge
    mask = painted_slot("bottom", shape=(120, 200), box=(60, 40, 100, 120))
    assert slots_of(mask) == []
    assert len(slots_of(mask, border_margin_px=-1.0)) == 1
    # the same slot one row further from the edge is reported
    assert len(slots_of(painted_slot("bottom", shape=(125, 200), box=(60, 40, 100, 120)))) == 1
