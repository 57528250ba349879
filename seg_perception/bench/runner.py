"""One benchmark run: every model x size x engine measured, skipped or failed, then the node."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seg_perception.bench import engines as bench_engines
from seg_perception.bench.errors import BenchError
from seg_perception.bench.measure import (
    TorchCudaMemory,
    gpu_process_memory_mb,
    random_frame,
    rss_mb,
    time_loop,
)
from seg_perception.bench.models import ModelFiles, exported_model, given_model, size_text
from seg_perception.bench.system import describe_device, system_info
from seg_perception.bench.targets import evaluate_targets
from seg_perception.bench.two_cameras import DEFAULT_TWO_CAMERA_SIZES, LoopBudget, measure_two_cameras
from seg_perception.errors import SegPerceptionError
from seg_perception.inference.errors import EngineError

DEFAULT_MODELS = ("icnet_lite", "hrnetv2_w18_small_v2")
DEFAULT_SIZES = ((256, 512),)
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass(frozen=True)
class BenchSettings:
    """Options of one ``seg-perception bench`` run (see :mod:`seg_perception.bench.cli`)."""

    out: Path
    models: tuple[str, ...] = DEFAULT_MODELS
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES
    model_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = bench_engines.DEFAULT_ENGINES
    scenario: str = "highway"
    iterations: int = 30
    warmup: int = 5
    max_seconds: float = 4.0
    threads: int | None = 2
    precision: str = "auto"
    cuda_graphs: bool = True
    frame_size: tuple[int, int] | None = None
    node: bool = False
    node_options: dict[str, Any] = field(default_factory=dict)
    two_cameras: bool = False
    two_camera_sizes: tuple[tuple[int, int], ...] = DEFAULT_TWO_CAMERA_SIZES

    @property
    def cache_dir(self) -> Path:
        return self.out / "models"

    @property
    def trt_cache_dir(self) -> Path:
        return self.out / "tensorrt_cache"

    @property
    def budget(self) -> LoopBudget:
        """Warm-up, timed calls and time limit of every measurement."""
        return LoopBudget(iterations=self.iterations, warmup=self.warmup, max_seconds=self.max_seconds)


def _say(text: str) -> None:
    print(text, flush=True)


def model_list(settings: BenchSettings, kinds: set[str]) -> list[ModelFiles]:
    """Given files when ``--model-file`` is used, else every model at every size, exported."""
    if settings.model_files:
        return [given_model(path) for path in settings.model_files]
    return [
        exported_model(model, size, scenario=settings.scenario, cache_dir=settings.cache_dir, kinds=kinds)
        for model in settings.models
        for size in settings.sizes
    ]


def _memory(before_mb: float | None, torch_peak_mb: float | None, on_gpu: bool) -> dict[str, Any]:
    after = rss_mb()
    memory: dict[str, Any] = {
        "rss_mb": after,
        "rss_delta_mb": after - before_mb if after is not None and before_mb is not None else None,
    }
    if on_gpu:
        memory["gpu_torch_peak_mb"] = torch_peak_mb
        memory["gpu_process_mb"] = gpu_process_memory_mb()
    return memory


def measure_row(
    engine: Any, *, frame_size: tuple[int, int], settings: BenchSettings, on_gpu: bool
) -> dict[str, Any]:
    """The runtime alone (``Engine.runtime_call``), then ``Engine.predict`` on a uint8 frame.

    The engine-alone figure runs the engine's runtime on an input prepared once, the way
    the engine feeds it (a normalised float32 tensor, or the uint8 frame for a graph with
    the pre-processing inside), so it leaves out host-side pre-processing, arg-max and
    mask resize, but includes the host/device copies of what the runtime takes and returns.
    """
    frame = random_frame(frame_size)
    run_model = engine.runtime_call()
    with TorchCudaMemory() as engine_peak:
        engine_only = time_loop(
            run_model,
            iterations=settings.iterations,
            warmup=settings.warmup,
            max_seconds=settings.max_seconds,
        )
    with TorchCudaMemory() as predict_peak:
        predicted = time_loop(
            lambda: engine.predict(frame),
            iterations=settings.iterations,
            warmup=settings.warmup,
            max_seconds=settings.max_seconds,
        )
    peaks = [peak.peak_mb for peak in (engine_peak, predict_peak) if peak.peak_mb is not None]
    return {
        "engine_only": engine_only.to_json(),
        "predict": predicted.to_json(),
        "predict_stages_ms": dict(engine.last_timings_ms),
        "torch_peak_mb": max(peaks) if peaks else None,
    }


def bench_one(
    files: ModelFiles,
    choice: bench_engines.EngineChoice,
    *,
    settings: BenchSettings,
    capabilities: bench_engines.Capabilities,
) -> dict[str, Any]:
    """One row: measured (``ok``), ``skipped`` with the reason, or ``failed`` with the error."""
    precision = bench_engines.resolve_precision(choice, settings.precision)
    frame_size = settings.frame_size or files.input_size
    row: dict[str, Any] = {
        "label": files.label,
        "model": files.model,
        "input_size": list(files.input_size),
        "frame_size": list(frame_size),
        "engine": choice.name,
        "precision": precision,
        "threads": settings.threads if not choice.on_gpu else None,
        "source": files.source,
    }
    reason = bench_engines.skip_reason(choice, capabilities, model_kinds=set(files.files))
    if reason is not None:
        return {**row, "status": SKIPPED, "reason": reason}
    model_file = files.files[choice.model_kind]
    before = rss_mb()
    engine = None
    try:
        engine = bench_engines.create_bench_engine(
            choice,
            model_file,
            precision=precision,
            threads=settings.threads,
            trt_cache_dir=settings.trt_cache_dir,
            cuda_graphs=settings.cuda_graphs,
        )
        providers = list(engine.providers)
        if choice.required_provider and choice.required_provider not in providers:
            return {
                **row,
                "status": SKIPPED,
                "providers": providers,
                "reason": f"{choice.required_provider} was not used (session runs on {providers})",
            }
        measured = measure_row(engine, frame_size=frame_size, settings=settings, on_gpu=choice.on_gpu)
        # Read memory with this one engine loaded, before the two-camera run adds a second.
        memory = _memory(before, measured.pop("torch_peak_mb"), choice.on_gpu)
        if settings.two_cameras:
            measured["two_cameras"] = measure_two_cameras(
                engine,
                make_engine=lambda: bench_engines.create_bench_engine(
                    choice,
                    model_file,
                    precision=precision,
                    threads=settings.threads,
                    trt_cache_dir=settings.trt_cache_dir,
                    cuda_graphs=settings.cuda_graphs,
                ),
                sizes=settings.two_camera_sizes,
                budget=settings.budget,
            )
    except EngineError as err:  # the runtime refused this device here (no driver, policy "fail")
        return {**row, "status": SKIPPED, "reason": str(err)}
    except SegPerceptionError as err:
        return {**row, "status": FAILED, "reason": str(err)}
    except Exception as err:  # a runtime failing mid-run must not end the whole benchmark
        return {**row, "status": FAILED, "reason": f"{type(err).__name__}: {err}"}
    finally:
        if engine is not None:
            engine.close()
    return {
        **row,
        "status": OK,
        "providers": providers,
        "device": engine.device,
        "description": engine.describe(),
        **measured,
        "memory": memory,
    }


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op pool is process-wide: set it for the run, restore it afterwards."""
    try:
        import torch
    except ImportError:
        torch = None  # type: ignore[assignment]
    if torch is None or not threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _summary_line(row: dict[str, Any]) -> str:
    head = f"  {row['label']:<24} {size_text(tuple(row['input_size'])):>9} {row['engine']:<21}"
    if row["status"] != OK:
        return f"{head} {row['status']}: {row.get('reason', '')}"
    engine_only, predict = row["engine_only"], row["predict"]
    return (
        f"{head} {row['precision']}  engine {engine_only['fps']:7.1f} fps "
        f"(p50 {engine_only['latency_ms']['p50']:.1f} / p99 {engine_only['latency_ms']['p99']:.1f} ms)  "
        f"predict {predict['fps']:7.1f} fps (p50 {predict['latency_ms']['p50']:.1f} / "
        f"p99 {predict['latency_ms']['p99']:.1f} ms)"
    )


