"""eval-bag metrics against hand-made ground truth with known IoU and slot matches."""

import json

import numpy as np
import pytest

from seg_perception.bags import frame_json, messages
from seg_perception.bags.storage import BagWriter
from seg_perception.cli import main
from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.metrics.evaluation import EvaluationAccumulator, match_slots

H, W = 40, 40
SCALE = 0.02  # parking.yaml metres_per_pixel → 0.5 m threshold = 25 px


def rect(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def half_covered_masks():
    """Truth: a 20x10 lane rectangle; prediction: its left half (10x10)."""
    truth = np.zeros((H, W), np.uint8)
    truth[10:20, 10:30] = 1
    predicted = np.zeros((H, W), np.uint8)
    predicted[10:20, 10:20] = 1
    return truth, predicted


def slot_case():
    """Three true slots: predicted 5 px off, 30 px off, exact in reversed winding; plus one spurious."""
    true = [ParkingSlot(rect(100 * i, 0, 100 * i + 50, 100), instance_id=i) for i in range(3)]
    predicted = [
        ParkingSlot(true[0].corners + np.float32([3, 4])),  # every corner 5 px away: match
        ParkingSlot(true[1].corners + np.float32([30, 0])),  # 30 px > 25 px: no match
        ParkingSlot(true[2].corners[[1, 0, 3, 2]]),  # reversed winding, entrance first: match, 0 px
        ParkingSlot(rect(600, 600, 650, 700)),  # nothing there
    ]
    return true, predicted


def test_iou_of_a_half_covered_region():
    truth, predicted = half_covered_masks()
    acc = EvaluationAccumulator(["background", "lane_marking"], threshold_px=25.0)
    acc.update(
        true_mask=truth,
        predicted_mask=predicted,
        true_polygons=[Polygon(1, "lane_marking", rect(10, 10, 30, 20))],
        predicted_polygons=[Polygon(1, "lane_marking", rect(10, 10, 20, 20))],
    )
    report = acc.report()
    background_iou = (H * W - 200) / (H * W - 100)  # truth bg 1400 ⊂ predicted bg 1500
    assert report["per_class_iou"]["lane_marking"] == pytest.approx(0.5)
    assert report["per_class_iou"]["background"] == pytest.approx(background_iou)
    assert report["miou"] == pytest.approx((0.5 + background_iou) / 2)
    assert report["pixel_accuracy"] == pytest.approx(1 - 100 / (H * W))
    # filled polygons 21x11 vs 11x11 pixels (fillPoly includes the boundary)
    assert report["polygon_iou"]["per_class"]["lane_marking"] == pytest.approx(121 / 231)


def test_slot_matching_threshold_winding_and_corner_error():
    true, predicted = slot_case()
    matches = match_slots(predicted, true, threshold_px=25.0)
    assert sorted((p, t) for p, t, _ in matches) == [(0, 0), (2, 2)]
    acc = EvaluationAccumulator(
        ["background", "slot_line", "free_slot"], threshold_px=25.0, metres_per_pixel=SCALE
    )
    mask = np.zeros((H, W), np.uint8)
    acc.update(true_mask=mask, predicted_mask=mask, true_slots=true, predicted_slots=predicted)
    slots = acc.report()["slots"]
    assert (slots["predicted"], slots["true"], slots["matched"]) == (4, 3, 2)
    assert slots["precision"] == pytest.approx(0.5)
    assert slots["recall"] == pytest.approx(2 / 3)
    assert slots["corner_error_px"] == pytest.approx(2.5)  # (2 entrance corners x 5 px + 2 x 0 px) / 4
    assert slots["corner_error_m"] == pytest.approx(2.5 * SCALE)
    assert slots["threshold_m"] == pytest.approx(0.5)


def test_a_tighter_threshold_drops_the_shifted_slot():
    true, predicted = slot_case()
    assert sorted(p for p, _, _ in match_slots(predicted, true, threshold_px=4.9)) == [2]


def write_frame(writer, *, stamp, topics, mask, corners, slots):
    """One frame's mask image and frame JSON (a slot_line ``rect(*corners)`` and ``slots``) on ``topics``."""
    mask_topic, json_topic = topics
    frame = "camera_avm_optical_frame"
    writer.write(mask_topic, stamp, messages.image_msg(mask, stamp=stamp, frame_id=frame))
    record = frame_json.frame_record(
        stamp_ns=stamp,
        frame_id=frame,
        camera="avm",
        image_size=(H, W),
        polygons=[Polygon(1, "slot_line", rect(*corners))],
        slots=slots,
        calibration=frame_json.Calibration(SCALE, (20.0, 20.0)),
    )
    writer.write(json_topic, stamp, messages.string_msg(json.dumps(record)))


def write_eval_bag(path, *, with_predictions=True):
    """Two parking frames: truth + process-style predictions (the half-covered case and the slot case)."""
    truth, predicted = half_covered_masks()
    true_slots, predicted_slots = slot_case()
    truth_topics = ("/camera/avm/ground_truth/mask", "/camera/avm/ground_truth/polygons")
    layers = [(truth_topics, truth, (10, 10, 30, 20), true_slots)]  # topics, mask, polygon corners, slots
    if with_predictions:
        layers.append((("/avm/mask", "/avm/polygons/json"), predicted, (10, 10, 20, 20), predicted_slots))
    with BagWriter(path) as writer:
        for index in range(2):
            stamp = 1_700_000_000_000_000_000 + index * 33_333_333
            for topics, mask, corners, slots in layers:
                write_frame(writer, stamp=stamp, topics=topics, mask=mask, corners=corners, slots=slots)


def test_eval_bag_reports_the_known_numbers(tmp_path, capsys):
    bag = tmp_path / "eval"
    write_eval_bag(bag)
    assert main(["eval-bag", str(bag), "--scenario", "parking", "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["frames"] == 2
    assert report["per_class_iou"]["slot_line"] == pytest.approx(0.5)
    assert report["per_class_iou"]["free_slot"] is None  # absent from truth and prediction
    assert (
        report["slots"]["matched"] == 4 and report["slots"]["true"] == 6 and report["slots"]["predicted"] == 8
    )
    assert report["slots"]["corner_error_m"] == pytest.approx(0.05)
    text = capsys.readouterr().out
    assert "25.0 px = 0.50 m" in text and "2.50 px = 0.050 m" in text
    assert (tmp_path / "report" / "report.md").read_text() == text
    # ps2.0-style table: 16.7 cm = 8.3 px; entrance corners as points: 5, 5 and 0, 0 px away match
    parking = report["parking"]["groups"]["all"]
    points, slots = parking["points"], parking["slots"]
    assert (points["predicted"], points["true"], points["matched"]) == (16, 12, 8)
    assert points["error_cm"] == pytest.approx(5.0)
    assert (slots["predicted"], slots["true"], slots["matched"]) == (8, 6, 4)
    assert slots["error_cm"] == pytest.approx(5.0)
    assert "| all | 2 | 0.500 | 0.667 | 5.0 | 0.500 | 0.667 | 5.0 | 6 |" in text
    # slot ids over the stream: true slots 0 and 2 are matched in both frames, by predicted id 0 each time
    assert report["parking"]["slot_ids"] == {
        "pairs": 2,
        "kept": 2,
        "persistence": 1.0,
        "slots": 2,
        "ids_per_slot": 1.0,
    }
    assert "Slot ids: the same id in 100.0 % of 2 successive matches of a labelled slot" in text
    assert report["parking"]["occupancy"] == {
        "matched": 4,
        "accuracy": 1.0,
        "free_called_occupied": 0,
        "occupied_called_free": 0,
        "mean_confidence_right": 1.0,  # the recorded slots' occupancy_confidence
        "mean_confidence_wrong": None,  # no wrong call
    }
    assert "Occupancy: right for 100.0 % of 4 matched slots" in text


def test_ground_truth_from_another_bag(tmp_path):
    write_eval_bag(tmp_path / "truth", with_predictions=True)
    # predictions only: copy the prediction topics into a second bag
    from seg_perception.bags.storage import BagReader

    with BagReader(tmp_path / "truth") as reader, BagWriter(tmp_path / "pred") as writer:
        for message in reader.messages(["/avm/mask", "/avm/polygons/json"]):
            writer.write_raw(message.topic, message.msgtype, message.timestamp_ns, message.rawdata)
    out = tmp_path / "report"
    assert (
        main(
            [
                "eval-bag",
                str(tmp_path / "pred"),
                "--gt-bag",
                str(tmp_path / "truth"),
                "--scenario",
                "parking",
                "--slot-threshold-px",
                "4.9",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 2 and report["slots"]["matched"] == 2
    assert report["slots"]["threshold_m"] == pytest.approx(4.9 * SCALE)


def test_missing_ground_truth_is_a_one_line_error(tmp_path, capsys):
    bag = tmp_path / "pred_only"
    with BagWriter(bag) as writer:
        writer.write(
            "/avm/mask",
            1,
            messages.image_msg(np.zeros((4, 4), np.uint8), stamp=1, frame_id="x"),
        )
    assert main(["eval-bag", str(bag), "--scenario", "parking"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "/camera/avm/ground_truth/mask" in err and "/avm/mask" in err


def test_slots_are_scored_on_entrance_corners_and_free_truth_only():
    true = [ParkingSlot(rect(0, 0, 50, 100)), ParkingSlot(rect(100, 0, 150, 100), free=False)]
    # back corners 60 px away (cut by the image edge), entrance exact: a match
    cut = rect(0, 0, 50, 100)
    cut[2:, 1] -= 60
    acc = EvaluationAccumulator(["background", "slot_line", "free_slot"], threshold_px=25.0)
    mask = np.zeros((H, W), np.uint8)
    acc.update(true_mask=mask, predicted_mask=mask, true_slots=true, predicted_slots=[ParkingSlot(cut)])
    slots = acc.report()["slots"]
    assert (slots["predicted"], slots["true"], slots["matched"]) == (1, 1, 1)  # occupied slot not scored
    assert slots["corner_error_px"] == pytest.approx(0.0)


def test_marking_points_in_frame_json_leave_out_the_hidden_ones():
    from seg_perception.geometry import MarkingPoint

    marks = [
        MarkingPoint(np.array([1.0, 2.0], np.float32), 0.5, "T"),
        MarkingPoint(np.array([3.0, 4.0], np.float32), 0.5, "L", occluded=True),
    ]
    record = frame_json.frame_record(
        stamp_ns=1,
        frame_id="f",
        camera="avm",
        image_size=(H, W),
        polygons=[],
        slots=[],
        calibration=frame_json.Calibration(SCALE, (20.0, 20.0)),
        marking_points=marks,
    )
    record = json.loads(json.dumps(record))
    assert record["marking_points"][1]["shape"] == "L" and record["marking_points"][1]["occluded"]
    assert record["marking_points"][0]["xy_m"] == pytest.approx([(20 - 2) * SCALE, (20 - 1) * SCALE])
    np.testing.assert_allclose(frame_json.marking_point_positions(record), [[1, 2]])
    np.testing.assert_allclose(
        frame_json.marking_point_positions(record, visible_only=False), [[1, 2], [3, 4]]
    )
    assert frame_json.marking_point_positions({"slots": []}) is None


def test_eval_bag_takes_a_datasets_images_each_alone(tmp_path, tiny_onnx_model, capsys):
    """An images/ + masks/ folder holds unrelated pictures: tracking starts afresh before every one."""
    from unittest import mock

    from seg_perception.inference.pipeline import SegmentationPipeline

    folder = tmp_path / "val"
    assert main(["generate", "--scenario", "highway", "--count", "3", "--seed", "994900", "--size", "90x160",
                 "--out", str(folder), "--no-preview"]) == 0  # fmt: skip
    model = tiny_onnx_model("highway")
    with mock.patch.object(SegmentationPipeline, "reset_tracking", autospec=True) as reset:
        argv = ["eval-bag", "--dataset", str(folder), "--scenario", "highway", "--model", str(model)]
        assert main([*argv, "--out", str(tmp_path / "eval")]) == 0
    assert reset.call_count == 3
    assert "mIoU" in capsys.readouterr().out
