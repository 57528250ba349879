"""The machinery shared by the plain and the lifecycle segmentation node.

:class:`SegmentationCore` follows the lifecycle states, so both nodes drive it the
same way: the plain node runs ``configure`` then ``activate`` in its constructor, the
managed node from its transitions.

- ``configure``: declare and validate parameters, load the engine and warm it up,
  check the model's classes against the scenario, create the publishers;
- ``activate``: subscribe, start one worker thread per camera and the diagnostics timer;
- ``deactivate``: unsubscribe, finish the current frames, stop the threads;
- ``cleanup``: destroy the publishers and close the engine (``engine.close()``).

The engine comes from an injectable factory (tests use slow or failing engines).
By default (``camera_engines: shared``) one engine serves every camera through
:class:`SerializedEngine`: engines reuse their buffers, so calls are serialised while
conversion, post-processing and publishing of the cameras overlap. With
``camera_engines: per_camera`` each camera gets its own engine (its own ONNX Runtime
session or CUDA stream), so on a GPU the cameras' inferences do not wait for each
other, at the cost of one model in memory per camera.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNodeMixin
from rclpy.node import Node
from rclpy.qos import QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data

from seg_perception.config import share_dir
from seg_perception.errors import ConfigError
from seg_perception.inference.engine import Engine, create_engine
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.ros.camera_worker import CameraWorker
from seg_perception.ros.input_checks import shared_memory_advice
from seg_perception.ros.log_limits import PercentFormattingLogger
from seg_perception.ros.parameters import NodeSettings, declare_node_parameters
from seg_perception.ros.stats import build_status

EngineFactory = Callable[[NodeSettings, PercentFormattingLogger], Engine]
DIAGNOSTICS_TOPIC = "/diagnostics"


def _expected_frame_sizes(settings: NodeSettings) -> dict[str, tuple[int, int]]:
    """Frame size per camera from the scenario (``<camera>.image_size``), where configured."""
    sizes = {}
    for camera in settings.enabled_cameras:
        try:
            sizes[camera.name] = settings.scenario.image_size(camera.name)
        except (ConfigError, KeyError):
            continue  # no size configured: the first frame of a new size builds what it needs
    return sizes


def default_engine_factory(settings: NodeSettings, logger: PercentFormattingLogger) -> Engine:
    """:func:`create_engine` with the node's settings; load messages and CUDA fallbacks go to ``logger``."""
    return create_engine(
        settings.model_file,
        engine=settings.engine,
        device=settings.device,
        providers=list(settings.providers) or None,
        fp16=settings.fp16,
        cuda_policy=settings.cuda_policy,  # type: ignore[arg-type]
        precision=None if settings.precision == "auto" else settings.precision,
        fused=None if settings.fused_graph else False,
        cuda_graphs=settings.cuda_graphs,
        logger=logger,  # type: ignore[arg-type]
    )


