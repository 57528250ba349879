"""Lane paint in the mask: sampled rows, runs of paint in them, runs linked into tracklets, and the
tracklets' samples on the extraction plane (steps 1-2 of :mod:`seg_perception.postprocess.lanes`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from seg_perception.postprocess.lanes.plane import ExtractionPlane
from seg_perception.postprocess.lanes.settings import LaneSettings

# A blob of paint counts as this many samples at its centre: alone it stays below a line's
# min_samples (3), as a fleck of paint does, while two blobs in a row (a far line's dashes) make one.
BLOB_SAMPLES = 2
# Tracklets this long along the road (metres, or the pseudo-ground's units) say which way the road
# runs in the plane: shorter ones (a dash seen far off, a blob) have noisy or ray-like directions.
HEADING_MIN_SPAN = 4.0
# ... if they agree: their slopes' length-weighted mean distance from the median at most this (about 3 deg).
# Paint that fans out (stripes straight up the image, rays on the plane) has no one heading.
HEADING_MAX_SPREAD = 0.05


def sample_rows(paint: np.ndarray, target: int) -> np.ndarray:
    """Rows to scan, ascending: ``target`` over the height at the bottom, denser towards the
    topmost paint (far away, where a dash spans few rows), every row there."""
    height = paint.shape[0]
    painted = np.flatnonzero(paint.any(axis=1))
    if painted.size == 0:
        return np.zeros(0, np.int64)
    return _rows_from(int(painted[0]), height, target)


@functools.lru_cache(maxsize=1024)
def _rows_from(top: int, height: int, target: int) -> np.ndarray:
    """:func:`sample_rows` for paint from row ``top`` down (read-only; the same few per camera)."""
    bottom = height - 1
    base = max(1.0, height / target)
    rows, v = [], float(bottom)
    while v >= top:
        rows.append(round(v))
        fraction = (v - top) / max(bottom - top, 1)
        v -= max(1.0, base * (0.25 + 0.75 * fraction))
    sampled = np.unique(np.asarray(rows, dtype=np.int64))
    sampled.flags.writeable = False
    return sampled


def row_runs(binary_rows: np.ndarray, max_hole: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row_index, start, end)`` of the runs of each row (end exclusive), holes <= ``max_hole`` closed.

    From the painted pixels alone (``cv2.findNonZero``, row-major), not from every pixel of
    the rows: a run starts at a pixel whose left neighbour in its row is more than
    ``max_hole`` pixels away.
    """
    pixels = cv2.findNonZero(np.ascontiguousarray(binary_rows, dtype=np.uint8))
    if pixels is None or len(pixels) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    points = pixels.reshape(-1, 2).astype(np.int64)  # (x, y), row-major
    columns, rows = points[:, 0], points[:, 1]
    starts_here = np.ones(len(columns), bool)
    starts_here[1:] = (rows[1:] != rows[:-1]) | (columns[1:] - columns[:-1] > max_hole + 1)
    first = np.flatnonzero(starts_here)
    last = np.r_[first[1:], len(columns)] - 1
    return rows[first], columns[first], columns[last] + 1


def link_tracklets(
    rows: np.ndarray, runs: tuple[np.ndarray, np.ndarray, np.ndarray], step: float, pixel: float
) -> list[list[int]]:
    """Link runs row by row from the bottom up; a tracklet ends after two rows without a run.

    ``runs`` are ``(row index, left edge, right edge)`` (right edge exclusive) in frame pixels,
    ordered by row and then column (as ``np.nonzero`` gives them); ``step`` is the frame-pixel
    distance between sampled rows, ``pixel`` the width of a mask pixel. A tracklet is the list of
    its runs' indices, from the bottom up.

    Plain Python floats and lists throughout: a frame has a few hundred runs, where the per-call
    cost of NumPy (and of NumPy scalars) would be most of the time.
    """
    row_index, starts, ends = runs
    # runs of sampled row i: first[i] .. first[i + 1] - 1
    first = np.searchsorted(row_index, np.arange(len(rows) + 1)).tolist()
    lefts, rights, row_v = starts.tolist(), ends.tolist(), rows.tolist()
    centres = [(left + right) / 2.0 - 0.5 for left, right in zip(lefts, rights, strict=True)]
    run_v = [row_v[i] for i in row_index.tolist()]
    slack = 2.0 * step + pixel
    active: list[list[int]] = []
    idle: list[int] = []  # rows since each active tracklet was last seen
    done: list[list[int]] = []
    for row_i in range(len(row_v) - 1, -1, -1):
        v = row_v[row_i]
        lo, hi = first[row_i], first[row_i + 1]
        if lo == hi and not active:
            continue
        pairs = _candidate_links(active, range(lo, hi), v, (centres, lefts, rights, run_v), slack)
        taken: set[int] = set()
        used_tracks: set[int] = set()
        for _, k, track_i in pairs:
            if k in taken or track_i in used_tracks:
                continue
            taken.add(k)
            used_tracks.add(track_i)
            active[track_i].append(k)
        next_active: list[list[int]] = []
        next_idle: list[int] = []
        for track_i, track in enumerate(active):
            if track_i in used_tracks:
                next_active.append(track)
                next_idle.append(0)
            elif idle[track_i] + 1 <= 2:
                next_active.append(track)
                next_idle.append(idle[track_i] + 1)
            else:
                done.append(track)
        for k in range(lo, hi):
            if k not in taken:
                next_active.append([k])
                next_idle.append(0)
        active, idle = next_active, next_idle
    done.extend(active)
    return done


