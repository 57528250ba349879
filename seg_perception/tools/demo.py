"""``seg-perception demo``: the node on a synthetic camera over real DDS, scored and reported.

For each scenario: the segmentation node starts in its own process, a synthetic
camera (:mod:`seg_perception.tools.synthetic_camera`) in another, and this process records the
node's outputs (:mod:`seg_perception.tools.recorder`). All three use the shipped
Fast DDS shared-memory profile (``config/fastdds_shm.xml``), a private ROS domain
and localhost-only discovery, so a live robot on the same network is neither seen
nor disturbed. The report (``report.md``, ``report.json``, GIFs, MP4s, contact sheets)
gives fps, latency, drops and mIoU against the generator's exact labels.

``drive`` is the whole car: one node (``config/drive.yaml``) serves the front camera
with the highway lane model and the AVM with the parking model, both cameras streaming
at once; the report has one entry per camera. ``--switch front=road`` changes a camera's
scenario half-way through the drive (as ``ros2 param set`` does) and reports how long the
switch took and how many frames were lost in a row at the swap, next to the drops elsewhere.

Every wait has a timeout and names what did not come and which log to read.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seg_perception.cli_args import add_device_argument, add_size_argument
from seg_perception.config import (
    CPU_MODEL_KEY,
    CUDA_MODEL_KEY,
    ScenarioConfig,
    load_scenario,
    read_parameters,
    scenario_model_path,
    scenario_names,
    share_dir,
)
from seg_perception.errors import SegPerceptionError
from seg_perception.metrics.latency import summarize_latencies
from seg_perception.reporting import cpu_usage
from seg_perception.reporting.demo_report import switch_line, write_report
from seg_perception.reporting.images import contact_sheet, write_png
from seg_perception.reporting.profile import profile_summary
from seg_perception.reporting.stream import loss_around
from seg_perception.reporting.visuals import evenly_spaced, write_stream_visuals
from seg_perception.tools.processes import (
    ManagedProcess,
    ros_environment,
    shipped_profile,
    temporary_environment,
)
from seg_perception.training.recipe import EVAL_SEED_START

SPIN_S = 0.02
DRAIN_IDLE_S = 1.0
DRAIN_MAX_S = 6.0
# The demo scores on the eval seed range so its mIoU is on drives no model was trained on.
HELD_OUT_SEED = EVAL_SEED_START
# A drive that never shows a class scores IoU 0 on it from stray pixels (the road drive of seed
# 200000 has no crosswalk: mIoU 0.54 instead of 0.81). The demo takes the first of a few seeds
# whose drive shows every class, checking every CLASS_CHECK_STRIDE-th frame.
DRIVE_SEED_TRIES = 4
CLASS_CHECK_STRIDE = 15
DRIVE = "drive"
DRIVE_CAMERAS = {"front": "highway", "avm": "parking"}  # camera -> its scenario in the drive
# Input stamps a swap can affect: those from this long before the switch request (frames in
# flight through the node) to this long after its reply.
SWITCH_WINDOW_S = 0.5
# The shipped scenarios the demo shows by default, in its order (any scenario of config/ can be chosen).
DEFAULT_DEMO_SCENARIOS = ("highway", "road", "parking")
PROFILE_RATE_HZ = 100
PROFILE_FRAMES = ("seg_perception", "onnxruntime", "rclpy/publisher", "rclpy/executors.py")


class DemoError(SegPerceptionError):
    """A demo step failed: a process died, or something did not arrive in time."""


@dataclass(frozen=True)
class DemoSettings:
    """Options of one demo run (see :func:`register`)."""

    scenarios: tuple[str, ...]
    seconds: float
    out: Path
    rate_hz: float = 30.0
    size: tuple[int, int] | None = None
    model_dir: Path | None = None
    device: str = "cpu"
    seed: int = HELD_OUT_SEED
    domain_id: int = 0
    startup_timeout_s: float = 60.0
    output_timeout_s: float = 20.0
    gif_fps: float = 10.0
    min_fps: float = 15.0
    node_args: tuple[str, ...] = field(default_factory=tuple)
    profile_node: bool = False
    switch: tuple[str, str] | None = None
    """``(camera, scenario)`` the drive switches to at :attr:`switch_at_s`."""
    switch_at_s: float | None = None

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.rate_hz))


# --------------------------------------------------------------------------- processes


def find_py_spy() -> str:
    """Path of the ``py-spy`` executable (next to this Python first, then on PATH).

    Raises:
        DemoError: py-spy is not installed.
    """
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if not found:
        raise DemoError("--profile-node needs py-spy: pip install py-spy")
    return found


def resolve_model(
    scenario: str, model_dir: Path | None, device: str, overrides: dict[str, Any] | None = None
) -> Path:
    """The ONNX model of ``scenario``: ``<model_dir>/<scenario>.onnx``, else the scenario's for ``device``.

    ``overrides``: per-device model keys (``cpu_model_file``, ``cuda_model_file``) a parameter
    file sets over the scenario's, as ``config/drive.yaml`` does for its front camera.

    Raises:
        DemoError: the file does not exist (the message says how to make it).
    """
    if model_dir:
        path = model_dir / f"{scenario}.onnx"
    else:
        config = load_scenario(scenario)
        if overrides:
            config = dataclasses.replace(config, params={**config.params, **overrides})
        path = scenario_model_path(config, device)
    if not path.is_file():
        raise DemoError(
            f"no model for scenario '{scenario}': {path} does not exist; train and export it "
            f"(seg-perception train --config config/training/{scenario}.yaml --out runs/{scenario}, then "
            f"seg-perception export runs/{scenario}/best.pt --out {path}) or pass --model-dir"
        )
    return path


def node_arg(node_args: Sequence[str], parameter: str) -> str | None:
    """The value extra ``--node-param`` arguments give ``parameter``, the last one winning as on
    the node's command line; None without one (or with an empty value)."""
    chosen: str | None = None
    for extra in node_args:
        name, _, value = extra.partition(":=")
        if name.strip() == parameter:
            chosen = value.strip() or None
    return chosen


