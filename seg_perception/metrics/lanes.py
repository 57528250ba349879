"""Lane benchmarks: TuSimple accuracy / FP / FN, CULane precision / recall / F1, and paint coverage.

Both take lanes as polylines: ``(N, 2)`` arrays of pixel coordinates ``(x, y)`` ordered
along the lane (any direction). Ground truth in the datasets' own encodings converts with
:func:`tusimple_to_polyline` (``lanes`` + ``h_samples``) or is already a polyline (CULane
``.lines.txt``, read by :mod:`seg_perception.data.lanes`).

TuSimple (``LaneEval.bench`` of the official ``lane.py``), per frame:

- each lane becomes one x per ``h_sample`` row, -2 (absent) outside its rows;
- a ground-truth lane's threshold is ``pixel_thresh / cos(angle)``, the angle being that of
  the least-squares line ``x = k y + b`` through its points (steep lanes get more slack);
- a point counts as correct when ``|x_pred - x_gt| < threshold``; a row where both are
  absent counts as correct too (the official rule); the lane's accuracy is the share over all
  rows, maximised over the predicted lanes;
- a ground-truth lane is matched when that accuracy reaches ``point_thresh`` (0.85);
  FN = unmatched ground-truth lanes, FP = predicted lanes minus matched ground-truth lanes;
- with more than 4 ground-truth lanes the worst lane's accuracy and one FN are forgiven;
  accuracy is divided by ``min(4, #gt)``, FN by ``min(4, #gt)`` and FP by ``#pred``;
- a frame with more than ``#gt + 2`` predicted lanes scores accuracy 0, FP 0 and FN 1.

The benchmark's 20-px threshold is for 1280-px-wide frames; :class:`TuSimpleMetrics` scales
it by ``image_width / 1280`` so that the same physical tolerance applies at other sizes.

CULane (``evaluate.cpp`` of the official SCNN tools): every lane is drawn as a 30-px-wide
polyline (scaled by ``image_width / 1640``), the IoU of every predicted/ground-truth pair is
computed on the pixels, the pairs are matched one-to-one maximising the total IoU, and a pair
with IoU above 0.5 is a true positive. The official tool interpolates the points with a cubic
spline first; these functions join them with straight segments, which differs by under a
pixel for the densely sampled lanes both datasets hold.

Paint coverage (:class:`PaintCoverage`) scores the segmentation itself on lane labels: the
share of labelled points with lane paint within the benchmark's threshold, and the share of the
paint within it of a labelled line. Issue-style numbers ("a lane pixel within 20 px of 27 % of the
labelled points") are these; the boundaries are what TuSimple's accuracy scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

TUSIMPLE_WIDTH = 1280
TUSIMPLE_PIXEL_THRESH = 20.0
TUSIMPLE_POINT_THRESH = 0.85
TUSIMPLE_ABSENT = -2.0
CULANE_WIDTH = 1640
CULANE_LANE_WIDTH = 30
CULANE_IOU_THRESH = 0.5
# Lines per side of the car that TuSimple and CULane label: the ego lane's two and the next one out on
# each side (TuSimple: "the current lane and the adjacent left and right lanes"; a fifth while the car
# changes lanes). Boundaries beyond them count as false positives there, however real their paint.
BENCHMARK_LANES_PER_SIDE = 2
# Frames of a TuSimple clip (20 of one second, 1.jpg ... 20.jpg, the last labelled) tracked before its
# labelled one: 10 gave what all 19 gave on 60 generated clips at 20 fps, on 11 frames a clip instead of 20
# (docs/lanes_history.md, "What eval scores on a TuSimple file").
TUSIMPLE_CONTEXT_FRAMES = 10

Polyline = np.ndarray

Values = Sequence[float] | np.ndarray  # one number per row: a list or an array


def _as_polyline(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return array[np.isfinite(array).all(axis=1)]


def polyline_to_tusimple(points: Sequence[Sequence[float]] | np.ndarray, h_samples: Values) -> np.ndarray:
    """x of a polyline at each ``h_samples`` row (linear between vertices), -2 outside its rows.

    Where the polyline crosses a row more than once (it should not: lanes are one x per row),
    the first crossing along the polyline wins.
    """
    line = _as_polyline(points)
    rows = np.asarray(h_samples, dtype=np.float64)
    out = np.full(rows.shape, TUSIMPLE_ABSENT)
    if len(line) < 2:
        if len(line) == 1:
            out[np.isclose(rows, line[0, 1], atol=0.5)] = line[0, 0]
        return out
    filled = np.zeros(rows.shape, bool)
    for (x0, y0), (x1, y1) in itertools.pairwise(line):
        lo, hi = min(y0, y1), max(y0, y1)
        hit = (~filled) & (rows >= lo) & (rows <= hi)
        if not hit.any():
            continue
        if hi - lo < 1e-9:
            out[hit] = (x0 + x1) / 2.0
        else:
            out[hit] = x0 + (rows[hit] - y0) * (x1 - x0) / (y1 - y0)
        filled |= hit
    return out


def tusimple_min_rows(rows: int, point_thresh: float = TUSIMPLE_POINT_THRESH) -> int:
    """The fewest of ``rows`` h_samples rows a lane must cross for TuSimple's line accuracy to need a
    prediction near it.

    The benchmark counts a row on which both lines are absent as a correct one, so a lane on fewer
    rows than this reaches ``point_thresh`` with a prediction on another row that skips all of its
    rows: a far stub of three rows "matches" a stub 150 px away, and several such lanes match one
    prediction (an FP rate below 0). TuSimple's own labels are long; the generator's truth and labels
    leave shorter lanes out.
    """
    # k lane rows and one prediction row, disjoint: accuracy (rows - k - 1) / rows >= point_thresh
    return max(1, int(np.floor((1.0 - point_thresh) * rows + 1e-9)))


def tusimple_rows(points: Sequence[Sequence[float]] | np.ndarray, h_samples: Values) -> int:
    """How many ``h_samples`` rows a polyline crosses."""
    return int(np.count_nonzero(polyline_to_tusimple(points, h_samples) >= 0))


def tusimple_to_polyline(xs: Sequence[float], h_samples: Sequence[float]) -> np.ndarray:
    """``(N, 2)`` points ``(x, y)`` of a TuSimple lane (rows with x < 0 dropped)."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(h_samples, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"a TuSimple lane has {x.size} x values but there are {y.size} h_samples")
    keep = x >= 0
    return np.stack([x[keep], y[keep]], axis=1)


