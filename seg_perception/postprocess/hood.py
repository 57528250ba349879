"""The car's own hood at the bottom of a front camera's frame: where the road stops being seen.

A camera behind the windscreen often sees the car's hood. Lane lines end at its edge, and a
boundary drawn on to the frame's bottom row runs over the car itself, where no labeller puts a
lane (TuSimple, CULane and the generator's labels stop at the hood). The edge is found per frame
from three cues together:

1. no lane paint below a row near the bottom (a model marks none on the hood), but in columns
   beside the hood: a bonnet seen from inside often curves down out of the frame at the sides, and
   the lines there run on to the bottom row;
2. a strong, mostly horizontal edge (in any colour channel) along one smooth curve across most of
   the width, never above the lowest paint of a column (the hood's outline against the road);
3. no line runs through it (where paint reaches the bottom row, the curve has come down to the
   bottom there), and no paint ends on it across the road.

The lines need not end on the edge: dashes and Botts' dots often end above it, and faint paint far
above it. A dash gap at the bottom of the frame has no such edge beside the paint, a shadow across
the road has the lines' paint running on below it, and a stop line's own lower edge has paint across
the road ending on it: none is taken for a hood. Measured in docs/lanes.md ("The car's hood").
"""

from __future__ import annotations

import cv2
import numpy as np

HOOD_COLUMNS = 64  # columns the edge is searched in
HOOD_MIN_CONTRAST = 10.0  # levels (of a channel) between 2 rows above and 2 below the edge, after a 5x5 blur
HOOD_STRONG_SHARE = 0.6  # a column's edge: its topmost row with this share of the column's strongest
HOOD_MIN_COLUMNS = 0.6  # share of the searched columns that must lie on the one smooth curve
HOOD_MAX_LINE_COLUMNS = 0.25  # share of the searched columns whose paint may end on the edge
HOOD_SMOOTH_COLUMNS = 7  # running median (columns) the curve is checked against
HOOD_TOLERANCE = 0.006  # share of the height: a column farther than this from the median is off the curve
HOOD_RISE = 0.05  # share of the height: the edge may lie this far above the lowest paint (a curved hood)
HOOD_MIN_ROWS = 0.01  # share of the height: a paint-free band thinner than this at the bottom is no hood
# the lines may end up to this many times the hood's largest share of the height above the bottom row
# (a dash gap or faint paint just above the hood), the hood's edge still lies within its share
HOOD_PAINT_FREE_FACTOR = 2.0
HOOD_BESIDE_ROWS = 0.02  # share of the height: paint this near the bottom row passes beside the hood
HOOD_BESIDE_DROP = 0.04  # share of the height: beside such paint, the edge has come down this near the bottom
_GRADIENT_ROWS = 2  # the edge's contrast: rows above against rows below
# a held hood (a tracker's, from earlier frames) is gone where lane paint lies this far below its edge
# (share of the height: a speck on the edge itself is no road) in at least HOOD_GONE_COLUMNS mask columns
HOOD_GONE_DEPTH = 0.02
HOOD_GONE_COLUMNS = 3


