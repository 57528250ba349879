"""Still images, contact sheets and animated GIFs from BGR frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from seg_perception.reporting.errors import ReportingError

GIF_MAX_BYTES = 5 * 1024 * 1024
_GIF_SHRINK = 0.75
_GIF_MIN_WIDTH = 96


def fit_width(image: np.ndarray, width: int, *, upscale: bool = False) -> np.ndarray:
    """``image`` resized to ``width`` pixels wide (aspect kept); never upscaled unless asked."""
    if image.shape[1] == width or (image.shape[1] < width and not upscale):
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` as (H, W, 3) uint8 BGR: grey images are expanded, colour ones returned as they are.

    Raises:
        ReportingError: any other shape or dtype.
    """
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    raise ReportingError(f"expected (H, W) or (H, W, 3) uint8 images, got {image.shape} {image.dtype}")


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Write a BGR (or grey) uint8 image as PNG, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), as_bgr(image)):
        raise ReportingError(f"cannot write {path}")
    return path


def _label(tile: np.ndarray, text: str) -> None:
    # White text on a dark box: readable on any background.
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(tile, (0, 0), (width + 10, height + baseline + 8), (0, 0, 0), thickness=-1)
    cv2.putText(tile, text, (5, height + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(
    images: Sequence[np.ndarray],
    cols: int = 4,
    *,
    tile_width: int = 320,
    labels: Sequence[str] | None = None,
    gap: int = 4,
) -> np.ndarray:
    """Grid of images, each scaled to ``tile_width``, optionally labelled.

    Args:
        images: BGR (or grey) uint8 images, any sizes.
        cols: Columns of the grid (fewer when there are fewer images).
        tile_width: Width of every tile in pixels.
        labels: One caption per image, drawn in its top-left corner.
        gap: Pixels of dark-grey border between tiles.

    Returns:
        The sheet, (H, W, 3) uint8 BGR.

    Raises:
        ReportingError: no images, ``cols`` < 1 or labels of the wrong length.
    """
    if not images:
        raise ReportingError("contact sheet: no images")
    if cols < 1:
        raise ReportingError(f"contact sheet: cols must be >= 1, got {cols}")
    if labels is not None and len(labels) != len(images):
        raise ReportingError(f"contact sheet: {len(labels)} labels for {len(images)} images")
    tiles = [fit_width(as_bgr(image), tile_width, upscale=True).copy() for image in images]
    for tile, text in zip(tiles, labels or [], strict=False):
        _label(tile, text)
    cols = min(cols, len(tiles))
    rows = [tiles[start : start + cols] for start in range(0, len(tiles), cols)]
    # Each row is as tall as its tallest tile, so rows of wide and square images mix without gaps.
    heights = [max(tile.shape[0] for tile in row) for row in rows]
    sheet_height = sum(heights) + (len(rows) + 1) * gap
    sheet = np.full((sheet_height, cols * tile_width + (cols + 1) * gap, 3), 32, dtype=np.uint8)
    top = gap
    for row, height in zip(rows, heights, strict=True):
        for col, tile in enumerate(row):
            left = gap + col * (tile_width + gap)
            sheet[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
        top += height + gap
    return sheet


def _save_gif(frames_rgb: list[np.ndarray], path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames_rgb]
    duration_ms = max(20, round(1000.0 / fps))  # browsers clamp shorter delays
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0, optimize=False
    )


def write_gif(
    frames: Sequence[np.ndarray],
    path: str | Path,
    fps: float = 10.0,
    *,
    max_width: int = 480,
    max_bytes: int = GIF_MAX_BYTES,
) -> Path:
    """Write BGR frames as a looping animated GIF no larger than ``max_bytes``.

    Frames are scaled down to ``max_width``; when the file still exceeds
    ``max_bytes`` it is rewritten at 3/4 of the width until it fits (noisy camera
    frames compress poorly in GIF's 256-colour LZW).

    Args:
        frames: BGR (or grey) uint8 frames; all are scaled to the first one's size.
        path: Destination ``.gif``.
        fps: Playback rate (the caller picks which frames to pass).
        max_width: Largest width in pixels.
        max_bytes: Size budget of the file.

    Raises:
        ReportingError: no frames, bad fps, or the budget cannot be met.
    """
    if not frames:
        raise ReportingError(f"GIF {path}: no frames")
    if not fps > 0:
        raise ReportingError(f"GIF {path}: fps must be > 0, got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = min(max_width, frames[0].shape[1])
    while True:
        first = fit_width(as_bgr(frames[0]), width)
        size = (first.shape[1], first.shape[0])
        rgb = [
            cv2.cvtColor(cv2.resize(as_bgr(frame), size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            for frame in frames
        ]
        _save_gif(rgb, path, fps)
        if path.stat().st_size <= max_bytes:
            return path
        if width <= _GIF_MIN_WIDTH:
            raise ReportingError(
                f"GIF {path}: {len(frames)} frames do not fit in {max_bytes} bytes even at {width} px wide"
            )
        width = max(_GIF_MIN_WIDTH, int(width * _GIF_SHRINK))
