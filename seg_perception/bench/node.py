"""The node end to end for ``seg-perception bench --node``: both cameras at 30 Hz over real DDS.

The front camera (highway, 540x960) and the AVM camera (parking, 640x640) stream
synthetic frames at the same time, each into a segmentation node with its scenario's
default model. The node runs one model and one class map for all its cameras (one
shared engine, see :mod:`seg_perception.ros.core`), so the two cameras run as two node
processes side by side on the same machine.

Reused from the demo: the process launching (:class:`~seg_perception.tools.demo.ManagedProcess`,
private localhost ROS domain, the shipped Fast DDS shared-memory profile), the synthetic
camera (:mod:`seg_perception.tools.synthetic_camera`, looping a short drive) and the output recorder
(:mod:`seg_perception.tools.recorder`, overlays not subscribed so the nodes skip drawing them).

Measured over a window of ``seconds`` once both cameras produce masks: latency from
input stamp to mask reception (p50/p95/p99/max), output fps and drops per camera
(frames stamped in the window without a mask), and the node's overhead (conversion,
pre/post-processing, publishing) as a percentage of its engine time, from the node's
``stage_ms.*`` diagnostics.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seg_perception.bench.models import scenario_model
from seg_perception.bench.stats import node_overhead
from seg_perception.config import load_scenario
from seg_perception.errors import SegPerceptionError
from seg_perception.metrics.latency import rate_hz, summarize_latencies
from seg_perception.tools.processes import (
    ManagedProcess,
    ros_environment,
    shipped_profile,
    temporary_environment,
)

SPIN_S = 0.02
SETTLE_S = 1.0
DRAIN_S = 2.5
DISTINCT_FRAMES = 30  # one second of drive, looped: generation stays short


class NodeBenchError(SegPerceptionError):
    """A node or camera process died, or did not start in time."""


@dataclass(frozen=True)
class CameraStream:
    """One synthetic camera and the scenario (model, class map) its node runs."""

    scenario: str
    camera: str
    size: tuple[int, int]


DEFAULT_STREAMS = (
    CameraStream("highway", "front", (540, 960)),
    CameraStream("parking", "avm", (640, 640)),
)


class _StreamRun:
    """Node process, camera process and recorder of one camera."""

    def __init__(
        self, stream: CameraStream, *, model_file: Path, model_origin: str, out: Path, context: Any
    ) -> None:
        from seg_perception.tools.recorder import OutputRecorder, OutputTopics

        self.stream = stream
        self.model_file = model_file
        self.model_origin = model_origin
        self.out = out / stream.camera
        self.out.mkdir(parents=True, exist_ok=True)
        block = load_scenario(stream.scenario).camera(stream.camera)
        self.topic = str(block.get("topic", f"/camera/{stream.camera}/image_raw"))
        self.recorder = OutputRecorder(
            OutputTopics.for_camera(stream.camera, input_topic=self.topic),
            overlay_every=0,
            node_name=f"seg_bench_recorder_{stream.camera}",
            context=context,
        )
        self.node: ManagedProcess | None = None
        self.player: ManagedProcess | None = None

    def start(
        self,
        *,
        env: dict[str, str],
        device: str,
        rate_hz: float,
        node_params: tuple[str, ...],
        wait_timeout_s: float,
    ) -> None:
        stream = self.stream
        node_command = [
            sys.executable,
            "-m",
            "seg_perception.ros.node",
            "--ros-args",
            "-r",
            f"__node:=seg_bench_{stream.camera}",
            "-p",
            f"scenario:={stream.scenario}",
            "-p",
            f"model_file:={self.model_file}",
            "-p",
            f"device:={device}",
        ]
        for extra in node_params:
            node_command += ["-p", extra]
        player_params = {
            "scenario": stream.scenario,
            "camera": stream.camera,
            "num_frames": DISTINCT_FRAMES,
            "loop": "true",
            "rate_hz": rate_hz,
            "image_size": f"[{stream.size[0]},{stream.size[1]}]",
            "wait_for_subscribers": 1,
            "wait_for_ground_truth_subscribers": 1,
            "wait_timeout_s": wait_timeout_s,
        }
        player_command = [
            sys.executable,
            "-m",
            "seg_perception.tools.synthetic_camera",
            "--ros-args",
            "-r",
            f"__node:=seg_bench_camera_{stream.camera}",
        ]
        for key, value in player_params.items():
            player_command += ["-p", f"{key}:={value}"]
        self.node = ManagedProcess("node", node_command, log_path=self.out / "node.log", env=env)
        self.player = ManagedProcess("camera", player_command, log_path=self.out / "player.log", env=env)

    @property
    def streaming(self) -> bool:
        """The node is subscribed and advertised, and masks are arriving."""
        recorder = self.recorder
        return (
            recorder.count_subscribers(self.topic) >= 1
            and recorder.node_output_matched
            and bool(recorder.recording.predictions)
        )

    def check_alive(self, what: str) -> None:
        for process in (self.node, self.player):
            code = process.exited() if process is not None else None
            if process is not None and code is not None:
                raise NodeBenchError(
                    f"the {self.stream.camera} {process.name} exited with code {code} while {what}; "
                    f"see {process.log_path}; last lines:\n{process.log_tail()}"
                )

    def stop_player(self) -> None:
        if self.player is not None:
            self.player.stop()

    def stop_node(self) -> int | None:
        return self.node.stop() if self.node is not None else None

    def result(self, window_ns: tuple[int, int], *, exit_code: int | None) -> dict[str, Any]:
        """Figures of the frames stamped inside the window."""
        recording = self.recorder.recording
        start, end = window_ns
        sent = sorted(stamp for stamp in recording.ground_truth if start <= stamp < end)
        received = [stamp for stamp in sent if stamp in recording.receive_ns]
        latencies = [(recording.receive_ns[stamp] - stamp) / 1e6 for stamp in received]
        diagnostics = self.recorder.camera_diagnostics(self.stream.camera).get("values", {})
        stage_ms = {
            key.split(".", 1)[1]: float(value)
            for key, value in diagnostics.items()
            if key.startswith("stage_ms.")
        }
        overhead = node_overhead(stage_ms)
        return {
            "scenario": self.stream.scenario,
            "topic": self.topic,
            "frame_size": list(self.stream.size),
            "model": diagnostics.get("model"),
            "model_file": str(self.model_file),
            "model_origin": self.model_origin,
            "providers": diagnostics.get("providers"),
            "input_fps": rate_hz(t / 1e9 for t in sent),
            "fps": rate_hz(recording.receive_ns[stamp] / 1e9 for stamp in received),
            "sent": len(sent),
            "received": len(received),
            "dropped": len(sent) - len(received),
            "latency_ms": summarize_latencies(latencies).to_json(),
            "latency_p99_ms": summarize_latencies(latencies).p99,
            "stage_ms": stage_ms,
            **overhead,
            "processing_ms": {
                key: float(diagnostics[f"processing_ms_{key}"])
                for key in ("p50", "p95", "p99", "max")
                if f"processing_ms_{key}" in diagnostics
            },
            "node_counters": {
                key: int(diagnostics[key])
                for key in ("frames_received", "frames_processed", "frames_dropped", "frames_rejected")
                if key in diagnostics
            },
            "node_exit_code": exit_code,
            "logs": {"node": str(self.out / "node.log"), "camera": str(self.out / "player.log")},
        }


def _spin_until(executor: Any, runs: list[_StreamRun], done: Any, *, timeout_s: float, what: str) -> None:
    start = time.monotonic()
    while not done():
        executor.spin_once(timeout_sec=SPIN_S)
        for run in runs:
            run.check_alive(what)
        if time.monotonic() - start > timeout_s:
            logs = ", ".join(str(run.out / "node.log") for run in runs)
            raise NodeBenchError(f"timed out after {timeout_s:.0f} s {what}; see {logs}")


def _spin_for(executor: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=SPIN_S)


def run_node_bench(
    *,
    out: Path,
    cache_dir: Path,
    domain_id: int,
    seconds: float = 5.0,
    rate_hz: float = 30.0,
    device: str = "cpu",
    model_dir: Path | None = None,
    node_params: tuple[str, ...] = (),
    streams: tuple[CameraStream, ...] = DEFAULT_STREAMS,
    startup_timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Run every camera's node and synthetic camera together and measure a window of ``seconds``.

    Args:
        out: Folder for the processes' logs.
        cache_dir: Where untrained stand-in models are exported when no shipped model exists.
        domain_id: Private ROS domain of the run.
        seconds: Measurement window once every camera produces masks.
        rate_hz: Rate of every camera.
        device: Node device (``cpu``, ``cuda``, ``cuda:N``).
        model_dir: Folder with ``<scenario>.onnx`` (default: shipped weights, else exports).
        node_params: Extra ``name:=value`` parameters for every node.
        streams: The cameras (default: front 540x960 highway and AVM 640x640 parking).
        startup_timeout_s: Time for the nodes to load and the cameras to generate their frames.

    Returns:
        ``status`` (``ok``, or ``failed`` with ``reason``), settings, and per camera
        (``cameras``) the figures of :meth:`_StreamRun.result`.
    """
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "seconds": seconds,
        "rate_hz": rate_hz,
        "device": device,
        "engine": "onnxruntime",
        "domain_id": domain_id,
        "layout": "one node process per camera (the node runs one model for all "
        "its cameras), both on this machine at the same time",
    }
    models = {
        stream.scenario: scenario_model(stream.scenario, model_dir=model_dir, cache_dir=cache_dir)
        for stream in streams
    }
    profile = shipped_profile()
    env = ros_environment(profile=profile, domain_id=domain_id)
    summary["fastdds_profile"] = str(profile) if profile else None
    context = Context()
    shared = {key: env[key] for key in ("RMW_IMPLEMENTATION", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    if profile is not None:
        shared["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    with temporary_environment(shared):
        context.init(domain_id=domain_id)
    executor = SingleThreadedExecutor(context=context)
    runs: list[_StreamRun] = []
    exit_codes: dict[str, int | None] = {}
    try:
        for stream in streams:
            model_file, origin = models[stream.scenario]
            run = _StreamRun(stream, model_file=model_file, model_origin=origin, out=out, context=context)
            runs.append(run)
            executor.add_node(run.recorder)
        print(f"  node bench: {len(runs)} cameras at {rate_hz:g} Hz on {device}, logs in {out}", flush=True)
        for run in runs:
            run.start(
                env=env,
                device=device,
                rate_hz=rate_hz,
                node_params=node_params,
                wait_timeout_s=startup_timeout_s,
            )
        _spin_until(
            executor,
            runs,
            lambda: all(run.streaming for run in runs),
            timeout_s=startup_timeout_s,
            what="waiting for every camera's first mask",
        )
        _spin_for(executor, SETTLE_S)
        clock = runs[0].recorder.get_clock()
        window_start = clock.now().nanoseconds
        _spin_for(executor, seconds)
        window_end = clock.now().nanoseconds
        for run in runs:
            run.stop_player()
        _spin_for(executor, DRAIN_S)  # in-flight masks and one more diagnostics message
        for run in runs:
            exit_codes[run.stream.camera] = run.stop_node()
        summary["cameras"] = {
            run.stream.camera: run.result((window_start, window_end), exit_code=exit_codes[run.stream.camera])
            for run in runs
        }
        summary["status"] = "ok"
    except NodeBenchError as err:
        summary |= {"status": "failed", "reason": str(err)}
    finally:
        for run in runs:
            run.stop_player()
            run.stop_node()
        executor.shutdown(timeout_sec=1.0)
        for run in runs:
            run.recorder.destroy_node()
        context.try_shutdown()
    return summary