def node_arg_model(node_args: Sequence[str], parameter: str) -> Path | None:
    """The model file an extra ``--node-param`` gives ``parameter`` (``model_file``, or
    ``<camera>.model_file`` in the drive); None without one. The report names the model the node
    runs, not the one the demo would have chosen."""
    value = node_arg(node_args, parameter)
    return Path(value) if value else None


def drive_model_overrides(camera: str, scenario: str) -> dict[str, Any]:
    """The per-device model keys ``config/drive.yaml`` sets for ``camera`` running ``scenario``, as
    its node resolves them: the node's own keys for a camera running the node's scenario, and over
    them the camera block's (``avm: {cpu_model_file: ...}``) for the scenario that block names."""
    params = read_parameters(share_dir() / "config" / f"{DRIVE}.yaml")
    keys = (CPU_MODEL_KEY, CUDA_MODEL_KEY)
    overrides = (
        {key: params[key] for key in keys if key in params} if params.get("scenario") == scenario else {}
    )
    block = params.get(camera)
    if isinstance(block, dict) and block.get("scenario", params.get("scenario")) == scenario:
        overrides.update({key: block[key] for key in keys if block.get(key)})
    return overrides


# --------------------------------------------------------------------------- one scenario


def drive_seed(config: ScenarioConfig, seed: int, num_frames: int, size: tuple[int, int], fps: float) -> int:
    """The first of ``seed``, ``seed + 1``, ... whose drive shows every class (``seed`` when none does)."""
    from seg_perception.data.synthetic import generate_drive

    wanted = set(range(config.classes.num_classes))
    for candidate in range(seed, seed + DRIVE_SEED_TRIES):
        seen: set[int] = set()
        for index, sample in enumerate(generate_drive(config, candidate, num_frames, size=size, fps=fps)):
            if index % CLASS_CHECK_STRIDE == 0:
                seen.update(int(v) for v in np.unique(sample.mask))
                if seen >= wanted:
                    return candidate
    return seed


def _overlay_rate_hz(settings: DemoSettings) -> float:
    """Overlays per second the node sends: the camera rate, at most its ``visualization_rate_hz``."""
    from seg_perception.ros.parameters import DEFAULT_VISUALIZATION_RATE_HZ  # rclpy: imported on use

    value = node_arg(settings.node_args, "visualization_rate_hz")
    limit = DEFAULT_VISUALIZATION_RATE_HZ if value is None else float(value)
    return settings.rate_hz if limit <= 0 else min(settings.rate_hz, limit)


def overlay_annotator(
    config: ScenarioConfig, camera: str, predictions: Mapping[int, np.ndarray]
) -> Callable[[int, np.ndarray], np.ndarray]:
    """A legend, and the polygons / slots of the node's mask with their ids, drawn on a kept overlay."""
    from seg_perception.inference.pipeline import mask_geometry
    from seg_perception.postprocess.visualize import draw_geometry, draw_legend

    colors = config.classes.colors_bgr

    def annotate(stamp: int, overlay: np.ndarray) -> np.ndarray:
        picture = overlay.copy()
        mask = predictions.get(stamp)
        if mask is not None and mask.shape == picture.shape[:2]:
            polygons, slots = mask_geometry(mask, config, camera)
            draw_geometry(picture, colors_bgr=colors, polygons=polygons, slots=slots)
        return draw_legend(picture, config.classes.names, colors)

    return annotate


def _say(text: str) -> None:
    print(text, flush=True)


def _cpu_groups(
    node: ManagedProcess | None, players: Sequence[ManagedProcess | None]
) -> dict[str, list[int]]:
    """Processes whose CPU the report gives: the node, this demo (the recorder) and the cameras."""
    return {
        "node": [node.process.pid] if node is not None else [],
        "recorder (this demo)": [os.getpid()],
        "cameras": [player.process.pid for player in players if player is not None],
    }


