"""Colourising and overlay on small arrays."""

import numpy as np
import pytest

from seg_perception.postprocess import colorize, overlay
from seg_perception.postprocess.visualize import color_table

COLORS = np.array([[0, 0, 0], [255, 255, 255], [48, 224, 96]], np.uint8)


def test_colorize_maps_each_id_to_its_colour():
    mask = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    image = colorize(mask, COLORS)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, COLORS[mask])


def test_colorize_unknown_ids_are_black():
    np.testing.assert_array_equal(colorize(np.array([[7]], np.uint8), COLORS), [[[0, 0, 0]]])


def test_overlay_blends_foreground_and_leaves_background():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (6, 7)).astype(np.uint8)
    alpha = 0.3
    result = overlay(image, mask, COLORS, alpha)
    expected = np.where(
        (mask > 0)[..., None],
        np.round(image * (1 - alpha) + COLORS[mask] * alpha),
        image,
    )
    np.testing.assert_allclose(result.astype(int), expected.astype(int), atol=1)
    np.testing.assert_array_equal(result[mask == 0], image[mask == 0])
    assert not np.shares_memory(result, image)


def test_overlay_validates_inputs():
    with pytest.raises(ValueError):
        overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), COLORS, 0.5)
    with pytest.raises(ValueError):
        overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8), COLORS, 1.5)


def test_overlay_writes_into_a_given_buffer_and_checks_it():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (5, 6)).astype(np.uint8)
    out = np.zeros_like(image)
    assert overlay(image, mask, COLORS, 0.4, out=out) is out
    np.testing.assert_array_equal(out, overlay(image, mask, COLORS, 0.4))
    with pytest.raises(ValueError, match="out"):
        overlay(image, mask, COLORS, 0.4, out=np.zeros((5, 6, 3), np.float32))


def test_colorize_accepts_a_prepared_table_and_keeps_every_class():
    mask = np.arange(256, dtype=np.uint8).reshape(16, 16)
    colors = np.random.default_rng(2).integers(0, 256, (256, 3), dtype=np.uint8)
    np.testing.assert_array_equal(colorize(mask, color_table(colors)), colors[mask])


# ---------------------------------------------------------------- annotated pictures


def test_legend_shows_every_foreground_class_colour():
    from seg_perception.postprocess import draw_legend

    image = np.full((240, 320, 3), 128, np.uint8)
    draw_legend(image, ["background", "lane", "crosswalk"], COLORS)
    corner = image[:60, -160:].reshape(-1, 3)  # top-right
    for colour in COLORS[1:]:
        assert (corner == colour).all(axis=1).any()
    assert not (corner == COLORS[0]).all(axis=1).any()  # no background swatch (black)


def test_draw_geometry_draws_polygons_slots_entrances_and_lines():
    from seg_perception.geometry import ParkingSlot, Polygon
    from seg_perception.postprocess import visualize

    image = np.zeros((200, 200, 3), np.uint8)
    polygon = Polygon(2, "slot", np.array([[10, 10], [60, 10], [60, 40]], np.float32), instance_id=4)
    slot = ParkingSlot(np.array([[100, 190], [160, 190], [160, 110], [100, 110]], np.float32), free=False)
    lane = (np.array([[10, 190], [40, 100]]), "L1", (0, 0, 255))
    visualize.draw_geometry(image, colors_bgr=COLORS, polygons=[polygon], slots=[slot], lines=[lane])
    assert (image[10, 35] > 0).any()  # polygon top edge

    def near(pixel, colour):  # anti-aliased lines: the centre pixel is close to the colour
        return np.abs(pixel.astype(int) - colour).max() <= 24

    assert near(image[190, 130], visualize.ENTRANCE_BGR)  # entrance side
    assert near(image[150, 160], visualize.OCCUPIED_SLOT_BGR)  # far side of an occupied slot
    assert near(image[145, 25], (0, 0, 255))  # lane line


def test_a_held_slot_is_labelled_as_held():
    from seg_perception.geometry import ParkingSlot
    from seg_perception.postprocess import visualize

    corners = np.array([[40, 190], [200, 190], [200, 110], [40, 110]], np.float32)
    drawn = []
    for missed in (0, 2):
        image = np.zeros((200, 240, 3), np.uint8)
        visualize.draw_geometry(image, colors_bgr=COLORS, slots=[ParkingSlot(corners, missed_frames=missed)])
        drawn.append(image)
    label_row = drawn[0][138:158, 124:190]  # right of "S0 free": empty unless the label goes on
    assert not label_row.any() and drawn[1][138:158, 124:190].any()


def test_annotate_leaves_the_frame_untouched():
    from seg_perception.postprocess import annotate

    image = np.full((60, 80, 3), 90, np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[30:, 40:] = 2
    picture = annotate(image, mask, class_names=["bg", "a", "b"], colors_bgr=COLORS)
    assert (image == 90).all() and picture.shape == image.shape and not np.array_equal(picture, image)
