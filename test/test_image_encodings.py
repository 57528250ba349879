"""Raw encodings real cameras publish, decoded without cv_bridge: colours come out where they belong."""

from __future__ import annotations

import numpy as np
import pytest

from seg_perception.errors import ImageConversionError
from seg_perception.image_encodings import ENCODINGS, raw_to_bgr

ORANGE_BGR = (30, 100, 200)  # B, G, R: every channel different, so a swapped order shows
HEIGHT, WIDTH = 6, 8


def decode(rows: np.ndarray, encoding: str, *, is_bigendian: bool = False, pad: int = 0) -> np.ndarray:
    """``rows`` (H, row bytes) as a message's data, with ``pad`` bytes of row padding."""
    rows = np.hstack([rows, np.full((rows.shape[0], pad), 77, np.uint8)])
    return raw_to_bgr(
        rows.reshape(-1),
        height=rows.shape[0],
        width=WIDTH,
        step=rows.shape[1],
        encoding=encoding,
        is_bigendian=is_bigendian,
    )


def bayer_mosaic(order: str, bgr: tuple[int, int, int]) -> np.ndarray:
    """A uniform colour as the ``order`` mosaic (ROS names the first 2x2 block, row by row)."""
    value = {"b": bgr[0], "g": bgr[1], "r": bgr[2]}
    mosaic = np.zeros((HEIGHT, WIDTH), np.uint8)
    for index, colour in enumerate(order):
        mosaic[index // 2 :: 2, index % 2 :: 2] = value[colour]
    return mosaic


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize("order", ["rggb", "bggr", "gbrg", "grbg"])
def test_a_bayer_mosaic_gives_its_colour(order: str, pad: int) -> None:
    image = decode(bayer_mosaic(order, ORANGE_BGR), f"bayer_{order}8", pad=pad)
    assert image.shape == (HEIGHT, WIDTH, 3)
    inner = image[2:-2, 2:-2].reshape(-1, 3).astype(int)  # demosaicking is exact inside a uniform patch
    assert np.abs(inner - ORANGE_BGR).max() <= 1


@pytest.mark.parametrize("is_bigendian", [False, True])
def test_sixteen_bit_values_are_scaled_to_eight_in_their_byte_order(is_bigendian: bool) -> None:
    values = np.array(ORANGE_BGR[::-1], np.uint16) * 257  # full-scale 16-bit R, G, B
    pixels = np.broadcast_to(values, (HEIGHT, WIDTH, 3)).astype(">u2" if is_bigendian else "<u2")
    rows = pixels.reshape(HEIGHT, -1).view(np.uint8)
    image = decode(rows, "rgb16", is_bigendian=is_bigendian, pad=2)
    assert (image == ORANGE_BGR).all()
    mosaic = bayer_mosaic("rggb", ORANGE_BGR).astype(">u2" if is_bigendian else "<u2") * 257
    inner = decode(mosaic.view(np.uint8), "bayer_rggb16", is_bigendian=is_bigendian)[2:-2, 2:-2]
    assert np.abs(inner.reshape(-1, 3).astype(int) - ORANGE_BGR).max() <= 1


# The same orange in YCbCr (BT.601, video range, as V4L2 cameras send it), written byte by byte in
# each 4:2:2 layout: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, and so on.
Y, CB, CR = 121, 82, 177


@pytest.mark.parametrize(
    ("encoding", "pair"),
    [
        ("yuv422", (CB, Y, CR, Y)),  # ROS's yuv422 is UYVY
        ("uyvy", (CB, Y, CR, Y)),
        ("yuv422_yuy2", (Y, CB, Y, CR)),
        ("yuyv", (Y, CB, Y, CR)),
    ],
)
def test_packed_yuv_gives_its_colour(encoding: str, pair: tuple[int, int, int, int]) -> None:
    rows = np.tile(np.array(pair, np.uint8), (HEIGHT, WIDTH // 2))
    image = decode(rows, encoding, pad=4)
    assert image.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(image.reshape(-1, 3).astype(int) - ORANGE_BGR).max() <= 6


def test_every_encoding_decodes_a_padded_image_of_its_size() -> None:
    for encoding, spec in ENCODINGS.items():
        rows = np.full((HEIGHT, WIDTH * spec.bytes_per_pixel), 128, np.uint8)
        image = decode(rows, encoding, pad=3)
        assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8, encoding


@pytest.mark.parametrize(
    ("encoding", "width", "step", "size", "reason"),
    [
        ("yuv999", WIDTH, WIDTH * 2, HEIGHT * WIDTH * 2, "unknown_encoding"),
        ("yuv422", WIDTH - 1, WIDTH * 2, HEIGHT * WIDTH * 2, "odd_width"),
        ("mono16", WIDTH, WIDTH * 2 - 1, HEIGHT * WIDTH * 2, "bad_step"),
        ("rgb8", WIDTH, WIDTH * 3, HEIGHT * WIDTH * 3 - 1, "truncated"),
        ("bayer_rggb8", WIDTH, WIDTH, HEIGHT * WIDTH + 1, "oversized_data"),
    ],
)
def test_malformed_images_are_rejected_with_a_reason(
    encoding: str, width: int, step: int, size: int, reason: str
) -> None:
    with pytest.raises(ImageConversionError) as raised:
        raw_to_bgr(np.zeros(size, np.uint8), height=HEIGHT, width=width, step=step, encoding=encoding)
    assert raised.value.reason == reason
