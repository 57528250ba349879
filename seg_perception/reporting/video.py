"""Overlay videos: MP4 through OpenCV (``mp4v``), GIF through Pillow, streamed frame by frame.

:class:`VideoSink` takes frames as they come, so a long bag never sits in memory as
MP4; where OpenCV has no MP4 encoder it falls back to a GIF next to the requested
file and says so in the log. :func:`write_video` writes a list of frames at once and
:func:`count_video_frames` reads a file back to check it plays.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from seg_perception.reporting.errors import ReportingError
from seg_perception.reporting.images import GIF_MAX_BYTES, as_bgr, fit_width, write_gif

LOGGER = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif")
MP4_FOURCC = "mp4v"  # MPEG-4 part 2: in every opencv-python(-headless) wheel, unlike H.264
MAX_VIDEO_WIDTH = 960
GIF_MAX_WIDTH = 480
GIF_STRIDE = 3


def fourcc(code: str) -> int:
    """The FOURCC integer of a four-letter codec code (what ``cv2.VideoWriter_fourcc`` returns)."""
    return int.from_bytes(code.encode("ascii"), "little")


class VideoSink:
    """Writes BGR (or grey) uint8 frames to ``path``: ``.mp4`` streamed, ``.gif`` on :meth:`close`.

    MP4 frames are scaled down to ``max_width`` and to even dimensions (the encoder
    crops odd ones); every frame takes the first frame's size. A GIF keeps every
    ``gif_stride``-th frame, ``gif_max_width`` wide, plays at ``fps / gif_stride`` and is
    shrunk to ``gif_max_bytes`` by :func:`~seg_perception.reporting.images.write_gif`.

    Attributes:
        path: The file really written (``.gif`` after an MP4 fallback).
        fps: Frames per second of the input stream.
        frames_written: Frames encoded (GIF: frames kept).
        fell_back: True when an MP4 was asked for and a GIF is written instead.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float,
        max_width: int = MAX_VIDEO_WIDTH,
        gif_stride: int = GIF_STRIDE,
        gif_max_width: int = GIF_MAX_WIDTH,
        gif_max_bytes: int = GIF_MAX_BYTES,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix not in VIDEO_SUFFIXES:
            raise ReportingError(f"video {self.path}: use a .mp4 or .gif name")
        if not fps > 0:
            raise ReportingError(f"video {self.path}: fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.max_width = max_width
        self.gif_stride = max(1, gif_stride)
        self.gif_max_width = gif_max_width
        self.gif_max_bytes = gif_max_bytes
        self.frames_written = 0
        self.fell_back = False
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] = (0, 0)
        self._gif_frames: list[np.ndarray] = []
        self._seen = 0
        self._closed = False

    @property
    def is_gif(self) -> bool:
        return self.path.suffix == ".gif"

    def add(self, frame: np.ndarray) -> None:
        """Encode one frame (MP4) or keep it for the GIF when it falls on the stride."""
        if self._closed:
            raise ReportingError(f"video {self.path}: add() after close()")
        frame = as_bgr(frame)
        if self._writer is None and not self.is_gif:
            self._open_mp4(frame)  # may fall back to GIF
        self._seen += 1
        if self._writer is None:
            if (self._seen - 1) % self.gif_stride == 0:
                self._gif_frames.append(fit_width(frame, self.gif_max_width))
                self.frames_written += 1
            return
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(frame))
        self.frames_written += 1

    def _open_mp4(self, first: np.ndarray) -> None:
        scaled = fit_width(first, self.max_width)
        # Even width and height: MPEG-4 encoders work on 2x2 chroma blocks and crop odd sizes.
        self._size = (max(2, scaled.shape[1] // 2 * 2), max(2, scaled.shape[0] // 2 * 2))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), fourcc(MP4_FOURCC), self.fps, self._size)
        if writer.isOpened():
            self._writer = writer
            return
        writer.release()
        fallback = self.path.with_suffix(".gif")
        LOGGER.warning(
            "OpenCV cannot write MP4 (%s) to %s here; writing %s instead", MP4_FOURCC, self.path, fallback
        )
        self.path, self.fell_back = fallback, True

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None when no frame was added. Idempotent."""
        if self._closed:
            return self.path if self.frames_written else None
        self._closed = True
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._gif_frames:
            frames, self._gif_frames = self._gif_frames, []
            write_gif(
                frames,
                self.path,
                self.fps / self.gif_stride,
                max_width=self.gif_max_width,
                max_bytes=self.gif_max_bytes,
            )
        return self.path if self.frames_written else None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def close_video_or_warn(video: VideoSink | None, *, tool: str) -> Path | None:
    """Finish ``video``; a GIF that cannot meet its size budget is a warning on stderr, not a lost run."""
    if video is None:
        return None
    try:
        return video.close()
    except ReportingError as err:
        print(f"{tool}: warning: no overlay video: {err}", file=sys.stderr)
        return None


def write_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    fps: float,
    *,
    max_width: int = MAX_VIDEO_WIDTH,
    gif_stride: int = 1,
) -> Path:
    """Write every frame to ``path`` (``.mp4``, or ``.gif``); returns the file really written.

    Raises:
        ReportingError: no frames, a bad name or fps.
    """
    with VideoSink(path, fps=fps, max_width=max_width, gif_stride=gif_stride) as sink:
        for frame in frames:
            sink.add(frame)
    if sink.frames_written == 0:
        raise ReportingError(f"video {path}: no frames")
    return sink.path


def count_video_frames(path: str | Path) -> int:
    """Frames OpenCV decodes from a video file, read one by one (0 when it cannot open it)."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while capture.isOpened():
            ok, _ = capture.read()
            if not ok:
                break
            count += 1
        return count
    finally:
        capture.release()
