"""The camera frames users hand the package: stills, folders of frames, videos and cameras OpenCV reads.

``predict`` and ``make-bag --from`` take them as sources (:class:`Source`), a recipe's
``distill.anchor_frames`` as unlabelled real frames.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seg_perception.errors import MediaSourceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


DEFAULT_VIDEO_FPS = 30.0
CAMERA_PATTERN = re.compile(r"^(\d+|/dev/video\d+)$")


@dataclass
class Frame:
    """One input frame: the image, a name for its output files and its time in the stream."""

    image: np.ndarray | None
    name: str
    index: int
    stamp_ns: int = 0
    error: str = ""


class Source:
    """Frames of an image, a folder of images, a video file or a camera, in order.

    Attributes:
        kind: ``image``, ``folder``, ``sequence`` (a folder of one video's frames), ``video`` or
            ``camera``.
        total: Number of frames when known (None for cameras).
        fps: Frame rate of a video, a sequence or a camera (None for still images).
    """

    def __init__(
        self, text: str, *, max_frames: int | None = None, sequence_fps: float | None = None
    ) -> None:
        self.text = text
        self.max_frames = max_frames
        self.fps: float | None = None
        self.total: int | None = None
        self._files: list[Path] = []
        self._capture: Any = None
        path = Path(text)
        if CAMERA_PATTERN.match(text) and not path.exists():
            self.kind = "camera"
            index = int(text) if text.isdigit() else text
            self._capture = cv2.VideoCapture(index)
            if not self._capture.isOpened():
                raise MediaSourceError(
                    f"cannot open camera {text}: no such device or it is busy (list them with "
                    "'ls /dev/video*'; a camera index is 0, 1, ...)"
                )
            self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_VIDEO_FPS
        elif path.is_dir():
            self.kind = "folder" if sequence_fps is None else "sequence"
            self._files = sorted(
                (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_order
            )
            if not self._files:
                raise MediaSourceError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            self.total = len(self._files)
            self.fps = sequence_fps
        elif not path.exists():
            raise MediaSourceError(
                f"{path} does not exist; give an image, a folder, a video file or a camera index"
            )
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            self._files = [path]
            self.total = 1
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            self.kind = "video"
            self._capture = cv2.VideoCapture(str(path))
            if not self._capture.isOpened():
                raise MediaSourceError(
                    f"OpenCV cannot decode the video {path} (unsupported codec or a corrupt file)"
                )
            self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_VIDEO_FPS
            count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.total = count if count > 0 else None
        else:
            raise MediaSourceError(
                f"{path}: unknown file type {path.suffix!r}; images: {', '.join(IMAGE_SUFFIXES)}; "
                f"videos: {', '.join(VIDEO_SUFFIXES)}"
            )
        if sequence_fps is not None and self.kind != "sequence":
            self.close()
            raise MediaSourceError(f"--sequence reads a folder of frames as a video; {text} is a {self.kind}")
        if max_frames is not None and self.total is not None:
            self.total = min(self.total, max_frames)
        elif max_frames is not None:
            self.total = max_frames

    @property
    def is_stream(self) -> bool:
        return self.kind in ("sequence", "video", "camera")

    def frames(self) -> Iterator[Frame]:
        limit = self.max_frames if self.max_frames is not None else sys.maxsize
        if self._capture is None:
            for index, path in enumerate(self._files[:limit]):
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                error = "" if image is not None else "not a readable image"
                stamp = round(index * 1e9 / self.fps) if self.fps else 0
                yield Frame(image=image, name=path.stem, index=index, stamp_ns=stamp, error=error)
            return
        index = 0
        start = time.monotonic_ns()
        while index < limit:
            ok, image = self._capture.read()
            if not ok:
                return
            if self.kind == "video":
                stamp = round(index * 1e9 / (self.fps or DEFAULT_VIDEO_FPS))
            else:
                stamp = time.monotonic_ns() - start
            yield Frame(image=image, name=f"frame_{index:06d}", index=index, stamp_ns=stamp)
            index += 1

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()


def natural_order(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a file name with its digit runs compared as numbers (``2.jpg`` before ``10.jpg``)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", path.name) if part
    )
