"""The machinery shared by the plain and the lifecycle segmentation node.

:class:`SegmentationCore` follows the lifecycle states, so both nodes drive it the
same way: the plain node runs ``configure`` then ``activate`` in its constructor, the
managed node from its transitions.

- ``configure``: declare and validate parameters, load the engine and warm it up,
  check the model's classes against the scenario, create the publishers;
- ``activate``: subscribe, start one worker thread per camera and the diagnostics timer;
- ``deactivate``: unsubscribe, finish the current frames, stop the threads;
- ``cleanup``: destroy the publishers and close the engine (``engine.close()``).

Each camera runs its own scenario (``<camera>.scenario``: class map, post-processing,
model file). Engines come from an injectable factory (tests use slow or failing
engines) through an :class:`~seg_perception.ros.engine_pool.EnginePool`: by default
(``camera_engines: shared``) cameras running the same model file share one engine
through :class:`SerializedEngine` (engines reuse their buffers, so calls are
serialised while conversion, post-processing and publishing of the cameras overlap).
With ``camera_engines: per_camera`` each camera gets its own engine (its own ONNX
Runtime session or CUDA stream), so on a GPU the cameras' inferences do not wait for
each other, at the cost of one model in memory per camera.

Scenario switch at run time: setting ``<camera>.scenario`` (or ``<camera>.model_file``)
loads and warms up the new model beside the running one while frames keep flowing
(the subscriptions have their own callback group), then swaps the camera's pipeline
between two frames. A request that cannot be served (unknown scenario, missing or
broken model, class map mismatch) is refused with the reason; the camera keeps its model.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNodeMixin
from rclpy.node import Node
from rclpy.qos import QoSProfile

from seg_perception.config import share_dir
from seg_perception.errors import ConfigError, SegPerceptionError
from seg_perception.inference.base import SegmentationEngine
from seg_perception.inference.engine import create_engine
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.ros.camera_worker import CameraWorker
from seg_perception.ros.engine_pool import EnginePool
from seg_perception.ros.input_checks import shared_memory_advice
from seg_perception.ros.log_limits import PercentFormattingLogger
from seg_perception.ros.outputs import DIAGNOSTICS
from seg_perception.ros.parameters import (
    DEFAULT_VISUALIZATION_RATE_HZ,
    CameraSettings,
    NodeSettings,
    declare_node_parameters,
    resolve_camera_model,
    unused_parameter_overrides,
)
from seg_perception.ros.qos import DEFAULT_INPUT_QOS, input_qos, output_profile
from seg_perception.ros.stats import build_status

_Masks = TypeVar("_Masks")

EngineFactory = Callable[[NodeSettings, PercentFormattingLogger], SegmentationEngine]
SWITCH_SUFFIXES = (".scenario", ".model_file")


def _expected_frame_size(camera: CameraSettings) -> tuple[int, int] | None:
    """The camera's frame size from its scenario (``<camera>.image_size``), where configured."""
    try:
        return camera.model.scenario.image_size(camera.name)
    except (ConfigError, KeyError):
        return None  # no size configured: the first frame of a new size builds what it needs


def default_engine_factory(settings: NodeSettings, logger: PercentFormattingLogger) -> SegmentationEngine:
    """:func:`create_engine` with the node's settings; load messages and CUDA fallbacks go to ``logger``."""
    return create_engine(settings.model_file, settings.engine_options(), logger=logger)


class SerializedEngine:
    """One engine shared by several camera threads: one call at a time, timings per thread.

    ``Engine.predict_masks`` fills a reused input buffer and stores ``last_timings_ms`` on the
    engine, so concurrent calls would race; here ``last_timings_ms`` is the calling
    thread's own latest timings, which is what the pipeline reads right after ``predict_masks``.
    """

    def __init__(self, engine: SegmentationEngine) -> None:
        self.inner = engine
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def metadata(self) -> ModelMetadata:
        return self.inner.metadata

    @property
    def model_file(self) -> Path:
        return self.inner.model_file

    @property
    def providers(self) -> list[str]:
        return list(self.inner.providers)

    @property
    def device(self) -> str:
        return self.inner.device

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return dict(getattr(self._local, "timings", {}))

    @property
    def last_outputs(self) -> dict[str, np.ndarray]:
        """The calling thread's latest extra model outputs (marking points), like ``last_timings_ms``."""
        return dict(getattr(self._local, "outputs", {}))

    def describe(self) -> str:
        return self.inner.describe()

    def _one_at_a_time(self, call: Callable[[], _Masks]) -> _Masks:
        """``call()`` under the lock; its timings and extra outputs kept for the calling thread."""
        with self._lock:
            masks = call()
            self._local.timings = dict(self.inner.last_timings_ms)
            self._local.outputs = dict(self.inner.last_outputs)
        return masks

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame-size and model-size masks (``Engine.predict_masks``), one call at a time."""
        return self._one_at_a_time(lambda: self.inner.predict_masks(image_bgr))

    def predict_masks_batch(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``Engine.predict_masks_batch`` (test-time flips of one camera), one call at a time."""
        return self._one_at_a_time(lambda: self.inner.predict_masks_batch(frames))

    def warmup(self, iterations: int = 2, *, frame_sizes: Sequence[tuple[int, int]] | None = None) -> None:
        with self._lock:
            if frame_sizes:
                self.inner.warmup(iterations, frame_sizes=frame_sizes)
            else:
                self.inner.warmup(iterations)

    def close(self) -> None:
        with self._lock:
            self.inner.close()


