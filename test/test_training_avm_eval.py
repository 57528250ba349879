"""``eval --avm``: labelled AVM folders end to end, with a stand-in pipeline whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import cv2
import numpy as np
import pytest
import yaml

from seg_perception.config import load_scenario
from seg_perception.data.parking_labels import DMPR_PIXEL_ORIGIN
from seg_perception.geometry import MarkingPoint, ParkingSlot
from seg_perception.training import avm_eval

SHIFT_PX = 3.0
DMPR_MARKS = [[100.0, 200.0], [250.0, 200.0]]
STRIP_POINTS_LABEL_FRAME = [[86.0, 120.0], [88.0, 360.0]]  # drawn at 192x600, stored image 96x300
STRIP_XML = (
    "<annotation><object><name>01 key_point</name><polygon><pt><x>86</x><y>120</y></pt></polygon></object>"
    "<object><name>02_key_point</name><polygon><pt><x>88</x><y>360</y></pt></polygon></object>"
    "<imagesize><nrows>600</nrows><ncols>192</ncols></imagesize></annotation>"
)


@pytest.fixture
def avm_folder(tmp_path):
    full = tmp_path / "Full" / "run_img"
    full.mkdir(parents=True)
    cv2.imwrite(str(full / "1.png"), np.zeros((600, 600, 3), np.uint8))
    labels = tmp_path / "Full" / "run_xml"
    labels.mkdir()
    ps2_marks = (np.array(DMPR_MARKS) + DMPR_PIXEL_ORIGIN).tolist()  # ps2.0 counts pixels from 1
    (labels / "1.json").write_text(json.dumps({"marks": ps2_marks, "slots": [[1, 2]]}))
    strips = tmp_path / "Strip" / "side_R"
    strips.mkdir(parents=True)
    cv2.imwrite(str(strips / "7.jpg"), np.zeros((300, 96, 3), np.uint8))
    (strips / "7.xml").write_text(STRIP_XML)
    cv2.imwrite(str(strips / "8.jpg"), np.zeros((300, 96, 3), np.uint8))  # no label: skipped
    return tmp_path


class _Pipeline:
    """Answers every labelled point shifted by SHIFT_PX to the right (image pixels)."""

    truth: ClassVar[dict[tuple[int, int], np.ndarray]] = {
        (600, 600): np.array(DMPR_MARKS),
        (300, 96): np.array(STRIP_POINTS_LABEL_FRAME) / 2.0,
    }
    scales: ClassVar[list[float]] = []
    slot_blocks: ClassVar[list[dict]] = []

    def __init__(self, engine, scenario, camera):
        _Pipeline.scales.append(scenario.camera(camera)["metres_per_pixel"])
        _Pipeline.slot_blocks.append(dict(scenario.params.get("slots") or {}))

    def segment(self, image):
        return image

    def reset_tracking(self):
        pass

    def postprocess(self, segmentation, *, polygons=True):
        return self.process(segmentation)

    def process(self, image):
        points = self.truth[image.shape[:2]] + np.array([SHIFT_PX, 0.0])
        marks = [MarkingPoint(position=p.astype(np.float32)) for p in points]
        slots = [ParkingSlot(corners=np.array([points[0], points[1], points[1] + 50, points[0] + 50]))]
        return SimpleNamespace(slots=slots, marking_points=marks)


@pytest.fixture
def stand_in(monkeypatch):
    import seg_perception.inference.engine as engine_module
    import seg_perception.inference.pipeline as pipeline_module

    engine = SimpleNamespace(metadata=SimpleNamespace(scenario="parking"), close=lambda: None)
    monkeypatch.setattr(engine_module, "create_engine", lambda *a, **k: engine)
    monkeypatch.setattr(pipeline_module, "SegmentationPipeline", _Pipeline)
    _Pipeline.scales = []
    _Pipeline.slot_blocks = []


def test_avm_eval_scales_labels_and_thresholds_per_frame(avm_folder, stand_in, tmp_path):
    report = avm_eval.evaluate_avm("model.onnx", avm_folder, metres_per_pixel=0.02, overlays=tmp_path / "ov")
    assert report["images"] == 2 and report["unlabelled_images_skipped"] == 1
    assert report["predicted_points_from"] == ["marking_points"]
    # 0.02 m/px in the label frames: 0.02 for the 600-px image, 0.04 for the half-size strip
    assert sorted(_Pipeline.scales) == pytest.approx([0.02, 0.04])
    assert report["ps2_scale_assumed"] is False
    overall = report["groups"]["all"]
    assert overall["points"]["recall"] == 1.0 and overall["points"]["precision"] == 1.0
    assert overall["points"]["error_px"] == pytest.approx(SHIFT_PX)
    assert overall["points"]["error_cm"] == pytest.approx((6 + 6 + 12 + 12) / 4)
    slots = overall["slots"]  # only the DMPR label pairs its points
    assert (slots["true"], slots["matched"]) == (1, 1)
    assert slots["error_cm"] == pytest.approx(6.0)
    assert set(report["groups"]) == {"all", "Full", "Strip"}
    assert "slots" not in report["groups"]["Strip"]
    assert len(list((tmp_path / "ov").glob("*.png"))) == 2


def test_avm_eval_threshold_is_metric(avm_folder, stand_in):
    # 5 cm: the 3 px shift is 6 cm in the full view and 12 cm in the strip: nothing matches
    report = avm_eval.evaluate_avm("model.onnx", avm_folder, metres_per_pixel=0.02, threshold_m=0.05)
    assert report["groups"]["all"]["points"]["matched"] == 0
    # without a scale the ps2.0 convention holds: 10 px per 600 px of image width, and the model
    # sees each image as 10 m across (600 px: 1/60 m a pixel; the 96-px strip: 10/96)
    _Pipeline.scales = []
    report = avm_eval.evaluate_avm("model.onnx", avm_folder)
    assert sorted(_Pipeline.scales) == pytest.approx([10.0 / 600, 10.0 / 96])
    assert report["ps2_scale_assumed"] is True
    groups = report["groups"]
    assert groups["Full"]["points"]["recall"] == 1.0 and groups["Full"]["points"]["error_cm"] is None
    assert groups["Strip"]["points"]["recall"] == 0.0  # 10 * 96 / 600 = 1.6 px < 3 px


def test_eval_cli_avm_prints_the_table(avm_folder, stand_in, capsys, tmp_path):
    from seg_perception.cli import main

    out = tmp_path / "r.json"
    assert (
        main(
            ["eval", "model.onnx", "--avm", str(avm_folder), "--metres-per-pixel", "0.02", "--json", str(out)]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "| all | 2 | 1.000 | 1.000 | 9.0 | 1.000 | 1.000 | 6.0 | 1 |" in text
    assert json.loads(out.read_text())["groups"]["Strip"]["frames"] == 1


def test_avm_eval_keeps_the_scenarios_flips_unless_told(avm_folder, stand_in):
    avm_eval.evaluate_avm("model.onnx", avm_folder, metres_per_pixel=0.02)
    shipped = _Pipeline.slot_blocks[0]
    assert shipped == load_scenario("parking").params["slots"]  # config/parking.yaml as it is

    _Pipeline.slot_blocks = []
    avm_eval.evaluate_avm("model.onnx", avm_folder, metres_per_pixel=0.02, test_time_flips=4)
    told = _Pipeline.slot_blocks[0]
    # the given number on any device; every other slot setting as shipped
    assert told["test_time_flips"] == 4 and "cuda_test_time_flips" not in told
    assert {k: v for k, v in told.items() if k != "test_time_flips"} == {
        k: v for k, v in shipped.items() if k not in ("test_time_flips", "cuda_test_time_flips")
    }


def test_avm_eval_point_threshold_replaces_the_scenarios_only_there(avm_folder, stand_in):
    avm_eval.evaluate_avm("model.onnx", avm_folder, metres_per_pixel=0.02, point_threshold=0.45)
    told = _Pipeline.slot_blocks[0]
    shipped = load_scenario("parking").params["slots"]
    assert told["point_threshold"] == pytest.approx(0.45)
    assert {k: v for k, v in told.items() if k != "point_threshold"} == {
        k: v for k, v in shipped.items() if k != "point_threshold"
    }


def test_eval_cli_passes_test_time_flips_and_refuses_other_counts(avm_folder, stand_in, capsys):
    from seg_perception.cli import main

    assert main(["eval", "model.onnx", "--avm", str(avm_folder), "--test-time-flips", "2"]) == 0
    assert {block["test_time_flips"] for block in _Pipeline.slot_blocks} == {2}
    with pytest.raises(SystemExit):
        main(["eval", "model.onnx", "--avm", str(avm_folder), "--test-time-flips", "3"])
    assert "invalid choice" in capsys.readouterr().err


def test_predicted_points_fall_back_to_merged_slot_corners():
    slots = [
        ParkingSlot(corners=np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]])),
        ParkingSlot(corners=np.array([[101.0, 0.0], [200.0, 0.0], [200.0, 50.0], [101.0, 50.0]])),
    ]
    points, source = avm_eval.predicted_points(SimpleNamespace(slots=slots), threshold_px=10.0)
    assert source == "slot_corners"
    np.testing.assert_allclose(points, [[0.0, 0.0], [100.5, 0.0], [200.0, 0.0]])


def test_an_empty_marking_point_output_falls_back_to_slot_corners():
    slots = [ParkingSlot(corners=np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]]))]
    result = SimpleNamespace(slots=slots, marking_points=np.zeros((0, 5)))
    points, source = avm_eval.predicted_points(result, threshold_px=10.0)
    assert source == "slot_corners" and len(points) == 2
    result = SimpleNamespace(slots=[], marking_points=np.array([[7.0, 8.0, 0.0, 1.0, 0.8]]))
    points, source = avm_eval.predicted_points(result, threshold_px=10.0)
    assert source == "marking_points"
    np.testing.assert_allclose(points, [[7.0, 8.0]])


def test_points_from_slot_corners_reads_the_slots_even_beside_marking_points(avm_folder, stand_in, capsys):
    from seg_perception.cli import main
    from seg_perception.errors import ConfigError

    slots = [ParkingSlot(corners=np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]]))]
    result = SimpleNamespace(slots=slots, marking_points=np.array([[7.0, 8.0, 0.0, 1.0, 0.8]]))
    points, source = avm_eval.predicted_points(result, threshold_px=10.0, points_from="slot_corners")
    assert source == "slot_corners"
    np.testing.assert_allclose(points, [[0.0, 0.0], [100.0, 0.0]])  # the lone marking point is not there
    with pytest.raises(ConfigError, match="points_from"):
        avm_eval.predicted_points(result, threshold_px=10.0, points_from="heat")
    report = avm_eval.evaluate_avm(
        "model.onnx", avm_folder, metres_per_pixel=0.02, points_from="slot_corners"
    )
    assert report["predicted_points_from"] == ["slot_corners"]
    assert main(["eval", "model.onnx", "--avm", str(avm_folder), "--points-from", "slot_corners"]) == 0
    assert "predicted points from: slot_corners" in capsys.readouterr().out


def _generated_folder(tmp_path, *, count=2, seed=500000, size="240x240", metres_per_pixel=0.03):
    from seg_perception.cli import main

    out = tmp_path / "generated"
    argv = ["generate", "--scenario", "parking", "--count", str(count), "--seed", str(seed)]
    argv += ["--size", size, "--metres-per-pixel", str(metres_per_pixel), "--out", str(out), "--no-preview"]
    assert main(argv) == 0
    return out


class _AssemblyOnly:
    """Records what the oracle hands the assembly step; running the model is an error."""

    calls: ClassVar[list[tuple[np.ndarray, np.ndarray]]] = []

    def __init__(self, engine, scenario, camera):
        pass

    def process(self, image):
        raise AssertionError("--oracle must not run the model")

    def reset_tracking(self):
        pass

    def slots_from_marking_points(self, points, mask):
        _AssemblyOnly.calls.append((points, mask))
        return []


def test_oracle_hands_the_true_points_with_directions_and_the_true_mask_to_the_assembly(
    tmp_path, monkeypatch
):
    import seg_perception.inference.engine as engine_module
    import seg_perception.inference.pipeline as pipeline_module

    folder = _generated_folder(tmp_path)
    engine = SimpleNamespace(metadata=SimpleNamespace(scenario="parking"), close=lambda: None)
    monkeypatch.setattr(engine_module, "create_engine", lambda *a, **k: engine)
    monkeypatch.setattr(pipeline_module, "SegmentationPipeline", _AssemblyOnly)
    _AssemblyOnly.calls = []
    report = avm_eval.evaluate_avm("model.onnx", folder, oracle=True)
    assert report["oracle"] and report["predicted_points_from"] == ["oracle"]
    assert report["groups"]["all"]["points"]["recall"] == 1.0
    assert len(_AssemblyOnly.calls) == 2
    for (points, mask), stem in zip(_AssemblyOnly.calls, ["parking_500000", "parking_500001"], strict=True):
        label = json.loads((folder / "labels" / f"{stem}.json").read_text())
        marks = np.array(label["marks"])
        np.testing.assert_allclose(points[:, :2], marks[:, :2] - DMPR_PIXEL_ORIGIN)  # written from 1
        direction = marks[:, 2:4] - marks[:, :2]
        np.testing.assert_allclose(
            points[:, 2:4], direction / np.linalg.norm(direction, axis=1, keepdims=True)
        )
        np.testing.assert_array_equal(points[:, 4], 1.0)
        np.testing.assert_array_equal(
            mask, cv2.imread(str(folder / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        )


def test_oracle_through_the_shipped_assembly_rebuilds_the_labelled_slots(tmp_path, capsys):
    from seg_perception.cli import main
    from seg_perception.config import share_dir

    folder = _generated_folder(tmp_path, count=3)
    model = share_dir() / "weights" / "parking.onnx"
    assert main(["eval", str(model), "--avm", str(folder), "--oracle", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "predicted points from: oracle" in text
    row = next(line for line in text.splitlines() if line.startswith("| all |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2:4] == ["1.000", "1.000"]  # points are the labels themselves
    assert cells[6] == "1.000" and int(cells[8]) > 0  # every labelled slot comes back


def test_ps2_matlab_labels_evaluate_as_their_json(tmp_path, capsys):
    """ps2.0's own layout: 600 x 600 images over 10 m with a ``.mat`` label beside each, no scale given."""
    import scipy.io

    from seg_perception.cli import main
    from seg_perception.config import share_dir

    folder = _generated_folder(tmp_path, size="600x600", metres_per_pixel=10.0 / 600)
    model = share_dir() / "weights" / "parking.onnx"
    argv = ["eval", str(model), "--avm", str(folder), "--oracle", "--threads", "1"]
    assert main(argv) == 0
    json_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| all |"))
    for label in sorted((folder / "labels").glob("*.json")):
        data = json.loads(label.read_text())
        scipy.io.savemat(
            folder / "images" / f"{label.stem}.mat", {"marks": data["marks"], "slots": data["slots"]}
        )
        label.unlink()
    assert main(argv) == 0
    from_matlab = capsys.readouterr().out
    row = next(line for line in from_matlab.splitlines() if line.startswith("| all |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "2" and cells[2:4] == ["1.000", "1.000"]
    assert cells[6] == "1.000" and int(cells[8]) > 0  # every labelled slot comes back
    # the same scores as from the JSON labels, which name their scale (so they also give centimetres)
    json_cells = [cell.strip() for cell in json_row.strip("|").split("|")]
    assert [c for i, c in enumerate(cells) if i not in (4, 7)] == [
        c for i, c in enumerate(json_cells) if i not in (4, 7)
    ]
    assert (cells[4], cells[7]) == ("-", "-") and json_cells[4] != "-"


def test_labelled_images_are_single_frames_so_no_slot_is_held_from_the_one_before(tmp_path):
    """With held slots on, the slots of one image must not turn up in the next (another place)."""
    from seg_perception.config import share_dir

    folder = _generated_folder(tmp_path, count=3)
    scenario = yaml.safe_load((share_dir() / "config" / "parking.yaml").read_text())
    tracker = scenario["/**"]["ros__parameters"]["slots"]["tracker"]
    tracker.update({"max_missed": 15, "coast_frames": 5, "coast_min_hits": 1})
    path = tmp_path / "parking_held.yaml"
    path.write_text(yaml.safe_dump(scenario))
    model = share_dir() / "weights" / "parking.onnx"
    report = avm_eval.evaluate_avm(str(model), folder, oracle=True, scenario=str(path))
    slots = report["groups"]["all"]["slots"]
    assert slots["true"] > 0 and slots["precision"] == 1.0 and slots["recall"] == 1.0


def test_oracle_needs_directions_and_true_masks(avm_folder, tmp_path, capsys):
    from seg_perception.cli import main
    from seg_perception.config import share_dir
    from seg_perception.errors import ConfigError

    label = avm_eval.read_parking_label(avm_folder / "Full" / "run_xml" / "1.json")
    with pytest.raises(ConfigError, match="direction"):
        avm_eval.oracle_points(label)  # ps2.0 marks without a second point
    model = str(share_dir() / "weights" / "parking.onnx")
    folder = _generated_folder(tmp_path, count=1)
    (folder / "masks" / "parking_500000.png").unlink()
    assert main(["eval", model, "--avm", str(folder), "--oracle", "--threads", "1"]) != 0
    assert "--oracle needs the true mask" in capsys.readouterr().err
    assert main(["eval", model, "--oracle"]) != 0
    assert "give it with --avm DIR" in capsys.readouterr().err


def test_a_generated_folders_masks_and_previews_are_not_counted_as_unlabelled_images(tmp_path):
    folder = _generated_folder(tmp_path, count=2)
    (folder / "preview").mkdir()  # what generate writes without --no-preview
    for name in ("parking_500000", "parking_500001"):
        (folder / "preview" / f"{name}.jpg").write_bytes(b"jpeg")
    samples, unlabelled = avm_eval.avm_samples(folder)
    assert [sample.image_path.parent.name for sample in samples] == ["images", "images"]
    assert unlabelled == 0
    (folder / "images" / "stray.png").write_bytes((folder / "images" / "parking_500000.png").read_bytes())
    assert avm_eval.avm_samples(folder)[1] == 1  # an image without a label still counts


def test_a_generated_scene_counts_in_a_group_per_kind_of_row_marking(tmp_path):
    folder = _generated_folder(tmp_path, count=6)
    samples, _ = avm_eval.avm_samples(folder)
    for sample in samples:
        scene = json.loads((folder / "polygons" / f"{sample.image_path.stem}.json").read_text())
        style = scene["meta"]["avm_style"]
        expected = {f"rows {row['lines']}" for row in style["rows"]} | {
            "indoor" if style["indoor"] else "outdoor"
        }
        assert set(sample.tags) == expected
    accumulator = avm_eval.ParkingAccumulator(threshold_m=0.17)
    for sample in samples:
        accumulator.update(
            image_width=240,
            predicted_points=np.zeros((0, 2)),
            true_points=np.array([[10.0, 10.0]]),
            group=sample.group,
            tags=sample.tags,
        )
    groups = accumulator.report()["groups"]
    assert groups["all"]["frames"] == groups["images"]["frames"] == len(samples)
    for tag in {tag for sample in samples for tag in sample.tags}:
        assert groups[tag]["frames"] == sum(tag in sample.tags for sample in samples)
    assert sum(groups.get(place, {"frames": 0})["frames"] for place in ("indoor", "outdoor")) == len(samples)


def test_images_outside_a_generated_folder_have_no_scene_groups(avm_folder):
    samples, _ = avm_eval.avm_samples(avm_folder)
    assert samples and all(sample.tags == () for sample in samples)


def test_the_report_lists_each_frames_counts(avm_folder, stand_in):
    report = avm_eval.evaluate_avm("model.onnx", avm_folder, metres_per_pixel=0.0167)
    frames = {frame["image"]: frame for frame in report["per_frame"]}
    assert len(frames) == report["images"] == 2
    full = frames[str(Path("Full") / "run_img" / "1.png")]
    assert full["groups"] == ["Full"]
    assert full["points"] == {"predicted": 2, "true": 2, "matched": 2}  # shifted 3 px: within the radius
    assert full["slots"] == {"predicted": 1, "true": 1, "matched": 1}
    strip = next(frame for name, frame in frames.items() if name.endswith("7.jpg"))
    assert strip["slots"]["true"] is None  # a point list pairs nothing
    totals = report["groups"]["all"]["points"]
    assert sum(frame["points"]["matched"] for frame in frames.values()) == totals["matched"]


def test_a_threshold_sweep_equals_one_evaluation_per_threshold(tmp_path):
    """The sweep runs the model once per image; each threshold's report is the one-threshold run's."""
    import torch

    from seg_perception.cli import main
    from seg_perception.inference.export import export_onnx
    from seg_perception.inference.metadata import ModelMetadata
    from seg_perception.models import build_model

    torch.manual_seed(0)
    model = build_model("icnet_lite", 3, marking_points=True).eval()
    with torch.no_grad():  # heat spread over (0, 1), not the near-zero start of training
        model.point_head.out.weight.normal_(0.0, 1.0)
        model.point_head.out.bias.zero_()
    metadata = ModelMetadata(
        model="icnet_lite",
        scenario="parking",
        classes=("background", "slot_line", "free_slot"),
        colors=("#000000", "#FFFFFF", "#30E060"),
        input_size=(64, 64),
        marking_point_stride=4,
        metres_per_pixel=0.1,
    )
    onnx_path = tmp_path / "points.onnx"
    export_onnx(model, metadata, onnx_path)
    scenes = tmp_path / "scenes"
    argv = ["generate", "--scenario", "parking", "--count", "3", "--seed", "5", "--size", "96x96"]
    assert main([*argv, "--metres-per-pixel", "0.1", "--out", str(scenes)]) == 0

    thresholds = (0.3, 0.5, 0.7)
    sweep = avm_eval.evaluate_avm_thresholds(onnx_path, scenes, thresholds, threads=1, test_time_flips=2)
    assert list(sweep) == list(thresholds)
    predicted = []
    for threshold in thresholds:
        alone = avm_eval.evaluate_avm(
            onnx_path, scenes, threads=1, test_time_flips=2, point_threshold=threshold
        )
        assert sweep[threshold]["groups"] == alone["groups"]
        assert sweep[threshold]["per_frame"] == alone["per_frame"]
        assert sweep[threshold]["point_threshold"] == threshold
        predicted.append(alone["groups"]["all"]["points"]["predicted"])
    assert predicted[0] > predicted[-1]  # the thresholds differ in what they keep