class _ScenarioRun:
    """Node, player and recorder of one scenario (see the module docstring)."""

    def __init__(
        self,
        scenario: str,
        settings: DemoSettings,
        *,
        context: Any,
        env: dict[str, str],
        camera: str | None = None,
        label: str | None = None,
        executor: Any = None,
        model_overrides: dict[str, Any] | None = None,
        model_parameter: str = "model_file",
    ) -> None:
        """``executor``: spins the recorder (the drive's cameras share one); default its own.
        ``model_overrides``: per-device model keys over the scenario's (:func:`resolve_model`).
        ``model_parameter``: the node parameter that names this camera's model; an extra
        ``--node-param`` setting it wins over the demo's choice."""
        from rclpy.executors import SingleThreadedExecutor

        from seg_perception.tools.recorder import OutputRecorder, OutputTopics

        self.settings = settings
        self.config: ScenarioConfig = load_scenario(scenario)
        self.name = label or self.config.name
        self.camera = camera or self.config.primary_camera
        self.topic = str(self.config.camera(self.camera).get("topic", f"/camera/{self.camera}/image_raw"))
        self.size = settings.size or self.config.image_size(self.camera)
        self.model_file = node_arg_model(settings.node_args, model_parameter) or resolve_model(
            scenario, settings.model_dir, settings.device, model_overrides
        )
        self.out_dir = settings.out / self.name
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.timings: dict[str, float] = {}
        self.overlay_every = max(1, round(_overlay_rate_hz(settings) / settings.gif_fps))
        self.recorder = OutputRecorder(
            OutputTopics.for_camera(self.camera, input_topic=self.topic),
            overlay_every=self.overlay_every,
            context=context,
        )
        self.executor = executor if executor is not None else SingleThreadedExecutor(context=context)
        self.executor.add_node(self.recorder)
        self.exit_codes: dict[str, int] = {}
        self.node: ManagedProcess | None = None
        self.player: ManagedProcess | None = None
        self.profiler: ManagedProcess | None = None
        self.cpu: dict[str, Any] | None = None  # CPU shares while streaming (reporting.cpu_usage)
        # masks a second the node delivered over all its cameras (the drive's); None: this camera's
        self.node_masks_per_second: float | None = None
        self.profile_path = self.out_dir / "node_profile.txt"
        self.player_stats_path = self.out_dir / "player_stats.json"
        # the drive starts its node once every camera has generated its frames, and the cameras'
        # streams together by creating start_path (None: no wait)
        self.player_ready_path: Path | None = None
        self.player_start_path: Path | None = None
        self.seed = drive_seed(self.config, settings.seed, settings.num_frames, self.size, settings.rate_hz)

    def _prefix(self, step: int, text: str) -> None:
        _say(f"  [{self.name} {step}/5] {text}")

    def _node_command(self) -> list[str]:
        params = {
            "scenario": self.config.name,
            "model_file": str(self.model_file),
            "device": self.settings.device,
        }
        command = [sys.executable, "-m", "seg_perception.ros.node", "--ros-args"]
        for key, value in params.items():
            command += ["-p", f"{key}:={value}"]
        for setting in self.true_camera_parameters():
            command += ["-p", setting]
        for extra in self.settings.node_args:
            command += ["-p", extra]
        return command

    def true_camera_parameters(self) -> list[str]:
        """Node parameters (``key:=value``) calibrating this camera as the player's true one.

        A front camera gets a CameraInfo file (``camera_info.yaml`` in the stream's folder: its
        intrinsics and lens distortion, as a calibrated real camera's) and its mounting, so lanes
        come out in metres; bird's-eye cameras get nothing.
        """
        from seg_perception.data.synthetic import generate_drive
        from seg_perception.postprocess.camera_model import CameraModel

        settings = self.settings
        frames = generate_drive(
            self.config, settings.seed, settings.num_frames, size=self.size, fps=settings.rate_hz
        )
        first = next(frames)
        meta = first.meta.get("camera_model")
        if meta is None:
            return []
        camera = CameraModel.from_generator_meta(meta, self.size)
        info_file = (self.out_dir / "camera_info.yaml").resolve()  # the node may run elsewhere
        info_file.write_text(yaml.safe_dump(camera.camera_info(), sort_keys=False))
        # fixed-point: every entry reads back as a double (YAML takes "1e-05" for a string)
        mounting = ",".join(f"{v:.9f}" for v in camera.mounting.values())
        return [f"{self.camera}.camera_info_file:={info_file}", f"{self.camera}.mounting:=[{mounting}]"]

    def _player_command(self) -> list[str]:
        params = {
            "scenario": self.config.name,
            "camera": self.camera,
            "seed": self.seed,
            "num_frames": self.settings.num_frames,
            "loop": "false",
            "rate_hz": self.settings.rate_hz,
            "image_size": f"[{self.size[0]},{self.size[1]}]",
            "wait_for_subscribers": 1,
            "wait_for_ground_truth_subscribers": 1,
            "wait_timeout_s": self.settings.startup_timeout_s + 30.0,
            "stats_file": str(self.player_stats_path),
        }
        if self.player_ready_path is not None:
            params["ready_file"] = str(self.player_ready_path)
        if self.player_start_path is not None:
            params["start_file"] = str(self.player_start_path)
        command = [sys.executable, "-m", "seg_perception.tools.synthetic_camera", "--ros-args"]
        for key, value in params.items():
            command += ["-p", f"{key}:={value}"]
        return command

    def _spin_until(
        self,
        done: Callable[[], bool],
        *,
        timeout_s: float,
        what: str,
        on_tick: Callable[[], None] | None = None,
    ) -> float:
        """Spin the recorder until ``done()``; returns the seconds waited.

        Raises:
            DemoError: a child exited early, or ``timeout_s`` passed (message names ``what``).
        """
        start = time.monotonic()
        while not done():
            self.executor.spin_once(timeout_sec=SPIN_S)
            if on_tick is not None:
                on_tick()
            self._check_alive(what)
            if time.monotonic() - start > timeout_s:
                log = self.node.log_path if self.node else "the node log"
                raise DemoError(f"{what} within {timeout_s:.0f} s{self._node_counters()}: see {log}")
        return time.monotonic() - start

    def _node_counters(self) -> str:
        """The node's own frame counters from its latest diagnostics, to tell where frames stopped."""
        values = self.recorder.camera_diagnostics(self.camera).get("values", {})
        counters = {k: v for k, v in values.items() if k.startswith("frames_")}
        if not counters:
            return " (no diagnostics from the node either)"
        return " (node diagnostics: " + ", ".join(f"{k} {v}" for k, v in counters.items()) + ")"

    def _check_alive(self, what: str) -> None:
        for process in (self.node, self.player):
            if process is None:
                continue
            code = process.exited()
            if code is not None and (process is self.node or code != 0):
                raise DemoError(
                    f"the {process.name} exited with code {code} while waiting: {what}; "
                    f"see {process.log_path}; last lines:\n{process.log_tail()}"
                )

    def run(self) -> dict[str, Any]:
        try:
            self._start()
            self._stream()
        finally:
            self._stop()
        return self._finish()

    def _start(self) -> None:
        settings = self.settings
        self._prefix(
            1,
            f"starting the node ({self.model_file.name}, log {self.out_dir / 'node.log'}) and the "
            f"synthetic camera ({settings.num_frames} frames of {self.size[1]}x{self.size[0]})",
        )
        self.node = ManagedProcess(
            "node", self._node_command(), log_path=self.out_dir / "node.log", env=self.env
        )
        recorder = self.recorder
        # Discovery is per side: the node's first diagnostics arriving here shows that its writers
        # have matched this recorder's readers too. Streaming before that lost every mask of a
        # short stream now and then, so the camera starts only once the node is fully connected.
        self.timings["node_start_s"] = self._spin_until(
            lambda: (
                recorder.count_subscribers(self.topic) >= 1
                and recorder.node_output_matched
                and bool(recorder.camera_diagnostics(self.camera))
            ),
            timeout_s=settings.startup_timeout_s,
            what=f"the node did not subscribe to {self.topic}, advertise {recorder.topics.mask} "
            "and publish diagnostics",
        )
        self.player = ManagedProcess(
            "synthetic camera", self._player_command(), log_path=self.out_dir / "player.log", env=self.env
        )
        self._prefix(
            2,
            f"node ready after {self.timings['node_start_s']:.1f} s; waiting for the camera "
            f"to finish generating frames (log {self.out_dir / 'player.log'})",
        )
        generate_timeout = settings.startup_timeout_s + 0.2 * settings.num_frames
        self.timings["generate_wait_s"] = self._spin_until(
            lambda: bool(recorder.recording.ground_truth),
            timeout_s=generate_timeout,
            what=f"the synthetic camera did not publish on {recorder.topics.ground_truth}",
        )

    def _stream(self) -> None:
        from tqdm import tqdm

        settings = self.settings
        recording = self.recorder.recording
        self._prefix(3, f"streaming {settings.seconds:g} s at {settings.rate_hz:g} Hz on {self.topic}")
        start = time.monotonic()
        bar = tqdm(total=settings.num_frames, unit="mask", leave=False, disable=None, dynamic_ncols=True)
        try:
            self._spin_until(
                lambda: bool(recording.predictions),
                timeout_s=settings.output_timeout_s,
                what=f"the node did not publish any mask on {self.recorder.topics.mask}",
                on_tick=lambda: bar.update(len(recording.predictions) - bar.n),
            )
            if settings.profile_node:
                self._start_profiler()
            assert self.player is not None
            player = self.player
            meter = cpu_usage.CpuMeter(_cpu_groups(self.node, [player]))

            def tick() -> None:
                bar.update(len(recording.predictions) - bar.n)
                meter.tick()

            self._spin_until(
                lambda: player.exited() is not None,
                timeout_s=settings.seconds * 3 + settings.output_timeout_s,
                what="the synthetic camera did not finish its stream",
                on_tick=tick,
            )
            self.cpu = meter.usage()
            self._drain(bar)
        finally:
            bar.close()
        self.timings["stream_s"] = time.monotonic() - start

    def _start_profiler(self) -> None:
        assert self.node is not None
        command = [
            find_py_spy(),
            "record",
            "-p",
            str(self.node.process.pid),
            "-r",
            str(PROFILE_RATE_HZ),
            "-d",
            str(max(1, int(self.settings.seconds))),
            "--nonblocking",
            "-f",
            "raw",
            "-o",
            str(self.profile_path),
        ]
        log_path = self.out_dir / "profiler.log"
        self.profiler = ManagedProcess("profiler", command, log_path=log_path, env=self.env)

    def _drain(self, bar: Any) -> None:
        """After the last frame: let in-flight masks and one fresh diagnostics message arrive."""
        recording = self.recorder.recording
        start = last_change = time.monotonic()
        complete_at: float | None = None
        seen = len(recording.predictions)
        while time.monotonic() - start < DRAIN_MAX_S:
            self.executor.spin_once(timeout_sec=SPIN_S)
            now = time.monotonic()
            if len(recording.predictions) != seen:
                seen, last_change = len(recording.predictions), now
                bar.update(seen - bar.n)
            all_in = seen >= len(recording.ground_truth) or now - last_change > DRAIN_IDLE_S
            if complete_at is None and all_in:
                complete_at = now
            # Diagnostics published after the last mask carry the node's final counters.
            if complete_at is not None and self.recorder.last_diagnostics_at > complete_at:
                break

    def _stop(self) -> None:
        start = time.monotonic()
        for process in (self.profiler, self.player, self.node):
            if process is not None:
                self.exit_codes[process.name] = process.stop()
        self.timings["stop_s"] = time.monotonic() - start
        self.executor.shutdown(timeout_sec=1.0)
        self.recorder.destroy_node()

    def _finish(self) -> dict[str, Any]:
        import json

        start = time.monotonic()
        recorder, recording = self.recorder, self.recorder.recording
        self._prefix(
            4,
            f"node stopped (exit code {self.exit_codes.get('node')}); scoring "
            f"{len(recording.matched_stamps)} masks against ground truth",
        )
        if self.exit_codes.get("node"):
            log = self.node.log_path if self.node is not None else "its log"
            _say(f"  warning: the node exited with code {self.exit_codes['node']}; see {log}")
        stats_path = self.player_stats_path
        player_stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
        accuracy = recording.score(self.config.classes.names)
        accuracy.pop("confusion", None)
        diagnostics = recorder.camera_diagnostics(self.camera)
        values = diagnostics.get("values", {})
        self._prefix(5, f"writing overlays, animation and contact sheet to {self.out_dir}")
        files = write_stream_visuals(
            recording,
            self.out_dir,
            name=self.name,
            colors_bgr=self.config.classes.colors_bgr,
            gif_fps=self.settings.gif_fps,
            video=True,
            annotate=overlay_annotator(self.config, self.camera, recording.predictions),
        )
        self.timings["report_s"] = time.monotonic() - start
        frames = recording.counts(player_stats.get("frames_sent"))
        return {
            "scenario": self.name,
            "camera": self.camera,
            "topic": self.topic,
            "image_size": list(self.size),
            "seed": self.seed,
            "model": {"file": str(self.model_file), "name": values.get("model")},
            "engine": values.get("engine"),
            "providers": values.get("providers"),
            "device": values.get("device", self.settings.device),
            "fps": recording.output_fps(),
            "input_fps": player_stats.get("achieved_rate_hz", recording.input_fps()),
            "latency_ms": recording.latency(),
            "processing_ms": summarize_latencies(recorder.processing_ms).to_json(),
            "frames": frames,
            "node_counters": {
                key: int(values[key])
                for key in (
                    "frames_received",
                    "frames_processed",
                    "frames_dropped",
                    "frames_rejected",
                    "engine_errors",
                )
                if key in values
            },
            "cpu_while_streaming": cpu_usage.with_cost_per_mask(
                self.cpu, "node", self.node_masks_per_second or recording.output_fps()
            ),
            "node_stages_ms": {
                key.split(".", 1)[1]: float(value)
                for key, value in values.items()
                if key.startswith("stage_ms.")
            },
            "markers_per_frame": (
                float(np.mean(recorder.markers_per_frame)) if recorder.markers_per_frame else None
            ),
            "lanes_per_frame": float(np.mean(recorder.lanes_per_frame)) if recorder.lanes_per_frame else None,
            "lanes_metric_share": (
                recorder.metric_lane_frames / len(recorder.lanes_per_frame)
                if recorder.lanes_per_frame
                else None
            ),
            "slots_per_frame": float(np.mean(recorder.slots_per_frame)) if recorder.slots_per_frame else None,
            "accuracy": accuracy,
            "node_profile": (
                profile_summary(self.profile_path, include=PROFILE_FRAMES)
                if self.profile_path.is_file()
                else []
            ),
            "meets_min_fps": bool(recording.output_fps() >= self.settings.min_fps),
            "timings_s": self.timings,
            "exit_codes": self.exit_codes,
            "player": player_stats,
            "files": {
                **files,
                "node_log": str(self.out_dir / "node.log"),
                "player_log": str(self.out_dir / "player.log"),
            },
            "_overlays": [image for _, image in recording.overlays],
        }


