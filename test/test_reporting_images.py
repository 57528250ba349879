"""Reporting: contact sheets, PNG stills and size-bounded GIFs."""

import numpy as np
import pytest
from PIL import Image

from seg_perception.reporting import ReportingError, contact_sheet, write_gif, write_png


def _frames(count, height=90, width=160, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def test_contact_sheet_grid_geometry_and_placement():
    images = [np.full((50, 100, 3), value, np.uint8) for value in (10, 20, 30, 40, 50)]
    sheet = contact_sheet(images, cols=2, tile_width=100, gap=4)
    assert sheet.shape == (3 * 50 + 4 * 4, 2 * 100 + 3 * 4, 3)
    assert sheet[4 + 10, 4 + 10, 0] == 10  # first tile, top left
    assert sheet[4 + 10, 4 + 100 + 4 + 10, 0] == 20  # second tile, top right
    assert sheet[2 * 54 + 4 + 10, 4 + 10, 0] == 50  # fifth tile, third row
    assert sheet[2 * 54 + 4 + 10, 4 + 104 + 10, 0] == 32  # empty cell keeps the background


def test_contact_sheet_rows_take_the_height_of_their_tallest_tile():
    wide, square = np.full((50, 100, 3), 1, np.uint8), np.full((100, 100, 3), 2, np.uint8)
    sheet = contact_sheet([wide, wide, square], cols=2, tile_width=100, gap=0)
    assert sheet.shape == (150, 200, 3)
    assert sheet[49, 150, 0] == 1 and sheet[50, 50, 0] == 2 and sheet[149, 50, 0] == 2


def test_contact_sheet_scales_mixed_sizes_and_grey_and_labels():
    images = [np.zeros((40, 80), np.uint8), np.zeros((100, 100, 3), np.uint8)]
    sheet = contact_sheet(images, cols=4, tile_width=60, labels=["a", "b"], gap=0)
    assert sheet.shape == (60, 120, 3)  # 2 columns (fewer images), tallest tile 60
    assert sheet[:15, :20].max() > 0  # the label was drawn on a black tile


@pytest.mark.parametrize(
    "kwargs",
    [
        {"images": []},
        {"images": [np.zeros((4, 4, 3), np.uint8)], "cols": 0},
        {"images": [np.zeros((4, 4, 3), np.uint8)], "labels": ["a", "b"]},
    ],
)
def test_contact_sheet_rejects_bad_input(kwargs):
    with pytest.raises(ReportingError):
        contact_sheet(**kwargs)


def test_write_gif_frames_size_and_duration(tmp_path):
    path = write_gif(_frames(6), tmp_path / "sub" / "a.gif", fps=10.0, max_width=80)
    with Image.open(path) as gif:
        assert gif.n_frames == 6
        assert gif.size == (80, 45)
        assert gif.info["duration"] == 100
        assert gif.info.get("loop") == 0


def test_write_gif_shrinks_to_fit_the_byte_budget(tmp_path):
    path = tmp_path / "noisy.gif"
    write_gif(_frames(4, 120, 160), path, fps=10.0, max_width=160, max_bytes=50_000)
    assert path.stat().st_size <= 50_000
    with Image.open(path) as gif:
        assert 96 <= gif.size[0] < 160


def test_write_gif_errors(tmp_path):
    with pytest.raises(ReportingError, match="no frames"):
        write_gif([], tmp_path / "x.gif")
    with pytest.raises(ReportingError, match="fps"):
        write_gif(_frames(1), tmp_path / "x.gif", fps=0)
    with pytest.raises(ReportingError, match="do not fit"):
        write_gif(_frames(2, 96, 128), tmp_path / "x.gif", max_bytes=100)


def test_write_png_round_trip(tmp_path):
    image = _frames(1)[0]
    path = write_png(image, tmp_path / "d" / "x.png")
    with Image.open(path) as png:
        np.testing.assert_array_equal(np.asarray(png)[:, :, ::-1], image)
