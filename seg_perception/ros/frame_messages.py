"""One camera's geometry messages of one frame, built from the pipeline's :class:`FrameResult`.

The node (:mod:`~seg_perception.ros.camera_worker`), offline ``process``
(:mod:`~seg_perception.ros.bag_outputs`) and ``bench-stages`` all build their typed lanes and
slots, polygon cloud and RViz markers here, so the three publish, write and time the same
messages from the same fields of the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from seg_perception.inference.pipeline import FrameResult
from seg_perception.msg import LaneBoundaryArray, ParkingSlotArray
from seg_perception.ros.markers import MarkerStyle, build_marker_array
from seg_perception.ros.polygon_cloud import build_polygon_cloud
from seg_perception.ros.projection import GroundProjection
from seg_perception.ros.typed_messages import parking_slot_array, tracked_lane_array


def image_size(result: FrameResult) -> tuple[int, int]:
    """``(height, width)`` of the frame ``result`` came from (its mask is at the frame's size)."""
    height, width = result.mask.shape[:2]
    return int(height), int(width)


@dataclass(frozen=True)
class FrameMessages:
    """Builds a camera's messages with its marker ``style`` and ground ``projection``.

    Cheap to make: the node makes a new one when the projection (a new ``CameraInfo``) or the
    marker line width changes.
    """

    style: MarkerStyle
    projection: GroundProjection

    def lanes(self, header: Header, result: FrameResult) -> LaneBoundaryArray:
        """``LaneBoundaryArray`` of the tracked boundaries.

        Raises:
            ValueError: ``result`` has no lanes (a camera without lane post-processing).
        """
        if result.lanes is None:
            raise ValueError("this frame has no lanes: its scenario does not post-process lanes")
        return tracked_lane_array(header=header, image_size=image_size(result), lanes=result.lanes)

    def slots(self, header: Header, result: FrameResult) -> ParkingSlotArray:
        """``ParkingSlotArray`` of the assembled slots (empty without any)."""
        return parking_slot_array(
            header=header, projection=self.projection, image_size=image_size(result), slots=result.slots
        )

    def cloud(self, header: Header, result: FrameResult) -> PointCloud2:
        """``PointCloud2`` of the region outlines and slot corners."""
        return build_polygon_cloud(
            header=header,
            projection=self.projection,
            image_size=image_size(result),
            polygons=result.polygons,
            slots=result.slots,
        )

    def markers(self, header: Header, result: FrameResult) -> MarkerArray:
        """RViz ``MarkerArray`` of the regions, slots and lane boundaries."""
        return build_marker_array(
            header=header,
            style=self.style,
            projection=self.projection,
            image_size=image_size(result),
            polygons=result.polygons,
            slots=result.slots,
            lanes=result.lanes,
        )