def _candidate_links(
    active: list[list[int]],
    row_runs: range,
    v: float,
    table: tuple[list[float], list[int], list[int], list[float]],
    slack: float,
) -> list[tuple[float, int, int]]:
    """``(distance, run, track)`` for every run of this row near a track's predicted centre, nearest first.

    ``table``: every run's centre, left and right edge and row (frame pixels).
    """
    if not row_runs or not active:
        return []
    centres, lefts, rights, run_v = table
    predicted = []
    widths = []
    for track in active:  # each track's prediction and width once per row, not once per run
        last = track[-1]
        if len(track) >= 3:
            third = track[-3]
            slope = (centres[last] - centres[third]) / (run_v[last] - run_v[third])
            predicted.append(centres[last] + slope * (v - run_v[last]))
        else:
            predicted.append(centres[last])
        widths.append(rights[last] - lefts[last])
    pairs = []
    for k in row_runs:
        u, run_width = centres[k], rights[k] - lefts[k]
        for track_i, track_u in enumerate(predicted):
            distance = abs(track_u - u)
            width = widths[track_i]
            if distance <= slack + 0.75 * (run_width if run_width >= width else width):
                pairs.append((distance, k, track_i))
    pairs.sort()
    return pairs


def stripe_samples(
    image_bgr: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    settings: LaneSettings,
) -> np.ndarray:
    """Per paint sample (centre ``u``, row ``v``, run edges ``left``/``right``, frame pixels): whether
    the image there is a bright stripe, brighter (HSV value) than the ground one run width beyond
    each edge by at least ``settings.stripe_contrast``."""
    height, width = image_bgr.shape[:2]
    gap = np.maximum(right - left, 2.0)
    rows_ = np.clip(np.round(v).astype(np.int64), 0, height - 1)

    def value(columns: np.ndarray) -> np.ndarray:
        cols = np.clip(np.round(columns).astype(np.int64), 0, width - 1)
        return image_bgr[rows_, cols].max(axis=-1).astype(np.float32)

    centre, outside_left, outside_right = value(u), value(left - 0.5 - gap), value(right - 0.5 + gap)
    return (centre - np.maximum(outside_left, outside_right)) >= settings.stripe_contrast


