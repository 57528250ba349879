"""The node's own cost, output by output, in one process without DDS (``seg-perception bench-stages``).

For each camera stream (default: highway front 540x960 and parking AVM 640x640, shipped models)
the frames of a synthetic drive go through exactly what the node's camera worker does for one
frame, every step timed on its own:

- ``conversion``: ``sensor_msgs/Image`` -> BGR array (``image_msg_to_bgr``);
- ``preprocess``, ``inference``, ``mask``: the engine's own stage times (``SegmentationPipeline.segment``),
  and ``segment_cpu``: the CPU time of all the process's threads (ONNX Runtime's included) meanwhile;
- ``mask_msg``: the ``mono8`` mask message built and serialised;
- ``postprocess``: parking slots, lane boundaries and their tracking, as on a frame that draws nothing;
- ``polygons``: the region polygons the markers draw (the node traces them only on frames whose
  markers or polygon cloud go out);
- ``lanes_msg``, ``slots_msg``, ``markers_msg``, ``polygons_msg``: each typed message built and serialised;
- ``overlay_msg``: the overlay drawn into its message's buffer and serialised;
- ``diagnostics``: one camera's ``DiagnosticStatus`` built and serialised (the node sends it once a
  second, so per frame it costs this divided by the frame rate).

"Serialised" is ``rclpy.serialization.serialize_message``: the conversion of the Python message to
its C form and CDR, which is what ``publish`` does before handing the bytes to DDS; what DDS does
with them (shared-memory or UDP transport, subscribers' reception) is not in these figures — the
node under contention (``bench --node``) measures the whole.

Per stage: mean and p90 wall time, and mean CPU time of the calling thread (on a shared machine
the wall time includes waiting for a core; ONNX Runtime's own threads are not in the CPU time of
``inference``). ``everything but inference`` sums every stage except ``inference`` with the
polygons, overlay and markers counted at their share of frames (``--visualization-every``) and
without the polygon cloud (built only for its subscribers, who then get polygons traced on every frame).

Example::

    seg-perception bench-stages --frames 40 --repeat 2 --out out/bench/stages.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from seg_perception.bench.report import finish_cpu_report
from seg_perception.bench.streams import DEFAULT_STREAMS, Stream
from seg_perception.errors import SegPerceptionError

STAGES = (
    "conversion",
    "segment_cpu",
    "preprocess",
    "inference",
    "mask",
    "mask_msg",
    "postprocess",
    "polygons",
    "lanes_msg",
    "slots_msg",
    "markers_msg",
    "overlay_msg",
    "polygons_msg",
    "diagnostics",
)
VISUALIZATION_STAGES = ("polygons", "markers_msg", "overlay_msg")
SUBSCRIBER_ONLY_STAGES = ("polygons_msg",)
ENGINE_STAGE = "inference"
DIAGNOSTICS_RATE_HZ = 1.0
CAMERA_RATE_HZ = 30.0


class StageBenchError(SegPerceptionError):
    """A stream specification is invalid."""


class _Timer:
    """Wall and thread-CPU milliseconds per stage."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        yield
        self.add(name, (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3)

    def add(self, name: str, wall_ms: float, cpu_ms: float | None = None) -> None:
        self.wall.setdefault(name, []).append(wall_ms)
        if cpu_ms is not None:
            self.cpu.setdefault(name, []).append(cpu_ms)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "mean_ms": round(float(np.mean(values)), 3),
                "p90_ms": round(float(np.percentile(values, 90)), 3),
                **({"cpu_mean_ms": round(float(np.mean(self.cpu[name])), 3)} if self.cpu.get(name) else {}),
                "count": len(values),
            }
            for name, values in self.wall.items()
        }


def _frames(stream: Stream, count: int, seed: int) -> list[np.ndarray]:
    from seg_perception.config import load_scenario
    from seg_perception.data.synthetic.scenes import generate_drive

    config = load_scenario(stream.scenario)
    return [
        sample.image for sample in generate_drive(config, seed, count, size=stream.size, fps=CAMERA_RATE_HZ)
    ]