def find_hood(image_bgr: np.ndarray, paint: np.ndarray, max_share: float) -> np.ndarray | None:
    """The hood's edge as a row per frame column, or None when the frame shows no hood.

    Args:
        image_bgr: (H, W, 3) frame.
        paint: (h, w) lane paint (non-zero) of the frame, or of a smaller mask it is the upscale of.
        max_share: Largest share of the frame's height the hood may cover (0: never a hood).

    Returns:
        (W,) float rows: the road is seen at and above ``edge[u]`` in column ``u``.
    """
    height, width = image_bgr.shape[:2]
    mask_h, mask_w = paint.shape[:2]
    in_mask = paint > 0
    if max_share <= 0.0 or not in_mask.any():
        return None
    scale_u, scale_v = width / mask_w, height / mask_h
    # each mask column's lowest paint in frame rows (-inf: none), looked up for frame columns
    mask_lowest = np.where(
        in_mask.any(axis=0), (mask_h - np.argmax(in_mask[::-1], axis=0)) * scale_v - 1.0, -np.inf
    )
    # paint this near the bottom row is a line beside a hood that curves down out of the frame (or
    # one through what is then no hood: checked on the edge found)
    beside_from = height - 1.0 - max(3.0, HOOD_BESIDE_ROWS * height)
    elsewhere = mask_lowest[np.isfinite(mask_lowest) & (mask_lowest < beside_from)]
    # the lowest paint of the other columns (none: the band is as tall as a hood may be)
    lowest = float(elsewhere.max()) if elsewhere.size else (1.0 - max_share) * height
    band = height - 1.0 - lowest
    if band < max(3.0, HOOD_MIN_ROWS * height) or band > HOOD_PAINT_FREE_FACTOR * max_share * height:
        return None

    def lowest_paint(frame_columns: np.ndarray) -> np.ndarray:
        return mask_lowest[np.minimum(frame_columns // scale_u, mask_w - 1).astype(np.int64)]

    # the edge lies within the hood's largest share of the height, and at most a little above the paint
    zone_top = int((1.0 - max_share) * height) - _GRADIENT_ROWS
    top = max(_GRADIENT_ROWS, int(lowest - HOOD_RISE * height), zone_top)
    columns = np.linspace(0, width - 1, HOOD_COLUMNS).astype(np.int64)
    colour = cv2.GaussianBlur(image_bgr[top - _GRADIENT_ROWS :].astype(np.float32), (5, 5), 0)[:, columns]
    # contrast at row top + i: rows 2 below against rows 2 above, in the channel that differs most (a
    # hood can be as bright as the road and differ in colour only)
    search = np.abs(colour[2 * _GRADIENT_ROWS :] - colour[: -2 * _GRADIENT_ROWS]).max(axis=2)
    # paint is never under the hood: a painted column's edge lies at or below its lowest paint
    lowest_in_column = lowest_paint(columns)
    rows = top + np.arange(search.shape[0])[:, None]
    search[rows < lowest_in_column[None, :] - _GRADIENT_ROWS] = 0.0
    strongest = search.max(axis=0)
    strong = search >= np.maximum(HOOD_MIN_CONTRAST, HOOD_STRONG_SHARE * strongest)[None, :]
    found = strongest >= HOOD_MIN_CONTRAST
    if found.sum() < HOOD_MIN_COLUMNS * HOOD_COLUMNS:
        return None
    u = columns[found].astype(np.float64)
    v = (top + np.argmax(strong[:, found], axis=0)).astype(np.float64)
    on_curve = np.abs(v - _running_median(v, HOOD_SMOOTH_COLUMNS)) <= max(2.0, HOOD_TOLERANCE * height)
    if on_curve.sum() < HOOD_MIN_COLUMNS * HOOD_COLUMNS:
        return None
    u_edge, v_edge = u[on_curve], v[on_curve]
    # a line reaching the bottom row passes beside the hood: the edge has come down near the bottom
    # there (beyond the curve's ends it stays at its end's row); higher up, the line runs through it
    beside = columns[lowest_in_column >= beside_from].astype(np.float64)
    if (np.interp(beside, u_edge, v_edge) < height - 1.0 - max(3.0, HOOD_BESIDE_DROP * height)).any():
        return None
    # paint ending on the edge across the road is a stop line's, not lines ending at the car
    ends_on_edge = (  # False where a column has no paint (-inf)
        v_edge - lowest_in_column[found][on_curve] <= max(2.0, HOOD_TOLERANCE * height) + _GRADIENT_ROWS
    )
    if ends_on_edge.sum() > HOOD_MAX_LINE_COLUMNS * HOOD_COLUMNS:
        return None
    edge = np.interp(np.arange(width, dtype=np.float64), u_edge, v_edge)
    # between the searched columns too, the edge is never above a column's paint
    return np.maximum(edge, lowest_paint(np.arange(width)))


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of each value's ``window`` neighbours (the ends padded with the end values)."""
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def hood_rows(edge: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The hood's edge row under each column ``u`` (frame pixels; NaN stays NaN)."""
    columns = np.arange(len(edge), dtype=np.float64)
    return np.interp(u, columns, edge)


def paint_below(edge: np.ndarray, paint: np.ndarray, height: int) -> bool:
    """Whether lane paint shows below a hood edge, so the road is seen there and the hood is not.

    Args:
        edge: (W,) frame rows of a hood edge (:func:`find_hood`) in a frame ``height`` rows high.
        paint: (h, w) lane paint (non-zero), the frame's or a smaller mask it is the upscale of.
        height: The frame's height.
    """
    mask_h, mask_w = paint.shape[:2]
    width = len(edge)
    # each mask column's edge, in mask rows, pushed down by the depth a speck on the edge may have
    columns = np.minimum((np.arange(mask_w) + 0.5) * width / mask_w, width - 1).astype(np.int64)
    limit = (np.asarray(edge, dtype=np.float64)[columns] + HOOD_GONE_DEPTH * height) * mask_h / height
    below = (paint > 0) & (np.arange(mask_h)[:, None] > limit[None, :])
    return int(np.count_nonzero(below.any(axis=0))) >= HOOD_GONE_COLUMNS
