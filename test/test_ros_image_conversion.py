"""Image message conversion: every supported encoding, step padding, and each rejection reason."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

pytest.importorskip("sensor_msgs")

from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from seg_perception.ros.errors import ImageConversionError
from seg_perception.ros.image_conversion import (
    bgr_to_msg,
    compressed_msg_to_bgr,
    image_msg_to_bgr,
    image_msg_with_buffer,
    mask_to_msg,
)

RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (7, 5, 3), dtype=np.uint8)


def make_msg(pixels: np.ndarray, encoding: str, *, pad: int = 0) -> Image:
    rows = pixels.reshape(pixels.shape[0], -1)
    rows = np.hstack([rows, np.full((rows.shape[0], pad), 77, np.uint8)])
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "pixels", "expected"),
    [
        ("bgr8", BGR, BGR),
        ("rgb8", BGR[..., ::-1], BGR),
        ("bgra8", np.dstack([BGR, np.full(BGR.shape[:2], 9, np.uint8)]), BGR),
        ("rgba8", np.dstack([BGR[..., ::-1], np.full(BGR.shape[:2], 9, np.uint8)]), BGR),
        ("mono8", BGR[..., 0], np.repeat(BGR[..., :1], 3, axis=2)),
    ],
)
def test_encodings_convert_to_bgr_honouring_step(
    encoding: str, pixels: np.ndarray, expected: np.ndarray, pad: int
) -> None:
    image = image_msg_to_bgr(make_msg(np.ascontiguousarray(pixels), encoding, pad=pad))
    assert image.dtype == np.uint8 and image.shape == (7, 5, 3)
    np.testing.assert_array_equal(image, expected)


def test_camera_encodings_without_cv_bridge_read_the_messages_fields() -> None:
    # a big-endian 16-bit Bayer frame and a padded UYVY frame, as machine-vision and USB cameras send
    mosaic = np.zeros((4, 6), ">u2")
    mosaic[0::2, 0::2] = 200 * 257  # RGGB: red only
    msg = Image(height=4, width=6, encoding="bayer_rggb16", is_bigendian=1, step=12, data=mosaic.tobytes())
    assert (image_msg_to_bgr(msg)[1:3, 1:3] == (0, 0, 200)).all()
    grey = np.tile(np.array([128, 126, 128, 126], np.uint8), (4, 3))  # U Y V Y, neutral chroma
    msg = make_msg(grey.reshape(4, 6, 2), "yuv422", pad=4)
    image = image_msg_to_bgr(msg)
    assert image.shape == (4, 6, 3) and np.ptp(image) == 0 and 120 < image[0, 0, 0] < 140


def test_big_endian_flag_is_irrelevant_for_8_bit() -> None:
    msg = make_msg(BGR, "bgr8")
    msg.is_bigendian = 1
    np.testing.assert_array_equal(image_msg_to_bgr(msg), BGR)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "encoding", "yuv999"), "unknown_encoding"),
        (lambda m: setattr(m, "step", 14), "bad_step"),
        (lambda m: setattr(m, "data", bytes(20)), "truncated"),
        (lambda m: setattr(m, "width", 0), "empty_image"),
        (lambda m: setattr(m, "height", 0), "empty_image"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(mutate, reason: str) -> None:
    msg = make_msg(BGR, "bgr8")
    mutate(msg)
    with pytest.raises(ImageConversionError) as raised:
        image_msg_to_bgr(msg)
    assert raised.value.reason == reason


def test_huge_images_are_rejected_before_reading_data() -> None:
    msg = Image(height=100_000, width=100_000, encoding="bgr8", step=300_000)
    with pytest.raises(ImageConversionError) as raised:
        image_msg_to_bgr(msg, max_pixels=4096 * 4096)
    assert raised.value.reason == "too_large"
    with pytest.raises(ImageConversionError):
        image_msg_to_bgr(make_msg(BGR, "bgr8"), max_pixels=34)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_images_decode_to_bgr(extension: str) -> None:
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[:, :, 0], smooth[:, :, 2] = 200, 40
    ok, payload = cv2.imencode(extension, smooth)
    assert ok
    image = compressed_msg_to_bgr(CompressedImage(format=extension[1:], data=payload.tobytes()))
    assert image.shape == (32, 48, 3)
    assert np.abs(image.astype(int) - smooth).max() <= (0 if extension == ".png" else 6)


def test_compressed_rgb_payload_is_swapped_back() -> None:
    ok, payload = cv2.imencode(".png", BGR[..., ::-1].copy())
    assert ok
    msg = CompressedImage(format="rgb8; png compressed rgb8", data=payload.tobytes())
    np.testing.assert_array_equal(compressed_msg_to_bgr(msg), BGR)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty_data"), (b"\xff\xd8garbage", "bad_header"), (b"garbage", "undecodable")],
)
def test_undecodable_compressed_images_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(ImageConversionError) as raised:
        compressed_msg_to_bgr(CompressedImage(format="jpeg", data=data))
    assert raised.value.reason == reason


def test_compressed_images_larger_than_the_limit_are_rejected() -> None:
    ok, payload = cv2.imencode(".png", BGR)
    assert ok
    with pytest.raises(ImageConversionError) as raised:
        compressed_msg_to_bgr(CompressedImage(format="png", data=payload.tobytes()), max_pixels=10)
    assert raised.value.reason == "too_large"


def test_outgoing_messages_round_trip_and_keep_the_header() -> None:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 5, 7
    mask = RNG.integers(0, 3, (7, 5), dtype=np.uint8)
    mask_msg = mask_to_msg(mask, header)
    assert (mask_msg.encoding, mask_msg.step, mask_msg.header.stamp.nanosec) == ("mono8", 5, 7)
    assert isinstance(mask_msg.data, array.array)
    np.testing.assert_array_equal(np.frombuffer(mask_msg.data, np.uint8).reshape(7, 5), mask)
    view = BGR[:, ::-1]  # non-contiguous input is copied correctly
    image_msg = bgr_to_msg(view, header)
    assert (image_msg.encoding, image_msg.step, image_msg.header.frame_id) == ("bgr8", 15, "cam")
    np.testing.assert_array_equal(image_msg_to_bgr(image_msg), view)
    with pytest.raises(ValueError):
        mask_to_msg(mask.astype(np.int32), header)


@pytest.mark.parametrize(("encoding", "shape"), [("bgr8", (4, 6, 3)), ("mono8", (4, 6))])
def test_image_message_buffer_is_the_message_data(encoding: str, shape: tuple[int, ...]) -> None:
    header = Header(frame_id="cam")
    msg, pixels = image_msg_with_buffer(header, 4, 6, encoding)
    assert pixels.shape == shape and pixels.dtype == np.uint8 and not pixels.any()
    pixels[...] = RNG.integers(0, 256, shape, dtype=np.uint8)  # written after creation...
    channels = shape[2] if len(shape) == 3 else 1
    assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, 4, 6, 6 * channels)
    assert isinstance(msg.data, array.array) and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(
        np.frombuffer(msg.data, np.uint8).reshape(shape), pixels
    )  # ...is in the msg
    with pytest.raises(ValueError):
        image_msg_with_buffer(header, 4, 6, "16UC1")
