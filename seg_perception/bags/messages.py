"""Build and decode the ``rosbags`` image and string messages of the bag tools.

Decoding follows ``seg_perception.ros.image_conversion`` (the live node's path): 8-bit
encodings through NumPy and one OpenCV colour conversion, ``CompressedImage`` through
:func:`seg_perception.image_decoding.decode_compressed` (format and declared size checked
before decoding); so a frame decodes to the same pixels offline and live, and a frame the
node would reject raises :class:`~seg_perception.bags.errors.FrameRejectedError` with the
node's reason. Compressed
messages carry ``compressed_image_transport``'s format strings, so ``image_transport``
subscribers and RViz decode them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from seg_perception.bags.errors import BagError, FrameRejectedError
from seg_perception.bags.storage import message_class
from seg_perception.bags.topics import CAMERA_INFO_MSGTYPE, COMPRESSED_MSGTYPE, IMAGE_MSGTYPE, STRING_MSGTYPE
from seg_perception.errors import ImageConversionError
from seg_perception.image_decoding import DEFAULT_MAX_PIXELS, check_size, decode_compressed
from seg_perception.image_encodings import raw_to_bgr

JPEG_BGR_FORMAT = "bgr8; jpeg compressed bgr8"
# compressed_image_transport writes nothing after "compressed" for a mono image (no conversion).
PNG_MONO_FORMAT = "mono8; png compressed "
MASK_PNG_LEVEL = 3  # zlib level: masks are long runs; higher levels cost time for a few percent


def header(stamp_ns: int, frame_id: str) -> Any:
    """A ``std_msgs/Header`` with ``stamp_ns`` split into seconds and nanoseconds."""
    time_cls = message_class("builtin_interfaces/msg/Time")
    header_cls = message_class("std_msgs/msg/Header")
    return header_cls(
        stamp=time_cls(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
        frame_id=frame_id,
    )


def stamp_ns(msg: Any) -> int:
    """Header stamp of a stamped message in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def image_msg(image: np.ndarray, *, stamp: int, frame_id: str) -> Any:
    """``sensor_msgs/Image``: ``bgr8`` for (H, W, 3) uint8, ``mono8`` for (H, W) uint8."""
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {image.shape} {image.dtype}")
    channels = 1 if image.ndim == 2 else 3
    height, width = image.shape[:2]
    return message_class(IMAGE_MSGTYPE)(
        header=header(stamp, frame_id),
        height=height,
        width=width,
        encoding="mono8" if channels == 1 else "bgr8",
        is_bigendian=0,
        step=width * channels,
        data=image.reshape(-1),
    )


