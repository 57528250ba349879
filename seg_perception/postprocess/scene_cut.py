"""Frames that do not continue the one before: a cut in the stream, so tracking starts afresh (OpenCV).

The lane and slot trackers assume consecutive frames of one camera: a boundary or slot seen before
is where the new frame's detection is, give or take the motion of one frame. Fed unrelated pictures
one after another (a folder of stills published as a stream, frames of several clips in one bag, a
camera switched under the same topic), they blend each picture's boundaries and slots with the last
picture's, hold the last picture's ones, and wait a frame before showing the new ones: on 14 real
highway stills fed once each, TuSimple accuracy fell from 0.969 to 0.690; on 100 generated AVM
views, slot precision / recall from 0.887 / 0.800 to 0.737 / 0.664 (``docs/reliability.md``,
"Unrelated frames in one stream").

The test compares a frame with the last one after following the motion between them: both are shrunk
to a grey thumbnail about ``thumbnail_px`` along its long side (averages of whole square blocks of
pixels), the last one is warped onto this one by dense optical flow (Farnebäck), and the fine detail
of the two (each minus its Gaussian blur of ``detail_sigma_px``) is correlated tile by tile, 2 x 3
tiles (3 x 2 on a tall frame). The frame is a cut when the median tile correlates less than
``min_detail_correlation``. Within a stream the flow lines the detail up again; between unrelated
pictures no motion does, even where the road and the sky lie in the same places (the blur takes away
that shared layout, which correlates any two road pictures). Only pixels with detail in both frames
count, so what covers part of one (a wiper, a truck's flank) is left out rather than counted as a
mismatch, and the median keeps one or two tiles that something close to the camera swept through (a
pole, a stop line at night) from making a cut. A frame of another size than the last is always a
cut; a blank frame never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from seg_perception.postprocess.settings import settings_values

# Farnebäck's pyramid: each level half the last, three of them, a 9-pixel window, three
# iterations, a degree-5 polynomial with its Gaussian (OpenCV's suggested 1.1): a thumbnail's
# motion of up to about a tenth of its width is followed
_FLOW_PYRAMID_SCALE = 0.5
_FLOW_LEVELS = 3
_FLOW_WINDOW_PX = 9
_FLOW_ITERATIONS = 3
_FLOW_POLY_N = 5
_FLOW_POLY_SIGMA = 1.1
_MIN_THUMBNAIL_PX = 8  # the thumbnail's shorter side, whatever the frame's aspect
_TILES = (2, 3)  # rows x columns of a wide frame's thumbnail (transposed for a tall one)
# a thumbnail pixel shows detail where its local detail energy is at least this share of its frame's median
_DETAIL_SHARE = 0.1
_MIN_TILE_PIXELS = 8  # a tile with fewer pixels showing detail in both frames is left out of the median
# a thumbnail whose detail's RMS is below this many grey levels shows nothing (a covered lens' noise,
# averaged over the thumbnail's pixels, stays well under it)
_BLANK_DETAIL_RMS = 1.0
# stamps that pause longer than this (seconds) start a new stream: the node's tracking_gap_s default
DEFAULT_TRACKING_GAP_S = 1.0


@dataclass(frozen=True)
class SceneCutSettings:
    """The ``scene_cut`` block of a scenario (or of one of its cameras)."""

    enabled: bool = True
    # a frame whose detail correlates less than this with the last frame's, motion followed, is a cut
    min_detail_correlation: float = 0.35
    thumbnail_px: int = 96  # the thumbnails' long side, to the nearest whole block of pixels
    detail_sigma_px: float = 1.5  # the blur whose difference is the fine detail (thumbnail pixels)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SceneCutSettings:
        """From a ``scene_cut`` block: values converted to the fields' types and checked.

        Raises:
            ValueError: an unknown key, a value of the wrong kind or out of range.
        """
        settings = cls(**settings_values(cls(), values, "scene_cut settings"))
        if not -1.0 <= settings.min_detail_correlation <= 1.0:
            raise ValueError(
                "scene_cut.min_detail_correlation is a correlation, in -1..1: "
                f"got {settings.min_detail_correlation}"
            )
        if settings.thumbnail_px < 4 * _MIN_THUMBNAIL_PX or settings.detail_sigma_px <= 0:
            raise ValueError(
                f"scene_cut: thumbnail_px must be at least {4 * _MIN_THUMBNAIL_PX} and detail_sigma_px "
                f"above 0, got {settings.thumbnail_px} and {settings.detail_sigma_px}"
            )
        return settings


class SceneCutDetector:
    """Says of each frame whether it continues the last one. Stateful: one per camera stream."""

    def __init__(self, settings: SceneCutSettings | None = None) -> None:
        self.settings = settings or SceneCutSettings()
        self._last: np.ndarray | None = None
        self._last_size: tuple[int, int] | None = None
        #: the last frame's detail correlation with the one before (None: first frame, or sizes differ)
        self.last_correlation: float | None = None

    def reset(self) -> None:
        """Forget the last frame: the next one starts a stream and is no cut."""
        self._last = None
        self._last_size = None
        self.last_correlation = None

    def update(self, image_bgr: np.ndarray) -> bool:
        """True when ``image_bgr`` (BGR or grey) does not continue the frame given before it.

        The first frame of a stream is no cut. A blank frame (no detail: a covered lens, a dropped
        frame filled black, a flash of glare) is none either and is compared with nothing: it tells
        nothing of where the camera is, so the trackers hold through it and the next frame is compared
        with the last one that had detail. With ``enabled`` false no frame is a cut (and none is
        looked at).
        """
        if not self.settings.enabled:
            return False
        size = (int(image_bgr.shape[0]), int(image_bgr.shape[1]))
        thumbnail = self._thumbnail(image_bgr)
        detail = self._detail(thumbnail)
        blank = float(np.sqrt(np.mean(detail**2))) < _BLANK_DETAIL_RMS
        last, last_size = self._last, self._last_size
        self._last_size = size
        self.last_correlation = None
        if last_size is not None and last_size != size:
            self._last = None if blank else thumbnail
            return True
        if blank:
            return False
        self._last = thumbnail
        if last is None:
            return False
        self.last_correlation = self.detail_correlation(last, thumbnail, current_detail=detail)
        return self.last_correlation < self.settings.min_detail_correlation

    def _thumbnail(self, image: np.ndarray) -> np.ndarray:
        """The frame in grey, averaged over square blocks of a whole number of pixels, the block chosen so
        that the long side comes out nearest ``thumbnail_px`` (OpenCV averages whole blocks ten times
        faster than fractional ones; the few rows and columns past the last whole block are left out)."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        height, width = grey.shape[:2]
        block = max(1, round(max(height, width) / self.settings.thumbnail_px))
        rows, columns = max(1, height // block), max(1, width // block)
        whole = grey[: rows * block, : columns * block]
        return cv2.resize(whole, (columns, rows), interpolation=cv2.INTER_AREA).astype(np.float32)

    def detail_correlation(
        self, last: np.ndarray, current: np.ndarray, *, current_detail: np.ndarray | None = None
    ) -> float:
        """The median tile's correlation of the thumbnails' fine detail once ``last`` is warped onto
        ``current`` (``current_detail``: the current one's detail, when already at hand).

        Only pixels with detail in both count (``_DETAIL_SHARE``); a tile with fewer than
        ``_MIN_TILE_PIXELS`` of them is left out, and with no tile left the two correlate fully.
        """
        height, width = current.shape
        flow = cv2.calcOpticalFlowFarneback(
            current,
            last,
            np.zeros((height, width, 2), np.float32),
            _FLOW_PYRAMID_SCALE,
            _FLOW_LEVELS,
            _FLOW_WINDOW_PX,
            _FLOW_ITERATIONS,
            _FLOW_POLY_N,
            _FLOW_POLY_SIGMA,
            0,
        )
        columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        warped = cv2.remap(
            last,
            columns + flow[..., 0],
            rows + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        a = self._detail(warped)
        b = self._detail(current) if current_detail is None else current_detail
        # compared only where both show detail: what covers part of one frame (a wiper, a close truck's
        # flank) is left out instead of counting as a mismatch, and so are margins flat in both
        energy_a = cv2.GaussianBlur(a * a, (0, 0), self.settings.detail_sigma_px)
        energy_b = cv2.GaussianBlur(b * b, (0, 0), self.settings.detail_sigma_px)
        shown = (energy_a > _DETAIL_SHARE * np.median(energy_a)) & (
            energy_b > _DETAIL_SHARE * np.median(energy_b)
        )
        tiles = _TILES if height <= width else _TILES[::-1]
        correlations = []
        for rows_slice, columns_slice in _tile_slices((height, width), tiles):
            keep = shown[rows_slice, columns_slice]
            if np.count_nonzero(keep) < _MIN_TILE_PIXELS:
                continue
            tile_a = a[rows_slice, columns_slice][keep]
            tile_b = b[rows_slice, columns_slice][keep]
            tile_a, tile_b = tile_a - tile_a.mean(), tile_b - tile_b.mean()
            norm = float(np.sqrt(np.sum(tile_a * tile_a) * np.sum(tile_b * tile_b)))
            correlations.append(float(np.sum(tile_a * tile_b)) / norm if norm > 0.0 else 0.0)
        return float(np.median(correlations)) if correlations else 1.0

    def _detail(self, thumbnail: np.ndarray) -> np.ndarray:
        return thumbnail - cv2.GaussianBlur(thumbnail, (0, 0), self.settings.detail_sigma_px)


def _tile_slices(size: tuple[int, int], tiles: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Row and column slices of a ``tiles[0]`` x ``tiles[1]`` grid over an image of ``size``."""
    (height, width), (down, across) = size, tiles
    rows = [slice(i * height // down, (i + 1) * height // down) for i in range(down)]
    columns = [slice(j * width // across, (j + 1) * width // across) for j in range(across)]
    return [(row, column) for row in rows for column in columns]


class StampGap:
    """Says when a stream's stamps go back (a bag played again) or pause longer than ``gap_s``.

    What was tracked before such a jump no longer says where things are now; the node and ``process``
    restart their trackers on it. Stamps are the frames' ``header.stamp`` in nanoseconds; an unset
    stamp (0) tells nothing and is passed over.
    """

    def __init__(self, gap_s: float = DEFAULT_TRACKING_GAP_S) -> None:
        self.gap_s = gap_s
        self._last_ns: int | None = None

    def reset(self) -> None:
        """Forget the last stamp: the next frame starts a stream."""
        self._last_ns = None

    def jump(self, stamp_ns: int) -> str | None:
        """How the stamps jumped before ``stamp_ns`` (``"went back"``, ``"paused 5.0 s"``), or None.

        With ``gap_s`` 0 no stamp is a jump.
        """
        if stamp_ns == 0:
            return None
        last, self._last_ns = self._last_ns, stamp_ns
        if last is None or self.gap_s <= 0 or 0 <= stamp_ns - last <= self.gap_s * 1e9:
            return None
        return "went back" if stamp_ns < last else f"paused {(stamp_ns - last) / 1e9:.1f} s"
