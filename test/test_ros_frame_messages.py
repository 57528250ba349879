"""One frame's result → the geometry messages the node, ``process`` and ``bench-stages`` share (no DDS)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("visualization_msgs")

from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from seg_perception.config import load_scenario
from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.inference.pipeline import FrameResult
from seg_perception.msg import ParkingSlotArray
from seg_perception.ros.bag_outputs import for_camera
from seg_perception.ros.frame_messages import FrameMessages
from seg_perception.ros.markers import MarkerStyle
from seg_perception.ros.outputs import MARKERS, MASK, SLOTS
from seg_perception.ros.polygon_cloud import cloud_to_points
from seg_perception.ros.projection import GroundProjection

CLASSES = ("background", "slot_line", "free_slot")
COLORS = np.array([[0, 0, 0], [255, 255, 255], [48, 224, 96]], np.uint8)
SLOT_PX = np.array([[10, 10], [30, 10], [30, 60], [10, 60]], np.float32)
HEADER = Header(frame_id="base_link")


def _result(height: int = 120, width: int = 160) -> FrameResult:
    outline = np.array([[70, 20], [110, 20], [110, 80], [70, 80]], np.float32)
    return FrameResult(
        mask=np.zeros((height, width), np.uint8),
        polygons=[Polygon(class_id=2, class_name="free_slot", points=outline)],
        slots=[ParkingSlot(SLOT_PX, free=True, instance_id=3)],
    )


def _messages() -> FrameMessages:
    style = MarkerStyle("avm", CLASSES, COLORS, line_width=0.05, slot_line_id=1, free_space_id=2)
    return FrameMessages(style, GroundProjection.from_parameters(metres_per_pixel=0.02, origin_px=[80, 60]))


def test_every_message_carries_the_header_and_the_frame_size() -> None:
    messages, result = _messages(), _result()
    slots = messages.slots(HEADER, result)
    assert slots.header.frame_id == "base_link"
    assert (slots.image_width, slots.image_height) == (160, 120)
    assert [slot.id for slot in slots.slots] == [3]
    markers = messages.markers(HEADER, result)
    assert markers.markers and all(marker.header.frame_id == "base_link" for marker in markers.markers)
    cloud = messages.cloud(HEADER, result)
    assert cloud.header.frame_id == "base_link"
    assert len(cloud_to_points(cloud)) >= 8  # the region's outline and the slot's corners


def test_lanes_of_a_frame_without_lane_post_processing_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no lanes"):
        _messages().lanes(HEADER, _result())


def test_process_serialises_the_same_messages_with_the_stamp_and_frame() -> None:
    outputs = for_camera(load_scenario("parking"), "avm")
    result = _result()
    stamp_ns = 12_000_000_345
    raw = outputs.serialized(SLOTS, stamp_ns=stamp_ns, frame_id="avm_link", result=result)
    slots = deserialize_message(raw, ParkingSlotArray)
    assert (slots.header.stamp.sec, slots.header.stamp.nanosec) == (12, 345)
    assert slots.header.frame_id == "avm_link"
    header = Header(frame_id="avm_link")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    expected = outputs.messages.slots(header, result)
    assert raw == bytes(serialize_message(expected))  # the very message the node would publish
    markers = deserialize_message(
        outputs.serialized(MARKERS, stamp_ns=stamp_ns, frame_id="avm_link", result=result), MarkerArray
    )
    assert len(markers.markers) == len(outputs.messages.markers(header, result).markers)
    with pytest.raises(ValueError, match="mask is not one of"):
        outputs.serialized(MASK, stamp_ns=stamp_ns, frame_id="avm_link", result=result)