def tusimple_angle(xs: Values, h_samples: Values) -> float:
    """Angle (radians from vertical) of the least-squares line ``x = k y + b`` through a lane."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(h_samples, dtype=np.float64)
    keep = x >= 0
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(y) == 0:
        return 0.0
    slope = np.polyfit(y, x, 1)[0]
    return float(np.arctan(slope))


@dataclass(frozen=True)
class TuSimpleFrame:
    """TuSimple scores of one frame (already normalised as the benchmark does)."""

    accuracy: float
    fp: float
    fn: float
    matched: int
    num_pred: int
    num_gt: int
    # (true lane, predicted lane) index pairs of the matched lines, each true lane's best prediction
    pairs: tuple[tuple[int, int], ...] = ()


def tusimple_frame(
    pred_xs: Sequence[Values],
    gt_xs: Sequence[Values],
    h_samples: Values,
    *,
    pixel_thresh: float = TUSIMPLE_PIXEL_THRESH,
    point_thresh: float = TUSIMPLE_POINT_THRESH,
) -> TuSimpleFrame:
    """Score one frame given lanes as x per ``h_samples`` row (-2 where absent), as the benchmark does.

    Raises:
        ValueError: a lane does not have one value per ``h_samples`` row.
    """
    rows = np.asarray(h_samples, dtype=np.float64)
    pred = [np.asarray(p, dtype=np.float64) for p in pred_xs]
    gt = [np.asarray(g, dtype=np.float64) for g in gt_xs]
    for lane in (*pred, *gt):
        if lane.shape != rows.shape:
            raise ValueError(f"a lane has {lane.size} x values but there are {rows.size} h_samples")
    if len(pred) > len(gt) + 2:
        return TuSimpleFrame(0.0, 0.0, 1.0, 0, len(pred), len(gt))
    if not gt:  # the official code scores such a frame accuracy 0; TuSimple frames always hold lanes
        return TuSimpleFrame(0.0, 1.0 if pred else 0.0, 0.0, 0, len(pred), 0)

    def coded(lane: np.ndarray) -> np.ndarray:
        return np.where(lane >= 0, lane, -100.0)

    line_accuracies, pairs = [], []
    for index, lane in enumerate(gt):
        thresh = pixel_thresh / np.cos(tusimple_angle(lane, rows))
        accuracies = [float(np.mean(np.abs(coded(p) - coded(lane)) < thresh)) for p in pred]
        best = max(accuracies, default=0.0)
        if best >= point_thresh:
            pairs.append((index, int(np.argmax(accuracies))))
        line_accuracies.append(best)
    matched = len(pairs)
    fn = len(gt) - matched
    if len(gt) > 4 and fn > 0:
        fn -= 1
    total = sum(line_accuracies)
    if len(gt) > 4:
        total -= min(line_accuracies)
    denominator = max(min(4.0, len(gt)), 1.0)
    return TuSimpleFrame(
        accuracy=total / denominator,
        fp=(len(pred) - matched) / len(pred) if pred else 0.0,
        fn=fn / denominator,
        matched=matched,
        num_pred=len(pred),
        num_gt=len(gt),
        pairs=tuple(pairs),
    )


class TuSimpleMetrics:
    """Accumulates TuSimple accuracy, FP and FN (means over frames) from polylines.

    Example:
        >>> metrics = TuSimpleMetrics()
        >>> metrics.update(predicted_polylines, gt_polylines, h_samples, image_width=1280)
        >>> metrics.summary()["accuracy"]
    """

    def __init__(
        self,
        *,
        pixel_thresh: float = TUSIMPLE_PIXEL_THRESH,
        point_thresh: float = TUSIMPLE_POINT_THRESH,
        reference_width: int = TUSIMPLE_WIDTH,
    ) -> None:
        self.pixel_thresh = pixel_thresh
        self.point_thresh = point_thresh
        self.reference_width = reference_width
        self.frames: list[TuSimpleFrame] = []

    def update(
        self,
        pred_lanes: Sequence[np.ndarray],
        gt_lanes: Sequence[np.ndarray],
        h_samples: Values,
        *,
        image_width: int = TUSIMPLE_WIDTH,
    ) -> TuSimpleFrame:
        """Score one frame; lanes are polylines ``(N, 2)`` of pixel ``(x, y)`` in an ``image_width`` frame.

        The returned frame's ``pairs`` index ``gt_lanes`` and ``pred_lanes`` as given.
        """
        pred_all = [polyline_to_tusimple(p, h_samples) for p in pred_lanes]
        gt_all = [polyline_to_tusimple(g, h_samples) for g in gt_lanes]
        pred_kept = [k for k, p in enumerate(pred_all) if (p >= 0).any()]  # a lane on no row is none
        gt_kept = [k for k, g in enumerate(gt_all) if (g >= 0).any()]
        frame = tusimple_frame(
            [pred_all[k] for k in pred_kept],
            [gt_all[k] for k in gt_kept],
            h_samples,
            pixel_thresh=self.pixel_thresh * image_width / self.reference_width,
            point_thresh=self.point_thresh,
        )
        frame = replace(frame, pairs=tuple((gt_kept[g], pred_kept[p]) for g, p in frame.pairs))
        self.frames.append(frame)
        return frame

    def summary(self) -> dict[str, float | int]:
        """``accuracy``, ``fp``, ``fn`` (means over frames, NaN before any frame) and ``frames``."""
        if not self.frames:
            return {"accuracy": float("nan"), "fp": float("nan"), "fn": float("nan"), "frames": 0}
        return {
            "accuracy": float(np.mean([f.accuracy for f in self.frames])),
            "fp": float(np.mean([f.fp for f in self.frames])),
            "fn": float(np.mean([f.fn for f in self.frames])),
            "frames": len(self.frames),
        }


@dataclass(frozen=True)
class PaintFrame:
    """Pixel-level counts of one frame for :class:`PaintCoverage`."""

    points: int
    points_near_paint: int
    paint_pixels: int
    paint_on_lines: int


class PaintCoverage:
    """How much of the labelled lines the lane class covers, and how much of the lane class lies on them.

    The segmentation's own score on lane labels, before any boundary is drawn: a labelled point
    (a lane's x at an ``h_samples`` row) is covered when a paint pixel lies within the threshold
    (Euclidean); a paint pixel is on a line when a labelled line's polyline lies within the
    threshold. Only the rows the labels span are counted (``h_samples``' first to last): TuSimple
    labels nothing above its first row, so paint there (the sky, the far road) is neither right
    nor wrong. Both are pooled over the frames (points, and pixels). The threshold is the
    benchmark's 20 px for 1280-px-wide frames, scaled to the frame's width like
    :class:`TuSimpleMetrics`'.

    Example:
        >>> coverage = PaintCoverage()
        >>> coverage.update(mask == lane_class, gt_polylines, h_samples)
        >>> coverage.summary()["point_recall"]
    """

    def __init__(
        self, *, pixel_thresh: float = TUSIMPLE_PIXEL_THRESH, reference_width: int = TUSIMPLE_WIDTH
    ) -> None:
        self.pixel_thresh = pixel_thresh
        self.reference_width = reference_width
        self.frames: list[PaintFrame] = []

    def update(self, paint: np.ndarray, gt_lanes: Sequence[np.ndarray], h_samples: Values) -> PaintFrame:
        """Score one frame: ``paint`` an ``(H, W)`` mask at the labels' frame size (nonzero: lane paint)."""
        paint = np.asarray(paint).astype(bool)
        height, width = paint.shape
        thresh = self.pixel_thresh * width / self.reference_width
        rows = np.asarray(h_samples, dtype=np.float64)
        top = int(np.clip(np.floor(rows.min()), 0, height)) if rows.size else 0
        bottom = int(np.clip(np.ceil(rows.max()) + 1, 0, height)) if rows.size else 0
        # distance of every pixel to the nearest paint pixel (no paint: infinitely far)
        if paint.any():
            to_paint = cv2.distanceTransform((~paint).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        else:
            to_paint = np.full(paint.shape, np.inf, np.float32)
        points = near = 0
        lines = np.zeros(paint.shape, bool)
        for lane in gt_lanes:
            xs = polyline_to_tusimple(lane, h_samples)
            keep = (xs >= 0) & (xs <= width - 1) & (rows >= 0) & (rows <= height - 1)
            u = np.round(xs[keep]).astype(np.int64)
            v = np.round(rows[keep]).astype(np.int64)
            points += len(u)
            near += int(np.count_nonzero(to_paint[v, u] <= thresh))
            lines |= rasterize_lane(lane, paint.shape, 1)
        band = paint[top:bottom]
        if lines.any():
            to_line = cv2.distanceTransform((~lines).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            to_line = to_line[top:bottom]
            on_lines = int(np.count_nonzero(band & (to_line <= thresh)))
        else:
            on_lines = 0
        frame = PaintFrame(points, near, int(np.count_nonzero(band)), on_lines)
        self.frames.append(frame)
        return frame

    def summary(self) -> dict[str, float | int]:
        """``point_recall`` (labelled points with paint near them), ``pixel_precision`` (paint pixels
        near a labelled line; NaN without paint), their counts and ``frames``."""
        points = sum(f.points for f in self.frames)
        near = sum(f.points_near_paint for f in self.frames)
        pixels = sum(f.paint_pixels for f in self.frames)
        on_lines = sum(f.paint_on_lines for f in self.frames)
        return {
            "point_recall": near / points if points else float("nan"),
            "pixel_precision": on_lines / pixels if pixels else float("nan"),
            "points": points,
            "paint_pixels": pixels,
            "frames": len(self.frames),
        }


def rasterize_lane(
    points: Sequence[Sequence[float]] | np.ndarray, shape: tuple[int, int], width: int
) -> np.ndarray:
    """Boolean ``shape`` mask of a polyline drawn ``width`` pixels wide (as the CULane tool does)."""
    mask = np.zeros(shape, np.uint8)
    line = _as_polyline(points)
    if len(line) >= 2:
        cv2.polylines(mask, [np.round(line).astype(np.int32)], False, 1, int(max(1, width)))
    elif len(line) == 1:
        cv2.circle(mask, tuple(int(v) for v in np.round(line[0])), int(max(1, width)) // 2, 1, -1)
    return mask.astype(bool)


def lane_ious(
    pred_lanes: Sequence[np.ndarray], gt_lanes: Sequence[np.ndarray], shape: tuple[int, int], width: int
) -> np.ndarray:
    """``(#pred, #gt)`` IoU of every pair of lanes rasterised ``width`` pixels wide."""
    pred_masks = [rasterize_lane(p, shape, width).reshape(-1) for p in pred_lanes]
    gt_masks = [rasterize_lane(g, shape, width).reshape(-1) for g in gt_lanes]
    ious = np.zeros((len(pred_masks), len(gt_masks)))
    for i, p in enumerate(pred_masks):
        for j, g in enumerate(gt_masks):
            union = np.count_nonzero(p | g)
            ious[i, j] = np.count_nonzero(p & g) / union if union else 0.0
    return ious


def max_weight_matching(weights: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs maximising the summed weight (Hungarian algorithm, O(n³))."""
    rows, cols = weights.shape
    if rows == 0 or cols == 0:
        return []
    transposed = rows > cols
    cost = -(weights.T if transposed else weights)
    n, m = cost.shape  # n <= m
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=int)  # owner[j] = 1-based row assigned to column j
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        min_to = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            delta, j1 = np.inf, 0
            for j in range(1, m + 1):
                if used[j]:
                    continue
                current = cost[i0 - 1, j - 1] - u[i0] - v[j]
                if current < min_to[j]:
                    min_to[j], way[j] = current, j0
                if min_to[j] < delta:
                    delta, j1 = min_to[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    min_to[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    pairs = [(int(owner[j]) - 1, j - 1) for j in range(1, m + 1) if owner[j]]
    return sorted((c, r) if transposed else (r, c) for r, c in pairs)


@dataclass(frozen=True)
class CULaneFrame:
    """True positives, false positives and false negatives of one frame."""

    tp: int
    fp: int
    fn: int


def culane_frame(
    pred_lanes: Sequence[np.ndarray],
    gt_lanes: Sequence[np.ndarray],
    shape: tuple[int, int],
    *,
    lane_width: int = CULANE_LANE_WIDTH,
    iou_thresh: float = CULANE_IOU_THRESH,
) -> CULaneFrame:
    """Match lanes one-to-one by IoU of ``lane_width``-px-wide drawings; IoU > ``iou_thresh`` is a TP."""
    pred = [_as_polyline(p) for p in pred_lanes]
    gt = [_as_polyline(g) for g in gt_lanes]
    pred = [p for p in pred if len(p)]
    gt = [g for g in gt if len(g)]
    if not pred or not gt:
        return CULaneFrame(0, len(pred), len(gt))
    ious = lane_ious(pred, gt, shape, lane_width)
    tp = sum(ious[r, c] > iou_thresh for r, c in max_weight_matching(ious))
    return CULaneFrame(int(tp), len(pred) - int(tp), len(gt) - int(tp))


class CULaneMetrics:
    """Accumulates CULane TP / FP / FN over frames; ``summary`` gives precision, recall and F1.

    The 30-px lane width is for 1640-px-wide frames and scales with ``image_width``.
    """

    def __init__(
        self,
        *,
        lane_width: int = CULANE_LANE_WIDTH,
        iou_thresh: float = CULANE_IOU_THRESH,
        reference_width: int = CULANE_WIDTH,
    ) -> None:
        self.lane_width = lane_width
        self.iou_thresh = iou_thresh
        self.reference_width = reference_width
        self.tp = self.fp = self.fn = 0
        self.frames = 0

    def update(
        self, pred_lanes: Sequence[np.ndarray], gt_lanes: Sequence[np.ndarray], shape: tuple[int, int]
    ) -> CULaneFrame:
        """Score one frame of ``shape`` = (height, width); lanes are ``(N, 2)`` pixel polylines."""
        width = max(1, round(self.lane_width * shape[1] / self.reference_width))
        frame = culane_frame(pred_lanes, gt_lanes, shape, lane_width=width, iou_thresh=self.iou_thresh)
        self.tp += frame.tp
        self.fp += frame.fp
        self.fn += frame.fn
        self.frames += 1
        return frame

    def summary(self) -> dict[str, float | int]:
        """``precision``, ``recall``, ``f1`` (NaN when undefined), ``tp``, ``fp``, ``fn`` and ``frames``."""
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        f1 = 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else float("nan")
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "frames": self.frames,
        }


def format_lane_metrics(
    tusimple: dict[str, float | int] | None,
    culane: dict[str, float | int] | None,
    paint: dict[str, float | int] | None = None,
) -> str:
    """Human-readable lines for the summaries of :class:`TuSimpleMetrics`, :class:`CULaneMetrics` and
    :class:`PaintCoverage`."""
    lines = []
    if tusimple is not None:
        lines.append(
            f"TuSimple  accuracy {tusimple['accuracy']:.4f}  FP {tusimple['fp']:.4f}  FN {tusimple['fn']:.4f}"
            f"  ({tusimple['frames']} frames)"
        )
    if paint is not None:
        lines.append(
            f"paint     {100 * paint['point_recall']:.1f} % of the labelled points have lane paint within "
            f"the threshold; {100 * paint['pixel_precision']:.1f} % of the paint lies on a labelled line"
            f"  ({paint['points']} points, {paint['paint_pixels']} paint pixels)"
        )
    if culane is not None:
        lines.append(
            f"CULane    F1 {culane['f1']:.4f}  precision {culane['precision']:.4f}"
            f"  recall {culane['recall']:.4f}"
            f"  (TP {culane['tp']}, FP {culane['fp']}, FN {culane['fn']}; {culane['frames']} frames)"
        )
    return "\n".join(lines)