class SegmentationCore:
    """Parameters, engine, camera workers and diagnostics of one node (see module docstring)."""

    def __init__(self, node: Node, *, engine_factory: EngineFactory | None = None) -> None:
        self.node = node
        self._engine_factory = engine_factory or default_engine_factory
        self._lifecycle = isinstance(node, LifecycleNodeMixin)
        self.settings: NodeSettings | None = None
        self.engine: SerializedEngine | None = None  # the first camera's
        self._engines: list[SerializedEngine] = []
        self._pool: EnginePool[SerializedEngine] | None = None
        self._switch_lock = threading.Lock()
        self.input_qos: QoSProfile = DEFAULT_INPUT_QOS
        self.marker_scale = 0.05
        self.overlay_alpha = 0.5
        self.visualization_rate_hz = DEFAULT_VISUALIZATION_RATE_HZ
        self._workers: list[CameraWorker] = []
        self._diagnostics_pub: Any = None
        self._timer: Any = None
        self._active_since = time.monotonic()
        self._large_frame_warned = False
        node.add_on_set_parameters_callback(self._on_set_parameters)

    # publishers: lifecycle publishers on a managed node, so they only publish while active
    def create_publisher(self, msg_type: type, topic: str, qos: QoSProfile | int) -> Any:
        if self._lifecycle:
            return self.node.create_lifecycle_publisher(msg_type, topic, qos)  # type: ignore[attr-defined]
        return self.node.create_publisher(msg_type, topic, qos)

    def destroy_publisher(self, publisher: Any) -> None:
        if self._lifecycle:
            self.node.destroy_lifecycle_publisher(publisher)  # type: ignore[attr-defined]
        else:
            self.node.destroy_publisher(publisher)

    @property
    def workers(self) -> tuple[CameraWorker, ...]:
        return tuple(self._workers)

    @property
    def configured(self) -> bool:
        return self.engine is not None

    @property
    def active(self) -> bool:
        return self._timer is not None

    def configure(self) -> None:
        """Validate parameters, load and warm up the engine, create the publishers.

        Raises:
            SegPerceptionError: invalid parameter, missing/corrupt model file, model classes
                that differ from the scenario's, CUDA absent under ``cuda_policy: fail``.
                Whatever was created is released first.
        """
        if self.configured:
            return
        try:
            settings = self.settings = declare_node_parameters(self.node)
            self.input_qos = input_qos(settings.qos_reliability, settings.qos_depth)
            self.marker_scale = settings.marker_scale
            self.overlay_alpha = settings.overlay_alpha
            self.visualization_rate_hz = settings.visualization_rate_hz
            logger = PercentFormattingLogger(self.node.get_logger())
            pool = self._pool = EnginePool(
                lambda path: SerializedEngine(
                    self._engine_factory(dataclasses.replace(settings, model_file=path), logger)
                ),
                per_camera=settings.camera_engines == "per_camera",
            )
            cameras = settings.enabled_cameras
            camera_engines = [pool.acquire(camera.name, camera.model.model_file)[0] for camera in cameras]
            self._engines = pool.engines
            self.engine = camera_engines[0]
            pipelines = [
                SegmentationPipeline(
                    engine,
                    camera.model.scenario,
                    camera.name,
                    overlay_alpha=settings.overlay_alpha,
                    ground=camera.projection.ground_mapper(),
                )
                for camera, engine in zip(cameras, camera_engines, strict=True)
            ]
            # Lazy allocations, output checks, per-size fused graphs and TensorRT engines now,
            # not on the first camera frame.
            for engine in self._engines:
                served = [
                    size
                    for camera, used in zip(cameras, camera_engines, strict=True)
                    if used is engine and (size := _expected_frame_size(camera)) is not None
                ]
                pool.warm_up(engine, served)
            self._workers = [
                CameraWorker(core=self, camera=camera, pipeline=pipeline)
                for camera, pipeline in zip(settings.enabled_cameras, pipelines, strict=True)
            ]
            self._diagnostics_pub = self.create_publisher(
                DIAGNOSTICS.message_class(),
                DIAGNOSTICS.name,
                output_profile(DIAGNOSTICS.qos, settings.qos_depth),
            )
        except BaseException:
            self.cleanup()
            raise

    def activate(self) -> None:
        """Subscribe every enabled camera, start the workers and the diagnostics timer."""
        if self.active or self.settings is None or self.engine is None:
            return
        for worker in self._workers:
            worker.start()
        self._active_since = time.monotonic()
        self._timer = self.node.create_timer(self.settings.diagnostics_period_s, self.publish_diagnostics)
        cameras = "; ".join(
            f"{w.camera.name} <- {w.topic} ({w.camera.transport}): {w.camera.model.label}, "
            f"{w.pipeline.engine.describe()}"
            for w in self._workers
        )
        self.node.get_logger().info(f"cameras: {cameras}")
        ignored = unused_parameter_overrides(self.node, self.settings.scenario.params)
        if ignored:
            self.node.get_logger().warning(
                f"ignored, not parameters of this node: {', '.join(ignored)}. Scenario settings "
                "(slots.*, lanes.*, ...) live in the scenario YAML: copy it and pass scenario:=FILE "
                "(or <camera>.scenario:=FILE); ros2 param list shows the node's parameters"
            )

    def deactivate(self) -> None:
        """Unsubscribe and stop the workers after their current frame (idempotent)."""
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        for worker in self._workers:
            worker.stop()

    def cleanup(self) -> None:
        """Deactivate, destroy the publishers and close the engine (idempotent)."""
        self.deactivate()
        for worker in self._workers:
            worker.destroy()
        self._workers = []
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None
        pool, self._pool, self._engines, self.engine = self._pool, None, [], None
        if pool is not None:
            pool.close_all()

    shutdown = cleanup

    def check_frame_size(self, frame_bytes: int) -> None:
        """Once per node: large frames on Fast DDS without the shared-memory profile get a warning."""
        if self._large_frame_warned:
            return
        advice = shared_memory_advice(frame_bytes, os.environ, share_dir())
        if advice is not None:
            self._large_frame_warned = True
            self.node.get_logger().warning(advice)

    def sim_time_active(self) -> bool:
        """True while the node clock follows /clock (``use_sim_time``)."""
        return bool(getattr(self.node.get_clock(), "ros_time_is_active", False))

    def latency_ms(self, stamp: Time) -> float | None:
        """Milliseconds from the input stamp to now (node clock); None for an unset stamp."""
        if stamp.sec == 0 and stamp.nanosec == 0:
            return None
        now = self.node.get_clock().now().nanoseconds
        return (now - (stamp.sec * 10**9 + stamp.nanosec)) / 1e6

    def clock_mismatch(self, latency_ms: float | None) -> str | None:
        """Why a frame's stamp is implausible for the node's clock, or None when it fits.

        A stamp is plausible within ``stamp_window_s`` of the node clock; outside it (or unset),
        the frame's latency would be the clocks' offset, not the node's lag. (Under sim time
        latency is measured from arrival and stamps are not compared with the clock.)
        """
        window_s = self.settings.stamp_window_s if self.settings is not None else 0.0
        if latency_ms is None:
            return "header.stamp is unset (0): the publisher does not stamp its frames"
        offset_s = latency_ms / 1e3
        if abs(offset_s) <= window_s:
            return None
        if offset_s > 0:
            return (
                f"stamps are {offset_s:.3g} s behind the node clock (window {window_s:g} s); replaying "
                "a bag? run the node with use_sim_time:=true and play with --clock"
            )
        return (
            f"stamps are {-offset_s:.3g} s ahead of the node clock (window {window_s:g} s); are the "
            "camera's and this machine's clocks synchronised (NTP/PTP)?"
        )

    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticStatus`` per camera on ``/diagnostics``."""
        settings, engine, publisher = self.settings, self.engine, self._diagnostics_pub
        if settings is None or engine is None or publisher is None:
            return
        age = time.monotonic() - self._active_since
        for worker in self._workers:
            worker.check_input(seconds_since_start=age, stale_timeout_s=settings.stale_timeout_s)
        info = {
            "engine": settings.engine,
            "device": settings.device,
            "camera_engines": settings.camera_engines,
        }
        statuses = [
            build_status(
                name=f"{self.node.get_name()}: {worker.camera.name}",
                snapshot=worker.stats.snapshot(),
                stale_timeout_s=settings.stale_timeout_s,
                seconds_since_start=age,
                ego_lane_lost_s=settings.ego_lane_lost_s,
                dropped_share_warn=settings.dropped_share_warn,
                info={
                    **info,
                    **worker.model_info(),
                    "topic": worker.topic,
                    # frames unrelated to the one before (stills in a stream): tracking restarted on them
                    "scene_cuts": str(worker.scene_cuts),
                    "latency_from": "arrival (use_sim_time)" if self.sim_time_active() else "input stamp",
                },
            )
            for worker in self._workers
        ]
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.node.get_clock().now().to_msg()
        try:
            publisher.publish(array)
        except Exception:
            if rclpy.ok(context=self.node.context):
                raise
            # the context is shutting down (SIGINT/SIGTERM): the last diagnostics go nowhere

    def _on_set_parameters(self, parameters: Sequence[Any]) -> SetParametersResult:
        requests: dict[str, dict[str, str]] = {}
        for parameter in parameters:
            if parameter.name == "marker_scale":
                self.marker_scale = float(parameter.value)
            elif parameter.name == "overlay_alpha":
                self.overlay_alpha = float(parameter.value)
            elif parameter.name == "visualization_rate_hz":
                self.visualization_rate_hz = float(parameter.value)
            elif parameter.name.endswith(SWITCH_SUFFIXES):
                camera, _, key = parameter.name.rpartition(".")
                requests.setdefault(camera, {})[key] = parameter.value
        for camera, request in requests.items():
            reason = self._switch_request(camera, request)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _switch_request(self, camera_name: str, request: dict[str, Any]) -> str | None:
        worker = next((w for w in self._workers if w.camera.name == camera_name), None)
        if worker is None or self.settings is None:
            return None  # declaring, or not configured: the value applies at configure
        for key, value in request.items():
            if not isinstance(value, str):
                return f"{camera_name}.{key} must be a string, got {type(value).__name__}"
        current = self.node.get_parameter
        scenario_text = request.get("scenario", current(f"{camera_name}.scenario").value)
        model_text = request.get("model_file", current(f"{camera_name}.model_file").value)
        if "scenario" in request and "model_file" not in request:
            model_text = ""  # a new scenario brings its own model unless one is given with it
        return self.switch_camera(camera_name, scenario=scenario_text, model_file=model_text)

    def switch_camera(self, camera_name: str, *, scenario: str, model_file: str = "") -> str | None:
        """Run ``scenario`` (and ``model_file``, empty: the scenario's) on a camera, between two frames.

        The new model is loaded and warmed up while the camera keeps processing with the
        old one; the swap waits only for the frame in progress. The old engine is closed
        when no camera uses it any more.

        Returns:
            None on success (also when nothing changes), else why the request was refused;
            the camera then keeps its model.
        """
        settings, pool = self.settings, self._pool
        worker = next((w for w in self._workers if w.camera.name == camera_name), None)
        if settings is None or pool is None or worker is None:
            return f"camera {camera_name!r} is not configured"
        logger = self.node.get_logger()
        with self._switch_lock:
            old = worker.camera.model
            try:
                model = resolve_camera_model(
                    settings.scenario,
                    settings.model_file,
                    worker.camera,
                    scenario_text=scenario,
                    model_text=model_file,
                    device=settings.device,
                )
            except SegPerceptionError as err:
                return self._refuse(camera_name, old.label, str(err))
            if model.model_file == old.model_file and model.scenario.path == old.scenario.path:
                return None
            began = time.perf_counter()
            try:
                engine, _ = pool.acquire(camera_name, model.model_file)
            except Exception as err:  # missing or broken file, CUDA policy, ...
                return self._refuse(camera_name, old.label, f"{type(err).__name__}: {err}")
            try:
                pipeline = SegmentationPipeline(
                    engine,
                    model.scenario,
                    camera_name,
                    overlay_alpha=settings.overlay_alpha,
                )
                size = worker.stats.snapshot().frame_size or _expected_frame_size(worker.camera)
                pool.warm_up(engine, [size] if size else [])
            except Exception as err:
                pool.release(engine)
                return self._refuse(camera_name, old.label, f"{type(err).__name__}: {err}")
            loaded = time.perf_counter()
            old_engine = worker.swap(pipeline, dataclasses.replace(worker.camera, model=model))
            swapped = time.perf_counter()
            pool.release(old_engine)
            self._engines = pool.engines
            if worker is self._workers[0]:
                self.engine = engine
        logger.info(
            f"camera '{camera_name}': switched from {old.label} to {model.label}: new model loaded and "
            f"warmed up in {(loaded - began) * 1e3:.0f} ms beside the running one, swapped between two "
            f"frames (waited {(swapped - loaded) * 1e3:.0f} ms for the frame in progress)"
        )
        return None

    def _refuse(self, camera_name: str, running: str, reason: str) -> str:
        message = f"camera '{camera_name}': switch refused: {reason}; still running {running}"
        self.node.get_logger().warning(message)
        return message
