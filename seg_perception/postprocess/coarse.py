"""Regions traced on a coarse mask, measured and placed in the pixels of its upscale.

The engines arg-max at the model's resolution, then resize the mask to the frame
with nearest neighbour; every model pixel becomes a block of frame pixels, so the
connected regions of both masks are the same. Tracing them on the model-resolution
mask visits up to (H/h)·(W/w) times fewer pixels; :class:`BlockGrid` then maps the
results onto the frame: exact pixel counts, exact block corners, and block-centred
vertex coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from seg_perception.postprocess.regions import region_pixel_area


@dataclass(frozen=True)
class BlockGrid:
    """How the pixels of a coarse (h, w) mask spread over its (H, W) nearest-neighbour upscale.

    Attributes:
        coarse_hw: (h, w).
        fine_hw: (H, W).
        row_starts: (h + 1,) first fine row of each coarse row (last entry H).
        col_starts: (w + 1,) first fine column of each coarse column (last entry W).
        row_sizes: (h,) fine rows per coarse row.
        col_sizes: (w,) fine columns per coarse column.
        block_px: (fewest, most) fine pixels in one block.
    """

    coarse_hw: tuple[int, int]
    fine_hw: tuple[int, int]
    row_starts: np.ndarray
    col_starts: np.ndarray
    row_sizes: np.ndarray
    col_sizes: np.ndarray
    block_px: tuple[float, float]

    @classmethod
    def between(cls, coarse_hw: tuple[int, int], fine_hw: tuple[int, int]) -> BlockGrid:
        """The grid of an upscale from ``coarse_hw`` to ``fine_hw`` (cached per pair of sizes).

        Raises:
            ValueError: ``fine_hw`` smaller than ``coarse_hw`` in either dimension.
        """
        return _grid(tuple(int(v) for v in coarse_hw), tuple(int(v) for v in fine_hw))

    def to_fine(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) coarse ``(x, y)`` → fine coordinates, float64: ``(p + 0.5) * s - 0.5``.

        Pixel centres land on block centres and pixel edges on block edges (exactly for
        an integer scale, within a fraction of a pixel otherwise).
        """
        height, width = self.coarse_hw
        scale = np.array([self.fine_hw[1] / width, self.fine_hw[0] / height])
        return (np.asarray(points, dtype=np.float64).reshape(-1, 2) + 0.5) * scale - 0.5

    def block_corners(self, contour: np.ndarray) -> np.ndarray:
        """(4K, 2) float32 fine pixel centres at the corners of the blocks of K coarse pixels."""
        points = contour.reshape(-1, 2)
        corners = np.empty((len(points), 4, 2), dtype=np.float32)
        left, right = self.col_starts[points[:, 0]], self.col_starts[points[:, 0] + 1] - 1
        top, bottom = self.row_starts[points[:, 1]], self.row_starts[points[:, 1] + 1] - 1
        corners[:, 0, 0], corners[:, 0, 1] = left, top
        corners[:, 1, 0], corners[:, 1, 1] = right, top
        corners[:, 2, 0], corners[:, 2, 1] = right, bottom
        corners[:, 3, 0], corners[:, 3, 1] = left, bottom
        return corners.reshape(-1, 2)

    def fine_pixel_count(self, contour: np.ndarray) -> float:
        """Fine pixels of the region enclosed by a coarse outer contour (holes included), exactly."""
        x, y, width, height = cv2.boundingRect(contour)
        filled = np.zeros((height, width), dtype=np.uint8)
        cv2.drawContours(filled, [contour], 0, 1, thickness=cv2.FILLED, offset=(-x, -y))
        rows = self.row_sizes[y : y + height].astype(np.float64)
        cols = self.col_sizes[x : x + width].astype(np.float64)
        return float(rows @ filled @ cols)

    def has_min_area(self, contour: np.ndarray, min_area_px: float) -> bool:
        """Whether the region covers at least ``min_area_px`` fine pixels (exact decision).

        Blocks hold between ``floor(s)²`` and ``ceil(s)²`` fine pixels, so the coarse
        pixel count settles most regions; only those near the threshold are counted
        block by block.
        """
        smallest, largest = self.block_px
        _, _, width, height = cv2.boundingRect(contour)
        if width * height * largest < min_area_px:
            return False
        pixels = region_pixel_area(contour)
        if pixels * smallest >= min_area_px:
            return True
        if pixels * largest < min_area_px:
            return False
        return self.fine_pixel_count(contour) >= min_area_px


def trace_source(mask: np.ndarray, coarse_mask: np.ndarray | None) -> tuple[np.ndarray, BlockGrid | None]:
    """The mask to trace regions on, and the grid mapping it onto ``mask`` (None: ``mask`` itself).

    Raises:
        ValueError: a mask that is not 2-D uint8, or a coarse mask larger than ``mask``.
    """
    for name, array in (("mask", mask), ("coarse_mask", coarse_mask)):
        if array is not None and (array.ndim != 2 or array.dtype != np.uint8):
            raise ValueError(f"expected an (H, W) uint8 {name}, got shape {array.shape} dtype {array.dtype}")
    if coarse_mask is None or coarse_mask.shape == mask.shape:
        return mask, None
    return coarse_mask, BlockGrid.between(coarse_mask.shape, mask.shape)


@lru_cache(maxsize=16)
def _grid(coarse_hw: tuple[int, int], fine_hw: tuple[int, int]) -> BlockGrid:
    if fine_hw[0] < coarse_hw[0] or fine_hw[1] < coarse_hw[1]:
        raise ValueError(f"a {fine_hw} mask is not an upscale of a {coarse_hw} mask")
    # Ask OpenCV itself which coarse index each fine row/column copies, so the blocks match
    # cv2.resize(INTER_NEAREST) exactly, floating-point rounding of its scale included.
    row_source = _nearest_indices(coarse_hw[0], fine_hw[0])
    col_source = _nearest_indices(coarse_hw[1], fine_hw[1])
    row_starts = np.searchsorted(row_source, np.arange(coarse_hw[0] + 1), side="left")
    col_starts = np.searchsorted(col_source, np.arange(coarse_hw[1] + 1), side="left")
    row_sizes, col_sizes = np.diff(row_starts), np.diff(col_starts)
    for array in (row_starts, col_starts, row_sizes, col_sizes):
        array.flags.writeable = False  # shared by every caller through the cache
    block_px = (float(row_sizes.min() * col_sizes.min()), float(row_sizes.max() * col_sizes.max()))
    return BlockGrid(coarse_hw, fine_hw, row_starts, col_starts, row_sizes, col_sizes, block_px)


def _nearest_indices(coarse: int, fine: int) -> np.ndarray:
    """Coarse index copied into each of ``fine`` positions by a nearest-neighbour resize."""
    ramp = np.arange(coarse, dtype=np.float32).reshape(coarse, 1)
    return cv2.resize(ramp, (1, fine), interpolation=cv2.INTER_NEAREST).reshape(-1).astype(np.int64)
