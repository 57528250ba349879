"""Compressed images decoded safely: acceptance is decided from the header, before decoding (ROS-free).

A ``CompressedImage`` payload is untrusted: 64 bytes of RLE BMP or a JPEG whose frame
header follows 128 KiB of APP segments can declare 16384x16384 pixels, and the decoder
allocates (and fills) whatever the header declares. So a payload is decoded only when

1. its magic bytes name a format this module parses (:data:`ACCEPTED_FORMATS`: JPEG,
   PNG, WebP, BMP incl. RLE, PNM/PPM/PGM/PBM); every other format the decoder knows
   (TIFF, JPEG 2000, GIF, HDR, PFM, PAM, Sun raster, AVIF, OpenEXR) is refused as
   ``unsupported_format``, unknown bytes as ``undecodable``;
2. its header is read in full here (a JPEG's start-of-frame is found by walking the
   whole marker chain, however long the APP segments before it are) and declares a
   size within ``max_pixels``. A header that cannot be read is ``bad_header``: the
   payload is never handed to the decoder on the chance that it reads it differently.

So the decoder allocates at most ``max_pixels`` pixels (its own output, plus the
format's working buffers for that size). The decoded image is checked against the
declared size as well (``header_mismatch``), which would reveal a header read
differently here and by the decoder. Every refusal raises
:class:`~seg_perception.errors.ImageConversionError` whose ``reason`` the node counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from seg_perception.errors import ImageConversionError

DEFAULT_MAX_PIXELS = 4096 * 4096
ACCEPTED_FORMATS = ("jpeg", "png", "webp", "bmp", "pnm")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_JPEG_MAX_SEGMENTS = 4096  # real files have tens (APPn, DQT, DHT, ...); more is an attack on this walk
_FILL = re.compile(rb"\xff+")
_BMP_CORE_HEADER = 12  # BITMAPCOREHEADER: 16-bit sizes; every later header has 32-bit sizes
_BMP_MIN_INFO_HEADER = 16  # OS/2 2.x headers may be as short as 16 bytes
_PNM_MAGICS = (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")
_PNM_HEADER_LIMIT = 4096  # bytes searched for width, height and maxval (comments included)
# magic bytes of formats the decoder reads but this module does not parse
_REFUSED_MAGICS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "BigTIFF"),
    (0, b"MM\x00+", "BigTIFF"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (0, b"\xffO\xffQ", "JPEG 2000 codestream"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"#?RADIANCE", "Radiance HDR"),
    (0, b"#?RGBE", "Radiance HDR"),
    (0, b"P7", "PAM"),
    (0, b"Pf", "PFM"),
    (0, b"PF", "PFM"),
    (0, b"\x59\xa6\x6a\x95", "Sun raster"),
    (0, b"v/1\x01", "OpenEXR"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypavis", "AVIF"),
)


@dataclass(frozen=True)
class ImageHeader:
    """What a compressed payload's header declares.

    Attributes:
        format: One of :data:`ACCEPTED_FORMATS`.
        height: Declared rows.
        width: Declared columns.
    """

    format: str
    height: int
    width: int

    @property
    def pixels(self) -> int:
        return self.height * self.width


def read_header(data: bytes | memoryview) -> ImageHeader:
    """The format and size a compressed payload declares, read without decoding it.

    Raises:
        ImageConversionError: ``empty_data``; ``unsupported_format`` (a format the
            decoder knows but this module does not parse); ``undecodable`` (no known
            magic bytes); ``bad_header`` (the header is truncated or corrupt).
    """
    data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    if len(data) == 0:
        raise ImageConversionError("empty_data", "compressed image has no bytes")
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    if head.startswith(_PNG_SIGNATURE):
        return _png_header(data)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_header(data)
    if head.startswith(b"BM"):
        return _bmp_header(data)
    if head[:2] in _PNM_MAGICS:
        return _pnm_header(data)
    for offset, magic, name in _REFUSED_MAGICS:
        if head[offset : offset + len(magic)] == magic:
            raise ImageConversionError(
                "unsupported_format",
                f"{name} payload refused: only {', '.join(ACCEPTED_FORMATS)} are accepted "
                "(their declared size is checked before decoding)",
            )
    raise ImageConversionError(
        "undecodable", f"{len(data)} bytes in no known image format (starts with {head[:8].hex()})"
    )


def check_size(height: int, width: int, max_pixels: int) -> None:
    """Reject an empty size (``empty_image``) or more than ``max_pixels`` pixels (``too_large``)."""
    if height <= 0 or width <= 0:
        raise ImageConversionError("empty_image", f"size {width}x{height}")
    if height * width > max_pixels:
        raise ImageConversionError("too_large", f"{width}x{height} exceeds max_image_pixels={max_pixels}")


def decode_compressed(
    data: bytes | memoryview | np.ndarray,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    flags: int = cv2.IMREAD_COLOR,
    description: str = "",
) -> np.ndarray:
    """Decode a compressed image after its header was read and its size accepted.

    Args:
        data: The payload.
        max_pixels: A larger declared size is rejected before decoding.
        flags: ``cv2.imdecode`` flags (``IMREAD_COLOR``: BGR uint8).
        description: Appended to error details (e.g. the message's ``format`` string).

    Raises:
        ImageConversionError: see :func:`read_header`; ``empty_image`` / ``too_large``
            for the declared size; ``undecodable`` when the decoder fails;
            ``header_mismatch`` when the decoded size differs from the declared one.
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    header = read_header(buffer.data)
    check_size(header.height, header.width, max_pixels)
    suffix = f" ({description})" if description else ""
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as err:  # some corrupt payloads raise instead of returning None
        raise ImageConversionError(
            "undecodable", f"cannot decode {buffer.size} bytes of {header.format}{suffix}: {_one_line(err)}"
        ) from err
    if image is None:
        raise ImageConversionError(
            "undecodable", f"cannot decode {buffer.size} bytes of {header.format}{suffix}"
        )
    decoded = (int(image.shape[0]), int(image.shape[1]))
    # EXIF orientation may rotate a JPEG by 90 degrees: the declared size transposed is the same image
    if decoded not in ((header.height, header.width), (header.width, header.height)):
        raise ImageConversionError(
            "header_mismatch",
            f"{header.format} header declares {header.width}x{header.height}, "
            f"decoder produced {decoded[1]}x{decoded[0]}{suffix}",
        )
    return image


def _bad(kind: str, detail: str) -> ImageConversionError:
    return ImageConversionError("bad_header", f"{kind}: {detail}")


def _jpeg_header(data: bytes | memoryview) -> ImageHeader:
    """Walk the marker chain from SOI to the first start-of-frame, however far it is."""
    data = bytes(data)
    size = len(data)
    index = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        fill = _FILL.match(data, index)  # a marker: one or more 0xFF, then its code
        if fill is None:
            if index >= size:
                break
            raise _bad("JPEG", f"expected a marker at byte {index}, found 0x{data[index]:02x}")
        index = fill.end()
        if index >= size:
            break
        marker = data[index]
        index += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI):
            raise _bad("JPEG", f"{'scan' if marker == _JPEG_SOS else 'end of image'} before any frame header")
        if index + 2 > size:
            break
        length = int.from_bytes(data[index : index + 2], "big")
        if length < 2:
            raise _bad("JPEG", f"segment 0x{marker:02x} has length {length}")
        if marker in _JPEG_SOF:
            if index + 7 > size:
                break
            height = int.from_bytes(data[index + 3 : index + 5], "big")
            width = int.from_bytes(data[index + 5 : index + 7], "big")
            return ImageHeader("jpeg", height, width)
        index += length
    else:
        raise _bad("JPEG", f"more than {_JPEG_MAX_SEGMENTS} segments before the frame header")
    raise _bad("JPEG", f"no frame header (SOF) in {size} bytes")