def _two_camera_line(row: dict[str, Any]) -> str | None:
    two = row.get("two_cameras") if row["status"] == OK else None
    if not two:
        return None
    parts = []
    for name, result in two["policies"].items():
        if result["status"] == "ok":
            parts.append(f"{name} {result['pairs_per_s']:.1f}")
        else:
            parts.append(f"{name} {result['status']}")
    return f"    two cameras (pairs/s): {', '.join(parts)}; best: {two['best'] or '–'}"


def run_bench(settings: BenchSettings) -> dict[str, Any]:
    """Measure everything asked for, write ``bench.json`` and ``bench.md``, return the report.

    Raises:
        BenchError: unknown engine, unusable ``--model-file``, a failed export, or not two
            ``two_camera_sizes``.
    """
    from seg_perception.bench.report import write_report

    unknown = [name for name in settings.engines if name not in bench_engines.ENGINE_CHOICES]
    if unknown:
        raise BenchError(
            f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(bench_engines.ENGINE_CHOICES)}"
        )
    if settings.two_cameras and len(settings.two_camera_sizes) != 2:
        raise BenchError(f"two frame sizes (front, AVM) are needed, got {len(settings.two_camera_sizes)}")
    began = time.monotonic()
    settings.out.mkdir(parents=True, exist_ok=True)
    info = system_info(threads=settings.threads)
    _say(f"seg-perception bench on {describe_device(info)}")
    capabilities = bench_engines.probe_capabilities()
    choices = [bench_engines.ENGINE_CHOICES[name] for name in dict.fromkeys(settings.engines)]
    kinds = {choice.model_kind for choice in choices}
    rows: list[dict[str, Any]] = []
    with _torch_threads(settings.threads):
        for files in model_list(settings, kinds):
            for choice in choices:
                row = bench_one(files, choice, settings=settings, capabilities=capabilities)
                rows.append(row)
                _say(_summary_line(row))
                two_cameras = _two_camera_line(row)
                if two_cameras:
                    _say(two_cameras)
                gc.collect()
    node = None
    if settings.node:
        from seg_perception.bench.node import run_node_bench

        node = run_node_bench(out=settings.out / "node", **settings.node_options)
    providers_used = sorted({p for row in rows if row["status"] == OK for p in row.get("providers", [])})
    report = {
        "title": "seg_perception benchmark",
        "system": info,
        "settings": _settings_json(settings),
        "providers_used": providers_used,
        "rows": rows,
        "node": node,
        "targets": evaluate_targets(rows, node),
        "total_s": time.monotonic() - began,
        "load_average_end": _load_average(),
    }
    json_path, md_path = write_report(report, settings.out)
    report["files"] = {"json": str(json_path), "markdown": str(md_path)}
    return report


def _load_average() -> float:
    import os

    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def _settings_json(settings: BenchSettings) -> dict[str, Any]:
    values = dataclasses.asdict(settings)
    values["out"] = str(settings.out)
    values["model_files"] = [str(path) for path in settings.model_files]
    values["node_options"] = {
        key: str(value) if isinstance(value, Path) else value for key, value in settings.node_options.items()
    }
    return values
