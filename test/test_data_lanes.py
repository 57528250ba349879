"""TuSimple / CULane readers and writers, lane-mask rasterisation and the training readers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.data.errors import DatasetError
from seg_perception.data.lanes import (
    CULaneDataset,
    TuSimpleDataset,
    TuSimpleLabel,
    rasterize_lane_mask,
    read_culane_lines,
    read_tusimple_labels,
    write_culane_lines,
    write_tusimple_labels,
)
from seg_perception.training.datasets import _dataset_reader
from seg_perception.training.recipe import parse_recipe

H_SAMPLES = list(range(40, 120, 10))


def _image(path: Path, size=(120, 160)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), 90, np.uint8))


def write_tusimple_fixture(root: Path) -> list[TuSimpleLabel]:
    labels = [
        TuSimpleLabel.from_polylines("clips/a/1.jpg", [np.array([[40.0, 119.0], [70.0, 40.0]])], H_SAMPLES),
        TuSimpleLabel.from_polylines(
            "clips/b/1.jpg",
            [np.array([[30.0, 119.0], [60.0, 60.0]]), np.array([[130.0, 119.0], [100.0, 40.0]])],
            H_SAMPLES,
        ),
    ]
    for label in labels:
        _image(root / label.raw_file)
    write_tusimple_labels(root / "label_data_0313.json", labels[:1])
    write_tusimple_labels(root / "label_data_0601.json", labels[:1])
    write_tusimple_labels(root / "label_data_0531.json", labels[1:])
    return labels


def test_tusimple_round_trip(tmp_path):
    labels = write_tusimple_fixture(tmp_path)
    again = read_tusimple_labels(tmp_path / "label_data_0531.json")
    assert len(again) == 1
    assert again[0].raw_file == "clips/b/1.jpg" and again[0].h_samples == H_SAMPLES
    assert again[0].lanes == labels[1].lanes
    first = again[0].lanes[0]
    assert first[:2] == [-2, -2] and first[-1] == pytest.approx(30.0 + 30.0 * 9 / 59, abs=0.1)
    record = json.loads((tmp_path / "label_data_0531.json").read_text().splitlines()[0])
    assert set(record) == {"lanes", "h_samples", "raw_file"}
    assert all(isinstance(h, int) for h in record["h_samples"])
    polylines = again[0].polylines()
    assert len(polylines) == 2 and polylines[0][:, 1].min() == 60


def test_tusimple_reader_names_bad_lines(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text('{"lanes": [[1, 2]], "h_samples": [1, 2, 3], "raw_file": "x.jpg"}\n')
    with pytest.raises(DatasetError, match=r"labels.json:1: lane 0 has 2 values for 3"):
        read_tusimple_labels(path)
    path.write_text('{"lanes": []}\n')
    with pytest.raises(DatasetError, match="lacks the TuSimple keys"):
        read_tusimple_labels(path)
    with pytest.raises(DatasetError, match="does not exist"):
        read_tusimple_labels(tmp_path / "missing.json")


def test_culane_round_trip_and_errors(tmp_path):
    lanes = [
        np.array([[10.5, 100.0], [20.25, 80.0], [30.0, 60.0]]),
        np.array([[150.0, 119.0], [120.0, 50.0]]),
    ]
    path = tmp_path / "00000.lines.txt"
    write_culane_lines(path, lanes)
    again = read_culane_lines(path)
    assert len(again) == 2
    for a, b in zip(lanes, again, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)
    path.write_text("1 2 3\n")
    with pytest.raises(DatasetError, match="x y pairs"):
        read_culane_lines(path)


def test_lane_mask_tapers_towards_the_far_end():
    mask = rasterize_lane_mask(
        [np.array([[50.0, 119.0], [50.0, 20.0]])], (120, 100), class_id=3, line_width_px=9
    )
    assert set(np.unique(mask)) == {0, 3}
    assert np.count_nonzero(mask[110]) >= 7
    assert 1 <= np.count_nonzero(mask[22]) <= 2
    flat = rasterize_lane_mask(
        [np.array([[50.0, 119.0], [50.0, 20.0]])], (120, 100), line_width_px=9, taper=False
    )
    assert np.count_nonzero(flat[22]) >= 7


def test_tusimple_dataset_masks_follow_the_labels(tmp_path):
    labels = write_tusimple_fixture(tmp_path)
    dataset = TuSimpleDataset(
        tmp_path, label_files=["label_data_0313.json", "label_data_0531.json"], class_id=1
    )
    assert len(dataset) == 2
    image, mask = dataset[1]
    assert image.shape[:2] == mask.shape == (120, 160)
    for line in labels[1].polylines():
        for x, y in line:
            assert mask[int(y), round(x)] == 1
    assert mask[:, 75:90].sum() == 0  # between the lanes


def test_culane_dataset_with_and_without_list(tmp_path):
    for name in ("driver_1/a/00000", "driver_1/a/00030"):
        _image(tmp_path / f"{name}.jpg")
        write_culane_lines(tmp_path / f"{name}.lines.txt", [np.array([[20.0, 119.0], [60.0, 40.0]])])
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "train_gt.txt").write_text("/driver_1/a/00030.jpg /laneseg/x.png 1 0 0 0\n")
    listed = CULaneDataset(tmp_path)
    assert len(listed) == 1 and listed.images[0].name == "00030.jpg"
    everything = CULaneDataset(tmp_path, list_file=None)
    assert len(everything) == 2
    _, mask = everything[0]
    assert mask[119, 20] == 1 and mask[40, 60] == 1 and mask[60, 140] == 0
    with pytest.raises(DatasetError, match="list file"):
        CULaneDataset(tmp_path, list_file="list/val_gt.txt")


def test_recipes_read_tusimple_and_culane(tmp_path):
    write_tusimple_fixture(tmp_path)
    recipe = parse_recipe({"scenario": "highway", "model": "icnet_lite", "input_size": [64, 64],
                           "data": {"source": "tusimple", "path": str(tmp_path)}})  # fmt: skip
    train = _dataset_reader(recipe, "train", lambda image, mask: (image, mask))
    val = _dataset_reader(recipe, "val", lambda image, mask: (image, mask))
    assert len(train) == 2 and len(val) == 1
    recipe = parse_recipe({"scenario": "highway", "model": "icnet_lite", "input_size": [64, 64],
                           "data": {"source": "tusimple", "path": str(tmp_path),
                                    "options": {"train_labels": "label_data_0531.json",
                                                "val_labels": []}}})  # fmt: skip
    assert _dataset_reader(recipe, "train", lambda i, m: (i, m)).labels[0].raw_file == "clips/b/1.jpg"
    with pytest.raises(DatasetError, match="at least one label file"):
        _dataset_reader(recipe, "val", lambda i, m: (i, m))
