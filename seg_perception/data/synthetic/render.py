"""Small, fast drawing helpers shared by the front-camera and AVM generators.

Polygons are filled with OpenCV's sub-pixel ``shift`` so that the image paint and
the label mask are rasterised by the very same call and agree pixel for pixel.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

SHIFT_BITS = 4
_SCALE = float(1 << SHIFT_BITS)
_COORD_LIMIT = 1.0e6  # keeps ``points * 16`` far from int32 overflow


def rgb(values: Iterable[Any]) -> tuple[int, int, int]:
    """Three channel values as a colour tuple of ints (``int()`` of each, as OpenCV wants them)."""
    red, green, blue = (int(v) for v in values)
    return red, green, blue


def to_fixed(points: np.ndarray) -> np.ndarray:
    """(K, 2) float pixel coordinates -> int32 fixed-point for ``cv2.fillPoly(shift=4)``."""
    clipped = np.clip(points, -_COORD_LIMIT, _COORD_LIMIT)
    return np.round(clipped * _SCALE).astype(np.int32)


def _clip_half_plane(points: np.ndarray, axis: int, limit: float, keep_below: bool) -> np.ndarray:
    """One Sutherland-Hodgman pass: keep the part of a closed polygon on one side of an axis line."""
    if len(points) == 0:
        return points
    values = points[:, axis]
    inside = values <= limit if keep_below else values >= limit
    if inside.all():
        return points
    out = []
    previous, previous_in = points[-1], inside[-1]
    for point, point_in in zip(points, inside, strict=True):
        if point_in != previous_in:
            ratio = (limit - previous[axis]) / (point[axis] - previous[axis])
            out.append(previous + (point - previous) * ratio)
        if point_in:
            out.append(point)
        previous, previous_in = point, point_in
    return np.array(out).reshape(-1, 2)


def clip_to_box(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip a polygon to a guard box around the image.

    OpenCV rasterises polygons with far-away vertices very slowly; clipping to a
    box a few image sizes wide changes nothing inside the image.
    """
    x0, x1, y0, y1 = -2.0 * width, 3.0 * width, -2.0 * height, 3.0 * height
    if (
        points[:, 0].min() >= x0
        and points[:, 0].max() <= x1
        and points[:, 1].min() >= y0
        and points[:, 1].max() <= y1
    ):
        return points
    for axis, limit, below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        points = _clip_half_plane(points, axis, limit, below)
    return points


def fill_polygons(canvas: np.ndarray, polygons: list[np.ndarray], color: float | tuple[float, ...]) -> None:
    """Fill float-coordinate polygons into ``canvas`` in place: their union (no-op for an empty list).

    One ``cv2.fillPoly`` call per polygon: given several at once, OpenCV fills by parity and
    leaves the overlaps of two polygons (e.g. where painted lines cross) empty.
    """
    height, width = canvas.shape[:2]
    for polygon in polygons:
        points = np.asarray(polygon, np.float64)
        low, high = points.min(axis=0), points.max(axis=0)
        if high[0] < -1.0 or high[1] < -1.0 or low[0] > width or low[1] > height:
            continue  # its bounding box misses the canvas: nothing to fill
        if low[0] < -2.0 * width or low[1] < -2.0 * height or high[0] > 3.0 * width or high[1] > 3.0 * height:
            points = clip_to_box(points, width, height)
            if len(points) < 3:
                continue
        cv2.fillPoly(canvas, [np.round(points * _SCALE).astype(np.int32)], color, cv2.LINE_8, SHIFT_BITS)


def fill_disjoint_polygons(
    canvas: np.ndarray, polygons: list[np.ndarray], color: float | tuple[float, ...]
) -> None:
    """:func:`fill_polygons` for polygons known not to overlap (the dashes of one line): one fillPoly call.

    Overlapping polygons must go through :func:`fill_polygons`, which fills each on its own.
    """
    if not polygons:
        return
    height, width = canvas.shape[:2]
    points = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in polygons])
    low, high = points.min(axis=0), points.max(axis=0)
    if low[0] < -2.0 * width or low[1] < -2.0 * height or high[0] > 3.0 * width or high[1] > 3.0 * height:
        fill_polygons(canvas, polygons, color)  # some need clipping: the careful path
        return
    fixed = np.round(points * _SCALE).astype(np.int32)
    parts = [part for part in np.split(fixed, np.cumsum([len(p) for p in polygons])[:-1]) if len(part) >= 3]
    if parts:
        cv2.fillPoly(canvas, parts, color, cv2.LINE_8, SHIFT_BITS)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Float32 noise in about [-1, 1] with blobs about ``cell_px`` pixels wide."""
    height, width = shape
    grid_h = max(2, int(np.ceil(height / max(cell_px, 1.0))) + 1)
    grid_w = max(2, int(np.ceil(width / max(cell_px, 1.0))) + 1)
    grid = rng.random((grid_h, grid_w), dtype=np.float32) * 2.0 - 1.0
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR)


_BANK_SIGMA = 16.0


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed field of Gaussian noise; frames take random crops of it (far cheaper than fresh noise)."""
    rng = np.random.default_rng(0x5E6)
    return np.clip(rng.normal(0.0, _BANK_SIGMA, (1024, 1024, 3)), -127, 127).astype(np.int8)


