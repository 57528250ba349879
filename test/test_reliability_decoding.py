"""Compressed payloads are accepted or refused from their header, before decoding (no ROS needed).

Property-based, per decodable format: a valid small image whose header is rewritten to
declare random sizes (lying headers), random truncations and byte flips. The decoder
either produces exactly the declared size, within ``max_pixels``, or the payload is
refused with an ``ImageConversionError``; a declared size over the limit never reaches
the decoder. Bombs (a 64-byte RLE8 BMP and a JPEG whose SOF follows 128 KiB of APP data,
both declaring 16384x16384) are refused with almost no memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import cv2
import pytest
from hostile_payloads import (
    bmp_rle8,
    encoded,
    jpeg_late_sof_bomb,
    pnm,
    with_app_segments,
    with_bmp_size,
    with_jpeg_size,
    with_png_size,
    with_webp_size,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seg_perception.errors import ImageConversionError
from seg_perception.image_decoding import ACCEPTED_FORMATS, decode_compressed, read_header

MAX_PIXELS = 64 * 64  # small, so that lying headers within the limit are cheap to decode
REASONS = {"empty_data", "undecodable", "unsupported_format", "bad_header", "empty_image", "too_large",
           "header_mismatch"}  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
RSS_LIMIT_MB = 50
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sizes = st.integers(min_value=0, max_value=2**31 - 1) | st.integers(min_value=0, max_value=96)


@contextmanager
def decoder_spy() -> Iterator[mock.MagicMock]:
    with mock.patch.object(cv2, "imdecode", wraps=cv2.imdecode) as spy:
        yield spy


def check_decision(payload: bytes, max_pixels: int = MAX_PIXELS) -> str:
    """Decode ``payload``; assert the accept/refuse contract; return ``accepted`` or the reason."""
    try:
        header = read_header(payload)
    except ImageConversionError:
        header = None
    with decoder_spy() as spy:
        try:
            image = decode_compressed(payload, max_pixels=max_pixels)
        except ImageConversionError as err:
            assert err.reason in REASONS, err
            if header is None or not 0 < header.pixels <= max_pixels:
                assert spy.call_count == 0, f"decoder called for a refused header {header}"
            return err.reason
    assert header is not None and header.format in ACCEPTED_FORMATS
    assert 0 < header.pixels <= max_pixels
    assert image.shape[:2] in ((header.height, header.width), (header.width, header.height))
    assert image.ndim == 3 and image.shape[2] == 3
    return "accepted"


def expected_for(height: int, width: int, max_pixels: int = MAX_PIXELS) -> set[str]:
    """Outcomes allowed for a header declaring ``width`` x ``height``."""
    if height <= 0 or width <= 0:
        return {"empty_image", "bad_header"}
    if height * width > max_pixels:
        return {"too_large"}
    return {"accepted", "undecodable", "header_mismatch"}  # a lie within the limit may still decode


@HYPOTHESIS
@given(height=sizes, width=sizes)
def test_png_with_a_lying_header_is_decided_from_its_header(height: int, width: int) -> None:
    payload = with_png_size(encoded(".png"), height, width)
    assert check_decision(payload) in expected_for(height, width)


@HYPOTHESIS
@given(
    height=st.integers(0, 65535),
    width=st.integers(0, 65535),
    app_bytes=st.sampled_from([0, 1, 1000, 65533, 70_000, 128 * 1024, 300_000]),
)
def test_jpeg_with_a_lying_sof_anywhere_is_decided_from_its_header(
    height: int, width: int, app_bytes: int
) -> None:
    payload = with_app_segments(with_jpeg_size(encoded(".jpg"), height, width), app_bytes)
    assert read_header(payload).height == height or height == 0
    assert check_decision(payload) in expected_for(height, width)


@HYPOTHESIS
@given(height=st.integers(-(2**31), 2**31 - 1), width=st.integers(-(2**31), 2**31 - 1), rle=st.booleans())
def test_bmp_incl_rle_with_a_lying_header_is_decided_from_its_header(
    height: int, width: int, rle: bool
) -> None:
    payload = with_bmp_size(bmp_rle8(8, 8) if rle else encoded(".bmp"), height, width)
    outcome = check_decision(payload)
    if width <= 0:
        assert outcome in {"bad_header", "empty_image"}
    else:
        assert outcome in expected_for(abs(height), width)


@HYPOTHESIS
@given(height=st.integers(1, 16383), width=st.integers(1, 16383), lossless=st.booleans())
def test_webp_with_a_lying_header_is_decided_from_its_header(height: int, width: int, lossless: bool) -> None:
    quality = 101 if lossless else 80  # above 100: lossless (VP8L); else lossy (VP8)
    payload = with_webp_size(encoded(".webp", params=(cv2.IMWRITE_WEBP_QUALITY, quality)), height, width)
    assert read_header(payload).pixels == height * width
    assert check_decision(payload) in expected_for(height, width)


@HYPOTHESIS
@given(
    height=st.integers(0, 10**12),
    width=st.integers(0, 10**12),
    comment=st.binary(max_size=64).filter(lambda b: b"\n" not in b),
)
def test_pnm_with_a_lying_header_is_decided_from_its_header(height: int, width: int, comment: bytes) -> None:
    payload = pnm(height, width, bytes(min(height * width * 3, 64 * 64 * 3)), comment)
    assert check_decision(payload) in expected_for(height, width)


@pytest.mark.parametrize("extension", [".tiff", ".gif", ".pfm", ".pam", ".ras", ".hdr", ".avif"])
def test_formats_whose_header_is_not_parsed_are_refused_without_decoding(extension: str) -> None:
    try:
        payload = encoded(extension)
    except (AssertionError, cv2.error):
        pytest.skip(f"this OpenCV cannot write {extension}")
    assert check_decision(payload) == "unsupported_format"


@HYPOTHESIS
@given(
    extension=st.sampled_from([".jpg", ".png", ".bmp", ".webp", ".ppm"]),
    cut=st.integers(0, 4096),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 255)), max_size=6),
)
def test_truncated_or_corrupted_payloads_of_every_format_decode_or_are_refused(
    extension: str, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(encoded(extension))
    for position, mask in flips:
        if position < len(data):
            data[position] ^= mask
    check_decision(bytes(data[: max(cut, 0)] if cut < len(data) else data))


@HYPOTHESIS
@given(payload=st.binary(max_size=2048))
def test_random_bytes_are_refused_or_decoded_to_their_declared_size(payload: bytes) -> None:
    check_decision(payload)


def test_bombs_are_refused_from_the_header_with_little_memory() -> None:
    """16384x16384 declared by 64 bytes of BMP RLE8 and by a JPEG with a SOF after 128 KiB of APP data."""
    script = f"""
import json, resource, sys
sys.path.insert(0, {str(ROOT / "test")!r})
from hostile_payloads import bmp_rle8, jpeg_late_sof_bomb
from seg_perception.errors import ImageConversionError
from seg_perception.image_decoding import decode_compressed
payloads = [bmp_rle8(), jpeg_late_sof_bomb()]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reasons = []
for _ in range(10):
    for payload in payloads:
        try:
            decode_compressed(payload)
        except ImageConversionError as err:
            reasons.append(err.reason)
growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({{"reasons": sorted(set(reasons)), "count": len(reasons), "growth_mb": growth_mb}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reasons"] == ["too_large"] and result["count"] == 20
    assert result["growth_mb"] < RSS_LIMIT_MB, result


def test_bomb_headers_are_read_where_they_are() -> None:
    assert (read_header(bmp_rle8()).format, read_header(bmp_rle8()).pixels) == ("bmp", 16384**2)
    late = read_header(jpeg_late_sof_bomb())
    assert (late.format, late.height, late.width) == ("jpeg", 16384, 16384)
