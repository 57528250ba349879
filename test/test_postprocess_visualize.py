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
