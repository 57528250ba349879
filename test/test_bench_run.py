"""`seg-perception bench` on CPU with tiny models: rows, skips, JSON and Markdown (speed never asserted)."""

import json
import math
import os

import pytest

from seg_perception.bench.engines import ENGINE_CHOICES
from seg_perception.bench.errors import BenchError
from seg_perception.bench.runner import BenchSettings, measure_row, run_bench
from seg_perception.cli import main

ENGINE_KEYS = {
    "label",
    "model",
    "input_size",
    "frame_size",
    "engine",
    "precision",
    "threads",
    "status",
    "providers",
    "device",
    "engine_only",
    "predict",
    "predict_stages_ms",
    "memory",
    "source",
}
LOOP_KEYS = {"iterations", "wall_s", "fps", "latency_ms", "stopped_early"}
LATENCY_KEYS = {"count", "mean", "p50", "p95", "p99", "max"}


def _positive_loop(loop, iterations):
    assert set(loop) == LOOP_KEYS
    assert loop["iterations"] == iterations
    assert loop["fps"] > 0
    assert set(loop["latency_ms"]) == LATENCY_KEYS
    assert 0 < loop["latency_ms"]["p50"] <= loop["latency_ms"]["p99"] <= loop["latency_ms"]["max"]


def test_bench_command_on_a_model_file_writes_json_and_markdown(tmp_path, tiny_onnx_model):
    model = tiny_onnx_model("highway", kind="random")
    out = tmp_path / "bench"
    argv = [
        "bench",
        "--model-file",
        str(model),
        "--iterations",
        "4",
        "--warmup",
        "1",
        "--threads",
        "0",
        "--frame-size",
        "60x80",
        "--out",
        str(out),
    ]
    assert main(argv) == 0

    report = json.loads((out / "bench.json").read_text())
    assert {"system", "settings", "rows", "targets", "providers_used", "node"} <= set(report)
    system = report["system"]
    assert system["cpu"]["usable_cpus"] >= 1
    assert {"torch", "onnxruntime", "numpy", "opencv"} <= set(system["versions"])
    rows = {row["engine"]: row for row in report["rows"]}
    assert set(rows) == set(ENGINE_CHOICES)
    cpu = rows["onnxruntime-cpu"]
    assert cpu["status"] == "ok"
    assert ENGINE_KEYS <= set(cpu)
    assert cpu["providers"] == ["CPUExecutionProvider"]
    assert cpu["frame_size"] == [60, 80]
    _positive_loop(cpu["engine_only"], 4)
    _positive_loop(cpu["predict"], 4)
    assert cpu["memory"]["rss_mb"] > 0
    # An ONNX file cannot feed the torch engines; GPU engines skip on a machine without CUDA.
    assert rows["torch-cpu"]["status"] == "skipped"
    assert "checkpoint" in rows["torch-cpu"]["reason"]
    if "CUDAExecutionProvider" not in system["onnxruntime"]["available_providers"]:
        assert rows["onnxruntime-cuda"]["status"] == "skipped"
        assert rows["onnxruntime-cuda"]["reason"]
    assert report["providers_used"] == ["CPUExecutionProvider"]
    assert len(report["targets"]) == 7
    assert all(target["status"] in ("met", "missed", "not measured") for target in report["targets"])

    markdown = (out / "bench.md").read_text()
    for heading in ("## Engines", "## Node end to end", "## Targets"):
        assert heading in markdown
    assert model.name in markdown
    assert "skipped:" in markdown
    assert "not measured here" in markdown


def test_bench_exports_registry_models_once_and_runs_onnx_and_torch(tmp_path):
    settings = BenchSettings(
        out=tmp_path,
        models=("icnet_lite",),
        sizes=((32, 64),),
        engines=("onnxruntime-cpu", "torch-cpu"),
        iterations=2,
        warmup=1,
        threads=None,
    )
    report = run_bench(settings)
    rows = {row["engine"]: row for row in report["rows"]}
    for engine in ("onnxruntime-cpu", "torch-cpu"):
        assert rows[engine]["status"] == "ok", rows[engine].get("reason")
        assert rows[engine]["input_size"] == [32, 64]
        _positive_loop(rows[engine]["predict"], 2)
    exported = sorted(path.name for path in (tmp_path / "models").iterdir())
    assert exported == ["icnet_lite_32x64_2cls.onnx", "icnet_lite_32x64_2cls.pt"]
    stamps = {path.name: os.stat(path).st_mtime_ns for path in (tmp_path / "models").iterdir()}
    run_bench(
        BenchSettings(
            out=tmp_path,
            models=("icnet_lite",),
            sizes=((32, 64),),
            engines=("onnxruntime-cpu",),
            iterations=1,
            warmup=0,
            threads=None,
        )
    )
    assert {path.name: os.stat(path).st_mtime_ns for path in (tmp_path / "models").iterdir()} == stamps


def test_unknown_engine_and_missing_model_file_are_user_errors(tmp_path):
    with pytest.raises(BenchError, match="tensorflow"):
        run_bench(BenchSettings(out=tmp_path, engines=("tensorflow",)))
    missing = tmp_path / "absent.onnx"
    assert main(["bench", "--model-file", str(missing), "--out", str(tmp_path)]) == 1


class _RuntimeCallEngine:
    """Times ``runtime_call()``'s callable; the private ``_run`` must not be used by bench."""

    def __init__(self):
        self.last_timings_ms = {"inference": 1.0}
        self.runtime_calls = self.predicts = 0
        self.batches = []

    def runtime_call(self, *, batch=1, seed=0):
        self.batches.append(batch)

        def call():
            self.runtime_calls += 1

        return call

    def _run(self, tensor):
        raise AssertionError("bench must time Engine.runtime_call(), not the private _run")

    def predict(self, frame):
        self.predicts += 1
        return frame[..., 0]


def test_engine_column_times_the_engines_runtime_call(tmp_path):
    engine = _RuntimeCallEngine()
    settings = BenchSettings(out=tmp_path, iterations=3, warmup=2, max_seconds=10)
    measured = measure_row(engine, frame_size=(4, 6), settings=settings, on_gpu=False)
    assert engine.batches == [1]
    assert engine.runtime_calls == 5 and engine.predicts == 5
    assert measured["engine_only"]["iterations"] == 3


def test_two_cameras_needs_exactly_two_frame_sizes(tmp_path):
    with pytest.raises(BenchError, match="two frame sizes"):
        run_bench(BenchSettings(out=tmp_path, two_cameras=True, two_camera_sizes=((4, 4),)))


torch = pytest.importorskip("torch")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_cuda_row_reports_gpu_memory(tmp_path):
    settings = BenchSettings(
        out=tmp_path,
        models=("icnet_lite",),
        sizes=((64, 128),),
        engines=("torch-cuda", "onnxruntime-cuda"),
        iterations=3,
        warmup=1,
    )
    rows = {row["engine"]: row for row in run_bench(settings)["rows"]}
    assert rows["torch-cuda"]["status"] == "ok"
    assert rows["torch-cuda"]["device"].startswith("cuda")
    assert rows["torch-cuda"]["memory"]["gpu_torch_peak_mb"] > 0
    assert rows["onnxruntime-cuda"]["status"] in ("ok", "skipped")
    if rows["onnxruntime-cuda"]["status"] == "ok":
        assert "CUDAExecutionProvider" in rows["onnxruntime-cuda"]["providers"]
        assert not math.isnan(rows["onnxruntime-cuda"]["engine_only"]["fps"])
