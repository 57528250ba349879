"""Conversion between ``sensor_msgs`` image messages and OpenCV BGR arrays.

The encodings cameras publish (8- and 16-bit colour and mono, Bayer mosaics, packed YUV
4:2:2: :mod:`seg_perception.image_encodings`) are converted here with NumPy views and one
OpenCV colour conversion, so the package needs no ``cv_bridge``. Other encodings go to
``cv_bridge`` when it is importable and are rejected otherwise. Every rejection raises
:class:`ImageConversionError` whose ``reason`` is a short label the node counts.

Outgoing images are filled through ``array.array.frombytes(memoryview)`` on the
message's own ``data`` array: one copy (the generated ``data`` setter copies whatever
it is assigned, and assigning ``bytes`` costs a Python-level loop when
``ROS_PYTHON_CHECK_FIELDS=1``); :func:`image_msg_with_buffer` goes further and hands
out the message's own buffer to write an image into (no copy at all).
"""

from __future__ import annotations

import array
from typing import Any

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from seg_perception.image_decoding import DEFAULT_MAX_PIXELS, check_size, decode_compressed, read_header
from seg_perception.image_encodings import ENCODINGS, SUPPORTED_ENCODINGS, raw_to_bgr
from seg_perception.ros.errors import ImageConversionError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "bgr_to_msg",
    "compressed_msg_to_bgr",
    "image_msg_to_bgr",
    "image_msg_with_buffer",
    "mask_to_msg",
    "peek_compressed_size",
]


try:  # optional: extends the supported encodings where ROS provides it
    from cv_bridge import CvBridge, CvBridgeError

    _BRIDGE: Any = CvBridge()
except ImportError:  # no cv_bridge wheel: the NumPy path covers the 8-bit encodings
    CvBridgeError = Exception
    _BRIDGE = None


def image_msg_to_bgr(msg: Image, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` into an (H, W, 3) uint8 BGR array.

    Row padding (``step`` larger than ``width * channels``) is honoured; the result
    may be a read-only view of the message buffer when no conversion is needed.

    Args:
        msg: The image message.
        max_pixels: Larger images are rejected (bounds memory and latency).

    Raises:
        ImageConversionError: empty or huge image, unknown encoding, ``step`` too
            small, or a payload other than ``step * height`` bytes.
    """
    height, width = int(msg.height), int(msg.width)
    check_size(height, width, max_pixels)
    if msg.encoding not in ENCODINGS:
        return _convert_with_bridge(msg)
    return raw_to_bgr(
        np.frombuffer(msg.data, dtype=np.uint8),
        height=height,
        width=width,
        step=int(msg.step),
        encoding=msg.encoding,
        is_bigendian=bool(msg.is_bigendian),
    )


def _convert_with_bridge(msg: Image) -> np.ndarray:
    if _BRIDGE is None:
        raise ImageConversionError(
            "unknown_encoding", f"{msg.encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    try:
        image = _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="bgr8")
    except (CvBridgeError, TypeError, ValueError) as err:
        raise ImageConversionError("unknown_encoding", f"{msg.encoding!r}: {err}") from err
    return np.ascontiguousarray(image)


def compressed_msg_to_bgr(msg: CompressedImage, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, WebP, BMP, PNM) into BGR uint8.

    Acceptance is decided from the payload's header before decoding
    (:func:`seg_perception.image_decoding.decode_compressed`): a format whose header is
    not parsed here is refused, and a declared size over ``max_pixels`` is rejected
    without allocating it. ``format`` strings of ``image_transport``
    (``"rgb8; jpeg compressed rgb8"``) are understood: a payload compressed from RGB is
    swapped back to BGR.

    Raises:
        ImageConversionError: empty payload, refused format, unreadable header,
            undecodable data, or an image that is empty or larger than ``max_pixels``.
    """
    image = decode_compressed(msg.data, max_pixels=max_pixels, description=f"format {msg.format!r}")
    if "compressed rgb" in msg.format:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return image


def peek_compressed_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) declared by a compressed payload's header; None when it cannot be read."""
    try:
        header = read_header(data)
    except ImageConversionError:
        return None
    return header.height, header.width


def fill_message_data(msg: Any, array_u8: np.ndarray) -> None:
    """Set ``msg.data`` to the bytes of ``array_u8`` with exactly one copy.

    Generated message setters copy an assigned sequence (``array.array('B', value)``)
    unless ``ROS_PYTHON_CHECK_FIELDS=1``; assigning an empty array and then growing the
    message's own array in place copies the pixels once in either mode.
    """
    msg.data = array.array("B")
    msg.data.frombytes(np.ascontiguousarray(array_u8).data.cast("B"))


def mask_to_msg(mask: np.ndarray, header: Header) -> Image:
    """A ``mono8`` image message of an (H, W) uint8 class-id mask, stamped with ``header``."""
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"mask must be (H, W) uint8, got {mask.shape} {mask.dtype}")
    msg = Image(
        header=header, height=mask.shape[0], width=mask.shape[1], encoding="mono8", step=mask.shape[1]
    )
    fill_message_data(msg, mask)
    return msg


def bgr_to_msg(image: np.ndarray, header: Header) -> Image:
    """A ``bgr8`` image message of an (H, W, 3) uint8 BGR image, stamped with ``header``."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    msg = Image(header=header, height=height, width=width, encoding="bgr8", step=width * 3)
    fill_message_data(msg, image)
    return msg


_CHANNELS = {"mono8": 1, "bgr8": 3, "rgb8": 3, "bgra8": 4, "rgba8": 4}


def image_msg_with_buffer(
    header: Header, height: int, width: int, encoding: str = "bgr8"
) -> tuple[Image, np.ndarray]:
    """An image message and a writable (H, W[, C]) uint8 NumPy view of its ``data``.

    Writing the pixels straight into the view (e.g. ``overlay(..., out=view)``) fills the
    message with no copy at all; the message is ready to publish once the view is filled.

    Raises:
        ValueError: an encoding other than mono8, bgr8, rgb8, bgra8 or rgba8, or an empty size.
    """
    channels = _CHANNELS.get(encoding)
    if channels is None or height <= 0 or width <= 0:
        raise ValueError(
            f"cannot allocate a {width}x{height} {encoding!r} image; encodings: {list(_CHANNELS)}"
        )
    msg = Image(header=header, height=height, width=width, encoding=encoding, step=width * channels)
    msg.data = array.array("B", b"\0")  # the setter may copy what it is given: give it one byte
    data = msg.data  # the message's own array, grown in place (no Python loop)
    data *= height * width * channels
    view = np.frombuffer(data, dtype=np.uint8)
    return msg, view.reshape((height, width, channels) if channels > 1 else (height, width))
