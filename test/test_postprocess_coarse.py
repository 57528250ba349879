"""Regions traced on a model-resolution mask, placed in the pixels of its nearest-neighbour upscale."""

import cv2
import numpy as np
import pytest

from seg_perception.postprocess import extract_parking_slots, extract_polygons
from seg_perception.postprocess.coarse import BlockGrid
from seg_perception.postprocess.regions import outer_contours

CLASSES = ("background", "lane_marking", "crosswalk")


def upscale(coarse, fine_hw):
    return cv2.resize(coarse, (fine_hw[1], fine_hw[0]), interpolation=cv2.INTER_NEAREST)


def outline_distance(points, polygon):
    contour = polygon.reshape(-1, 1, 2).astype(np.float32)
    return max(abs(cv2.pointPolygonTest(contour, (float(x), float(y)), True)) for x, y in points)


@pytest.mark.parametrize(
    ("coarse_hw", "fine_hw"), [((256, 512), (540, 960)), ((320, 320), (640, 640)), ((37, 53), (101, 160))]
)
def test_block_grid_reproduces_the_opencv_upscale(coarse_hw, fine_hw):
    grid = BlockGrid.between(coarse_hw, fine_hw)
    coarse = np.random.default_rng(0).integers(0, 255, coarse_hw, dtype=np.uint8)
    rows = np.repeat(np.arange(coarse_hw[0]), grid.row_sizes)
    cols = np.repeat(np.arange(coarse_hw[1]), grid.col_sizes)
    np.testing.assert_array_equal(coarse[rows][:, cols], upscale(coarse, fine_hw))
    with pytest.raises(ValueError, match="not an upscale"):
        BlockGrid.between(fine_hw, coarse_hw)


def test_fine_pixel_count_is_exact_for_uneven_blocks():
    coarse_hw, fine_hw = (40, 50), (97, 113)  # blocks of 2 or 3 rows/columns
    grid = BlockGrid.between(coarse_hw, fine_hw)
    coarse = np.zeros(coarse_hw, np.uint8)
    cv2.circle(coarse, (25, 20), 12, 1, -1)
    coarse[16:24, 21:29] = 0  # a hole: counted, like region_pixel_area counts holes
    (contour,) = outer_contours(coarse)
    filled = np.zeros(coarse_hw, np.uint8)
    cv2.drawContours(filled, [contour], 0, 1, thickness=cv2.FILLED)
    fine_pixels = np.count_nonzero(upscale(filled, fine_hw))
    assert grid.fine_pixel_count(contour) == fine_pixels
    # The area threshold is decided on the fine pixel count, right at the boundary.
    assert grid.has_min_area(contour, fine_pixels) and not grid.has_min_area(contour, fine_pixels + 1)


@pytest.mark.parametrize("seed", [3, 4])
def test_area_threshold_is_exact_for_every_region(seed):
    coarse_hw, fine_hw = (40, 50), (97, 113)
    grid = BlockGrid.between(coarse_hw, fine_hw)
    coarse = random_blobs(coarse_hw, seed, count=12)
    for contour in outer_contours((coarse > 0).view(np.uint8)):
        filled = np.zeros(coarse_hw, np.uint8)
        cv2.drawContours(filled, [contour], 0, 1, thickness=cv2.FILLED)
        fine_pixels = np.count_nonzero(upscale(filled, fine_hw))
        assert grid.has_min_area(contour, fine_pixels)
        assert not grid.has_min_area(contour, fine_pixels + 0.5)


def random_blobs(shape, seed, count=25):
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, np.uint8)
    for _ in range(count):
        centre = (int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0])))
        axes = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(1, 3)), -1)
    return mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coarse_tracing_keeps_the_regions_of_the_fine_mask(seed):
    coarse = random_blobs((60, 90), seed)
    fine = upscale(coarse, (127, 190))  # uneven 2-3 px blocks: the hard case for areas
    options = {"min_area_px": 60.0, "epsilon_px": 2.0}
    expected = extract_polygons(fine, CLASSES, **options)
    traced = extract_polygons(fine, CLASSES, coarse_mask=coarse, **options)
    # Same regions kept and dropped (the area threshold is decided in fine pixels, exactly)...
    assert sorted(p.class_id for p in traced) == sorted(p.class_id for p in expected)
    assert len(traced) > 5
    raw = extract_polygons(fine, CLASSES, min_area_px=60.0, epsilon_px=0.0)
    for polygon in traced:
        assert polygon.points.dtype == np.float32 and len(polygon.points) >= 3
        # ...and every vertex near the fine outline of its region: epsilon plus about a block.
        nearest = min(
            outline_distance(polygon.points, p.points) for p in raw if p.class_id == polygon.class_id
        )
        assert nearest <= options["epsilon_px"] + 1.5


def test_coarse_mask_must_not_be_larger_than_the_mask():
    with pytest.raises(ValueError, match="not an upscale"):
        extract_polygons(
            np.zeros((10, 10), np.uint8),
            CLASSES,
            min_area_px=1,
            epsilon_px=1,
            coarse_mask=np.zeros((20, 20), np.uint8),
        )
    with pytest.raises(ValueError, match="uint8"):
        extract_polygons(
            np.zeros((10, 10), np.uint8), CLASSES, min_area_px=1, epsilon_px=1, coarse_mask=np.zeros((5, 5))
        )


def test_slots_from_a_coarse_mask_equal_those_of_the_fine_mask_at_an_integer_scale():
    coarse = np.zeros((100, 100), np.uint8)
    for index, angle in enumerate((0.0, 20.0, -35.0)):
        centre = (20.0 + 30.0 * index, 50.0)
        outer = cv2.boxPoints((centre, (16.0, 40.0), angle)).astype(np.int32)
        inner = cv2.boxPoints((centre, (12.0, 34.0), angle)).astype(np.int32)
        cv2.fillPoly(coarse, [outer], 1)
        cv2.fillPoly(coarse, [inner], 2)
    coarse[70:90, 5:30] = 2  # an unpainted one: entrance by the ego rule
    fine = upscale(coarse, (200, 200))
    options = {"slot_line_id": 1, "free_slot_id": 2, "min_area_px": 100.0, "ego_px": (100.0, 190.0)}
    expected = extract_parking_slots(fine, **options)
    traced = extract_parking_slots(fine, coarse_mask=coarse, **options)
    assert len(expected) == 4
    assert [s.extra for s in traced] == [s.extra for s in expected]
    for slot, reference in zip(traced, expected, strict=True):
        np.testing.assert_allclose(slot.corners, reference.corners, atol=1e-4)
