"""`bench --node`: both cameras' nodes and synthetic cameras over real DDS, tiny models and frames."""

import math
import os
import shutil

import pytest

pytest.importorskip("rclpy")

from seg_perception.bench.node import CameraStream, run_node_bench
from seg_perception.bench.targets import evaluate_targets

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_node_bench_measures_both_cameras_in_a_window(tmp_path, tiny_onnx_model):
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    for scenario in ("highway", "parking"):
        shutil.copy(tiny_onnx_model(scenario, kind="random"), model_dir / f"{scenario}.onnx")
    streams = (CameraStream("highway", "front", (72, 128)), CameraStream("parking", "avm", (64, 64)))
    result = run_node_bench(
        out=tmp_path / "node",
        cache_dir=tmp_path / "cache",
        domain_id=201 + os.getpid() % 30,
        seconds=1.0,
        model_dir=model_dir,
        streams=streams,
        startup_timeout_s=60.0,
    )
    assert result["status"] == "ok", result.get("reason")
    assert set(result["cameras"]) == {"front", "avm"}
    for name, camera in result["cameras"].items():
        assert camera["sent"] > 0, name
        assert camera["received"] + camera["dropped"] == camera["sent"]
        assert camera["received"] > 0
        latency = camera["latency_ms"]
        assert latency["count"] == camera["received"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert camera["latency_p99_ms"] == latency["p99"]
        assert camera["input_fps"] > 0
        assert "inference" in camera["stage_ms"]
        assert camera["engine_ms"] > 0
        assert math.isfinite(camera["overhead_percent"])
        assert camera["node_exit_code"] == 0
        assert camera["model_origin"] == str(model_dir / f"{camera['scenario']}.onnx")
    statuses = {item["key"]: item["status"] for item in evaluate_targets([], result)}
    assert all(statuses[key] in ("met", "missed") for key in ("node_p99", "node_drops", "node_overhead"))
