"""Target status: met, missed by how much, not measured (and why)."""

import pytest

from seg_perception.bench.targets import MET, MISSED, NOT_MEASURED, evaluate_targets


def _row(model, size, engine, fps, *, status="ok", precision="fp32", threads=None, metric="engine_only"):
    row = {
        "label": model,
        "model": model,
        "input_size": list(size),
        "engine": engine,
        "status": status,
        "precision": precision,
        "threads": threads,
    }
    if status == "ok":
        other = "predict" if metric == "engine_only" else "engine_only"
        row |= {metric: {"fps": fps}, other: {"fps": fps / 2}}
    else:
        row["reason"] = "no CUDA device"
    return row


def _by_key(results):
    return {item["key"]: item for item in results}


def test_gpu_targets_met_missed_and_skipped():
    rows = [
        _row("icnet_r50", (1024, 2048), "onnxruntime-tensorrt", 250.0, precision="fp16"),
        _row("hrnetv2_w48", (1024, 2048), "onnxruntime-cuda", 40.0),
        _row("hrnetv2_w48", (1024, 2048), "torch-cuda", 50.0, precision="fp16"),
        _row("hrnetv2_w18_small_v2", (1024, 2048), "torch-cuda", 0.0, status="skipped"),
    ]
    results = _by_key(evaluate_targets(rows, None))
    assert results["icnet_r50_trt_fp16"]["status"] == MET
    w48 = results["hrnetv2_w48_gpu"]
    assert w48["status"] == MISSED
    assert w48["value"] == 50.0  # the best qualifying engine counts
    assert "missed by 10.0 fps" in w48["text"]
    small = results["hrnetv2_w18_small_v2_gpu"]
    assert small["status"] == NOT_MEASURED
    assert "no CUDA device" in small["text"]


def test_fp32_tensorrt_does_not_qualify_for_the_fp16_target():
    rows = [_row("icnet_r50", (1024, 2048), "onnxruntime-tensorrt", 500.0, precision="fp32")]
    assert _by_key(evaluate_targets(rows, None))["icnet_r50_trt_fp16"]["status"] == NOT_MEASURED


def test_cpu_target_needs_every_default_model_and_at_most_two_threads():
    rows = [
        _row("icnet_lite", (256, 512), "onnxruntime-cpu", 20.0, threads=2, metric="predict"),
        _row("icnet_lite", (320, 320), "onnxruntime-cpu", 12.0, threads=2, metric="predict"),
        _row("icnet_lite", (320, 320), "onnxruntime-cpu", 90.0, threads=8, metric="predict"),
    ]
    rows[1]["predict_stages_ms"] = {"preprocess": 1.5, "inference": 80.0, "mask": 2.0}
    cpu = _by_key(evaluate_targets(rows, None))["cpu_default_models"]
    assert cpu["status"] == MISSED
    assert cpu["value"] == 12.0
    assert "missed by 3.0 fps" in cpu["text"]
    expected = "frame time 83.5 ms, largest parts: inference 80.0, mask 2.0, preprocess 1.5 ms"
    assert cpu["text"].endswith(expected)
    met = _by_key(evaluate_targets(rows[:1], None))["cpu_default_models"]
    assert met["status"] == MET


def test_node_targets_take_the_worst_camera():
    node = {
        "status": "ok",
        "device": "cpu",
        "cameras": {
            "front": {
                "latency_p99_ms": 40.0,
                "dropped": 0,
                "overhead_percent": 10.0,
                "stage_ms": {
                    "inference": 24.0,
                    "publish": 12.0,
                    "conversion": 0.1,
                    "mask": 1.9,
                    "pipeline": 26.0,
                },
            },  # an aggregate: not a part of its own
            "avm": {"latency_p99_ms": 20.0, "dropped": 3, "overhead_percent": 12.0},
        },
    }
    results = _by_key(evaluate_targets([], node))
    assert results["node_p99"]["status"] == MISSED
    assert results["node_p99"]["value"] == pytest.approx(40.0)
    assert "missed by 7.0 ms" in results["node_p99"]["text"]
    assert "target is for one GPU" in results["node_p99"]["text"]
    # What dominates the frame time: the three largest stages, largest first.
    assert results["node_p99"]["text"].endswith(
        "front node time 38.0 ms, largest parts: inference 24.0, publish 12.0, mask 1.9 ms"
    )
    assert results["node_drops"]["status"] == MISSED
    assert results["node_overhead"]["status"] == MET
    absent = _by_key(evaluate_targets([], None))
    assert absent["node_p99"]["status"] == NOT_MEASURED
    assert "--node" in absent["node_p99"]["text"]