class _DriveRun:
    """The whole car: one node serving front (lanes) and AVM (parking), both cameras at once.

    Each camera is a :class:`_ScenarioRun` (its recorder, player and report entry) sharing
    the one node process; their recorders are spun in turn.
    """

    def __init__(self, settings: DemoSettings, *, context: Any, env: dict[str, str]) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.settings = settings
        # One executor for every camera's recorder: each spin waits on all their topics at once
        # (spinning one executor per camera in turn made the recorder lose ground truths and masks).
        self.executor = SingleThreadedExecutor(context=context)
        self.streams = [
            _ScenarioRun(
                scenario,
                settings,
                context=context,
                env=env,
                camera=camera,
                label=f"{DRIVE}-{camera}",
                executor=self.executor,
                model_overrides=drive_model_overrides(camera, scenario),
                model_parameter=f"{camera}.model_file",
            )
            for camera, scenario in DRIVE_CAMERAS.items()
        ]
        self.out_dir = settings.out / DRIVE
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.node: ManagedProcess | None = None
        self.switch = (
            _Switch(
                *settings.switch,
                at_s=settings.switch_at_s if settings.switch_at_s is not None else settings.seconds / 2,
                model_dir=settings.model_dir,
                device=settings.device,
            )
            if settings.switch is not None
            else None
        )

    def _node_command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "seg_perception.ros.node",
            "--ros-args",
            "--params-file",
            str(share_dir() / "config" / f"{DRIVE}.yaml"),
            "-p",
            f"device:={self.settings.device}",
        ]
        for stream in self.streams:
            command += ["-p", f"{stream.camera}.model_file:={stream.model_file}"]
            for setting in stream.true_camera_parameters():
                command += ["-p", setting]
        for extra in self.settings.node_args:
            command += ["-p", extra]
        return command

    def _spin_until(
        self,
        done: Callable[[], bool],
        *,
        timeout_s: float,
        what: str,
        tick: Callable[[float], None] | None = None,
    ) -> float:
        start = time.monotonic()
        while not done():
            if tick is not None:
                tick(time.monotonic() - start)
            self.executor.spin_once(timeout_sec=SPIN_S)
            for stream in self.streams:
                stream._check_alive(what)
            if time.monotonic() - start > timeout_s:
                log = self.node.log_path if self.node else "the node log"
                raise DemoError(f"{what} within {timeout_s:.0f} s: see {log}")
        return time.monotonic() - start

    def _generate_frames(self) -> Path:
        """Start every camera's player and wait until all have generated their frames.

        Every camera generates its frames before the node starts, and all stream from the same
        moment once the node is ready (the returned start file is touched): no camera's frame
        generation (a core for tens of seconds) competes with another's stream, and both streams
        are measured at once.
        """
        settings, streams = self.settings, self.streams
        start_path = self.out_dir / "cameras_start"
        start_path.unlink(missing_ok=True)
        for stream in streams:
            stream.player_ready_path = stream.out_dir / "player_ready.json"
            stream.player_ready_path.unlink(missing_ok=True)
            stream.player_start_path = start_path
            stream.player = ManagedProcess(
                f"synthetic {stream.camera} camera",
                stream._player_command(),
                log_path=stream.out_dir / "player.log",
                env=stream.env,
            )
        generate_s = self._spin_until(
            lambda: all(s.player_ready_path is not None and s.player_ready_path.is_file() for s in streams),
            timeout_s=settings.startup_timeout_s + 0.2 * settings.num_frames,
            what="the synthetic cameras did not both generate their frames",
        )
        _say(f"  [drive] both cameras generated their frames in {generate_s:.1f} s; starting the node")
        for stream in streams:
            stream.timings["generate_wait_s"] = generate_s
        return start_path

    def _start_node(self) -> None:
        """Start the one node for every camera and wait until it serves them all."""
        settings, streams = self.settings, self.streams
        self.node = ManagedProcess(
            "node", self._node_command(), log_path=self.out_dir / "node.log", env=streams[0].env
        )
        for stream in streams:
            stream.node = self.node
        node_start = self._spin_until(
            lambda: all(
                s.recorder.count_subscribers(s.topic) >= 1
                and s.recorder.node_output_matched
                and bool(s.recorder.camera_diagnostics(s.camera))
                for s in streams
            ),
            timeout_s=settings.startup_timeout_s,
            what="the node did not subscribe to both cameras, advertise their masks and publish diagnostics",
        )
        for stream in streams:
            stream.timings["node_start_s"] = node_start
        if self.switch is not None:
            self.switch.connect(streams[0].recorder, timeout_s=settings.startup_timeout_s)
        _say(f"  [drive] node ready after {node_start:.1f} s; both cameras start streaming")

    def _stream(self) -> None:
        """Record every camera's stream until the players finish, with the CPU they all used."""
        settings, streams = self.settings, self.streams
        self._spin_until(
            lambda: all(bool(s.recorder.recording.ground_truth) for s in streams),
            timeout_s=settings.startup_timeout_s + 0.2 * settings.num_frames,
            what="the synthetic cameras did not both publish ground truth",
        )
        if settings.profile_node:  # one node: one profile, in every camera's report entry
            streams[0]._start_profiler()
            for stream in streams[1:]:
                stream.profile_path = streams[0].profile_path
        _say(f"  [drive] streaming {settings.seconds:g} s at {settings.rate_hz:g} Hz on both cameras")
        start = time.monotonic()
        meter = cpu_usage.CpuMeter(_cpu_groups(self.node, [s.player for s in streams]))
        switch = self.switch

        def tick(elapsed_s: float) -> None:
            meter.tick()
            if switch is not None:
                switch.tick(elapsed_s)

        self._spin_until(
            lambda: all(s.player is not None and s.player.exited() is not None for s in streams),
            timeout_s=settings.seconds * 3 + settings.output_timeout_s + settings.startup_timeout_s,
            what="the synthetic cameras did not finish their streams",
            tick=tick,
        )
        cpu = meter.usage()
        for stream in streams:
            stream.cpu = cpu  # one node and one recorder for both cameras
            stream._drain(_NoBar())
            stream.timings["stream_s"] = time.monotonic() - start
        if self.switch is not None:
            self.switch.finish()

    def run(self) -> list[dict[str, Any]]:
        streams = self.streams
        try:
            _say(
                f"  [drive] one node for {', '.join(f'{s.camera} ({s.config.name})' for s in streams)}; "
                f"log {self.out_dir / 'node.log'}"
            )
            start_path = self._generate_frames()
            self._start_node()
            start_path.touch()
            self._stream()
        finally:
            for stream in streams:
                if stream.profiler is not None:
                    stream.exit_codes[stream.profiler.name] = stream.profiler.stop()
                if stream.player is not None:
                    stream.exit_codes[stream.player.name] = stream.player.stop()
            if self.node is not None:
                code = self.node.stop()
                for stream in streams:
                    stream.exit_codes["node"] = code
            self.executor.shutdown(timeout_sec=1.0)
            for stream in streams:
                stream.recorder.destroy_node()
        # One node delivers every camera's masks: its CPU per mask is over all of them.
        node_masks_per_second = sum(stream.recorder.recording.output_fps() for stream in streams)
        for stream in streams:
            stream.node_masks_per_second = node_masks_per_second
        results = [stream._finish() for stream in streams]
        if self.switch is not None:
            summary = self.switch.summary(self.out_dir / "node.log")
            for stream, result in zip(streams, results, strict=True):
                result["switch"] = {
                    **summary,
                    "lost_in_a_row": self.switch.loss(stream.recorder.recording),
                }
        return results


