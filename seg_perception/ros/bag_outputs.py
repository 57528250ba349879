"""One camera's markers, typed lanes and slots and polygon cloud, built as the node builds them and
serialised (CDR) for offline ``process``'s output bag.

The messages come from the node's own builders (``markers``, ``typed_messages``,
``polygon_cloud``), with the node's frame and projection
(:func:`~seg_perception.ros.projection.scenario_camera_geometry`), and are serialised with
``rclpy.serialization``, which needs the ROS message packages but no running DDS graph.
``process`` imports this module only where they are installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from seg_perception.config import ScenarioConfig
from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.postprocess.lanes import LaneResult
from seg_perception.ros.markers import MarkerStyle, build_marker_array
from seg_perception.ros.polygon_cloud import build_polygon_cloud
from seg_perception.ros.projection import CameraGeometry, scenario_camera_geometry
from seg_perception.ros.typed_messages import parking_slot_array, tracked_lane_array

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

    def _header(self, stamp_ns: int, frame_id: str) -> Header:
        header = Header(frame_id=frame_id)
        header.stamp.sec = int(stamp_ns // 1_000_000_000)
        header.stamp.nanosec = int(stamp_ns % 1_000_000_000)
        return header

    def markers(
        self,
        *,
        stamp_ns: int,
        frame_id: str,
        image_size: tuple[int, int],
        polygons: list[Polygon],
        slots: list[ParkingSlot],
        lanes: LaneResult | None = None,
    ) -> bytes:
        """Serialized MarkerArray of one frame."""
        msg = build_marker_array(
            header=self._header(stamp_ns, frame_id),
            style=self.style,
            projection=self.geometry.projection,
            image_size=image_size,
            polygons=polygons,
            slots=slots,
            lanes=lanes,
        )
        return bytes(serialize_message(msg))

    def cloud(
        self,
        *,
        stamp_ns: int,
        frame_id: str,
        image_size: tuple[int, int],
        polygons: list[Polygon],
        slots: list[ParkingSlot],
    ) -> bytes:
        """Serialized polygon PointCloud2 of one frame."""
        msg = build_polygon_cloud(
            header=self._header(stamp_ns, frame_id),
            projection=self.geometry.projection,
            image_size=image_size,
            polygons=polygons,
            slots=slots,
        )
        return bytes(serialize_message(msg))

    def lanes(self, *, stamp_ns: int, frame_id: str, image_size: tuple[int, int], lanes: LaneResult) -> bytes:
        """Serialized ``seg_perception/LaneBoundaryArray`` of one frame's tracked lanes."""
        msg = tracked_lane_array(header=self._header(stamp_ns, frame_id), image_size=image_size, lanes=lanes)
        return bytes(serialize_message(msg))

    def slots(
        self, *, stamp_ns: int, frame_id: str, image_size: tuple[int, int], slots: list[ParkingSlot]
    ) -> bytes:
        """Serialized ``seg_perception/ParkingSlotArray`` of one frame."""
        msg = parking_slot_array(
            header=self._header(stamp_ns, frame_id),
            projection=self.geometry.projection,
            image_size=image_size,
            slots=slots,
        )
        return bytes(serialize_message(msg))


def for_camera(scenario: ScenarioConfig, camera: str) -> SerializedOutputs:
    """The builder of ``camera``'s outputs on ``scenario``."""
    geometry = scenario_camera_geometry(scenario, camera)
    style = MarkerStyle.for_scenario(
        camera, scenario, METRIC_LINE_WIDTH if geometry.projection.metric else PIXEL_PLANE_LINE_WIDTH
    )
    return SerializedOutputs(camera, style, geometry)
