"""Streaming overlay video (MP4, or GIF) and a contact sheet of evenly spaced frames.

Frames are written as they come, so a long bag never sits in memory; only the
contact-sheet tiles are kept.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from seg_perception.bags.errors import BagError

MAX_VIDEO_WIDTH = 960
GIF_MAX_WIDTH = 480


class VideoSink:
    """Writes BGR frames to ``path`` (``.mp4`` through OpenCV, ``.gif`` through Pillow).

    Frames are scaled down to at most ``MAX_VIDEO_WIDTH`` (GIF: ``GIF_MAX_WIDTH``) pixels wide;
    a GIF keeps every ``gif_stride``-th frame to stay small.
    """

    def __init__(self, path: Path, *, fps: float, gif_stride: int = 3) -> None:
        self.path = path
        self.fps = fps
        self.gif_stride = max(1, gif_stride)
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._gif_frames: list[np.ndarray] = []
        self._count = 0
        if path.suffix not in (".mp4", ".gif"):
            raise BagError(f"video {path}: use .mp4 or .gif")

    def add(self, frame_bgr: np.ndarray) -> None:
        self._count += 1
        if self.path.suffix == ".gif":
            if (self._count - 1) % self.gif_stride == 0:
                self._gif_frames.append(_fit_width(frame_bgr, GIF_MAX_WIDTH)[:, :, ::-1].copy())
                self.frames_written += 1
            return
        frame = _fit_width(frame_bgr, MAX_VIDEO_WIDTH)
        if self._writer is None:
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height)
            )
            if not self._writer.isOpened():
                raise BagError(f"cannot write {self.path}: OpenCV has no MP4 encoder here; use a .gif name")
            self._size = (width, height)
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        if self._gif_frames:
            from PIL import Image

            images = [Image.fromarray(frame) for frame in self._gif_frames]
            duration_ms = round(1000.0 * self.gif_stride / self.fps)
            images[0].save(self.path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)


def contact_sheet(
    tiles: list[tuple[str, np.ndarray]], *, columns: int = 4, tile_width: int = 320
) -> np.ndarray:
    """Grid of labelled BGR tiles (label drawn in the top-left corner of each)."""
    if not tiles:
        raise BagError("contact sheet: no frames")
    resized = []
    for label, image in tiles:
        tile = _fit_width(image, tile_width, upscale=True).copy()
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        resized.append(tile)
    tile_height = max(tile.shape[0] for tile in resized)
    columns = min(columns, len(resized))
    rows = -(-len(resized) // columns)
    sheet = np.zeros((rows * tile_height, columns * tile_width, 3), dtype=np.uint8)
    for index, tile in enumerate(resized):
        row, col = divmod(index, columns)
        sheet[
            row * tile_height : row * tile_height + tile.shape[0],
            col * tile_width : col * tile_width + tile.shape[1],
        ] = tile
    return sheet


def evenly_spaced(total: int, count: int) -> set[int]:
    """Up to ``count`` indices spread evenly over ``range(total)``."""
    if total <= 0 or count <= 0:
        return set()
    return {round(i) for i in np.linspace(0, total - 1, min(count, total))}


def _fit_width(image: np.ndarray, width: int, *, upscale: bool = False) -> np.ndarray:
    if image.shape[1] == width or (image.shape[1] < width and not upscale):
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
