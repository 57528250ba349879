"""TuSimple and CULane lane metrics on hand-computable cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from seg_perception.metrics.lanes import (
    CULaneMetrics,
    PaintCoverage,
    TuSimpleMetrics,
    culane_frame,
    max_weight_matching,
    polyline_to_tusimple,
    tusimple_angle,
    tusimple_frame,
    tusimple_min_rows,
    tusimple_rows,
    tusimple_to_polyline,
)

ROWS = np.arange(160, 720, 10, dtype=float)  # the benchmark's 56 rows


def vertical(x: float, rows: np.ndarray = ROWS) -> np.ndarray:
    return np.full(rows.shape, float(x))


def test_polyline_sampling_interpolates_and_marks_absent_rows():
    xs = polyline_to_tusimple([[100, 700], [300, 300]], ROWS)
    assert xs[ROWS == 700][0] == pytest.approx(100)
    assert xs[ROWS == 500][0] == pytest.approx(200)
    assert (xs[ROWS < 300] == -2).all() and (xs[ROWS > 700] == -2).all()
    back = tusimple_to_polyline(xs, ROWS)
    assert len(back) == np.count_nonzero((ROWS >= 300) & (ROWS <= 700))
    assert polyline_to_tusimple([[300, 300], [100, 700]], ROWS) == pytest.approx(xs)


def test_tusimple_perfect_frame():
    gt = [vertical(300), vertical(600), vertical(900)]
    frame = tusimple_frame(gt, gt, ROWS)
    assert (frame.accuracy, frame.fp, frame.fn, frame.matched) == (1.0, 0.0, 0.0, 3)


@pytest.mark.parametrize(("shift", "matched"), [(10.0, True), (19.9, True), (20.0, False), (25.0, False)])
def test_tusimple_vertical_lanes_use_the_plain_20_px_threshold(shift, matched):
    gt = [vertical(400), vertical(800)]
    pred = [vertical(400 + shift), vertical(800)]
    frame = tusimple_frame(pred, gt, ROWS)
    if matched:
        assert (frame.accuracy, frame.fp, frame.fn) == (1.0, 0.0, 0.0)
    else:
        assert frame.accuracy == pytest.approx(0.5)
        assert frame.fp == pytest.approx(0.5) and frame.fn == pytest.approx(0.5)


def test_tusimple_threshold_grows_with_the_lane_angle():
    slope = 0.75  # 1 / cos(atan(0.75)) = 1.25: threshold 25 px
    gt = [200 + slope * (ROWS - 160)]
    assert tusimple_angle(gt[0], ROWS) == pytest.approx(np.arctan(slope))
    assert tusimple_frame([gt[0] + 24.0], gt, ROWS).accuracy == 1.0
    assert tusimple_frame([gt[0] + 26.0], gt, ROWS).accuracy == 0.0


def test_tusimple_missing_lane_is_a_false_negative():
    gt = [vertical(x) for x in (200, 500, 800, 1100)]
    frame = tusimple_frame(gt[:3], gt, ROWS)
    assert frame.accuracy == pytest.approx(0.75)
    assert frame.fn == pytest.approx(0.25) and frame.fp == 0.0


def test_tusimple_extra_lane_is_a_false_positive():
    gt = [vertical(300), vertical(700)]
    frame = tusimple_frame([*gt, vertical(1100)], gt, ROWS)
    assert frame.accuracy == 1.0 and frame.fn == 0.0
    assert frame.fp == pytest.approx(1 / 3)


def test_tusimple_too_many_predictions_score_zero():
    gt = [vertical(300)]
    frame = tusimple_frame([vertical(300 + 100 * k) for k in range(4)], gt, ROWS)
    assert (frame.accuracy, frame.fp, frame.fn) == (0.0, 0.0, 1.0)


def test_tusimple_forgives_the_worst_of_more_than_four_lanes():
    gt = [vertical(x) for x in (100, 350, 600, 850, 1100)]
    frame = tusimple_frame(gt[:4], gt, ROWS)
    assert frame.accuracy == 1.0 and frame.fn == 0.0 and frame.fp == 0.0


def test_tusimple_half_covered_lane_counts_half_its_rows():
    gt = [vertical(500)]
    half = vertical(500)
    half[: len(ROWS) // 2] = -2
    frame = tusimple_frame([half], gt, ROWS)
    assert frame.accuracy == pytest.approx(0.5)
    assert frame.fn == 1.0  # below the 0.85 point threshold
    # rows where both lanes are absent count as correct, as in the official code
    gt_short = vertical(500)
    gt_short[:10] = -2
    assert tusimple_frame([gt_short], [gt_short], ROWS).accuracy == 1.0


def _stub(x: float, rows_covered: int) -> np.ndarray:
    """A lane present on the last ``rows_covered`` of ROWS at column ``x``, absent above."""
    lane = np.full(ROWS.shape, -2.0)
    lane[len(ROWS) - rows_covered :] = x
    return lane


def test_a_lane_shorter_than_tusimple_min_rows_is_matched_by_a_prediction_that_shares_no_row():
    # the benchmark counts a row both lines skip as correct: a short lane 'matches' far-off stubs
    rows = tusimple_min_rows(len(ROWS))
    assert rows == 8  # 56 rows at 0.85: 7 lane rows and 1 prediction row apart still score 48 / 56
    far_prediction = np.full(ROWS.shape, -2.0)
    far_prediction[0] = 100.0  # one row at the top, 500 px away from every lane below
    too_short = tusimple_frame([far_prediction], [_stub(600, rows - 1), _stub(700, rows - 1)], ROWS)
    assert too_short.matched == 2 and too_short.fp < 0  # two lanes matched by one prediction
    long_enough = tusimple_frame([far_prediction], [_stub(600, rows), _stub(700, rows)], ROWS)
    assert long_enough.matched == 0 and long_enough.fp == 1.0
    assert tusimple_rows([[600, 719], [600, 160 + 10 * (len(ROWS) - rows)]], ROWS) == rows


def test_tusimple_metrics_take_polylines_and_scale_the_threshold_with_width():
    gt = [np.array([[320.0, 719.0], [320.0, 160.0]])]
    pred = [gt[0] + [15.0, 0.0]]
    full = TuSimpleMetrics()
    full.update(pred, gt, ROWS, image_width=1280)
    assert full.summary()["accuracy"] == 1.0
    half = TuSimpleMetrics()
    half.update(pred, gt, ROWS, image_width=640)  # threshold 10 px
    summary = half.summary()
    assert summary["accuracy"] == 0.0 and summary["fn"] == 1.0 and summary["frames"] == 1
    assert np.isnan(TuSimpleMetrics().summary()["accuracy"])


def test_tusimple_frames_pair_each_matched_true_lane_with_its_best_prediction_as_given():
    """The pairs index the lanes as passed in, also past lanes on no sampled row (dropped before
    scoring): a consumer reads the matched prediction's attributes from its own list."""
    gt = [np.array([[320.0, 719.0], [320.0, 160.0]]), np.array([[900.0, 719.0], [900.0, 160.0]])]
    above_the_rows = np.array([[600.0, 100.0], [600.0, 50.0]])  # no h_sample: not a lane here
    pred = [above_the_rows, gt[1] + [5.0, 0.0], gt[0] + [40.0, 0.0], gt[0] + [3.0, 0.0]]
    frame = TuSimpleMetrics().update(pred, [above_the_rows, *gt], ROWS, image_width=1280)
    assert frame.pairs == ((1, 3), (2, 1)) and frame.matched == 2
    assert tusimple_frame([vertical(300)], [vertical(700)], ROWS).pairs == ()