def unresolved_blobs(
    samples: tuple[np.ndarray, np.ndarray, np.ndarray],
    xy: np.ndarray,
    weights: np.ndarray,
    starts: np.ndarray,
    plane: ExtractionPlane,
    ratio: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which tracklets are blobs of paint the sampled rows cannot resolve, and each tracklet's centre.

    A line along the road at lateral offset y crosses the image by a number of columns per row that
    grows with y; far to the side, many more than a far dash that the model draws a few pixels wide
    is long. Every row then cuts the dash at its centre, and the samples line up along the camera's
    ray instead of the line: only their centre is a point of the line.

    "Along the road" is along the frame's long tracklets (:func:`road_slope`), not the car's axis:
    in a lane change the car heads across the road, and the line it crosses runs from under the
    car along a ray of the camera, keeping one column, as a blob does; measured from the road's
    direction it lies at no offset and crosses no columns, so it stays a line.

    Args:
        samples: Per sample (tracklet after tracklet), its run's centre ``u``, row ``v`` and width
            (frame pixels).
        xy: Per sample, its point on the plane.
        weights: Per sample, its weight.
        starts: Index of each tracklet's first sample (every tracklet has one at least).
        plane: The frame's extraction plane.
        ratio: A tracklet is a blob when its run centres move by less than this share of the columns
            a line along the road at its offset would cross over its rows, and that is more than its
            runs are wide.

    Returns:
        A blob flag per tracklet, and per tracklet the centre of its samples in the image mapped to
        the plane (``(n, 2)``, NaN where the plane has no point).
    """
    u, v, widths = samples
    counts = np.diff(np.r_[starts, len(u)])
    shift = np.maximum.reduceat(u, starts) - np.minimum.reduceat(u, starts)
    near, far = np.minimum.reduceat(xy[:, 0], starts), np.maximum.reduceat(xy[:, 0], starts)
    total = np.add.reduceat(weights, starts)
    lateral = np.add.reduceat(xy[:, 1] * weights, starts) / total
    along = np.add.reduceat(xy[:, 0] * weights, starts) / total
    slope = road_slope(xy, starts)
    offset = lateral - slope * along  # where a line along the road through the tracklet passes the car
    ends = plane.to_image(
        np.column_stack([np.r_[near, far], np.r_[offset + slope * near, offset + slope * far]])
    )
    along_road = np.abs(ends[: len(starts), 0] - ends[len(starts) :, 0])
    centres = plane.to_plane(
        np.column_stack([np.add.reduceat(u, starts) / counts, np.add.reduceat(v, starts) / counts])
    )
    with np.errstate(invalid="ignore"):  # NaN where an end has no image point: not a blob
        blob = (
            (counts >= 2)
            & (shift < ratio * along_road)
            & (along_road > np.add.reduceat(widths, starts) / counts)
            & np.isfinite(centres).all(axis=1)
        )
    return blob, centres


def road_slope(xy: np.ndarray, starts: np.ndarray) -> float:
    """Which way the road runs on the plane: the lateral change per unit ahead (``dy / dx``) that
    the frame's long tracklets share, their median weighted by length (0, the car's axis, when
    none is :data:`HEADING_MIN_SPAN` long, or when they fan out by more than
    :data:`HEADING_MAX_SPREAD`).

    Args:
        xy: Per sample, its point on the plane, tracklet after tracklet.
        starts: Index of each tracklet's first sample.
    """
    if len(xy) == 0:
        return 0.0
    x, y = xy[:, 0], xy[:, 1]
    counts = np.diff(np.r_[starts, len(xy)])
    spans = np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts)
    # every tracklet's least-squares slope at once (the node runs this each frame)
    mean_x = np.add.reduceat(x, starts) / counts
    mean_y = np.add.reduceat(y, starts) / counts
    dx = x - np.repeat(mean_x, counts)
    covariance = np.add.reduceat(dx * (y - np.repeat(mean_y, counts)), starts)
    variance = np.add.reduceat(dx * dx, starts)
    long = (counts >= 3) & (spans >= HEADING_MIN_SPAN)
    if not long.any():
        return 0.0
    values, weights = covariance[long] / variance[long], spans[long]
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    median = float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])
    spread = float(np.sum(weights * np.abs(values - median)) / cumulative[-1])
    return median if spread <= HEADING_MAX_SPREAD else 0.0


@dataclass(frozen=True)
class Tracklets:
    """A frame's paint as row runs linked into tracklets; every tracklet's runs one after the other."""

    lengths: list[int]  # runs per tracklet
    u: np.ndarray  # run centres (frame pixels)
    v: np.ndarray  # their rows
    left: np.ndarray  # run edges
    right: np.ndarray
    rows: np.ndarray  # the sampled rows (frame pixels)
    spacing: np.ndarray  # frame pixels between each sampled row and the next one


@dataclass(frozen=True)
class GroundSamples:
    """Per tracklet (those with usable runs), its samples on the extraction plane."""

    samples: list[np.ndarray]  # (n, 2) plane (x, y)
    weights: list[np.ndarray]  # (n,) nearer ground weighs more
    spans: list[tuple[float, float]]  # the stretch of ground its rows stand for
    reach: list[np.ndarray]  # per sample (n, 2): the near and far end of the ground its row stands for
    kept: list[tuple[np.ndarray, np.ndarray]]  # the samples' frame pixels (u, v)
    stripes: list[np.ndarray] | None  # per sample: on a bright stripe (the stripe check); None: unchecked
    transverse_found: bool  # some run crossed transverse paint (a stop line may be in view)