class SerializedEngine:
    """One engine shared by several camera threads: one call at a time, timings per thread.

    ``Engine.predict`` fills a reused input buffer and stores ``last_timings_ms`` on the
    engine, so concurrent calls would race; here ``last_timings_ms`` is the calling
    thread's own latest timings, which is what the pipeline reads right after ``predict``.
    """

    def __init__(self, engine: Engine) -> None:
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
    def last_timings_ms(self) -> dict[str, float]:
        return dict(getattr(self._local, "timings", {}))

    @property
    def last_outputs(self) -> dict[str, np.ndarray]:
        """The calling thread's latest extra model outputs (marking points), like ``last_timings_ms``."""
        return dict(getattr(self._local, "outputs", {}))

    def describe(self) -> str:
        return self.inner.describe()

    def predict(self, image_bgr: np.ndarray) -> np.ndarray:
        with self._lock:
            mask = self.inner.predict(image_bgr)
            self._local.timings = dict(self.inner.last_timings_ms)
        return mask

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame-size and model-size masks (``Engine.predict_masks``).

        An engine with ``predict`` only gives its mask twice (post-processing then works at frame size).
        """
        with self._lock:
            predict_masks = getattr(self.inner, "predict_masks", None)
            if predict_masks is None:
                mask = self.inner.predict(image_bgr)
                masks = (mask, mask)
            else:
                masks = predict_masks(image_bgr)
            self._local.timings = dict(self.inner.last_timings_ms)
            self._local.outputs = dict(getattr(self.inner, "last_outputs", {}) or {})
        return masks

    def warmup(self, iterations: int = 2, *, frame_sizes: Sequence[tuple[int, int]] = ()) -> None:
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
        self.engine: SerializedEngine | None = None  # the first camera's; diagnostics describe it
        self._engines: list[SerializedEngine] = []
        self.input_qos: QoSProfile = qos_profile_sensor_data
        self.marker_scale = 0.05
        self.overlay_alpha = 0.5
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
            self.input_qos = _input_qos(settings)
            self.marker_scale = settings.marker_scale
            self.overlay_alpha = settings.overlay_alpha
            logger = PercentFormattingLogger(self.node.get_logger())
            cameras = settings.enabled_cameras
            if settings.camera_engines == "per_camera":
                for _ in cameras:
                    self._engines.append(SerializedEngine(self._engine_factory(settings, logger)))
                camera_engines = list(self._engines)
            else:
                self._engines = [SerializedEngine(self._engine_factory(settings, logger))]
                camera_engines = self._engines * len(cameras)
            self.engine = self._engines[0]
            pipelines = [
                SegmentationPipeline(
                    engine,  # type: ignore[arg-type]  # duck-typed Engine
                    settings.scenario,
                    camera.name,
                    overlay_alpha=settings.overlay_alpha,
                    ground=camera.projection.ground_mapper(),
                )
                for camera, engine in zip(cameras, camera_engines, strict=True)
            ]
            # Lazy allocations, output checks, per-size fused graphs and TensorRT engines now,
            # not on the first camera frame.
            sizes = _expected_frame_sizes(settings)
            for engine in self._engines:
                served = [
                    sizes[camera.name]
                    for camera, used in zip(cameras, camera_engines, strict=True)
                    if used is engine and camera.name in sizes
                ]
                engine.warmup(frame_sizes=list(dict.fromkeys(served)))
            self._workers = [
                CameraWorker(core=self, camera=camera, pipeline=pipeline)
                for camera, pipeline in zip(settings.enabled_cameras, pipelines, strict=True)
            ]
            self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
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
        cameras = ", ".join(f"{w.camera.name} <- {w.topic} ({w.camera.transport})" for w in self._workers)
        self.node.get_logger().info(
            f"scenario {self.settings.scenario.name}: {self.engine.describe()}; cameras: {cameras}"
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
        engines, self._engines, self.engine = self._engines, [], None
        for engine in engines:
            engine.close()

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

    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticStatus`` per camera on ``/diagnostics``."""
        settings, engine, publisher = self.settings, self.engine, self._diagnostics_pub
        if settings is None or engine is None or publisher is None:
            return
        age = time.monotonic() - self._active_since
        for worker in self._workers:
            worker.check_input(seconds_since_start=age, stale_timeout_s=settings.stale_timeout_s)
        info = {
            "model_file": str(settings.model_file),
            "model": engine.metadata.model,
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
                info={
                    **info,
                    "providers": ", ".join(worker.pipeline.engine.providers),
                    "topic": worker.topic,
                    "latency_from": "arrival (use_sim_time)" if self.sim_time_active() else "input stamp",
                },
            )
            for worker in self._workers
        ]
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.node.get_clock().now().to_msg()
        publisher.publish(array)

    def _on_set_parameters(self, parameters: Sequence[Any]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "marker_scale":
                self.marker_scale = float(parameter.value)
            elif parameter.name == "overlay_alpha":
                self.overlay_alpha = float(parameter.value)
        return SetParametersResult(successful=True)


def _input_qos(settings: NodeSettings) -> QoSProfile:
    if settings.qos_reliability == "best_effort":
        return QoSProfile(
            history=qos_profile_sensor_data.history,
            depth=settings.qos_depth,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
    return QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST,
        depth=settings.qos_depth,
        reliability=QoSReliabilityPolicy.RELIABLE,
    )
