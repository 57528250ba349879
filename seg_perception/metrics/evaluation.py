"""Accuracy of predicted masks, polygons and parking slots against ground truth (NumPy only).

- Pixels: the confusion matrix of :mod:`seg_perception.metrics.segmentation` → pixel accuracy,
  per-class IoU, mIoU.
- Polygons: per class, predicted and true polygons are rasterised (filled) at the image
  size; IoU = Σ|P ∩ T| / Σ|P ∪ T| over all frames (a class absent from both: NaN).
- Parking slots: scored on their **entrance corners** (``0`` and ``1``): the back corners of a
  slot often lie outside the AVM view (the generator's truth extends past the image edge while
  a detected slot stops at it), and the entrance is what a parking planner needs. A predicted
  slot matches a true one when both entrance corners lie within ``threshold_px`` of the true
  ones, in either order. Only **free** true slots are scored: slots are detected from
  free-slot regions, so an occupied slot is not something the detector should report. Slots
  are paired one-to-one by the Hungarian method on the mean entrance-corner distance.
  Precision = matches / predicted slots, recall = matches / free true slots, corner error =
  mean distance over the matched entrance corners.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.metrics.segmentation import SegmentationMetrics, mean_iou, per_class_iou, pixel_accuracy

ENTRANCE_ORDERINGS = ((0, 1), (1, 0))
_INFEASIBLE = 1e9


def rasterize(polygons: Sequence[Polygon], class_id: int, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: pixels inside any polygon of ``class_id``."""
    canvas = np.zeros(shape, dtype=np.uint8)
    contours = [
        np.round(p.points).astype(np.int32).reshape(-1, 1, 2)
        for p in polygons
        if p.class_id == class_id and len(p.points) >= 3
    ]
    if contours:
        cv2.fillPoly(canvas, contours, 1)
    return canvas.astype(bool)


