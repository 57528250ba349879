"""Metrics checked against hand-computed confusion matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seg_perception.metrics.segmentation import (
    SegmentationMetrics,
    confusion_matrix,
    format_table,
    mean_iou,
    per_class_iou,
    pixel_accuracy,
)


def test_confusion_matrix_counts_and_skips_ignored() -> None:
    target = np.array([[0, 0, 1], [1, 2, 255]])
    prediction = np.array([[0, 1, 1], [1, 0, 2]])
    confusion = confusion_matrix(target, prediction, 3)
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(confusion, expected)


def test_pixel_accuracy_iou_and_miou_by_hand() -> None:
    confusion = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    assert pixel_accuracy(confusion) == pytest.approx(8 / 11)
    iou = per_class_iou(confusion)
    assert iou[0] == pytest.approx(5 / (5 + 2 + 1))
    assert iou[1] == pytest.approx(3 / (3 + 1 + 2))
    assert math.isnan(iou[2])  # absent from ground truth and prediction: excluded
    assert mean_iou(confusion) == pytest.approx((5 / 8 + 3 / 6) / 2)


def test_class_in_truth_never_predicted_scores_zero_and_counts() -> None:
    confusion = np.array([[4, 0], [2, 0]])
    iou = per_class_iou(confusion)
    assert iou[1] == 0.0
    assert mean_iou(confusion) == pytest.approx((4 / 6 + 0.0) / 2)


def test_accumulator_summary_and_table() -> None:
    metrics = SegmentationMetrics(["background", "lane"])
    metrics.update(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    metrics.update(np.array([1, 0]), np.array([1, 0]))
    summary = metrics.summary()
    assert summary["pixel_accuracy"] == pytest.approx(5 / 6)
    assert summary["per_class_iou"] == {"background": pytest.approx(2 / 3), "lane": pytest.approx(3 / 4)}
    assert summary["miou"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    table = format_table(summary)
    assert "lane" in table and "mIoU" in table
    metrics.reset()
    assert metrics.confusion.sum() == 0


def test_summary_separates_classes_absent_from_the_ground_truth() -> None:
    metrics = SegmentationMetrics(["background", "lane", "crosswalk"])
    target = np.array([[0, 0, 1, 1]], dtype=np.uint8)
    prediction = np.array([[0, 2, 1, 1]], dtype=np.uint8)  # one stray crosswalk pixel
    metrics.update(target, prediction)
    summary = metrics.summary()
    # background 1/2, lane 2/2, crosswalk 0/1 (present only in the prediction)
    assert summary["per_class_iou"] == {"background": 0.5, "lane": 1.0, "crosswalk": 0.0}
    assert summary["miou"] == pytest.approx(0.5)
    assert summary["miou_present"] == pytest.approx(0.75)
    assert summary["absent_classes"] == {"crosswalk": 1}
