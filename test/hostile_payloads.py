"""Hostile compressed payloads shared by the tests (no tests here): bombs and lying headers."""

from __future__ import annotations

import struct

import cv2
import numpy as np

BOMB_SIZE = 16384
APP_SEGMENT_MAX = 65533  # payload bytes of one JPEG APPn segment (length field 65535)


def encoded(extension: str, height: int = 24, width: int = 32, params: tuple[int, ...] = ()) -> bytes:
    """A small valid image in ``extension``'s format (cv2.imencode with ``params``)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, width // 3 :] = (40, 200, 90)
    ok, data = cv2.imencode(extension, image, list(params))
    assert ok, extension
    return data.tobytes()


def bmp_rle8(width: int = BOMB_SIZE, height: int = BOMB_SIZE) -> bytes:
    """A 64-byte RLE8 BMP declaring ``width`` x ``height``: its pixels are one end-of-bitmap code."""
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00"
    pixels = b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 2, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def with_jpeg_size(jpeg: bytes, height: int, width: int) -> bytes:
    """``jpeg`` with its first start-of-frame rewritten to declare ``width`` x ``height``."""
    data = bytearray(jpeg)
    index = data.index(b"\xff\xc0")
    data[index + 5 : index + 7] = height.to_bytes(2, "big")
    data[index + 7 : index + 9] = width.to_bytes(2, "big")
    return bytes(data)


def with_app_segments(jpeg: bytes, app_bytes: int) -> bytes:
    """``jpeg`` with ``app_bytes`` of APP1 data inserted right after SOI (the SOF follows it)."""
    segments = bytearray()
    left = app_bytes
    while left > 0:
        size = min(left, APP_SEGMENT_MAX)
        segments += b"\xff\xe1" + (size + 2).to_bytes(2, "big") + bytes(size)
        left -= size
    return jpeg[:2] + bytes(segments) + jpeg[2:]


def jpeg_late_sof_bomb(app_bytes: int = 128 * 1024) -> bytes:
    """A JPEG declaring 16384x16384 whose frame header follows ``app_bytes`` of APP data."""
    return with_app_segments(with_jpeg_size(encoded(".jpg", 16, 16), BOMB_SIZE, BOMB_SIZE), app_bytes)


def with_png_size(png: bytes, height: int, width: int) -> bytes:
    data = bytearray(png)
    data[16:20], data[20:24] = width.to_bytes(4, "big"), height.to_bytes(4, "big")
    return bytes(data)


def with_bmp_size(bmp: bytes, height: int, width: int) -> bytes:
    data = bytearray(bmp)
    data[18:22] = width.to_bytes(4, "little", signed=True)
    data[22:26] = height.to_bytes(4, "little", signed=True)
    return bytes(data)


def with_webp_size(webp: bytes, height: int, width: int) -> bytes:
    """A lossy (VP8) or lossless (VP8L) WebP with its bitstream header rewritten (sizes 1..16383)."""
    data = bytearray(webp)
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":
        data[26:28] = (width & 0x3FFF).to_bytes(2, "little")
        data[28:30] = (height & 0x3FFF).to_bytes(2, "little")
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little") & ~0x0FFFFFFF
        bits |= ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
        data[21:25] = bits.to_bytes(4, "little")
    else:
        raise AssertionError(f"unexpected WebP chunk {chunk!r}")
    return bytes(data)


def pnm(height: int, width: int, raster: bytes = b"", comment: bytes = b"") -> bytes:
    """A binary PPM (P6) header declaring ``width`` x ``height`` followed by ``raster``."""
    return (
        b"P6\n" + (b"# " + comment + b"\n" if comment else b"") + f"{width} {height}\n255\n".encode() + raster
    )


def declared_pixels(height: int, width: int) -> int:
    return height * width
