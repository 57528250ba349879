"""Segmentation metrics from a confusion matrix (NumPy only, so ONNX eval needs no torch).

``confusion[t, p]`` counts pixels of ground-truth class ``t`` predicted as ``p``.
Per-class IoU = TP / (TP + FP + FN). A class absent from both the ground truth and the
prediction has ``TP + FP + FN == 0``: its IoU is undefined, reported as NaN, and left out
of the mean (mIoU = nanmean). A class present in the ground truth but never predicted
correctly scores 0 and counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = 255


def confusion_matrix(
    target: np.ndarray, prediction: np.ndarray, num_classes: int, *, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """``(num_classes, num_classes)`` int64 confusion matrix of one batch; ignored pixels skipped.

    Target pixels outside ``[0, num_classes)`` (other than ``ignore_index``) are skipped too.
    """
    target = np.asarray(target).reshape(-1).astype(np.int64)
    prediction = np.asarray(prediction).reshape(-1).astype(np.int64)
    if target.shape != prediction.shape:
        raise ValueError(f"target has {target.size} pixels but prediction has {prediction.size}")
    valid = (target != ignore_index) & (target >= 0) & (target < num_classes)
    prediction = np.clip(prediction[valid], 0, num_classes - 1)
    flat = target[valid] * num_classes + prediction
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Correct pixels / counted pixels (NaN when nothing was counted)."""
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def per_class_iou(confusion: np.ndarray) -> np.ndarray:
    """IoU per class; NaN for classes absent from both ground truth and prediction."""
    true_positive = np.diag(confusion).astype(np.float64)
    false_positive = confusion.sum(axis=0) - true_positive
    false_negative = confusion.sum(axis=1) - true_positive
    union = true_positive + false_positive + false_negative
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, true_positive / np.maximum(union, 1), np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean of the defined per-class IoUs (NaN only when no class is defined)."""
    iou = per_class_iou(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


@dataclass
class SegmentationMetrics:
    """Accumulates a confusion matrix over batches.

    Example:
        >>> metrics = SegmentationMetrics(["background", "lane_marking"])
        >>> metrics.update(target_mask, predicted_mask)
        >>> metrics.summary()["miou"]
    """

    class_names: list[str]
    ignore_index: int = IGNORE_INDEX

    def __post_init__(self) -> None:
        self.class_names = list(self.class_names)
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def update(self, target: np.ndarray, prediction: np.ndarray) -> None:
        self.confusion += confusion_matrix(
            target, prediction, self.num_classes, ignore_index=self.ignore_index
        )

    def reset(self) -> None:
        self.confusion[:] = 0

    def summary(self) -> dict[str, object]:
        """``pixel_accuracy``, ``miou``, ``per_class_iou`` (name -> IoU or None) and ``confusion``.

        Also ``miou_present``: the mean over the classes that occur in the ground truth, and
        ``absent_classes``: name -> false-positive pixels for classes the ground truth lacks.
        On a short stream a class that never occurs (a drive without crosswalks) gets IoU 0 from
        a few stray pixels, which says little about the classes that were there.
        """
        iou = per_class_iou(self.confusion)
        present = self.confusion.sum(axis=1) > 0
        return {
            "pixel_accuracy": pixel_accuracy(self.confusion),
            "miou": mean_iou(self.confusion),
            "miou_present": float(np.nanmean(iou[present])) if present.any() else float("nan"),
            "absent_classes": {
                name: int(self.confusion[:, index].sum())
                for index, name in enumerate(self.class_names)
                if not present[index]
            },
            "per_class_iou": {
                name: (None if np.isnan(value) else float(value))
                for name, value in zip(self.class_names, iou, strict=True)
            },
            "confusion": self.confusion.tolist(),
        }


def format_table(summary: dict[str, object]) -> str:
    """Human-readable table of a :meth:`SegmentationMetrics.summary`."""
    per_class = summary["per_class_iou"]
    assert isinstance(per_class, dict)
    width = max([len("pixel accuracy"), *(len(name) for name in per_class)])
    lines = [f"{'class':<{width}}  IoU", f"{'-' * width}  ------"]
    for name, value in per_class.items():
        lines.append(f"{name:<{width}}  {'n/a' if value is None else f'{value:.4f}'}")
    lines.append(f"{'-' * width}  ------")
    lines.append(f"{'mIoU':<{width}}  {summary['miou']:.4f}")
    lines.append(f"{'pixel accuracy':<{width}}  {summary['pixel_accuracy']:.4f}")
    return "\n".join(lines)