@functools.lru_cache(maxsize=1)
def _luma_bank() -> np.ndarray:
    """The noise bank's first channel copied to all three: grey (luminance-only) noise."""
    grey = _noise_bank()[..., :1]
    return np.ascontiguousarray(np.repeat(grey, 3, axis=2))


def luma_noise_crop(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) int8 grey noise (equal in all channels) of standard deviation 16."""
    bank = _luma_bank()
    height, width = shape
    if height > bank.shape[0] or width > bank.shape[1]:
        bank = np.tile(bank, (height // bank.shape[0] + 1, width // bank.shape[1] + 1, 1))
    y = int(rng.integers(0, bank.shape[0] - height + 1))
    x = int(rng.integers(0, bank.shape[1] - width + 1))
    return bank[y : y + height, x : x + width]


def noise_crop(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) int8 zero-mean noise of standard deviation 16, drawn from the noise bank."""
    bank = _noise_bank()
    height, width = shape
    if height > bank.shape[0] or width > bank.shape[1]:
        reps = (height // bank.shape[0] + 1, width // bank.shape[1] + 1, 1)
        bank = np.tile(bank, reps)
    y = int(rng.integers(0, bank.shape[0] - height + 1))
    x = int(rng.integers(0, bank.shape[1] - width + 1))
    crop = bank[y : y + height, x : x + width]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def ground_texture(
    rng: np.random.Generator, shape: tuple[int, int], *, blotch: float, grain: float
) -> np.ndarray:
    """(H, W, 3) int16 additive texture: large luminance blotches plus fine colour grain."""
    blotches = smooth_noise(rng, shape, shape[0] / 12.0) * blotch
    texture: np.ndarray = cv2.merge([blotches, blotches, blotches])
    texture += noise_crop(rng, shape).astype(np.float32) * (grain / _BANK_SIGMA)
    return texture.astype(np.int16)


def sensor_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian-like sensor noise of standard deviation ``sigma``."""
    if sigma <= 0.0:
        return image
    return cv2.addWeighted(
        image, 1.0, noise_crop(rng, image.shape[:2]), sigma / _BANK_SIGMA, 0.0, dtype=cv2.CV_8U
    )


def blend_where(image: np.ndarray, other: np.ndarray, weight: np.ndarray, where: np.ndarray) -> None:
    """``image = weight * image + (1 - weight) * other`` on the pixels where ``where`` is set, in place."""
    index = np.flatnonzero(where)
    if index.size == 0:
        return
    flat, flat_other = image.reshape(-1, 3), other.reshape(-1, 3)
    w = weight.reshape(-1)[index, None]
    flat[index] = (flat[index] * w + flat_other[index] * (1.0 - w)).astype(np.uint8)


def exposure_lut(gain: float, gamma: float, channel_gains: tuple[float, float, float]) -> np.ndarray:
    """(1, 256, 3) uint8 LUT applying gamma, a global gain and a colour cast."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    base = np.power(levels, gamma) * 255.0 * gain
    lut = np.stack([base * g for g in channel_gains], axis=-1)
    return np.clip(lut, 0, 255).astype(np.uint8)[None]


def photometric_finish(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    blur_p: float = 0.3,
    jpeg_p: float = 0.3,
) -> np.ndarray:
    """Exposure, colour cast, blur, sensor noise and JPEG artefacts, each drawn from ``rng``."""
    gain = float(rng.uniform(0.7, 1.3))
    gamma = float(rng.uniform(0.8, 1.25))
    cast = tuple(float(v) for v in rng.uniform(0.93, 1.07, 3))
    image = cv2.LUT(image, exposure_lut(gain, gamma, cast))  # type: ignore[arg-type]
    if rng.random() < blur_p:
        sigma = float(rng.uniform(0.5, 1.3))
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = sensor_noise(image, float(rng.uniform(1.0, 6.0)), rng)
    if rng.random() < jpeg_p:
        quality = int(rng.integers(35, 90))
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            image = decoded
    return image


def ellipse_polygon(cx: float, cy: float, rx: float, ry: float, angle: float, n: int = 16) -> np.ndarray:
    """(n, 2) points of a rotated ellipse, in whatever plane the caller works in."""
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(theta), ry * np.sin(theta)
    ca, sa = np.cos(angle), np.sin(angle)
    return np.stack([cx + ca * x - sa * y, cy + sa * x + ca * y], axis=1)


def ellipse_polygons(
    cx: np.ndarray, cy: np.ndarray, rx: np.ndarray, ry: np.ndarray, angle: np.ndarray, n: int = 16
) -> np.ndarray:
    """(K, n, 2) points of K rotated ellipses at once (see :func:`ellipse_polygon`)."""
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)[None, :]
    x = np.asarray(rx, np.float64)[:, None] * np.cos(theta)
    y = np.asarray(ry, np.float64)[:, None] * np.sin(theta)
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return np.stack(
        [np.asarray(cx)[:, None] + ca * x - sa * y, np.asarray(cy)[:, None] + sa * x + ca * y], axis=-1
    )