class _Switch:
    """A camera's scenario change in the middle of the drive, set through the node's parameters."""

    def __init__(
        self, camera: str, scenario: str, *, at_s: float, model_dir: Path | None, device: str
    ) -> None:
        self.camera, self.scenario, self.at_s = camera, scenario, at_s
        self.model_file = resolve_model(scenario, model_dir, device)  # as the demo's other models
        self.client: Any = None
        self.future: Any = None
        self.requested_ns: int | None = None
        self.replied_ns: int | None = None

    def connect(self, node: Any, *, timeout_s: float) -> None:
        """A parameter client of the segmentation node on ``node`` (one of the demo's recorders)."""
        from rclpy.parameter_client import AsyncParameterClient

        from seg_perception.ros.node import NODE_NAME

        self.client = AsyncParameterClient(node, NODE_NAME)
        if not self.client.wait_for_services(timeout_sec=timeout_s):
            raise DemoError(f"the node's parameter services did not come up within {timeout_s:.0f} s")

    def tick(self, elapsed_s: float) -> None:
        """Request the switch once ``at_s`` into the stream; note when the reply is in."""
        from rclpy.parameter import Parameter

        if self.future is None and elapsed_s >= self.at_s:
            _say(f"  [drive] switching {self.camera} to {self.scenario} ({elapsed_s:.1f} s into the stream)")
            self.requested_ns = time.time_ns()
            # atomically: one request, one swap (set_parameters would switch once per parameter)
            self.future = self.client.set_parameters_atomically(
                [
                    Parameter(f"{self.camera}.scenario", value=self.scenario),
                    Parameter(f"{self.camera}.model_file", value=str(self.model_file)),
                ]
            )
        if self.future is not None and self.replied_ns is None and self.future.done():
            self.replied_ns = time.time_ns()

    def finish(self) -> None:
        if self.future is None:
            raise DemoError(f"the stream ended before the switch at {self.at_s:g} s")
        if self.replied_ns is None and self.future.done():
            self.replied_ns = time.time_ns()

    def summary(self, node_log: Path) -> dict[str, Any]:
        """The request, the node's reply and its log lines about the switch."""
        reply = self.future.result().result if self.future is not None and self.future.done() else None
        log = node_log.read_text(errors="replace") if node_log.is_file() else ""
        return {
            "camera": self.camera,
            "to": self.scenario,
            "at_s": self.at_s,
            "successful": bool(reply.successful) if reply is not None else None,
            "reason": reply.reason if reply is not None else "no reply",
            "request_to_reply_ms": (
                (self.replied_ns - self.requested_ns) / 1e6
                if self.replied_ns is not None and self.requested_ns is not None
                else None
            ),
            "log": [line for line in log.splitlines() if "switched from" in line or "switch refused" in line],
        }

    def loss(self, recording: Any) -> dict[str, Any]:
        """Frames lost in a row at the swap against elsewhere in ``recording`` (see :func:`loss_around`)."""
        if self.requested_ns is None:
            return {}
        window_end = (
            self.replied_ns if self.replied_ns is not None else max(recording.ground_truth, default=0)
        )
        margin = round(SWITCH_WINDOW_S * 1e9)
        return loss_around(
            recording.ground_truth, recording.predictions, (self.requested_ns - margin, window_end + margin)
        )


