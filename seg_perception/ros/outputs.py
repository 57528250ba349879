"""The node's outputs, one table: topic, message type, builder, when it is built, QoS.

The node creates its publishers from :data:`CAMERA_OUTPUTS` (``camera_worker``), offline
``process`` names its bag topics and message types after it (``bags/process.py``), the demo's
recorder subscribes to its topics (``tools/recorder.py``) and README.md's topic table lists the
same rows (``test/test_outputs_table.py`` checks all four).

Frames: every output carries the input header's stamp; its ``frame_id`` is the camera's
``frame_id`` parameter, or the input's when that is empty (:func:`output_frame_id`), both in
the node and in ``process``.

Pure data: no rclpy here, so ``process`` can read the table where ROS is not installed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from seg_perception.interfaces import (
    LANE_BOUNDARY_ARRAY_MSGTYPE,
    LANES_TOPIC,
    PARKING_SLOT_ARRAY_MSGTYPE,
    SEGMENTATION_INFO_MSGTYPE,
    SEGMENTATION_INFO_TOPIC,
    SLOTS_TOPIC,
)

# QoS kinds; the profiles are in seg_perception.ros.qos (``output_profile``).
PER_FRAME = "per_frame"
LATCHED = "latched"
DIAGNOSTICS_KIND = "diagnostics"


@dataclass(frozen=True)
class Output:
    """One output topic of the node.

    Attributes:
        name: Topic relative to the camera (``<camera>/<name>``), or absolute (``/diagnostics``).
        msgtype: ROS message type, ``package/msg/Type``.
        builder: The function that builds the message.
        only_when_subscribed: Built and published only while the topic has a subscriber.
        qos: ``per_frame``, ``latched`` or ``diagnostics`` (profiles: ``ros.qos.output_profile``).
        condition: When the topic exists at all ("" = always).
    """

    name: str
    msgtype: str
    builder: str
    only_when_subscribed: bool
    qos: str = PER_FRAME
    condition: str = ""

    def relative_topic(self, camera: str) -> str:
        """The topic name the node publishes on (relative to its namespace, unless absolute)."""
        return self.name if self.name.startswith("/") else f"{camera}/{self.name}"

    def topic(self, camera: str, namespace: str = "") -> str:
        """The full topic name for ``camera`` of a node in ``namespace``."""
        if self.name.startswith("/"):
            return self.name
        return f"{namespace.rstrip('/')}/{camera}/{self.name}"

    def message_class(self) -> Any:
        """The message class (imports its ROS message package)."""
        package, _, name = self.msgtype.split("/")
        return getattr(importlib.import_module(f"{package}.msg"), name)


MASK = Output("mask", "sensor_msgs/msg/Image", "image_conversion.mask_to_msg", False)
OVERLAY = Output("overlay", "sensor_msgs/msg/Image", "SegmentationPipeline.overlay", True)
MARKERS = Output("markers", "visualization_msgs/msg/MarkerArray", "markers.build_marker_array", True)
LANES = Output(
    LANES_TOPIC,
    LANE_BOUNDARY_ARRAY_MSGTYPE,
    "typed_messages.tracked_lane_array",
    True,
    condition="front cameras (frames with lane results)",
)
SLOTS = Output(SLOTS_TOPIC, PARKING_SLOT_ARRAY_MSGTYPE, "typed_messages.parking_slot_array", True)
POLYGONS = Output(
    "polygons",
    "sensor_msgs/msg/PointCloud2",
    "polygon_cloud.build_polygon_cloud",
    True,
    condition="publish_polygon_cloud: true",
)
PROCESSING_TIME = Output("processing_time_ms", "std_msgs/msg/Float32", "CameraWorker._process", False)
SEGMENTATION_INFO = Output(
    SEGMENTATION_INFO_TOPIC,
    SEGMENTATION_INFO_MSGTYPE,
    "typed_messages.segmentation_info",
    False,
    qos=LATCHED,
)
MODEL = Output("model", "std_msgs/msg/String", "CameraWorker._announce", False, qos=LATCHED)
DIAGNOSTICS = Output(
    "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "stats.build_status", False, qos=DIAGNOSTICS_KIND
)

CAMERA_OUTPUTS: tuple[Output, ...] = (
    MASK,
    OVERLAY,
    MARKERS,
    LANES,
    SLOTS,
    SEGMENTATION_INFO,
    POLYGONS,
    PROCESSING_TIME,
    MODEL,
)
NODE_OUTPUTS: tuple[Output, ...] = (DIAGNOSTICS,)


def output_frame_id(configured: str, input_frame_id: str) -> str:
    """The ``frame_id`` of a frame's outputs: the camera's ``frame_id`` parameter, else the input's."""
    return configured or input_frame_id
