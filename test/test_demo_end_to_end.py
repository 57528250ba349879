"""`seg-perception demo` end to end on one tiny scenario: node and camera processes, real DDS, report."""

import json
import os
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("rclpy")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from seg_perception.cli import main  # noqa: E402
from seg_perception.config import load_scenario  # noqa: E402
from seg_perception.inference.metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata  # noqa: E402
from seg_perception.ros.demo import DemoError, DemoSettings, run_demo  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SCENARIO = "highway"
INPUT_SIZE = (32, 64)


def write_tiny_model(path, scenario: str) -> None:
    """A 1x1 convolution as a stand-in segmentation model (fast, no torch), with real metadata."""
    classes = load_scenario(scenario).classes
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(classes.num_classes, 3, 1, 1)).astype(np.float32), "w")
    height, width = INPUT_SIZE
    logits_shape = ["batch", classes.num_classes, height, width]
    graph = helper.make_graph(
        [helper.make_node("Conv", [INPUT_NAME, "w"], [OUTPUT_NAME])],
        "tiny",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, logits_shape)],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    metadata = ModelMetadata(model="tiny_conv", scenario=scenario, classes=classes.names,
                             colors=classes.colors_hex, input_size=INPUT_SIZE)
    helper.set_model_props(model, metadata.to_props())
    onnx.save_model(model, str(path))


def _settings(tmp_path, model_dir, offset):
    return DemoSettings(
        scenarios=(SCENARIO,), seconds=1.0, out=tmp_path / "demo", size=(72, 128), model_dir=model_dir,
        domain_id=150 + (os.getpid() + offset) % 50, startup_timeout_s=60.0, output_timeout_s=20.0,
    )


def test_demo_writes_report_animation_and_contact_sheet(tmp_path):
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    write_tiny_model(model_dir / f"{SCENARIO}.onnx", SCENARIO)
    started = time.monotonic()
    report = run_demo(_settings(tmp_path, model_dir, offset=11))
    assert time.monotonic() - started < 90

    out = tmp_path / "demo"
    saved = json.loads((out / "report.json").read_text())
    assert saved["fastdds_profile"].endswith("fastdds_shm.xml")
    (item,) = saved["scenarios"]
    for key in ("fps", "input_fps", "latency_ms", "frames", "accuracy", "providers", "model", "files",
                "node_counters", "timings_s", "meets_min_fps"):
        assert key in item, key
    assert item["frames"]["sent"] == 30
    assert 0 < item["frames"]["received"] <= 30
    assert item["frames"]["dropped"] == 30 - item["frames"]["received"]
    assert set(item["latency_ms"]) == {"count", "p50", "p95", "max", "mean"}
    assert item["latency_ms"]["count"] == item["frames"]["received"]
    assert 0.0 <= item["accuracy"]["miou"] <= 1.0
    assert set(item["accuracy"]["per_class_iou"]) == {"background", "lane_marking"}
    assert "CPUExecutionProvider" in item["providers"]
    assert item["exit_codes"] == {"synthetic camera": 0, "node": 0}

    gif = out / SCENARIO / f"{SCENARIO}.gif"
    assert gif == type(gif)(item["files"]["animation"])
    with Image.open(gif) as animation:
        assert animation.n_frames >= 2
    assert gif.stat().st_size < 5 * 1024 * 1024
    assert (out / SCENARIO / "contact_sheet.png").is_file() and (out / "contact_sheet.png").is_file()
    assert (out / SCENARIO / "node.log").read_text().strip()
    markdown = (out / "report.md").read_text()
    assert f"## {SCENARIO}" in markdown and "mIoU" in markdown
    assert report["files"]["markdown"] == str(out / "report.md")


def test_demo_fails_fast_on_a_missing_model(tmp_path):
    with pytest.raises(DemoError, match=f"{SCENARIO}.onnx does not exist"):
        run_demo(_settings(tmp_path, tmp_path, offset=12))


def test_demo_names_the_node_log_when_the_node_dies(tmp_path, capsys):
    (tmp_path / f"{SCENARIO}.onnx").write_bytes(b"not an onnx model")
    code = main(["demo", "--scenarios", SCENARIO, "--seconds", "1", "--size", "72x128",
                 "--model-dir", str(tmp_path), "--out", str(tmp_path / "demo"),
                 "--domain-id", str(150 + (os.getpid() + 13) % 50)])
    assert code == 1
    error = capsys.readouterr().err
    assert "node exited with code 1" in error
    assert str(tmp_path / "demo" / SCENARIO / "node.log") in error
