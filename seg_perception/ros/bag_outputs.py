"""One camera's markers, typed lanes and slots and polygon cloud, built as the node builds them and
serialised (CDR) for offline ``process``'s output bag.

The messages come from the node's own builders (:mod:`~seg_perception.ros.frame_messages`),
with the node's frame and projection
(:func:`~seg_perception.ros.projection.scenario_camera_geometry`), and are serialised with
``rclpy.serialization``, which needs the ROS message packages but no running DDS graph.
``process`` imports this module only where they are installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from seg_perception.config import ScenarioConfig
from seg_perception.inference.pipeline import FrameResult
from seg_perception.ros.frame_messages import FrameMessages
from seg_perception.ros.markers import MarkerStyle
from seg_perception.ros.outputs import LANES, MARKERS, POLYGONS, SLOTS, Output
from seg_perception.ros.projection import CameraGeometry, scenario_camera_geometry

METRIC_LINE_WIDTH = 0.05  # metres, the node's marker_scale default
PIXEL_PLANE_LINE_WIDTH = 0.02


@dataclass(frozen=True)
class SerializedOutputs:
    """Builds one camera's MarkerArray, LaneBoundaryArray, ParkingSlotArray and PointCloud2 as CDR bytes.

    ``frame_id`` arguments are the outputs' frame (:func:`~seg_perception.ros.outputs.output_frame_id`).
    """

    camera: str
    style: MarkerStyle
    geometry: CameraGeometry

    def serialized(self, output: Output, *, stamp_ns: int, frame_id: str, result: FrameResult) -> bytes:
        """``output`` (markers, lanes, slots or polygons) of one frame, serialised.

        Raises:
            ValueError: ``output`` is not built here, or is the lanes of a frame without lanes.
        """
        build = _BUILDERS.get(output.name)
        if build is None:
            raise ValueError(f"{output.name} is not one of {sorted(_BUILDERS)}")
        header = Header(frame_id=frame_id)
        header.stamp.sec = int(stamp_ns // 1_000_000_000)
        header.stamp.nanosec = int(stamp_ns % 1_000_000_000)
        return bytes(serialize_message(build(self.messages, header, result)))

    @cached_property
    def messages(self) -> FrameMessages:
        """The builders with this camera's marker style and projection (fixed for a bag)."""
        return FrameMessages(self.style, self.geometry.projection)


_BUILDERS: dict[str, Callable[[FrameMessages, Header, FrameResult], Any]] = {
    MARKERS.name: FrameMessages.markers,
    LANES.name: FrameMessages.lanes,
    SLOTS.name: FrameMessages.slots,
    POLYGONS.name: FrameMessages.cloud,
}


def for_camera(scenario: ScenarioConfig, camera: str) -> SerializedOutputs:
    """The builder of ``camera``'s outputs on ``scenario``."""
    geometry = scenario_camera_geometry(scenario, camera)
    style = MarkerStyle.for_scenario(
        camera, scenario, METRIC_LINE_WIDTH if geometry.projection.metric else PIXEL_PLANE_LINE_WIDTH
    )
    return SerializedOutputs(camera, style, geometry)
