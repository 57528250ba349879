"""Markers, typed lanes and slots, and polygon clouds of the live node, serialised for an output bag.

These messages are built by the ROS layer's own helpers (``seg_perception.ros.markers``,
``seg_perception.ros.typed_messages`` and ``seg_perception.ros.polygon_cloud``) and serialised
with ``rclpy.serialization``, which needs the ROS message packages (and this package's generated
``seg_perception.msg``) but no running DDS graph. Where they are not importable, :func:`create`
returns None and ``process`` writes the other outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seg_perception.config import ScenarioConfig
from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.interfaces import LANE_BOUNDARY_ARRAY_MSGTYPE, PARKING_SLOT_ARRAY_MSGTYPE
from seg_perception.postprocess.lanes import LaneResult

MARKER_ARRAY_MSGTYPE = "visualization_msgs/msg/MarkerArray"
POINT_CLOUD_MSGTYPE = "sensor_msgs/msg/PointCloud2"
__all__ = [
    "LANE_BOUNDARY_ARRAY_MSGTYPE",
    "MARKER_ARRAY_MSGTYPE",
    "PARKING_SLOT_ARRAY_MSGTYPE",
    "POINT_CLOUD_MSGTYPE",
    "RosOutputBuilder",
    "create",
]


@dataclass
class RosOutputBuilder:
    """Builds one camera's MarkerArray, LaneBoundaryArray, ParkingSlotArray and PointCloud2 as CDR bytes."""

    camera: str
    style: Any
    projection: Any
    modules: dict[str, Any]

    def _header(self, stamp_ns: int, frame_id: str) -> Any:
        header = self.modules["Header"]()
        header.stamp.sec = int(stamp_ns // 1_000_000_000)
        header.stamp.nanosec = int(stamp_ns % 1_000_000_000)
        header.frame_id = frame_id
        return header

    def markers(self, **frame: Any) -> bytes:
        """Serialized MarkerArray of one frame (keywords as for :meth:`_serialize`)."""
        return self._serialize("build_marker_array", style=self.style, **frame)

    def cloud(self, **frame: Any) -> bytes:
        """Serialized polygon PointCloud2 of one frame (keywords as for :meth:`_serialize`)."""
        return self._serialize("build_polygon_cloud", **frame)

    def lanes(self, *, stamp_ns: int, frame_id: str, image_size: tuple[int, int], lanes: LaneResult) -> bytes:
        """Serialized ``seg_perception/LaneBoundaryArray`` of one frame's tracked lanes."""
        msg = self.modules["tracked_lane_array"](
            header=self._header(stamp_ns, frame_id), image_size=image_size, lanes=lanes
        )
        return self.modules["serialize_message"](msg)

    def slots(
        self, *, stamp_ns: int, frame_id: str, image_size: tuple[int, int], slots: list[ParkingSlot]
    ) -> bytes:
        """Serialized ``seg_perception/ParkingSlotArray`` of one frame."""
        msg = self.modules["parking_slot_array"](
            header=self._header(stamp_ns, frame_id),
            projection=self.projection,
            image_size=image_size,
            slots=slots,
        )
        return self.modules["serialize_message"](msg)

    def _serialize(
        self,
        builder: str,
        *,
        stamp_ns: int,
        frame_id: str,
        image_size: tuple[int, int],
        polygons: list[Polygon],
        slots: list[ParkingSlot],
        **options: Any,
    ) -> bytes:
        msg = self.modules[builder](
            header=self._header(stamp_ns, frame_id),
            projection=self.projection,
            image_size=image_size,
            polygons=polygons,
            slots=slots,
            **options,
        )
        return self.modules["serialize_message"](msg)


def create(scenario: ScenarioConfig, camera: str) -> RosOutputBuilder | None:
    """A builder for ``camera``, or None when the ROS message packages are not importable."""
    try:
        from rclpy.serialization import serialize_message
        from std_msgs.msg import Header

        from seg_perception.ros.markers import MarkerStyle, build_marker_array
        from seg_perception.ros.polygon_cloud import build_polygon_cloud
        from seg_perception.ros.projection import GroundProjection
        from seg_perception.ros.typed_messages import parking_slot_array, tracked_lane_array
    except ImportError:
        return None
    block = scenario.camera(camera)
    mounting = block.get("mounting") or {}
    projection = GroundProjection.from_parameters(
        camera_info_file=str(block.get("camera_info_file", "")),
        mounting=[float(mounting.get(k, 0.0)) for k in ("height_m", "pitch_deg", "roll_deg", "yaw_deg")]
        if isinstance(mounting, dict)
        else [float(v) for v in mounting],
        ground_homography=[float(v) for v in block.get("ground_homography", [])],
        metres_per_pixel=float(block.get("metres_per_pixel", 0.0)),
        origin_px=[float(v) for v in block.get("origin_px", [])],
        camera=camera,
    )
    style = MarkerStyle(
        camera=camera,
        class_names=scenario.classes.names,
        colors_rgb=scenario.classes.colors_rgb,
        line_width=0.05 if projection.metric else 0.02,
    )
    modules = {
        "serialize_message": serialize_message,
        "Header": Header,
        "build_marker_array": build_marker_array,
        "build_polygon_cloud": build_polygon_cloud,
        "tracked_lane_array": tracked_lane_array,
        "parking_slot_array": parking_slot_array,
    }
    return RosOutputBuilder(camera, style, projection, modules)
