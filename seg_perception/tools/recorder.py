"""Records what the segmentation node publishes for one camera, for scoring and reports.

Subscribes to the node's ``<camera>/mask``, ``overlay``, ``markers``, ``lanes``, ``slots``,
``processing_time_ms`` and ``/diagnostics``, and to the synthetic camera's
``<topic>/ground_truth``. Callbacks only store references to the message buffers
(no copies, no maths), so recording does not compete with the node for the CPU;
matching by stamp and scoring happen afterwards in
:class:`~seg_perception.reporting.stream.StreamRecording`.

Latency is the middleware's reception time of a mask minus the input stamp (both
system-clock nanoseconds on one host), so time the recorder's own executor
spends on other callbacks is not charged to the node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float32
from visualization_msgs.msg import Marker, MarkerArray

from seg_perception.msg import LaneBoundaryArray, ParkingSlotArray
from seg_perception.reporting.stream import StreamRecording
from seg_perception.ros.image_conversion import image_msg_to_bgr
from seg_perception.ros.outputs import DIAGNOSTICS, LANES, MARKERS, MASK, OVERLAY, PROCESSING_TIME, SLOTS
from seg_perception.ros.qos import output_qos
from seg_perception.tools.synthetic_camera import ground_truth_topic

NODE_NAME = "seg_demo_recorder"
DEPTH = 100


def stamp_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def mono8_view(msg: Image) -> np.ndarray:
    """(H, W) uint8 view of a mono8 image's buffer (row padding dropped, no copy)."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    return np.frombuffer(msg.data, dtype=np.uint8)[: step * height].reshape(height, step)[:, :width]


@dataclass(frozen=True)
class OutputTopics:
    """Topic names of one camera's outputs and of its ground truth."""

    mask: str
    overlay: str
    markers: str
    lanes: str
    slots: str
    processing_time: str
    diagnostics: str
    ground_truth: str

    @classmethod
    def for_camera(cls, camera: str, *, input_topic: str, namespace: str = "") -> OutputTopics:
        """Topics of a node in ``namespace`` (names from the node's outputs table)."""
        return cls(
            mask=MASK.topic(camera, namespace),
            overlay=OVERLAY.topic(camera, namespace),
            markers=MARKERS.topic(camera, namespace),
            lanes=LANES.topic(camera, namespace),
            slots=SLOTS.topic(camera, namespace),
            processing_time=PROCESSING_TIME.topic(camera, namespace),
            diagnostics=DIAGNOSTICS.topic(camera, namespace),
            ground_truth=ground_truth_topic(input_topic),
        )


def _level(level: Any) -> int:
    # rclpy gives a byte-typed field as ``bytes`` of length 1.
    return int.from_bytes(level, "little") if isinstance(level, bytes) else int(level)


class OutputRecorder(Node):
    """Stores one camera's outputs (see the module docstring).

    Args:
        topics: What to subscribe to.
        overlay_every: Keep every n-th overlay frame (for a 10 fps animation of a
            30 Hz stream: 3); 0 keeps none and does not subscribe, so the node
            skips drawing overlays.
    """

    def __init__(
        self, topics: OutputTopics, *, overlay_every: int = 3, node_name: str = NODE_NAME, **node_options: Any
    ) -> None:
        super().__init__(node_name, **node_options)
        self.topics = topics
        self.recording = StreamRecording()
        self.overlay_every = overlay_every
        self.overlays_received = 0
        self.markers_per_frame: list[int] = []
        self.lanes_per_frame: list[int] = []
        self.metric_lane_frames = 0  # lane arrays in metres (the camera calibrated)
        self.slots_per_frame: list[int] = []
        self.processing_ms: list[float] = []
        self.diagnostics: dict[str, dict[str, Any]] = {}
        self.last_diagnostics_at = float("-inf")  # time.monotonic() of the latest /diagnostics
        # The node publishes its outputs reliably; a reliable reader makes the scoring see every
        # mask (a best-effort reader lost whole short streams now and then); the depth absorbs bursts.
        outputs = truth = output_qos(DEPTH)
        self.mask_sub = self.create_subscription(Image, topics.mask, self._on_mask, outputs)
        self.truth_sub = self.create_subscription(Image, topics.ground_truth, self._on_truth, truth)
        if overlay_every > 0:
            self.create_subscription(Image, topics.overlay, self._on_overlay, outputs)
        self.create_subscription(MarkerArray, topics.markers, self._on_markers, outputs)
        self.create_subscription(LaneBoundaryArray, topics.lanes, self._on_lanes, outputs)
        self.create_subscription(ParkingSlotArray, topics.slots, self._on_slots, outputs)
        self.create_subscription(Float32, topics.processing_time, self._on_processing_time, outputs)
        self.create_subscription(DiagnosticArray, topics.diagnostics, self._on_diagnostics, outputs)

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_mask(self, msg: Image, info: Any) -> None:
        # Two parameters: rclpy passes the MessageInfo with the middleware's reception time.
        received = int(info.get("received_timestamp") or 0) if info else 0
        self.recording.add_prediction(stamp_ns(msg.header.stamp), received or self._now_ns(), mono8_view(msg))

    def _on_truth(self, msg: Image) -> None:
        self.recording.add_ground_truth(stamp_ns(msg.header.stamp), mono8_view(msg))

    def _on_overlay(self, msg: Image) -> None:
        if self.overlays_received % self.overlay_every == 0:
            self.recording.add_overlay(stamp_ns(msg.header.stamp), image_msg_to_bgr(msg))
        self.overlays_received += 1

    def _on_markers(self, msg: MarkerArray) -> None:
        self.markers_per_frame.append(sum(1 for marker in msg.markers if marker.action == Marker.ADD))

    def _on_lanes(self, msg: LaneBoundaryArray) -> None:
        self.lanes_per_frame.append(len(msg.boundaries))
        self.metric_lane_frames += bool(msg.metric)

    def _on_slots(self, msg: ParkingSlotArray) -> None:
        self.slots_per_frame.append(len(msg.slots))

    def _on_processing_time(self, msg: Float32) -> None:
        self.processing_ms.append(float(msg.data))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        self.last_diagnostics_at = time.monotonic()
        for status in msg.status:
            self.diagnostics[status.name] = {
                "level": _level(status.level),
                "message": status.message,
                "values": {kv.key: kv.value for kv in status.values},
            }

    def camera_diagnostics(self, camera: str) -> dict[str, Any]:
        """The latest diagnostics status of ``camera`` (name ending ``: <camera>``), or {}."""
        for name, status in self.diagnostics.items():
            if name.endswith(f": {camera}"):
                return status
        return {}

    @property
    def node_output_matched(self) -> bool:
        """True once the node's mask publisher and this recorder's subscription are matched."""
        return self.mask_sub.get_publisher_count() > 0

    @property
    def ground_truth_matched(self) -> bool:
        return self.truth_sub.get_publisher_count() > 0