def measure_stream(
    stream: Stream, *, frames: int, repeat: int, threads: int, seed: int = 7
) -> dict[str, Any]:
    """Every stage of every frame of one stream, ``repeat`` passes over ``frames`` frames."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from seg_perception.config import load_scenario
    from seg_perception.inference.pipeline import SegmentationPipeline
    from seg_perception.ros.frame_messages import FrameMessages
    from seg_perception.ros.image_conversion import image_msg_to_bgr, image_msg_with_buffer, mask_to_msg
    from seg_perception.ros.markers import MarkerStyle
    from seg_perception.ros.projection import GroundProjection
    from seg_perception.ros.stats import CameraStats, build_status

    scenario = load_scenario(stream.scenario)
    block = scenario.camera(stream.camera)
    projection = GroundProjection.from_parameters(
        ground_homography=list(block.get("ground_homography") or ()),
        metres_per_pixel=float(block.get("metres_per_pixel") or 0.0),
        origin_px=list(block.get("origin_px") or ()),
        camera=stream.camera,
    )
    pipeline = SegmentationPipeline.load(stream.scenario, camera=stream.camera, intra_op_threads=threads)
    classes = pipeline.scenario.classes
    style = MarkerStyle(
        camera=stream.camera, class_names=classes.names, colors_rgb=classes.colors_rgb, line_width=0.05
    )
    messages = FrameMessages(style, projection)
    stats = CameraStats()
    images = _frames(stream, frames, seed)
    inputs = []
    for image in images:
        msg = Image(height=image.shape[0], width=image.shape[1], encoding="bgr8", step=image.shape[1] * 3)
        msg.data = image.tobytes()
        inputs.append(msg)
    timer = _Timer()
    for warm_up in (True, False):
        passes = 1 if warm_up else repeat
        for _ in range(passes):
            for msg in inputs[: 3 if warm_up else None]:
                _one_frame(
                    msg,
                    timer=_Timer() if warm_up else timer,
                    pipeline=pipeline,
                    messages=messages,
                    stats=stats,
                    convert=image_msg_to_bgr,
                    serialize=serialize_message,
                    header=Header(frame_id=stream.camera),
                    mask_to_msg=mask_to_msg,
                    image_msg_with_buffer=image_msg_with_buffer,
                    build_status=build_status,
                )
    pipeline.close()
    return {
        "stream": f"{stream.scenario}:{stream.camera}:{stream.size[0]}x{stream.size[1]}",
        "model_file": str(pipeline.engine.model_file),
        "frames": frames,
        "repeat": repeat,
        "stages": timer.summary(),
    }


def _one_frame(
    msg: Any,
    *,
    timer: _Timer,
    pipeline: Any,
    messages: Any,
    stats: Any,
    convert: Callable[..., Any],
    serialize: Callable[[Any], bytes],
    header: Any,
    **build: Callable[..., Any],
) -> None:
    with timer.stage("conversion"):
        image = convert(msg)
    process_cpu = time.process_time()
    segmentation = pipeline.segment(image)
    timer.add("segment_cpu", (time.process_time() - process_cpu) * 1e3)
    for name in ("preprocess", "inference", "mask"):
        if name in segmentation.timings_ms:
            timer.add(name, float(segmentation.timings_ms[name]))
    with timer.stage("mask_msg"):
        serialize(build["mask_to_msg"](segmentation.mask, header))
    with timer.stage("postprocess"):
        result = pipeline.postprocess(segmentation, polygons=False)
    with timer.stage("polygons"):
        result = dataclasses.replace(result, polygons=pipeline.trace_polygons(segmentation))
    if result.lanes is not None:
        with timer.stage("lanes_msg"):
            serialize(messages.lanes(header, result))
    with timer.stage("slots_msg"):
        serialize(messages.slots(header, result))
    with timer.stage("markers_msg"):
        serialize(messages.markers(header, result))
    with timer.stage("overlay_msg"):
        height, width = result.mask.shape[:2]
        overlay_msg, pixels = build["image_msg_with_buffer"](header, height, width, "bgr8")
        pipeline.overlay(image, result.mask, out=pixels, lanes=result.lanes)
        serialize(overlay_msg)
    with timer.stage("polygons_msg"):
        serialize(messages.cloud(header, result))
    stats.on_received(dropped=False)
    stats.on_processed(latency_ms=30.0, processing_ms=30.0, stages_ms=dict(segmentation.timings_ms))
    with timer.stage("diagnostics"):
        from diagnostic_msgs.msg import DiagnosticArray

        status = build["build_status"](
            name=f"seg_perception: {messages.style.camera}",
            snapshot=stats.snapshot(),
            stale_timeout_s=2.0,
            seconds_since_start=1.0,
            info={"topic": "/camera/image_raw"},
        )
        serialize(DiagnosticArray(status=[status]))


def node_share(
    stages: dict[str, dict[str, float]], *, visualization_every: float, key: str = "mean_ms"
) -> dict[str, float]:
    """Per-frame cost of everything but inference (polygons, overlay and markers at their share of
    frames, diagnostics at 1 Hz of a 30 Hz camera, no polygon cloud) and its percentage of the
    inference time."""
    engine = float(stages.get(ENGINE_STAGE, {}).get(key, float("nan")))
    total = 0.0
    for name, figures in stages.items():
        if name in (ENGINE_STAGE, "segment_cpu", *SUBSCRIBER_ONLY_STAGES) or key not in figures:
            continue
        weight = 1.0
        if name in VISUALIZATION_STAGES:
            weight = 1.0 / visualization_every
        elif name == "diagnostics":
            weight = DIAGNOSTICS_RATE_HZ / CAMERA_RATE_HZ
        total += weight * float(figures[key])
    percent = 100.0 * total / engine if engine > 0 else float("nan")
    return {"inference_ms": engine, "other_ms": total, "other_percent": percent}


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream",
        type=Stream.parse,
        action="append",
        metavar="SCENARIO:CAMERA:HxW",
        help="a camera stream, repeatable (default: highway:front:540x960 and parking:avm:640x640)",
    )
    parser.add_argument("--frames", type=int, default=30, help="distinct synthetic frames (default 30)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the frames (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    parser.add_argument(
        "--visualization-every",
        type=float,
        default=3.0,
        help="frames per overlay/markers message in the 'everything but inference' sum "
        "(default 3: visualization_rate_hz 10 on a 30 Hz camera)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.repeat < 1 or args.visualization_every < 1:
        raise StageBenchError("--frames and --repeat must be >= 1 and --visualization-every >= 1")
    streams = args.stream or list(DEFAULT_STREAMS)
    load_start = os.getloadavg()[0]
    results = []
    for stream in streams:
        result = measure_stream(stream, frames=args.frames, repeat=args.repeat, threads=args.threads)
        result["everything_but_inference"] = node_share(
            result["stages"], visualization_every=args.visualization_every
        )
        results.append(result)
        print(f"{result['stream']} ({result['model_file']}), {args.frames} frames x {args.repeat}:")
        print(f"  {'stage':14} {'mean ms':>8} {'p90 ms':>8} {'CPU ms':>8}")
        for name in STAGES:
            figures = result["stages"].get(name)
            if figures is None:
                continue
            cpu = figures.get("cpu_mean_ms")
            print(
                f"  {name:14} {figures['mean_ms']:8.2f} {figures['p90_ms']:8.2f} "
                f"{'' if cpu is None else f'{cpu:8.2f}':>8}"
            )
        share = result["everything_but_inference"]
        print(
            f"  everything but inference: {share['other_ms']:.2f} ms per frame = "
            f"{share['other_percent']:.0f} % of inference ({share['inference_ms']:.2f} ms)"
        )
    summary = {
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "visualization_every": args.visualization_every,
        "streams": results,
    }
    finish_cpu_report(summary, args.out)
    return 0
