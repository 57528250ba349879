"""Shared helpers of the reliability tests (no tests here): tiny models, fake engines, a node harness."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from tiny_onnx import tiny_metadata, write_tiny_model

from seg_perception.inference.metadata import ModelMetadata
from seg_perception.ros.background_spin import BackgroundSpin
from seg_perception.ros.executor import FramesInlineExecutor
from seg_perception.ros.stats import StatsSnapshot

HEIGHT, WIDTH = 48, 64
WAIT_S = 10.0
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def scenario_of_model(model_file: str | Path) -> str:
    """The scenario of a model file named like the shipped ones: ``<scenario>.onnx``, or a file a
    scenario names for a device (``cuda_model_file``, ``cpu_model_file``), whose name is not one."""
    from seg_perception.config import load_scenario, scenario_names

    stem = Path(model_file).stem
    for name in scenario_names():
        params = load_scenario(name).params
        if stem in {Path(str(params.get(key) or "")).stem for key in ("cuda_model_file", "cpu_model_file")}:
            return name
    return stem


def metadata_for(scenario: str, *, classes: tuple[str, ...] | None = None) -> ModelMetadata:
    return tiny_metadata(scenario, classes=classes, input_size=(HEIGHT, WIDTH), model="threshold_test")


def export_threshold_model(directory: Path, scenario: str, *, classes: tuple[str, ...] | None = None) -> Path:
    """A tiny ONNX model: class 1 where the pixel is bright, else background."""
    metadata = metadata_for(scenario, classes=classes)
    path = directory / f"{scenario}_{len(metadata.classes)}.onnx"
    return write_tiny_model(
        path, scenario, kind="threshold", input_size=(HEIGHT, WIDTH), classes=classes, model="threshold_test"
    )


class FakeEngine:
    """An engine stand-in: sleeps ``delay_s`` per frame, marks bright pixels class 1, and
    raises ``faults[call_index]`` on chosen calls (warm-up calls are not counted)."""

    def __init__(
        self, scenario: str, *, delay_s: float = 0.0, faults: dict[int, Exception] | None = None
    ) -> None:
        self.metadata = metadata_for(scenario)
        self.model_file = Path(f"/fake/{scenario}.onnx")
        self.providers = ["FakeProvider"]
        self.device = "cpu"
        self.delay_s = delay_s
        self.faults = dict(faults or {})
        self.calls = 0
        self.closed = False
        self.warmed_frame_sizes: list[tuple[int, int]] = []
        self.intervals: list[tuple[float, float]] = []  # (start, end) of every predict call
        self.last_timings_ms: dict[str, float] = {}
        self.last_outputs: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"fake engine ({self.delay_s * 1e3:.0f} ms per frame)"

    def warmup(self, iterations: int = 2, *, frame_sizes: object = None) -> None:
        self.warmed_frame_sizes = list(frame_sizes or [])

    def predict(self, image_bgr: np.ndarray) -> np.ndarray:
        start = time.monotonic()
        with self._lock:
            index = self.calls
            self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        self.intervals.append((start, time.monotonic()))
        if index in self.faults:
            raise self.faults[index]
        self.last_timings_ms = {"inference": self.delay_s * 1e3}
        return (image_bgr.max(axis=2) > 128).astype(np.uint8)

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mask at the frame's size, twice (the model's size is the frame's)."""
        mask = self.predict(image_bgr)
        return mask, mask

    def close(self) -> None:
        self.closed = True


def fake_factory(engine: FakeEngine) -> Callable[..., FakeEngine]:
    return lambda settings, logger: engine


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def accounted(snapshot: StatsSnapshot) -> bool:
    """Every received frame is processed, dropped, rejected or failed (nothing in flight)."""
    return snapshot.pending == 0


def scene(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    image = np.full((height, width, 3), 30, np.uint8)
    image[:, width // 4 : width // 4 + 4] = 255
    return image


def image_msg(image: np.ndarray, *, stamp: Any = None, encoding: str = "bgr8") -> Image:
    rows = image.reshape(image.shape[0], -1)
    msg = Image(height=image.shape[0], width=image.shape[1], encoding=encoding, step=rows.shape[1])
    msg.header = Header(frame_id="camera")
    if stamp is not None:
        msg.header.stamp = stamp
    else:  # now, on the node's (system) clock: a plausible stamp, so latency is measured
        now_ns = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 10**9)
    msg.data = rows.tobytes()
    return msg


class Harness:
    """A node under test and a client node spun by one executor in a background thread."""

    def __init__(
        self,
        context: Context,
        make_node: Callable[..., Node],
        overrides: Collection[Parameter],
        *,
        engine_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.context = context
        self.node = make_node(
            context=context, parameter_overrides=list(overrides), engine_factory=engine_factory
        )
        self.client = Node("reliability_client", context=context)
        self.executor = FramesInlineExecutor(context=context)  # the node's own (runner.py)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.errors: list[BaseException] = []
        self.spinner = BackgroundSpin(self.executor, on_error=self._record)
        self.diagnostics = self.subscribe(DiagnosticArray, "/diagnostics")

    def _record(self, err: BaseException) -> None:
        if rclpy.ok(context=self.context):  # recorded: a test asserts nothing escaped the node
            self.errors.append(err)

    def publisher(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> Any:
        publisher = self.client.create_publisher(msg_type, topic, qos)
        wait_for(lambda: publisher.get_subscription_count() > 0, f"the node's subscription on {topic}")
        return publisher

    def subscribe(self, msg_type: type, topic: str) -> list:
        inbox: list = []
        self.client.create_subscription(msg_type, topic, inbox.append, RELIABLE)
        return inbox

    def close(self) -> None:
        assert self.spinner.stop(), "the executor's thread did not stop"
        self.executor.shutdown(timeout_sec=5)
        shutdown = getattr(self.node, "shutdown", None)
        if shutdown is not None:
            shutdown()
        self.node.destroy_node()
        self.client.destroy_node()
