"""Parking benchmark metrics on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from seg_perception.metrics.parking import (
    DEFAULT_THRESHOLD_M,
    OccupancyAgreement,
    ParkingAccumulator,
    SlotIdPersistence,
    format_occupancy,
    format_persistence,
    format_report,
    frame_threshold_px,
    match_entrances,
    match_points,
    merge_points,
)


def test_threshold_is_ten_pixels_at_ps2_scale_and_metric_otherwise():
    assert DEFAULT_THRESHOLD_M == pytest.approx(10.0 / 60.0)
    assert frame_threshold_px(600, None) == pytest.approx(10.0)
    assert frame_threshold_px(300, None) == pytest.approx(5.0)
    assert frame_threshold_px(600, 10.0 / 600.0) == pytest.approx(10.0)
    assert frame_threshold_px(999, 0.02) == pytest.approx(DEFAULT_THRESHOLD_M / 0.02)


def test_points_match_one_to_one_within_the_threshold():
    true = np.array([[0.0, 0.0], [100.0, 0.0]])
    predicted = np.array([[3.0, 4.0], [1.0, 0.0], [100.0, 11.0]])
    matches = match_points(predicted, true, 10.0)
    # (1, 0) is the closer pair; (0, 0) loses; (2, 1) is 11 px away: outside
    assert [(i, j) for i, j, _ in matches] == [(1, 0)]
    assert matches[0][2] == pytest.approx(1.0)
    assert match_points(np.zeros((0, 2)), true, 10.0) == []


def test_slots_need_both_entrance_points_in_either_order():
    true = np.array([[[0.0, 0.0], [150.0, 0.0]]])
    swapped = np.array([[[149.0, 0.0], [3.0, 4.0]]])
    one_off = np.array([[[0.0, 0.0], [150.0, 20.0]]])
    matches = match_entrances(swapped, true, 10.0)
    assert len(matches) == 1
    np.testing.assert_allclose(sorted(matches[0][2]), [1.0, 5.0])
    assert match_entrances(one_off, true, 10.0) == []


def test_merge_points_joins_shared_corners():
    merged = merge_points(np.array([[0.0, 0.0], [2.0, 0.0], [50.0, 0.0]]), 5.0)
    np.testing.assert_allclose(merged, [[1.0, 0.0], [50.0, 0.0]])


def test_accumulator_precision_recall_errors_and_groups():
    acc = ParkingAccumulator()
    mpp = 0.02  # threshold 16.67 cm = 8.33 px
    true_points = np.array([[0.0, 0.0], [125.0, 0.0], [250.0, 0.0]])
    predicted = np.array([[3.0, 4.0], [125.0, 0.0], [400.0, 0.0]])
    acc.update(
        image_width=600,
        predicted_points=predicted,
        true_points=true_points,
        predicted_entrances=np.array([[[3.0, 4.0], [125.0, 0.0]]]),
        true_entrances=np.array([[[0.0, 0.0], [125.0, 0.0]], [[125.0, 0.0], [250.0, 0.0]]]),
        metres_per_pixel=mpp,
        group="Brick",
    )
    acc.update(
        image_width=600,
        predicted_points=np.zeros((0, 2)),
        true_points=np.array([[10.0, 10.0]]),
        metres_per_pixel=mpp,
        group="Grass",
    )
    report = acc.report()
    overall = report["groups"]["all"]
    assert overall["frames"] == 2
    points = overall["points"]
    assert (points["predicted"], points["true"], points["matched"]) == (3, 4, 2)
    assert points["precision"] == pytest.approx(2 / 3) and points["recall"] == pytest.approx(0.5)
    assert points["error_px"] == pytest.approx(2.5)  # (5 + 0) / 2
    assert points["error_cm"] == pytest.approx(5.0)
    slots = overall["slots"]  # only the first frame has slot labels
    assert (slots["predicted"], slots["true"], slots["matched"]) == (1, 2, 1)
    assert slots["precision"] == 1.0 and slots["recall"] == 0.5
    assert slots["error_cm"] == pytest.approx(5.0)  # entrance errors 5 px and 0 px, at 2 cm
    assert report["groups"]["Grass"]["points"]["recall"] == 0.0
    assert "slots" not in report["groups"]["Grass"]
    table = format_report(report)
    assert "| Brick | 1 | 0.667 | 0.667 | 5.0 | 1.000 | 0.500 | 5.0 | 2 |" in table
    assert "| Grass | 1 | - | 0.000 |" in table


def test_marking_point_positions_from_rows_or_objects():
    from types import SimpleNamespace

    from seg_perception.metrics.parking import marking_point_positions

    rows = np.array([[1.0, 2.0, 0.0, 1.0, 0.9], [3.0, 4.0, 1.0, 0.0, 0.5]])
    np.testing.assert_allclose(marking_point_positions(rows), [[1, 2], [3, 4]])
    assert marking_point_positions(np.zeros((0, 5))).shape == (0, 2)
    assert marking_point_positions(None).shape == (0, 2)
    objects = [SimpleNamespace(position=np.array([5.0, 6.0]))]
    np.testing.assert_allclose(marking_point_positions(objects), [[5, 6]])


def test_slot_id_persistence_counts_kept_and_switched_ids_across_missed_frames() -> None:
    persistence = SlotIdPersistence()
    # frame 1: true slots 7 and 9 matched by predicted ids 1 and 2
    persistence.update([(0, 0, None), (1, 1, None)], predicted_ids=[1, 2], true_ids=[7, 9])
    # frame 2: slot 7 kept its id, slot 9 switched to 5
    persistence.update([(1, 0, None), (0, 1, None)], predicted_ids=[5, 1], true_ids=[7, 9])
    # frame 3: slot 9 missed; frame 4: slot 9 back under 5 (compared with its last matched frame)
    persistence.update([(0, 0, None)], predicted_ids=[1], true_ids=[7, 9])
    persistence.update([(0, 0, None)], predicted_ids=[5], true_ids=[9])
    report = persistence.report()
    assert report == {"pairs": 4, "kept": 3, "persistence": 0.75, "slots": 2, "ids_per_slot": 1.5}
    assert format_persistence(report).startswith("Slot ids: the same id in 75.0 % of 4 successive matches")
    assert SlotIdPersistence().report()["persistence"] is None
    assert "no labelled slot was matched in two frames" in format_persistence(SlotIdPersistence().report())


def test_occupancy_agreement_counts_both_kinds_of_mistake_over_matched_slots_only() -> None:
    occupancy = OccupancyAgreement()
    # predicted slot 0 (occupied) matches true slot 1 (free); predicted 1 (free) matches true 0 (free);
    # predicted 2 matches nothing and does not count
    occupancy.update(
        [(0, 1, None), (1, 0, None)], predicted_occupied=[True, False, True], true_occupied=[False, False]
    )
    occupancy.update([(0, 0, None)], predicted_occupied=[False], true_occupied=[True])
    report = occupancy.report()
    assert report == {
        "matched": 3,
        "accuracy": 1 / 3,
        "free_called_occupied": 1,
        "occupied_called_free": 1,
        "mean_confidence_right": None,  # no confidences given
        "mean_confidence_wrong": None,
    }
    assert format_occupancy(report).startswith("Occupancy: right for 33.3 % of 3 matched slots")
    assert "confidence" not in format_occupancy(report)
    assert OccupancyAgreement().report()["accuracy"] is None


def test_occupancy_agreement_says_how_sure_the_right_and_the_wrong_calls_were() -> None:
    occupancy = OccupancyAgreement()
    occupancy.update(
        [(0, 0, None), (1, 1, None), (2, 2, None)],
        predicted_occupied=[True, False, True],
        true_occupied=[True, False, False],  # the third call is wrong
        predicted_confidence=[0.9, 0.7, 0.2],
    )
    report = occupancy.report()
    assert report["mean_confidence_right"] == pytest.approx(0.8)
    assert report["mean_confidence_wrong"] == pytest.approx(0.2)
    assert "mean occupancy confidence 0.80 on right calls, 0.20 on wrong ones" in format_occupancy(report)
