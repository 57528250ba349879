"""Frame results → LaneBoundaryArray / ParkingSlotArray / SegmentationInfo (no DDS needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

from std_msgs.msg import Header

import seg_perception.msg as generated
from seg_perception.geometry import ImageCurve, LaneBoundary, ParkingSlot
from seg_perception.interfaces import MESSAGE_CONSTANTS, LanePosition, LaneType, Occupancy, SlotType
from seg_perception.msg import LaneBoundary as LaneBoundaryMsg
from seg_perception.msg import ParkingSlot as ParkingSlotMsg
from seg_perception.ros.projection import GroundProjection
from seg_perception.ros.typed_messages import (
    classify_slot,
    lane_boundary_array,
    parking_slot_array,
    segmentation_info,
    slot_measures,
)

HEADER = Header(frame_id="base_link")
AVM = GroundProjection.from_parameters(metres_per_pixel=0.02, origin_px=[100, 100])
# 20 x 50 px = 0.4 x 1.0 m, entrance (corners 0 -> 1) at the top, clockwise on screen.
SLOT_PX = np.array([[10, 10], [30, 10], [30, 60], [10, 60]], np.float32)


def test_parking_slot_array_metric_fields_follow_the_calibration() -> None:
    slots = [
        ParkingSlot(SLOT_PX, free=False, instance_id=4),
        ParkingSlot(SLOT_PX + 50, free=True, instance_id=5),
    ]
    msg = parking_slot_array(header=HEADER, projection=AVM, image_size=(200, 300), slots=slots)
    assert msg.header.frame_id == "base_link" and msg.metric
    assert (msg.image_width, msg.image_height) == (300, 200)
    first = msg.slots[0]
    assert first.id == 4 and first.occupancy == ParkingSlotMsg.OCCUPANCY_OCCUPIED
    assert msg.slots[1].occupancy == ParkingSlotMsg.OCCUPANCY_FREE
    assert first.type == ParkingSlotMsg.TYPE_PERPENDICULAR  # classified: short entrance, square corners
    assert [(p.x, p.y) for p in first.corner_pixels] == [tuple(map(float, c)) for c in SLOT_PX]
    # x = (v0 - v)·s forward, y = (u0 - u)·s left
    assert (first.corners[0].x, first.corners[0].y) == pytest.approx((1.8, 1.8))
    assert (first.width, first.depth) == pytest.approx((0.4, 1.0))
    assert first.angle == pytest.approx(math.pi / 2)
    assert (first.entrance_center.x, first.entrance_center.y) == pytest.approx((1.8, 1.6))
    assert abs(first.entrance_heading) == pytest.approx(math.pi)  # into the slot = image down = vehicle -x


def test_parking_slot_array_without_calibration_has_nan_metres_and_pixel_angle() -> None:
    msg = parking_slot_array(
        header=HEADER, projection=GroundProjection(), image_size=(200, 300), slots=[ParkingSlot(SLOT_PX)]
    )
    slot = msg.slots[0]
    assert not msg.metric
    assert all(math.isnan(p.x) for p in slot.corners)
    assert math.isnan(slot.width) and math.isnan(slot.entrance_heading)
    assert slot.angle == pytest.approx(math.pi / 2)


@pytest.mark.parametrize(
    ("corners", "expected"),
    [
        ([[0, 0], [20, 0], [20, 50], [0, 50]], SlotType.PERPENDICULAR),
        ([[0, 0], [50, 0], [50, 20], [0, 20]], SlotType.PARALLEL),
        ([[0, 0], [20, 0], [40, 50], [20, 50]], SlotType.ANGLED),
    ],
)
def test_slot_type_is_classified_from_the_corners(corners, expected) -> None:
    width, depth, angle = slot_measures(np.array(corners, np.float64))
    assert classify_slot(width[0], depth[0], angle[0]) == expected


def test_a_known_slot_type_is_kept() -> None:
    slot = ParkingSlot(SLOT_PX, slot_type=SlotType.PARALLEL, confidence=0.75)
    msg = parking_slot_array(header=HEADER, projection=AVM, image_size=(200, 300), slots=[slot]).slots[0]
    assert msg.type == ParkingSlotMsg.TYPE_PARALLEL and msg.confidence == pytest.approx(0.75)
    assert Occupancy.FREE == ParkingSlotMsg.OCCUPANCY_FREE


def _straight(u: float) -> LaneBoundary:
    v = np.linspace(199, 100, 10)
    return LaneBoundary(
        points=np.column_stack([np.full_like(v, u), v]).astype(np.float32),
        image_curve=ImageCurve(np.array([u, 0, 0, 0], np.float64), 100.0, 199.0),
    )


def test_lane_boundary_array_with_bird_eye_calibration_gives_curves_and_ego_lane() -> None:
    left, right = _straight(60.0), _straight(160.0)
    left.position, right.position = LanePosition.EGO_LEFT, LanePosition.EGO_RIGHT
    left.lane_type = LaneType.DASHED
    right.instance_id = 1
    projection = GroundProjection.from_parameters(metres_per_pixel=0.035, origin_px=[100, 200])
    msg = lane_boundary_array(
        header=HEADER, projection=projection, image_size=(200, 200), boundaries=[left, right]
    )
    assert msg.metric and [b.id for b in msg.boundaries] == [0, 1]
    first = msg.boundaries[0]
    assert first.type == LaneBoundaryMsg.TYPE_DASHED and first.position == LaneBoundaryMsg.POSITION_EGO_LEFT
    assert len(first.points) == len(first.pixels) == 10
    assert first.has_curve and first.curve_coefficients[0] == pytest.approx(40 * 0.035)
    assert first.has_image_curve and first.image_curve_coefficients[0] == pytest.approx(60.0)
    assert msg.ego_lane_valid
    assert msg.ego_lane_width == pytest.approx(100 * 0.035)
    assert msg.lateral_offset == pytest.approx(-(40 - 60) * 0.035 / 2)
    assert msg.heading == pytest.approx(0.0, abs=1e-6) and msg.curvature == pytest.approx(0.0, abs=1e-6)


def test_lane_boundary_array_without_calibration_has_pixels_only() -> None:
    msg = lane_boundary_array(
        header=HEADER, projection=GroundProjection(), image_size=(200, 200), boundaries=[_straight(50.0)]
    )
    assert not msg.metric and not msg.ego_lane_valid and math.isnan(msg.ego_lane_width)
    assert len(msg.boundaries[0].points) == 0 and len(msg.boundaries[0].pixels) == 10
    assert not msg.boundaries[0].has_curve


def test_segmentation_info_carries_the_class_map() -> None:
    msg = segmentation_info(
        header=HEADER,
        camera="avm",
        scenario="parking",
        model="icnet_lite",
        model_file="/w/parking.onnx",
        engine="onnxruntime",
        providers=["CPUExecutionProvider"],
        input_size=(256, 320),
        class_names=("background", "slot_line", "free_slot"),
        colors_rgb=[[0, 0, 0], [255, 255, 255], [48, 224, 96]],
    )
    assert [(c.id, c.name) for c in msg.classes] == [(0, "background"), (1, "slot_line"), (2, "free_slot")]
    assert msg.classes[2].color.g == pytest.approx(224 / 255) and msg.classes[2].color.a == 1.0
    assert (msg.input_width, msg.input_height) == (320, 256)


@pytest.mark.parametrize("enum", list(MESSAGE_CONSTANTS))
def test_generated_message_classes_have_the_enumerations_constants(enum) -> None:
    message, prefix = MESSAGE_CONSTANTS[enum]
    cls = getattr(generated, message)
    constants = {name[len(prefix) :]: getattr(cls, name) for name in dir(cls) if name.startswith(prefix)}
    assert constants == {member.name: int(member) for member in enum}