def test_paint_coverage_counts_covered_points_and_paint_on_the_lines():
    """Paint along the lower half of one of two labelled lines, plus a blob off both lines and a blob
    above the labelled rows (not counted): 29 of 112 points are covered (56 rows a line; rows 430-710
    lie within 20 px of the stripe at 450-719), and only the rows the labels span (160-710) count."""
    paint = np.zeros((720, 1280), bool)
    paint[450:720, 318:323] = True  # 5 px wide on the line at x = 320
    paint[500:520, 900:920] = True  # 400 px off any line
    paint[0:100, 0:1280] = True  # above the first labelled row (160): neither right nor wrong
    gt = [np.array([[320.0, 719.0], [320.0, 160.0]]), np.array([[640.0, 719.0], [640.0, 160.0]])]
    coverage = PaintCoverage()
    frame = coverage.update(paint, gt, ROWS)
    assert frame.points == 2 * len(ROWS)
    assert frame.points_near_paint == int(np.count_nonzero(ROWS >= 430))
    assert frame.paint_pixels == 261 * 5 + 20 * 20
    assert frame.paint_on_lines == 261 * 5
    summary = coverage.summary()
    assert summary["point_recall"] == pytest.approx(frame.points_near_paint / frame.points)
    assert summary["pixel_precision"] == pytest.approx(261 * 5 / (261 * 5 + 400))
    assert summary["frames"] == 1


