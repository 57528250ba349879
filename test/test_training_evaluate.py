"""``eval`` on a few scenes writes a JSON with pixel accuracy, per-class IoU and mIoU."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from seg_perception.cli import main
from seg_perception.config import load_scenario
from seg_perception.errors import ConfigError, ModelFileError
from seg_perception.inference.export import export_onnx
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.training.evaluate import evaluate


class BrightIsLane(nn.Module):
    """Predicts class 1 where the (normalised) red channel is high: a known, checkable model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x[:, :1]
        return torch.cat([-score, score], dim=1)


def write_folder(root: Path, count: int = 3) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        mask = np.zeros((20, 30), np.uint8)
        mask[rng.integers(0, 15) :, rng.integers(0, 25) :][:4, :4] = 1
        image = np.where(mask[..., None] == 1, 250, 10).astype(np.uint8).repeat(3, axis=2)
        cv2.imwrite(str(root / "images" / f"s{index}.png"), image)
        cv2.imwrite(str(root / "masks" / f"s{index}.png"), mask)


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    classes = load_scenario("highway").classes
    metadata = ModelMetadata(
        model="bright",
        scenario="highway",
        classes=classes.names,
        colors=classes.colors_hex,
        input_size=(20, 30),
    )
    return export_onnx(BrightIsLane(), metadata, tmp_path / "bright.onnx").path


def test_eval_folder_writes_json(tmp_path: Path, onnx_model: Path) -> None:
    write_folder(tmp_path / "data")
    out = tmp_path / "eval.json"
    code = main(["eval", str(onnx_model), "--data", str(tmp_path / "data"), "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 3
    assert set(result["per_class_iou"]) == {"background", "lane_marking"}
    assert result["per_class_iou"]["lane_marking"] == pytest.approx(1.0)
    assert result["miou"] == pytest.approx(1.0)


def test_eval_synthetic_scenes(tmp_path: Path, onnx_model: Path) -> None:
    pytest.importorskip("seg_perception.data.synthetic")
    result = evaluate(onnx_model, count=2, overlays=tmp_path / "overlays")
    assert result["samples"] == 2
    assert 0.0 <= result["pixel_accuracy"] <= 1.0
    assert set(result["per_class_iou"]) == {"background", "lane_marking"}
    assert len(list((tmp_path / "overlays").glob("*.png"))) == 2


def test_eval_errors(tmp_path: Path, onnx_model: Path) -> None:
    with pytest.raises(ModelFileError, match=r"absent\.onnx"):
        evaluate(tmp_path / "absent.onnx")
    with pytest.raises(ConfigError, match="images/"):
        evaluate(onnx_model, data=tmp_path)


def test_eval_accepts_a_checkpoint(tmp_path: Path) -> None:
    models = pytest.importorskip("seg_perception.models")
    from seg_perception.inference.checkpoint import save_checkpoint

    classes = load_scenario("highway").classes
    metadata = ModelMetadata(
        model="icnet_lite", scenario="highway", classes=classes.names, colors=classes.colors_hex,
        input_size=(32, 48),
    )  # fmt: skip
    save_checkpoint(tmp_path / "m.pt", models.build_model("icnet_lite", 2), metadata)
    write_folder(tmp_path / "data", count=2)
    result = evaluate(tmp_path / "m.pt", data=tmp_path / "data")
    assert result["model_name"] == "icnet_lite" and result["samples"] == 2
    assert result["confusion"] and sum(map(sum, result["confusion"])) == 2 * 20 * 30


def test_eval_refuses_a_model_of_another_scenarios_classes(tiny_onnx_model, capsys):
    from seg_perception.cli import main

    parking_model = tiny_onnx_model("parking", kind="brightness")
    assert main(["eval", str(parking_model), "--scenario", "highway", "--count", "1"]) == 1
    err = capsys.readouterr().err
    assert "scenario 'highway' has ['background', 'lane_marking']" in err and "drop --scenario" in err


def test_export_given_an_onnx_file_says_it_is_exported_already(tiny_onnx_model, tmp_path, capsys):
    from seg_perception.cli import main

    model = tiny_onnx_model("highway")
    assert main(["export", str(model), "--out", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert "is an ONNX model, not a training checkpoint" in err and "corrupt" not in err