def _png_header(data: bytes | memoryview) -> ImageHeader:
    if len(data) < 33:
        raise _bad("PNG", f"{len(data)} bytes, shorter than signature + IHDR")
    if bytes(data[12:16]) != b"IHDR" or int.from_bytes(data[8:12], "big") != 13:
        raise _bad("PNG", "the first chunk is not a 13-byte IHDR")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return ImageHeader("png", height, width)


def _webp_header(data: bytes | memoryview) -> ImageHeader:
    chunk = bytes(data[12:16])
    body = bytes(data[20:30])
    if chunk == b"VP8X" and len(body) >= 10:
        width = 1 + int.from_bytes(body[4:7], "little")
        height = 1 + int.from_bytes(body[7:10], "little")
        return ImageHeader("webp", height, width)
    if chunk == b"VP8 " and len(body) >= 10:
        if body[3:6] != b"\x9d\x01\x2a":
            raise _bad("WebP", "VP8 frame without its start code")
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
        return ImageHeader("webp", height, width)
    if chunk == b"VP8L" and len(body) >= 5:
        if body[0] != 0x2F:
            raise _bad("WebP", "VP8L bitstream without its signature byte")
        bits = int.from_bytes(body[1:5], "little")
        return ImageHeader("webp", ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1)
    raise _bad("WebP", f"first chunk {chunk!r} is not VP8, VP8L or VP8X (or is truncated)")


def _bmp_header(data: bytes | memoryview) -> ImageHeader:
    if len(data) < 14 + 4:
        raise _bad("BMP", f"{len(data)} bytes, shorter than the file header")
    info_size = int.from_bytes(data[14:18], "little")
    if info_size == _BMP_CORE_HEADER and len(data) >= 26:
        width = int.from_bytes(data[18:20], "little")
        height = int.from_bytes(data[20:22], "little")
        return ImageHeader("bmp", height, width)
    if info_size >= _BMP_MIN_INFO_HEADER and len(data) >= 26:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)  # negative: rows stored top-down
        if width <= 0:
            raise _bad("BMP", f"width {width}")
        return ImageHeader("bmp", abs(height), width)
    raise _bad("BMP", f"info header of {info_size} bytes (or truncated)")


def _pnm_header(data: bytes | memoryview) -> ImageHeader:
    """Width and height of a PBM/PGM/PPM (P1..P6): whitespace-separated, ``#`` comments skipped."""
    text = bytes(data[2:_PNM_HEADER_LIMIT])
    values: list[int] = []
    index = 0
    while len(values) < 2:
        while index < len(text) and text[index : index + 1].isspace():
            index += 1
        if index >= len(text):
            raise _bad("PNM", f"no width and height in the first {_PNM_HEADER_LIMIT} bytes")
        if text[index : index + 1] == b"#":
            end = text.find(b"\n", index)
            if end < 0:
                raise _bad("PNM", "unterminated comment in the header")
            index = end + 1
            continue
        start = index
        while index < len(text) and text[index : index + 1].isdigit():
            index += 1
        if (
            index == start
            or index >= len(text)
            or not (text[index : index + 1].isspace() or text[index] == 0x23)
        ):
            raise _bad("PNM", "width or height is not a decimal number")
        values.append(int(text[start:index]))
    width, height = values
    return ImageHeader("pnm", height, width)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
