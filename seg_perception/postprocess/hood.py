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
above it. A dash gap at the bottom of the frame has no such edge beside the paint, a shadow across the
road has the lines' paint running on below it, and a stop line's own lower edge has paint across the
road ending on it: none is taken for a hood.

The edge is searched first just above the lowest paint, taking each column's topmost strong edge. A
frame where that finds none is searched again (``HOOD_SEARCHES``): over the hood's whole share of the
height (a deep bonnet whose low sides lines come near) and with each column's strongest edge (a glossy
hood below tyre marks whose edges are strong too). What those searches find must have a bonnet's shape:
one parabola, highest in the middle or flat, with the lines' paint ending above it; a seam of the road
that the wider window reaches is straight where a line's paint runs on below it. A clearly bent one is
a hood even where paint ends on it across the road (a trim the model took for paint; a stop line is
straight). Measured in docs/lanes_history.md ("The car's hood", "A bonnet's shape", "A bonnet's trim taken
for paint").
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
# The searches for the edge, in order until one finds a hood: how far above the lowest paint the edge may
# lie (share of the height; None: anywhere in the hood's largest share) and the share of a column's
# strongest contrast its edge row needs (the topmost such row; 1.0: the strongest row). The first finds
# most hoods and fewest false ones; the others only look where it found none, and what they find must
# have a bonnet's shape (docs/lanes_history.md, "A bonnet's shape").
HOOD_SEARCHES: tuple[tuple[float | None, float], ...] = (
    (HOOD_RISE, HOOD_STRONG_SHARE),
    (None, HOOD_STRONG_SHARE),
    (HOOD_RISE, 1.0),
    (None, 1.0),
)
HOOD_MIN_ROWS = 0.01  # share of the height: a paint-free band thinner than this at the bottom is no hood
# a wider search's edge: within this many times the curve's tolerance (HOOD_TOLERANCE and the contrast's
# rows) of one parabola across the frame, and no line's paint ending farther below it than that
HOOD_BONNET_FIT = 2.0
# a wider search's edge bent this many times the curve's tolerance or more (its sides that much lower than its
# middle) is a bonnet even with paint ending on it across the road: a trim the model took for paint (a
# stop line is straight, or bent the other way by a wide lens)
HOOD_TRIM_BEND = 4.0
# the lines may end up to this many times the hood's largest share of the height above the bottom row
# (a dash gap or faint paint just above the hood), the hood's edge still lies within its share
HOOD_PAINT_FREE_FACTOR = 2.0
HOOD_BESIDE_ROWS = 0.02  # share of the height: paint this near the bottom row passes beside the hood
HOOD_BESIDE_DROP = 0.04  # share of the height: beside such paint, the edge has come down this near the bottom
_GRADIENT_ROWS = 2  # the edge's contrast: rows above against rows below
_BLUR_TAPS = 5  # the frame is blurred 5x5 before the contrast is taken (asphalt grain, JPEG blocks)
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
    # a frame narrower than the columns searched has no edge across it to find
    if max_share <= 0.0 or width < HOOD_COLUMNS or not in_mask.any():
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

    columns = np.linspace(0, width - 1, HOOD_COLUMNS).astype(np.int64)
    # paint is never under the hood: a painted column's edge lies at or below its lowest paint
    lowest_in_column = lowest_paint(columns)
    # the edge lies within the hood's largest share of the height
    zone_top = max(_GRADIENT_ROWS, int((1.0 - max_share) * height) - _GRADIENT_ROWS)
    colour = _blurred_columns(image_bgr[zone_top - _GRADIENT_ROWS :], columns)
    # contrast at row zone_top + i: rows 2 below against rows 2 above, in the channel that differs most
    # (a hood can be as bright as the road and differ in colour only)
    contrast = np.abs(colour[2 * _GRADIENT_ROWS :] - colour[: -2 * _GRADIENT_ROWS]).max(axis=2)
    rows = zone_top + np.arange(contrast.shape[0])[:, None]
    contrast[rows < lowest_in_column[None, :] - _GRADIENT_ROWS] = 0.0
    tried: set[tuple[int, float]] = set()
    for index, (rise, strong_share) in enumerate(HOOD_SEARCHES):
        top = zone_top if rise is None else max(int(lowest - rise * height), zone_top)
        if (top, strong_share) in tried:  # the paint is so low that the wider search is the same
            continue
        tried.add((top, strong_share))
        edge = _search_edge(
            contrast[top - zone_top :],
            top,
            strong_share,
            columns,
            lowest_in_column,
            (height, width),
            beside_from,
            bonnet_shape=index > 0,
        )
        if edge is not None:
            # between the searched columns too, the edge is never above a column's paint
            return np.maximum(edge, lowest_paint(np.arange(width)))
    return None


def _search_edge(
    contrast: np.ndarray,
    top: int,
    strong_share: float,
    columns: np.ndarray,
    lowest_in_column: np.ndarray,
    size: tuple[int, int],
    beside_from: float,
    *,
    bonnet_shape: bool,
) -> np.ndarray | None:
    """One search for the hood's edge at and below row ``top`` (see :func:`find_hood`).

    Args:
        contrast: (H - 2 - top, HOOD_COLUMNS) contrast across each row from ``top`` down, in the
            searched columns, zero above their lowest paint.
        top: Highest frame row the edge may lie on.
        strong_share: A column's edge is its topmost row with this share of its strongest contrast.
        columns: (HOOD_COLUMNS,) frame columns searched.
        lowest_in_column: Their lowest paint in frame rows (-inf: none).
        size: The frame's (height, width).
        beside_from: Paint at or below this row passes beside the hood.
        bonnet_shape: Whether the edge must have a bonnet's shape (:func:`_bonnet_bend`).

    Returns:
        (W,) rows of the edge, or None when this search finds no hood.
    """
    height, width = size
    strongest = contrast.max(axis=0)
    strong = contrast >= np.maximum(HOOD_MIN_CONTRAST, strong_share * strongest)[None, :]
    found = strongest >= HOOD_MIN_CONTRAST
    if found.sum() < HOOD_MIN_COLUMNS * HOOD_COLUMNS:
        return None
    u = columns[found].astype(np.float64)
    v = (top + np.argmax(strong[:, found], axis=0)).astype(np.float64)
    on_curve = np.abs(v - _running_median(v, HOOD_SMOOTH_COLUMNS)) <= max(2.0, HOOD_TOLERANCE * height)
    if on_curve.sum() < HOOD_MIN_COLUMNS * HOOD_COLUMNS:
        return None
    u_edge, v_edge = u[on_curve], v[on_curve]
    tolerance = max(2.0, HOOD_TOLERANCE * height) + _GRADIENT_ROWS
    bend = 0.0
    if bonnet_shape:
        shape = _bonnet_bend(u_edge, v_edge, columns, lowest_in_column, width, tolerance, beside_from)
        if shape is None:
            return None
        bend = shape
    # a line reaching the bottom row passes beside the hood: the edge has come down near the bottom
    # there (beyond the curve's ends it stays at its end's row); higher up, the line runs through it
    beside = columns[lowest_in_column >= beside_from].astype(np.float64)
    if (np.interp(beside, u_edge, v_edge) < height - 1.0 - max(3.0, HOOD_BESIDE_DROP * height)).any():
        return None
    # paint ending on the edge across the road is a stop line's, not lines ending at the car; but a
    # bonnet's trim, on an edge clearly bent
    ends_on_edge = (  # False where a column has no paint (-inf)
        v_edge - lowest_in_column[found][on_curve] <= tolerance
    )
    if ends_on_edge.sum() > HOOD_MAX_LINE_COLUMNS * HOOD_COLUMNS and bend < HOOD_TRIM_BEND * tolerance:
        return None
    return np.interp(np.arange(width, dtype=np.float64), u_edge, v_edge)


def _bonnet_bend(
    u_edge: np.ndarray,
    v_edge: np.ndarray,
    columns: np.ndarray,
    lowest_in_column: np.ndarray,
    width: int,
    tolerance: float,
    beside_from: float,
) -> float | None:
    """How much lower an edge's sides lie than its middle (rows), when its columns ``(u_edge, v_edge)``
    lie on a bonnet: one parabola across the frame, highest in the middle or flat, with no line's paint
    (but a line's beside the hood) ending farther below it than ``HOOD_BONNET_FIT`` times ``tolerance``;
    None when they do not."""
    across = (u_edge - width / 2.0) / (width / 2.0)
    parabola = np.polyfit(across, v_edge, 2)
    residual = float(np.sqrt(np.mean((v_edge - np.polyval(parabola, across)) ** 2)))
    painted = np.isfinite(lowest_in_column) & (lowest_in_column < beside_from)
    below = lowest_in_column[painted] - np.polyval(parabola, (columns[painted] - width / 2.0) / (width / 2.0))
    limit = HOOD_BONNET_FIT * tolerance
    # image rows grow downwards: a bonnet's sides lie lower than its middle (a bend of 0 or more)
    if parabola[0] < -tolerance or residual > limit or (below > limit).any():
        return None
    return float(parabola[0])


def _blurred_columns(image_bgr: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(H, len(columns), 3) float32: ``image_bgr`` under a 5x5 Gaussian blur, in ``columns`` only.

    The same as ``cv2.GaussianBlur(image, (5, 5), 0)[:, columns]`` (borders reflected the same way), at
    a small part of its cost: the hood's search reads 64 columns of a wide frame.
    """
    width = image_bgr.shape[1]
    kernel = cv2.getGaussianKernel(_BLUR_TAPS, 0).astype(np.float32)
    # each column's neighbours, reflected at the frame's sides as OpenCV's default border does
    # (BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... w-2 w-1 | w-2 ...)
    period = max(2 * (width - 1), 1)
    near = np.abs(columns[:, None] + np.arange(_BLUR_TAPS) - _BLUR_TAPS // 2) % period
    near = np.where(near > width - 1, period - near, near)
    across = np.einsum("rctk,t->rck", image_bgr[:, near].astype(np.float32), kernel[:, 0])
    rows, count, channels = across.shape
    down = cv2.sepFilter2D(across.reshape(rows, count * channels), -1, np.ones(1, np.float32), kernel)
    return down.reshape(rows, count, channels)


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
