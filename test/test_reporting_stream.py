"""Reporting: matching predictions to ground truth by stamp, latency, fps and mIoU."""

import math

import numpy as np
import pytest

from seg_perception.reporting.stream import StreamRecording, loss_around

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000


def _recording():
    recording = StreamRecording()
    truth = np.zeros((4, 4), np.uint8)
    truth[:, :2] = 1
    for index in range(5):  # 5 frames sent at 30 Hz
        recording.add_ground_truth(T0 + index * 33 * MS, truth)
    # frame 2 lost; latencies 10, 20, 40, 30 ms; received out of order
    for index, latency in ((0, 10), (3, 40), (1, 20), (4, 30)):
        stamp = T0 + index * 33 * MS
        prediction = truth if index != 4 else np.ones((4, 4), np.uint8)
        recording.add_prediction(stamp, stamp + latency * MS, prediction)
    return recording


def test_matching_counts_and_latency_in_stamp_order():
    recording = _recording()
    recording.add_prediction(T0, T0 + 99 * MS, np.zeros((4, 4), np.uint8))  # duplicate ignored
    recording.add_prediction(T0 + 7, T0 + 20 * MS, np.zeros((4, 4), np.uint8))  # no ground truth
    assert recording.matched_stamps == [T0 + i * 33 * MS for i in (0, 1, 3, 4)]
    assert recording.latencies_ms()[:5] == pytest.approx([10.0, 20.0 - 7e-6, 20.0, 40.0, 30.0], abs=1e-3)
    counts = recording.counts(frames_sent=5)
    assert counts == {
        "sent": 5,
        "ground_truth_received": 5,
        "received": 5,
        "matched": 4,
        "dropped": 0,
        "unmatched_predictions": 1,
        "duplicates": 1,
    }


def test_latency_summary_and_rates():
    recording = _recording()
    summary = recording.latency()
    assert summary["count"] == 4
    assert summary["p50"] == pytest.approx(25.0)
    assert summary["max"] == pytest.approx(40.0)
    assert recording.input_fps() == pytest.approx(1000 / 33)
    # arrivals at 10, 53, 139, 162 ms → 3 intervals over 152 ms
    assert recording.output_fps() == pytest.approx(3 / 0.152)
    assert recording.counts()["dropped"] == 1


def test_score_uses_only_matched_frames_and_resizes_other_sizes():
    recording = _recording()
    summary = recording.score(["background", "lane"])
    # 3 perfect frames + 1 all-"lane": background IoU 24/32, lane IoU 32/40
    assert summary["frames_scored"] == 4
    assert summary["per_class_iou"]["background"] == pytest.approx(24 / 32)
    assert summary["per_class_iou"]["lane"] == pytest.approx(32 / 40)
    assert summary["miou"] == pytest.approx((24 / 32 + 32 / 40) / 2)
    recording.add_ground_truth(T0 + 999 * MS, np.ones((8, 8), np.uint8))
    recording.add_prediction(T0 + 999 * MS, T0 + 1000 * MS, np.ones((4, 4), np.uint8))
    assert recording.score(["background", "lane"])["resized"] == 1


def test_empty_recording_is_nan_not_an_error():
    recording = StreamRecording()
    assert math.isnan(recording.output_fps())
    assert math.isnan(recording.score(["background", "lane"])["miou"])
    assert recording.counts(frames_sent=3)["dropped"] == 3


def test_loss_around_an_event_against_the_rest_of_the_stream():
    sent = list(range(0, 200, 10))  # 20 frames, one every 10 ns
    lost = {20, 30, 100, 110, 120, 190}  # a run of 2, a run of 3 inside the window, the last frame
    received = set(sent) - lost
    loss = loss_around(sent, received, (95, 105))
    assert loss["at_event"] == 3
    assert loss["elsewhere_max"] == 2  # the trailing lost frame has no mask after it: not a gap
    # every mask but the one right after the event's run (no received stamp lies in the window)
    assert loss["masks_elsewhere"] == len(received) - 1
    assert 0.0 < loss["elsewhere_p95"] <= 2.0
    # a run that only touches the window counts for the event
    assert loss_around(sent, received, (120, 125))["at_event"] == 3
    assert loss_around(sent, received, (190, 195))["at_event"] == 1


def test_loss_around_without_losses_or_frames():
    assert loss_around(range(5), set(range(5)), (1, 2)) == {
        "at_event": 0,
        "elsewhere_max": 0,
        "elsewhere_p95": 0.0,
        "masks_elsewhere": 3,
    }
    assert loss_around([], set(), (0, 1))["masks_elsewhere"] == 0