def corner_distances(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(2,) entrance-corner distances of the better order (smallest maximum, then mean)."""
    true_entrance = np.asarray(true, float)[:2]
    candidates = [
        np.linalg.norm(np.asarray(predicted, float)[list(order)] - true_entrance, axis=1)
        for order in ENTRANCE_ORDERINGS
    ]
    return min(candidates, key=lambda d: (float(d.max()), float(d.mean())))


def match_slots(
    predicted: Sequence[ParkingSlot], true: Sequence[ParkingSlot], *, threshold_px: float
) -> list[tuple[int, int, np.ndarray]]:
    """One-to-one matches ``(pred_index, true_index, corner_distances)`` within the threshold."""
    if not predicted or not true:
        return []
    distances = [[corner_distances(p.corners, t.corners) for t in true] for p in predicted]
    cost = np.array(
        [[d.mean() if d.max() <= threshold_px else _INFEASIBLE for d in row] for row in distances]
    )
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(r), int(c), distances[r][c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _INFEASIBLE
    ]


@dataclass
class EvaluationAccumulator:
    """Accumulates every metric over frames; :meth:`report` gives the result.

    Attributes:
        class_names: Scenario class names, index = class id.
        threshold_px: Slot corner threshold in pixels.
        metres_per_pixel: Scale for metric reporting (0: pixels only).
    """

    class_names: Sequence[str]
    threshold_px: float
    metres_per_pixel: float = 0.0
    frames: int = 0
    pixels: SegmentationMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.pixels = SegmentationMetrics(list(self.class_names))
        count = len(self.class_names)
        self._poly_intersection = np.zeros(count, dtype=np.int64)
        self._poly_union = np.zeros(count, dtype=np.int64)
        self._poly_frames = 0
        self._slot_predicted = 0
        self._slot_true = 0
        self._slot_matched = 0
        self._corner_errors: list[np.ndarray] = []
        self._slot_frames = 0

    def update(
        self,
        *,
        true_mask: np.ndarray,
        predicted_mask: np.ndarray,
        true_polygons: Sequence[Polygon] | None = None,
        predicted_polygons: Sequence[Polygon] | None = None,
        true_slots: Sequence[ParkingSlot] | None = None,
        predicted_slots: Sequence[ParkingSlot] | None = None,
    ) -> None:
        """Add one frame; polygon and slot metrics only when both sides are given."""
        if true_mask.shape != predicted_mask.shape:
            raise ValueError(f"mask sizes differ: truth {true_mask.shape}, prediction {predicted_mask.shape}")
        self.frames += 1
        self.pixels.update(true_mask, predicted_mask)
        if true_polygons is not None and predicted_polygons is not None:
            self._poly_frames += 1
            for class_id in range(1, len(self.class_names)):
                true_area = rasterize(true_polygons, class_id, true_mask.shape)
                predicted_area = rasterize(predicted_polygons, class_id, true_mask.shape)
                self._poly_intersection[class_id] += int(np.count_nonzero(true_area & predicted_area))
                self._poly_union[class_id] += int(np.count_nonzero(true_area | predicted_area))
        if true_slots is not None and predicted_slots is not None:
            self._slot_frames += 1
            free_slots = [slot for slot in true_slots if slot.free]
            matches = match_slots(predicted_slots, free_slots, threshold_px=self.threshold_px)
            self._slot_predicted += len(predicted_slots)
            self._slot_true += len(free_slots)
            self._slot_matched += len(matches)
            self._corner_errors.extend(distances for _, _, distances in matches)

    def report(self) -> dict[str, Any]:
        """Every metric as JSON-ready values (NaN → None)."""
        confusion = self.pixels.confusion
        iou = per_class_iou(confusion)
        report: dict[str, Any] = {
            "frames": self.frames,
            "pixel_accuracy": _num(pixel_accuracy(confusion)),
            "miou": _num(mean_iou(confusion)),
            "per_class_iou": {name: _num(v) for name, v in zip(self.class_names, iou, strict=True)},
        }
        if self._poly_frames:
            with np.errstate(divide="ignore", invalid="ignore"):
                poly_iou = np.where(
                    self._poly_union > 0, self._poly_intersection / np.maximum(self._poly_union, 1), np.nan
                )
            per_class = {name: _num(poly_iou[i]) for i, name in enumerate(self.class_names) if i > 0}
            finite = [v for v in per_class.values() if v is not None]
            report["polygon_iou"] = {
                "frames": self._poly_frames,
                "per_class": per_class,
                "mean": float(np.mean(finite)) if finite else None,
            }
        if self._slot_frames:
            report["slots"] = self._slot_report()
        return report

    def _slot_report(self) -> dict[str, Any]:
        errors = np.concatenate(self._corner_errors) if self._corner_errors else np.zeros(0)
        precision = self._slot_matched / self._slot_predicted if self._slot_predicted else None
        recall = self._slot_matched / self._slot_true if self._slot_true else None
        f1 = (2 * precision * recall / (precision + recall)) if precision and recall else None
        scale = self.metres_per_pixel
        return {
            "frames": self._slot_frames,
            "predicted": self._slot_predicted,
            "true": self._slot_true,
            "matched": self._slot_matched,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "threshold_px": self.threshold_px,
            "threshold_m": self.threshold_px * scale if scale > 0 else None,
            "corner_error_px": float(errors.mean()) if errors.size else None,
            "corner_error_m": float(errors.mean() * scale) if errors.size and scale > 0 else None,
            "matching": "free true slots only; Hungarian on the mean entrance-corner distance; both "
            "entrance corners (0, 1) within the threshold, in either order",
        }


def markdown(report: dict[str, Any]) -> str:
    """A Markdown summary: per-class table, then the slot line."""
    lines = [
        f"Frames: {report['frames']}  ",
        f"mIoU: {_fmt(report['miou'])}, pixel accuracy: {_fmt(report['pixel_accuracy'])}",
        "",
        "| class | mask IoU | polygon IoU |",
        "|---|---|---|",
    ]
    polygon = report.get("polygon_iou", {}).get("per_class", {})
    for name, value in report["per_class_iou"].items():
        lines.append(f"| {name} | {_fmt(value)} | {_fmt(polygon.get(name)) if name in polygon else '-'} |")
    if "polygon_iou" in report:
        lines.append(f"| **mean** | **{_fmt(report['miou'])}** | **{_fmt(report['polygon_iou']['mean'])}** |")
    slots = report.get("slots")
    if slots:
        threshold = f"{slots['threshold_px']:.1f} px"
        if slots["threshold_m"] is not None:
            threshold += f" = {slots['threshold_m']:.2f} m"
        error = "n/a" if slots["corner_error_px"] is None else f"{slots['corner_error_px']:.2f} px"
        if slots["corner_error_m"] is not None:
            error += f" = {_fmt(slots['corner_error_m'], 3)} m"
        lines += [
            "",
            "| slots | predicted | true | matched | precision | recall | F1 | corner error | threshold |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| parking_slot | {slots['predicted']} | {slots['true']} | {slots['matched']} | "
            f"{_fmt(slots['precision'])} | {_fmt(slots['recall'])} | {_fmt(slots['f1'])} | "
            f"{error} | {threshold} |",
        ]
    return "\n".join(lines) + "\n"


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