def test_paint_coverage_scales_its_threshold_with_the_width_and_handles_no_paint():
    gt = [np.array([[320.0, 719.0], [320.0, 160.0]])]
    paint = np.zeros((720, 1280), bool)
    paint[:, 335] = True  # 15 px from the line: within 20 px at 1280 wide
    assert PaintCoverage().update(paint, gt, ROWS).points_near_paint == len(ROWS)
    assert PaintCoverage().update(paint.astype(np.uint8), gt, ROWS).points_near_paint == len(ROWS)  # any mask
    half = np.zeros((360, 640), bool)
    half[:, 175] = True  # 15 px from the line at x = 160 of a 640-px frame: 10 px is the threshold there
    assert PaintCoverage().update(half, [gt[0] / 2.0], ROWS / 2.0).points_near_paint == 0
    empty = PaintCoverage()
    frame = empty.update(np.zeros((720, 1280), bool), gt, ROWS)
    assert frame.points_near_paint == 0 and frame.paint_pixels == 0
    assert empty.summary()["point_recall"] == 0.0 and np.isnan(empty.summary()["pixel_precision"])


def test_tusimple_rejects_lanes_of_the_wrong_length():
    with pytest.raises(ValueError, match="h_samples"):
        tusimple_frame([vertical(1)[:-1]], [vertical(1)], ROWS)


SHAPE = (590, 1640)


def lane_at(x: float) -> np.ndarray:
    return np.array([[x, 589.0], [x, 250.0]])


def counts(frame) -> tuple[int, int, int]:
    return frame.tp, frame.fp, frame.fn


def test_culane_perfect_shifted_missing_and_extra():
    gt = [lane_at(400), lane_at(900)]
    assert counts(culane_frame(gt, gt, SHAPE)) == (2, 0, 0)
    # 5-px shift of 30-px-wide lanes: IoU about 25/35 > 0.5
    assert culane_frame([lane_at(405), lane_at(900)], gt, SHAPE).tp == 2
    # 15-px shift: IoU about 15/45 < 0.5
    frame = culane_frame([lane_at(415), lane_at(900)], gt, SHAPE)
    assert (frame.tp, frame.fp, frame.fn) == (1, 1, 1)
    assert counts(culane_frame([gt[0]], gt, SHAPE)) == (1, 0, 1)
    assert counts(culane_frame([*gt, lane_at(1400)], gt, SHAPE)) == (2, 1, 0)
    assert counts(culane_frame([], gt, SHAPE)) == (0, 0, 2)


def test_culane_matching_is_one_to_one():
    gt = [lane_at(400)]
    frame = culane_frame([lane_at(400), lane_at(402)], gt, SHAPE)
    assert (frame.tp, frame.fp, frame.fn) == (1, 1, 0)


def test_culane_metrics_f1_and_width_scaling():
    metrics = CULaneMetrics()
    gt = [lane_at(400), lane_at(900)]
    metrics.update(gt, gt, SHAPE)
    metrics.update([lane_at(400)], gt, SHAPE)
    summary = metrics.summary()
    assert (summary["tp"], summary["fp"], summary["fn"]) == (3, 0, 1)
    assert summary["precision"] == 1.0 and summary["recall"] == pytest.approx(0.75)
    assert summary["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1))
    # at half the width the lanes are 15 px wide: a 10-px shift no longer overlaps enough
    small = CULaneMetrics()
    small.update([np.array([[210.0, 294.0], [210.0, 120.0]])], [np.array([[200.0, 294.0], [200.0, 120.0]])],
                 (295, 820))  # fmt: skip
    assert small.summary()["tp"] == 0


def test_max_weight_matching_equals_brute_force():
    rng = np.random.default_rng(0)
    for rows, cols in [(3, 3), (2, 4), (4, 2), (5, 5), (1, 3)]:
        weights = rng.random((rows, cols))
        pairs = max_weight_matching(weights)
        assert len(pairs) == min(rows, cols)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        if rows <= cols:
            best = max(
                sum(weights[r, c] for r, c in enumerate(p)) for p in itertools.permutations(range(cols), rows)
            )
        else:
            best = max(
                sum(weights[r, c] for c, r in enumerate(p)) for p in itertools.permutations(range(rows), cols)
            )
        assert sum(weights[r, c] for r, c in pairs) == pytest.approx(best)
