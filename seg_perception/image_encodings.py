"""Raw ROS image encodings the package decodes without ``cv_bridge`` (ROS-free).

Beside 8-bit colour and mono, the encodings real camera drivers publish when nothing converts
their output: packed YUV 4:2:2 (``yuv422`` is UYVY and ``yuv422_yuy2`` is YUYV, also named ``uyvy``
and ``yuyv``: USB and GMSL cameras), Bayer mosaics (``bayer_rggb8`` ... ``bayer_grbg16``: the raw
output of machine-vision cameras) and 16-bit colour and mono, scaled to 8 bits as ``cv_bridge``
scales them (the high byte). The node and the bag reader decode through :func:`raw_to_bgr`, so
both accept the same messages and reject the same malformed ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_perception.errors import ImageConversionError


@dataclass(frozen=True)
class RawEncoding:
    """How an encoding stores its pixels.

    Attributes:
        channels: values stored per pixel (packed YUV 4:2:2 stores two: luma and one chroma).
        bytes_per_value: 1, or 2 for the 16-bit encodings (byte order from ``is_bigendian``).
        to_bgr: OpenCV's conversion of the 8-bit values to BGR; None where they already are BGR.
        paired: two neighbouring pixels share their chroma (YUV 4:2:2): the width must be even.
    """

    channels: int
    bytes_per_value: int
    to_bgr: int | None
    paired: bool = False

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.bytes_per_value


def _family(bytes_per_value: int) -> dict[str, RawEncoding]:
    bits = 8 * bytes_per_value
    # OpenCV names a Bayer pattern by its second row's second and third pixels, ROS by the first
    # 2x2 block: ROS ``rggb`` is OpenCV's ``BG`` (cv_bridge maps them the same way).
    bayer = {"rggb": cv2.COLOR_BayerBG2BGR, "bggr": cv2.COLOR_BayerRG2BGR}
    bayer |= {"gbrg": cv2.COLOR_BayerGR2BGR, "grbg": cv2.COLOR_BayerGB2BGR}
    return {
        f"bgr{bits}": RawEncoding(3, bytes_per_value, None),
        f"rgb{bits}": RawEncoding(3, bytes_per_value, cv2.COLOR_RGB2BGR),
        f"bgra{bits}": RawEncoding(4, bytes_per_value, cv2.COLOR_BGRA2BGR),
        f"rgba{bits}": RawEncoding(4, bytes_per_value, cv2.COLOR_RGBA2BGR),
        f"mono{bits}": RawEncoding(1, bytes_per_value, cv2.COLOR_GRAY2BGR),
        f"{bits}UC1": RawEncoding(1, bytes_per_value, cv2.COLOR_GRAY2BGR),
        f"{bits}UC3": RawEncoding(3, bytes_per_value, None),
        **{f"bayer_{order}{bits}": RawEncoding(1, bytes_per_value, code) for order, code in bayer.items()},
    }


_UYVY = RawEncoding(2, 1, cv2.COLOR_YUV2BGR_UYVY, paired=True)
_YUYV = RawEncoding(2, 1, cv2.COLOR_YUV2BGR_YUYV, paired=True)
ENCODINGS: dict[str, RawEncoding] = {
    **_family(1),
    **_family(2),
    "yuv422": _UYVY,
    "uyvy": _UYVY,
    "yuv422_yuy2": _YUYV,
    "yuyv": _YUYV,
}
SUPPORTED_ENCODINGS = tuple(ENCODINGS)


def raw_to_bgr(
    data: np.ndarray, *, height: int, width: int, step: int, encoding: str, is_bigendian: bool = False
) -> np.ndarray:
    """(H, W, 3) uint8 BGR pixels of a raw image's bytes, honouring row padding (``step``).

    The size is not checked here (``image_decoding.check_size`` is, before the data is read).

    Args:
        data: the message's bytes, as a flat uint8 array.
        height: rows.
        width: pixels per row.
        step: bytes per row, padding included.
        encoding: a key of :data:`ENCODINGS`.
        is_bigendian: the byte order of 16-bit values.

    Raises:
        ImageConversionError: ``unknown_encoding``; ``odd_width`` for YUV 4:2:2; ``bad_step`` when a row
            does not fit in ``step``; ``truncated`` or ``oversized_data`` when the data is not
            ``step * height`` bytes.
    """
    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise ImageConversionError(
            "unknown_encoding", f"{encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    if spec.paired and width % 2:
        raise ImageConversionError("odd_width", f"width {width} is odd; {encoding} pairs pixels")
    row_bytes = width * spec.bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError("bad_step", f"step {step} < a row's {row_bytes} bytes ({encoding})")
    if data.size < step * height:
        raise ImageConversionError("truncated", f"{data.size} bytes < step*height {step * height}")
    if data.size > step * height:  # width/height/encoding disagree with the payload
        raise ImageConversionError(
            "oversized_data", f"{data.size} bytes > step*height {step * height} ({encoding})"
        )
    rows = data.reshape(height, step)[:, :row_bytes]
    if spec.bytes_per_value == 2:
        order = ">" if is_bigendian else "<"
        rows = (np.ascontiguousarray(rows).view(f"{order}u2") >> 8).astype(np.uint8)
    pixels = np.ascontiguousarray(rows.reshape(height, width, spec.channels) if spec.channels > 1 else rows)
    return pixels if spec.to_bgr is None else cv2.cvtColor(pixels, spec.to_bgr)