def jpeg_msg(image_bgr: np.ndarray, *, stamp: int, frame_id: str, quality: int = 90) -> Any:
    """``sensor_msgs/CompressedImage`` in ``image_transport``'s JPEG format string."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise BagError(f"JPEG encoding of a {image_bgr.shape} image failed")
    return message_class(COMPRESSED_MSGTYPE)(
        header=header(stamp, frame_id), format=JPEG_BGR_FORMAT, data=encoded.reshape(-1)
    )


def png_mask_msg(mask: np.ndarray, *, stamp: int, frame_id: str, level: int = MASK_PNG_LEVEL) -> Any:
    """``sensor_msgs/CompressedImage`` holding a (H, W) uint8 mask as lossless PNG (exact class ids)."""
    mask = np.ascontiguousarray(mask)
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"expected an (H, W) uint8 mask, got {mask.shape} {mask.dtype}")
    ok, encoded = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
    if not ok:
        raise BagError(f"PNG encoding of a {mask.shape} mask failed")
    return message_class(COMPRESSED_MSGTYPE)(
        header=header(stamp, frame_id), format=PNG_MONO_FORMAT, data=encoded.reshape(-1)
    )


def string_msg(text: str) -> Any:
    return message_class(STRING_MSGTYPE)(data=text)


def camera_info_msg(info: Mapping[str, Any], *, stamp: int, frame_id: str) -> Any:
    """``sensor_msgs/CameraInfo`` of a ``camera_calibration`` YAML mapping (what
    :func:`~seg_perception.postprocess.camera_model.camera_info_mapping` makes of a message): its ``R``
    the identity and its ``P`` ``K [I | 0]`` where the file has none (raw frames).

    Raises:
        BagError: a matrix of the wrong size.
    """

    def numbers(key: str, count: int, default: Sequence[float] | np.ndarray) -> np.ndarray:
        block = info.get(key)
        values = np.asarray(block["data"] if isinstance(block, Mapping) else default, np.float64)
        if values.size != count:
            raise BagError(f"camera info: {key} has {values.size} numbers, not {count}")
        return values

    k = numbers("camera_matrix", 9, ())
    distortion = info.get("distortion_coefficients") or {}
    roi = info.get("roi") or {}
    return message_class(CAMERA_INFO_MSGTYPE)(
        header=header(stamp, frame_id),
        height=int(info["image_height"]),
        width=int(info["image_width"]),
        distortion_model=str(info.get("distortion_model", "plumb_bob")),
        d=np.asarray(distortion.get("data", ()), np.float64),
        k=k,
        r=numbers("rectification_matrix", 9, np.eye(3).ravel()),
        p=numbers("projection_matrix", 12, np.hstack([k.reshape(3, 3), np.zeros((3, 1))]).ravel()),
        binning_x=int(info.get("binning_x", 0)),
        binning_y=int(info.get("binning_y", 0)),
        roi=message_class("sensor_msgs/msg/RegionOfInterest")(
            x_offset=int(roi.get("x_offset", 0)),
            y_offset=int(roi.get("y_offset", 0)),
            height=int(roi.get("height", 0)),
            width=int(roi.get("width", 0)),
            do_rectify=bool(roi.get("do_rectify", False)),
        ),
    )


def decode_image(
    msg: Any, msgtype: str, *, topic: str = "", max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """(H, W, 3) uint8 BGR pixels of an ``Image`` or ``CompressedImage`` message.

    Raises:
        FrameRejectedError: unknown encoding, wrong ``step``, truncated data, refused
            format, unreadable header, a size over ``max_pixels`` or undecodable payload.
        BagError: ``msgtype`` is not an image type.
    """
    where = f"topic {topic}: " if topic else ""
    if msgtype == COMPRESSED_MSGTYPE:
        try:
            image = decode_compressed(
                np.asarray(msg.data, dtype=np.uint8),
                max_pixels=max_pixels,
                description=f"format {msg.format!r}",
            )
        except ImageConversionError as err:
            raise FrameRejectedError(f"{where}compressed image rejected: {err}", err.reason) from err
        if "compressed rgb" in msg.format:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        return image
    if msgtype != IMAGE_MSGTYPE:
        raise BagError(f"{where}type {msgtype} is not an image")
    try:
        check_size(int(msg.height), int(msg.width), max_pixels)
        return raw_to_bgr(
            np.asarray(msg.data, dtype=np.uint8).reshape(-1),
            height=int(msg.height),
            width=int(msg.width),
            step=int(msg.step),
            encoding=msg.encoding,
            is_bigendian=bool(msg.is_bigendian),
        )
    except ImageConversionError as err:
        raise FrameRejectedError(f"{where}image rejected: {err}", err.reason) from err


def decode_mask(msg: Any, *, topic: str = "", msgtype: str | None = None) -> np.ndarray:
    """(H, W) uint8 class ids of a ``mono8`` (or ``8UC1``) mask image or a PNG ``CompressedImage``.

    Args:
        msg: The decoded message.
        topic: Named in errors.
        msgtype: The message type; by default the message's own (``__msgtype__``).

    Raises:
        BagError: another encoding, wrong ``step``, truncated data or an undecodable/colour PNG.
    """
    where = f"topic {topic}: " if topic else ""
    msgtype = msgtype or getattr(msg, "__msgtype__", IMAGE_MSGTYPE)
    if msgtype == COMPRESSED_MSGTYPE:
        try:
            mask = decode_compressed(np.asarray(msg.data, dtype=np.uint8), flags=cv2.IMREAD_UNCHANGED)
        except ImageConversionError as err:
            raise BagError(f"{where}compressed mask ({msg.format!r}) rejected: {err}") from err
        if mask.ndim != 2 or mask.dtype != np.uint8:
            raise BagError(
                f"{where}compressed mask ({msg.format!r}) is not one 8-bit channel: {mask.shape} {mask.dtype}"
            )
        return mask
    if msg.encoding not in ("mono8", "8UC1"):
        raise BagError(f"{where}mask encoding {msg.encoding!r} is not mono8")
    return np.ascontiguousarray(_mask_rows(msg, where))


def _mask_rows(msg: Any, where: str) -> np.ndarray:
    """A mono8 mask's (height, width) pixels without the rows' padding."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise FrameRejectedError(f"{where}empty image ({width}x{height})", "empty_image")
    if step < width:
        raise FrameRejectedError(f"{where}step {step} < width {width}", "bad_step")
    buffer = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if buffer.size < step * height:
        raise FrameRejectedError(
            f"{where}truncated image: {buffer.size} bytes < step*height {step * height}", "truncated"
        )
    return buffer[: step * height].reshape(height, step)[:, :width]