class _NoBar:
    """A progress bar that shows nothing (two cameras stream at once)."""

    n = 0

    def update(self, count: int) -> None:
        self.n += count


# --------------------------------------------------------------------------- whole run


def _overall_sheet(results: list[dict[str, Any]], out: Path) -> Path | None:
    images, labels = [], []
    for item in results:
        overlays = item.pop("_overlays", [])
        for index in evenly_spaced(len(overlays), 4):
            images.append(overlays[index])
            labels.append(f"{item['scenario']} #{index}")
    if not images:
        return None
    return write_png(contact_sheet(images, cols=4, labels=labels, tile_width=320), out / "contact_sheet.png")


def _absent_note(accuracy: dict[str, Any]) -> str:
    """Explain an mIoU pulled down by a class the stream never shows (IoU 0 from stray pixels)."""
    absent = accuracy.get("absent_classes") or {}
    if not absent:
        return ""
    names = ", ".join(absent)
    return f" ({accuracy['miou_present']:.3f} over the classes in this drive; no {names} in it)"


def run_demo(settings: DemoSettings) -> dict[str, Any]:
    """Run every scenario, write the report and return its summary.

    Raises:
        DemoError: a process failed or an output did not arrive in time.
    """
    from rclpy.context import Context

    began = time.monotonic()
    load_before = os.getloadavg()[0]
    settings.out.mkdir(parents=True, exist_ok=True)
    profile = shipped_profile()
    env = ros_environment(profile=profile, domain_id=settings.domain_id)
    for scenario in settings.scenarios:  # fail before starting anything
        for model_scenario in DRIVE_CAMERAS.values() if scenario == DRIVE else (scenario,):
            resolve_model(model_scenario, settings.model_dir, settings.device)
    if settings.profile_node:
        find_py_spy()
    _say(
        f"seg-perception demo: {', '.join(settings.scenarios)}; {settings.seconds:g} s each at "
        f"{settings.rate_hz:g} Hz; ROS domain {settings.domain_id}; Fast DDS profile {profile or 'none'}"
    )
    context = Context()
    shared = {k: env[k] for k in ("RMW_IMPLEMENTATION", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    if profile is not None:
        shared["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    with temporary_environment(shared):
        context.init(domain_id=settings.domain_id)
    results = []
    try:
        for index, scenario in enumerate(settings.scenarios, start=1):
            _say(f"[{index}/{len(settings.scenarios)}] scenario {scenario}")
            if scenario == DRIVE:
                runs = _DriveRun(settings, context=context, env=env).run()
            else:
                runs = [_ScenarioRun(scenario, settings, context=context, env=env).run()]
            results.extend(runs)
            for result in runs:
                _say(
                    f"  {result['scenario']}: {result['fps']:.1f} fps, latency p50 "
                    f"{result['latency_ms']['p50']:.0f} ms / p95 {result['latency_ms']['p95']:.0f} ms, "
                    f"{result['frames']['received']}/{result['frames']['sent']} masks, "
                    f"mIoU {result['accuracy']['miou']:.3f}" + _absent_note(result["accuracy"])
                )
                if result.get("cpu_while_streaming"):
                    _say("    CPU while streaming: " + cpu_usage.describe(result["cpu_while_streaming"]))
                if "switch" in result:
                    _say("    " + switch_line(result["switch"]))
    finally:
        context.try_shutdown()
    sheet = _overall_sheet(results, settings.out)
    report: dict[str, Any] = {
        "title": "seg_perception demo",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # Other work on the machine slows the node: the 1-minute load average puts fps in context.
            "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        },
        "rmw": env.get("RMW_IMPLEMENTATION"),
        "fastdds_profile": str(profile) if profile else None,
        "domain_id": settings.domain_id,
        "settings": {
            "seconds": settings.seconds,
            "rate_hz": settings.rate_hz,
            "seed": settings.seed,
            "size": list(settings.size) if settings.size else None,
            "device": settings.device,
        },
        "min_fps": settings.min_fps,
        "scenarios": results,
        "contact_sheet": str(sheet) if sheet else None,
        "total_s": time.monotonic() - began,
        "notes": [
            "Models are the shipped defaults trained on synthetic scenes; mIoU here is against the same "
            "generator's labels, not real camera data.",
        ],
    }
    json_path, md_path = write_report(report, settings.out)
    report["files"] = {"json": str(json_path), "markdown": str(md_path)}
    return report


# --------------------------------------------------------------------------- command line


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=(*scenario_names(), DRIVE),
        default=list(DEFAULT_DEMO_SCENARIOS),
        help="scenarios to run (default: highway road parking); drive: front and AVM "
        "in one node, each with its own model",
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="stream length per scenario (default 6)")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="report folder (default out/demo)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    add_size_argument(parser, "--size", "camera size (default: the scenario's image_size)")
    parser.add_argument(
        "--model-dir", type=Path, help="folder with <scenario>.onnx (default: the shipped weights/)"
    )
    add_device_argument(parser, what="node device: ")
    parser.add_argument(
        "--seed",
        type=int,
        default=HELD_OUT_SEED,
        help=f"seed of the drives (default {HELD_OUT_SEED}: held out from training)",
    )
    parser.add_argument(
        "--domain-id",
        type=int,
        help="ROS domain of the demo (default: $ROS_DOMAIN_ID when set, else a private one in 1..100)",
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds for the node to start")
    parser.add_argument(
        "--output-timeout", type=float, default=20.0, help="seconds for the first mask once frames flow"
    )
    parser.add_argument("--min-fps", type=float, default=15.0, help="fps bar the report checks (default 15)")
    parser.add_argument(
        "--profile-node",
        action="store_true",
        help="sample the node with py-spy while streaming; the report lists the hot spots",
    )
    parser.add_argument(
        "--switch",
        metavar="CAMERA=SCENARIO",
        help=f"drive only: change a camera's scenario while streaming, e.g. front=road "
        f"(cameras: {', '.join(DRIVE_CAMERAS)})",
    )
    parser.add_argument(
        "--switch-at",
        type=float,
        metavar="SECONDS",
        help="seconds into the stream for --switch (default: half of --seconds)",
    )
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra node parameter (repeatable), e.g. --node-param overlay_alpha:=0.6",
    )


def demo_domain_id(requested: int | None, environ: Mapping[str, str]) -> int:
    """``--domain-id``, else ``$ROS_DOMAIN_ID`` (so RViz or ``ros2 topic`` on that domain see the demo),
    else a private domain in 1..100 so that concurrent demos do not hear each other."""
    if requested is not None:
        return requested
    text = environ.get("ROS_DOMAIN_ID", "").strip()
    if text:
        try:
            return int(text)
        except ValueError as err:
            raise DemoError(f"ROS_DOMAIN_ID={text!r} is not an integer domain id") from err
    return 1 + os.getpid() % 100


def parse_switch(text: str | None, scenarios: Sequence[str]) -> tuple[str, str] | None:
    """``--switch CAMERA=SCENARIO`` as ``(camera, scenario)``; None without it.

    Raises:
        DemoError: not ``CAMERA=SCENARIO``, a camera the drive lacks, an unknown scenario,
            or no drive among ``scenarios``.
    """
    if text is None:
        return None
    camera, separator, scenario = text.partition("=")
    camera, scenario = camera.strip(), scenario.strip()
    if not separator or not camera or not scenario:
        raise DemoError(f"--switch {text!r}: expected CAMERA=SCENARIO, e.g. front=road")
    if DRIVE not in scenarios:
        raise DemoError(f"--switch needs the {DRIVE} scenario (--scenarios {DRIVE})")
    if camera not in DRIVE_CAMERAS:
        raise DemoError(
            f"--switch {text!r}: the drive has no camera {camera!r} (cameras: {', '.join(DRIVE_CAMERAS)})"
        )
    if scenario not in scenario_names():
        raise DemoError(
            f"--switch {text!r}: unknown scenario {scenario!r} (known: {', '.join(scenario_names())})"
        )
    return camera, scenario


def settings_from_args(args: argparse.Namespace) -> DemoSettings:
    if args.seconds <= 0 or args.rate <= 0:
        raise DemoError("--seconds and --rate must be > 0")
    scenarios = tuple(dict.fromkeys(args.scenarios))
    switch = parse_switch(args.switch, scenarios)
    if args.switch_at is not None and (switch is None or not 0 < args.switch_at < args.seconds):
        raise DemoError("--switch-at needs --switch and must lie inside the stream (0 < SECONDS < --seconds)")
    return DemoSettings(
        scenarios=scenarios,
        seconds=args.seconds,
        out=args.out,
        rate_hz=args.rate,
        size=args.size,
        model_dir=args.model_dir,
        device=args.device,
        seed=args.seed,
        domain_id=demo_domain_id(args.domain_id, os.environ),
        startup_timeout_s=args.startup_timeout,
        output_timeout_s=args.output_timeout,
        min_fps=args.min_fps,
        node_args=tuple(args.node_param),
        profile_node=args.profile_node,
        switch=switch,
        switch_at_s=args.switch_at,
    )


def run(args: argparse.Namespace) -> int:
    report = run_demo(settings_from_args(args))
    _say(f"report: {report['files']['markdown']} (and report.json, GIFs, contact sheets in {args.out})")
    below = [item["scenario"] for item in report["scenarios"] if not item["meets_min_fps"]]
    if below:
        _say(f"note: below the {args.min_fps:g} fps bar: {', '.join(below)}")
    return 0
